"""Which CSV column feeds which field: automatic from common names, overridden by an explicit mapping.

Column names are compared normalised (lower case, letters and digits only), so ``User ID``, ``user_id`` and
``userId`` are the same name. For each field the synonyms are tried in order and the first column found wins;
a column feeds at most one field.
"""

from __future__ import annotations

import dataclasses
import re

from igcore.errors import IngestError, MissingColumnsError

IGNORE = "-"  # map a column to this to leave it out


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    name: str
    required: bool
    synonyms: tuple[str, ...]  # normalised column names, most specific first
    help: str


def normalise(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def _n(*names: str) -> tuple[str, ...]:
    return tuple(normalise(n) for n in names)


EVENT_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("user_id", True, _n("user_id", "userid", "user", "visitor_id", "visitor", "customer_id", "customer",
                                  "client_id", "client", "uid", "member_id", "buyer_id", "shopper_id", "reviewer_id"),
              "who acted"),
    FieldSpec("item_id", True, _n("item_id", "item", "product_id", "product", "sku", "sku_id", "article_id",
                                  "article", "asin", "goods_id", "offer_id", "pid"), "what was acted on"),
    FieldSpec("ts", True, _n("ts", "timestamp", "event_time", "event_timestamp", "time", "datetime", "date_time",
                             "date", "created_at", "occurred_at", "unix_time", "event_date"),
              "when: unix seconds or milliseconds, or ISO-8601 with or without zone"),
    FieldSpec("event_type", False, _n("event_type", "event", "behavior", "behaviour", "action", "action_type",
                                      "interaction", "interaction_type", "event_name", "type"),
              "view, cart, purchase, ... (default: one type for all)"),
    FieldSpec("value", False, _n("value", "rating", "amount", "revenue", "quantity", "qty", "score"),
              "a number carried by the event"),
    FieldSpec("session_id", False, _n("session_id", "session", "user_session", "visit_id", "session_key"),
              "session the event belongs to"),
    # Item attributes that event logs often carry; they fill the catalogue for items it lacks.
    FieldSpec("category", False, _n("category_code", "category", "category_name", "category_id", "cat_id",
                                    "categories"), "item category"),
    FieldSpec("brand", False, _n("brand", "brand_name", "manufacturer"), "item brand"),
    FieldSpec("price", False, _n("price", "unit_price", "item_price"), "item price"),
)

ITEM_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("item_id", True, EVENT_FIELDS[1].synonyms, "the item's id, as in the events"),
    FieldSpec("title", False, _n("title", "name", "product_name", "item_name", "product_title"), "readable name"),
    FieldSpec("category", False, EVENT_FIELDS[6].synonyms + _n("attributes"), "category"),
    FieldSpec("brand", False, EVENT_FIELDS[7].synonyms, "brand"),
    FieldSpec("price", False, EVENT_FIELDS[8].synonyms, "price"),
    FieldSpec("description", False, _n("description", "desc", "details", "summary"), "longer text"),
)


def resolve_mapping(
    header: list[str], fields: tuple[FieldSpec, ...], explicit: dict[str, str] | None = None
) -> dict[str, str]:
    """Return ``{field: column}`` for the fields found in ``header``.

    ``explicit`` maps column -> field (or :data:`IGNORE`) and wins over the automatic choice. Raises
    :class:`MissingColumnsError` naming the columns found and the fields needed when a required one is absent.
    """
    names = {f.name for f in fields}
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for column, field in (explicit or {}).items():
        if column not in header:
            raise IngestError(f"--map names column {column!r}, which the file lacks; columns: {', '.join(header)}")
        if field != IGNORE and field not in names:
            raise IngestError(f"--map {column}={field}: unknown field; fields: {', '.join(sorted(names))}, {IGNORE}")
        taken.add(column)
        if field != IGNORE:
            mapping[field] = column
    by_norm: dict[str, str] = {}
    for column in header:
        by_norm.setdefault(normalise(column), column)
    for spec in fields:
        if spec.name in mapping:
            continue
        for syn in spec.synonyms:
            column = by_norm.get(syn)
            if column is not None and column not in taken:
                mapping[spec.name] = column
                taken.add(column)
                break
    missing = [f for f in fields if f.required and f.name not in mapping]
    if missing:
        needed = "; ".join(f"{f.name} ({f.help})" for f in missing)
        raise MissingColumnsError(
            f"cannot find columns for the required fields {needed}. Columns found: {', '.join(header)}. "
            "Name them with --map COLUMN=FIELD"
        )
    return mapping
