"""Differential privacy for what the store publishes about its users as a group: the Laplace mechanism and the
minimum cohort (:mod:`.mechanism`), the store's epsilon budget and cached releases (:mod:`.ledger`), and the
private cohort views (:mod:`.cohorts`). Views of one user are not private releases and say so
(:data:`PER_USER_NOTE`)."""

PER_USER_NOTE = "A view of single users: not a differentially private release."
