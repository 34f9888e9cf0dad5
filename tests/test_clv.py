"""Lifetime value on a database: the summary query, the fit, group totals, hold-out, the ``clv`` command."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from customer_value import clv, clv_models
from customer_value import db as dbmod
from customer_value.cli import main
from customer_value.commands.clv import write_csv
from customer_value.dataset import make_filters
from customer_value.derive import rebuild_derived
from customer_value.filters import Scope
from tests.builders import d, online_retail_database, tiny_database


@pytest.fixture()
def small_shop(tmp_path):
    """Three customers, written out: returns, a same-day cancellation, a contract end."""
    return tiny_database(
        tmp_path / "small.duckdb",
        transactions=[
            ("A", d("2024-01-01"), 100),
            ("A", d("2024-01-11"), 60),
            ("A", d("2024-01-11"), -20, None, True),   # cancelled on a purchase day: that day nets 40
            ("A", d("2024-01-21"), 80),
            ("A", d("2024-01-25"), -30),               # a return on its own: not a purchase day
            ("B", d("2024-01-15"), 50),
            ("C", d("2024-01-05"), -10, None, True),   # only a cancellation: never a buyer
        ],
        customers=[("A", "School", "North", "Ann", None), ("B", "School", "South", "Bob", d("2024-01-20")),
                   ("C", "School", "South", "Bob", None)],
    )


def test_summary_query_by_hand(small_shop):
    summary = clv.summary_frame(small_shop, None, unit="days", observation_end=date(2024, 1, 31)).set_index(
        "customer_id")
    assert summary.index.tolist() == ["A", "B"]
    # A: purchase days 01-01, 01-11 (net 40), 01-21 -> 2 repeats, 20 days, T 30 days, (40 + 80) / 2.
    assert summary.loc["A", ["frequency", "recency", "T", "monetary_value"]].tolist() == [2, 20, 30, 60]
    assert summary.loc["B", ["frequency", "recency", "T", "monetary_value"]].tolist() == [0, 0, 16, 0]
    assert summary.loc["B", "churn_date"] == date(2024, 1, 20)
    weeks = clv.summary_frame(small_shop, None, unit="weeks", observation_end=date(2024, 1, 31))
    assert weeks["T"].tolist() == pytest.approx([30 / 7, 16 / 7])
    # The observation end cuts history: on 01-15 A has one repeat and B just arrived.
    early = clv.summary_frame(small_shop, None, unit="days", observation_end=date(2024, 1, 15)).set_index(
        "customer_id")
    assert early.loc["A", ["frequency", "recency", "T", "monetary_value"]].tolist() == [1, 10, 14, 40]
    assert early.loc["B", "T"] == 0


def test_too_little_history_is_not_fitted(small_shop):
    filters = make_filters(small_shop, period="all_time")
    table, result = clv.clv_table(small_shop, filters, unit="days")
    assert not result.trusted and result.bgnbd is None and result.gamma_gamma is None
    assert result.reason.startswith("The lifetime-value model cannot be trusted yet, because only 2 customers")
    assert "clv" not in table.columns and len(table) == 2
    report = clv.holdout_report(small_shop, filters, date(2024, 1, 10), unit="days")
    assert not report.trusted and report.check is None and "only 1 customers have bought by the cut date" in \
        report.reason


def test_a_fit_that_does_not_converge_leaves_the_summary_in_id_order(demo_db, monkeypatch):
    filters = make_filters(demo_db)

    def not_converging(*args, **kwargs):
        raise clv_models.ModelFitError("BG/NBD: the optimiser stopped without converging (test)")

    monkeypatch.setattr(clv_models, "fit_bgnbd", not_converging)
    table, result = clv.clv_table(demo_db, filters, unit="days", horizon_months=7)
    assert not result.trusted and "its fit did not converge: BG/NBD: the optimiser stopped" in result.reason
    # The summary as summary_frame gives it: every column, by customer id, no prediction; and each customer's
    # segments of the period, the same as a fitted table gives them (another horizon: the failed fit is kept).
    summary = clv.summary_frame(demo_db, filters, unit="days")
    assert list(table.columns) == [*clv.SUMMARY_COLUMNS, "grid_cell", "rfm_segment"]
    pd.testing.assert_frame_equal(table[clv.SUMMARY_COLUMNS], summary)
    assert table["customer_id"].is_monotonic_increasing
    monkeypatch.undo()
    fitted, fitted_result = clv.clv_table(demo_db, filters, unit="days", horizon_months=8)
    assert fitted_result.trusted
    segments_by_id = fitted.set_index("customer_id")[["grid_cell", "rfm_segment"]]
    pd.testing.assert_frame_equal(table.set_index("customer_id")[["grid_cell", "rfm_segment"]],
                                  segments_by_id.loc[table["customer_id"]])


def test_no_repeat_buyers_is_not_fitted(tmp_path):
    one_timers = [(f"K{number:03d}", date(2024, 1, 1 + number % 28), 10 + number) for number in range(320)]
    database = tiny_database(tmp_path / "once.duckdb", transactions=one_timers)
    _, result = clv.clv_table(database, make_filters(database, period="all_time"))
    assert not result.trusted
    assert "because only 0 customers have bought more than once" in result.reason
    assert (result.n_customers, result.n_repeat_buyers) == (320, 0)


def test_bad_settings_are_refused(demo_db):
    filters = make_filters(demo_db)
    with pytest.raises(clv.UserFacingError, match="horizon"):
        clv.clv_table(demo_db, filters, horizon_months=0)
    with pytest.raises(clv.UserFacingError, match="discount"):
        clv.clv_table(demo_db, filters, monthly_discount_rate=-0.1)
    with pytest.raises(clv.UserFacingError, match="unit"):
        clv.clv_table(demo_db, filters, unit="months")


def test_clv_table_on_the_demo(demo_db):
    filters = make_filters(demo_db)
    table, result = clv.clv_table(demo_db, filters)
    assert result.trusted and result.reason is None
    assert result.bgnbd.converged and result.bgnbd.caveat == ""
    assert result.observation_end == filters.end
    assert result.n_customers == len(table) == table["customer_id"].nunique()
    assert result.n_repeat_buyers == int((table["frequency"] > 0).sum())
    for column in clv.PREDICTION_COLUMNS:
        assert table[column].notna().all() and (table[column] >= 0).all()
    assert (table["probability_alive"] <= 1).all()
    # Largest value first, equal values by customer id (the customers whose contract ended are all worth 0).
    worth = table["clv"].to_numpy()
    assert (np.diff(worth) <= 0).all()
    same = worth[1:] == worth[:-1]
    ids = table["customer_id"].to_numpy(dtype=object)
    assert same.sum() > 0 and all(before < after for before, after in zip(ids[:-1][same], ids[1:][same],
                                                                          strict=True))
    assert (table["expected_purchases_30"] <= table["expected_purchases_90"]).all()
    assert (table["expected_purchases_90"] <= table["expected_purchases_365"]).all()
    assert table["clv"].is_monotonic_decreasing
    assert result.totals["clv"] == pytest.approx(table["clv"].sum())
    # The page and the command show exactly the model functions' figures for each customer.
    live = table[table["churn_date"].isna()]
    frequency, recency, age, spend = (live[c].to_numpy() for c in ("frequency", "recency", "T", "monetary_value"))
    np.testing.assert_allclose(live["expected_purchases_90"],
                               clv_models.expected_purchases(result.bgnbd, 90 / 7, frequency, recency, age))
    models = clv.fit_spend_models(table)
    expected_spend, basis = clv.expected_spend_by_type(models, live["customer_type"], frequency, spend)
    np.testing.assert_allclose(live["expected_spend"], expected_spend)
    assert live["spend_model"].tolist() == basis.tolist()
    np.testing.assert_allclose(live["clv"], expected_spend * clv_models.discounted_purchases(
        result.bgnbd, frequency, recency, age, unit="weeks"))
    # Every demo customer type has enough repeat buyers for a spend model of its own, with a finite mean.
    assert sorted(row["spend_model"] for row in result.spend_models) == sorted(table["customer_type"].unique())
    assert all(row["q"] > 1 for row in result.spend_models)
    # Customers whose contract ended are worth nothing more.
    ended = table[table["churn_date"].notna() & (pd.to_datetime(table["churn_date"]) <= pd.Timestamp(filters.end))]
    assert len(ended) == result.contracts_ended > 0
    assert (ended["clv"] == 0).all() and (ended["probability_alive"] == 0).all()


def test_unit_changes_parameters_not_predictions(demo_db):
    filters = make_filters(demo_db)
    weeks, in_weeks = clv.clv_table(demo_db, filters, unit="weeks")
    days, in_days = clv.clv_table(demo_db, filters, unit="days")
    # alpha is a time scale: 7 times larger in days; the shapes do not change.
    assert in_days.bgnbd.alpha == pytest.approx(7 * in_weeks.bgnbd.alpha, rel=1e-3)
    assert in_days.bgnbd.r == pytest.approx(in_weeks.bgnbd.r, rel=1e-3)
    merged = weeks.merge(days, on="customer_id", suffixes=("_weeks", "_days"))
    np.testing.assert_allclose(merged["expected_purchases_365_weeks"], merged["expected_purchases_365_days"],
                               rtol=1e-3, atol=1e-6)


def test_group_totals_add_up(demo_db):
    filters = make_filters(demo_db)
    table, _ = clv.clv_table(demo_db, filters)
    for level in clv.GROUP_LEVELS:
        groups = clv.clv_by_group(table, level)
        assert groups["customers"].sum() == len(table)
        assert groups["clv"].sum() == pytest.approx(table["clv"].sum())
        assert groups["share_clv"].sum() == pytest.approx(1.0)
        assert groups["clv"].is_monotonic_decreasing
    cells = clv.clv_by_group(table, "grid_cell").set_index("grid_cell")
    # Grid cells are the segment page's: customers who bought in the period, the rest apart.
    from customer_value.segments import customer_segments
    segments = customer_segments(demo_db, filters)
    assert cells.drop(index=clv.NOT_IN_PERIOD)["customers"].sum() == len(segments)
    assert cells.loc["AA", "customers"] == int((segments["grid_cell"] == "AA").sum())
    with pytest.raises(clv.UserFacingError, match="no column"):
        clv.clv_by_group(table, "favourite_colour")


def test_a_new_period_start_or_w_keeps_the_fit_and_brings_its_own_segments(demo_db):
    from dataclasses import replace

    from customer_value.segments import customer_segments

    filters = make_filters(demo_db)
    year, year_fit = clv.clv_table(demo_db, filters)
    # The last quarter of the same period, with another W: the same observation end, so the same fit.
    quarter_start = (pd.Timestamp(filters.end) - pd.DateOffset(months=3) + pd.Timedelta(days=1)).date()
    quarter_filters = replace(filters, start=quarter_start, window_days=60)
    quarter, quarter_fit = clv.clv_table(demo_db, quarter_filters)
    assert quarter_fit is year_fit
    value_columns = [column for column in year.columns if column not in ("grid_cell", "rfm_segment")]
    pd.testing.assert_frame_equal(quarter[value_columns], year[value_columns])
    assert list(quarter.columns) == list(year.columns)
    # The segment columns are each period's own: fewer customers bought in the quarter than in the year.
    for period_filters, table in ((filters, year), (quarter_filters, quarter)):
        segments = customer_segments(demo_db, period_filters).set_index("customer_id")
        in_period = table[table["grid_cell"] != clv.NOT_IN_PERIOD].set_index("customer_id")
        assert len(in_period) == len(segments)
        assert in_period["grid_cell"].to_dict() == segments.loc[in_period.index, "grid_cell"].to_dict()
        assert in_period["rfm_segment"].to_dict() == segments.loc[in_period.index, "rfm_segment"].to_dict()
    assert (quarter["grid_cell"] == clv.NOT_IN_PERIOD).sum() > (year["grid_cell"] == clv.NOT_IN_PERIOD).sum()
    # A period nobody bought in (before the data), valued up to the same day: the same fit, nobody labelled.
    first_day = date.fromisoformat(demo_db.meta("data_start"))
    empty_filters = replace(filters, start=date(first_day.year - 1, 1, 1), end=date(first_day.year - 1, 12, 31))
    empty, empty_fit = clv.clv_table(demo_db, empty_filters, observation_end=filters.end)
    assert empty_fit is year_fit
    assert (empty["grid_cell"] == clv.NOT_IN_PERIOD).all() and (empty["rfm_segment"] == clv.NOT_IN_PERIOD).all()
    pd.testing.assert_frame_equal(empty[value_columns], year[value_columns])
    # Other chosen customers are another fit.
    region = sorted(year["region"].dropna().unique())[0]
    _, region_fit = clv.clv_table(demo_db, replace(filters, regions=(region,)))
    assert region_fit is not year_fit and region_fit.n_customers < year_fit.n_customers


def test_a_load_landing_during_the_fit_never_leaves_old_figures_under_the_new_data(writable_demo_db, monkeypatch):
    from tests.test_loader_history import add_hand_batch

    db = writable_demo_db
    filters = make_filters(db)
    compute_fit = clv._FITS.get_or_compute

    def fit_then_load(key, compute):
        fitted = compute_fit(key, compute)
        monkeypatch.setattr(clv._FITS, "get_or_compute", compute_fit)
        add_hand_batch(db)  # restates customer C00001 in another region and adds a buyer
        return fitted

    monkeypatch.setattr(clv._FITS, "get_or_compute", fit_then_load)
    with pytest.raises(clv.UserFacingError, match="data changed"):
        clv.clv_table(db, filters)
    # The next request computes the new data's fit; its rows and its totals agree.
    table, result = clv.clv_table(db, filters)
    assert len(table) == result.n_customers
    assert table["clv"].sum() == pytest.approx(result.totals["clv"])
    assert table.loc[table["customer_id"] == "C00001", "region"].tolist() == ["West"]


def test_scope_limits_the_customers(demo_db):
    filters = make_filters(demo_db)
    table, result = clv.clv_table(demo_db, filters, scope=Scope(regions=("West",)))
    assert set(table["region"]) == {"West"} and result.n_customers == len(table)


def test_holdout_report_on_the_demo(demo_db):
    filters = make_filters(demo_db)
    report = clv.holdout_report(demo_db, filters, date(2025, 6, 30), time_step="months")
    assert report.trusted and report.check is not None
    check = report.check
    assert check.by_frequency["customers"].sum() == check.n_customers
    assert check.over_time["actual_cumulative"].iloc[-1] == check.total_actual
    assert check.over_time["date"].iloc[-1] == filters.end
    assert check.mae >= 0 and check.total_predicted > 0
    wrong = clv.holdout_report(demo_db, filters, filters.end)
    assert not wrong.trusted and "must lie before the observation end" in wrong.reason


def test_default_cut_date():
    assert clv.default_cut_date(date(2023, 1, 1), date(2025, 12, 31)) == date(2025, 1, 1)   # 52 weeks at most
    assert clv.default_cut_date(date(2025, 7, 1), date(2025, 12, 31)) == date(2025, 10, 1)  # 13 weeks at least


# ----------------------------------------------------------------------------- real data

def cdnow_database(path, real_data_dir) -> dbmod.Database:
    """The CDNOW sample in a database, one order per record, no customer attributes."""
    raw = pd.read_csv(real_data_dir / "cdnow_sample" / "CDNOW_sample.txt", sep=r"\s+", header=None,
                      names=["original_id", "customer_id", "date", "cds", "amount"], dtype={"date": str})
    frame = pd.DataFrame({
        "order_id": [f"R{number}" for number in range(len(raw))],
        "customer_id": raw["customer_id"].astype(str),
        "order_date": pd.to_datetime(raw["date"], format="%Y%m%d").dt.date,
        "amount": raw["amount"],
        "quantity": raw["cds"],
    })
    database = dbmod.connect(path)
    con = database.cursor()
    con.execute("begin transaction")
    con.execute("insert into load_batches (batch_id, kind, source_name, loaded_at, loaded_by) "
                "values (nextval('batch_id_seq'), 'transactions', 'CDNOW_sample.txt', current_timestamp, 'test')")
    batch_id = con.execute("select max(batch_id) from load_batches").fetchall()[0][0]
    con.register("incoming", frame)
    con.execute("insert into transactions select md5_number(order_id), order_id, 1, customer_id, order_date, amount, "
                "quantity, null, null, null, false, ? from incoming", [batch_id])
    con.unregister("incoming")
    rebuild_derived(con)
    dbmod.bump_data_version(con)
    con.execute("commit")
    return database


def test_cdnow_through_the_database(tmp_path, real_data_dir):
    database = cdnow_database(tmp_path / "cdnow.duckdb", real_data_dir)
    filters = make_filters(database, period="all_time")
    table, result = clv.clv_table(database, filters, unit="weeks", observation_end=date(1997, 9, 30))
    # Eight of the paper's 2,357 customers have a single record of one CD for $0.00. A purchase day needs
    # positive revenue (customer_days.is_purchase), so here they are not buyers; the paper's own estimates are
    # reproduced from the raw records in test_clv_models.py.
    raw = pd.read_csv(real_data_dir / "cdnow_sample" / "CDNOW_sample.txt", sep=r"\s+", header=None,
                      names=["original_id", "customer_id", "date", "cds", "amount"], dtype={"date": str})
    paid = raw[raw["amount"] > 0].assign(date=lambda frame: pd.to_datetime(frame["date"], format="%Y%m%d"))
    assert result.trusted and result.n_customers == paid["customer_id"].nunique() == 2357 - 8
    summary = clv_models.summary_table(paid, "1997-09-30", unit="weeks")
    expected = clv_models.fit_bgnbd(summary["frequency"], summary["recency"], summary["T"])
    fit = result.bgnbd
    assert (fit.r, fit.alpha, fit.a, fit.b) == pytest.approx((expected.r, expected.alpha, expected.a, expected.b),
                                                             rel=1e-6)
    assert (round(fit.r, 2), round(fit.alpha, 1), round(fit.a, 2), round(fit.b, 1)) == (0.24, 4.4, 0.79, 2.4)
    report = clv.holdout_report(database, filters, date(1997, 9, 30), observation_end=date(1998, 6, 30))
    assert report.trusted and report.check.n_customers == result.n_customers
    assert report.check.fit.log_likelihood == pytest.approx(fit.log_likelihood)
    assert abs(report.check.total_error_share) < 0.15
    # The database path (summary and counts in SQL) and the pure function on the records agree.
    direct = clv_models.holdout_check(paid, "1997-09-30", "1998-06-30", unit="weeks")
    assert report.check.total_actual == direct.total_actual
    assert report.check.total_predicted == pytest.approx(direct.total_predicted, rel=1e-6)
    assert report.check.over_time["actual_cumulative"].tolist() == direct.over_time["actual_cumulative"].tolist()


@pytest.mark.parametrize("export", ["france.csv", "germany.csv"])
def test_real_exports_are_too_small_to_trust(tmp_path, real_data_dir, export):
    database, lines = online_retail_database(tmp_path / "real.duckdb", real_data_dir / export)
    filters = make_filters(database, period="all_time")
    table, result = clv.clv_table(database, filters)
    purchases = lines[lines["customer_id"].notna() & ~lines["is_cancellation"] & (lines["amount"] > 0)]
    buyers = purchases["customer_id"].nunique()
    assert not result.trusted and result.n_customers == buyers == len(table)
    assert f"only {buyers} customers" in result.reason
    # The summary still agrees with one computed directly from the export's lines.
    days = purchases.groupby("customer_id")["order_date"].agg(["nunique", "min"])
    summary = table.set_index("customer_id")
    assert (summary["frequency"] == days["nunique"].reindex(summary.index) - 1).all()
    age = (pd.Timestamp(filters.end) - pd.to_datetime(days["min"])).dt.days / 7
    np.testing.assert_allclose(summary["T"], age.reindex(summary.index))
    # Mean net revenue of the repeat purchase days (every line of a purchase day, returns included), here read
    # from the load's all-time sums: the period ends on the export's last day.
    day_revenue = lines[lines["customer_id"].notna()].groupby(["customer_id", "order_date"])["amount"].sum()
    purchase_days = day_revenue[day_revenue.index.isin(
        pd.MultiIndex.from_frame(purchases[["customer_id", "order_date"]]))].sort_index()
    first_day = purchase_days.groupby(level="customer_id").head(1).droplevel("order_date")
    repeat = purchase_days.groupby(level="customer_id").sum() - first_day
    frequency = days["nunique"] - 1
    expected_monetary = (repeat / frequency).where(frequency > 0, 0.0)
    np.testing.assert_allclose(summary["monetary_value"], expected_monetary.reindex(summary.index).astype(float),
                               atol=1e-9)


def test_customer_types_are_named_once_and_a_missing_one_is_unknown():
    codes, names = clv._type_codes(pd.Series(["School", None, "1", 1, "School", np.nan], dtype=object))
    assert names[codes].tolist() == ["School", "(unknown)", "1", "1", "School", "(unknown)"]
    assert len(names) == 3
    codes, names = clv._type_codes(pd.Series([], dtype=object))
    assert len(codes) == len(names) == 0


def test_the_whole_history_summary_from_the_load_sums_equals_the_day_rows(demo_db, monkeypatch):
    from dataclasses import replace

    from customer_value.query import run

    base = make_filters(demo_db)
    last_day = date.fromisoformat(demo_db.meta("data_end"))
    region = demo_db.cursor().execute("select min(region) from customer_dim").fetchone()[0]
    for filters, scope in ((base, None), (replace(base, regions=(region,)), None),
                           (base, Scope(regions=(region,)))):
        for end in (last_day, date(last_day.year + 1, 6, 30)):
            read = {whole: run(demo_db, "clv_summary", filters=filters, scope=scope, use_cache=False, params={
                "observation_end": end, "unit_days": 7, "whole_history": whole}).sort_values(
                    "customer_key", ignore_index=True) for whole in (True, False)}
            assert len(read[True]) > 100
            pd.testing.assert_frame_equal(read[True], read[False], check_exact=True)
    # The page's call picks the load's sums up to the last day and later, the day rows before it.
    whole_history = []
    original = clv.run

    def spy(db, name, **kwargs):
        if name == "clv_summary":
            whole_history.append(kwargs["params"]["whole_history"])
        return original(db, name, **kwargs)

    monkeypatch.setattr(clv, "run", spy)
    for end in (last_day, date(last_day.year + 1, 1, 1), date(last_day.year, 6, 30)):
        clv.summary_frame(demo_db, base, observation_end=end)
    assert whole_history == [True, True, False]


# ----------------------------------------------------------------------------- command line

def test_clv_command_json_and_csv(demo_db_path, tmp_path, capsys):
    out = tmp_path / "clv.csv"
    assert main(["clv", "--db", str(demo_db_path), "--json", "--csv", str(out), "--horizon-months", "24",
                 "--discount", "0.02", "--cut-date", "2025-06-30"]) == 0
    report = json.loads(capsys.readouterr().out)
    database = dbmod.connect(demo_db_path)
    table, result = clv.clv_table(database, make_filters(database), horizon_months=24, monthly_discount_rate=0.02)
    assert report["trusted"] and report["bgnbd"]["r"] == pytest.approx(result.bgnbd.r)
    assert report["totals"]["clv"] == pytest.approx(result.totals["clv"])
    assert report["holdout"]["cut_date"] == "2025-06-30" and report["holdout"]["total_actual"] > 0
    written = pd.read_csv(out)
    assert len(written) == report["customers_written"] == len(table)
    assert written["clv"].sum() == pytest.approx(table["clv"].sum())


def test_clv_command_text_on_too_little_history(small_shop, capsys):
    assert main(["clv", "--db", str(small_shop.path), "--unit", "days", "--period", "all_time"]) == 0
    text = capsys.readouterr().out
    assert "cannot be trusted yet, because only 2 customers" in text


def test_clv_command_bad_input(tmp_path, capsys):
    assert main(["clv", "--db", str(tmp_path / "missing.duckdb")]) == 2
    assert "there is no database" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["clv", "--db", str(tmp_path / "missing.duckdb"), "--discount", "5%"])
    assert "not a number" in capsys.readouterr().err


def test_csv_neutralises_formulas(tmp_path):
    path = tmp_path / "out.csv"
    write_csv(pd.DataFrame({"name": ["=HYPERLINK(\"http://x\")", "Plain"], "clv": [1.5, 2.0]}), path)
    assert pd.read_csv(path)["name"].tolist() == ["'=HYPERLINK(\"http://x\")", "Plain"]


def _gamma_gamma(p, q, v):
    return clv_models.GammaGammaFit(p=p, q=q, v=v, log_likelihood=0.0, converged=True, n_customers=50,
                                    excluded_nonpositive=0)


def test_expected_spend_by_type_by_hand():
    # Type U has its own model (p 2, q 3, v 10: mean 2 x 10 / 2 = 10); type T uses everybody's (1, 2, 5: mean 5).
    models = clv.SpendModels(by_type={"U": _gamma_gamma(2, 3, 10)}, pooled=_gamma_gamma(1, 2, 5), notes=[])
    spend, basis = clv.expected_spend_by_type(models, ["U", "U", "T", "T"], [0, 2, 0, 1], [0, 20, 0, 8])
    # U, two repeats of 20: 2 x (10 + 2 x 20) / (2 x 2 + 3 - 1) = 100 / 6; T, one repeat of 8: (5 + 8) / (1 + 1).
    assert spend.tolist() == pytest.approx([10.0, 100 / 6, 5.0, 6.5])
    assert basis.tolist() == ["U", "U", clv.ALL_CUSTOMERS, clv.ALL_CUSTOMERS]
    without_pooled = clv.SpendModels(by_type={"U": _gamma_gamma(2, 3, 10)}, pooled=None, notes=[])
    with pytest.raises(clv_models.ModelFitError):
        clv.expected_spend_by_type(without_pooled, ["T"], [0], [0])


def test_a_type_with_too_few_repeat_buyers_uses_everybodys_spend_model():
    rng = np.random.default_rng(3)
    big = pd.DataFrame({"customer_type": "Big", "frequency": rng.integers(1, 8, 60).astype(float),
                        "monetary_value": rng.gamma(4.0, 500.0, 60)})
    small = pd.DataFrame({"customer_type": "Small", "frequency": rng.integers(1, 8, 12).astype(float),
                          "monetary_value": rng.gamma(4.0, 50.0, 12)})
    models = clv.fit_spend_models(pd.concat([big, small], ignore_index=True))
    assert list(models.by_type) == ["Big"] and models.pooled.converged
    assert models.notes == ["Small: only 12 repeat buyers with a positive spend, so it uses the spend model of all "
                            "customers"]
    assert models.by_type["Big"].n_customers == 60 and models.pooled.n_customers == 72


def test_one_time_buyers_are_valued_at_their_own_types_mean_on_the_demo(demo_db):
    table, result = clv.clv_table(demo_db, make_filters(demo_db))
    means = {row["spend_model"]: row["mean_spend_per_purchase"] for row in result.spend_models}
    once = table[table["frequency"] == 0]
    assert len(once) > 0
    assert once["expected_spend"].tolist() == pytest.approx(once["customer_type"].map(means).tolist())
    # One model on everybody gave every one-time buyer the universities-inflated mean (q about 1.04); per type,
    # a one-time K-12 school is valued like a K-12 school, far below a university.
    pooled = clv_models.population_mean_spend(result.gamma_gamma)
    assert means["K-12 school"] < pooled / 5 < means["University"]
    assert any("valued at their type's mean" in warning for warning in result.warnings)
