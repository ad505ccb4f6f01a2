"""Private cohort views (igcore.dp): the Laplace noise has the scale it promises, cells under the minimum cohort are
suppressed on their noisy count, the budget adds up exactly and refuses what it cannot pay (in one line), a
release is made once and shown again for nothing, and each view spends its epsilon on the sensitivity it claims."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from igcore.cli import main
from igcore.dp import cohorts as private
from igcore.dp.ledger import Accounting, BudgetExhausted, accounting, release, releases, set_settings
from igcore.dp.mechanism import laplace, laplace_scale, noisy_counts, suppress
from igcore.ingest import import_events
from igcore.interests.config import InterestConfig
from igcore.interests.drift import cohort
from igcore.store import Store
from tests.conftest import write_csv
from tests.test_app_live import T0, build, moving_users

NAN = float("nan")


def shop(tmp_path: Path, budget: str = "10", epsilon: str = "0.5", min_cohort: int = 1) -> Path:
    """Three users who moved from running shoes to coffee 60 days apart, with snapshots and privacy settings."""
    db = tmp_path / "shop.duckdb"
    build(db, moving_users(), config=InterestConfig(cadence="events:4", half_life_days=1.0))
    with Store(db) as store:
        set_settings(store, budget=budget, epsilon=epsilon, min_cohort=min_cohort)
    return db


def spent(db: Path) -> Accounting:
    with Store(db, read_only=True) as store:
        return accounting(store)


def nan_list(values) -> list:
    return ["nan" if np.isnan(v) else v for v in values]


# --- the mechanism ----------------------------------------------------------------------------------------------
def test_laplace_noise_has_variance_two_scale_squared():
    assert laplace_scale(2, 0.5) == 4.0
    noise = laplace(np.zeros(400_000), sensitivity=2, epsilon=0.5, rng=np.random.default_rng(0))
    assert noise.var() == pytest.approx(2 * 4.0**2, rel=0.02)
    assert np.median(np.abs(noise)) == pytest.approx(4.0 * np.log(2), rel=0.02)  # the median of |X| is b ln 2
    assert abs(noise.mean()) < 0.05
    assert laplace([10.0, 20.0], 1, 1.0, np.random.default_rng(42)).tolist() == [10.793878642641706,
                                                                                 19.869614373693455]
    with pytest.raises(ValueError, match="must be positive"):
        laplace_scale(1, 0)


def test_counts_are_whole_and_cells_under_the_minimum_are_suppressed_on_their_noisy_count():
    nearly_exact = noisy_counts([0, 4, 9, 10, 250], 1, 1e9, np.random.default_rng(1), min_cohort=10)
    assert nan_list(nearly_exact) == ["nan", "nan", "nan", 10.0, 250.0]
    # noise of scale 2 on five counts of 12: 8.47, 10.51, 13.85, 12.36, 8.66 before rounding
    seeded = noisy_counts([12] * 5, 1, 0.5, np.random.default_rng(3), min_cohort=10)
    assert nan_list(seeded) == ["nan", 11.0, 14.0, 12.0, "nan"]
    assert nan_list(suppress([1.0, 2.0, 3.0], [5.0, NAN, 20.0], 10)) == ["nan", "nan", 3.0]


# --- the budget and the cache -----------------------------------------------------------------------------------
def test_the_budget_adds_up_exactly_and_refuses_what_it_cannot_pay(tmp_path):
    db = shop(tmp_path, budget="0.6", epsilon="0.1")
    made = [release(db, q) for q in (private.trend_query(30), private.trend_query(60), private.drift_query())]
    assert [m.spent for m in made] == [Decimal("0.1")] * 3
    with Store(db) as store:
        set_settings(store, epsilon="0.2")
    release(db, private.change_points_query())
    assert spent(db) == Accounting(Decimal("0.6"), Decimal("0.5"), 4)  # 0.1 + 0.1 + 0.1 + 0.2, no rounding
    with pytest.raises(BudgetExhausted) as refused:
        release(db, private.popularity_query())
    assert str(refused.value) == ("the privacy budget of this store is spent (epsilon 0.5 of 0.6; a release costs "
                                  "0.2): nothing new is published; releases made before are still shown (igcore "
                                  "privacy --budget raises it)")
    with Store(db) as store:
        set_settings(store, epsilon="0.1")
    release(db, private.popularity_query())  # exactly what is left
    account = spent(db)
    assert account == Accounting(Decimal("0.6"), Decimal("0.6"), 5) and account.left == 0
    with pytest.raises(BudgetExhausted):
        release(db, private.trend_query(90))
    with Store(db, read_only=True) as store:
        ledger = releases(store)
    assert ledger["query"].tolist().count("trend") == 2 and ledger["epsilon"].sum() == pytest.approx(0.6)


def test_a_release_is_made_once_and_shown_again_for_nothing_until_the_data_changes(tmp_path):
    db = shop(tmp_path)
    first = release(db, private.trend_query(30), np.random.default_rng(5))
    again = release(db, private.trend_query(30), np.random.default_rng(6))  # other noise would be drawn
    assert (first.spent, again.spent) == (Decimal("0.5"), Decimal(0))
    pd.testing.assert_frame_equal(again.frame, first.frame)  # the same numbers to the last bit
    assert spent(db) == Accounting(Decimal("10"), Decimal("0.5"), 1)
    with Store(db) as store:
        import_events(store, write_csv(tmp_path / "more.csv", f"user_id,item_id,timestamp\nu4,A1,{T0}\n"))
    fresh = release(db, private.trend_query(30), np.random.default_rng(6))
    assert fresh.spent == Decimal("0.5") and spent(db).spent == Decimal("1.0")


# --- the views ----------------------------------------------------------------------------------------------------
def test_the_trend_spends_half_on_the_count_and_half_on_the_share_sums(tmp_path):
    db = shop(tmp_path, epsilon="1")
    with Store(db, read_only=True) as store:
        exact = cohort(store, 30)
    rng = np.random.default_rng(4)  # the draws the release makes, in its order: the count, then the sums
    users = np.rint(3 + rng.laplace(0, 1 / 0.5))  # sensitivity 1 over half the epsilon
    sums = np.concatenate([exact["share_before"], exact["share_after"]]) * 3 + rng.laplace(0, 2 / 0.5, 6)
    before, after = np.clip(sums[:3] / users, 0, 1), np.clip(sums[3:] / users, 0, 1)
    expected = pd.DataFrame({"interest": exact["interest"], "label": exact["label"], "users": users,
                             "share_before": before, "share_after": after, "change": after - before})
    expected = expected.sort_values(["change", "interest"], ascending=[False, True], ignore_index=True)
    assert users >= 1
    pd.testing.assert_frame_equal(release(db, private.trend_query(30), np.random.default_rng(4)).frame, expected)


def test_with_negligible_noise_the_views_show_the_exact_figures(tmp_path):
    db = shop(tmp_path, budget="100000000000", epsilon="1000000000")
    trend = release(db, private.trend_query(30)).frame
    assert trend[["interest", "users"]].values.tolist() == [["category:Coffee", 3], ["category:Tea", 3],
                                                            ["category:Running", 3]]
    assert trend["change"].tolist() == pytest.approx([1.0, 0.0, -1.0], abs=1e-6)
    points = release(db, private.change_points_query()).frame
    assert points["change points"].tolist() == ["0", "1", "2", "3", "4", "5+"]
    assert nan_list(points["users"]) == [3.0] + ["nan"] * 5  # empty bins are under the minimum of one
    drift = release(db, private.drift_query()).frame  # snapshots 1 and 2 share their interest, 2 and 3 nothing
    assert nan_list(drift["users"]) == ["nan"] * 10 + [3.0] + ["nan"] * 9  # mean JSD 0.5
    weekly = release(db, private.popularity_query()).frame.pivot(index="week", columns="interest", values="share")
    assert weekly.index.strftime("%Y-%m-%d").tolist()[::11] == ["2023-10-23", "2024-01-08"]  # twelve Mondays
    assert weekly.loc["2023-11-13"].tolist() == pytest.approx([0.0, 1.0, 0.0], abs=1e-6)  # Coffee, Running, Tea
    assert weekly.loc["2024-01-08"].tolist() == pytest.approx([1.0, 0.0, 0.0], abs=1e-6)
    assert weekly.drop(pd.to_datetime(["2023-11-13", "2024-01-08"])).isna().all().all()  # weeks nobody was active


def test_cohorts_under_the_minimum_are_suppressed_whole(tmp_path):
    db = shop(tmp_path, budget="100000000000", epsilon="1000000000", min_cohort=4)  # three users
    trend = release(db, private.trend_query(30)).frame
    assert len(trend) == 3 and trend[["users", "share_before", "share_after", "change"]].isna().all().all()
    assert release(db, private.change_points_query()).frame["users"].isna().all()
    assert release(db, private.popularity_query()).frame["share"].isna().all()


# --- the command line -----------------------------------------------------------------------------------------------
def test_drift_publishes_private_releases_and_says_in_one_line_when_the_budget_is_spent(tmp_path, capsys):
    db = shop(tmp_path, budget="0.5", epsilon="0.5")
    assert main(["drift", "--db", str(db)]) == 1  # the trend is released, the change points no longer fit
    assert capsys.readouterr().err == (
        "igcore: error: the privacy budget of this store is spent (epsilon 0.5 of 0.5; a release costs 0.5): "
        "nothing new is published; releases made before are still shown (igcore privacy --budget raises it)\n")
    assert main(["privacy", "--db", str(db), "--budget", "1"]) == 0
    assert "privacy budget: epsilon 0.5 of 1 spent by 1 release, 0.5 left" in capsys.readouterr().out
    for now in (0.5, 0.0):  # the change points are new, then both are shown again
        assert main(["drift", "--db", str(db), "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert set(out) == {"rising", "fading", "change_points", "privacy"}
        assert out["privacy"] == {"epsilon_spent_now": now, "budget": 1.0, "spent": 1.0, "min_cohort": 1}
    assert main(["drift", "--db", str(db), "--user", "u1"]) == 0
    assert capsys.readouterr().err == "A view of single users: not a differentially private release.\n"
