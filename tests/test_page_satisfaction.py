"""The satisfaction page through app.py: figures read back and compared with the package."""

from __future__ import annotations

import pandas as pd
import pytest

from customer_value import satisfaction as sat
from customer_value.dataset import make_filters
from customer_value.formatting import format_value


def _open(app_test):
    at = app_test.run()
    at.switch_page("pages/satisfaction.py")
    at.run()
    assert not at.exception
    return at


def _table(at, *columns):
    """The first table on the page holding all these columns (plain tables carry no key in AppTest)."""
    for element in at.dataframe:
        if set(columns) <= set(element.value.columns):
            return element.value
    raise AssertionError(f"no table with columns {columns}")


def test_headline_figures_match_the_package(app_test, demo_db):
    at = _open(app_test)
    summary = sat.headline(demo_db, make_filters(demo_db))
    expected = [
        format_value(kpi.value, kpi.kind) for survey in ("service", "annual") for kpi in summary[survey]["kpis"]
    ]
    shown = [metric.value for metric in at.metric][:len(expected)]
    assert shown == expected
    assert int(shown[3].replace(",", "")) > 1_000            # service answers in the last 12 months
    assert "nan" not in " ".join(metric.value for metric in at.metric).lower()


def test_tables_match_the_package(app_test, demo_db):
    at = _open(app_test)
    filters = make_filters(demo_db)
    bands = _table(at, "revenue_lost")
    pd.testing.assert_frame_equal(bands.reset_index(drop=True), sat.band_churn(demo_db, filters), check_dtype=False)
    segments = _table(at, "nps_vs_rest")
    expected = sat.segment_table(demo_db, filters, "customer_type", "service")
    assert segments["group"].tolist() == expected["group"].tolist()
    assert segments["nps"].tolist() == pytest.approx(expected["nps"].tolist())
    follow_up = _table(at, "latest_nps")
    assert follow_up["customer_id"].tolist() == sat.follow_up_list(sat.latest_answers(demo_db, filters))[
        "customer_id"].tolist()
    assert len(follow_up) > 0
    assert len(_table(at, "term")) > 0


def test_settings_change_the_segment_table(app_test, demo_db):
    at = _open(app_test)
    at.selectbox(key="sat_dimension").set_value("value_cell")
    at.selectbox(key="sat_segment_survey").set_value("annual")
    at.number_input(key="sat_min_answers").set_value(500)
    at.run()
    assert not at.exception
    shown = _table(at, "nps_vs_rest")
    expected = sat.segment_table(demo_db, make_filters(demo_db), "value_cell", "annual", min_answers=500)
    assert shown["group"].tolist() == expected["group"].tolist()
    small = shown[shown["answers"] < 500]
    assert len(small) > 0 and (small["nps_vs_rest"] == "too few answers").all()


def test_comment_search_filters_the_list(app_test):
    at = _open(app_test)
    at.text_input(key="sat_search").input("invoice")
    at.multiselect(key="sat_bands").select("detractor")
    at.run()
    assert not at.exception
    comments = _table(at, "comment", "complaint")
    assert len(comments) > 0
    assert comments["comment"].str.lower().str.contains("invoice").all()
    assert (comments["nps"] <= 6).all()
