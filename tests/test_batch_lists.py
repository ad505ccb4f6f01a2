"""Batch scoring's per-user step on a serving state built by hand: exact lists, the exclusions ``igcore recommend``
makes, and what it refuses (Ray itself runs in tests/test_ray_train.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from igcore.cluster import RayCluster
from igcore.errors import IgcoreError
from igcore.pipeline.batch import UserLists, score_all
from igcore.recommend.serving import ServingState

META = {"user_ids": ["a", "b"], "item_ids": ["i1", "i2", "i3", "i4"], "type_names": ["view", "purchase"]}
STATE = ServingState(queries=np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32), sources=np.ones((2, 1)),
                     items=np.array([[3, 0], [2, 0], [1, 0], [0, 1]], dtype=np.float32), key="k")


def events(user: str, *rows: tuple[str, str]) -> dict[str, np.ndarray]:
    return {"user_id": np.array([user] * len(rows), dtype=object), "item_id": np.array([i for i, _ in rows]),
            "event_type": np.array([t for _, t in rows])}


def rows(batch: dict[str, np.ndarray]) -> dict[str, list]:
    return {c: batch[c].tolist() for c in batch}


def test_a_users_list_leaves_out_what_was_asked_in_score_order():
    a = events("a", ("i1", "purchase"), ("i2", "view"))
    bought = UserLists(STATE, META, 3, "bought")(a)
    assert rows(bought) == {"user_id": ["a"] * 3, "rank": [1, 2, 3], "item_id": ["i2", "i3", "i4"],
                                      "score": [2.0, 1.0, 0.0]}
    assert UserLists(STATE, META, 3, "seen")(a)["item_id"].tolist() == ["i3", "i4"]  # fewer when too few are left
    assert UserLists(STATE, META, 2, "none")(a)["item_id"].tolist() == ["i1", "i2"]
    assert UserLists(STATE, META, 1, "bought")(events("b", ("i1", "view")))["item_id"].tolist() == ["i4"]


def test_unknown_types_items_and_users_are_read_as_the_model_reads_them():
    # a type the model never saw counts as its first (view): not a purchase; an unknown item is left out
    a = events("a", ("i1", "zoom"), ("i9", "purchase"))
    assert UserLists(STATE, META, 2, "bought")(a)["item_id"].tolist() == ["i1", "i2"]
    assert rows(UserLists(STATE, META, 2, "bought")(events("z", ("i1", "view"))))["user_id"] == []  # unknown user
    assert rows(UserLists(STATE, META, 2, "bought")(events("a", ("i9", "view"))))["user_id"] == []  # no known item


def test_a_batch_of_several_users_gives_each_their_own_list():
    both = {c: np.concatenate([events("b", ("i4", "purchase"))[c], events("a", ("i1", "purchase"))[c]])
            for c in ("user_id", "item_id", "event_type")}
    assert rows(UserLists(STATE, META, 2, "bought")(both)) == {
        "user_id": ["a", "a", "b", "b"], "rank": [1, 2, 1, 2], "item_id": ["i2", "i3", "i1", "i2"],
        "score": [2.0, 1.0, 0.0, 0.0]}


def test_bad_requests_are_refused_before_any_work(tmp_path: Path):
    with pytest.raises(IgcoreError, match="exclude must be one of"):
        UserLists(STATE, META, 2, "everything")
    with pytest.raises(IgcoreError, match="k must be at least 1"):
        UserLists(STATE, META, 0, "bought")
    with pytest.raises(IgcoreError, match="igcore export --parquet DIR"):
        score_all(None, tmp_path / "lists", cluster=RayCluster(2))  # Ray workers read an export, not the store
    (tmp_path / "mine").mkdir()
    with pytest.raises(IgcoreError, match="holds no igcore lists"):
        score_all(None, tmp_path / "mine")  # never replaces a folder it did not write
