"""Segment grids, RFM, clusters, lifecycle and migration (customer_value/segments.py, rfm.py, clusters.py).

Hand-worked examples with the expected values written out, the command line,
and a check of RFM values against the conventional definition on real exports.
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from customer_value import cli, rfm, segments
from customer_value.clusters import cluster_customers, describe_centre
from customer_value.dataset import make_filters
from customer_value.errors import UserFacingError
from customer_value.filters import Scope
from customer_value.rfm import SegmentRule
from tests.builders import d, tiny_database


def _frame(revenues: dict[str, float], profits: dict[str, float] | None = None,
           orders: dict[str, int] | None = None) -> pd.DataFrame:
    ids = list(revenues)
    return pd.DataFrame({
        "customer_id": ids,
        "revenue": [revenues[i] for i in ids],
        "profit": [(profits or {}).get(i, np.nan) for i in ids],
        "lines_with_profit": [1 if profits and i in profits else 0 for i in ids],
        "orders": [(orders or {}).get(i, 1) for i in ids],
    })


# ---------------------------------------------------------------- Pareto volume classes


def test_the_customer_who_crosses_80_percent_is_a_and_one_starting_at_80_is_b():
    # Total 100; above C1 = 0, above C2 = 60 (< 80: A), above C3 = 80 (not below 80: B).
    # C2 and C3 tie on 20: the lower id ranks first, so the result never depends on row order.
    frame = _frame({"C3": 20, "C1": 60, "C2": 20})
    assert segments.volume_classes(frame).tolist() == ["B", "A", "A"]
    # Crossing: 50 + 25 = 75 < 80, so the third customer (25) who takes the sum to 100 is A.
    crossing = _frame({"C1": 50, "C2": 25, "C3": 25, "C4": 0})
    assert segments.volume_classes(crossing).tolist() == ["A", "A", "A", "B"]


def test_cents_decide_the_boundary_not_floating_point():
    # 0.7 + 0.1 = 0.7999999999999999 in floats; in cents 70 + 10 = 80 = exactly 80% of 100, so C3 is B.
    frame = _frame({"C1": 0.7, "C2": 0.1, "C3": 0.1, "C4": 0.1})
    assert segments.volume_classes(frame).tolist() == ["A", "A", "B", "B"]


def test_negative_and_zero_revenue_customers_are_volume_b():
    # Total 120, 80% = 96: above C2 is 100 (B); a customer with net returns is never A.
    frame = _frame({"C1": 100, "C2": 50, "C3": -30})
    assert segments.volume_classes(frame).tolist() == ["A", "B", "B"]
    assert segments.volume_classes(_frame({"C1": 0, "C2": 0})).tolist() == ["B", "B"]
    assert segments.volume_classes(_frame({"C1": 10, "C2": -40})).tolist() == ["B", "B"]


# ---------------------------------------------------------------- margin classes and fallback


def test_margin_class_by_profit_per_order_against_the_median_or_a_set_threshold():
    # Profit per order: C1 400/2 = 200, C2 -60, C3 0/2 = 0, C4 50; median (0 + 50) / 2 = 25.
    frame = _frame({"C1": 1000, "C2": 300, "C3": 300, "C4": 100},
                   profits={"C1": 400, "C2": -60, "C3": 0, "C4": 50}, orders={"C1": 2, "C3": 2})
    cells, info = segments.value_grid_cells(frame)
    # Volume: 80% of 1700 = 1360; above C4 = 1600, so C4 is B.
    assert cells.tolist() == ["AA", "AB", "AB", "BA"]
    assert info.margin_threshold == 25.0 and info.threshold_is_median and info.fallback_reason is None
    cells, info = segments.value_grid_cells(frame, margin_threshold=50)
    # 50 is not above 50: C4 falls to BB. Zero and negative profit are margin B.
    assert cells.tolist() == ["AA", "AB", "AB", "BB"]
    assert not info.threshold_is_median


def test_without_cost_data_the_grid_falls_back_to_volume_classes_and_says_why():
    cells, info = segments.value_grid_cells(_frame({"C1": 90, "C2": 10}))
    assert cells.tolist() == ["A", "B"]
    assert not info.has_profit and info.margin_threshold is None
    assert "cost" in info.fallback_reason
    # Some customers with cost data: the others are "margin unknown", not silently B.
    mixed = _frame({"C1": 90, "C2": 10, "C3": 5}, profits={"C1": 9, "C3": 1})
    cells, info = segments.value_grid_cells(mixed)
    # Median of 9 and 1 is 5: C1 (9) is margin A, C3 (1) margin B.
    assert cells.tolist() == ["AA", "B (margin unknown)", "BB"]
    assert info.customers_without_cost == 1


# ---------------------------------------------------------------- Pareto curve and pyramid


def test_top_20_percent_share_is_read_off_the_curve():
    # 7 customers: the top 20% is 1.4 customers = 70 + 0.4 * 10 = 74 of 100.
    frame = _frame({"C1": 70, "C2": 10, "C3": 5, "C4": 5, "C5": 4, "C6": 3, "C7": 3})
    assert segments.revenue_share_of_top(frame, 0.2) == pytest.approx(0.74)
    assert segments.revenue_share_of_top(_frame({"C1": 0}), 0.2) is None
    curve = segments.pareto_curve(frame)
    assert curve["revenue_share"].round(6).tolist() == [0, 0.7, 0.8, 0.85, 0.9, 0.94, 0.97, 1.0]
    # Drawn with fewer points, the curve keeps its shape: at 1/3 of customers, 7/3 customers = 0.8 + 1/3 * 0.05.
    drawn = segments.pareto_curve(frame, points=4)
    assert drawn["revenue_share"].tolist() == pytest.approx([0, 0.8 + 0.05 / 3, 0.9 + 0.04 * 2 / 3, 1.0])


def test_pyramid_tiers_hold_1_4_15_and_80_percent():
    frame = _frame({f"C{i:03d}": 1000 - i for i in range(100)})
    tiers = segments.pyramid_tiers(frame)
    assert tiers.value_counts().to_dict() == {"Top 1%": 1, "Next 4%": 4, "Next 15%": 15, "Remaining 80%": 80}
    assert tiers.iloc[0] == "Top 1%" and tiers.iloc[5] == "Next 15%"
    # With 7 customers: ceil(0.07) = 1, ceil(0.35) = 1 (next 4% empty), ceil(1.4) = 2.
    small = segments.pyramid_tiers(_frame({"C1": 70, "C2": 10, "C3": 5, "C4": 5, "C5": 4, "C6": 3, "C7": 3}))
    assert small.tolist() == ["Top 1%", "Next 15%"] + ["Remaining 80%"] * 5
    # By rank alone (0-based), for 100 customers: the lines fall at 1, 5 and 20.
    assert segments.pyramid_tiers_of_ranks(np.array([0, 1, 4, 5, 19, 20, 99]), 100).tolist() == [
        "Top 1%", "Next 4%", "Next 4%", "Next 15%", "Next 15%", "Remaining 80%", "Remaining 80%"]


# ---------------------------------------------------------------- RFM scores and segments


def test_quintile_scores_give_ties_one_score_whatever_the_row_order():
    values = pd.Series([1, 1, 1, 2, 3, 3, 4, 5, 5, 5])
    # First ranks 1, 4, 5, 7, 8 of 10 -> 1 + floor(5 (r - 1) / 10) = 1, 2, 3, 4, 4.
    assert rfm.quintile_scores(values).tolist() == [1, 1, 1, 2, 3, 3, 4, 4, 4, 4]
    shuffled = values.sample(frac=1, random_state=3)
    assert rfm.quintile_scores(shuffled).sort_index().tolist() == [1, 1, 1, 2, 3, 3, 4, 4, 4, 4]
    # Recency in days: fewer days score higher.
    assert rfm.quintile_scores(pd.Series([5, 300, 40, 40, 120]), higher_is_better=False).tolist() == [5, 1, 3, 3, 2]
    # Whole numbers are counted, other values sorted: both give the same scores.
    assert rfm.quintile_scores(values.astype(float)).tolist() == [1, 1, 1, 2, 3, 3, 4, 4, 4, 4]
    # A range too wide to count (a billion apart) takes the sort: 1 + floor(5 * (1 - 1) / 2) = 1, then 3.
    assert rfm.quintile_scores(pd.Series([0, 10**9])).tolist() == [1, 3]
    assert rfm.quintile_scores(pd.Series([10**9, 0]), higher_is_better=False).tolist() == [1, 3]


def test_single_purchase_customers_all_get_f1():
    values = pd.DataFrame({"recency_days": [10, 20, 30, 40, 50, 60], "frequency": [1, 1, 1, 1, 7, 9],
                           "monetary": [5.0, 5.0, 6.0, 7.0, 8.0, 9.0]})
    scores = rfm.rfm_scores(values)
    assert scores["f_score"].tolist() == [1, 1, 1, 1, 4, 5]
    assert rfm.rfm_scores(values.assign(frequency=1))["f_score"].tolist() == [1] * 6


def test_default_segment_rules_cover_every_cell_once():
    expected = [
        # F:  1                 2                     3                     4                  5
        ["New customers", "Potential loyalist", "Potential loyalist", "Champions", "Champions"],  # R 5
        ["Promising", "Potential loyalist", "Potential loyalist", "Loyal", "Loyal"],              # R 4
        ["About to sleep", "About to sleep", "Need attention", "Loyal", "Loyal"],                 # R 3
        ["Hibernating", "Hibernating", "At risk", "At risk", "Can't lose them"],                  # R 2
        ["Lost", "Lost", "At risk", "At risk", "Can't lose them"],                                # R 1
    ]
    assert rfm.segment_map().to_numpy().tolist() == expected
    # The same map as codes into a list of the 11 names (how the lifetime-value table labels customers).
    every_r = [r for r in (5, 4, 3, 2, 1) for _ in range(5)]
    every_f = [f for _ in range(5) for f in (1, 2, 3, 4, 5)]
    codes, names = rfm.segment_codes(np.array(every_r), np.array(every_f))
    assert names[codes].reshape(5, 5).tolist() == expected
    assert sorted(names) == sorted({rule.segment for rule in rfm.DEFAULT_SEGMENT_RULES})
    for bad_r, bad_f in ((0, 1), (1, 6)):
        with pytest.raises(ValueError, match="1 to 5"):
            rfm.segment_codes(np.array([5, bad_r]), np.array([5, bad_f]))
    assert len({rule.segment for rule in rfm.DEFAULT_SEGMENT_RULES}) == 11


def test_edited_rules_take_the_first_match_and_leave_gaps_to_other():
    rules = [SegmentRule("Best", 4, 5, 4, 5), SegmentRule("Recent", 4, 5, 1, 5)]
    r_score, f_score = pd.Series([5, 4, 3]), pd.Series([5, 2, 5])
    assert rfm.assign_segments(r_score, f_score, rules).tolist() == ["Best", "Recent", rfm.OTHER_SEGMENT]
    with pytest.raises(UserFacingError, match="lower bound"):
        rfm.assign_segments(r_score, f_score, [SegmentRule("Bad", 5, 3, 1, 1)])
    with pytest.raises(UserFacingError, match="1 to 5"):
        rfm.rules_from_frame(pd.DataFrame([{"segment": "X", "r_min": 0, "r_max": 6, "f_min": 1, "f_max": 1}]))
    # As codes into a list of names: the same first matches, "Other" included, for every (R, F) pair.
    codes, names = rfm.segment_codes(r_score.to_numpy(), f_score.to_numpy(), rules)
    assert names[codes].tolist() == ["Best", "Recent", rfm.OTHER_SEGMENT]
    edited = rfm.rules_frame()
    edited.loc[0, "f_min"] = 5
    assert rfm.rules_from_frame(edited)[0] == SegmentRule("Champions", 5, 5, 5, 5, "bought very recently and often")


# ---------------------------------------------------------------- the database-level function


@pytest.fixture()
def grid_db(tmp_path):
    # (customer, day, amount, gross profit, cancellation); each row its own order.
    transactions = [
        ("C1", d("2023-06-01"), 100, 10),   # before the period
        ("C1", d("2024-03-01"), 600, 300),
        ("C1", d("2024-06-01"), 400, 100),
        ("C2", d("2024-12-01"), 300, -60),  # loss-making order
        ("C3", d("2024-05-01"), 200, 0),    # zero profit
        ("C3", d("2024-10-01"), 100, 0),
        ("C4", d("2024-07-01"), -50, None, True),  # only a cancellation in the period: not a buyer
        ("C5", d("2024-02-01"), 100, 50),   # a single purchase
        ("C6", d("2024-04-01"), 500, 100),  # other region, out of the filtered scope
    ]
    customers = [("C1", "University", "North", "Ann", None), ("C2", "K-12 school", "North", "Bo", None),
                 ("C3", "University", "North", "Ann", None), ("C4", "University", "North", "Ann", None),
                 ("C5", "Training institution", "North", "Bo", None), ("C6", "University", "South", "Cy", None)]
    feedback = [("C1", d("2024-05-01"), "annual", 5, 10), ("C1", d("2024-08-01"), "service", 4, 9),
                ("C2", d("2024-12-05"), "service", 2, 3), ("C3", d("2023-01-01"), "annual", 4, 10)]
    return tiny_database(tmp_path / "grid.duckdb", transactions=transactions, customers=customers,
                         feedback=feedback)


def _load_in_two_batches(database, tmp_path, first_orders: str, second_orders: str) -> dict[str, int]:
    """Load two transaction files (order_id,customer_id,order_date,amount lines), the first with nineteen
    customers who bought in 2023 so that the second load is small enough to be refreshed incrementally;
    returns each customer's key."""
    from customer_value.loader import load_file, suggest_mapping

    header = "order_id,customer_id,order_date,amount\n"
    others = "".join(f"P{number},B{number:02d},2023-03-01,10\n" for number in range(1, 20))
    for name, text in (("first.csv", first_orders + others), ("second.csv", second_orders)):
        path = tmp_path / name
        path.write_text(header + text)
        load_file(database, path, "transactions", suggest_mapping(["order_id", "customer_id", "order_date",
                                                                   "amount"], "transactions"))
    return dict(database.cursor().execute("select customer_id, customer_key from customer_dim").fetchall())


def test_buying_customers_are_listed_by_id_after_a_later_load(tmp_path):
    # Z9 and B01-B19 load first; A1 arrives in a second load, small enough to be refreshed incrementally,
    # and gets the next key, above Z9's. Lists (and ties in revenue rankings) go by id, so A1 comes first
    # whatever the keys, with its own figures.
    from customer_value import db as dbmod

    database = dbmod.connect(tmp_path / "later.duckdb")
    try:
        keys = _load_in_two_batches(database, tmp_path, "O1,Z9,2024-03-01,100\n",
                                    "O2,A1,2024-04-01,250\nO3,Z9,2024-05-01,40\n")
        assert keys["Z9"] < keys["A1"]
        frame = segments.buying_customers(database, make_filters(database, start=d("2024-01-01"),
                                                                 end=d("2024-12-31")))
        assert frame["customer_id"].tolist() == ["A1", "Z9"]
        assert frame["revenue"].tolist() == [250.0, 140.0]
        assert frame["purchase_days"].tolist() == [1, 2]
        assert frame["name"].tolist() == ["A1", "Z9"]  # no customer file: the id stands in for the name
        assert list(frame.columns) == segments.BUYING_CUSTOMER_COLUMNS
    finally:
        dbmod.forget(tmp_path / "later.duckdb")


def test_rows_of_keys_by_hand():
    from customer_value.dataset import rows_of_keys

    # Keys 4, 0, 2 listed in rows 0, 1, 2; 1 and 7 (past every listed key) are not listed.
    assert rows_of_keys(np.array([4, 0, 2]), np.array([2, 4, 1, 7, 0])).tolist() == [2, 0, -1, -1, 1]
    assert rows_of_keys(np.array([], dtype="int64"), np.array([3])).tolist() == [-1]
    assert rows_of_keys(np.array([], dtype="int64"), np.array([], dtype="int64")).tolist() == []


def test_attributes_attach_by_key_and_refuse_rows_they_cannot_match(grid_db):
    from customer_value.dataset import with_customer_attributes

    filters = make_filters(grid_db, start=d("2024-01-01"), end=d("2024-12-31"))
    keys = dict(grid_db.cursor().execute("select customer_id, customer_key from customer_dim").fetchall())
    rows = pd.DataFrame({"customer_key": [keys["C3"], keys["C1"]], "figure": [3.0, 1.0]})
    attached = with_customer_attributes(grid_db, filters, None, rows, ["customer_id", "region"])
    assert attached.to_dict(orient="list") == {"customer_id": ["C1", "C3"], "region": ["North", "North"],
                                               "figure": [1.0, 3.0]}
    # A key the list does not hold, or a customer twice: the data changed between the two reads.
    for broken in ([keys["C1"], 10_000], [keys["C1"], keys["C1"]]):
        with pytest.raises(UserFacingError, match="data changed"):
            with_customer_attributes(grid_db, filters, None, pd.DataFrame({"customer_key": broken}), ["customer_id"])


def test_listed_rows_put_keys_in_id_order_and_take_text_in_any_order(grid_db):
    from customer_value.dataset import listed_rows, listing_columns

    filters = make_filters(grid_db, start=d("2024-01-01"), end=d("2024-12-31"))
    keys = dict(grid_db.cursor().execute("select customer_id, customer_key from customer_dim").fetchall())
    asked = np.array([keys["C5"], keys["C1"], keys["C3"]])
    listing, listed, row_at = listed_rows(grid_db, filters, None, asked)
    # The list holds every customer in scope by id (C1 ... C6): C1, C3 and C5 are its rows 0, 2 and 4, and
    # by id they are the keys' second, third and first.
    assert listing["customer_id"].tolist()[:6] == ["C1", "C2", "C3", "C4", "C5", "C6"]
    assert listed.tolist() == [0, 2, 4]
    assert row_at.tolist() == [1, 2, 0]
    # Taken in any order, e.g. the keys' own: C5, C1, C3.
    taken = listing_columns(listing, ["customer_id", "region"], listed[np.argsort(row_at)])
    assert taken["customer_id"].tolist() == ["C5", "C1", "C3"]
    assert taken.index.tolist() == [0, 1, 2]


def test_customer_segments_by_hand(grid_db):
    filters = make_filters(grid_db, start=d("2024-01-01"), end=d("2024-12-31"), regions=("North",))
    frame = segments.customer_segments(grid_db, filters).set_index("customer_id")
    # C4 had only a cancellation; C6 is outside the region filter.
    assert sorted(frame.index) == ["C1", "C2", "C3", "C5"]
    assert frame["revenue"].to_dict() == {"C1": 1000.0, "C2": 300.0, "C3": 300.0, "C5": 100.0}
    assert frame["profit"].to_dict() == {"C1": 400.0, "C2": -60.0, "C3": 0.0, "C5": 50.0}
    # Revenue 1700, 80% = 1360: C1 (above 0), C2 (1000), C3 (1300) are A; C5 (1600) is B.
    # Profit per order 200, -60, 0, 50; median 25.
    assert frame["grid_cell"].to_dict() == {"C1": "AA", "C2": "AB", "C3": "AB", "C5": "BA"}
    # Days to 31 Dec 2024: C1 213, C2 30, C3 91, C5 334 -> R 2, 4, 3, 1; purchase days 2, 1, 2, 1 -> F 3, 1, 3, 1;
    # revenue 1000, 300, 300, 100 -> M 4, 2, 2, 1.
    assert frame["recency_days"].to_dict() == {"C1": 213, "C2": 30, "C3": 91, "C5": 334}
    assert frame["r_score"].to_dict() == {"C1": 2, "C2": 4, "C3": 3, "C5": 1}
    assert frame["f_score"].to_dict() == {"C1": 3, "C2": 1, "C3": 3, "C5": 1}
    assert frame["m_score"].to_dict() == {"C1": 4, "C2": 2, "C3": 2, "C5": 1}
    assert frame["rfm_segment"].to_dict() == {"C1": "At risk", "C2": "Promising", "C3": "Need attention",
                                              "C5": "Lost"}
    # W = 90: C2 bought 30 days before the end; C3's last purchase is 91 days old.
    assert frame["churned"].to_dict() == {"C1": True, "C2": False, "C3": True, "C5": True}
    with_threshold = segments.customer_segments(grid_db, filters, margin_threshold=100).set_index("customer_id")
    assert with_threshold.loc["C5", "grid_cell"] == "BB"


def test_grid_summary_by_hand(grid_db):
    filters = make_filters(grid_db, start=d("2024-01-01"), end=d("2024-12-31"), regions=("North",))
    report = segments.segments_report(grid_db, filters)
    grid = {row["grid_cell"]: row for row in report["grid"]}
    assert {cell: row["customers"] for cell, row in grid.items()} == {"AA": 1, "AB": 2, "BA": 1}
    assert grid["AB"]["revenue"] == 600.0 and grid["AB"]["revenue_share"] == pytest.approx(600 / 1700)
    assert grid["AB"]["profit"] == -60.0 and grid["AB"]["profit_share"] == pytest.approx(-60 / 390)
    assert grid["AB"]["churn_rate"] == 0.5
    # NPS in the period: C1 answered 10 and 9 (AA: two promoters, +100, average 9.5); C2 answered 3 (AB: -100);
    # C3's 10 was given in 2023, outside the period.
    assert grid["AA"]["average_nps"] == 9.5 and grid["AA"]["nps"] == 100.0
    assert grid["AB"]["nps"] == -100.0 and grid["AB"]["nps_answers"] == 1
    assert pd.isna(grid["BA"]["nps"]) and grid["BA"]["nps_answers"] == 0
    assert grid["AA"]["treatment"].startswith("Key accounts")
    assert report["rfm_segments"] == {"Promising": 1, "Need attention": 1, "At risk": 1, "Lost": 1}
    # 4 customers: top 20% = 0.8 of C1 = 800 of 1700.
    assert report["pareto"]["top_20_percent_revenue_share"] == pytest.approx(800 / 1700)


def _assert_overview_is_the_classified_grid(database, filters, margin_threshold=None):
    """grid_overview gives what the full classification's grid and Pareto figures give."""
    overview = segments.grid_overview(database, filters, margin_threshold=margin_threshold)
    frame, info = segments.segment_frame(database, filters, margin_threshold=margin_threshold)
    pd.testing.assert_frame_equal(overview.grid, segments.grid_summary(frame))
    assert overview.info == info
    assert overview.customers == len(frame)
    assert overview.revenue == pytest.approx(float(frame["revenue"].sum()), rel=1e-12)
    assert overview.top_share == pytest.approx(segments.revenue_share_of_top(frame, 0.2), rel=1e-12)
    # The labels by key (the lifetime-value table's) are the classification's, customer for customer.
    labels = segments.segment_labels_by_key(database, filters, margin_threshold=margin_threshold)
    id_of_key = {key: customer_id for customer_id, key in database.cursor().execute(
        "select customer_id, customer_key from customer_dim").fetchall()}
    labelled = labels.assign(customer_id=labels["customer_key"].map(id_of_key)).set_index("customer_id")
    classified = frame.set_index("customer_id")
    assert sorted(labelled.index) == sorted(classified.index)
    for column in ("grid_cell", "rfm_segment"):
        assert labelled[column].astype(object).to_dict() == classified[column].to_dict()
    return overview


def test_grid_overview_by_hand(grid_db):
    filters = make_filters(grid_db, start=d("2024-01-01"), end=d("2024-12-31"), regions=("North",))
    overview = _assert_overview_is_the_classified_grid(grid_db, filters)
    # The figures of test_grid_summary_by_hand: C1 AA; C2 and C3 AB (equal revenue 300, both above the
    # 80% line whatever their order); C5 BA. Median profit per order of 200, -60, 0, 50 = 25.
    assert overview.customers == 4 and overview.revenue == 1700.0
    assert overview.top_share == pytest.approx(800 / 1700)
    assert overview.info.margin_threshold == 25.0 and overview.info.threshold_is_median
    grid = overview.grid.set_index("grid_cell")
    assert grid["customers"].to_dict() == {"AA": 1, "AB": 2, "BA": 1}
    assert grid.loc["AB", "revenue"] == 600.0 and grid.loc["AB", "churned"] == 1
    assert grid.loc["AA", "nps"] == 100.0 and grid.loc["AB", "nps"] == -100.0
    # A threshold of 60 per order: only C1 (200) is above it, C5 (50) drops to BB.
    with_threshold = _assert_overview_is_the_classified_grid(grid_db, filters, 60.0)
    assert with_threshold.grid.set_index("grid_cell")["customers"].to_dict() == {"AA": 1, "AB": 2, "BB": 1}
    nobody = segments.grid_overview(grid_db, make_filters(grid_db, start=d("2020-01-01"), end=d("2020-12-31")))
    assert nobody.customers == 0 and nobody.grid.empty and nobody.top_share is None


def test_grid_overview_orders_the_tie_at_the_80_percent_line_by_id(tmp_path):
    # M1 70, then A1, Y8 and Z9 with 10 each: 100 in all, the 80% line at 80. By id, A1 (70 above it) is A
    # and Y8 (80 above) and Z9 (90) are B. A1 arrives in a later load with the highest customer_key, so an
    # order by key would make Y8 the A; the cells' counts and revenue would not show it, their churn does:
    # A1 bought in December and is active at the end, the others are not.
    from customer_value import db as dbmod

    database = dbmod.connect(tmp_path / "tie.duckdb")
    try:
        keys = _load_in_two_batches(database, tmp_path, "O1,M1,2024-03-01,70\nO2,Y8,2024-03-02,10\n"
                                    "O3,Z9,2024-03-03,10\n", "O4,A1,2024-12-20,10\n")
        assert keys["Y8"] < keys["Z9"] < keys["A1"]
        filters = make_filters(database, start=d("2024-01-01"), end=d("2024-12-31"))
        overview = _assert_overview_is_the_classified_grid(database, filters)
        # No cost in the file: volume classes only.
        assert overview.grid[["grid_cell", "customers", "revenue", "churned"]].to_dict(orient="list") == {
            "grid_cell": ["A", "B"], "customers": [2, 2], "revenue": [80.0, 20.0], "churned": [1, 2]}
        frame = segments.customer_segments(database, filters).set_index("customer_id")
        assert frame["grid_cell"].to_dict() == {"A1": "A", "M1": "A", "Y8": "B", "Z9": "B"}
        # Top 20% of 4 customers = 0.8 of M1 = 56 of 100.
        assert overview.top_share == pytest.approx(0.56)
    finally:
        dbmod.forget(tmp_path / "tie.duckdb")


def test_a_tie_read_after_a_rebuild_renumbered_the_customers_is_refused(grid_db):
    # Rows of an earlier version (as the query cache may hold them) with a tie at the 80% line whose keys no
    # longer name anyone: 300, then 50 and 50 (80% of 400 = 320 falls between the two 50s: the first has 300
    # above it, the second 350).
    rows = pd.DataFrame({"customer_key": [1, 900_001, 900_002], "revenue": [300.0, 50.0, 50.0]})
    with pytest.raises(UserFacingError, match="data changed"):
        segments._grid_positions(grid_db, rows)


def _demo_filter_sets(demo_db) -> tuple[str, list]:
    """A region of the demo, and four filter sets: the default, all time, that region, W = 180."""
    base = make_filters(demo_db)
    region = demo_db.cursor().execute("select min(region) from customer_dim").fetchone()[0]
    return region, [base, make_filters(demo_db, period="all_time"), replace(base, regions=(region,)),
                    replace(base, window_days=180)]


def test_grid_overview_equals_the_classified_grid_on_the_demo_data(demo_db):
    _, filter_sets = _demo_filter_sets(demo_db)
    base = filter_sets[0]
    for filters in filter_sets:
        overview = _assert_overview_is_the_classified_grid(demo_db, filters)
        assert overview.customers > 100 and set(overview.grid["grid_cell"]) == set(segments.GRID_CELLS)
    _assert_overview_is_the_classified_grid(demo_db, base, 1500.0)


def _assert_cell_lists_are_the_classified_ones(database, filters, margin_threshold=None, scope=None,
                                              rules=segments.DEFAULT_SEGMENT_RULES) -> dict:
    """grid_cell_customers lists each cell (and a cell nobody is in, and a name that is no cell) as drill_down
    of the whole classification does, without it."""
    segments._CLASSIFIED.clear()
    cells = segments.grid_overview(database, filters, scope, margin_threshold).grid["grid_cell"].tolist()
    asked = [*cells, *(cell for cell in segments.GRID_CELLS if cell not in cells)]
    listed = {cell: segments.grid_cell_customers(database, filters, scope, cell, margin_threshold, rules)
              for cell in asked}
    # Listed without classifying everyone (when nobody bought, the empty classification is the list).
    assert segments._CLASSIFIED.bytes_held == 0 or not cells
    frame, _ = segments.segment_frame(database, filters, scope, margin_threshold, rules)
    for cell in asked:
        pd.testing.assert_frame_equal(listed[cell], segments.drill_down(frame, "grid_cell", cell))
        # Once the classification is kept, it answers.
        pd.testing.assert_frame_equal(segments.grid_cell_customers(database, filters, scope, cell, margin_threshold,
                                                                   rules), listed[cell])
    pd.testing.assert_frame_equal(segments.grid_cell_customers(database, filters, scope, "ZZ", margin_threshold,
                                                               rules), segments.drill_down(frame, "grid_cell", "ZZ"))
    return {cell: listed[cell] for cell in cells}


def test_a_cells_customers_by_hand(grid_db):
    # The grid of test_grid_overview_by_hand: C1 AA; C2 (300, -60 per order) and C3 (300, 0 per order) AB;
    # C5 BA. Equal revenue lists by id. Four customers: the pyramid's lines at ceil(0.04) = 1,
    # ceil(0.2) = 1 and ceil(0.8) = 1, so C1 is the top 1% and everyone else the remaining 80%.
    filters = make_filters(grid_db, start=d("2024-01-01"), end=d("2024-12-31"), regions=("North",))
    listed = _assert_cell_lists_are_the_classified_ones(grid_db, filters)
    assert listed["AB"]["customer_id"].tolist() == ["C2", "C3"]
    assert listed["AB"]["revenue"].tolist() == [300.0, 300.0]
    assert listed["AB"]["pyramid_tier"].tolist() == ["Remaining 80%", "Remaining 80%"]
    assert listed["AA"][["customer_id", "name", "pyramid_tier"]].values.tolist() == [["C1", "Name C1", "Top 1%"]]
    assert list(listed["AA"].columns) == [*segments.DRILL_COLUMNS, "pyramid_tier"]
    # A cell nobody is in, or a name that is no cell, lists nobody.
    assert segments.grid_cell_customers(grid_db, filters, None, "BB").empty
    assert segments.grid_cell_customers(grid_db, filters, None, "ZZ").empty
    _assert_cell_lists_are_the_classified_ones(grid_db, filters, 60.0)
    # A period in which nobody bought.
    nobody = make_filters(grid_db, start=d("2020-01-01"), end=d("2020-12-31"))
    assert _assert_cell_lists_are_the_classified_ones(grid_db, nobody) == {}
    assert segments.grid_cell_customers(grid_db, nobody, None, "AA").empty


def test_a_cells_customers_put_a_tie_at_a_pyramid_line_in_id_order(tmp_path):
    # Y8, Z9 and, in a later load with the highest key, A1 each spend 50 in 2024 (the others bought in 2023).
    # Three customers: every line of the pyramid is at one customer (ceil(0.03), ceil(0.15) and ceil(0.6) are
    # all 1), inside the tie of three. By id A1 is the top 1%; an order by key would have made Y8 the top. All
    # three are volume A (80% of 150 = 120; 100 is above Z9).
    from customer_value import db as dbmod

    database = dbmod.connect(tmp_path / "pyramid_tie.duckdb")
    try:
        keys = _load_in_two_batches(database, tmp_path, "O1,Y8,2024-03-01,50\nO2,Z9,2024-03-02,50\n",
                                    "O3,A1,2024-12-20,50\n")
        assert keys["Y8"] < keys["Z9"] < keys["A1"]
        filters = make_filters(database, start=d("2024-01-01"), end=d("2024-12-31"))
        listed = _assert_cell_lists_are_the_classified_ones(database, filters)
        assert listed["A"][["customer_id", "pyramid_tier"]].values.tolist() == [
            ["A1", "Top 1%"], ["Y8", "Remaining 80%"], ["Z9", "Remaining 80%"]]
        # Whatever order the query gives the rows in: here in key order, which sorts first by revenue alone.
        rows = pd.DataFrame({"customer_key": [keys["Y8"], keys["Z9"], keys["A1"]], "revenue": [50.0] * 3})
        positions = np.argsort(-segments._cents(rows["revenue"]))
        assert positions.tolist() == [0, 1, 2]
        segments._ties_in_id_order(database, rows, positions, segments._cents(rows["revenue"])[positions],
                                   segments.pyramid_lines(3))
        assert positions.tolist() == [2, 0, 1]
    finally:
        dbmod.forget(tmp_path / "pyramid_tie.duckdb")


def test_a_cells_customers_equal_the_classified_lists_on_the_demo_data(demo_db):
    region, filter_sets = _demo_filter_sets(demo_db)
    base = filter_sets[0]
    for filters in filter_sets:
        listed = _assert_cell_lists_are_the_classified_ones(demo_db, filters)
        assert set(listed) == set(segments.GRID_CELLS) and all(len(rows) > 0 for rows in listed.values())
    _assert_cell_lists_are_the_classified_ones(demo_db, base, 1500.0)
    # A regional user, and rules of one's own (everyone recent is a "Regular").
    regional = _assert_cell_lists_are_the_classified_ones(demo_db, base, scope=Scope(regions=(region,)))
    assert set().union(*(set(rows["region"]) for rows in regional.values())) == {region}
    own_rules = (rfm.SegmentRule("Regular", 3, 5, 1, 5, "recent"), *rfm.DEFAULT_SEGMENT_RULES)
    ruled = _assert_cell_lists_are_the_classified_ones(demo_db, base, rules=own_rules)
    assert "Regular" in set().union(*(set(rows["rfm_segment"]) for rows in ruled.values()))


def test_contribution_and_drill_down_by_hand(grid_db):
    filters = make_filters(grid_db, start=d("2024-01-01"), end=d("2024-12-31"))
    frame = segments.customer_segments(grid_db, filters)
    by_type = segments.contribution(frame, "customer_type").set_index("customer_type")
    # Universities C1, C3, C6: 1000 + 300 + 500 of 2200.
    assert by_type.loc["University", "customers"] == 3
    assert by_type.loc["University", "revenue_share"] == pytest.approx(1800 / 2200)
    assert by_type.loc["University", "profit"] == 500.0
    listed = segments.drill_down(frame, "customer_type", "University")
    assert listed["customer_id"].tolist() == ["C1", "C6", "C3"]
    with pytest.raises(UserFacingError):
        segments.contribution(frame, "favourite_colour")


def test_margin_threshold_must_be_a_number(grid_db):
    filters = make_filters(grid_db, start=d("2024-01-01"), end=d("2024-12-31"))
    with pytest.raises(UserFacingError, match="number"):
        segments.customer_segments(grid_db, filters, margin_threshold=float("nan"))


# ---------------------------------------------------------------- clusters


def _three_groups(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    groups = [(5, 30, 50_000.0), (60, 6, 5_000.0), (300, 1, 200.0)]  # recent/frequent/high ... lapsed/one-off/low
    rows = []
    for number, (recency, frequency, revenue) in enumerate(groups):
        for i in range(20):
            rows.append({"customer_id": f"G{number}-{i:02d}", "recency_days": int(recency * rng.uniform(0.9, 1.1)),
                         "frequency": max(1, int(frequency * rng.uniform(0.9, 1.1))),
                         "revenue": revenue * rng.uniform(0.9, 1.1)})
    return pd.DataFrame(rows)


def test_clusters_are_found_described_and_repeatable_under_a_seed():
    frame = _three_groups()
    first = cluster_customers(frame, seed=7)
    again = cluster_customers(frame.sample(frac=1, random_state=1).sort_index(), seed=7)
    assert first.k == 3 and first.k_chosen_by_silhouette
    assert first.labels.equals(again.labels)
    assert first.profiles["customers"].tolist() == [20, 20, 20]
    # Cluster 1 has the most revenue: the recent, frequent, high spenders.
    assert first.labels.iloc[:20].eq(1).all() and first.labels.iloc[40:].eq(3).all()
    assert first.profiles.loc[0, "description"] == "recent, frequent, high spend"
    assert first.profiles.loc[2, "description"] == "lapsed, occasional, low spend"
    assert set(first.silhouettes) == set(range(2, 9))
    set_k = cluster_customers(frame, k=2, seed=7)
    assert set_k.k == 2 and not set_k.k_chosen_by_silhouette and set_k.silhouettes == {}


def test_cluster_words_and_bad_k():
    assert describe_centre(pd.Series({"recency": 0.9, "frequency": -0.2, "monetary": -1.0})) == \
        "lapsed, moderate frequency, low spend"
    with pytest.raises(UserFacingError, match="between 2 and 8"):
        cluster_customers(_three_groups(), k=12)
    with pytest.raises(UserFacingError, match="three customers"):
        cluster_customers(_three_groups().head(2))


# ---------------------------------------------------------------- lifecycle and migration


def test_lifecycle_stages_and_funnel_by_hand():
    stages = segments.lifecycle_stage(pd.Series([0, 1, 2, 3, 2]), pd.Series([0, 0, 1, 0, 0]),
                                      pd.Series([0, 0, 0, 0, 2]))
    assert stages.tolist() == ["Prospect", "Buyer", "Advocate", "Loyal", "Advocate"]
    funnel = segments.lifecycle_funnel(stages, open_potential=3, open_prospects=2).set_index("stage")
    assert funnel["at_stage"].tolist() == [3, 3, 1, 1, 2]
    assert funnel["reached"].tolist() == [10, 7, 4, 3, 2]
    assert np.isnan(funnel.loc["Potential", "conversion"])
    assert funnel["conversion"].tolist()[1:] == pytest.approx([0.7, 4 / 7, 0.75, 2 / 3])


def test_lifecycle_on_the_tiny_database(grid_db):
    filters = make_filters(grid_db, start=d("2024-01-01"), end=d("2024-12-31"))
    customers, funnel, note = segments.lifecycle(grid_db, filters)
    stages = customers.set_index("customer_id")["stage"].to_dict()
    # Purchase days up to the end: C1 3 (one in 2023) and two promoter answers -> advocate; C3 2 and a 10 in
    # 2023 -> advocate; C2, C5, C6 one each; C4 bought nothing (only a cancellation) -> prospect.
    assert stages == {"C1": "Advocate", "C2": "Buyer", "C3": "Advocate", "C4": "Prospect", "C5": "Buyer",
                      "C6": "Buyer"}
    assert funnel.set_index("stage")["reached"].to_dict() == {"Potential": 6, "Prospect": 6, "Buyer": 5,
                                                              "Loyal": 2, "Advocate": 2}
    assert "No leads" in note


def test_lifecycle_lists_each_rungs_customers_with_their_period_figures(grid_db):
    filters = make_filters(grid_db, start=d("2024-01-01"), end=d("2024-12-31"))
    ladder, _, _ = segments.lifecycle(grid_db, filters)
    frame = segments.customer_segments(grid_db, filters)
    advocates = segments.lifecycle_drill_down(ladder, frame, "Advocate")
    # Highest period revenue first: C1 1,000, C3 300.
    assert advocates["customer_id"].tolist() == ["C1", "C3"]
    assert advocates["revenue"].tolist() == [1000.0, 300.0]
    assert advocates["customer_type"].tolist() == ["University", "University"]
    assert advocates["purchase_days"].tolist() == [3, 2]
    assert segments.lifecycle_drill_down(ladder, frame, "Buyer")["customer_id"].tolist() == ["C6", "C2", "C5"]
    # C4 only cancelled: a registered customer without a purchase, with no figures for the period.
    prospects = segments.lifecycle_drill_down(ladder, frame, "Prospect")
    assert prospects["customer_id"].tolist() == ["C4"] and prospects["revenue"].isna().all()
    assert segments.lifecycle_drill_down(ladder, frame, "Potential").empty
    with pytest.raises(UserFacingError):
        segments.lifecycle_drill_down(ladder, frame, "Friend")


def test_transition_matrix_and_movements_by_hand():
    before = pd.Series({"a": "AA", "b": "BB", "c": "AB", "e": "AB"})
    after = pd.Series({"a": "AA", "b": "BA", "d": "BB", "e": "BA"})
    matrix = segments.transition_matrix(before, after, list(segments.GRID_CELLS))
    assert matrix.index.tolist() == ["AA", "AB", "BB", "new"]
    assert matrix.columns.tolist() == ["AA", "BA", "BB", "left"]
    assert matrix.loc["AA", "AA"] == 1 and matrix.loc["BB", "BA"] == 1 and matrix.loc["AB", "left"] == 1
    assert matrix.loc["new", "BB"] == 1 and matrix.loc["AB", "BA"] == 1
    assert int(matrix.to_numpy().sum()) == 5
    assert segments.movement_counts(before, after) == {"upgraded": 1, "downgraded": 0, "unchanged": 1,
                                                       "lateral": 1, "new": 1, "left": 1}
    links = segments.sankey_links(matrix)
    assert sum(links["value"]) == 5 and len(links["source"]) == 5


def test_migration_between_two_periods(grid_db):
    first = make_filters(grid_db, start=d("2023-01-01"), end=d("2023-12-31"))
    second = make_filters(grid_db, start=d("2024-01-01"), end=d("2024-12-31"))
    moved = segments.migration(grid_db, first, second)
    # Only C1 bought in 2023 (volume A, one customer with cost data: profit/order 10 is not above the median 10).
    assert moved["grid"].loc["AB", "AA"] == 1
    assert moved["grid"].loc["new"].sum() == 4
    assert moved["movements"]["upgraded"] == 1 and moved["movements"]["new"] == 4
    # 2024 without the region filter: revenue 1,000 (C1), 500 (C6), 300 (C2), 300 (C3), 100 (C5) of 2,200;
    # 80% = 1,760, and above C3 are 1,800: C1, C6, C2 are volume A. Profit per order 200, 100, -60, 0, 50;
    # median 50: C1 and C6 margin A. So C1 moved AB -> AA, C6 arrived in AA, C2 in AB, C3 and C5 in BB.
    moves = moved["customers"]
    assert segments.migration_drill_down(moves, "grid", "AB", "AA")["customer_id"].tolist() == ["C1"]
    assert segments.migration_drill_down(moves, "grid", "new", "AA")["customer_id"].tolist() == ["C6"]
    arrived_bb = segments.migration_drill_down(moves, "grid", "new", "BB")
    assert arrived_bb["customer_id"].tolist() == ["C3", "C5"]
    assert arrived_bb["revenue_after"].tolist() == [300.0, 100.0] and arrived_bb["revenue_before"].isna().all()
    assert arrived_bb["name"].tolist() == ["Name C3", "Name C5"] and arrived_bb["region"].tolist() == ["North", "North"]
    # The list and the matrix agree cell by cell.
    for source in moved["grid"].index:
        for target in moved["grid"].columns:
            assert len(segments.migration_drill_down(moves, "grid", source, target)) == \
                moved["grid"].loc[source, target]
    with pytest.raises(UserFacingError):
        segments.migration(grid_db, second, first)
    with pytest.raises(UserFacingError, match="same customer types, regions"):
        segments.migration(grid_db, first, replace(second, regions=("North",)))


# ---------------------------------------------------------------- command line and demo data


def test_cli_prints_the_package_report(demo_db_path, demo_db):
    output = io.StringIO()
    with redirect_stdout(output):
        code = cli.main(["segments", "--db", str(demo_db_path), "--json", "--region", "West"])
    assert code == 0
    printed = json.loads(output.getvalue())
    expected = cli.to_jsonable(segments.segments_report(demo_db, make_filters(demo_db, regions=("West",))))
    assert printed == expected
    assert sum(row["customers"] for row in printed["grid"]) == printed["customers"] > 100
    assert sum(printed["rfm_segments"].values()) == printed["customers"]


def test_cli_rejects_a_bad_threshold(demo_db_path, capsys):
    assert cli.main(["segments", "--db", str(demo_db_path), "--margin-threshold", "nan"]) == 2
    assert "margin threshold" in capsys.readouterr().err


def test_demo_grid_adds_up(demo_db):
    filters = make_filters(demo_db)
    frame = segments.customer_segments(demo_db, filters)
    sales = demo_db.cursor().execute(
        "select count(distinct customer_id), sum(revenue) from customer_days "
        "where day between ? and ? and customer_id in (select customer_id from customer_days "
        "where is_purchase and day between ? and ?)", [filters.start, filters.end, filters.start, filters.end]
    ).fetchone()
    assert len(frame) == sales[0]
    assert frame["revenue"].sum() == pytest.approx(float(sales[1]))
    a_revenue = frame.loc[frame["volume_class"] == "A", "revenue"].sum()
    largest_b = frame.loc[frame["volume_class"] == "B", "revenue"].max()
    # A makes at least 80%, and dropping its smallest member would fall below 80%.
    assert a_revenue >= 0.8 * frame["revenue"].sum()
    smallest_a = frame.loc[frame["volume_class"] == "A", "revenue"].min()
    assert a_revenue - smallest_a < 0.8 * frame["revenue"].sum() and smallest_a >= largest_b


# ---------------------------------------------------------------- real exports


def _real_invoices(folder) -> pd.DataFrame:
    lines = pd.concat([pd.read_csv(folder / name, encoding="utf-8-sig", dtype={"InvoiceNo": str})
                       for name in ("france.csv", "germany.csv")], ignore_index=True)
    lines = lines.dropna(subset=["CustomerID"])
    lines["customer_id"] = lines["CustomerID"].astype(int).astype(str)
    lines["day"] = pd.to_datetime(lines["InvoiceDate"], format="%m/%d/%Y %H:%M").dt.date
    lines["amount"] = lines["Quantity"] * lines["UnitPrice"]
    invoices = lines.groupby(["InvoiceNo", "customer_id", "day"], as_index=False)["amount"].sum()
    invoices["amount"] = invoices["amount"].round(2)
    invoices["cancelled"] = invoices["InvoiceNo"].str.startswith("C")
    return invoices


def test_rfm_values_match_the_conventional_definition_on_real_exports(real_data_dir, tmp_path):
    invoices = _real_invoices(real_data_dir)
    database = tiny_database(tmp_path / "real.duckdb", transactions=[
        (row.customer_id, row.day, row.amount, None, bool(row.cancelled)) for row in invoices.itertuples()])
    start, end = invoices["day"].min(), invoices["day"].max()
    filters = make_filters(database, start=start, end=end)
    frame = segments.customer_segments(database, filters).set_index("customer_id")
    summary = segments.clv_summary(frame.reset_index(), end).set_index("customer_id")

    # The conventional definitions, computed here from the invoices alone.
    purchases = invoices[~invoices["cancelled"] & (invoices["amount"] > 0)]
    days = purchases.groupby("customer_id")["day"]
    expected = pd.DataFrame({
        "first": pd.to_datetime(days.min()), "last": pd.to_datetime(days.max()), "purchase_days": days.nunique(),
    })
    expected["monetary"] = invoices.groupby("customer_id")["amount"].sum().reindex(expected.index)
    assert sorted(frame.index) == sorted(expected.index)
    assert len(frame) > 150
    expected = expected.loc[frame.index]
    assert (frame["recency_days"] == (pd.Timestamp(end) - expected["last"]).dt.days).all()
    assert (frame["frequency"] == expected["purchase_days"]).all()
    assert np.allclose(frame["monetary"], expected["monetary"], atol=0.01)
    # The lifetime-value summary: repeat purchase days, first-to-last days, age T.
    assert (summary["frequency"] == expected["purchase_days"] - 1).all()
    assert (summary["recency"] == (expected["last"] - expected["first"]).dt.days).all()
    assert (summary["T"] == (pd.Timestamp(end) - expected["first"]).dt.days).all()
    # Without any cost in the file the grid falls back to volume classes; the grid drawn without the customer
    # list is the same.
    assert set(frame["grid_cell"]) == {"A", "B"}
    assert _assert_overview_is_the_classified_grid(database, filters).customers == len(frame)
    # So are the lists of its cells, drawn without classifying everyone (real revenues tie at the pyramid's lines).
    listed = _assert_cell_lists_are_the_classified_ones(database, filters)
    assert sum(len(rows) for rows in listed.values()) == len(frame)
    # Scores follow the values: a longer time since the last purchase never scores a higher R.
    ordered = frame.sort_values("recency_days")
    assert ordered["r_score"].is_monotonic_decreasing
    assert frame.sort_values("frequency")["f_score"].is_monotonic_increasing
    assert frame.loc[frame["frequency"] == 1, "f_score"].eq(1).all()


def test_each_caller_gets_its_own_copy_of_the_classification(grid_db):
    filters = make_filters(grid_db, start=d("2024-01-01"), end=d("2024-12-31"))
    first = segments.customer_segments(grid_db, filters)
    first["grid_cell"] = "changed by a page"
    first["cluster"] = 1
    again = segments.customer_segments(grid_db, filters)
    assert "cluster" not in again.columns
    assert set(again["grid_cell"]) <= {"AA", "AB", "BA", "BB"}


def test_cli_text_output_names_the_figures(grid_db, capsys):
    code = cli.main(["segments", "--db", str(grid_db.path), "--start", "2024-01-01", "--end", "2024-12-31",
                     "--region", "North"])
    assert code == 0
    text = capsys.readouterr().out
    assert "Customers who bought: 4, revenue 1,700" in text
    assert "Margin threshold (median): 25.00 gross profit per order" in text
    assert "Top 20% of customers bring 47.1% of revenue." in text  # 800 / 1700


def test_migration_matches_the_two_periods_customers_by_key(grid_db):
    # C1 bought only in the first period, C2 in both, C3 only in the second; listed in id order, named once.
    from customer_value.query import run

    filters = make_filters(grid_db, start=d("2024-01-01"), end=d("2024-12-31"))
    listing = run(grid_db, "segment_customer_attributes", filters=filters)
    key = dict(zip(listing["customer_id"], listing["customer_key"].astype("int64"), strict=True))

    def period(ids, cells, revenue):
        return pd.DataFrame({"customer_key": [key[i] for i in ids], "grid_cell": pd.Categorical(cells),
                             "rfm_segment": pd.Categorical(["Lost"] * len(ids)), "revenue": revenue})

    # Given in another order than the ids': the result is in id order all the same.
    before = period(["C2", "C1"], ["BB", "AA"], [50.0, 100.0])
    after = period(["C3", "C2"], ["BA", "AB"], [30.0, 70.0])
    moves = segments._outer_by_key(grid_db, filters, None, before, after)
    assert moves["customer_id"].tolist() == ["C1", "C2", "C3"]
    # Both periods' cells in one set of categories (so they compare), missing where the customer did not buy.
    assert list(moves["grid_before"].cat.categories) == list(moves["grid_after"].cat.categories)
    assert moves["grid_before"].astype(object).where(moves["grid_before"].notna(), None).tolist() == ["AA", "BB", None]
    assert moves["grid_after"].astype(object).where(moves["grid_after"].notna(), None).tolist() == [None, "AB", "BA"]
    assert moves["revenue_before"].tolist()[:2] == [100.0, 50.0] and pd.isna(moves["revenue_before"].iloc[2])
    assert moves["revenue_after"].tolist()[1:] == [70.0, 30.0] and pd.isna(moves["revenue_after"].iloc[0])
    assert segments._named(moves["grid_after"], segments.LEFT).tolist() == [segments.LEFT, "AB", "BA"]
    assert moves["name"].tolist() == ["Name C1", "Name C2", "Name C3"]
    assert moves["region"].tolist() == ["North", "North", "North"]
    assert segments.movement_counts(pd.Series(["AA", "BB"], index=["C1", "C2"]),
                                     pd.Series(["AB", "BA"], index=["C2", "C3"])) == {
        "upgraded": 1, "downgraded": 0, "unchanged": 0, "lateral": 0, "new": 1, "left": 1}


def test_migration_by_key_equals_the_two_classifications_merged(demo_db):
    # What the migration was built from before: each period's whole classification, merged on the customer id.
    filters = make_filters(demo_db)
    for first, second in ((filters.previous(), filters), (replace(filters.previous(), regions=("East China",)),
                                                          replace(filters, regions=("East China",)))):
        moved = segments.migration(demo_db, first, second)
        before, _ = segments.segment_frame(demo_db, first)
        after, _ = segments.segment_frame(demo_db, second)
        columns = ["customer_id", "grid_cell", "rfm_segment", "revenue"]
        merged = before[columns].merge(after[columns], on="customer_id", how="outer", suffixes=("_before", "_after"))
        merged = merged.sort_values("customer_id").reset_index(drop=True)
        customers = moved["customers"]
        assert customers["customer_id"].tolist() == merged["customer_id"].tolist()
        for name, column in (("grid", "grid_cell"), ("rfm", "rfm_segment")):
            assert customers[f"{name}_before"].tolist() == merged[f"{column}_before"].fillna(segments.NEW).tolist()
            assert customers[f"{name}_after"].tolist() == merged[f"{column}_after"].fillna(segments.LEFT).tolist()
        for when in ("before", "after"):
            pd.testing.assert_series_equal(customers[f"revenue_{when}"], merged[f"revenue_{when}"].astype(float),
                                           check_names=False)
        assert moved["grid"].to_numpy().sum() == len(merged)


def test_a_period_shares_its_classification_whatever_its_name(grid_db):
    # The migration tab's second period is the page's own dates named "custom": it must not classify them again.
    from dataclasses import replace

    from customer_value.cache import selection_key

    filters = make_filters(grid_db, start=d("2024-01-01"), end=d("2024-12-31"))
    assert selection_key(grid_db, filters, None) == selection_key(grid_db, replace(filters, period="all_time"), None)
    assert selection_key(grid_db, filters, None) != selection_key(grid_db, replace(filters, window_days=60), None)
    frame, _ = segments.segment_frame(grid_db, filters)
    again, _ = segments.segment_frame(grid_db, replace(filters, period="last_12_months"))
    assert again["grid_cell"].tolist() == frame["grid_cell"].tolist()
    assert np.shares_memory(again["revenue"].to_numpy(), frame["revenue"].to_numpy())
