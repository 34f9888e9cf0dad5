"""The overview page (pages/overview.py) through app.py: figures, filters, links, empty states."""

from __future__ import annotations

from datetime import date

from customer_value.dataset import make_filters
from customer_value.formatting import format_value
from customer_value.metrics import overview_kpis


def _metrics(at) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


def _expected(demo_db, **filter_args) -> dict[str, str]:
    kpis = overview_kpis(demo_db, make_filters(demo_db, **filter_args))
    return {kpi.label: format_value(kpi.value, kpi.kind) for kpi in kpis}


def test_overview_shows_the_package_figures(app_test, demo_db):
    at = app_test.run()
    assert not at.exception
    shown = _metrics(at)
    assert shown == _expected(demo_db)
    # Real values, not placeholders: thousands of active customers and hundreds of millions in revenue.
    assert int(shown["Active customers"].replace(",", "")) > 1_000
    assert int(shown["Revenue"].replace(",", "")) > 100_000_000
    assert "—" not in shown.values() and "nan" not in " ".join(shown.values()).lower()
    trend = at.dataframe[0].value
    assert len(trend) == 12
    # The identity start + new + reactivated - lost = end holds in every month shown.
    assert ((trend["active_start"] + trend["new_customers"] + trend["reactivated"] - trend["lost"])
            == trend["active_end"]).all()


def test_changing_filters_changes_the_figures(app_test, demo_db):
    at = app_test.run()
    at.run()
    at.multiselect(key="f_region").select("West")
    at.number_input(key="f_window").set_value(180)
    at.run()
    assert not at.exception
    assert _metrics(at) == _expected(demo_db, regions=("West",), window_days=180)
    assert at.query_params.get("region") in (["West"], "West")
    at.selectbox(key="f_period").set_value("all_time")
    at.run()
    assert _metrics(at) == _expected(demo_db, period="all_time", regions=("West",), window_days=180)


def test_a_link_reopens_the_same_view(app_test, demo_db):
    at = app_test
    at.query_params["period"] = "last_full_year"
    at.query_params["type"] = "University"
    at.query_params["w"] = "60"
    at.run()
    assert not at.exception
    assert not at.warning
    assert at.multiselect(key="f_type").value == ["University"]
    assert _metrics(at) == _expected(demo_db, period="last_full_year", customer_types=("University",),
                                     window_days=60)


def test_a_bad_link_gets_a_notice_not_an_exception(app_test, demo_db):
    at = app_test
    at.query_params["region"] = "Atlantis"
    at.query_params["w"] = "abc"
    at.run()
    assert not at.exception
    notices = " ".join(warning.value for warning in at.warning)
    assert "Atlantis" in notices and "abc" in notices
    assert _metrics(at) == _expected(demo_db)


def test_a_selection_with_no_customers_says_so(app_test):
    at = app_test.run()
    at.run()
    at.selectbox(key="f_period").set_value("custom")
    at.run()
    at.date_input(key="f_range").set_value((date(2019, 1, 1), date(2019, 12, 31)))
    at.run()
    assert not at.exception
    assert any("No customer in this selection" in info.value for info in at.info)
