"""Lifetime-value models on numpy/scipy: BG/NBD for purchase counts, Gamma-Gamma for spend.

The formulas follow Fader, Hardie and Lee, "Counting your customers the easy
way: an alternative to the Pareto/NBD model" (Marketing Science 2005) and
"RFM and CLV: using iso-value curves for customer base analysis" (Journal of
Marketing Research 2005), in the form the ``lifetimes`` package computes them,
so that its results (and the papers' published estimates) are reproduced.

Everything here works on plain arrays and DataFrames; nothing reads the
database (see ``customer_value.clv`` for that). Time is measured in a *unit*:
``"days"`` or ``"weeks"``. Purchases are always counted per calendar day (two
orders on one day are one purchase), and ``"weeks"`` measures the same times
in days / 7, which is how the BG/NBD paper set up the CDNOW data
(lifetimes: ``freq="D", freq_multiplier=7``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

from customer_value.errors import UserFacingError

UNIT_DAYS: dict[str, int] = {"days": 1, "weeks": 7}
# Length of a month in each unit, as lifetimes' customer_lifetime_value uses it.
MONTH_IN_UNITS: dict[str, float] = {"days": 30.0, "weeks": 4.345}
FREQUENCY_BUCKETS = ("0", "1", "2", "3", "4", "5", "6", "7+")
# Log-parameters are bounded so that a parameter running away to infinity (the
# data do not identify it) shows up as "at its limit" instead of overflowing.
_LOG_BOUND = 18.0


class ModelFitError(UserFacingError):
    """The optimiser did not reach a maximum; ``fit`` holds where it stopped, for reporting only."""

    def __init__(self, message: str, fit: Any = None) -> None:
        super().__init__(message)
        self.fit = fit


def _unit_days(unit: str) -> int:
    if unit not in UNIT_DAYS:
        raise UserFacingError(f"unknown time unit {unit!r}; use one of {', '.join(UNIT_DAYS)}")
    return UNIT_DAYS[unit]


def _as_float_array(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        array = array.reshape(-1)
    if not np.all(np.isfinite(array)):
        raise UserFacingError(f"{name} holds missing or infinite values")
    return array


# ---------------------------------------------------------------------------
# Summary table
# ---------------------------------------------------------------------------

SUMMARY_COLUMNS = ["customer_id", "frequency", "recency", "T", "monetary_value"]


@dataclass(frozen=True)
class _PurchaseDays:
    """One entry per (customer, day) with purchases, sorted by customer then day.

    ``customer`` indexes ``ids`` (sorted customer ids); ``day`` counts days
    since 1970-01-01; ``amount`` is the day's total.
    """

    ids: np.ndarray
    customer: np.ndarray
    day: np.ndarray
    amount: np.ndarray

    def subset(self, keep: np.ndarray) -> _PurchaseDays:
        return _PurchaseDays(self.ids, self.customer[keep], self.day[keep], self.amount[keep])


def _day_number(value: Any) -> int:
    return int(np.datetime64(pd.Timestamp(value).normalize().date(), "D").astype(np.int64))


def _purchase_days(transactions: pd.DataFrame, end: Any, start: Any = None) -> _PurchaseDays:
    """Sum each customer's rows per calendar day, in numpy: a sort of one integer key, no pandas groupby.

    Rows without a customer id, after ``end`` or before ``start`` are left out.
    """
    # Few and in-place temporaries: on a cold process each fresh array of a million rows costs more in page
    # faults than the arithmetic on it.
    codes, ids = pd.factorize(transactions["customer_id"], sort=True)
    day = pd.to_datetime(transactions["date"]).to_numpy().astype("datetime64[D]").view(np.int64)
    amount = pd.to_numeric(transactions["amount"]).to_numpy(dtype=float)
    keep = (codes >= 0) & (day <= _day_number(end))
    if start is not None:
        keep &= day >= _day_number(start)
    if not keep.all():
        codes, day, amount = codes[keep], day[keep], amount[keep]
    ids = np.asarray(ids, dtype=object)
    if len(day) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return _PurchaseDays(ids, empty, empty, np.zeros(0))
    first_day = int(day.min())
    span = int(day.max()) - first_day + 1
    key = codes.astype(np.int64)
    key *= span
    key += day
    key -= first_day
    if bool((key[1:] >= key[:-1]).all()):
        # Rows already in customer and day order (as exports and queries usually come): each run of one key
        # is a purchase day, numbered in one pass instead of a sort.
        changes = key[1:] != key[:-1]
        keys = key[np.flatnonzero(np.r_[True, changes])]
        inverse = np.r_[0, np.cumsum(changes)]
    else:
        keys, inverse = np.unique(key, return_inverse=True)
    # bincount adds each day's amounts one after another in the order the rows come, on both routes
    # (np.add.reduceat would add long runs pairwise), so both give the same sums to the last bit.
    totals = np.bincount(inverse, weights=amount, minlength=len(keys))
    return _PurchaseDays(ids, keys // span, keys % span + first_day, totals)


def _summarise(days: _PurchaseDays, end: Any, unit_days: int) -> pd.DataFrame:
    """The summary table of purchase days (sorted by customer and day) observed until ``end``."""
    if len(days.day) == 0:
        frame = pd.DataFrame({column: pd.Series(dtype=float) for column in SUMMARY_COLUMNS})
        return frame.astype({"customer_id": object})
    starts = np.flatnonzero(np.r_[True, days.customer[1:] != days.customer[:-1]])
    counts = np.diff(np.r_[starts, len(days.customer)])
    ends = starts + counts - 1
    frequency = counts - 1
    repeat_total = np.add.reduceat(days.amount, starts) - days.amount[starts]
    return pd.DataFrame({
        "customer_id": days.ids[days.customer[starts]],
        "frequency": frequency.astype(float),
        "recency": (days.day[ends] - days.day[starts]) / unit_days,
        "T": (_day_number(end) - days.day[starts]) / unit_days,
        "monetary_value": np.divide(repeat_total, frequency, out=np.zeros(len(starts)), where=frequency > 0),
    })


def summary_table(transactions: pd.DataFrame, observation_end: Any, unit: str = "days",
                  period_start: Any = None) -> pd.DataFrame:
    """Per-customer frequency, recency, T and monetary value, as lifetimes builds them.

    Parameters
    ----------
    transactions : DataFrame
        Columns ``customer_id``, ``date`` (anything ``pd.to_datetime`` reads;
        the time of day is dropped) and ``amount``. Every row is a purchase;
        rows on the same day of the same customer are one purchase whose
        amount is their sum. Rows without a customer id are left out.
    observation_end : date-like
        Last day of observation; later rows are ignored.
    unit : {"days", "weeks"}
        Unit of ``recency`` and ``T`` (weeks = days / 7).
    period_start : date-like, optional
        Rows before this day are ignored, so a customer's first purchase is
        their first one on or after it.

    Returns
    -------
    DataFrame
        One row per customer, sorted by ``customer_id``: ``frequency`` (purchase
        days minus one: the repeat purchases), ``recency`` (first to last
        purchase), ``T`` (first purchase to ``observation_end``) and
        ``monetary_value`` (mean amount of the repeat purchase days; 0 when
        ``frequency`` is 0).

    Examples
    --------
    A buys 10 on 1 Jan, 20 and 5 on 3 Jan, 30 on 8 Jan; observation ends 11 Jan:
    frequency 2, recency 7 days, T 10 days, monetary value (25 + 30) / 2 = 27.5.
    """
    unit_days = _unit_days(unit)
    return _summarise(_purchase_days(transactions, observation_end, period_start), observation_end, unit_days)


# ---------------------------------------------------------------------------
# BG/NBD
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class BGNBDFit:
    """Maximum-likelihood BG/NBD parameters; time parameters in the unit of the data fitted.

    ``r`` and ``alpha`` are the shape and scale of the gamma distribution of
    purchase rates (mean rate r / alpha per unit); ``a`` and ``b`` those of the
    beta distribution of the chance to drop out after each purchase.
    """

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    converged: bool
    iterations: int
    n_customers: int
    message: str
    # Why a converged fit should still be read with care ("" when there is nothing to say); see _bgnbd_caveat.
    caveat: str = ""
    # Log-likelihood gained over the same data fitted with nobody ever dropping out (NBD): the evidence of drop-out.
    dropout_evidence: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_rfm(frequency: Any, recency: Any, T: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = _as_float_array(frequency, "frequency")
    t_x = _as_float_array(recency, "recency")
    age = _as_float_array(T, "T")
    if not (len(x) == len(t_x) == len(age)):
        raise UserFacingError("frequency, recency and T must have one value per customer")
    if np.any(x < 0) or np.any(x != np.round(x)):
        raise UserFacingError("frequency must be a whole number of repeat purchases, 0 or more")
    if np.any(t_x < 0) or np.any(t_x > age + 1e-9):
        raise UserFacingError("recency must lie between 0 and T for every customer")
    if np.any((x == 0) & (t_x != 0)):
        raise UserFacingError("a customer without repeat purchases must have recency 0")
    return x, t_x, age


def _bgnbd_terms(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, age: np.ndarray):
    """Per-customer log-likelihood pieces shared by the value and the gradient."""
    r, alpha, a, b = params
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b)
    a3 = -(r + x) * np.log(alpha + age)
    repeat = x > 0
    # log of a / (b + x - 1), only meaningful for repeat buyers.
    a4 = np.full_like(x, -np.inf)
    a4[repeat] = (np.log(a) - np.log(b + x[repeat] - 1) - (r + x[repeat]) * np.log(alpha + t_x[repeat]))
    return a1, a2, a3, a4, repeat


def bgnbd_log_likelihood(params: Any, frequency: Any, recency: Any, T: Any,
                         weights: Any = None) -> float:
    """Total BG/NBD log-likelihood (Fader, Hardie and Lee 2005, equation 6).

    Parameters
    ----------
    params : sequence of float
        ``(r, alpha, a, b)``, all positive.
    frequency, recency, T : array-like
        Per-customer summary (see :func:`summary_table`).
    weights : array-like, optional
        How many customers each row stands for (default one each).

    Returns
    -------
    float
        Sum over customers of log L(r, alpha, a, b | x, t_x, T).
    """
    x, t_x, age = _check_rfm(frequency, recency, T)
    a1, a2, a3, a4, _ = _bgnbd_terms(np.asarray(params, dtype=float), x, t_x, age)
    per_customer = a1 + a2 + np.logaddexp(a3, a4)
    if weights is None:
        return float(per_customer.sum())
    return float(np.dot(np.asarray(weights, dtype=float), per_customer))


class _BGNBDData:
    """Customer data arranged for fast likelihood evaluations.

    Terms that depend on the frequency alone (gammaln, betaln, digamma) are
    computed once per distinct frequency and summed with its customer count.
    A customer without repeat purchases adds only ``-r log(alpha + T)``, so
    those customers are counted per distinct T. Repeat buyers' ``-(r+x)
    log(alpha + T)`` is summed per distinct T too, through each T's count of
    repeat buyers and sum of their x. Only the part that mixes T with t_x
    needs per-customer work, on ``log(alpha + T)`` and ``log(alpha + t_x)``
    computed once per distinct value and gathered. This is what makes a fit
    on hundreds of thousands of customers take under a second.
    """

    def __init__(self, x: np.ndarray, t_x: np.ndarray, age: np.ndarray) -> None:
        self.n = len(x)
        self.x_values, x_counts = np.unique(x, return_counts=True)
        self.x_counts = x_counts.astype(float)
        repeat = x > 0
        # Distinct ages and recencies in any order, hashed (pandas) rather than sorted: three sorts of up to
        # 500,000 values cost a tenth of a second per fit.
        once_index, self.once_age_values = pd.factorize(age[~repeat])
        self.once_age_counts = np.bincount(once_index, minlength=len(self.once_age_values)).astype(float)
        self.repeat_x = x[repeat]
        # Index of each repeat buyer's frequency in x_values (x_values[0] is 0 whenever anyone bought once).
        self.repeat_x_index = np.searchsorted(self.x_values, self.repeat_x)
        self.age_index, self.age_values = pd.factorize(age[repeat])
        self.recency_index, self.recency_values = pd.factorize(t_x[repeat])
        # Per distinct T: how many repeat buyers have it and the sum of their x, so that sums of
        # (r + x) f(alpha + T) over repeat buyers take one product per distinct T.
        self.repeat_age_counts = np.bincount(self.age_index, minlength=len(self.age_values)).astype(float)
        self.repeat_age_x = np.bincount(self.age_index, weights=self.repeat_x, minlength=len(self.age_values))


# Repeat buyers are worked through this many at a time, so that each step's arrays stay in the processor's cache:
# at 4.8 million repeat buyers an evaluation took 197 ms over whole arrays and 113 ms in blocks (20 -> 18 ms at
# 483,000).
_BLOCK = 1 << 16


def _bgnbd_objective(log_params: np.ndarray, data: _BGNBDData) -> tuple[float, np.ndarray]:
    """Mean negative log-likelihood and its gradient in log-parameters.

    Per customer ``log L = A1 + A2 + log(exp(A3) + [x > 0] exp(A4))`` with
    A1 = log G(r+x) - log G(r) + r log alpha, A2 = log B(a, b+x) - log B(a, b),
    A3 = -(r+x) log(alpha+T), A4 = log a - log(b+x-1) - (r+x) log(alpha+t_x).
    A repeat buyer's last term is written ``A3 + softplus(A4 - A3)``: the A3
    part sums per distinct T, so only the gap ``A4 - A3`` is per customer.
    That halves the passes over the repeat buyers against computing A3 and
    A4 for each of them (29 -> 14 ms per evaluation at 483,000, measured
    before the block-wise sums of :func:`_repeat_buyer_sums`).
    """
    r, alpha, a, b = np.exp(log_params)
    xs, counts, n = data.x_values, data.x_counts, data.n
    # Frequency-only terms, summed over customers through the counts.
    sum_a1 = counts @ gammaln(r + xs) - n * (gammaln(r) - r * np.log(alpha))
    sum_a2 = counts @ betaln(a, b + xs) - n * betaln(a, b)
    # Customers without repeat purchases: A3 only.
    once_log_age = np.log(alpha + data.once_age_values)
    sum_once = -r * (data.once_age_counts @ once_log_age)
    # Repeat buyers' A3, per distinct T: the weight of a T is the sum of (r + x) over its repeat buyers.
    age_log = np.log(alpha + data.age_values)
    age_inverse = 1.0 / (alpha + data.age_values)
    age_weight = r * data.repeat_age_counts + data.repeat_age_x
    sum_a3 = -(age_weight @ age_log)
    b_x = b + np.maximum(xs, 1) - 1
    softplus_sum, dropped_sums = _repeat_buyer_sums(r, alpha, np.log(a) - np.log(b_x), 1.0 / b_x, age_log,
                                                    age_inverse, data)
    dropped_log_ratio, dropped_inverse_gap, dropped_total, dropped_over_b_x = dropped_sums
    value = sum_a1 + sum_a2 + sum_once + sum_a3 + softplus_sum

    digamma_a_b_x = digamma(a + b + xs)
    d_r = (counts @ digamma(r + xs) - n * (digamma(r) - np.log(alpha)) - data.once_age_counts @ once_log_age
           - data.repeat_age_counts @ age_log - dropped_log_ratio)
    d_alpha = (n * r / alpha - r * (data.once_age_counts @ (1.0 / (alpha + data.once_age_values)))
               - age_weight @ age_inverse - dropped_inverse_gap)
    d_a = n * digamma(a + b) - counts @ digamma_a_b_x + dropped_total / a
    d_b = (n * (digamma(a + b) - digamma(b)) + counts @ (digamma(b + xs) - digamma_a_b_x) - dropped_over_b_x)
    gradient = np.array([d_r * r, d_alpha * alpha, d_a * a, d_b * b])
    return -value / n, -gradient / n


def _repeat_buyer_sums(r: float, alpha: float, log_a_over_b_x: np.ndarray, inverse_b_x: np.ndarray,
                       age_log: np.ndarray, age_inverse: np.ndarray,
                       data: _BGNBDData) -> tuple[float, tuple[float, float, float, float]]:
    """The per-customer part of the BG/NBD objective, summed over the repeat buyers block by block.

    Per repeat buyer: the gap ``A4 - A3 = log(a / (b+x-1)) - (r+x) log((alpha+t_x) / (alpha+T))``, its
    softplus (the value's term) and ``dropped``, the share of the likelihood the drop-out term carries.
    Returns the softplus sum and the sums of dropped times: log((alpha+t_x) / (alpha+T)), (r+x) (1/(alpha+t_x)
    - 1/(alpha+T)), 1, and 1/(b+x-1), which the gradient needs. Each sum is multiply-and-sum, not "@": a BLAS
    dot product spins up threads, which on a busy machine made each evaluation ten times slower.
    """
    recency_log = np.log(alpha + data.recency_values)
    recency_inverse = 1.0 / (alpha + data.recency_values)
    softplus_sum = 0.0
    sums = np.zeros(4)
    for start in range(0, len(data.repeat_x), _BLOCK):
        block = slice(start, start + _BLOCK)
        age_index, recency_index = data.age_index[block], data.recency_index[block]
        x_index = data.repeat_x_index[block]
        r_x = r + data.repeat_x[block]
        log_ratio = recency_log[recency_index] - age_log[age_index]  # <= 0
        gap = log_a_over_b_x[x_index] - r_x * log_ratio
        softplus = np.logaddexp(0.0, gap)
        dropped = np.exp(gap - softplus)
        softplus_sum += softplus.sum()
        sums += ((dropped * log_ratio).sum(),
                 (r_x * dropped * (recency_inverse[recency_index] - age_inverse[age_index])).sum(),
                 dropped.sum(),
                 (dropped * inverse_b_x[x_index]).sum())
    return float(softplus_sum), tuple(float(total) for total in sums)


def _nbd_objective(log_params: np.ndarray, data: _BGNBDData) -> tuple[float, np.ndarray]:
    """Mean negative log-likelihood of the NBD (BG/NBD without drop-out, its limit a -> 0) and its gradient.

    Per customer ``log L = log G(r+x) - log G(r) + r log alpha - (r+x) log(alpha+T)``, every sum over
    distinct frequencies or distinct T.
    """
    r, alpha = np.exp(log_params)
    xs, counts, n = data.x_values, data.x_counts, data.n
    once_log_age = np.log(alpha + data.once_age_values)
    age_log = np.log(alpha + data.age_values)
    age_weight = r * data.repeat_age_counts + data.repeat_age_x
    value = (counts @ gammaln(r + xs) - n * (gammaln(r) - r * np.log(alpha)) - r * (data.once_age_counts @ once_log_age)
             - age_weight @ age_log)
    d_r = counts @ digamma(r + xs) - n * (digamma(r) - np.log(alpha)) - data.once_age_counts @ once_log_age \
        - data.repeat_age_counts @ age_log
    d_alpha = (n * r / alpha - r * (data.once_age_counts @ (1.0 / (alpha + data.once_age_values)))
               - age_weight @ (1.0 / (alpha + data.age_values)))
    return -value / n, -np.array([d_r * r, d_alpha * alpha]) / n


# Twice the log-likelihood gain of two extra parameters is chi-square(2) under "no drop-out"; its 95% point is
# 5.99, so a gain under 3.0 is no evidence that customers drop out at all.
_DROPOUT_EVIDENCE = 3.0
# A log-parameter this far from 0 (a value beyond 1/8,000 or 8,000) means the data barely pin it down: the
# likelihood is almost flat towards the limit even though the optimiser stopped cleanly.
_EXTREME_LOG = 9.0


def _bgnbd_caveat(names: tuple[str, ...], log_params: np.ndarray, a: float, b: float,
                  dropout_evidence: float) -> str:
    notes = []
    extreme = [f"{name} = {value:.3g}" for name, value in zip(names, np.exp(log_params), strict=True)
               if abs(np.log(value)) > _EXTREME_LOG]
    if dropout_evidence < _DROPOUT_EVIDENCE:
        gain = max(dropout_evidence, 0.0)
        notes.append(f"these data show no sign of customers dropping out (the fit is only {gain:.1f} "
                     f"log-likelihood units better than one where nobody ever leaves; mean drop-out chance after a "
                     f"purchase a / (a + b) = {a / (a + b):.2%}), so a and b are not determined and each customer's "
                     "probability alive rests on a drop-out process the data do not show: read it as rough")
    if extreme:
        notes.append(f"{', '.join(extreme)} {'is' if len(extreme) == 1 else 'are'} near the edge of what can be "
                     "estimated: the data barely determine "
                     f"{'it' if len(extreme) == 1 else 'them'}")
    if not notes:
        return ""
    return "BG/NBD: " + "; ".join(notes) + "."


def _check_result(names: tuple[str, ...], result: optimize.OptimizeResult, model: str) -> tuple[bool, str]:
    at_limit = [name for name, value in zip(names, result.x, strict=True) if abs(value) >= _LOG_BOUND - 1e-6]
    if not np.all(np.isfinite(result.x)) or not np.isfinite(result.fun):
        return False, f"{model}: the optimiser produced non-finite values"
    if at_limit:
        return False, (f"{model}: parameter {', '.join(at_limit)} ran to its limit; these data do not "
                       "determine it (too little history or too few repeat purchases)")
    if not result.success:
        return False, f"{model}: the optimiser stopped without converging ({result.message})"
    return True, f"{model}: converged ({result.message})"


def fit_bgnbd(frequency: Any, recency: Any, T: Any, *, initial: tuple[float, float, float, float] | None = None,
              maxiter: int = 2000, tolerance: float = 1e-10, raise_on_failure: bool = True) -> BGNBDFit:
    """Fit the BG/NBD model by maximum likelihood.

    The log-likelihood is vectorised (``gammaln``, ``betaln``, ``logaddexp``
    keep it finite for large purchase counts) and maximised over the
    log-parameters with L-BFGS-B and its analytic gradient.

    Parameters
    ----------
    frequency, recency, T : array-like
        Per-customer summary (see :func:`summary_table`), in one time unit.
    initial : tuple of float, optional
        Starting ``(r, alpha, a, b)``; by default r = a = b = 1 and alpha the
        mean customer age, which puts the mean purchase rate near one per
        lifetime seen.
    maxiter : int
        Iteration limit of the optimiser.
    tolerance : float
        Relative change of the mean log-likelihood at which to stop.
    raise_on_failure : bool
        Raise :class:`ModelFitError` when the optimiser does not converge
        (default). With ``False`` the unconverged fit is returned with
        ``converged=False`` for diagnostics; never show it as a result.

    Returns
    -------
    BGNBDFit
    """
    x, t_x, age = _check_rfm(frequency, recency, T)
    if len(x) == 0:
        raise UserFacingError("no customers to fit the purchase model on")
    if not np.any(x > 0):
        raise UserFacingError("no customer has a repeat purchase, so the purchase model cannot be fitted")
    data = _BGNBDData(x, t_x, age)
    if initial is None:
        initial = (1.0, max(float(np.mean(age)), 1e-3), 1.0, 1.0)
    start = np.log(np.asarray(initial, dtype=float))
    result = optimize.minimize(
        _bgnbd_objective, start, args=(data,), jac=True, method="L-BFGS-B",
        bounds=[(-_LOG_BOUND, _LOG_BOUND)] * 4,
        options={"maxiter": maxiter, "ftol": tolerance, "gtol": 1e-9, "maxcor": 20},
    )
    converged, message = _check_result(("r", "alpha", "a", "b"), result, "BG/NBD")
    r, alpha, a, b = (float(value) for value in np.exp(result.x))
    # BG/NBD nests "nobody drops out" (a -> 0): fit that too, so a near-limit fit is named, not passed silently.
    no_dropout = optimize.minimize(
        _nbd_objective, start[:2], args=(data,), jac=True, method="L-BFGS-B",
        bounds=[(-_LOG_BOUND, _LOG_BOUND)] * 2, options={"maxiter": maxiter, "ftol": tolerance, "gtol": 1e-9})
    dropout_evidence = float((no_dropout.fun - result.fun) * len(x))
    caveat = _bgnbd_caveat(("r", "alpha", "a", "b"), result.x, a, b, dropout_evidence) if converged else ""
    fit = BGNBDFit(r=r, alpha=alpha, a=a, b=b, log_likelihood=float(-result.fun * len(x)), converged=converged,
                   iterations=int(result.nit), n_customers=int(len(x)), message=message, caveat=caveat,
                   dropout_evidence=dropout_evidence)
    if not converged and raise_on_failure:
        raise ModelFitError(message, fit)
    return fit


def _fit_params(fit: BGNBDFit) -> tuple[float, float, float, float]:
    if not fit.converged:
        raise ModelFitError(f"the purchase model did not converge and cannot be used: {fit.message}", fit)
    return fit.r, fit.alpha, fit.a, fit.b


class PurchasePredictor:
    """Conditional expected purchases for many customers and several horizons.

    The hypergeometric part of equation 10 depends on the frequency and T
    only, so it is evaluated once per distinct (x, T) pair and gathered; the
    chance of being alive (``alive``, :func:`probability_alive`), the only part
    that needs t_x, is computed once for all horizons. Build one per fit and
    set of customers and ask it every horizon: finding the distinct pairs of
    500,000 customers costs as much as a horizon's predictions.
    """

    def __init__(self, fit: BGNBDFit, frequency: Any, recency: Any, T: Any) -> None:
        self.r, self.alpha, self.a, self.b = _fit_params(fit)
        x, t_x, age = _check_rfm(frequency, recency, T)
        self.n = len(x)
        # Hashed (pandas), not sorted (numpy): the pairs' order does not matter, and three sorts of 500,000
        # values took a tenth of a second.
        x_index, x_values = pd.factorize(x)
        age_index, age_values = pd.factorize(age)
        self.inverse, keys = pd.factorize(x_index.astype(np.int64) * len(age_values) + age_index)
        self.pair_x = x_values[keys // len(age_values)]
        self.pair_age = age_values[keys % len(age_values)]
        self.alive = _alive(self.r, self.alpha, self.a, self.b, x, t_x, age)

    def expected(self, t: float) -> np.ndarray:
        """E[purchases in (T, T + t]] per customer for one horizon ``t``."""
        return self._per_pair(t)[self.inverse] * self.alive

    def _per_pair(self, t: float) -> np.ndarray:
        """E[purchases in (T, T + t]] per distinct (x, T) pair, before the chance of being alive."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        x, age = self.pair_x, self.pair_age
        hyp_a, hyp_b, hyp_c = r + x, b + x, a + b + x - 1
        z = t / (alpha + age + t)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            log_hyp = np.log(hyp2f1(hyp_a, hyp_b, hyp_c, z))
            unusable = ~np.isfinite(log_hyp)
            if np.any(unusable):
                alternative = (np.log(hyp2f1(hyp_c[unusable] - hyp_a[unusable], hyp_c[unusable] - hyp_b[unusable],
                                             hyp_c[unusable], z[unusable]))
                               + (hyp_c[unusable] - hyp_a[unusable] - hyp_b[unusable]) * np.log1p(-z[unusable]))
                log_hyp[unusable] = alternative
        first = (a + b + x - 1) / (a - 1)
        second = -np.expm1(log_hyp + (r + x) * np.log((alpha + age) / (alpha + age + t)))
        return first * second

    def discounted(self, horizon_months: int, monthly_discount_rate: float, unit: str) -> np.ndarray:
        """Expected purchases month by month over the horizon, each discounted (see :func:`discounted_purchases`).

        ``unit`` is the one the model was fitted in; the arguments are checked by the caller.
        """
        month = MONTH_IN_UNITS[unit]
        # Summed per (x, T) pair and spread to the customers once: each customer's figure is its pair's times
        # its chance of being alive, so the sum over months factors. Month by month over every customer took
        # a tenth of a second at 500,000 customers.
        value = np.zeros(len(self.pair_x))
        previous = np.zeros(len(self.pair_x))
        for i in range(1, horizon_months + 1):
            cumulative = self._per_pair(i * month)
            value += (cumulative - previous) / (1 + monthly_discount_rate) ** i
            previous = cumulative
        return value[self.inverse] * self.alive


def _alive(r: float, alpha: float, a: float, b: float, x: np.ndarray, t_x: np.ndarray,
           age: np.ndarray) -> np.ndarray:
    """P(alive): 1 / (1 + a / (b + x - 1) ((alpha + T) / (alpha + t_x))^(r + x)) for repeat buyers, else 1."""
    log_odds = (r + x) * np.log((alpha + age) / (alpha + t_x)) + np.log(a / (b + np.maximum(x, 1) - 1))
    return np.where(x > 0, expit(-log_odds), 1.0)


def expected_purchases(fit: BGNBDFit, t: float | np.ndarray, frequency: Any, recency: Any, T: Any) -> np.ndarray:
    """Expected purchases in the next ``t`` time units given each customer's history.

    Fader, Hardie and Lee (2005), equation 10, with the Gaussian
    hypergeometric function from scipy; where it overflows the Euler
    transformation ``2F1(a, b; c; z) = (1 - z)^(c-a-b) 2F1(c-a, c-b; c; z)`` is
    used instead, as lifetimes does.

    Parameters
    ----------
    fit : BGNBDFit
    t : float or array
        Horizon, in the unit the model was fitted in; an array gives one
        horizon per customer.
    frequency, recency, T : array-like
        Per-customer summary at the end of observation.

    Returns
    -------
    ndarray
        E[purchases in (T, T + t] | x, t_x, T] per customer.
    """
    if np.ndim(t) == 0:
        return PurchasePredictor(fit, frequency, recency, T).expected(float(t))
    horizons = np.asarray(t, dtype=float)
    predictor = PurchasePredictor(fit, frequency, recency, T)
    if horizons.shape != (predictor.n,):
        raise UserFacingError("give one horizon, or one per customer")
    result = np.empty(predictor.n)
    for horizon in np.unique(horizons):
        chosen = horizons == horizon
        result[chosen] = predictor.expected(float(horizon))[chosen]
    return result


def expected_purchases_new_customer(fit: BGNBDFit, t: float | np.ndarray) -> np.ndarray:
    """Expected purchases of a customer in their first ``t`` units after the first purchase (equation 9).

    Parameters
    ----------
    fit : BGNBDFit
    t : float or array

    Returns
    -------
    ndarray
        E[X(t)], repeat purchases only.
    """
    r, alpha, a, b = _fit_params(fit)
    t = np.asarray(t, dtype=float)
    hyp = hyp2f1(r, b, a + b - 1, t / (alpha + t))
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp)


def probability_alive(fit: BGNBDFit, frequency: Any, recency: Any, T: Any) -> np.ndarray:
    """Probability that each customer has not dropped out by the end of observation.

    ``P(alive) = 1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x))^(r + x))``
    for repeat buyers; 1 for customers without repeat purchases (in BG/NBD
    dropping out happens only right after a purchase).

    Parameters
    ----------
    fit : BGNBDFit
    frequency, recency, T : array-like

    Returns
    -------
    ndarray
    """
    r, alpha, a, b = _fit_params(fit)
    x, t_x, age = _check_rfm(frequency, recency, T)
    return _alive(r, alpha, a, b, x, t_x, age)


# ---------------------------------------------------------------------------
# Gamma-Gamma
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class GammaGammaFit:
    """Gamma-Gamma spend model: spend per purchase ~ Gamma(p, nu), nu ~ Gamma(q, v).

    The population mean spend per purchase is p * v / (q - 1) (needs q > 1).
    ``excluded_nonpositive`` counts repeat buyers left out because their mean
    repeat spend was zero or negative (returns larger than purchases).
    """

    p: float
    q: float
    v: float
    log_likelihood: float
    converged: bool
    n_customers: int
    excluded_nonpositive: int
    iterations: int = 0
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _GammaGammaData:
    """Repeat buyers' spends arranged so that each evaluation does two per-customer operations.

    Terms in the frequency alone are computed per distinct frequency; sums of
    x log m, log m and x log x are fixed; only log(x m + v) and 1 / (x m + v)
    are left per customer.
    """

    def __init__(self, x: np.ndarray, m: np.ndarray) -> None:
        self.n = len(x)
        self.x = x
        self.x_m = x * m
        self.x_values, x_counts = np.unique(x, return_counts=True)
        self.x_counts = x_counts.astype(float)
        log_m = np.log(m)
        self.sum_x_log_m = float((x * log_m).sum())
        self.sum_log_m = float(log_m.sum())
        self.sum_x_log_x = float((x * np.log(x)).sum())


def _gamma_gamma_per_customer(p: float, q: float, v: float, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """log f(m | x, p, q, v): density of a customer's mean spend over x purchases."""
    px = p * x
    return (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v) + (px - 1) * np.log(m) + px * np.log(x)
            - (px + q) * np.log(x * m + v))


def _gamma_gamma_objective(log_params: np.ndarray, data: _GammaGammaData) -> tuple[float, np.ndarray]:
    """Mean negative log-likelihood and its gradient in log-parameters."""
    p, q, v = np.exp(log_params)
    xs, counts, n = data.x_values, data.x_counts, data.n
    pxs = p * xs
    log_xm_v = np.log(data.x_m + v)
    px_q = p * data.x + q
    value = (counts @ (gammaln(pxs + q) - gammaln(pxs)) - n * gammaln(q) + n * q * np.log(v)
             + p * data.sum_x_log_m - data.sum_log_m + p * data.sum_x_log_x - (px_q * log_xm_v).sum())
    digamma_pq = digamma(pxs + q)
    d_p = (counts @ (xs * (digamma_pq - digamma(pxs))) + data.sum_x_log_m + data.sum_x_log_x
           - (data.x * log_xm_v).sum())
    d_q = counts @ digamma_pq - n * digamma(q) + n * np.log(v) - log_xm_v.sum()
    d_v = n * q / v - (px_q / (data.x_m + v)).sum()
    gradient = np.array([d_p * p, d_q * q, d_v * v])
    return -value / n, -gradient / n


def gamma_gamma_log_likelihood(params: Any, frequency: Any, monetary_value: Any) -> float:
    """Gamma-Gamma log-likelihood of the mean repeat spends (Fader, Hardie and Lee 2005b).

    Parameters
    ----------
    params : sequence of float
        ``(p, q, v)``.
    frequency, monetary_value : array-like
        Repeat buyers only: frequency > 0 and monetary value > 0.

    Returns
    -------
    float
    """
    x = _as_float_array(frequency, "frequency")
    m = _as_float_array(monetary_value, "monetary_value")
    p, q, v = np.asarray(params, dtype=float)
    return float(_gamma_gamma_per_customer(p, q, v, x, m).sum())


def fit_gamma_gamma(frequency: Any, monetary_value: Any, *, initial: tuple[float, float, float] | None = None,
                    maxiter: int = 2000, tolerance: float = 1e-12, raise_on_failure: bool = True) -> GammaGammaFit:
    """Fit the Gamma-Gamma spend model on the repeat buyers.

    Only customers with frequency > 0 enter; of those, a mean repeat spend of
    zero or less cannot come from a gamma distribution and is left out and
    counted in ``excluded_nonpositive``.

    Parameters
    ----------
    frequency, monetary_value : array-like
        Per-customer summary (see :func:`summary_table`).
    initial : tuple of float, optional
        Starting ``(p, q, v)``; default (1, 1, 1) scaled to the data's mean
        spend.
    maxiter, tolerance, raise_on_failure
        As in :func:`fit_bgnbd`.

    Returns
    -------
    GammaGammaFit
    """
    x = _as_float_array(frequency, "frequency")
    m = _as_float_array(monetary_value, "monetary_value")
    if len(x) != len(m):
        raise UserFacingError("frequency and monetary_value must have one value per customer")
    repeat = x > 0
    usable = repeat & (m > 0)
    excluded = int(np.sum(repeat & ~usable))
    if not np.any(usable):
        raise UserFacingError("no repeat buyer with a positive spend, so the spend model cannot be fitted")
    x, m = x[usable], m[usable]
    if initial is None:
        # p * v / (q - 1) is the mean spend; start with q = 2 and the data's mean.
        initial = (1.0, 2.0, float(np.mean(m)))
    result = optimize.minimize(
        _gamma_gamma_objective, np.log(np.asarray(initial, dtype=float)), args=(_GammaGammaData(x, m),),
        jac=True, method="L-BFGS-B", bounds=[(-_LOG_BOUND, _LOG_BOUND)] * 3,
        options={"maxiter": maxiter, "ftol": tolerance, "gtol": 1e-9},
    )
    converged, message = _check_result(("p", "q", "v"), result, "Gamma-Gamma")
    p, q, v = (float(value) for value in np.exp(result.x))
    if converged and q <= 1:
        converged, message = False, ("Gamma-Gamma: the fitted q is 1 or less, so the mean spend is not finite; "
                                     "spends vary too much between customers for this model")
    fit = GammaGammaFit(p=p, q=q, v=v, log_likelihood=float(-result.fun * len(x)), converged=converged,
                        n_customers=int(len(x)), excluded_nonpositive=excluded, iterations=int(result.nit),
                        message=message)
    if not converged and raise_on_failure:
        raise ModelFitError(message, fit)
    return fit


def expected_spend(fit: GammaGammaFit, frequency: Any, monetary_value: Any) -> np.ndarray:
    """Expected spend per future purchase of each customer (conditional on their history).

    ``E[spend | x, m] = (q - 1) / (p x + q - 1) * p v / (q - 1) + p x / (p x + q - 1) * m``:
    a weighted mean of the population mean and the customer's own mean, the
    weight on the customer's own growing with their purchases. Customers
    without a usable repeat spend get the population mean.

    Parameters
    ----------
    fit : GammaGammaFit
    frequency, monetary_value : array-like

    Returns
    -------
    ndarray
    """
    if not fit.converged:
        raise ModelFitError(f"the spend model did not converge and cannot be used: {fit.message}", fit)
    x = _as_float_array(frequency, "frequency")
    m = _as_float_array(monetary_value, "monetary_value")
    usable = (x > 0) & (m > 0)
    x = np.where(usable, x, 0.0)
    m = np.where(usable, m, 0.0)
    return fit.p * (fit.v + x * m) / (fit.p * x + fit.q - 1)


def population_mean_spend(fit: GammaGammaFit) -> float:
    """Mean spend per purchase across the population, p v / (q - 1)."""
    return fit.p * fit.v / (fit.q - 1)


# ---------------------------------------------------------------------------
# Lifetime value
# ---------------------------------------------------------------------------

def customer_lifetime_value(bgnbd: BGNBDFit, gg: GammaGammaFit, frequency: Any, recency: Any, T: Any,
                            monetary_value: Any, horizon_months: int = 12, monthly_discount_rate: float = 0.01,
                            unit: str = "days") -> np.ndarray:
    """Discounted expected spend over the next ``horizon_months`` months.

    As lifetimes' ``customer_lifetime_value``: for each month i = 1..H, the
    expected purchases in month i (BG/NBD, cumulative at the month's end minus
    at its start) times the expected spend per purchase (Gamma-Gamma),
    discounted by ``(1 + monthly_discount_rate) ** i``. A month is 30 days or
    4.345 weeks.

    Parameters
    ----------
    bgnbd : BGNBDFit
    gg : GammaGammaFit
    frequency, recency, T, monetary_value : array-like
        Per-customer summary in ``unit``.
    horizon_months : int
    monthly_discount_rate : float
    unit : {"days", "weeks"}
        The unit the BG/NBD was fitted in.

    Returns
    -------
    ndarray
    """
    spend = expected_spend(gg, frequency, monetary_value)
    return spend * discounted_purchases(bgnbd, frequency, recency, T, horizon_months, monthly_discount_rate, unit)


def discounted_purchases(bgnbd: BGNBDFit, frequency: Any, recency: Any, T: Any, horizon_months: int = 12,
                         monthly_discount_rate: float = 0.01, unit: str = "days") -> np.ndarray:
    """Expected purchases over the next ``horizon_months`` months, each month's discounted.

    Sum over months i = 1..H of E[purchases in month i] / (1 + rate) ** i; a
    customer's lifetime value is this times their expected spend per
    purchase, whichever spend model gives that.

    Parameters
    ----------
    bgnbd : BGNBDFit
    frequency, recency, T : array-like
        Per-customer summary in ``unit``.
    horizon_months : int
    monthly_discount_rate : float
    unit : {"days", "weeks"}

    Returns
    -------
    ndarray
    """
    _unit_days(unit)
    if horizon_months < 1:
        raise UserFacingError("the horizon must be at least one month")
    if monthly_discount_rate < 0:
        raise UserFacingError("the monthly discount rate cannot be negative")
    return PurchasePredictor(bgnbd, frequency, recency, T).discounted(horizon_months, monthly_discount_rate, unit)


# ---------------------------------------------------------------------------
# Calibration / hold-out
# ---------------------------------------------------------------------------

def calibration_holdout(transactions: pd.DataFrame, calibration_end: Any, observation_end: Any,
                        unit: str = "days") -> pd.DataFrame:
    """Split each customer's history at ``calibration_end`` (lifetimes' calibration_and_holdout_data).

    Parameters
    ----------
    transactions : DataFrame
        ``customer_id``, ``date``, ``amount``.
    calibration_end : date-like
        Last day of the calibration period (inclusive).
    observation_end : date-like
        Last day of the hold-out period (inclusive).
    unit : {"days", "weeks"}

    Returns
    -------
    DataFrame
        Customers who bought by ``calibration_end``: ``customer_id``,
        ``frequency_cal``, ``recency_cal``, ``T_cal``, ``monetary_value_cal``,
        ``frequency_holdout`` (purchase days in the hold-out) and
        ``duration_holdout`` (its length in ``unit``).
    """
    table, _ = _calibration_split(transactions, calibration_end, observation_end, unit)
    return table


def _calibration_split(transactions: pd.DataFrame, calibration_end: Any, observation_end: Any,
                       unit: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """calibration_holdout's table, and the hold-out purchase days per day of its customers."""
    unit_days = _unit_days(unit)
    cal_end = pd.Timestamp(calibration_end).normalize()
    obs_end = pd.Timestamp(observation_end).normalize()
    if obs_end <= cal_end:
        raise UserFacingError("the hold-out period must end after the calibration period")
    days = _purchase_days(transactions, obs_end)
    before = days.day <= _day_number(cal_end)
    if not before.any():
        raise UserFacingError(f"nobody bought on or before the cut date {cal_end:%Y-%m-%d}")
    calibration = days.subset(before)
    table = _summarise(calibration, cal_end, unit_days)
    table.columns = ["customer_id", "frequency_cal", "recency_cal", "T_cal", "monetary_value_cal"]
    known = np.zeros(len(days.ids), dtype=bool)
    known[calibration.customer] = True
    after = ~before & known[days.customer]
    per_customer = np.bincount(days.customer[after], minlength=len(days.ids))
    table["frequency_holdout"] = per_customer[np.unique(calibration.customer)].astype(float)
    table["duration_holdout"] = (obs_end - cal_end).days / unit_days
    holdout_days, purchases = np.unique(days.day[after], return_counts=True)
    daily = pd.DataFrame({"date": holdout_days.astype("datetime64[D]"), "purchases": purchases})
    return table, daily


@dataclass(frozen=True)
class HoldoutCheck:
    """How the purchase model fitted up to a cut date predicted the purchases after it.

    ``by_frequency``: per calibration-frequency bucket (0..6, 7+) the
    customers and their mean actual and predicted hold-out purchases (the
    paper's figure 3), with columns frequency_cal, customers, actual,
    predicted. ``over_time``: date, actual_cumulative, predicted_cumulative:
    the calibration customers' purchases from the cut date to each step of
    the hold-out. ``customers``: the calibration table with
    duration_holdout, predicted_holdout and bucket per customer. ``mae``:
    mean absolute error per customer; ``total_error_share``: (predicted -
    actual) / actual over all customers (None when nobody bought).
    """

    fit: BGNBDFit
    calibration_end: date
    observation_end: date
    unit: str
    n_customers: int
    by_frequency: pd.DataFrame
    over_time: pd.DataFrame
    customers: pd.DataFrame
    mae: float
    total_predicted: float
    total_actual: float
    total_error_share: float | None


def _frequency_bucket(frequency: np.ndarray) -> np.ndarray:
    return np.where(frequency >= 7, "7+", np.minimum(frequency, 7).astype(int).astype(str))


# Hypergeometric evaluations the weekly curve may cost before it switches to monthly points.
_AUTO_WEEKLY_BUDGET = 3_000_000


def _curve_points(cal_end: pd.Timestamp, obs_end: pd.Timestamp, time_step: str) -> list[pd.Timestamp]:
    step = pd.DateOffset(weeks=1) if time_step == "weeks" else pd.DateOffset(months=1)
    points = []
    point = cal_end + step
    while point < obs_end:
        points.append(point)
        point = point + step
    points.append(obs_end)
    return points


def holdout_check_from_summary(table: pd.DataFrame, holdout_daily: pd.DataFrame, calibration_end: Any,
                               observation_end: Any, unit: str = "days", time_step: str = "auto",
                               fit: BGNBDFit | None = None) -> HoldoutCheck:
    """The hold-out check from a calibration summary and the hold-out's daily purchase counts.

    Parameters
    ----------
    table : DataFrame
        :func:`calibration_holdout`'s columns: ``customer_id``,
        ``frequency_cal``, ``recency_cal``, ``T_cal``, ``frequency_holdout``.
    holdout_daily : DataFrame
        ``date`` and ``purchases``: purchase days of these customers on each
        day after ``calibration_end`` (days without any may be left out).
    calibration_end, observation_end : date-like
    unit : {"days", "weeks"}
    time_step : {"auto", "weeks", "months"}
        Spacing of ``over_time``; "auto" is weekly unless that would cost more
        than a few million hypergeometric evaluations, then monthly.
    fit : BGNBDFit, optional
        Fitted on ``table`` here when not given.

    Returns
    -------
    HoldoutCheck
    """
    if time_step not in ("auto", "weeks", "months"):
        raise UserFacingError("the time step of the hold-out check must be weeks or months")
    unit_days = _unit_days(unit)
    cal_end = pd.Timestamp(calibration_end).normalize()
    obs_end = pd.Timestamp(observation_end).normalize()
    frequency, recency, age = (table[c].to_numpy(dtype=float) for c in ("frequency_cal", "recency_cal", "T_cal"))
    if fit is None:
        fit = fit_bgnbd(frequency, recency, age)
    predictor = PurchasePredictor(fit, frequency, recency, age)
    duration = (obs_end - cal_end).days / unit_days
    predicted = predictor.expected(duration)
    actual = table["frequency_holdout"].to_numpy(dtype=float)
    customers = table.assign(duration_holdout=duration, predicted_holdout=predicted,
                             bucket=_frequency_bucket(frequency))
    by_frequency = (customers.groupby("bucket")
                    .agg(customers=("customer_id", "size"), actual=("frequency_holdout", "mean"),
                         predicted=("predicted_holdout", "mean"))
                    .reindex(list(FREQUENCY_BUCKETS)).dropna(subset=["customers"]).reset_index()
                    .rename(columns={"bucket": "frequency_cal"}))
    by_frequency["customers"] = by_frequency["customers"].astype(int)

    if time_step == "auto":
        weeks = max(1, (obs_end - cal_end).days // 7)
        time_step = "weeks" if weeks * len(predictor.pair_x) <= _AUTO_WEEKLY_BUDGET else "months"
    daily = holdout_daily.assign(date=pd.to_datetime(holdout_daily["date"])).sort_values("date")
    daily = daily[(daily["date"] > cal_end) & (daily["date"] <= obs_end)]
    cumulative = np.cumsum(daily["purchases"].to_numpy(dtype=float))
    day_values = daily["date"].to_numpy()
    rows = []
    for day in _curve_points(cal_end, obs_end, time_step):
        reached = int(np.searchsorted(day_values, np.datetime64(day), side="right"))
        rows.append({
            "date": day.date(),
            "actual_cumulative": float(cumulative[reached - 1]) if reached else 0.0,
            "predicted_cumulative": float(predictor.expected((day - cal_end).days / unit_days).sum()),
        })
    total_actual = float(actual.sum())
    total_predicted = float(predicted.sum())
    return HoldoutCheck(
        fit=fit, calibration_end=cal_end.date(), observation_end=obs_end.date(), unit=unit,
        n_customers=len(table), by_frequency=by_frequency, over_time=pd.DataFrame(rows), customers=customers,
        mae=float(np.mean(np.abs(predicted - actual))), total_predicted=total_predicted, total_actual=total_actual,
        total_error_share=(total_predicted - total_actual) / total_actual if total_actual else None,
    )


def holdout_check(transactions: pd.DataFrame, calibration_end: Any, observation_end: Any, unit: str = "days",
                  time_step: str = "auto", fit: BGNBDFit | None = None) -> HoldoutCheck:
    """Fit BG/NBD on history up to ``calibration_end`` and compare its predictions with what happened after.

    Parameters
    ----------
    transactions : DataFrame
        ``customer_id``, ``date``, ``amount``.
    calibration_end, observation_end : date-like
        Cut date and end of the hold-out (both inclusive).
    unit : {"days", "weeks"}
        Time unit of the model.
    time_step : {"auto", "weeks", "months"}
        Spacing of the points of ``over_time`` (see
        :func:`holdout_check_from_summary`).
    fit : BGNBDFit, optional
        A fit on the calibration data already made; fitted here otherwise.

    Returns
    -------
    HoldoutCheck
    """
    table, daily = _calibration_split(transactions, calibration_end, observation_end, unit)
    return holdout_check_from_summary(table, daily, calibration_end, observation_end, unit, time_step, fit)


# ---------------------------------------------------------------------------
# Simulation (tests and benchmarks)
# ---------------------------------------------------------------------------

def simulate_bgnbd(r: float, alpha: float, a: float, b: float, T: Any, seed: int = 0) -> pd.DataFrame:
    """Draw customer histories from the BG/NBD process.

    Each customer gets a purchase rate lambda ~ Gamma(r, 1/alpha) and a
    drop-out chance p ~ Beta(a, b); after the first purchase at time 0, gaps
    are exponential(lambda) and after each repeat purchase the customer drops
    out with chance p. Used to check that :func:`fit_bgnbd` recovers known
    parameters and to time it.

    Parameters
    ----------
    r, alpha, a, b : float
    T : array-like
        Each customer's observation length.
    seed : int

    Returns
    -------
    DataFrame
        ``frequency``, ``recency``, ``T`` per customer.
    """
    rng = np.random.default_rng(seed)
    age = np.asarray(T, dtype=float)
    n = len(age)
    rate = rng.gamma(r, 1.0 / alpha, size=n)
    drop = rng.beta(a, b, size=n)
    frequency = np.zeros(n)
    recency = np.zeros(n)
    clock = np.zeros(n)
    active = np.ones(n, dtype=bool)
    # Advance every still-active customer by one purchase per round.
    while np.any(active):
        index = np.flatnonzero(active)
        clock[index] += rng.exponential(1.0, size=len(index)) / rate[index]
        bought = clock[index] <= age[index]
        buyers = index[bought]
        frequency[buyers] += 1
        recency[buyers] = clock[buyers]
        stays = rng.random(len(buyers)) >= drop[buyers]
        active[:] = False
        active[buyers[stays]] = True
    return pd.DataFrame({"frequency": frequency, "recency": recency, "T": age})
