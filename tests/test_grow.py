"""Items and users that came after training (igcore.pipeline.grow): exact rows on data built by hand."""

from __future__ import annotations

import numpy as np
import torch

from igcore.encode.side import SideInfo
from igcore.events import Interactions, newcomers
from igcore.pipeline.grow import ATTR_ROWS, ID_ROWS, TEXT_ROWS, Joined, cooccurrence_rows, grown, item_rows


def events(pairs: list[tuple[int, int]], n_users: int, n_items: int) -> Interactions:
    user, item = (np.array(x, dtype=np.int64) for x in zip(*pairs, strict=True))
    return Interactions(user, item, np.arange(len(pairs), dtype=np.int64), np.zeros(len(pairs), dtype=np.int16),
                        np.array([f"u{i}" for i in range(n_users)], dtype=object),
                        np.array([f"i{i}" for i in range(n_items)], dtype=object), ("view",))


def test_a_new_item_takes_the_mean_id_row_of_what_its_users_chose():
    ids = torch.tensor([[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])  # trained items 0, 1, 2
    log = events([(0, 0), (0, 1), (0, 3), (0, 3), (1, 2), (2, 4), (0, 0)], n_users=3, n_items=5)
    rows = cooccurrence_rows(ids, log, first=3, n_trained=3)
    # item 3: user 0 (counted once) chose items 0, 1, 0 -> (1 + 0 + 1, 0 + 1 + 0) / 3; item 4: user 2, nothing
    assert torch.allclose(rows, torch.tensor([[2 / 3, 1 / 3], [0.0, 0.0]]))


def test_joined_items_get_text_and_the_trained_attribute_vocabulary():
    side = SideInfo(text={"i2": np.array([0.5, -0.5], dtype=np.float32)},
                    attrs={"i0": ["c:Tea"], "i1": ["c:Tea", "b:Acme"], "i2": ["b:Acme", "c:New"]})
    weights = {ID_ROWS: torch.zeros(3, 2), TEXT_ROWS: torch.zeros(3, 2),
               ATTR_ROWS: torch.tensor([[0, 0], [1, 0], [1, 2]])}  # as trained: c:Tea -> 1, b:Acme -> 2
    weights[ATTR_ROWS] = torch.nn.functional.pad(weights[ATTR_ROWS], (0, 6))
    rows = item_rows(weights, events([(0, 0), (1, 2)], 2, 3), first=2, trained_items=["i0", "i1"], side=side)
    assert torch.equal(rows[TEXT_ROWS], torch.tensor([[0.5, -0.5]]))
    assert rows[ATTR_ROWS][0].tolist() == [2, 0, 0, 0, 0, 0, 0, 0]  # c:New was not in training: left out
    joined = Joined(["u1"], ["i2"], rows)
    assert joined.served_items() == 1
    assert Joined(["u1"], ["i9"], {ID_ROWS: torch.zeros(1, 2)}).served_items() == 0
    bigger = grown(weights, joined)
    assert bigger[ID_ROWS].shape == (4, 2) and torch.equal(bigger[TEXT_ROWS][3], torch.tensor([0.5, -0.5]))


def test_joined_items_use_the_recorded_vocabulary_whatever_the_catalogue_says_of_trained_items():
    side = SideInfo(text={}, attrs={"i2": ["b:Acme", "c:Tea", "c:New"]})  # the trained items' rows are gone
    weights = {ID_ROWS: torch.zeros(3, 2), ATTR_ROWS: torch.zeros(3, 8, dtype=torch.int64)}
    rows = item_rows(weights, events([(0, 0), (1, 2)], 2, 3), first=2, trained_items=["i0", "i1"], side=side,
                     tokens=["c:Tea", "b:Acme"])
    assert rows[ATTR_ROWS][0].tolist() == [2, 1, 0, 0, 0, 0, 0, 0]
    unrecorded = item_rows(weights, events([(0, 0), (1, 2)], 2, 3), first=2, trained_items=["i0", "i1"], side=side)
    assert unrecorded[ATTR_ROWS].count_nonzero() == 0  # the vocabulary made again does not match the weights


def test_newcomers_keep_the_order_they_first_appear_in():
    ids = np.array(["a", "b", "c", "d", "e"], dtype=object)  # events name c, a, d, c, b, e in this order
    assert newcomers(["a", "b"], ids, np.array([2, 0, 3, 2, 1, 4])) == ["c", "d", "e"]
    assert newcomers(["e", "d", "c", "b", "a"], ids, np.array([2, 0, 3, 2, 1, 4])) == []
    assert newcomers([], ids, np.array([4, 4, 0])) == ["e", "a"]
