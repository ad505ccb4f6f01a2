"""Configuration as dataclasses with layered defaults: built-in defaults < a TOML/JSON file < overrides.

Overrides arrive as ``key=value`` strings (CLI ``--set``, dashboard widgets) and are coerced to the field's
declared type, so a wrong key or value is a clear error instead of a silent typo.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import typing
from pathlib import Path
from typing import Any, TypeVar

from igcore.errors import IgcoreError

T = TypeVar("T")

# Event-type vocabulary: common raw names -> the canonical types used everywhere downstream.
DEFAULT_EVENT_VOCAB: dict[str, str] = {
    "pv": "view", "view": "view", "views": "view", "click": "view", "detail": "view", "page_view": "view",
    "pageview": "view", "impression": "view",
    "cart": "cart", "addtocart": "cart", "add_to_cart": "cart", "add-to-cart": "cart", "basket": "cart",
    "fav": "wishlist", "favorite": "wishlist", "favourite": "wishlist", "wishlist": "wishlist", "like": "wishlist",
    "save": "wishlist",
    "buy": "purchase", "purchase": "purchase", "order": "purchase", "transaction": "purchase",
    "checkout": "purchase", "sale": "purchase",
    "remove_from_cart": "remove_from_cart", "removefromcart": "remove_from_cart",
    "review": "review", "rating": "review",
}


@dataclasses.dataclass(frozen=True)
class IngestConfig:
    """How CSV files are read and checked."""

    max_file_bytes: int = 2 * 1024**3  # uploads and files over this are refused whole
    max_line_bytes: int = 1024 * 1024  # a longer line is quarantined
    max_id_chars: int = 256  # longer user/item/session ids are quarantined
    encoding: str = "auto"  # auto | utf-8 | utf-16 | latin-1
    delimiter: str = "auto"  # auto | , | ; | \t | |
    default_event_type: str = "interaction"  # for files (or cells) without an event type
    event_vocab: dict[str, str] = dataclasses.field(default_factory=lambda: dict(DEFAULT_EVENT_VOCAB))


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """How a sequence model trains: shared by SASRec and the pipeline so they are compared on equal terms."""

    lr: float = 2e-3
    batch_size: int = 256
    epochs: int = 200
    eval_every: int = 2
    patience: int = 4
    max_train_s: float = 1500.0
    valid_exclude_seen: bool = True  # early stopping ranks like the protocol's headline does
    device: str = "auto"
    seed: int = 0


def _coerce(value: str, kind: Any, key: str) -> Any:
    origin = typing.get_origin(kind) or kind
    try:
        if origin is bool:
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if origin in (int, float, str):
            return origin(value)
        if origin in (dict, list):
            return json.loads(value)
    except (ValueError, json.JSONDecodeError) as exc:
        raise IgcoreError(f"setting {key}={value!r}: expected {getattr(kind, '__name__', kind)}") from exc
    raise IgcoreError(f"setting {key}: unsupported type {kind}")


def with_overrides(config: T, overrides: dict[str, Any]) -> T:
    """Return a copy of ``config`` with fields replaced; string values are coerced to the field type."""
    hints = typing.get_type_hints(type(config))
    names = [f.name for f in dataclasses.fields(config)]  # type: ignore[arg-type]
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in names:
            raise IgcoreError(f"unknown setting {key!r}; valid settings: {', '.join(names)}")
        changes[key] = _coerce(value, hints[key], key) if isinstance(value, str) else value
    return dataclasses.replace(config, **changes)  # type: ignore[type-var]


def load_config(cls: type[T], file: str | Path | None = None, overrides: dict[str, Any] | None = None) -> T:
    """Defaults of ``cls``, then the file's values (TOML or JSON), then ``overrides``."""
    config = cls()
    if file is not None:
        path = Path(file)
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        config = with_overrides(config, data)
    return with_overrides(config, overrides or {})


def parse_assignments(pairs: list[str] | None) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}`` with a clear error on a pair without ``=``."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise IgcoreError(f"expected KEY=VALUE, got {pair!r}")
        out[key.strip()] = value.strip()
    return out
