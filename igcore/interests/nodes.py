"""Interest nodes: which interests exist, what they are called, and which items belong to each.

Kinds (``InterestConfig.source``): ``category`` and ``brand`` straight from the catalogue, one node per value;
``cluster``: k-means over item vectors, labelled by class-based TF-IDF over member titles, or over attribute
ids when the catalogue has no text. ``auto`` takes categories when the catalogue has between 2 and
``max_attribute_nodes`` of them on at least half its items, else brands by the same rule, else clusters (as for
Beauty, whose category strings are thousands of anonymised id combinations). Several kinds may be listed; the
first is primary (drift, edges and the evidence scorer use it). An item belongs to at most one node per kind;
items outside the catalogue belong to none.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence

import numpy as np
import pandas as pd

from igcore.errors import IgcoreError
from igcore.interests.clusters import ctfidf_labels, kmeans
from igcore.interests.config import InterestConfig
from igcore.interests.schema import has_tables, read_state, write_state
from igcore.interests.scoring import candidate_pool
from igcore.interests.vectors import ItemVectors, catalogue_tokens, item_vectors
from igcore.store import Store


@dataclasses.dataclass(frozen=True)
class InterestNodes:
    """Nodes sorted by id (so codes order as ids do) and item memberships."""

    interest: np.ndarray  # object ids such as "category:Running" or "cluster:07"
    kind: np.ndarray  # object
    label: np.ndarray  # object
    kinds: tuple[str, ...]  # kinds in use, primary first
    members: pd.DataFrame  # item_id, interest (code), kind
    _index: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)

    @property
    def primary(self) -> str:
        return self.kinds[0]

    def __len__(self) -> int:
        return len(self.interest)

    def codes(self, item_ids: np.ndarray, kind: str | None = None) -> np.ndarray:
        """Interest code of each item in ``kind`` (default: primary), -1 for items in none."""
        kind = kind or self.primary
        if kind not in self._index:
            part = self.members[self.members["kind"] == kind]
            self._index[kind] = (pd.Index(part["item_id"].to_numpy(dtype=object)), part["interest"].to_numpy())
        index, codes = self._index[kind]
        where = index.get_indexer(np.asarray(item_ids, dtype=object))
        return np.where(where >= 0, codes[np.maximum(where, 0)] if len(codes) else -1, -1).astype(np.int64)

    def code_of(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.interest.tolist())}

    def frame(self) -> pd.DataFrame:
        counts = np.bincount(self.members["interest"].to_numpy(np.int64), minlength=len(self))
        return pd.DataFrame({"interest": self.interest, "kind": self.kind, "label": self.label, "n_items": counts})


def resolve_kinds(store: Store, config: InterestConfig) -> list[str]:
    if config.kinds() != ["auto"]:
        return config.kinds()
    total = int(store.value("SELECT count(*) FROM items") or 0)
    for kind in ("category", "brand"):
        n, covered = store.rows(f"SELECT count(DISTINCT {kind}), count({kind}) FROM items")[0]  # name from code
        if total and 2 <= n <= config.max_attribute_nodes and covered >= total / 2:
            return [kind]
    return ["cluster"]


def build_nodes(store: Store, config: InterestConfig,
                model_vectors: ItemVectors | None = None) -> tuple[InterestNodes, ItemVectors]:
    """Nodes and memberships of the configured kinds, and the item vectors (used beyond clustering too)."""
    kinds = resolve_kinds(store, config)
    vectors = item_vectors(store, config, model_vectors)
    frames = []
    for kind in kinds:
        if kind == "cluster":
            frames.append(_clusters(store, config, vectors))
        else:
            part = store.df(f"SELECT item_id, {kind} AS value FROM items WHERE {kind} IS NOT NULL "  # kind: code's
                            f"AND trim({kind}) <> ''")
            part["value"] = part["value"].astype(str).str.strip()
            frames.append(pd.DataFrame({"item_id": part["item_id"], "interest": kind + ":" + part["value"],
                                        "kind": kind, "label": part["value"]}))
    members = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["item_id", "interest", "kind", "label"])
    if members.empty:
        raise IgcoreError("no interests can be formed: the catalogue has no categories, brands or item text; "
                          "import an item catalogue or build with a trained model (--model)")
    nodes = members.drop_duplicates("interest").sort_values("interest")
    code = pd.Index(nodes["interest"]).get_indexer(members["interest"])
    built = InterestNodes(nodes["interest"].to_numpy(dtype=object), nodes["kind"].to_numpy(dtype=object),
                          nodes["label"].to_numpy(dtype=object), tuple(kinds),
                          pd.DataFrame({"item_id": members["item_id"].to_numpy(dtype=object), "interest": code,
                                        "kind": members["kind"].to_numpy(dtype=object)}))
    return built, _with_candidates(store, built, vectors, config.evidence_pool)


def _with_candidates(store: Store, nodes: InterestNodes, vectors: ItemVectors, size: int) -> ItemVectors:
    """The vectors with the evidence scorer's candidate pool (by the events each item has in the store)."""
    if len(vectors.item_ids) <= size:
        return vectors
    uses = store.df("SELECT item_id, count(*) AS n FROM events GROUP BY item_id")
    per_row = pd.Series(uses["n"].to_numpy(), index=uses["item_id"]).reindex(vectors.item_ids).fillna(0)
    pool = candidate_pool(per_row.to_numpy(np.float64), nodes.codes(vectors.item_ids), size)
    return dataclasses.replace(vectors, candidates=pool)


def _clusters(store: Store, config: InterestConfig, vectors: ItemVectors) -> pd.DataFrame:
    if len(vectors.item_ids) == 0:
        raise IgcoreError("source=cluster: no item has a vector (no catalogue text or attributes, and no model)")
    _, cluster = kmeans(vectors.matrix, config.n_clusters, config.seed)
    ids, attrs, words = catalogue_tokens(store)
    has_text = any(words)
    docs_by_item = dict(zip(ids, words if has_text else attrs))
    docs = [[t.split(":", 1)[1] for t in docs_by_item.get(i, [])] for i in vectors.item_ids]
    n = int(cluster.max()) + 1
    labels = ctfidf_labels(cluster, docs, n)
    width = len(str(n - 1))
    names = np.array([f"cluster:{c:0{width}d}" for c in range(n)], dtype=object)
    readable = np.array([label or name for label, name in zip(labels, names)], dtype=object)
    return pd.DataFrame({"item_id": vectors.item_ids, "interest": names[cluster], "kind": "cluster",
                         "label": readable[cluster]})


def save_nodes(con, nodes: InterestNodes, vectors: ItemVectors) -> None:
    """Replace the stored nodes, memberships and vectors (inside the caller's transaction)."""
    for table in ("interest_nodes", "interest_members", "interest_item_vectors"):
        con.execute(f"DELETE FROM {table}")  # names from code
    frame = nodes.frame()
    members = pd.DataFrame({"item_id": nodes.members["item_id"], "interest": nodes.interest[nodes.members[
        "interest"].to_numpy()], "kind": nodes.members["kind"]})
    vecs = pd.DataFrame({"item_id": vectors.item_ids, "vector": list(vectors.matrix)})
    for name, df, sql in (("_nodes", frame, "INSERT INTO interest_nodes SELECT * FROM _nodes"),
                          ("_members", members, "INSERT INTO interest_members SELECT * FROM _members"),
                          ("_vectors", vecs, "INSERT INTO interest_item_vectors SELECT item_id, vector::FLOAT[] "
                                             "FROM _vectors")):
        con.register(name, df)
        con.execute(sql)
        con.unregister(name)
    pool = [] if vectors.candidates is None else vectors.item_ids[vectors.candidates].tolist()
    write_state(con, {"kinds": json.dumps(list(nodes.kinds)), "vector_source": vectors.source,
                      "evidence_pool": json.dumps(pool)})  # [] = every item


def load_nodes(store: Store, items: Sequence[str] | None = None) -> tuple[InterestNodes, ItemVectors] | None:
    """Stored nodes and vectors, or None before the first build. With ``items``, and an evidence pool stored,
    only the memberships and vectors of those items and of the pool are read: all one user's graph needs, at a
    cost that does not grow with the catalogue."""
    state = read_state(store) if has_tables(store) else {}
    if "kinds" not in state:
        return None
    pool = json.loads(state.get("evidence_pool", "[]"))  # empty: every item (absent: built before pools)
    where, params = ("", []) if items is None or not pool else (
        " WHERE item_id IN (SELECT unnest(?::VARCHAR[]))", [sorted({*map(str, items), *pool})])
    frame = store.df("SELECT interest, kind, label FROM interest_nodes ORDER BY interest")
    members = store.df("SELECT item_id, interest, kind FROM interest_members" + where, params)  # where: code's
    members["interest"] = pd.Index(frame["interest"]).get_indexer(members["interest"])
    cols = store.con.execute("SELECT item_id, vector FROM interest_item_vectors" + where, params).fetchnumpy()
    matrix = np.stack(cols["vector"]).astype(np.float32) if len(cols["vector"]) else np.zeros((0, 1), np.float32)
    nodes = InterestNodes(frame["interest"].to_numpy(dtype=object), frame["kind"].to_numpy(dtype=object),
                          frame["label"].to_numpy(dtype=object), tuple(json.loads(state["kinds"])), members)
    vectors = ItemVectors(np.asarray(cols["item_id"], dtype=object), matrix, state.get("vector_source", "?"))
    if pool:
        rows = vectors.positions(np.asarray(pool, dtype=object))
        vectors = dataclasses.replace(vectors, candidates=np.sort(rows[rows >= 0]))
    return nodes, vectors
