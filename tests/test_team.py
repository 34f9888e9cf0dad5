"""Team performance tables on a hand-worked company, and their agreement with the overview."""

from __future__ import annotations

import json
from dataclasses import replace

import pandas as pd
import pytest

from customer_value import team
from customer_value.cli import main
from customer_value.dataset import filter_choices, make_filters
from customer_value.filters import Filters
from customer_value.metrics import period_figures
from tests.builders import d, tiny_database
from tests.test_satisfaction import PERIOD, real_retail_database, tiny_company  # noqa: F401  (the fixture)


def test_region_table_by_hand(tiny_company):  # noqa: F811
    table = team.team_table(tiny_company, PERIOD, "region").set_index("region")
    north, south = table.loc["North"], table.loc["South"]
    # North: A and B bought (300 + 300); B active on 06-30, A lost 04-24; both new in the period.
    assert (north["customers"], north["active_customers"], north["revenue"]) == (2, 1, 600.0)
    assert (north["new_customers"], north["lost"], north["reactivated"]) == (2, 1, 0)
    assert north["nps"] == pytest.approx(0.0)           # answers 10, 3, 2, 9
    # South: C bought (2,000), lost 03-05 and reactivated 06-20; D answered only.
    assert (south["customers"], south["active_customers"], south["revenue"]) == (1, 1, 2000.0)
    assert (south["new_customers"], south["lost"], south["reactivated"]) == (1, 1, 1)
    assert south["nps"] == pytest.approx(-50.0)         # answers 5 and 8
    # Previous period 2023-07-01..2023-12-31: only D, new and lost in it.
    assert (south["previous_customers"], south["previous_new_customers"], south["previous_lost"]) == (1, 1, 1)
    assert south["change_revenue"] == pytest.approx(2000.0 - 400.0)
    # Nobody was active at the start of 2024: net growth is not defined.
    assert north["net_growth_rate"] is None or north["net_growth_rate"] != north["net_growth_rate"]


def test_rep_customers_by_hand(tiny_company):  # noqa: F811
    customers = team.rep_customers(tiny_company, PERIOD, "Bob")
    assert customers["customer_id"].tolist() == ["C", "D"]
    assert customers["revenue"].tolist() == [2000.0, 0.0]
    assert customers["status"].tolist() == ["new", "inactive"]  # C first bought on 2024-01-20


def test_regions_add_up_to_the_overview(demo_db):
    filters = make_filters(demo_db)
    overview = period_figures(demo_db, filters)
    for level in team.TEAM_LEVELS:
        table = team.team_table(demo_db, filters, level)
        assert table["active_customers"].sum() == overview["active_customers"]
        assert table["new_customers"].sum() == overview["new_customers"]
        assert table["lost"].sum() == overview["lost_customers"]
        assert table["reactivated"].sum() == overview["reactivated_customers"]
        assert table["revenue"].sum() == pytest.approx(overview["revenue"])
        assert table["customers"].sum() == overview["buyers"]


@pytest.mark.parametrize("change", ["default", "region", "type_and_rep", "window_45", "window_180", "all_time"])
def test_pair_sums_equal_the_customer_rows_summed(demo_db, change):
    # team_groups.sql sums in the database what team_customers.sql lists customer by customer; W = 45 is
    # not one of movement_events' windows, so it takes the pass over purchase days instead of the cube.
    base = make_filters(demo_db)
    choices = filter_choices(demo_db)
    filters = {
        "default": base,
        "region": replace(base, regions=(choices["region"][0],)),
        "type_and_rep": replace(base, customer_types=(choices["type"][1],), sales_reps=tuple(choices["rep"][:4])),
        "window_45": replace(base, window_days=45),
        "window_180": replace(base, window_days=180),
        "all_time": make_filters(demo_db, period="all_time"),
    }[change]
    customers = team.team_customers(demo_db, filters)
    pairs = team.team_groups(demo_db, filters)
    summed = (customers.assign(profit=customers["profit"].fillna(0.0)).groupby(["region", "sales_rep"])[team._SUMMED]
              .sum().astype(float).reset_index())
    from_pairs = pairs.assign(profit=pairs["profit"].fillna(0.0))[["region", "sales_rep", *team._SUMMED]]
    pd.testing.assert_frame_equal(from_pairs.astype({column: float for column in team._SUMMED}), summed,
                                  check_exact=False, rtol=1e-9)


def test_team_command(demo_db_path, capsys):
    assert main(["team", "--db", str(demo_db_path), "--json", "--region", "West"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [row["region"] for row in report["regions"]] == ["West"]
    assert report["sales_reps"] and all(row["revenue"] >= 0 for row in report["sales_reps"])


def test_real_exports_region_table_reconciles_with_the_files(real_data_dir, tmp_path):
    database, lines = real_retail_database(real_data_dir, tmp_path / "real.duckdb")
    filters = make_filters(database, period="all_time")
    table = team.team_table(database, filters, "region").set_index("region")
    assert sorted(table.index) == ["France", "Germany"]
    as_of = max(lines["day"])
    purchases = lines[~lines["is_cancellation"] & (lines["amount"] > 0)]
    for region in ("France", "Germany"):
        mine = lines[lines["region"] == region]
        bought = purchases[purchases["region"] == region]
        last_purchase = bought.groupby("customer_id")["day"].max()
        # Revenue net of cancellations, straight from the file's Quantity x UnitPrice.
        assert table.loc[region, "revenue"] == pytest.approx(mine["amount"].sum(), abs=0.01)
        # Everyone's first purchase falls in "all time": every buyer is new.
        assert table.loc[region, "customers"] == bought["customer_id"].nunique()
        assert table.loc[region, "new_customers"] == bought["customer_id"].nunique()
        # Active at the end: last purchase within the W = 90 days ending on the data's last day.
        assert table.loc[region, "active_customers"] == int(((as_of - last_purchase).map(lambda g: g.days) < 90).sum())
        assert table.loc[region, "nps_answers"] == 0 and pd.isna(table.loc[region, "nps"])
    assert table["revenue"].sum() > 300_000


def test_a_group_only_in_the_previous_period_shows_zero_now(tmp_path):
    # Eve's only customer E bought on 2023-10-01 (previous period 2023-07-01..12-31) and was lost on 11-15;
    # Ann's customer A buys in 2024. Eve's row: 0 customers, 0 revenue now; ratios undefined, not zero.
    database = tiny_database(tmp_path / "gone.duckdb",
                             transactions=[("E", d("2023-10-01"), 400), ("A", d("2024-02-01"), 100)],
                             customers=[("E", "School", "East", "Eve", None), ("A", "School", "North", "Ann", None)])
    table = team.team_table(database, PERIOD, "sales_rep").set_index("sales_rep")
    eve = table.loc["Eve"]
    assert (eve["customers"], eve["revenue"], eve["new_customers"], eve["lost"]) == (0, 0.0, 0, 0)
    assert (eve["previous_customers"], eve["previous_revenue"], eve["previous_lost"]) == (1, 400.0, 1)
    assert eve["change_revenue"] == -400.0
    assert pd.isna(eve["gross_margin"]) and pd.isna(eve["nps"])
    customers = team.rep_customers(database, PERIOD, "Ann")
    # A bought once on 2024-02-01: new, then lost on 03-17 (W = 45 days), before the period's end.
    assert customers[["customer_id", "status"]].values.tolist() == [["A", "lost"]]


@pytest.mark.parametrize("window_days", [45, 90])  # 45: counted from the purchase days; 90: from movement_events
def test_a_period_ending_after_the_data_keeps_an_unlapsed_customer_active(tmp_path, window_days):
    # X's only purchase, 2024-12-01, is also the data's last day. Through 2025-03-31 X would lapse on 2025-01-15
    # (W = 45) or 2025-03-01 (W = 90), but a loss after the data's last day has not happened yet: X is active at
    # the end, as spell_events and movement_events have it, on every path that counts movements.
    database = tiny_database(tmp_path / "late.duckdb", transactions=[("X", d("2024-12-01"), 100)],
                             customers=[("X", "School", "North", "Ann", None)])
    filters = Filters(start=d("2024-10-01"), end=d("2025-03-31"), window_days=window_days, period="custom",
                      as_of=d("2024-12-01"))
    figures = period_figures(database, filters)
    assert (figures["new_customers"], figures["lost_customers"], figures["active_customers"]) == (1, 0, 1)
    table = team.team_table(database, filters, "sales_rep").set_index("sales_rep")
    assert (table.loc["Ann", "active_customers"], table.loc["Ann", "lost"]) == (1, 0)
    assert team.rep_customers(database, filters, "Ann")[["customer_id", "status"]].values.tolist() == [["X", "new"]]
