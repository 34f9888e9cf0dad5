"""The segments page (pages/segments.py) through app.py on the demo data."""

from __future__ import annotations

from datetime import date

from customer_value import segments
from customer_value.clusters import cluster_customers
from customer_value.dataset import make_filters
from customer_value.formatting import format_value


def _open(app_test):
    at = app_test.run()
    at.switch_page("pages/segments.py")
    at.run()
    assert not at.exception
    return at


def _tab(at, title):
    return next(tab for tab in at.tabs if tab.label == title)


def _table(block, column):
    """The first table in ``block`` that has ``column``."""
    return next(frame.value for frame in block.dataframe if column in frame.value.columns)


def test_grid_counts_add_up_and_match_the_package(app_test, demo_db):
    at = _open(app_test)
    filters = make_filters(demo_db)
    frame = segments.customer_segments(demo_db, filters)
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["Customers who bought"] == format_value(len(frame), "count")
    assert metrics["Revenue"] == format_value(float(frame["revenue"].sum()), "money")
    assert metrics["Top 20% bring"] == format_value(segments.revenue_share_of_top(frame, 0.2), "share")
    grid = _table(_tab(at, "Value x margin grid"), "Recommended treatment")
    assert grid["Cell"].tolist() == ["AA", "AB", "BA", "BB"]
    assert int(grid["Customers"].sum()) == len(frame) > 1_000
    expected = segments.grid_summary(frame, segments.period_feedback(demo_db, filters))
    assert grid["Customers"].tolist() == expected["customers"].tolist()
    assert grid["Share of revenue"].tolist() == [format_value(v, "share") for v in expected["revenue_share"]]
    assert grid["Churn rate"].tolist() == [format_value(v, "share") for v in expected["churn_rate"]]
    assert grid["NPS"].tolist() == [format_value(v, "points") for v in expected["nps"]]
    shown = " ".join(grid.astype(str).to_numpy().ravel())
    assert "nan" not in shown.lower() and "None" not in shown
    rfm = _table(_tab(at, "RFM"), "Rule (R, F)")
    assert int(rfm["Customers"].sum()) == len(frame)
    assert dict(zip(rfm["Segment"], rfm["Customers"], strict=True)) == \
        frame["rfm_segment"].value_counts().to_dict()


def test_drill_down_lists_exactly_the_cells_customers(app_test, demo_db):
    at = _open(app_test)
    frame = segments.customer_segments(demo_db, make_filters(demo_db))
    at.selectbox(key="seg_grid_drill").set_value("AB")
    at.run()
    assert not at.exception
    listed = _table(_tab(at, "Value x margin grid"), "Customer id")
    expected = frame.loc[frame["grid_cell"] == "AB", "customer_id"]
    assert 0 < len(expected) < 1_000
    assert sorted(listed["Customer id"]) == sorted(expected)
    assert set(listed["Cell"]) == {"AB"}
    # A cell of more than 1,000 customers shows the 1,000 with the highest revenue and says how many there are.
    at.selectbox(key="seg_grid_drill").set_value("BB")
    at.run()
    tab = _tab(at, "Value x margin grid")
    listed = _table(tab, "Customer id")
    expected = segments.drill_down(frame, "grid_cell", "BB")
    assert len(expected) > 1_000
    assert listed["Customer id"].tolist() == expected["customer_id"].head(1_000).tolist()
    assert any(f"{len(expected):,} customers in BB" in caption.value for caption in tab.caption)
    at.selectbox(key="seg_rfm_drill").set_value("Champions")
    at.run()
    listed = _table(_tab(at, "RFM"), "Customer id")
    assert sorted(listed["Customer id"]) == sorted(frame.loc[frame["rfm_segment"] == "Champions", "customer_id"])


def test_filters_threshold_and_attribute_change_the_figures(app_test, demo_db):
    at = _open(app_test)
    at.multiselect(key="f_region").select("West")
    at.number_input(key="seg_margin_threshold").set_value(1500.0)
    at.selectbox(key="seg_attribute").set_value("sales_rep")
    at.run()
    assert not at.exception
    filters = make_filters(demo_db, regions=("West",))
    frame = segments.customer_segments(demo_db, filters, margin_threshold=1500.0)
    assert {m.label: m.value for m in at.metric}["Margin threshold"] == "1,500"
    grid = _table(_tab(at, "Value x margin grid"), "Recommended treatment")
    assert dict(zip(grid["Cell"], grid["Customers"], strict=True)) == frame["grid_cell"].value_counts().to_dict()
    parts = _table(_tab(at, "Contribution"), "Sales rep")
    expected = segments.contribution(frame, "sales_rep")
    assert parts["Sales rep"].tolist() == expected["sales_rep"].tolist()
    assert parts["Customers"].tolist() == expected["customers"].tolist()


def test_clusters_lifecycle_and_migration_show_the_package_results(app_test, demo_db):
    at = _open(app_test)
    at.selectbox(key="seg_k").set_value(4)
    at.run()
    assert not at.exception
    filters = make_filters(demo_db)
    frame = segments.customer_segments(demo_db, filters)
    clusters = cluster_customers(frame, k=4)
    table = _table(_tab(at, "Clusters"), "Description")
    assert table["Description"].tolist() == clusters.profiles["description"].tolist()
    assert table["Customers"].tolist() == clusters.profiles["customers"].tolist()
    assert int(table["Customers"].sum()) == len(frame)

    _, funnel, _ = segments.lifecycle(demo_db, filters)
    shown_funnel = _table(_tab(at, "Lifecycle"), "Rung")
    assert shown_funnel["Reached"].tolist() == funnel["reached"].tolist()
    assert shown_funnel["Conversion"].iloc[0] == "—"

    moved = segments.migration(demo_db, filters.previous(), filters)
    metrics = {m.label: m.value for m in _tab(at, "Migration").metric}
    assert metrics["Upgraded"] == format_value(moved["movements"]["upgraded"], "count")
    assert metrics["Left"] == format_value(moved["movements"]["left"], "count")
    matrix = _table(_tab(at, "Migration"), "left")
    assert int(matrix.drop(columns="from").to_numpy().sum()) == len(moved["customers"])


def test_a_period_without_purchases_says_so(app_test):
    at = _open(app_test)
    at.selectbox(key="f_period").set_value("custom")
    at.run()
    at.date_input(key="f_range").set_value((date(2019, 1, 1), date(2019, 12, 31)))
    at.run()
    assert not at.exception
    assert any("No customer in this selection bought" in info.value for info in at.info)


def test_without_cost_data_the_page_shows_volume_classes_and_says_why(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from customer_value import query
    from tests.builders import d, tiny_database
    from tests.conftest import APP_PATH

    # Five customers, no cost on any line: revenue 500, 300, 100, 60, 40 (total 1000, 80% = 800).
    transactions = [(f"C{i}", d(day), amount) for i, (day, amount) in
                    enumerate([("2024-11-20", 500), ("2024-10-01", 300), ("2024-06-01", 100), ("2024-03-01", 60),
                               ("2024-12-01", 40)], start=1)]
    transactions.append(("C1", d("2024-12-10"), 0.5))
    path = tmp_path / "no_cost.duckdb"
    tiny_database(path, transactions=transactions)
    monkeypatch.setenv("CV_DB_PATH", str(path))
    query.clear_cache()
    at = AppTest.from_file(APP_PATH, default_timeout=120).run()
    at.switch_page("pages/segments.py")
    at.run()
    assert not at.exception
    assert any("cost or gross profit" in warning.value for warning in at.warning)
    grid = _table(_tab(at, "Value x margin grid"), "Recommended treatment")
    # C1 (500.50) and C2 (300; above it 500.50 < 800) are volume A; C3 starts at 800.50.
    assert dict(zip(grid["Cell"], grid["Customers"], strict=True)) == {"A": 2, "B": 3}
    assert grid["Gross profit"].tolist() == ["—", "—"]
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["Margin threshold"] == "—"
