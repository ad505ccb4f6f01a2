"""The pretrained text encoder (real all-MiniLM-L6-v2, offline) and the item-vector cache."""

from __future__ import annotations

import numpy as np
import pytest

from igcore.encode.items import encode_items, item_text, price_band, uncached_count
from igcore.encode.text import TextEncoder
from igcore.errors import IgcoreError
from igcore.ingest import import_items
from tests.conftest import write_csv


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder(device="cpu", precision="float32")  # exact checks below; "auto" has its own test


def test_vectors_are_unit_length_and_semantic(encoder):
    v = encoder.encode(["red running shoe for trail runs", "lightweight trail running sneaker",
                        "dark roast espresso coffee beans"])
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2
    # Alone or in a padded batch: the same vector up to float summation order (BLAS blocking varies with shape).
    assert np.allclose(encoder.encode(["red running shoe for trail runs"])[0], v[0], atol=1e-5)


def test_auto_precision_is_bfloat16_only_where_the_cpu_computes_it_and_keeps_the_vectors(encoder):
    import torch

    from igcore.encode.text import native_bf16, resolve_precision

    auto = TextEncoder(device="cpu")
    assert auto.dtype == (torch.bfloat16 if native_bf16(torch.device("cpu")) else torch.float32)
    texts = ["red running shoe for trail runs", "dark roast espresso coffee beans, 1 kg bag, fair trade",
             "Stainless chef knife 20 cm. Kitchen. brand Forge. price under 50"]
    a, f = auto.encode(texts), encoder.encode(texts)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5) and a.dtype == np.float32
    assert ((a * f).sum(axis=1) >= 0.99).all()
    with pytest.raises(IgcoreError, match="auto, float32, bfloat16"):
        resolve_precision("float64", torch.device("cpu"))


def test_unknown_model_is_a_clear_error():
    with pytest.raises(IgcoreError, match="nothing is downloaded"):
        TextEncoder("no-such-org/no-such-model", device="cpu")


def test_item_text_uses_what_the_catalogue_has():
    assert item_text({"title": "Mug", "category": "Kitchen", "brand": "Forge", "price": 12.0}) == \
        "Mug. Kitchen. brand Forge. price under 25"
    assert item_text({"title": None, "category": "a1;a2", "brand": "b7", "price": 3.0}) == ""  # ids, not words
    nan = float("nan")  # what pandas gives for an empty cell
    assert item_text({"title": "Mug", "category": None, "brand": nan, "description": nan, "price": nan}) == "Mug"
    assert price_band(0.0) is None and price_band(1000.0) == "price 1000 or more"


def test_cache_encodes_only_new_or_changed_text(store, tmp_path, encoder):
    import_items(store, write_csv(tmp_path / "a.csv", "item_id,title,price\ni1,Red Shoe,10\ni2,Blue Mug,3\ni3,,\n"))
    vectors, new = encode_items(store, encoder)
    assert new == 2 and vectors["item_id"].tolist() == ["i1", "i2"]  # i3 has no text: no vector
    again, new = encode_items(store, encoder)
    assert new == 0 and all(np.array_equal(a, b) for a, b in zip(again["vector"], vectors["vector"]))
    import_items(store, write_csv(tmp_path / "b.csv", "item_id,title,price\ni1,Red Shoe,10\ni2,Green Mug,3\n"))
    assert uncached_count(store, encoder.name) == 1
    changed, new = encode_items(store, encoder)
    assert new == 1 and uncached_count(store, encoder.name) == 0
    assert np.array_equal(changed["vector"][0], vectors["vector"][0])
    assert not np.array_equal(changed["vector"][1], vectors["vector"][1])
    assert store.value("SELECT count(*) FROM item_text_embeddings") == 3


class Interrupted:
    """The real encoder, stopped (as Ctrl-C stops it) when asked for more than ``calls`` batches."""

    def __init__(self, encoder: TextEncoder, calls: int) -> None:
        self.encoder, self.calls, self.name = encoder, calls, encoder.name

    def encode(self, texts: list[str]) -> np.ndarray:
        if self.calls == 0:
            raise KeyboardInterrupt
        self.calls -= 1
        return self.encoder.encode(texts)


def test_an_interrupted_encoding_keeps_its_finished_parts(store, tmp_path, encoder):
    rows = "".join(f"i{k},{title},5\n" for k, title in enumerate(["Red Shoe", "Blue Mug", "Tea Pot", "Oak Desk",
                                                                     "Wool Hat"]))
    import_items(store, write_csv(tmp_path / "a.csv", "item_id,title,price\n" + rows))
    with pytest.raises(KeyboardInterrupt):
        encode_items(store, Interrupted(encoder, calls=2), commit_every=2)
    assert uncached_count(store, encoder.name) == 1  # two parts of two texts written before the stop
    vectors, new = encode_items(store, encoder, commit_every=2)
    assert new == 1 and vectors["item_id"].tolist() == ["i0", "i1", "i2", "i3", "i4"]
    whole = encoder.encode([item_text({"title": t, "price": 5.0}) for t in ("Red Shoe", "Blue Mug", "Tea Pot",
                                                                             "Oak Desk", "Wool Hat")])
    assert np.allclose(np.stack(vectors["vector"]), whole, atol=1e-6)


def test_attribute_tokens(store, tmp_path):
    from igcore.encode.items import item_attributes

    csv = "item_id,category,brand\ni1,a1;a2,\ni2,shoes.running,Stride\ni3,,\n"
    import_items(store, write_csv(tmp_path / "a.csv", csv))

    assert item_attributes(store) == {"i1": ["c:a1", "c:a2"], "i2": ["c:shoes", "c:running", "b:Stride"]}
