"""Lifetime-value models: hand-worked cases, the BG/NBD paper's CDNOW estimates, parameter recovery."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from customer_value import clv_models as models
from customer_value.clv_models import BGNBDFit, GammaGammaFit, ModelFitError
from customer_value.errors import UserFacingError


def given_bgnbd(r: float, alpha: float, a: float, b: float) -> BGNBDFit:
    return BGNBDFit(r=r, alpha=alpha, a=a, b=b, log_likelihood=0.0, converged=True, iterations=0, n_customers=0,
                    message="given")


def given_gamma_gamma(p: float, q: float, v: float) -> GammaGammaFit:
    return GammaGammaFit(p=p, q=q, v=v, log_likelihood=0.0, converged=True, n_customers=0, excluded_nonpositive=0)


HAND_TRANSACTIONS = pd.DataFrame(
    [
        ("A", "2024-01-01", 10.0),
        ("A", "2024-01-03 09:15", 20.0),   # two orders on one day: one purchase of 25
        ("A", "2024-01-03 17:40", 5.0),
        ("A", "2024-01-08", 30.0),
        ("B", "2024-01-05", 40.0),
        ("C", "2024-01-02", 15.0),
        ("C", "2024-01-12", 99.0),         # after the observation end
        ("D", "2024-01-20", 50.0),         # only after the observation end: not a customer yet
    ],
    columns=["customer_id", "date", "amount"],
).assign(date=lambda frame: pd.to_datetime(frame["date"], format="ISO8601"))


# ----------------------------------------------------------------------------- summary table

def test_summary_table_by_hand_in_days():
    table = models.summary_table(HAND_TRANSACTIONS, "2024-01-11", unit="days").set_index("customer_id")
    assert table.index.tolist() == ["A", "B", "C"]
    # A: purchase days 01-01, 01-03, 01-08 -> 2 repeats; 7 days first to last; 10 days to 01-11;
    # repeat days spent 25 and 30 -> 27.5.
    assert table.loc["A"].tolist() == [2.0, 7.0, 10.0, 27.5]
    assert table.loc["B"].tolist() == [0.0, 0.0, 6.0, 0.0]
    assert table.loc["C"].tolist() == [0.0, 0.0, 9.0, 0.0]


def test_summary_table_by_hand_in_weeks_and_from_a_start():
    weeks = models.summary_table(HAND_TRANSACTIONS, "2024-01-11", unit="weeks").set_index("customer_id")
    assert weeks.loc["A", "recency"] == pytest.approx(1.0)          # 7 days
    assert weeks.loc["A", "T"] == pytest.approx(10 / 7)
    later = models.summary_table(HAND_TRANSACTIONS, "2024-01-11", unit="days",
                                 period_start="2024-01-03").set_index("customer_id")
    # A's history now starts on 01-03: one repeat (01-08, 30), 5 days, 8 days; C bought before the start only.
    assert later.index.tolist() == ["A", "B"]
    assert later.loc["A"].tolist() == [1.0, 5.0, 8.0, 30.0]


def test_summary_table_does_not_depend_on_row_order():
    # Rows in customer and day order take a one-pass route, any other order a sort: the same table to the last
    # bit either way. E buys twelve times on 5 Jan (cents that do not add up exactly in floating point) and
    # once on 9 Jan: one repeat day worth 0.7 (up to rounding: it is the customer's total minus the first day).
    many = pd.DataFrame({"customer_id": "E", "date": pd.Timestamp("2024-01-05"),
                         "amount": [0.1, 0.2, 0.3, 0.7, 1.1, 2.3, 0.01, 0.07, 3.3, 0.9, 0.13, 0.17]})
    lines = pd.concat([HAND_TRANSACTIONS, many, pd.DataFrame({"customer_id": ["E"], "date": [pd.Timestamp(
        "2024-01-09")], "amount": [0.7]})], ignore_index=True)
    in_order = lines.sort_values(["customer_id", "date"], kind="stable")
    # Shuffled, except that E's twelve lines of 5 Jan keep their order among themselves: a day's amounts are
    # added in the order they come, so only then must the sums agree to the last bit.
    order = list(lines.sample(frac=1, random_state=7).index)
    same_day = list(range(len(HAND_TRANSACTIONS), len(HAND_TRANSACTIONS) + len(many)))
    slots = [position for position, row in enumerate(order) if row in same_day]
    for position, row in zip(slots, same_day, strict=True):
        order[position] = row
    shuffled = lines.loc[order]
    assert not shuffled["customer_id"].is_monotonic_increasing
    expected = models.summary_table(in_order, "2024-01-11", unit="days")
    assert expected.set_index("customer_id").loc["A"].tolist() == [2.0, 7.0, 10.0, 27.5]
    assert expected.set_index("customer_id").loc["E"].tolist() == pytest.approx([1.0, 4.0, 6.0, 0.7])
    pd.testing.assert_frame_equal(models.summary_table(shuffled, "2024-01-11", unit="days"), expected,
                                  check_exact=True)
    # The day sums themselves, which the table shows only through repeat days, are equal bit for bit too.
    by_order = models._purchase_days(in_order, "2024-01-11")
    by_sort = models._purchase_days(shuffled, "2024-01-11")
    assert np.array_equal(by_order.amount, by_sort.amount)
    assert by_order.amount[np.flatnonzero(by_order.ids[by_order.customer] == "E")[0]] == sum(many["amount"])


def test_summary_table_empty_and_bad_unit():
    empty = models.summary_table(HAND_TRANSACTIONS, "2023-12-31")
    assert empty.empty and list(empty.columns) == ["customer_id", "frequency", "recency", "T", "monetary_value"]
    with pytest.raises(UserFacingError, match="unit"):
        models.summary_table(HAND_TRANSACTIONS, "2024-01-11", unit="months")


# ----------------------------------------------------------------------------- BG/NBD by hand

def test_bgnbd_log_likelihood_by_hand():
    # r = alpha = a = b = 1.
    # x=0, T=1: (alpha / (alpha + T))^r = 1/2.
    # x=1, t_x=1, T=3: B(1,2)/B(1,1) * G(2)/(G(1) 4^2) + B(2,1)/B(1,1) * G(2)/(G(1) 2^2) = 1/32 + 1/8 = 5/32.
    value = models.bgnbd_log_likelihood([1, 1, 1, 1], [0, 1], [0, 1], [1, 3])
    assert value == pytest.approx(math.log(1 / 2) + math.log(5 / 32), rel=1e-12)
    # r=2, alpha=3, a=2, b=3; x=2, t_x=2, T=4:
    # B(2,5)/B(2,3) = 0.4, G(4) 3^2 / (G(2) 7^4) = 54/2401; B(3,4)/B(2,3) = 0.2, 54 / 5^4 = 0.0864.
    value = models.bgnbd_log_likelihood([2, 3, 2, 3], [2], [2], [4])
    assert value == pytest.approx(math.log(0.4 * 54 / 2401 + 0.2 * 0.0864), rel=1e-12)


@pytest.mark.parametrize("whole_weeks", [False, True])
def test_fitting_objective_matches_the_likelihood_and_its_gradient(whole_weeks, monkeypatch):
    rng = np.random.default_rng(7)
    ages = rng.uniform(5, 60, 400)
    # Whole weeks: many repeat buyers share a T (and a t_x), as real data in days do, so the sums per
    # distinct T gather several customers with different frequencies.
    data = models.simulate_bgnbd(0.5, 6.0, 1.2, 2.5, np.round(ages) if whole_weeks else ages, seed=7)
    if whole_weeks:
        data["recency"] = np.round(data["recency"])
        assert data.loc[data["frequency"] > 0, "T"].duplicated().sum() > 150
    arranged = models._BGNBDData(data["frequency"].to_numpy(), data["recency"].to_numpy(), data["T"].to_numpy())
    log_params = np.log([0.7, 4.0, 0.9, 3.1])
    value, gradient = models._bgnbd_objective(log_params, arranged)
    direct = models.bgnbd_log_likelihood(np.exp(log_params), data["frequency"], data["recency"], data["T"])
    assert -value * len(data) == pytest.approx(direct, rel=1e-12)
    step = 1e-6
    numeric = [(models._bgnbd_objective(log_params + step * np.eye(4)[i], arranged)[0]
                - models._bgnbd_objective(log_params - step * np.eye(4)[i], arranged)[0]) / (2 * step)
               for i in range(4)]
    assert gradient == pytest.approx(numeric, rel=1e-5, abs=1e-8)
    # The no-drop-out objective, against each customer's log G(r+x) - log G(r) + r log alpha - (r+x) log(alpha+T).
    r, alpha = np.exp(log_params[:2])
    direct_nbd = sum(math.lgamma(r + x) - math.lgamma(r) + r * math.log(alpha) - (r + x) * math.log(alpha + age)
                     for x, age in zip(data["frequency"], data["T"], strict=True))
    assert -models._nbd_objective(log_params[:2], arranged)[0] * len(data) == pytest.approx(direct_nbd, rel=1e-12)
    # Repeat buyers summed in blocks (65,536 at a time in use; 7 here, the last one short) give the same.
    monkeypatch.setattr(models, "_BLOCK", 7)
    blocked_value, blocked_gradient = models._bgnbd_objective(log_params, arranged)
    assert blocked_value == pytest.approx(value, rel=1e-12)
    assert blocked_gradient == pytest.approx(gradient, rel=1e-10)


def test_expected_purchases_and_probability_alive_by_hand():
    fit = given_bgnbd(r=1, alpha=1, a=2, b=1)
    # A customer just acquired (x=0, t_x=0, T=0): E[X(t)] = (a+b-1)/(a-1) (1 - (alpha/(alpha+t))^r 2F1(r,b;a+b-1;z))
    # = 2 (1 - 2F1(1,1;2;z)/(1+t)) with 2F1(1,1;2;z) = -ln(1-z)/z, z = t/(1+t): E[X(t)] = 2 (1 - ln(1+t)/t).
    expected = 2 * (1 - math.log(2) / 1)
    assert models.expected_purchases(fit, 1.0, [0], [0], [0])[0] == pytest.approx(expected, rel=1e-12)
    assert models.expected_purchases_new_customer(fit, 1.0) == pytest.approx(expected, rel=1e-12)
    # P(alive), r = alpha = a = b = 1, x=1, t_x=1, T=3: 1 / (1 + 1/1 * (4/2)^2) = 0.2; no repeats: 1.
    alive = models.probability_alive(given_bgnbd(1, 1, 1, 1), [1, 0], [1, 0], [3, 5])
    assert alive.tolist() == pytest.approx([0.2, 1.0])


def test_expected_purchases_stay_finite_for_heavy_buyers():
    fit = given_bgnbd(r=0.243, alpha=4.414, a=0.793, b=2.426)
    # 300 repeat purchases, the last one just now; the same, but silent for 8 weeks (about 30 of their gaps).
    predicted = models.expected_purchases(fit, 52.0, [300, 300, 5, 0], [77.9, 70, 30, 0], [78, 78, 78, 78])
    assert np.all(np.isfinite(predicted)) and np.all(predicted >= 0)
    assert predicted[0] > 100 and predicted[1] < 1e-6
    alive = models.probability_alive(fit, [300, 300], [77.9, 70], [78, 78])
    assert alive[0] > 0.9 and alive[1] < 1e-6


# ----------------------------------------------------------------------------- Gamma-Gamma and CLV by hand

def test_gamma_gamma_by_hand():
    # One customer, x=1, m=1, p=q=v=1: G(2)/(G(1)G(1)) * 1^1 * 1^0 * 1^1 / (1+1)^2 -> log = -2 ln 2.
    assert models.gamma_gamma_log_likelihood([1, 1, 1], [1], [1]) == pytest.approx(-2 * math.log(2), rel=1e-12)
    fit = given_gamma_gamma(p=2, q=3, v=10)
    # x=2, m=20: p (v + x m) / (p x + q - 1) = 2 * 50 / 6; no usable spend: p v / (q - 1) = 10.
    spends = models.expected_spend(fit, [2, 0, 3], [20, 0, -5])
    assert spends.tolist() == pytest.approx([100 / 6, 10.0, 10.0])
    assert models.population_mean_spend(fit) == pytest.approx(10.0)


def test_gamma_gamma_fit_leaves_out_nonpositive_spends():
    rng = np.random.default_rng(3)
    frequency = rng.integers(1, 8, 600).astype(float)
    spend = rng.gamma(4.0, 1 / rng.gamma(3.0, 1 / 20.0, 600))
    with_bad = models.fit_gamma_gamma(np.r_[frequency, [2, 3, 0]], np.r_[spend, [0.0, -12.0, 0.0]])
    clean = models.fit_gamma_gamma(frequency, spend)
    assert with_bad.excluded_nonpositive == 2       # the one-time buyer is not a repeat buyer at all
    assert (with_bad.n_customers, clean.n_customers) == (600, 600)
    assert with_bad.p == pytest.approx(clean.p) and with_bad.v == pytest.approx(clean.v)


def test_lifetime_value_by_hand():
    bgnbd, gg = given_bgnbd(r=1, alpha=1, a=2, b=1), given_gamma_gamma(p=2, q=3, v=10)

    def new_customer_purchases(t):  # 2 (1 - ln(1+t)/t), see above
        return 2 * (1 - math.log(1 + t) / t)

    # A customer acquired today, expected spend 10, months of 30 days, 10% a month for 2 months.
    expected = 10 * (new_customer_purchases(30) / 1.1
                     + (new_customer_purchases(60) - new_customer_purchases(30)) / 1.1 ** 2)
    value = models.customer_lifetime_value(bgnbd, gg, [0], [0], [0], [0], horizon_months=2,
                                           monthly_discount_rate=0.1, unit="days")
    assert value[0] == pytest.approx(expected, rel=1e-12)


# ----------------------------------------------------------------------------- fitting

def test_fit_recovers_known_parameters():
    true = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    rng = np.random.default_rng(20050101)
    data = models.simulate_bgnbd(**true, T=rng.uniform(26, 104, 5000), seed=20050101)
    fit = models.fit_bgnbd(data["frequency"], data["recency"], data["T"])
    assert fit.converged and fit.n_customers == 5000
    # Over twelve seeds at this size the estimates strayed up to 5% (r), 14% (alpha), 19% (a), 26% (b) and
    # 7% (mean drop-out chance a / (a + b)); the tolerances allow for that spread, not more.
    assert fit.r == pytest.approx(true["r"], rel=0.10)
    assert fit.alpha == pytest.approx(true["alpha"], rel=0.20)
    assert fit.a == pytest.approx(true["a"], rel=0.30)
    assert fit.b == pytest.approx(true["b"], rel=0.35)
    assert fit.a / (fit.a + fit.b) == pytest.approx(true["a"] / (true["a"] + true["b"]), rel=0.10)
    # The maximum is a maximum: the true parameters fit these data no better.
    assert fit.log_likelihood >= models.bgnbd_log_likelihood(list(true.values()), data["frequency"],
                                                             data["recency"], data["T"])


def test_fit_that_does_not_converge_is_never_a_result():
    rng = np.random.default_rng(11)
    data = models.simulate_bgnbd(0.243, 4.414, 0.793, 2.426, rng.uniform(26, 104, 2000), seed=11)
    with pytest.raises(ModelFitError, match="without converging") as raised:
        models.fit_bgnbd(data["frequency"], data["recency"], data["T"], maxiter=2)
    assert raised.value.fit is not None and not raised.value.fit.converged
    stopped = models.fit_bgnbd(data["frequency"], data["recency"], data["T"], maxiter=2, raise_on_failure=False)
    assert not stopped.converged
    with pytest.raises(ModelFitError):
        models.expected_purchases(stopped, 10.0, data["frequency"], data["recency"], data["T"])
    with pytest.raises(ModelFitError):
        models.probability_alive(stopped, data["frequency"], data["recency"], data["T"])


def test_too_little_data_is_refused():
    with pytest.raises(UserFacingError, match="no customer has a repeat purchase"):
        models.fit_bgnbd([0, 0, 0], [0, 0, 0], [5, 6, 7])
    with pytest.raises(UserFacingError, match="no repeat buyer with a positive spend"):
        models.fit_gamma_gamma([0, 2], [0, -3])
    with pytest.raises(UserFacingError, match="recency must lie between 0 and T"):
        models.fit_bgnbd([1, 2], [3, 1], [2, 5])


# ----------------------------------------------------------------------------- calibration / hold-out

def test_calibration_holdout_by_hand():
    split = models.calibration_holdout(HAND_TRANSACTIONS, "2024-01-05", "2024-01-19", unit="days")
    split = split.set_index("customer_id")
    assert split.index.tolist() == ["A", "B", "C"]     # D first bought after the cut
    # A: 01-01 and 01-03 before the cut (1 repeat, 2 days, T 4, repeat spend 25); 01-08 after it.
    assert split.loc["A", ["frequency_cal", "recency_cal", "T_cal", "monetary_value_cal"]].tolist() == [1, 2, 4, 25]
    assert split["frequency_holdout"].tolist() == [1.0, 0.0, 1.0]   # C bought 01-12
    assert split["duration_holdout"].tolist() == [14.0, 14.0, 14.0]


# ----------------------------------------------------------------------------- the BG/NBD paper (real data)

def _cdnow(real_data_dir) -> pd.DataFrame:
    path = real_data_dir / "cdnow_sample" / "CDNOW_sample.txt"
    frame = pd.read_csv(path, sep=r"\s+", header=None, names=["original_id", "customer_id", "date", "cds", "amount"],
                        dtype={"date": str})
    frame["date"] = pd.to_datetime(frame["date"], format="%Y%m%d")
    return frame


def test_cdnow_reproduces_the_bgnbd_paper(real_data_dir):
    transactions = _cdnow(real_data_dir)
    # The paper: weeks, calibration period to 1997-09-30 (39 weeks after the first quarter's acquisitions).
    summary = models.summary_table(transactions, "1997-09-30", unit="weeks")
    published = pd.read_csv(real_data_dir / "cdnow_sample" / "cdnow_customers_summary.csv")
    assert len(summary) == len(published) == 2357
    both = published.merge(summary, left_on="ID", right_on="customer_id", suffixes=("_published", ""))
    assert (both["frequency"] == both["frequency_published"]).all()
    # The published summary is rounded to two decimals.
    assert np.abs(both["recency"] - both["recency_published"]).max() < 0.005
    assert np.abs(both["T"] - both["T_published"]).max() < 0.005

    fit = models.fit_bgnbd(summary["frequency"], summary["recency"], summary["T"])
    assert fit.converged
    assert (round(fit.r, 3), round(fit.alpha, 3), round(fit.a, 3), round(fit.b, 3)) == (0.243, 4.414, 0.793, 2.426)
    assert round(fit.log_likelihood, 1) == -9582.4
    # CDNOW customers do drop out: far more likely than a fit where nobody leaves, and nothing near a limit.
    assert fit.caveat == "" and fit.dropout_evidence > 100


def test_cdnow_spend_model_and_holdout(real_data_dir):
    transactions = _cdnow(real_data_dir)
    summary = models.summary_table(transactions, "1997-09-30", unit="weeks")
    spend = models.fit_gamma_gamma(summary["frequency"], summary["monetary_value"])
    # lifetimes' documentation fits these calibration data to p=6.25, q=3.74, v=15.44 on 946 repeat buyers.
    assert spend.n_customers == 946 and spend.excluded_nonpositive == 0
    assert (round(spend.p, 2), round(spend.q, 2), round(spend.v, 2)) == (6.25, 3.74, 15.44)

    check = models.holdout_check(transactions, "1997-09-30", "1998-06-30", unit="weeks")
    published = pd.read_csv(real_data_dir / "cdnow_sample" / "cdnow_customers_summary.csv")
    assert check.n_customers == 2357
    counts = dict(zip(check.by_frequency["frequency_cal"], check.by_frequency["customers"], strict=True))
    assert counts["0"] == int((published["frequency"] == 0).sum())
    assert counts["7+"] == int((published["frequency"] >= 7).sum())
    assert sum(counts.values()) == 2357
    # The hold-out runs 39 weeks; the last point of the curve is the total.
    assert check.customers["duration_holdout"].iloc[0] == pytest.approx(273 / 7)
    assert check.over_time["actual_cumulative"].iloc[-1] == check.total_actual
    assert check.over_time["predicted_cumulative"].iloc[-1] == pytest.approx(check.total_predicted)
    assert check.over_time["actual_cumulative"].is_monotonic_increasing
    # The model tracks the hold-out: within 15% in total, and ordered like the actuals by frequency.
    assert abs(check.total_error_share) < 0.15
    assert check.by_frequency["predicted"].is_monotonic_increasing


# ----------------------------------------------------------------------------- SQL == pandas

def test_sql_summary_matches_pandas_summary_on_the_demo(demo_db):
    from customer_value import clv

    lines = demo_db.cursor().execute(
        "select customer_id, order_date, cast(amount as double) as amount, is_cancellation "
        "from transactions where customer_id is not null").df()
    last_day = pd.Timestamp(demo_db.meta("data_end"))
    # A purchase day: any non-cancelled line with positive revenue; its amount is the day's net revenue.
    lines["purchase_line"] = ~lines["is_cancellation"] & (lines["amount"] > 0)
    days = lines.groupby(["customer_id", "order_date"], as_index=False).agg(
        amount=("amount", "sum"), purchase=("purchase_line", "any"))
    purchases = days[days["purchase"]].rename(columns={"order_date": "date"})
    # Before the last day the query sums day rows; on and after it, it reads the load's all-time sums.
    for unit, end in (("days", last_day - pd.Timedelta(days=40)), ("weeks", last_day - pd.Timedelta(days=40)),
                      ("weeks", last_day), ("days", last_day + pd.Timedelta(days=10))):
        expected = models.summary_table(purchases, end, unit=unit).reset_index(drop=True)
        from_sql = clv.summary_frame(demo_db, None, unit=unit, observation_end=end.date())
        assert from_sql["customer_id"].tolist() == expected["customer_id"].tolist()
        for column in ("frequency", "recency", "T", "monetary_value"):
            np.testing.assert_allclose(from_sql[column].to_numpy(), expected[column].to_numpy(), rtol=1e-9,
                                       atol=1e-9, err_msg=column)


def test_spend_objective_matches_the_likelihood_and_its_gradient():
    rng = np.random.default_rng(5)
    frequency = rng.integers(1, 9, 300).astype(float)
    spend = rng.gamma(3.0, 15.0, 300)
    arranged = models._GammaGammaData(frequency, spend)
    log_params = np.log([2.5, 3.5, 12.0])
    value, gradient = models._gamma_gamma_objective(log_params, arranged)
    direct = models.gamma_gamma_log_likelihood(np.exp(log_params), frequency, spend)
    assert -value * 300 == pytest.approx(direct, rel=1e-12)
    step = 1e-6
    numeric = [(models._gamma_gamma_objective(log_params + step * np.eye(3)[i], arranged)[0]
                - models._gamma_gamma_objective(log_params - step * np.eye(3)[i], arranged)[0]) / (2 * step)
               for i in range(3)]
    assert gradient == pytest.approx(numeric, rel=1e-5, abs=1e-8)


def test_parameters_running_off_to_infinity_are_reported():
    # 120 customers buying like clockwork every 2 weeks and never dropping out: no heterogeneity and no
    # drop-out to estimate, so the rates' shape and the drop-out parameters run off towards their limits.
    age = np.arange(10, 70, 0.5)
    frequency = np.floor(age / 2)
    with pytest.raises(ModelFitError, match="ran to its limit"):
        models.fit_bgnbd(frequency, 2 * frequency, age)


def test_no_dropout_likelihood_by_hand():
    # r = alpha = 1. Customer 1: x 0, T 1 -> log 1 - 1 x log(1 + 1) = -0.693147. Customer 2: x 1, T 2 ->
    # log G(2) - log G(1) + 0 - 2 x log(1 + 2) = -2.197225. The objective is the mean negative: 1.445186.
    arranged = models._BGNBDData(np.array([0.0, 1.0]), np.array([0.0, 1.0]), np.array([1.0, 2.0]))
    value, gradient = models._nbd_objective(np.zeros(2), arranged)
    assert value == pytest.approx(1.445186, abs=1e-6)
    step = 1e-6
    numeric = [(models._nbd_objective(np.eye(2)[i] * step, arranged)[0]
                - models._nbd_objective(-np.eye(2)[i] * step, arranged)[0]) / (2 * step) for i in range(2)]
    assert gradient == pytest.approx(numeric, rel=1e-5, abs=1e-8)


def test_a_fit_near_the_no_dropout_limit_is_flagged_not_passed_silently():
    # 2,000 customers whose chance to drop out is practically nil (b = 1e9): the fit converges cleanly, but
    # a and b run towards the no-drop-out limit, where the data cannot tell them apart.
    age = np.random.default_rng(0).uniform(20, 60, 2000)
    simulated = models.simulate_bgnbd(0.8, 5.0, 1.0, 1e9, age, seed=0)
    fit = models.fit_bgnbd(simulated["frequency"], simulated["recency"], simulated["T"])
    assert fit.converged
    assert fit.dropout_evidence < 3.0
    assert fit.caveat.startswith("BG/NBD: these data show no sign of customers dropping out")
    # The same data with a real drop-out (b = 3) carry no such caveat.
    dropping = models.simulate_bgnbd(0.8, 5.0, 1.0, 3.0, age, seed=0)
    assert models.fit_bgnbd(dropping["frequency"], dropping["recency"], dropping["T"]).caveat == ""


def test_discounted_purchases_by_hand():
    # Practically no drop-out (a tiny, b huge), r = 1, alpha = 30 days: a customer just won (x 0, T 0) buys at
    # the mean rate r / alpha = 1/30 a day, one purchase a month. Two months discounted at 10% a month:
    # 1 / 1.1 + 1 / 1.21 = 1.735537.
    fit = given_bgnbd(1.0, 30.0, 1e-9, 1e9)
    value = models.discounted_purchases(fit, [0.0], [0.0], [0.0], horizon_months=2, monthly_discount_rate=0.1)
    assert value.tolist() == pytest.approx([1 / 1.1 + 1 / 1.21], rel=1e-6)


def test_discounted_purchases_are_each_months_expected_purchases_discounted():
    # The first three customers share a frequency and an age but not a recency, so their chances of being alive
    # differ; the sum over months is taken per (frequency, age) pair and then spread, which must give each
    # customer month m's E[purchases by m] - E[purchases by m - 1], discounted, summed.
    fit = given_bgnbd(r=0.8, alpha=5.0, a=0.6, b=2.5)
    frequency, recency, age = [2.0, 2.0, 2.0, 0.0, 5.0], [3.0, 8.0, 10.0, 0.0, 9.0], [10.0, 10.0, 10.0, 10.0, 12.0]
    month = models.MONTH_IN_UNITS["weeks"]
    by_month = [models.expected_purchases(fit, months * month, frequency, recency, age) for months in range(7)]
    expected = sum((by_month[months] - by_month[months - 1]) / 1.02**months for months in range(1, 7))
    assert len(set(np.round(expected[:3], 9))) == 3
    value = models.discounted_purchases(fit, frequency, recency, age, horizon_months=6, monthly_discount_rate=0.02,
                                        unit="weeks")
    assert value == pytest.approx(expected, rel=1e-12)
