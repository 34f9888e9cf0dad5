"""Overview figures on the real "Online Retail" exports against an independent pandas computation."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from customer_value import db as dbmod
from customer_value.dataset import make_filters
from customer_value.metrics import period_figures
from tests.builders import online_retail_database

WINDOW = 90
PERIOD = (date(2011, 6, 1), date(2011, 11, 30))


def pandas_figures(lines: pd.DataFrame, start: date, end: date, as_of: date) -> dict[str, float]:
    """The overview's definitions written out directly on the lines (domain.md section 3)."""
    known = lines[lines["customer_id"].notna()]
    in_period = known[(known["order_date"] >= start) & (known["order_date"] <= end)]
    purchases = known[~known["is_cancellation"] & (known["amount"] > 0)]
    days = (purchases.groupby(["customer_id", "order_date"]).size().reset_index()
            .sort_values(["customer_id", "order_date"]))
    days["previous"] = days.groupby("customer_id")["order_date"].shift()
    days["next"] = days.groupby("customer_id")["order_date"].shift(-1)
    window = timedelta(days=WINDOW)
    gap_before = days["order_date"] - days["previous"]
    gap_after = days["next"] - days["order_date"]
    in_range = (days["order_date"] >= start) & (days["order_date"] <= end)
    new = int((in_range & days["previous"].isna()).sum())
    reactivated = int((in_range & (gap_before > window)).sum())
    spell_end = days["next"].isna() | (gap_after > window)
    lapse = days["order_date"] + window
    lost = int((spell_end & (lapse >= start) & (lapse <= end) & (lapse <= as_of)).sum())
    last_by_end = days[days["order_date"] <= end].groupby("customer_id")["order_date"].max()
    active_end = int((last_by_end > end - window).sum())
    day_before = start - timedelta(days=1)
    last_before = days[days["order_date"] <= day_before].groupby("customer_id")["order_date"].max()
    active_start = int((last_before > day_before - window).sum())
    buyers = in_period[~in_period["is_cancellation"] & (in_period["amount"] > 0)]["customer_id"].unique()
    orders = (in_period[~in_period["is_cancellation"]].groupby("customer_id")["order_id"].nunique()
              .reindex(buyers).fillna(0))
    return {
        "active_at_start": active_start,
        "active_customers": active_end,
        "new_customers": new,
        "reactivated_customers": reactivated,
        "lost_customers": lost,
        "revenue": round(float(in_period["amount"].sum()), 2),
        "buyers": len(buyers),
        "repeat_purchase_rate": float((orders >= 2).sum() / len(buyers)),
    }


@pytest.mark.parametrize("export", ["france.csv", "germany.csv"])
def test_overview_figures_match_pandas_on_real_exports(real_data_dir, tmp_path, export):
    database, lines = online_retail_database(tmp_path / "real.duckdb", real_data_dir / export)
    try:
        filters = make_filters(database, start=PERIOD[0], end=PERIOD[1], window_days=WINDOW)
        figures = period_figures(database, filters)
        expected = pandas_figures(lines, PERIOD[0], PERIOD[1], filters.as_of)
        for key, value in expected.items():
            assert figures[key] == pytest.approx(value, abs=0.005), key
        # The identity holds on real data too.
        assert figures["active_at_start"] + figures["new_customers"] + figures["reactivated_customers"] \
            - figures["lost_customers"] == figures["active_customers"]
    finally:
        database.close()
        dbmod.forget(tmp_path / "real.duckdb")
