"""Customer and revenue movements, cohorts, value churn and retention (customer_value/movements.py).

The hand-worked histories below are written out in full; every expected figure
was counted by hand from them (the reasoning is in the comments) and is a literal.
"""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from customer_value import movements as mv
from customer_value.cli import main
from customer_value.dataset import make_filters
from customer_value.filters import Filters
from tests.builders import d, tiny_database

# W = 30. Customers (ids in key order A < B < ... < G):
#   A  buys 2024-01-10 (100) and 2024-02-09 (150): exactly W days apart, no break; lost 2024-03-10.
#   B  buys 2024-01-10 (200) and 2024-02-10 (50): W + 1 days apart, lost 2024-02-09, back 2024-02-10,
#      lost 2024-03-11.
#   C  buys twice in one month, 2024-03-05 (30) and 2024-03-20 (40): one new customer; lost 2024-04-19.
#   D  contract ends 2024-04-01; buys 2024-03-15 (80) and 2024-04-10 (60, after the contract end: ignored
#      for activity); lost at the contract end 2024-04-01, before 03-15 + W = 04-14; not reactivated.
#   E  a cohort of one: buys 2024-05-20 (90) and 2024-06-10 (90); still active on 2024-06-30.
#   F  bought 2023-12-20 (100): active when the period opens, lost 2024-01-19.
#   G  buys 2024-01-05 (50), lost 2024-02-04, back 2024-03-01 (70), lost 2024-03-31.
HISTORY = [
    ("A", "2024-01-10", 100), ("A", "2024-02-09", 150),
    ("B", "2024-01-10", 200), ("B", "2024-02-10", 50),
    ("C", "2024-03-05", 30), ("C", "2024-03-20", 40),
    ("D", "2024-03-15", 80), ("D", "2024-04-10", 60),
    ("E", "2024-05-20", 90), ("E", "2024-06-10", 90),
    ("F", "2023-12-20", 100),
    ("G", "2024-01-05", 50), ("G", "2024-03-01", 70),
]
TYPES = {"A": "University", "B": "School", "C": "University", "D": "School", "E": "University", "F": "School",
         "G": "School"}
CHURN_DATES = {"D": d("2024-04-01")}


@pytest.fixture()
def history_db(tmp_path):
    database = tiny_database(
        tmp_path / "history.duckdb",
        transactions=[(customer, d(day), amount) for customer, day, amount in HISTORY],
        customers=[(customer, kind, "North", "Rep", CHURN_DATES.get(customer)) for customer, kind in TYPES.items()],
    )
    return database


def _filters(start="2024-01-01", end="2024-06-30", window=30, **extra) -> Filters:
    return Filters(start=d(start), end=d(end), window_days=window, period="custom", as_of=d(end), **extra)


def test_monthly_movements_by_hand(history_db):
    frame = mv.monthly_movements(history_db, _filters())
    assert [f"{month:%Y-%m}" for month in frame["month"]] == ["2024-01", "2024-02", "2024-03", "2024-04",
                                                              "2024-05", "2024-06"]
    # Jan: F active at the start; A, B, G new; F lost. Feb: B lost (02-09) and back (02-10), G lost.
    # Mar: C, D new, G back; A (exactly W: lost 03-10, not 02-09), B, G lost. Apr: D (contract end), C lost.
    # May: E new. Jun: nothing moves, E still active.
    assert frame["active_start"].tolist() == [1, 3, 2, 2, 0, 1]
    assert frame["new_customers"].tolist() == [3, 0, 2, 0, 1, 0]
    assert frame["reactivated"].tolist() == [0, 1, 1, 0, 0, 0]
    assert frame["lost"].tolist() == [1, 2, 3, 2, 0, 0]
    assert frame["lost_at_contract_end"].tolist() == [0, 0, 0, 1, 0, 0]
    assert frame["lost_by_lapse"].tolist() == [1, 2, 3, 1, 0, 0]
    assert frame["active_end"].tolist() == [3, 2, 2, 0, 1, 1]
    assert frame["identity_holds"].all()
    assert mv.identity_failures(frame) == []
    # Ratios: Jan churn 1/1, loss-to-gain 1/3, net growth (3-1)/1, quick 3/1; Feb loss-to-gain 2/0 undefined.
    jan, feb, mar = frame.iloc[0], frame.iloc[1], frame.iloc[2]
    assert jan["churn_rate"] == pytest.approx(1.0)
    assert jan["loss_to_gain_ratio"] == pytest.approx(1 / 3)
    assert jan["net_growth_rate"] == pytest.approx(2.0)
    assert jan["customer_quick_ratio"] == pytest.approx(3.0)
    assert np.isnan(feb["loss_to_gain_ratio"])
    assert feb["customer_quick_ratio"] == pytest.approx(0.5)
    # Trailing 3 months at March pools Jan-Mar: start 1+3+2 = 6, new 5, back 2, lost 6.
    assert mar["churn_rate_3m"] == pytest.approx(6 / 6)
    assert mar["loss_to_gain_ratio_3m"] == pytest.approx(6 / 5)
    assert mar["net_growth_rate_3m"] == pytest.approx(1 / 6)
    assert mar["customer_quick_ratio_3m"] == pytest.approx(7 / 6)
    # January's trailing figure reaches back into Nov and Dec 2023: start 0+0+1, new 1 (F), lost 1.
    assert jan["loss_to_gain_ratio_3m"] == pytest.approx(1 / 4)


def test_period_totals_by_hand(history_db):
    totals = mv.movement_totals(mv.monthly_movements(history_db, _filters()))
    # F active at the start; A, B, C, D, E, G new; B and G back once each; 8 losses; E active at the end.
    assert {key: totals[key] for key in ("active_start", "new_customers", "reactivated", "lost", "active_end")} == {
        "active_start": 1, "new_customers": 6, "reactivated": 2, "lost": 8, "active_end": 1}
    # Churn rate, monthly average pooled: 8 lost / (1 + 3 + 2 + 2 + 0 + 1) customers at the months' starts.
    assert totals["churn_rate"] == pytest.approx(8 / 9)
    assert totals["loss_to_gain_ratio"] == pytest.approx(8 / 6)
    assert totals["net_growth_rate"] == pytest.approx(0.0)
    assert totals["customer_quick_ratio"] == pytest.approx(1.0)
    revenue = mv.revenue_totals(mv.revenue_movements(history_db, _filters()))
    # New 350 + 150 + 90, expansion 50, reactivation 70; contraction 150 + 20, churned 100 + 50 + 200 + 140 + 60.
    assert revenue["revenue_quick_ratio"] == pytest.approx(710 / 720)
    by_type = mv.acquisition_totals(mv.acquisition(history_db, _filters(), "customer_type"), "group")
    assert by_type[["group", "new_customers", "first_order_value"]].values.tolist() == [
        ["School", 3, 330.0], ["University", 3, 220.0]]
    assert mv.movement_totals(mv.monthly_movements(history_db, _filters(end="2024-06-30")).iloc[0:0])[
        "churn_rate"] is None


def test_a_gap_of_exactly_w_is_no_break_and_w_plus_one_is(history_db):
    # With W = 31, B's 31-day gap no longer breaks either: no reactivation in February, one fewer loss.
    frame = mv.monthly_movements(history_db, _filters(window=31))
    assert frame["reactivated"].tolist()[:2] == [0, 0]
    assert frame["lost"].iloc[1] == 1  # only G (01-05 + 31 = 02-05)


def test_explicit_churn_rule_is_reported(history_db):
    rule = mv.churn_rule(history_db, _filters())
    assert rule["customers"] == 7
    assert rule["with_churn_date"] == 1
    assert rule["churn_dates_in_period"] == 1
    assert rule["bought_after_churn_date"] == 1
    assert (rule["lost"], rule["lost_at_contract_end"], rule["lost_by_lapse"]) == (8, 1, 7)
    assert "Both rules applied" in rule["description"] and "1 were lost at a contract end" in rule["description"]
    only_lapse = mv.churn_rule(history_db, _filters(customer_types=("University",)))
    assert only_lapse["with_churn_date"] == 0
    assert "only the lapse rule applied" in only_lapse["description"]


def test_cohort_retention_by_hand(history_db):
    cohorts = mv.cohort_retention(history_db, _filters())
    sizes = cohorts.groupby("cohort_month")["cohort_size"].first()
    assert {f"{month:%Y-%m}": size for month, size in sizes.items()} == {"2024-01": 3, "2024-03": 2, "2024-05": 1}
    share = mv.cohort_matrix(cohorts, "share_active")
    # January cohort A, B, G: all active on 01-31; A and B on 02-29; nobody on 03-31 (G lapses that day).
    assert share.loc["2024-01", [0, 1, 2, 3]].tolist() == pytest.approx([1.0, 2 / 3, 0.0, 0.0])
    # March cohort C, D: both on 03-31 (D's contract ends 04-01), none on 04-30.
    assert share.loc["2024-03", [0, 1]].tolist() == pytest.approx([1.0, 0.0])
    # The cohort of one (E) stays active both months.
    assert share.loc["2024-05", [0, 1]].tolist() == pytest.approx([1.0, 1.0])
    revenue = mv.cohort_matrix(cohorts, "revenue_retained")
    # January cohort revenue 350, then 200 (A 150 + B 50), then 70 (G); March cohort 150, then 60 (D).
    assert revenue.loc["2024-01", [0, 1, 2, 3]].tolist() == pytest.approx([1.0, 200 / 350, 70 / 350, 0.0])
    assert revenue.loc["2024-03", [0, 1]].tolist() == pytest.approx([1.0, 60 / 150])
    curve = mv.cohort_average_curve(cohorts).set_index("months_since")
    # Month 1 pools Jan (2 of 3), Mar (0 of 2), May (1 of 1); month 2 pools Jan and Mar only.
    assert curve.loc[1, "share_active"] == pytest.approx(3 / 6)
    assert curve.loc[2, "share_active"] == pytest.approx(0 / 5)
    assert curve.loc[1, "revenue_retained"] == pytest.approx((200 + 60 + 90) / (350 + 150 + 90))
    assert curve.loc[1, "cohorts"] == 3


def test_revenue_movements_by_hand(history_db):
    frame = mv.revenue_movements(history_db, _filters()).set_index(
        pd.Index(["Jan", "Feb", "Mar", "Apr", "May", "Jun"]))
    # Jan: last month F 100; A 100 + B 200 + G 50 new; F churned.
    # Feb: A +50 expansion, B -150 contraction, G 50 churned.
    # Mar: C 70 + D 80 new, G 70 reactivation, A 150 + B 50 churned.
    # Apr: D 80 -> 60 contraction 20, C 70 and G 70 churned. May: E 90 new, D 60 churned. Jun: E 90 -> 90.
    assert frame["revenue_start"].tolist() == pytest.approx([100, 350, 200, 220, 60, 90])
    assert frame["new_revenue"].tolist() == pytest.approx([350, 0, 150, 0, 90, 0])
    assert frame["expansion_revenue"].tolist() == pytest.approx([0, 50, 0, 0, 0, 0])
    assert frame["reactivation_revenue"].tolist() == pytest.approx([0, 0, 70, 0, 0, 0])
    assert frame["contraction_revenue"].tolist() == pytest.approx([0, 150, 0, 20, 0, 0])
    assert frame["churned_revenue"].tolist() == pytest.approx([100, 50, 200, 140, 60, 0])
    assert frame["revenue_end"].tolist() == pytest.approx([350, 200, 220, 60, 90, 90])
    assert (frame["revenue_start"] + frame["net_change"] - frame["revenue_end"]).abs().max() < 1e-9
    # Quick ratio: Jan 350/100, Feb 50/200, Mar 220/200, Apr 0/160, May 90/60, Jun 0/0 not defined.
    assert frame["revenue_quick_ratio"].iloc[:5].tolist() == pytest.approx([3.5, 0.25, 1.1, 0.0, 1.5])
    assert np.isnan(frame["revenue_quick_ratio"].iloc[5])
    by_type = mv.revenue_movements_by_segment(history_db, _filters(), "customer_type").set_index("segment")
    # Universities A, C, E: new 100 + 70 + 90, expansion 50, churned 150 (A in Mar) + 70 (C in Apr).
    assert by_type.loc["University", "new_revenue"] == pytest.approx(260)
    assert by_type.loc["University", "churned_revenue"] == pytest.approx(220)
    assert by_type.loc["University", "revenue_quick_ratio"] == pytest.approx(310 / 220)


def test_acquisition_by_hand(history_db):
    frame = mv.acquisition(history_db, _filters(), "customer_type")
    rows = {(f"{row.month:%Y-%m}", row.group): (row.new_customers, row.first_order_value)
            for row in frame.itertuples()}
    # C's first order is 03-05 (30), not the month's 70; A, B, G make January's cohort.
    assert rows == {("2024-01", "School"): (2, 250.0), ("2024-01", "University"): (1, 100.0),
                    ("2024-03", "School"): (1, 80.0), ("2024-03", "University"): (1, 30.0),
                    ("2024-05", "University"): (1, 90.0)}
    channels = mv.acquisition(history_db, _filters(), "acquisition_channel")
    assert set(channels["group"]) == {"(unknown)"} and channels["new_customers"].sum() == 6
    with pytest.raises(ValueError):
        mv.acquisition(history_db, _filters(), "colour")


def test_value_churn_by_hand(tmp_path):
    # W = 60. H: 1000 on 2023-11-15, 10 on 2024-02-10 (lost 01-14, back 02-10). J: 300 on the 5th of each month
    # Dec-Mar. L: 2000 on 2023-12-01 only (lost 2024-01-30).
    # Trailing 3-month revenue and class (A = top customers making 80%):
    #   Dec: L 2000 A, H 1000 A (2000 above < 2640), J 300 B.   Jan: L A, H A, J B (3000 above >= 2880).
    #   Feb: L 2000 A, J 900 A (2000 < 2328), H 10 B -> H slid and is active (02-10 + 60).
    #   Mar: J 900 A, H 10 B; L has no revenue (low) but is no longer active: not a slide.
    database = tiny_database(tmp_path / "value.duckdb", transactions=[
        ("H", d("2023-11-15"), 1000), ("H", d("2024-02-10"), 10),
        ("J", d("2023-12-05"), 300), ("J", d("2024-01-05"), 300), ("J", d("2024-02-05"), 300),
        ("J", d("2024-03-05"), 300), ("L", d("2023-12-01"), 2000)])
    filters = _filters(start="2024-01-01", end="2024-03-31", window=60)
    frame = mv.value_churn(database, filters)
    assert frame["high_value_before"].tolist() == [2, 2, 2]
    assert frame["slid"].tolist() == [0, 1, 0]
    assert frame["revenue_at_stake"].tolist() == pytest.approx([0, 1000, 0])
    assert frame["revenue_now"].tolist() == pytest.approx([0, 10, 0])
    assert frame["slid_share"].tolist() == pytest.approx([0, 0.5, 0])
    # No cost data: the cells are the volume classes, and H fell to the lowest one.
    assert frame["to_lowest"].tolist() == [0, 1, 0]
    customers = mv.value_churn_customers(database, filters, date(2024, 2, 1))
    assert customers["customer_id"].tolist() == ["H"]
    assert customers["revenue_drop"].tolist() == pytest.approx([990])


def test_value_churn_uses_the_value_margin_grid_by_hand(tmp_path):
    # Each line is its own order: (customer, day, revenue, gross profit). W = 90, February 2024 only.
    # January's trailing window (Nov-Jan): K 1000 (profit/order 400), M 500 (200), N 300 (30), P 200 (150).
    #   Volume: total 2000, 80% = 1600; K (0 above), M (1000 above), N (1500 above) are A, P (1800 above) B.
    #   Margin: median of 30, 150, 200, 400 = 175; K and M above. Cells: K AA, M AA, N AB, P BB.
    # February's window (Dec-Feb): K 1000 (25), M 50 (20), N 300 (30), P 200 (150).
    #   Volume: total 1550, 80% = 1240; K (0 above), N (1000 above) A; P (1300 above), M B.
    #   Margin: median of 20, 25, 30, 150 = 27.5; N and P above. Cells: K AB, M BB, N AA, P BA.
    # Slides (lower rank, AA 3 > AB = BA 2 > BB 1): K AA -> AB and M AA -> BB, both active on 02-29;
    # N and P moved up. By volume alone only M would have slid.
    database = tiny_database(tmp_path / "grid.duckdb", transactions=[
        ("K", d("2023-11-10"), 1000, 400), ("K", d("2024-02-10"), 1000, 25),
        ("M", d("2023-11-20"), 500, 200), ("M", d("2024-02-20"), 50, 20),
        ("N", d("2024-01-15"), 300, 30), ("P", d("2024-01-20"), 200, 150)])
    filters = _filters(start="2024-02-01", end="2024-02-29", window=90)
    row = mv.value_churn(database, filters).iloc[0]
    assert (row["high_value_before"], row["slid"], row["to_lowest"]) == (3, 2, 1)
    assert row["slid_share"] == pytest.approx(2 / 3)
    assert row["revenue_at_stake"] == pytest.approx(1500)
    assert row["revenue_now"] == pytest.approx(1050)
    customers = mv.value_churn_customers(database, filters, date(2024, 2, 1))
    assert customers[["customer_id", "cell_before", "cell_now"]].values.tolist() == [
        ["K", "AA", "AB"], ["M", "AA", "BB"]]
    assert customers["revenue_drop"].tolist() == pytest.approx([0, 450])


def test_grid_of_window_without_cost_data_is_the_volume_classes():
    revenue = np.array([0.0, 700.0, 200.0, 100.0])
    volume_a, known, margin_a = mv.grid_of_window(revenue, np.zeros(4), np.zeros(4), np.array([0, 1, 1, 1.0]))
    # Total 1000, 80% = 800: customer 1 (0 above) and 2 (700 above) are A; 3 (900 above) and 0 (no revenue) B.
    assert volume_a.tolist() == [False, True, True, False] and not known.any() and not margin_a.any()
    assert mv.cell_labels(volume_a, known, margin_a, any_margin=False).tolist() == ["B", "A", "A", "B"]
    assert mv.cell_rank(volume_a, margin_a).tolist() == [1, 2, 2, 1]


@pytest.fixture(params=["stored at load", "computed per request"])
def retention_path(request, monkeypatch):
    """Both ways revenue retention is read: the table built at load time, and the per-request computation a
    narrower scope takes (forced here for every customer, so both must give the hand-worked figures)."""
    if request.param == "computed per request":
        monkeypatch.setattr(mv, "all_customers_in_scope", lambda filters, scope: False)
    return request.param


def test_revenue_retention_by_hand(tmp_path, retention_path):
    # Base year 2023, current year 2024, for December 2024. P 100 -> 150, Q 200 -> 50, R 50 -> 0; S is new in
    # 2024 (not in the base). NRR = 200 / 350; GRR = (100 + 50 + 0) / 350.
    # Value class on base revenue (80% of 350 = 280): Q A, P A (200 above), R B (300 above).
    database = tiny_database(tmp_path / "retention.duckdb", transactions=[
        ("P", d("2023-03-10"), 100), ("P", d("2024-06-10"), 150),
        ("Q", d("2023-05-10"), 200), ("Q", d("2024-02-10"), 50),
        ("R", d("2023-12-10"), 50), ("S", d("2024-07-10"), 500)])
    filters = _filters(start="2024-12-01", end="2024-12-31", window=90)
    frame = mv.revenue_retention(database, filters)
    row = frame.iloc[0]
    assert (row["base_customers"], row["retained_customers"]) == (3, 2)
    assert row["nrr"] == pytest.approx(200 / 350)
    assert row["grr"] == pytest.approx(150 / 350)
    by_class = mv.revenue_retention(database, filters, level="value_class").set_index("segment")
    assert by_class.loc["A", "nrr"] == pytest.approx(200 / 300)
    assert by_class.loc["A", "grr"] == pytest.approx(150 / 300)
    assert by_class.loc["B", "nrr"] == pytest.approx(0.0)
    # A year with no base revenue: not defined, never a division by zero.
    empty = mv.revenue_retention(database, _filters(start="2023-01-01", end="2023-01-31"))
    assert np.isnan(empty["nrr"].iloc[0]) and empty["base_customers"].iloc[0] == 0


def test_revenue_retention_slides_month_by_month_by_hand(tmp_path, retention_path):
    # The windows slide: P's 30 of November 2022 is in October 2024's base year (Nov 2022 - Oct 2023) and
    # leaves it in November; R's 50 of December 2023 enters the base in December.
    # Oct: base P 130 + Q 200 = 330, current P 150 + Q 50 = 200, capped P 130 + Q 50 = 180.
    # Nov: base P 100 + Q 200 = 300, current 200, capped 150. Dec: base 350 (R added), current 200, capped 150.
    database = tiny_database(tmp_path / "sliding.duckdb", transactions=[
        ("P", d("2022-11-10"), 30), ("P", d("2023-03-10"), 100), ("P", d("2024-06-10"), 150),
        ("Q", d("2023-05-10"), 200), ("Q", d("2024-02-10"), 50),
        ("R", d("2023-12-10"), 50), ("S", d("2024-07-10"), 500)])
    frame = mv.revenue_retention(database, _filters(start="2024-10-01", end="2024-12-31", window=90))
    assert [f"{month:%Y-%m}" for month in frame["month"]] == ["2024-10", "2024-11", "2024-12"]
    assert frame["base_customers"].tolist() == [2, 2, 3]
    assert frame["base_revenue"].tolist() == pytest.approx([330, 300, 350])
    assert frame["current_revenue"].tolist() == pytest.approx([200, 200, 200])
    assert frame["retained_revenue"].tolist() == pytest.approx([180, 150, 150])
    assert frame["nrr"].tolist() == pytest.approx([200 / 330, 200 / 300, 200 / 350])


@pytest.mark.parametrize(("cents", "expected"), [
    # Total 1000, 80% = 800. Equal revenues: ranked by key, the fifth has 800 above it and is B.
    ([200, 200, 200, 200, 200], [True, True, True, True, False]),
    # 400 (key 1) has 0 above, 400 (key 2) 400, 150 has 800 above: B, as is 50.
    ([50, 400, 400, 150], [False, True, True, False]),
    # 900 has nothing above it (A, and crosses 80%); 100 has 900 above it: B.
    ([100, 900], [False, True]),
    # 700 has nothing above, 200 has 700 (under 800: A), 100 has 900: B.
    ([200, 100, 700], [True, False, True]),
    ([500], [True]),
])
def test_value_class_a_is_the_top_revenue_until_80_percent_by_hand(cents, expected):
    assert mv._top_revenue_share(np.array(cents, dtype=float)).tolist() == expected


def test_ratio_functions_by_hand():
    assert mv.revenue_quick_ratio(100, 50, 10, 40, 40) == pytest.approx(2.0)
    assert mv.revenue_quick_ratio(100, 0, 0, 0, 0) is None
    assert mv.net_revenue_retention(104, 100) == pytest.approx(1.04)
    assert mv.gross_revenue_retention(90, 0) is None


def _reading_frames(new, back, lost, nrr=None, grr=None):
    movements = pd.DataFrame({"month": pd.date_range("2025-07-01", periods=len(new), freq="MS"),
                              "new_customers": new, "reactivated": back, "lost": lost})
    retention = pd.DataFrame({"month": [pd.Timestamp("2025-12-01")], "nrr": [np.nan if nrr is None else nrr],
                              "grr": [np.nan if grr is None else grr]})
    return movements, retention


def test_executive_reading_is_built_from_the_figures():
    movements, retention = _reading_frames([5, 10, 10, 10], [0, 0, 1, 0], [3, 10, 10, 10], nrr=1.04, grr=0.9)
    assert mv.executive_reading(movements, retention) == (
        "For every customer lost in the last 3 months you won or won back 1.03 (31 won, 30 lost); revenue from "
        "existing customers grew 4% over the 12 months to Dec 2025 (NRR 104%, GRR 90%).")
    movements, retention = _reading_frames([4], [1], [0], nrr=0.93, grr=0.8)
    assert mv.executive_reading(movements, retention).startswith(
        "No customer was lost in the last month and you won or won back 5; revenue from existing customers "
        "shrank 7%")
    # Rounding: NRR 1.005 (100.4999... in floating point) prints as 100% and reads "held level"; 1.025
    # (102.4999...) as 102%, "grew 2%"; 97.6% as 98%, "shrank 2%"; a base that bought nothing: NRR 0%, "shrank 100%".
    for nrr, words in ((1.005, "held level over the 12 months to Dec 2025 (NRR 100%, GRR 90%)"),
                       (1.025, "grew 2% over the 12 months to Dec 2025 (NRR 102%, GRR 90%)"),
                       (0.976, "shrank 2% over the 12 months to Dec 2025 (NRR 98%, GRR 90%)"),
                       (0.0, "shrank 100% over the 12 months to Dec 2025 (NRR 0%, GRR 90%)")):
        movements, retention = _reading_frames([2], [0], [4], nrr=nrr, grr=0.9)
        assert mv.executive_reading(movements, retention) == (
            "For every customer lost in the last month you won or won back 0.50 (2 won, 4 lost); revenue from "
            f"existing customers {words}.")
    # No GRR (never happens with an NRR, but the sentence must not print "nan").
    movements, retention = _reading_frames([3], [0], [3], nrr=1.1)
    assert mv.executive_reading(movements, retention).endswith("grew 10% over the 12 months to Dec 2025 (NRR 110%).")
    movements, retention = _reading_frames([0, 0], [0, 0], [0, 0])
    assert mv.executive_reading(movements, retention) == (
        "No customer was won or lost in the last 2 months; there is no revenue from a year earlier to compare, "
        "so net revenue retention is not defined for this period.")


# ---------------------------------------------------------------- demo data


def _direct_active_count(purchases: pd.DataFrame, day: pd.Timestamp, window: int) -> int:
    """Customers whose latest purchase on or before ``day`` is less than W days old, contract not ended."""
    upto = purchases[purchases["day"] <= day]
    latest = upto.groupby("customer_key").agg(last=("day", "max"), churn=("churn_date", "first"))
    active = (latest["last"] > day - pd.Timedelta(days=window)) & (latest["churn"].isna() | (latest["churn"] > day))
    return int(active.sum())


@pytest.mark.parametrize("filter_args", [
    {},
    {"window_days": 30},
    {"window_days": 180, "customer_types": ("University",)},
    {"period": "all_time", "window_days": 60},
    {"start": date(2023, 3, 15), "end": date(2024, 2, 10), "regions": ("East China", "North China")},
])
def test_identity_and_direct_count_on_demo_data(demo_db, filter_args):
    filters = make_filters(demo_db, **filter_args)
    frame = mv.monthly_movements(demo_db, filters)
    assert len(frame) >= 11
    assert frame["identity_holds"].all() and mv.identity_failures(frame) == []
    assert (frame["active_start"].iloc[1:].to_numpy() == frame["active_end"].iloc[:-1].to_numpy()).all()
    assert frame["lost"].sum() > 0 and frame["new_customers"].sum() > 0
    # active_end against a direct count of active customers on three month ends, from the raw purchase days.
    purchases = demo_db.cursor().execute(
        "select customer_days.customer_key, customer_days.day, customer_days.churn_date from customer_days "
        "join customer_dim using (customer_key) where is_purchase "
        "and (customer_days.churn_date is null or day < customer_days.churn_date) "
        "and (len($types) = 0 or list_contains($types, customer_type)) "
        "and (len($regions) = 0 or list_contains($regions, region))",
        {"types": list(filters.customer_types), "regions": list(filters.regions)}).df()
    purchases["day"] = pd.to_datetime(purchases["day"])
    purchases["churn_date"] = pd.to_datetime(purchases["churn_date"])
    for position in (0, len(frame) // 2, len(frame) - 1):
        month = frame["month"].iloc[position]
        month_end = min(month + pd.offsets.MonthEnd(0), pd.Timestamp(filters.end))
        assert frame["active_end"].iloc[position] == _direct_active_count(purchases, month_end, filters.window_days)
    first_day = frame["month"].iloc[0] - pd.Timedelta(days=1)
    assert frame["active_start"].iloc[0] == _direct_active_count(purchases, first_day, filters.window_days)


def test_demo_revenue_movements_reconcile(demo_db):
    filters = make_filters(demo_db)
    revenue = mv.revenue_movements(demo_db, filters)
    assert (revenue["revenue_start"] + revenue["net_change"] - revenue["revenue_end"]).abs().max() < 0.01
    assert (revenue["revenue_start"].iloc[1:].to_numpy() == pytest.approx(revenue["revenue_end"].iloc[:-1]))
    assert revenue["revenue_end"].sum() > 100_000_000
    retention = mv.revenue_retention(demo_db, filters)
    assert retention["nrr"].between(0.5, 1.5).all() and (retention["grr"] <= 1).all()
    for level in ("customer_type", "region", "value_class"):
        by_segment = mv.revenue_retention(demo_db, filters, level=level)
        summed = by_segment.groupby("month")[["base_revenue", "current_revenue"]].sum()
        assert summed["base_revenue"].to_numpy() == pytest.approx(retention["base_revenue"].to_numpy())
        assert summed["current_revenue"].to_numpy() == pytest.approx(retention["current_revenue"].to_numpy())


def test_w_changes_every_figure_consistently(demo_db):
    short = mv.monthly_movements(demo_db, make_filters(demo_db, window_days=30))
    long = mv.monthly_movements(demo_db, make_filters(demo_db, window_days=180))
    # A longer window keeps more customers active and loses fewer of them.
    assert (long["active_end"] > short["active_end"]).all()
    assert long["lost"].sum() < short["lost"].sum()
    assert short["identity_holds"].all() and long["identity_holds"].all()


# ---------------------------------------------------------------- real exports


def _real_transactions(path) -> pd.DataFrame:
    raw = pd.read_csv(path, encoding="utf-8-sig", dtype={"InvoiceNo": str, "CustomerID": str})
    raw = raw.dropna(subset=["CustomerID"])
    raw["customer_id"] = raw["CustomerID"].str.replace(r"\.0$", "", regex=True)
    raw["day"] = pd.to_datetime(raw["InvoiceDate"], format="%m/%d/%Y %H:%M").dt.normalize()
    raw["amount"] = (raw["Quantity"] * raw["UnitPrice"]).round(2)
    raw["cancelled"] = raw["InvoiceNo"].str.startswith("C")
    return raw[["customer_id", "day", "amount", "cancelled"]]


def _independent_movements(lines: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, window: int) -> pd.DataFrame:
    """The activity rule written again in pandas, spell by spell (no churn dates in these exports)."""
    purchases = lines[(~lines["cancelled"]) & (lines["amount"] > 0)][["customer_id", "day"]].drop_duplicates()
    events = []
    for _, days in purchases.sort_values("day").groupby("customer_id")["day"]:
        previous = None
        for day in days:
            if previous is None:
                events.append((day, "new"))
            elif (day - previous).days > window:
                events.append((previous + pd.Timedelta(days=window), "lost"))
                events.append((day, "reactivated"))
            previous = day
        lapse = previous + pd.Timedelta(days=window)
        if lapse <= end:
            events.append((lapse, "lost"))
    frame = pd.DataFrame(events, columns=["day", "event"])
    before = frame[frame["day"] < start]
    opening = int((before["event"] != "lost").sum() - (before["event"] == "lost").sum())
    inside = frame[(frame["day"] >= start) & (frame["day"] <= end)].copy()
    inside["month"] = inside["day"].dt.to_period("M").dt.to_timestamp()
    counts = inside.pivot_table(index="month", columns="event", values="day", aggfunc="count", fill_value=0)
    months = pd.date_range(start, end, freq="MS")
    counts = counts.reindex(months, fill_value=0).reindex(columns=["new", "reactivated", "lost"], fill_value=0)
    counts["active_end"] = opening + (counts["new"] + counts["reactivated"] - counts["lost"]).cumsum()
    return counts


def _independent_revenue(lines: pd.DataFrame, months: pd.DatetimeIndex) -> pd.DataFrame:
    monthly = lines.assign(month=lines["day"].dt.to_period("M").dt.to_timestamp()).groupby(
        ["customer_id", "month"])["amount"].sum().clip(lower=0).unstack(fill_value=0.0)
    first = lines[(~lines["cancelled"]) & (lines["amount"] > 0)].groupby("customer_id")["day"].min()
    first_month = first.dt.to_period("M").dt.to_timestamp()
    all_months = pd.date_range(monthly.columns.min() - pd.offsets.MonthBegin(1), monthly.columns.max(), freq="MS")
    monthly = monthly.reindex(columns=all_months, fill_value=0.0)
    rows = []
    for month in months:
        current, previous = monthly[month], monthly[month - pd.offsets.MonthBegin(1)]
        is_first = first_month.reindex(monthly.index) == month
        gained = (current > 0) & (previous == 0)
        rows.append({
            "new_revenue": current[gained & is_first].sum(),
            "reactivation_revenue": current[gained & ~is_first].sum(),
            "expansion_revenue": (current - previous)[(previous > 0) & (current > previous)].sum(),
            "contraction_revenue": (previous - current)[(current > 0) & (current < previous)].sum(),
            "churned_revenue": previous[(previous > 0) & (current == 0)].sum(),
        })
    return pd.DataFrame(rows, index=months)


@pytest.mark.parametrize("file_name", ["france.csv", "germany.csv"])
def test_real_exports_agree_with_an_independent_pandas_computation(real_data_dir, tmp_path, file_name):
    lines = _real_transactions(real_data_dir / file_name)
    # One row per customer, day, cancellation flag and sign keeps each day's revenue and purchase flag.
    grouped = lines.assign(positive=lines["amount"] > 0).groupby(
        ["customer_id", "day", "cancelled", "positive"], as_index=False)["amount"].sum()
    database = tiny_database(tmp_path / "real.duckdb", transactions=[
        (row.customer_id, row.day.date(), round(float(row.amount), 2), None, bool(row.cancelled))
        for row in grouped.itertuples()])
    start, end = lines["day"].min(), lines["day"].max()
    month_starts = pd.date_range(start.to_period("M").to_timestamp(), end, freq="MS")
    for window in (30, 90):
        filters = Filters(start=start.date(), end=end.date(), window_days=window, period="custom",
                          as_of=end.date())
        ours = mv.monthly_movements(database, filters).set_index("month")
        expected = _independent_movements(lines, month_starts[0], end, window)
        assert ours.index.tolist() == expected.index.tolist()
        assert ours["new_customers"].tolist() == expected["new"].tolist()
        assert ours["reactivated"].tolist() == expected["reactivated"].tolist()
        assert ours["lost"].tolist() == expected["lost"].tolist()
        assert ours["active_end"].tolist() == expected["active_end"].tolist()
        assert ours["identity_holds"].all()
        buyers = lines.loc[(lines["amount"] > 0) & ~lines["cancelled"], "customer_id"].nunique()
        assert ours["new_customers"].sum() == buyers
    revenue = mv.revenue_movements(database, filters).set_index("month")
    expected_revenue = _independent_revenue(lines, month_starts)
    for column in mv.REVENUE_MOVEMENTS:
        assert revenue[column].to_numpy() == pytest.approx(expected_revenue[column].to_numpy(), abs=0.05), column


# ---------------------------------------------------------------- command line


def test_cli_prints_the_package_figures(demo_db_path, demo_db, capsys):
    assert main(["movements", "--db", str(demo_db_path), "--json", "--window-days", "60"]) == 0
    printed = json.loads(capsys.readouterr().out)
    filters = make_filters(demo_db, window_days=60)
    expected = mv.monthly_movements(demo_db, filters)
    assert [row["lost"] for row in printed["customer_movements"]] == expected["lost"].tolist()
    assert [row["active_end"] for row in printed["customer_movements"]] == expected["active_end"].tolist()
    assert printed["identity_failures"] == []
    assert printed["reading"] == mv.executive_reading(expected, mv.revenue_retention(demo_db, filters))
    revenue = mv.revenue_movements(demo_db, filters)
    assert [row["churned_revenue"] for row in printed["revenue_movements"]] == pytest.approx(
        revenue["churned_revenue"].tolist())
    assert printed["filters"]["window_days"] == 60
    assert printed["early_history_caveat"] is None  # the last 12 months lie years after the data's start
    assert main(["movements", "--db", str(demo_db_path)]) == 0
    text = capsys.readouterr().out
    assert "For every customer lost" in text and f"{expected['month'].iloc[-1]:%Y-%m}" in text
    assert "The data starts on" not in text
    assert main(["movements", "--db", str(demo_db_path), "--period", "all_time"]) == 0
    data_start = make_filters(demo_db, period="all_time").start
    assert f"The data starts on {data_start:%Y-%m-%d}: a customer who bought in its first 90 days" in \
        capsys.readouterr().out


def test_cli_bad_input_gets_one_line(demo_db_path, capsys):
    assert main(["movements", "--db", str(demo_db_path), "--region", "Atlantis"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: unknown region Atlantis") and "Traceback" not in error
    assert main(["movements", "--db", str(demo_db_path.parent / "missing.duckdb")]) == 2



def test_a_period_reaching_into_the_datas_first_w_days_is_flagged():
    data_start = date(2021, 1, 8)
    # 2021-03-01 is 52 days after 8 January: inside W = 90, so early "new" customers may be old ones.
    early = Filters(start=date(2021, 3, 1), end=date(2021, 12, 31), window_days=90)
    caveat = mv.early_history_caveat(data_start, early)
    assert caveat is not None and caveat.startswith("The data starts on 2021-01-08: a customer who bought in its "
                                                    "first 90 days")
    # 2021-04-08 is exactly 90 days in: a full window of history lies before the period.
    assert mv.early_history_caveat(data_start, Filters(start=date(2021, 4, 8), end=date(2021, 12, 31),
                                                       window_days=90)) is None
    # The same day with W = 30 is far enough; without data there is nothing to say.
    assert mv.early_history_caveat(date(2021, 3, 1), Filters(start=date(2021, 3, 31), end=date(2021, 12, 31),
                                                            window_days=30)) is None
    assert mv.early_history_caveat(None, early) is None


def test_slides_are_kept_only_where_the_customer_is_active_that_month():
    from customer_value.movements import _pairs_present

    month = pd.Timestamp
    slides = pd.DataFrame({"customer_key": [3, 3, 7, 0],
                           "month": [month("2024-01-01"), month("2024-03-01"), month("2024-03-01"),
                                     month("2024-02-01")]})
    # Customer 3 active in January and February, 7 in March, 0 never.
    active = pd.DataFrame({"customer_key": [3, 3, 7, 9],
                           "month": [month("2024-01-01"), month("2024-02-01"), month("2024-03-01"),
                                     month("2024-04-01")]})
    assert _pairs_present(slides, active).tolist() == [True, False, True, False]
    assert _pairs_present(slides, active.iloc[:0]).tolist() == [False] * 4
    assert _pairs_present(slides.iloc[:0], active).tolist() == []
