"""The sample generator: deterministic, realistic in the ways later stages rely on, and what data/ holds."""

from __future__ import annotations

import collections
import gzip

from igcore.paths import SAMPLE_DIR
from igcore.synth import CONSUMABLES, SynthConfig, generate, write

SMALL = SynthConfig(seed=3, n_users=60, n_items=120, n_events=4000)


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a, b, c = (write(generate(cfg), tmp_path / name) for cfg, name in
               ((SMALL, "a"), (SMALL, "b"), (SynthConfig(seed=4, n_users=60, n_items=120, n_events=4000), "c")))
    assert a["events"].read_bytes() == b["events"].read_bytes()
    assert a["events"].read_bytes() != c["events"].read_bytes()


def test_committed_sample_is_what_the_generator_produces(tmp_path):
    fresh = write(generate(SynthConfig()), tmp_path)
    assert gzip.decompress(fresh["events"].read_bytes()) == gzip.decompress(
        (SAMPLE_DIR / "events.csv.gz").read_bytes())
    for kind in ("items", "drift"):
        assert fresh[kind].read_bytes() == (SAMPLE_DIR / fresh[kind].name).read_bytes()


def test_shape_funnel_repeats_and_popularity():
    log = generate(SMALL)
    assert len(log.events) == 4000 and len(log.items) == 120
    assert len({e[0] for e in log.events}) == 60
    types = collections.Counter(e[2] for e in log.events)
    assert types["view"] > types["cart"] > types["purchase"] > 0
    # Every purchase follows a view of the same item by the same user.
    viewed = set()
    for user, item, etype, _, _ in sorted(log.events, key=lambda e: (e[0], e[3])):
        if etype == "view":
            viewed.add((user, item))
        if etype == "purchase":
            assert (user, item) in viewed
    bought = collections.Counter((e[0], e[1]) for e in log.events if e[2] == "purchase")
    category = {i[0]: i[2] for i in log.items}
    assert any(n > 1 and category[item] in CONSUMABLES for (_, item), n in bought.items())
    views = sorted(collections.Counter(e[1] for e in log.events if e[2] == "view").values(), reverse=True)
    top_decile = sum(views[: len(views) // 10]) / sum(views)
    assert top_decile > 0.25  # skewed: the top 10% of items draw well over 10% of views


def test_drift_truth_points_at_the_change():
    log = generate(SMALL)
    category = {i[0]: i[2] for i in log.items}
    by_user = collections.defaultdict(list)
    for e in log.events:
        by_user[e[0]].append(e)
    assert log.drift, "some users drift"
    for user, index, ts, old, new in log.drift:
        seq = by_user[user]
        assert 0 < index < len(seq) and old != new
        assert seq[index][3] >= ts > seq[index - 1][3]
        before = {category[e[1]] for e in seq[:index]}
        after = collections.Counter(category[e[1]] for e in seq[index:] if e[2] == "view")
        assert new not in before and after[new] > 0
