"""SQL expressions that turn CSV text into typed values; shared by the event and item importers.

Arguments are column names from code (``c0``, ``c1``, ...) or expressions built here, never user text.
"""

from __future__ import annotations


def text(col: str | None) -> str:
    """Trimmed text, NULL when absent or blank."""
    return f"nullif(trim({col}), '')" if col else "NULL::VARCHAR"


def number(expr: str) -> str:
    """A number from text, tolerating surrounding currency signs and spaces; NULL when not a number."""
    return f"TRY_CAST(regexp_replace({expr}, '^[$€£¥\\s]+|[$€£¥\\s]+$|\\s*(USD|EUR|GBP)$', '', 'g') AS DOUBLE)"


def timestamp(expr: str) -> str:
    """UTC TIMESTAMP from text: unix seconds (< 1e11), milliseconds (< 1e14) or microseconds (< 1e17), or
    ISO-8601 with a zone (converted to UTC) or without one (taken as UTC). NULL when none of these."""
    num = f"TRY_CAST({expr} AS DOUBLE)"
    return f"""CASE
        WHEN {num} IS NULL THEN TRY_CAST({expr} AS TIMESTAMPTZ)::TIMESTAMP
        WHEN abs({num}) < 1e11 THEN make_timestamp(({num} * 1e6)::BIGINT)
        WHEN abs({num}) < 1e14 THEN make_timestamp(({num} * 1e3)::BIGINT)
        WHEN abs({num}) < 1e17 THEN make_timestamp(({num})::BIGINT)
    END"""


def id_checks(name: str, max_chars: int, column: str | None = None) -> list[str]:
    """CASE branches refusing a blank or over-long id ``name`` held in ``column`` (default: ``name``; another
    when the kept column is derived from it, as a pseudonym is)."""
    limit, col = int(max_chars), column or name
    return [
        f"WHEN {col} IS NULL THEN 'empty {name}: the column is blank'",
        f"WHEN length({col}) > {limit} THEN 'id too long: {name} has ' || length({col}) "
        f"|| ' characters (limit {limit})'",
    ]


def shown(expr: str) -> str:
    """A value quoted into a reason, cut to a readable length."""
    return f"'''' || left({expr}, 80) || ''''"


def not_a_number(name: str) -> str:
    """CASE branch refusing text in ``{name}_text`` that did not parse into the number ``name``."""
    return f"WHEN {name}_text IS NOT NULL AND {name} IS NULL THEN '{name} is not a number: ' || {shown(name + '_text')}"
