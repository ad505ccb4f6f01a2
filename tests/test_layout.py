"""The drawn interest graph's layout (igcore.interests.layout): exact positions on tiny inputs, sectors per
interest, and no two label boxes overlapping however many nodes a graph has."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from igcore.interests.layout import ASPECT, MARGIN, RADII, Box, box_size, overlaps, radial_layout, separate


def test_user_at_the_centre_and_two_interests_opposite():
    where = radial_layout([Box("u", 40, 40, 0), Box("a", 30, 30, 1), Box("b", 30, 30, 1)])
    assert where["u"] == (0.0, 0.0)
    # equal halves from the top: a's centre on the right, b's on the left (rings are ellipses ASPECT wide)
    assert where["a"] == (RADII[1] * ASPECT, 0.0) and where["b"] == (-RADII[1] * ASPECT, 0.0)


def test_children_stay_in_their_interests_sector():
    boxes = [Box("u", 40, 40, 0), Box("a", 20, 20, 1), Box("b", 20, 20, 1)]
    boxes += [Box(f"a{k}", 60, 20, 2, "a") for k in range(3)] + [Box("b0", 60, 20, 2, "b")]
    where = radial_layout(boxes)
    # a holds 4 of the 6 weight units: its sector is the first 240 degrees from the top
    angle = {k: math.atan2(y, x / ASPECT) for k, (x, y) in where.items() if k != "u"}
    lo, hi = -math.pi / 2, -math.pi / 2 + 2 * math.pi * 4 / 6
    assert all(lo <= angle[f"a{k}"] <= hi for k in range(3))
    assert not lo <= angle["b0"] <= hi and abs(angle["b0"] - angle["b"]) < 1e-3  # the one child: b's middle
    assert abs(math.hypot(where["a0"][0] / ASPECT, where["a0"][1]) - RADII[2]) < 0.1


def test_separate_moves_overlapping_boxes_apart_and_keeps_the_fixed_one():
    xy = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 0.0]])
    size = np.array([[40.0, 20.0]] * 3)
    out = separate(xy, size, np.array([True, False, False]))
    assert out[0].tolist() == [0.0, 0.0] and len(overlaps(out, size, MARGIN - 1e-9)) == 0


def test_box_size_grows_with_the_label():
    assert box_size("ab", "box")[0] < box_size("abcd", "box")[0]
    assert box_size("", "dot", 20)[0] == 44.0  # a dot without label: its diameter and the border


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=8), st.integers(4, 30))
def test_no_two_boxes_overlap(children, chars):
    boxes = [Box("u", *box_size("U" * 8, "star", 24), 0)]
    for i, n in enumerate(children):
        boxes.append(Box(f"i{i}", *box_size("I" * chars, "dot", 8 + 24 / len(children)), 1))
        boxes += [Box(f"i{i}t{j}", *box_size("x" * chars, "box"), 2 + j % 2, f"i{i}") for j in range(n)]
    where = radial_layout(boxes)
    xy = np.array([where[b.id] for b in boxes])
    assert len(overlaps(xy, np.array([[b.width, b.height] for b in boxes]))) == 0
