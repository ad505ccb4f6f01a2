"""Column auto-mapping, explicit overrides, and layered configuration."""

from __future__ import annotations

import json

import pytest

from igcore.config import IngestConfig, load_config, parse_assignments
from igcore.errors import IgcoreError, IngestError, MissingColumnsError
from igcore.ingest.mapping import EVENT_FIELDS, ITEM_FIELDS, resolve_mapping


@pytest.mark.parametrize("header, want", [
    (["user_id", "item_id", "category_id", "behavior", "timestamp"],
     {"user_id": "user_id", "item_id": "item_id", "event_type": "behavior", "ts": "timestamp",
      "category": "category_id"}),
    (["event_time", "event_type", "product_id", "category_id", "category_code", "brand", "price", "user_id",
      "user_session"],
     {"ts": "event_time", "event_type": "event_type", "item_id": "product_id", "category": "category_code",
      "brand": "brand", "price": "price", "user_id": "user_id", "session_id": "user_session"}),
    (["timestamp", "visitorid", "event", "itemid", "transactionid"],
     {"ts": "timestamp", "user_id": "visitorid", "event_type": "event", "item_id": "itemid"}),
    (["Customer ID", "SKU", "Action", "Created At", "Qty"],
     {"user_id": "Customer ID", "item_id": "SKU", "event_type": "Action", "ts": "Created At", "value": "Qty"}),
])
def test_auto_mapping(header, want):
    assert resolve_mapping(header, EVENT_FIELDS) == want


def test_explicit_mapping_wins_and_can_leave_columns_out():
    header = ["uid", "item", "when", "type"]
    got = resolve_mapping(header, EVENT_FIELDS, {"when": "ts", "type": "-", "uid": "user_id"})
    assert got == {"ts": "when", "user_id": "uid", "item_id": "item"}


def test_missing_required_field_names_columns_and_fields():
    with pytest.raises(MissingColumnsError) as info:
        resolve_mapping(["a", "b"], EVENT_FIELDS)
    msg = str(info.value)
    assert "Columns found: a, b" in msg and "user_id" in msg and "item_id" in msg and "ts (" in msg


def test_explicit_mapping_errors_list_valid_choices():
    with pytest.raises(IngestError, match="columns: a, b"):
        resolve_mapping(["a", "b"], EVENT_FIELDS, {"zzz": "ts"})
    with pytest.raises(IngestError, match="fields: .*user_id"):
        resolve_mapping(["a", "b"], EVENT_FIELDS, {"a": "when"})


def test_items_map_attributes_to_category():
    assert resolve_mapping(["item_id", "attributes"], ITEM_FIELDS) == {"item_id": "item_id", "category": "attributes"}


def test_config_layers_defaults_file_then_overrides(tmp_path):
    file = tmp_path / "ingest.json"
    file.write_text(json.dumps({"max_id_chars": 64, "default_event_type": "click"}))
    cfg = load_config(IngestConfig, file, {"max_id_chars": "32"})
    defaults = IngestConfig()
    assert (cfg.max_id_chars, cfg.default_event_type, cfg.max_line_bytes) == (32, "click", defaults.max_line_bytes)
    toml = tmp_path / "ingest.toml"
    toml.write_text('encoding = "latin-1"\n')
    assert load_config(IngestConfig, toml).encoding == "latin-1"


def test_config_rejects_unknown_keys_and_bad_values():
    with pytest.raises(IgcoreError, match="valid settings: max_file_bytes"):
        load_config(IngestConfig, overrides={"max_bytes": "1"})
    with pytest.raises(IgcoreError, match="expected int"):
        load_config(IngestConfig, overrides={"max_id_chars": "many"})
    with pytest.raises(IgcoreError, match="KEY=VALUE"):
        parse_assignments(["novalue"])
