"""The store's privacy budget and its private releases: each release is made once, spends its epsilon once, and
is shown again from the store for free.

A store has one epsilon budget (``meta`` keys ``dp_budget``, ``dp_epsilon`` per release, ``dp_min_cohort``;
defaults below, changed with ``igcore privacy``). Every release is a row of ``dp_releases``: its query and
parameters, the data version it was computed on, the epsilon it spent and its noisy result. The spent budget is
the sum of that column (exact decimals, so that spends add up to the budget without rounding); a release that
would pass the budget is refused with :class:`BudgetExhausted`. The same query with the same parameters on the
same data (and the same settings) is answered from its row: re-running a page spends nothing, and a second answer
with fresh noise, which would average the noise away, is never made. New data (an import, rebuilt snapshots) is
a new version, and its first release spends again: sequential composition over the store's whole history.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import threading
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from igcore.errors import IgcoreError
from igcore.store import Store

DEFAULT_BUDGET = Decimal("10")
DEFAULT_EPSILON = Decimal("0.5")
DEFAULT_MIN_COHORT = 10
SETTING_KEYS = {"budget": "dp_budget", "epsilon": "dp_epsilon", "min_cohort": "dp_min_cohort"}
TABLE = """
CREATE TABLE IF NOT EXISTS dp_releases (
    release_key VARCHAR PRIMARY KEY,  -- sha256 of query, parameters, data version and settings
    query VARCHAR NOT NULL,
    params JSON NOT NULL,
    data_version VARCHAR NOT NULL,
    epsilon DECIMAL(18, 6) NOT NULL,
    min_cohort INTEGER NOT NULL,
    released_at TIMESTAMP NOT NULL,  -- UTC
    result JSON NOT NULL              -- the noisy table: columns, rows, which columns are times
)"""
_LOCK = threading.Lock()  # one release at a time per process: the budget check and the spend are one step


class BudgetExhausted(IgcoreError):
    """A release would spend more than the store's privacy budget has left."""


@dataclasses.dataclass(frozen=True)
class PrivacySettings:
    """The store's total epsilon, the epsilon each release spends, and the smallest cohort a cell may show."""

    budget: Decimal = DEFAULT_BUDGET
    epsilon: Decimal = DEFAULT_EPSILON
    min_cohort: int = DEFAULT_MIN_COHORT


@dataclasses.dataclass(frozen=True)
class Accounting:
    """How much of the budget the store's releases have spent."""

    budget: Decimal
    spent: Decimal
    releases: int

    @property
    def left(self) -> Decimal:
        return max(self.budget - self.spent, Decimal(0))

    def summary(self) -> str:
        return (f"privacy budget: epsilon {_num(self.spent)} of {_num(self.budget)} spent by {self.releases} "
                f"release{'s' * (self.releases != 1)}, {_num(self.left)} left")


@dataclasses.dataclass(frozen=True)
class PrivateQuery:
    """A query a release answers: its name and parameters (the cache key), the version of the data it reads,
    and how it computes its noisy table from the store for an epsilon, a minimum cohort and a generator."""

    name: str
    params: dict[str, Any]
    version: Callable[[Store], str]
    compute: Callable[[Store, float, int, np.random.Generator], pd.DataFrame]


@dataclasses.dataclass(frozen=True)
class Release:
    """A private release as the store keeps it; ``spent`` is the epsilon this call spent (0 when cached)."""

    query: str
    params: dict[str, Any]
    frame: pd.DataFrame
    epsilon: Decimal
    min_cohort: int
    released_at: dt.datetime
    spent: Decimal

    def caption(self) -> str:
        how = f"spent epsilon {_num(self.spent)} now" if self.spent else "shown again at no cost"
        users = f"{self.min_cohort} user{'s' * (self.min_cohort != 1)}"
        return (f"Private release (Laplace noise, epsilon {_num(self.epsilon)}; cells of fewer than {users} "
                f"suppressed), made {self.released_at:%Y-%m-%d %H:%M} UTC: {how}.")


def _num(value: Decimal) -> str:
    return format(value.normalize(), "f")


# --- settings and accounting ---------------------------------------------------------------------------------
def settings(store: Store) -> PrivacySettings:
    """The store's privacy settings (the defaults for what was never set)."""
    found = dict(store.rows("SELECT key, value FROM meta WHERE key IN (?, ?, ?)", list(SETTING_KEYS.values())))
    default = PrivacySettings()
    return PrivacySettings(budget=Decimal(found.get(SETTING_KEYS["budget"], default.budget)),
                           epsilon=Decimal(found.get(SETTING_KEYS["epsilon"], default.epsilon)),
                           min_cohort=int(found.get(SETTING_KEYS["min_cohort"], default.min_cohort)))


def set_settings(store: Store, budget: str | float | None = None, epsilon: str | float | None = None,
                 min_cohort: int | None = None) -> PrivacySettings:
    """Change the given settings (positive epsilons with at most six decimals, a cohort of at least one)."""
    values: dict[str, str] = {}
    for name, value in (("budget", budget), ("epsilon", epsilon)):
        if value is not None:
            values[name] = str(_epsilon(name, value))
    if min_cohort is not None:
        if int(min_cohort) < 1:
            raise IgcoreError(f"the minimum cohort must be at least one user, not {min_cohort}")
        values["min_cohort"] = str(int(min_cohort))
    with store.transaction() as con:
        for name, value in values.items():
            con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [SETTING_KEYS[name], value])
    return settings(store)


def _epsilon(name: str, value: str | float) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite() or number <= 0 or number != number.quantize(Decimal("0.000001")) or number >= 10**12:
        raise IgcoreError(f"the privacy {name} must be a positive epsilon with at most six decimals, not {value!r}")
    return number


def has_releases(store: Store) -> bool:
    return bool(store.value("SELECT count(*) FROM information_schema.tables WHERE table_name = 'dp_releases'"))


def accounting(store: Store) -> Accounting:
    """The budget, what the releases so far spent, and how many there are."""
    spent, n = store.rows("SELECT coalesce(sum(epsilon), 0), count(*) FROM dp_releases")[0] \
        if has_releases(store) else (Decimal(0), 0)
    return Accounting(settings(store).budget, Decimal(spent), int(n))


def releases(store: Store) -> pd.DataFrame:
    """The ledger, newest first: when, which query with which parameters, the epsilon spent."""
    if not has_releases(store):
        return pd.DataFrame(columns=["released_at", "query", "params", "epsilon"])
    return store.df("SELECT released_at, query, params, epsilon::DOUBLE AS epsilon FROM dp_releases "
                    "ORDER BY released_at DESC, query")


# --- releasing -----------------------------------------------------------------------------------------------
def release(path: Path, query: PrivateQuery, rng: np.random.Generator | None = None) -> Release:
    """The query's private release on the store's current data: the stored one when it was made before (no
    epsilon spent), else a new one, computed, recorded and charged to the budget in one transaction.
    :class:`BudgetExhausted` when the budget cannot pay for it."""
    if not Path(path).exists():
        raise IgcoreError(f"there is no store at {path}: import some events first")
    with Store(path, read_only=True) as store:
        found = _stored(store, _key(store, query))
    if found is not None:
        return found
    with _LOCK, Store(path) as store:
        key = _key(store, query)
        found = _stored(store, key)
        if found is not None:
            return found
        chosen, account = settings(store), accounting(store)
        if account.spent + chosen.epsilon > account.budget:
            raise BudgetExhausted(f"the privacy budget of this store is spent (epsilon {_num(account.spent)} of "
                                  f"{_num(account.budget)}; a release costs {_num(chosen.epsilon)}): nothing new "
                                  "is published; releases made before are still shown (igcore privacy --budget "
                                  "raises it)")
        frame = query.compute(store, float(chosen.epsilon), chosen.min_cohort, rng or np.random.default_rng())
        with store.transaction() as con:
            con.execute(TABLE)
            con.execute("INSERT INTO dp_releases VALUES (?, ?, ?, ?, ?, ?, now()::TIMESTAMP, ?)",
                        [key, query.name, json.dumps(query.params, sort_keys=True), query.version(store),
                         str(chosen.epsilon), chosen.min_cohort, _to_json(frame)])
        made = _stored(store, key)
    assert made is not None
    return dataclasses.replace(made, spent=chosen.epsilon)  # numbers as read back: identical on every later call


def _key(store: Store, query: PrivateQuery) -> str:
    chosen = settings(store)
    text = json.dumps({"query": query.name, "params": query.params, "version": query.version(store),
                       "epsilon": str(chosen.epsilon), "min_cohort": chosen.min_cohort}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _stored(store: Store, key: str) -> Release | None:
    if not has_releases(store):
        return None
    rows = store.rows("SELECT query, params, epsilon, min_cohort, released_at, result FROM dp_releases "
                      "WHERE release_key = ?", [key])
    if not rows:
        return None
    name, params, epsilon, min_cohort, released_at, result = rows[0]
    return Release(name, json.loads(params), _from_json(result), Decimal(epsilon), int(min_cohort), released_at,
                   Decimal(0))


def _to_json(frame: pd.DataFrame) -> str:
    """The table as JSON that reads back to the same numbers (Python's float repr round-trips; NaN is null)."""
    times = [c for c in frame.columns if pd.api.types.is_datetime64_any_dtype(frame[c])]
    rows = [[None if v is None or (isinstance(v, float) and math.isnan(v)) else
             (v.isoformat() if isinstance(v, pd.Timestamp) else v.item() if isinstance(v, np.generic) else v)
             for v in row] for row in frame.astype(object).itertuples(index=False)]
    floats = [c for c in frame.columns if pd.api.types.is_float_dtype(frame[c])]
    return json.dumps({"columns": [str(c) for c in frame.columns], "rows": rows, "times": times, "floats": floats})


def _from_json(text: str) -> pd.DataFrame:
    data = json.loads(text)
    frame = pd.DataFrame(data["rows"], columns=data["columns"])
    for column in data["times"]:
        frame[column] = pd.to_datetime(frame[column])
    for column in data["floats"]:  # a column of suppressed cells only reads back as None, not NaN
        frame[column] = frame[column].astype(float)
    return frame
