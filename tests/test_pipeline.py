"""The pipeline end to end on a small generated shop log, with the real MiniLM, PyG layers and a DuckDB file."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from igcore.datasets import load_dataset
from igcore.errors import IgcoreError
from igcore.events import load_interactions
from igcore.ingest import import_events
from igcore.pipeline.config import PipelineConfig
from igcore.pipeline.model import IgcoreRecommender
from igcore.pipeline.run import load, recommend, refresh, train
from igcore.store import Store
from igcore.synth import SynthConfig, generate, write

pytestmark = pytest.mark.slow  # trains small models

SMALL = PipelineConfig(dim=16, max_len=10, epochs=3, eval_every=1, batch_size=64, memory_dim=16, time_dim=4,
                       device="cpu", dropout=0.1)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    root = tmp_path_factory.mktemp("shop")
    write(generate(SynthConfig(seed=11, n_users=40, n_items=50, n_events=1500)), root / "sample")
    db = root / "shop.duckdb"
    with Store(db) as store:
        load_dataset(store, "sample", root)
    return db


@pytest.fixture(scope="module")
def trained(shop):
    with Store(shop) as store:
        model, path = train(store, SMALL)
    return model, path


def test_train_saves_a_checkpoint_that_restores_identical_scores(shop, trained):
    model, path = trained
    assert (path / "weights.safetensors").exists() and json.loads((path / "model.json").read_text())["events"] == 1500
    with Store(shop, read_only=True) as store:
        restored, _ = load(store, path)
    users = np.arange(model.n_users)
    assert np.array_equal(model.score(users), restored.score(users))


def test_a_checkpoint_of_an_older_network_asks_for_retraining(shop, trained, tmp_path):
    old = shutil.copytree(trained[1], tmp_path / "old")
    meta = json.loads((old / "model.json").read_text())
    del meta["format"]  # as written before checkpoints carried a format
    (old / "model.json").write_text(json.dumps(meta))
    with Store(shop, read_only=True) as store, pytest.raises(IgcoreError, match="older igcore.*train it again"):
        load(store, old)


def test_online_update_moves_only_touched_users_and_trains_nothing(shop, trained):
    model, path = trained
    with Store(shop, read_only=True) as store:
        m, _ = load(store, path)
        data = load_interactions(store)
    before_params = {k: v.clone() for k, v in m.net.state_dict().items()}
    before = m.score(np.arange(m.n_users))
    event = dataclasses.replace(data.subset(np.array([0])), user=np.array([3]), item=np.array([7]),
                                ts=np.array([int(data.ts.max()) + 60]))
    m.update(event)
    after = m.score(np.arange(m.n_users))
    assert not np.allclose(before[3], after[3])
    assert m.state.items[3][-1] == 7
    assert all(torch.equal(v, m.net.state_dict()[k]) for k, v in before_params.items())
    touched_memory = m.memory.user_memory(torch.tensor([3]))
    assert touched_memory.abs().sum() > 0


@pytest.mark.parametrize("by_share", [False, True])
def test_graph_embeddings_refresh_every_graph_refresh_events(shop, trained, by_share):
    """Every 3 events: set as a count, or as a share of the graph's events (the larger of the two counts)."""
    with Store(shop, read_only=True) as store:
        m, _ = load(store, trained[1])
        data = load_interactions(store)
    share = 3.5 / m.state.n_events if by_share else 0.0  # 3 events while the graph grows by fewer than 1/7
    m.cfg = dataclasses.replace(m.cfg, graph_refresh=1 if by_share else 3, graph_refresh_share=share)
    # User 4 buys an item it never had; a user with no new events who has that item hears of the new edge only
    # through the graph (two hops), so its scores move when the GNN re-runs and not before.
    item = next(i for i in range(m.n_items) if i not in m.state.items[4])
    neighbour = next(u for u in range(m.n_users) if u != 4 and item in m.state.items[u])
    before = m.score(np.array([neighbour]))
    later = int(data.ts.max()) + 60
    for n, moved in ((2, False), (1, True)):  # two events: GNN not re-run yet; the third re-runs it
        m.update(dataclasses.replace(data.subset(np.zeros(n, dtype=int)), user=np.full(n, 4), item=np.full(n, item),
                                     ts=np.full(n, later)))
        assert np.allclose(before, m.score(np.array([neighbour]))) != moved


def test_each_stage_can_be_switched_off(shop):
    with Store(shop, read_only=True) as store:
        data = load_interactions(store)
    names, scores = [], []
    for overrides in ({}, {"use_text": False}, {"use_graph": False}, {"use_temporal": False},
                      {"use_text": False, "use_graph": False, "use_temporal": False}):
        cfg = dataclasses.replace(SMALL, epochs=1, **overrides)
        m = IgcoreRecommender(cfg)
        m.fit(data)
        names.append(m.name)
        scores.append(m.score(np.arange(5)))
        assert m.source_weights(np.arange(2)).shape == (2, 1 + cfg.gnn_stage + cfg.use_temporal)
    assert names == ["igcore", "igcore-no-text", "igcore-no-graph", "igcore-no-temporal", "igcore-seq-only"]
    assert not np.allclose(scores[0], scores[4])


def test_every_input_table_starts_at_the_item_scale():
    """Position, event type and time gap are summed into each input with the item vector; drawn at torch's
    default (std 1) they drowned the item (0.02 x sqrt(dim)) and Beauty's quality fell. Padding rows are zero."""
    from igcore.pipeline.net import IgcoreNet

    torch.manual_seed(0)
    net = IgcoreNet(PipelineConfig(dim=32, max_len=50), n_users=3, n_items=400, n_types=4, text=None)
    for table in (net.items.item_id, net.seq.type_emb, net.seq.gap_emb, net.seq.pos_emb):
        assert 0.015 < float(table.weight[1:].detach().std()) < 0.025
    for table in (net.items.item_id, net.seq.type_emb, net.seq.gap_emb):
        assert torch.equal(table.weight[0], torch.zeros(32))


@pytest.mark.parametrize("heads", [1, 2])
def test_last_state_is_the_last_column_of_the_full_sequence(heads):
    from igcore.pipeline.net import IgcoreNet

    torch.manual_seed(0)
    net = IgcoreNet(dataclasses.replace(SMALL, seq_heads=heads, dim=16), n_users=3, n_items=30, n_types=3,
                    text=None).eval()
    seq = torch.tensor([[0, 0, 0, 4, 7, 9], [1, 2, 3, 4, 5, 6], [0, 0, 0, 0, 0, 0]])  # short, full, empty
    types, gaps = (seq > 0).long(), torch.randint(1, 5, seq.shape) * (seq > 0)
    items = net.item_table(None)[0]
    with torch.no_grad():
        full, last = net.seq(items, seq, types, gaps), net.seq.last_state(items, seq, types, gaps)
    assert last.shape == (3, 16) and torch.isfinite(last).all()
    assert torch.allclose(last, full[:, -1], atol=1e-5)
    assert not torch.allclose(last[0], last[1])


def test_recommend_with_explanations(shop, trained):
    with Store(shop, read_only=True) as store:
        rows = recommend(store, "U00001", k=5, path=trained[1], explain=True)
    assert [r["rank"] for r in rows[:5]] == [1, 2, 3, 4, 5]
    assert all(r["title"] and len(r["because_of"]) == 3 for r in rows[:5])
    assert all(len({b["item_id"] for b in r["because_of"]}) == 3 for r in rows[:5])
    sims = [b["similarity"] for r in rows[:5] for b in r["because_of"]]
    assert all(-1.0 - 1e-6 <= s <= 1.0 + 1e-6 for s in sims)  # cosines, not raw dot products
    assert set(rows[-1]["sources"]) == {"sequence", "memory"}  # the graph acts at the score, not through the gate
    meta = json.loads((trained[1] / "model.json").read_text())
    user, items = meta["user_ids"].index("U00001"), meta["item_ids"]
    for r in rows[:5]:  # the latest items chosen together with each (none at a graph weight of 0)
        links = trained[0].graph_links(user, items.index(r["item_id"]))
        assert [c["item_id"] for c in r.get("chosen_with", [])] == [items[j] for j, _ in links]
        assert [c["link"] for c in r.get("chosen_with", [])] == [link for _, link in links]
    assert sum(rows[-1]["sources"].values()) == pytest.approx(1.0)


def _ranked(rows):
    return [(r["item_id"], r["score"]) for r in rows if "rank" in r]


def _top(model, meta, user, k):
    """(item id, score) of the model's k best for ``user``, as replaying the events gives them."""
    scores = model.score(np.array([meta["user_ids"].index(user)]))[0]
    return [(meta["item_ids"][i], float(scores[i])) for i in np.argsort(-scores)[:k]]


def test_recommend_scores_from_the_serving_state_without_torch(shop, trained):
    """On the store the model was trained on, recommend reads the saved serving state: the same list and scores
    as replaying the events through the network, in a process that never imports torch."""
    _, path = trained
    assert (path / "serving.safetensors").exists()
    with Store(shop, read_only=True) as store:
        served = recommend(store, "U00001", k=5, path=path, explain=True, exclude="none")
        model, meta = load(store, path)
    expected = _top(model, meta, "U00001", 5)
    assert [i for i, _ in _ranked(served)] == [i for i, _ in expected]
    assert [s for _, s in _ranked(served)] == pytest.approx([s for _, s in expected], rel=1e-5)
    weights = model.source_weights(np.array([meta["user_ids"].index("U00001")]))[0]
    assert list(served[-1]["sources"].values()) == pytest.approx(weights.tolist(), rel=1e-5)
    probe = ("import sys, pathlib; from igcore.store import Store; from igcore.pipeline.run import recommend; "
             f"rows = recommend(Store({str(shop)!r}, read_only=True), 'U00001', 5, "
             f"path=pathlib.Path({str(path)!r}), explain=True); "
             "print(len(rows), 'torch' in sys.modules, 'torch_geometric' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["6", "False", "False"]


def test_new_events_make_recommend_replay_and_update_saves_a_fresh_state(shop, trained, tmp_path):
    db, path = tmp_path / "grown.duckdb", tmp_path / "model"
    db.write_bytes(shop.read_bytes())
    shutil.copytree(trained[1], path)
    with Store(db, read_only=True) as store:
        before = _ranked(recommend(store, "U00003", k=3, path=path, exclude="none"))
    first = before[0][0]
    (tmp_path / "more.csv").write_text(f"user_id,item_id,timestamp,event_type\nU00003,{first},2030-01-01,purchase\n")
    with Store(db) as store:
        import_events(store, tmp_path / "more.csv")
    stale = (path / "serving.safetensors").read_bytes()
    with Store(db, read_only=True) as store:
        now = _ranked(recommend(store, "U00003", k=3, path=path, exclude="none"))
        assert first not in [i for i, _ in _ranked(recommend(store, "U00003", k=3, path=path))]  # bought now
        model, meta = load(store, path)
    assert now != before
    assert [i for i, _ in now] == [i for i, _ in _top(model, meta, "U00003", 3)]  # the new event replayed
    with Store(db) as store:
        refresh(store, path)  # as `igcore update` does after its import
    assert (path / "serving.safetensors").read_bytes() != stale
    with Store(db, read_only=True) as store:
        again = _ranked(recommend(store, "U00003", k=3, path=path, exclude="none"))
    assert [i for i, _ in again] == [i for i, _ in now]
    assert [s for _, s in again] == pytest.approx([s for _, s in now], rel=1e-5)


def test_recommend_leaves_out_what_it_is_told_to(shop, trained):
    with Store(shop, read_only=True) as store:
        data = load_interactions(store)
        lists = {how: [item for item, _ in _ranked(recommend(store, "U00001", k=50, path=trained[1], exclude=how))]
                 for how in ("none", "bought", "seen")}
        with pytest.raises(IgcoreError, match="exclude must be one of none, bought, seen"):
            recommend(store, "U00001", path=trained[1], exclude="cart")
    mine = data.user == list(data.user_ids).index("U00001")
    seen = set(data.item_ids[data.item[mine]])
    bought = set(data.item_ids[data.item[mine & (data.event_type == data.type_names.index("purchase"))]])
    assert bought and seen > bought
    assert len(lists["none"]) == 50 and seen & set(lists["none"])
    assert not bought & set(lists["bought"]) and seen - bought & set(lists["bought"])
    assert not seen & set(lists["seen"])
    assert bought & set(lists["none"])  # without exclusion, something they bought is among the 50
    kept = [i for i in lists["none"] if i not in bought]
    assert lists["bought"][:len(kept)] == kept  # the same order with the purchases taken out


def test_cli_train_then_recommend(shop, tmp_path):
    db = tmp_path / "cli.duckdb"
    db.write_bytes(shop.read_bytes())
    with Store(db) as store:  # as on a fresh clone: no text vector cached yet, so train must encode and write
        store.con.execute("DROP TABLE IF EXISTS item_text_embeddings")
    run = lambda *a: subprocess.run([sys.executable, "-m", "igcore.cli", *a, "--db", str(db)],  # noqa: E731
                                    capture_output=True, text=True, timeout=300)
    out = run("train", "--set", "epochs=1", "--set", "dim=16", "--set", "max_len=10", "--device", "cpu")
    assert out.returncode == 0, out.stderr
    assert "saved" in out.stdout
    chosen = json.loads((tmp_path / "models" / "cli" / "model.json").read_text())["graph"]
    assert f"with the graph at the score, weight {chosen['weight']:g} (validation NDCG@10 " in out.stdout
    epoch = [line for line in out.stderr.splitlines() if line.startswith("epoch 1  loss ")]
    assert len(epoch) == 1 and "valid NDCG@10 0." in epoch[0], out.stderr  # one line an epoch, piped or not
    rec = run("recommend", "U00002", "-k", "3", "--explain")
    assert rec.returncode == 0, rec.stderr
    assert rec.stdout.count("because of") >= 3 and "interest sources: sequence" in rec.stdout
    missing = run("recommend", "nobody")
    assert missing.returncode == 1 and "is not known to the model" in missing.stderr
    serving = tmp_path / "models" / "cli" / "serving.safetensors"
    before = serving.read_bytes()
    (tmp_path / "more.csv").write_text("user_id,item_id,timestamp,event_type\n"
                                       "U00002,I00001,2030-01-01,view\nU00002,I00002,2030-01-02,purchase\n")
    update = run("update", str(tmp_path / "more.csv"))
    assert update.returncode == 0, update.stderr
    assert "loaded 2" in update.stdout and "moved by the 2 new events (resumed" in update.stdout
    assert serving.read_bytes() != before  # the next recommend scores the new events without a replay
    after = run("recommend", "U00002", "-k", "3", "--json")
    assert after.returncode == 0 and "I00002" not in {r["item_id"] for r in json.loads(after.stdout)}  # bought
