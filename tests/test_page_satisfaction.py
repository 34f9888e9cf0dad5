"""The satisfaction page through app.py: figures read back and compared with the package."""

from __future__ import annotations

import pandas as pd
import pytest

from customer_value import satisfaction as sat
from customer_value.dataset import make_filters
from customer_value.formatting import format_value
from tests.conftest import open_page, open_tab, table_with


def _open(app_test, tab: str | None = None):
    at = open_page(app_test, "pages/satisfaction.py")
    if tab is not None:
        _switch(at, tab)
    return at


def _switch(at, title: str):
    open_tab(at, "sat_tab", title)


def _metrics(at) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


def test_headline_figures_match_the_package(app_test, demo_db):
    at = _open(app_test)
    summary = sat.headline(demo_db, make_filters(demo_db))
    expected = [
        format_value(kpi.value, kpi.kind) for survey in ("service", "annual") for kpi in summary[survey]["kpis"]
    ]
    shown = [metric.value for metric in at.metric][:len(expected)]
    assert shown == expected
    # Service: NPS, CSAT, average, answers, response rate, then the three shares; the annual survey has no
    # response rate (nobody knows how many were asked).
    assert [metric.label for metric in at.metric][:8] == [
        "NPS", "CSAT", "Average score (1-5)", "Answers", "Response rate", "Promoters", "Passives", "Detractors"]
    assert int(shown[3].replace(",", "")) > 1_000            # service answers in the last 12 months
    assert "Response rate" not in [metric.label for metric in at.metric][8:15]
    values = " ".join(metric.value for metric in at.metric)
    assert "nan" not in values.lower() and "None" not in values
    # The shares of the service answers add up to 100%.
    shares = [float(value.rstrip("%")) for value in shown[5:8]]
    assert sum(shares) == pytest.approx(100.0, abs=0.15)


def test_trend_tables_hold_every_month_and_every_answer(app_test, demo_db):
    at = _open(app_test)
    summary = sat.headline(demo_db, make_filters(demo_db))
    trends = [element.value for element in at.dataframe if {"month", "response_rate"} <= set(element.value.columns)]
    assert len(trends) == 2                                    # service, annual
    service, annual = trends
    assert len(service) == 12 and len(annual) == 12
    assert service["answers"].sum() == summary["service"]["figures"]["answers"]
    assert annual["answers"].sum() == summary["annual"]["figures"]["answers"]
    # The annual survey runs in November and December only.
    assert (annual.loc[annual["answers"] > 0, "month"].str[-2:].isin(["11", "12"])).all()


def test_closed_tabs_compute_nothing(app_test):
    at = _open(app_test)
    shown = {frozenset(frame.value.columns) for frame in at.dataframe}
    assert not [columns for columns in shown if "revenue_lost" in columns or "nps_vs_rest" in columns
                or "age_days" in columns or "term" in columns]
    labels = [metric.label for metric in at.metric]
    assert "Detractor churn" not in labels and "Open complaints" not in labels


def test_tables_match_the_package(app_test, demo_db):
    at = _open(app_test, "Satisfaction and churn")
    filters = make_filters(demo_db)
    bands = table_with(at, "revenue_lost")
    pd.testing.assert_frame_equal(bands.reset_index(drop=True), sat.band_churn(demo_db, filters), check_dtype=False)
    follow_up = table_with(at, "latest_nps")
    expected_follow_up = sat.follow_up_list(sat.latest_answers(demo_db, filters))
    assert follow_up["customer_id"].tolist() == expected_follow_up["customer_id"].tolist()
    assert len(follow_up) > 0 and follow_up["period_revenue"].is_monotonic_decreasing
    _switch(at, "By segment")
    segments = table_with(at, "nps_vs_rest")
    # The default grouping is the value grid cell.
    expected = sat.segment_table(demo_db, filters, "value_cell", "service")
    assert segments["group"].tolist() == expected["group"].tolist()
    assert segments["nps"].tolist() == pytest.approx(expected["nps"].tolist(), nan_ok=True)
    assert segments["answers"].sum() == sat.headline(demo_db, filters)["service"]["figures"]["answers"]
    _switch(at, "Comments")
    assert len(table_with(at, "term")) > 0


def test_churn_gap_and_complaint_figures_read_back(app_test, demo_db):
    at = _open(app_test, "Satisfaction and churn")
    filters = make_filters(demo_db)
    shown = _metrics(at)
    gap = sat.churn_gap(sat.band_churn(demo_db, filters))
    assert shown["Detractor churn"] == format_value(gap["detractor_churn_rate"], "share")
    assert shown["Gap, detractors vs promoters"] == format_value(gap["nps_gap_points"], "points") + " pts"
    _switch(at, "Complaints")
    shown = _metrics(at)
    complaint_rows = sat.complaints(demo_db, filters)
    # Hand count: complaints raised in the period, and complaints open on the data's last day.
    assert shown["Complaints"] == format_value(int(complaint_rows["raised_in_period"].sum()), "count")
    assert shown["Open complaints"] == format_value(int(complaint_rows["is_open"].sum()), "count")
    open_list = table_with(at, "age_days")
    assert len(open_list) == int(complaint_rows["is_open"].sum())
    by_rep = table_with(at, "sales_rep", "median_days_to_resolve")
    assert by_rep["complaints"].sum() == int(complaint_rows["raised_in_period"].sum())
    # Complaints per 100 orders: the hand count of complaints over the month table's orders, which add up to the
    # orders of the period (every month of it is a row).
    by_month = table_with(at, "month", "complaints_per_100_orders")
    assert len(by_month) == 12
    orders = int(by_month["orders"].sum())
    assert orders == int(by_rep["orders"].sum())
    assert shown["Complaints per 100 orders"] == format_value(
        100 * int(complaint_rows["raised_in_period"].sum()) / orders, "ratio")


def test_settings_change_the_segment_table(app_test, demo_db):
    at = _open(app_test, "By segment")
    assert "RFM segment" in at.selectbox(key="sat_dimension").options
    at.selectbox(key="sat_dimension").set_value("rfm_segment")
    at.selectbox(key="sat_segment_survey").set_value("annual")
    at.number_input(key="sat_min_answers").set_value(200)
    at.run()
    assert not at.exception
    shown = table_with(at, "nps_vs_rest")
    expected = sat.segment_table(demo_db, make_filters(demo_db), "rfm_segment", "annual", min_answers=200)
    assert shown["group"].tolist() == expected["group"].tolist()
    small = shown[shown["answers"] < 200]
    assert len(small) > 0 and (small["nps_vs_rest"] == "too few answers").all() and small["rank"].isna().all()
    ranked = shown[shown["answers"] >= 200]
    assert ranked["rank"].tolist() == sorted(ranked["rank"].tolist())
    # The settings outlive a visit to another tab, whose run does not draw them.
    _switch(at, "Scores and trend")
    _switch(at, "By segment")
    assert at.selectbox(key="sat_dimension").value == "rfm_segment"
    assert at.selectbox(key="sat_segment_survey").value == "annual"
    assert at.number_input(key="sat_min_answers").value == 200
    assert table_with(at, "nps_vs_rest")["group"].tolist() == expected["group"].tolist()


def test_comment_search_filters_the_list(app_test):
    at = _open(app_test, "Comments")
    at.text_input(key="sat_search").input("invoice")
    at.multiselect(key="sat_bands").select("detractor")
    at.run()
    assert not at.exception
    comments = table_with(at, "comment", "complaint")
    assert len(comments) > 0
    assert comments["comment"].str.lower().str.contains("invoice").all()
    assert (comments["nps"] <= 6).all()


def test_the_comment_list_is_capped_with_a_note_and_every_match_downloads(app_test, demo_db):
    at = _open(app_test, "Comments")
    every = sat.comments(demo_db, make_filters(demo_db))
    assert len(every) > sat.COMMENT_ROWS_SHOWN                 # the demo company has thousands of comments
    shown = table_with(at, "comment", "complaint")
    assert len(shown) == sat.COMMENT_ROWS_SHOWN
    assert shown["feedback_id"].tolist() == every["feedback_id"].head(sat.COMMENT_ROWS_SHOWN).tolist()
    notes = " ".join(caption.value for caption in at.caption)
    assert f"{len(every):,} of {len(every):,} comments in the period match" in notes
    assert f"The newest {sat.COMMENT_ROWS_SHOWN:,} are shown" in notes
    labels = [button.proto.label for button in at.get("download_button")]
    assert f"Download the {len(every):,} matching comments (CSV)" in labels


def test_a_selection_without_answers_says_so(app_test):
    at = app_test.run()
    at.switch_page("pages/satisfaction.py")
    at.run()
    at.selectbox(key="f_period").set_value("custom")
    at.run()
    at.date_input(key="f_range").set_value((pd.Timestamp("2019-01-01").date(), pd.Timestamp("2019-12-31").date()))
    at.run()
    assert not at.exception
    assert any("No survey answer" in info.value for info in at.info)
