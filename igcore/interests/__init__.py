"""Per-user interest graphs over time: nodes, snapshots, drift, recommendations with explanations, export.

Kept import-light like the package root; import from the modules:

- :mod:`~igcore.interests.config` ``InterestConfig``
- :mod:`~igcore.interests.snapshots` ``build_snapshots``, ``update_snapshots``, ``timeline``
- :mod:`~igcore.interests.graph` ``interest_graph`` (one user at a time t)
- :mod:`~igcore.interests.drift` ``drift_timeline``, ``cohort``, ``recent_changes``
- :mod:`~igcore.interests.changes` ``detect_changes``, ``evaluate_detections``
- :mod:`~igcore.interests.explain` attribution of a recommendation to interests and events
- :mod:`~igcore.interests.export` ``graph_json``, ``graph_html``, ``write_html``
- :mod:`~igcore.interests.scoring` ``ModelScorer`` (a trained model's scores and vectors)
"""
