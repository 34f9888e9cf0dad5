"""The segments page (pages/segments.py) through app.py on the demo data."""

from __future__ import annotations

import math
from datetime import date

import pytest

from customer_value import rfm, segments
from customer_value.clusters import cluster_customers
from customer_value.dataset import make_filters
from customer_value.formatting import format_value
from tests.conftest import open_tab


def _open(app_test, tab: str | None = None):
    at = app_test.run()
    at.switch_page("pages/segments.py")
    at.run()
    assert not at.exception, [exception.value for exception in at.exception]
    if tab is not None:
        _switch(at, tab)
    return at


def _switch(at, title: str):
    open_tab(at, "seg_tab", title)


def _tab(at, title):
    return next(tab for tab in at.tabs if tab.label == title)


def _table(block, column):
    """The first table in ``block`` that has ``column``."""
    return next(frame.value for frame in block.dataframe if column in frame.value.columns)


def _hand_top_20_share(revenues: list[float]) -> float:
    """"Top 20% bring X%" worked out directly: the top 0.2 n customers, the last one counted in part."""
    ordered = sorted(revenues, reverse=True)
    whole, part = divmod(0.2 * len(ordered), 1)
    top = sum(ordered[:int(whole)]) + part * ordered[int(whole)]
    return top / sum(ordered)


def test_grid_counts_add_up_and_match_the_package(app_test, demo_db):
    at = _open(app_test)
    filters = make_filters(demo_db)
    frame = segments.customer_segments(demo_db, filters)
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["Customers who bought"] == format_value(len(frame), "count")
    assert metrics["Revenue"] == format_value(float(frame["revenue"].sum()), "money")
    assert metrics["Top 20% bring"] == format_value(_hand_top_20_share(frame["revenue"].tolist()), "share")
    grid = _table(_tab(at, "Value x margin grid"), "Recommended treatment")
    assert grid["Cell"].tolist() == ["AA", "AB", "BA", "BB"]
    assert int(grid["Customers"].sum()) == len(frame) > 1_000
    # Each cell's count by hand from the customers' cells; shares of customers, revenue and profit make 100%.
    assert grid["Customers"].tolist() == [int((frame["grid_cell"] == cell).sum()) for cell in segments.GRID_CELLS]
    expected = segments.grid_summary(frame, segments.period_feedback(demo_db, filters))
    for share in ("customer_share", "revenue_share", "profit_share"):
        assert expected[share].sum() == pytest.approx(1.0)
    assert grid["Share of revenue"].tolist() == [format_value(v, "share") for v in expected["revenue_share"]]
    assert grid["Churn rate"].tolist() == [format_value(v, "share") for v in expected["churn_rate"]]
    assert grid["NPS"].tolist() == [format_value(v, "points") for v in expected["nps"]]
    assert grid["Recommended treatment"].tolist() == [segments.TREATMENTS[cell] for cell in segments.GRID_CELLS]
    shown = " ".join(grid.astype(str).to_numpy().ravel())
    assert "nan" not in shown.lower() and "None" not in shown
    # The 2 x 2 grid's cards carry each cell's count, shares and treatment.
    cards = [markdown.value for markdown in at.markdown if markdown.value.startswith("**A") or
             markdown.value.startswith("**B")]
    by_cell = expected.set_index("grid_cell")
    for cell, text in zip(segments.GRID_CELLS, cards, strict=True):
        assert text.startswith(f"**{cell} · {segments.CELL_NAMES[cell]}**")
        assert f"**{format_value(by_cell.loc[cell, 'customers'], 'count')}** customers" in text
        assert f"({format_value(by_cell.loc[cell, 'revenue_share'], 'share')})" in text
    treatments = [caption.value for caption in at.caption if caption.value.startswith("Treatment:")]
    assert treatments == [f"Treatment: {segments.TREATMENTS[cell]}" for cell in segments.GRID_CELLS]
    # Closed tabs computed nothing: the RFM table appears only once its tab is open.
    assert not [frame for frame in _tab(at, "RFM").dataframe if "Rule (R, F)" in frame.value.columns]
    _switch(at, "RFM")
    rfm = _table(_tab(at, "RFM"), "Rule (R, F)")
    assert int(rfm["Customers"].sum()) == len(frame)
    assert dict(zip(rfm["Segment"], rfm["Customers"], strict=True)) == \
        frame["rfm_segment"].value_counts().to_dict()


def test_pareto_tab_marks_the_hand_computed_point_and_the_tiers(app_test, demo_db):
    at = _open(app_test, "Pareto pyramid")
    frame = segments.customer_segments(demo_db, make_filters(demo_db))
    chart = _tab(at, "Pareto pyramid").get("plotly_chart")[0]
    import json
    marker = next(trace for trace in json.loads(chart.proto.spec)["data"] if trace.get("name") == "Top 20%")
    assert marker["x"] == [0.2]
    assert marker["y"][0] == pytest.approx(_hand_top_20_share(frame["revenue"].tolist()))
    tiers = _table(_tab(at, "Pareto pyramid"), "Tier")
    count = len(frame)
    # Tier sizes by hand: ceil(1%, 5%, 20% of n) customers from the top.
    sizes = [math.ceil(0.01 * count), math.ceil(0.05 * count), math.ceil(0.20 * count), count]
    assert tiers["Customers"].tolist() == [sizes[0], sizes[1] - sizes[0], sizes[2] - sizes[1], count - sizes[2]]
    ordered = sorted(frame["revenue"], reverse=True)
    top_share = sum(ordered[:sizes[0]]) / sum(ordered)
    assert tiers["Share of revenue"].iloc[0] == format_value(top_share, "share")


def test_drill_down_lists_exactly_the_cells_customers(app_test, demo_db):
    at = _open(app_test)
    frame = segments.customer_segments(demo_db, make_filters(demo_db))
    # No cell is listed until one is chosen: the grid draws without the customer list.
    assert at.selectbox(key="seg_grid_drill").value is None
    assert not [table for table in _tab(at, "Value x margin grid").dataframe
                if "Customer id" in table.value.columns]
    # Forgotten, so that the page lists the cell the way it does after a filter change: without classifying
    # every customer (the package checks that list against the classification, test_segments.py).
    segments._CLASSIFIED.clear()
    at.selectbox(key="seg_grid_drill").set_value("AB")
    at.run()
    assert not at.exception
    assert segments._CLASSIFIED.bytes_held == 0
    listed = _table(_tab(at, "Value x margin grid"), "Customer id")
    expected = frame.loc[frame["grid_cell"] == "AB", "customer_id"]
    assert 0 < len(expected) < 1_000
    assert sorted(listed["Customer id"]) == sorted(expected)
    assert set(listed["Cell"]) == {"AB"}
    # A cell of more than 1,000 customers shows the 1,000 with the highest revenue and says how many there are.
    segments._CLASSIFIED.clear()
    at.selectbox(key="seg_grid_drill").set_value("BB")
    at.run()
    assert segments._CLASSIFIED.bytes_held == 0
    tab = _tab(at, "Value x margin grid")
    listed = _table(tab, "Customer id")
    expected = segments.drill_down(frame, "grid_cell", "BB")
    assert len(expected) > 1_000
    assert listed["Customer id"].tolist() == expected["customer_id"].head(1_000).tolist()
    assert any(f"{len(expected):,} customers in BB" in caption.value for caption in tab.caption)
    _switch(at, "RFM")
    at.selectbox(key="seg_rfm_drill").set_value("Champions")
    at.run()
    listed = _table(_tab(at, "RFM"), "Customer id")
    assert sorted(listed["Customer id"]) == sorted(frame.loc[frame["rfm_segment"] == "Champions", "customer_id"])


def test_filters_threshold_and_attribute_change_the_figures(app_test, demo_db):
    at = _open(app_test, "Contribution")
    at.multiselect(key="f_region").select("West")
    at.number_input(key="seg_margin_threshold").set_value(1500.0)
    at.selectbox(key="seg_attribute").set_value("sales_rep")
    at.run()
    assert not at.exception
    filters = make_filters(demo_db, regions=("West",))
    frame = segments.customer_segments(demo_db, filters, margin_threshold=1500.0)
    assert {m.label: m.value for m in at.metric}["Margin threshold"] == "1,500"
    parts = _table(_tab(at, "Contribution"), "Sales rep")
    expected = segments.contribution(frame, "sales_rep")
    assert parts["Sales rep"].tolist() == expected["sales_rep"].tolist()
    assert parts["Customers"].tolist() == expected["customers"].tolist()
    assert int(parts["Customers"].sum()) == len(frame)
    _switch(at, "Value x margin grid")
    grid = _table(_tab(at, "Value x margin grid"), "Recommended treatment")
    assert dict(zip(grid["Cell"], grid["Customers"], strict=True)) == frame["grid_cell"].value_counts().to_dict()


def test_edited_rfm_rules_apply_on_the_page_and_bad_ones_are_refused(app_test, demo_db):
    at = _open(app_test, "RFM")
    frame = segments.customer_segments(demo_db, make_filters(demo_db))
    # Champions narrowed to R 5, F 5: the R 5, F 4 customers fall to the next rule that covers them (none: Other).
    at.session_state["seg_rules_editor"] = {"edited_rows": {0: {"f_min": 5}}, "added_rows": [], "deleted_rows": []}
    at.button(key="seg_rules_apply").click()
    at.run()
    assert not at.exception, [exception.value for exception in at.exception]
    table = _table(_tab(at, "RFM"), "Rule (R, F)")
    counts = dict(zip(table["Segment"], table["Customers"], strict=True))
    champions_55 = int(((frame["r_score"] == 5) & (frame["f_score"] == 5)).sum())
    r5_f4 = int(((frame["r_score"] == 5) & (frame["f_score"] == 4)).sum())
    assert counts["Champions"] == champions_55
    assert counts[rfm.OTHER_SEGMENT] == r5_f4 > 0
    assert table.set_index("Segment").loc["Champions", "Rule (R, F)"] == "R 5, F 5"
    assert int(table["Customers"].sum()) == len(frame)
    # A reversed range is refused with a message and the applied rules stay.
    at.session_state["seg_rules_editor"] = {"edited_rows": {1: {"r_min": 5, "r_max": 1}}, "added_rows": [],
                                            "deleted_rows": []}
    at.button(key="seg_rules_apply").click()
    at.run()
    assert any("lower bound is above" in error.value for error in at.error)
    assert dict(zip(*[_table(_tab(at, "RFM"), "Rule (R, F)")[c] for c in ("Segment", "Customers")],
                    strict=True))["Champions"] == champions_55
    at.button(key="seg_rules_reset").click()
    at.run()
    table = _table(_tab(at, "RFM"), "Rule (R, F)")
    assert dict(zip(table["Segment"], table["Customers"], strict=True)) == \
        frame["rfm_segment"].value_counts().to_dict()


def test_clusters_lifecycle_and_migration_show_the_package_results(app_test, demo_db):
    at = _open(app_test, "Clusters")
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
    # The Customer lists tab lists the clusters of the k set on the Clusters tab.
    _switch(at, "Customer lists")
    at.selectbox(key="seg_list_by").set_value("cluster")
    at.run()
    at.selectbox(key="seg_list_value").set_value(2)
    at.run()
    listed = _table(_tab(at, "Customer lists"), "Customer id")
    expected = segments.drill_down(frame.assign(cluster=clusters.labels), "cluster", 2)
    assert listed["Customer id"].tolist() == expected["customer_id"].head(1_000).tolist()

    _switch(at, "Lifecycle")
    ladder, funnel, _ = segments.lifecycle(demo_db, filters)
    shown_funnel = _table(_tab(at, "Lifecycle"), "Rung")
    assert shown_funnel["Reached"].tolist() == funnel["reached"].tolist()
    assert shown_funnel["Conversion"].iloc[0] == "—"
    assert shown_funnel["Conversion"].iloc[1:].tolist() == [format_value(v, "share") for v in funnel["conversion"][1:]]
    at.selectbox(key="seg_lifecycle_drill").set_value("Advocate")
    at.run()
    listed = _table(_tab(at, "Lifecycle"), "Customer id")
    advocates = ladder.loc[ladder["stage"] == "Advocate", "customer_id"]
    assert len(listed) == min(len(advocates), 1_000)
    assert set(listed["Customer id"]) <= set(advocates) and set(listed["Lifecycle stage"]) == {"Advocate"}

    _switch(at, "Migration")
    moved = segments.migration(demo_db, filters.previous(), filters)
    metrics = {m.label: m.value for m in _tab(at, "Migration").metric}
    assert metrics["Upgraded"] == format_value(moved["movements"]["upgraded"], "count")
    assert metrics["Left"] == format_value(moved["movements"]["left"], "count")
    matrix = _table(_tab(at, "Migration"), "left")
    assert int(matrix.drop(columns="from").to_numpy().sum()) == len(moved["customers"])
    at.selectbox(key="seg_migration_drill").set_value(("BB", "AA"))
    at.run()
    listed = _table(_tab(at, "Migration"), "Customer id")
    customers = moved["customers"]
    expected = customers.loc[(customers["grid_before"] == "BB") & (customers["grid_after"] == "AA"), "customer_id"]
    assert sorted(listed["Customer id"]) == sorted(expected) and len(expected) == moved["grid"].loc["BB", "AA"] > 0


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
