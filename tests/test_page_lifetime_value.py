"""The lifetime value and risk page (pages/lifetime_value.py) through app.py: figures equal the package's."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from customer_value import clv, risk, whatif
from customer_value.dataset import data_range, make_filters
from customer_value.formatting import format_value
from tests.builders import d, tiny_database
from tests.conftest import open_tab
from ui.widgets import TABLE_ROWS_SHOWN


def _open(at, tab: str | None = None):
    # A link naming the page opens it directly, as a shared link would.
    at.query_params["page"] = "lifetime_value"
    at.run()
    assert not at.exception, [exception.value for exception in at.exception]
    if tab is not None:
        _switch(at, tab)
    return at


def _switch(at, tab: str):
    open_tab(at, "lv_tab", tab)


def _metrics(at) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


def _table_with(at, column: str) -> pd.DataFrame:
    tables = [table.value for table in at.dataframe if column in table.value.columns]
    assert tables, f"no table with a {column} column"
    return tables[0]


def test_page_shows_the_package_figures(app_test, demo_db):
    at = _open(app_test)
    shown = _metrics(at)
    filters = make_filters(demo_db)
    span = data_range(demo_db)

    table, fit = clv.clv_table(demo_db, filters, observation_end=filters.end)
    assert fit.trusted
    assert shown["Lifetime value, next 12 months"] == format_value(fit.totals["clv"], "money")
    assert shown["Expected purchases, next 365 days"] == format_value(fit.totals["expected_purchases_365"], "count")
    customers = _table_with(at, "probability_alive")
    # The highest-value customers, in the package's order; the CSV has everyone.
    assert len(table) > TABLE_ROWS_SHOWN
    assert customers["customer_id"].tolist() == table["customer_id"].head(TABLE_ROWS_SHOWN).tolist()
    assert customers["clv"].tolist() == pytest.approx(table["clv"].head(TABLE_ROWS_SHOWN).tolist())
    assert any(f"of {len(table):,}; the CSV has them all" in caption.value for caption in at.caption)
    assert not customers[["customer_id", "name", "customer_type", "region"]].isin(["None", "nan", "NaT"]).any().any()
    # The closed tabs computed nothing.
    assert "ROC AUC" not in shown and "Customers flagged" not in shown

    _switch(at, "Model check")
    shown = _metrics(at)
    check = clv.holdout_report(demo_db, filters, clv.default_cut_date(span.start, span.end), unit="weeks",
                               observation_end=span.end).check
    assert shown["Predicted purchases after the cut"] == format_value(check.total_predicted, "count")
    assert shown["Actual purchases after the cut"] == format_value(check.total_actual, "count")

    _switch(at, "Early warning")
    shown = _metrics(at)
    warning = risk.early_warning(demo_db, filters)
    assert shown["ROC AUC"] == format_value(warning.model_figures["roc_auc"], "ratio")
    assert shown["Precision in the top 10%"] == format_value(warning.model_figures["precision_top_decile"], "share")
    at_risk = _table_with(at, "reasons")
    assert at_risk["customer_id"].tolist() == warning.at_risk["customer_id"].head(TABLE_ROWS_SHOWN).tolist()
    assert at_risk["risk"].tolist() == pytest.approx(warning.at_risk["risk"].head(TABLE_ROWS_SHOWN).tolist())
    comparison = _table_with(at, "roc_auc")
    assert comparison["roc_auc"].tolist() == pytest.approx([warning.model_figures["roc_auc"],
                                                            warning.baseline_figures["roc_auc"]])

    _switch(at, "Unusual customers")
    shown = _metrics(at)
    unusual = risk.unusual_customers(demo_db, filters)
    assert shown["Customers flagged"] == format_value(len(unusual.table), "count")
    assert _table_with(at, "what_changed")["customer_id"].tolist() == unusual.table["customer_id"].tolist()

    flagged = int(shown["Customers flagged"].replace(",", ""))
    assert flagged > 10

    _switch(at, "What-if")
    shown = _metrics(at)
    scenario = whatif.what_if(whatif.current_rates(demo_db, filters), 5.0, 0.0).comparison.set_index(
        ["months", "figure"])
    assert shown["Customers at the end after 12 months"] == format_value(
        scenario.loc[(12, "Customers at the end"), "scenario"], "count")
    assert shown["Revenue after 36 months"] == format_value(scenario.loc[(36, "Revenue"), "scenario"], "money")

    assert "—" not in shown.values() and "nan" not in " ".join(shown.values()).lower()


def test_what_if_inputs_change_the_figures(app_test, demo_db):
    at = _open(app_test, "What-if")
    at.number_input(key="wi_churn").set_value(0.0)
    at.number_input(key="wi_extra").set_value(25)
    at.run()
    assert not at.exception
    shown = _metrics(at)
    scenario = whatif.what_if(whatif.current_rates(demo_db, make_filters(demo_db)), 0.0, 25.0).comparison.set_index(
        ["months", "figure"])
    assert shown["Customers at the end after 36 months"] == format_value(
        scenario.loc[(36, "Customers at the end"), "scenario"], "count")
    assert shown["Gross profit after 12 months"] == format_value(scenario.loc[(12, "Gross profit"), "scenario"],
                                                                 "money")
    assert any("25 more customers a month" in markdown.value for markdown in at.markdown)


def test_clv_settings_change_the_values(app_test, demo_db):
    at = _open(app_test)
    at.number_input(key="lv_horizon").set_value(24)
    at.number_input(key="lv_discount").set_value(2.0)
    at.run()
    assert not at.exception
    filters = make_filters(demo_db)
    _, fit = clv.clv_table(demo_db, filters, observation_end=filters.end, horizon_months=24,
                           monthly_discount_rate=0.02)
    assert _metrics(at)["Lifetime value, next 24 months"] == format_value(fit.totals["clv"], "money")


def test_too_little_data_says_the_models_cannot_be_trusted_yet(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from customer_value import query
    from tests.conftest import APP_PATH

    database = tiny_database(tmp_path / "small.duckdb", transactions=[
        ("A", d("2025-01-05"), 100.0), ("A", d("2025-02-10"), 120.0), ("B", d("2025-03-01"), 80.0),
        ("C", d("2025-04-15"), 60.0), ("C", d("2025-06-30"), 90.0)])
    database.connection.execute("checkpoint")
    monkeypatch.setenv("CV_DB_PATH", str(database.path))
    query.clear_cache()
    at = _open(AppTest.from_file(APP_PATH, default_timeout=120))
    warnings = [" ".join(warning.value for warning in at.warning)]
    for tab in ("Model check", "Early warning", "Unusual customers"):
        _switch(at, tab)
        warnings.append(" ".join(warning.value for warning in at.warning))
        assert "ROC AUC" not in _metrics(at)
    assert "lifetime-value model cannot be trusted yet" in warnings[0]
    assert "hold-out check cannot be made yet" in warnings[1]
    assert "early-warning model cannot be trusted yet" in warnings[2]
    assert "Unusual customers cannot be listed yet" in warnings[3]
    assert date(2025, 6, 30) == data_range(database).end
