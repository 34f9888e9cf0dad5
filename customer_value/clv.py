"""Customer lifetime value on the loaded data: the page's and the ``clv`` command's figures.

Purchases come from ``customer_days`` (one purchase per customer and day with
a non-cancelled line of positive revenue; its amount is the day's net
revenue), through ``queries/clv_summary.sql`` and
``queries/clv_purchase_days.sql``. The models are in
:mod:`customer_value.clv_models`.

The observation ends on the chosen period's last day unless given: the whole
history up to that day is used, whatever the period's start, because the
models need each customer's whole purchase record. A customer whose contract
ended (churn_date on or before the observation end) keeps their history in
the fit but is given no future purchases or value.

With too little history (fewer than :data:`MIN_CUSTOMERS` customers or
:data:`MIN_REPEAT_BUYERS` repeat buyers) or when an optimiser does not
converge, the result says the model cannot be trusted yet and why, and the
table holds the summary only: a fit on noise is never shown.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from customer_value import clv_models
from customer_value.cache import (
    RESULT_FRAMES_BYTES,
    LruCache,
    customer_selection_key,
    handed_out,
    without_period_name,
)
from customer_value.clv_models import BGNBDFit, GammaGammaFit, HoldoutCheck, ModelFitError
from customer_value.dataset import data_range, listed_rows, listing_columns, rows_of_keys
from customer_value.db import Database
from customer_value.errors import DataChangedError, UserFacingError
from customer_value.filters import Filters, Scope
from customer_value.query import as_date, run
from customer_value.segments import segment_labels_by_key

MIN_CUSTOMERS = 300
MIN_REPEAT_BUYERS = 30
PREDICTION_DAYS = (30, 90, 365)
GROUP_LEVELS = {
    "grid_cell": "Value x margin cell",
    "rfm_segment": "RFM segment",
    "customer_type": "Customer type",
    "region": "Region",
    "sales_rep": "Sales rep",
}
NOT_IN_PERIOD = "(no purchase in period)"
SUMMARY_COLUMNS = ["customer_id", "name", "customer_type", "region", "sales_rep", "churn_date",
                   "first_purchase_date", "last_purchase_date", "frequency", "recency", "T", "monetary_value"]
# The summary's columns from the scope's list of customers (segment_customer_attributes.sql) and from
# clv_summary.sql, in SUMMARY_COLUMNS' order.
ATTRIBUTE_COLUMNS = ["customer_id", "name", "customer_type", "region", "sales_rep", "churn_date"]
FIGURE_COLUMNS = ["first_purchase_date", "last_purchase_date", "frequency", "recency", "T", "monetary_value"]
PREDICTION_COLUMNS = [f"expected_purchases_{days}" for days in PREDICTION_DAYS] + [
    "probability_alive", "expected_spend", "clv"]
ALL_CUSTOMERS = "all customers"
UNKNOWN_TYPE = "(unknown)"
# Fits take seconds at 500,000 customers and the page, the early-warning list and the command line ask for the
# same ones. Kept in the process (not Streamlit's cache_data, which pickled the 500,000-row table on every hit).
_FITS = LruCache("lifetime-value fits and hold-out checks", 16, max_bytes=RESULT_FRAMES_BYTES)
# The fitted table with the period's segment columns: they change with the period and W, the fit does not.
_WITH_SEGMENTS = LruCache("lifetime values with the period's segments", 16, max_bytes=RESULT_FRAMES_BYTES)


@dataclass(frozen=True)
class SpendModels:
    """Gamma-Gamma spend models: one per customer type that can carry its own, and one on everybody.

    Spend per purchase differs by an order of magnitude between customer
    types (a university against a training institution); one model on
    everybody makes its population mean, which is what a customer without
    repeat purchases is given, a blend no real customer resembles, and its q
    near 1 makes that mean unstable. ``by_type`` holds a converged fit with
    q > 1 for each type with at least :data:`MIN_REPEAT_BUYERS` usable
    repeat buyers; other types use ``pooled``. ``notes`` say which fell back
    and why.
    """

    by_type: dict[str, GammaGammaFit]
    pooled: GammaGammaFit | None
    notes: list[str]

    def named(self, name: str) -> GammaGammaFit | None:
        """The model called ``name``: a customer type's own, or :data:`ALL_CUSTOMERS` for the pooled one."""
        return self.pooled if name == ALL_CUSTOMERS else self.by_type[name]


def _usable_spends(rows: pd.DataFrame) -> int:
    return int(((rows["frequency"] > 0) & (rows["monetary_value"] > 0)).sum())


def fit_spend_models(summary: pd.DataFrame) -> SpendModels:
    """Fit Gamma-Gamma on everybody and on each customer type with enough repeat buyers.

    Parameters
    ----------
    summary : DataFrame
        ``customer_type``, ``frequency``, ``monetary_value`` per customer.

    Returns
    -------
    SpendModels
        ``pooled`` is None when no repeat buyer has a positive spend.
    """
    def fit(rows: pd.DataFrame) -> GammaGammaFit | None:
        if _usable_spends(rows) == 0:
            return None
        return clv_models.fit_gamma_gamma(rows["frequency"].to_numpy(dtype=float),
                                          rows["monetary_value"].to_numpy(dtype=float), raise_on_failure=False)

    # Only the two columns a fit reads: selecting whole rows per type copied 500,000 customers' text each time.
    spends = summary[["frequency", "monetary_value"]]
    pooled = fit(spends)
    by_type: dict[str, GammaGammaFit] = {}
    notes: list[str] = []
    type_code, type_names = _type_codes(summary["customer_type"])
    if len(type_names) > 1:
        for code in np.argsort(type_names):
            customer_type = type_names[code]
            rows = spends[type_code == code]
            usable = _usable_spends(rows)
            if usable < MIN_REPEAT_BUYERS:
                notes.append(f"{customer_type}: only {usable:,} repeat buyers with a positive spend, so it uses the "
                             "spend model of all customers")
                continue
            own = fit(rows)
            if own is None or not own.converged:
                notes.append(f"{customer_type}: its own spend model did not converge "
                             f"({own.message if own else 'no spend'}), so it uses the model of all customers")
                continue
            by_type[customer_type] = own
    return SpendModels(by_type=by_type, pooled=pooled, notes=notes)


def expected_spend_by_type(models: SpendModels, customer_type: Any, frequency: Any,
                           monetary_value: Any) -> tuple[np.ndarray, np.ndarray]:
    """Each customer's expected spend per purchase from their customer type's spend model.

    Parameters
    ----------
    models : SpendModels
    customer_type, frequency, monetary_value : array-like
        One value per customer.

    Returns
    -------
    (ndarray, ndarray)
        The expected spend (:func:`clv_models.expected_spend` of the model
        used) and the name of the model used: the customer type, or
        :data:`ALL_CUSTOMERS`.

    Raises
    ------
    ModelFitError
        When a customer needs the model on all customers and it did not converge.
    """
    type_code, type_names = _type_codes(customer_type)
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary_value, dtype=float)
    spend = np.zeros(len(type_code))
    # Each type's model name, then every customer's by their type's code: no pass over 500,000 names as text.
    model_names = np.array([name if name in models.by_type else ALL_CUSTOMERS for name in type_names], dtype=object)
    model_code, used_names = pd.factorize(model_names)
    customer_model = model_code[type_code]
    for code in np.argsort(used_names):
        chosen = customer_model == code
        fit = models.named(used_names[code])
        if fit is None:
            raise ModelFitError("no repeat buyer has a positive spend, so the spend model cannot be fitted")
        spend[chosen] = clv_models.expected_spend(fit, x[chosen], m[chosen])
    return spend, used_names[customer_model]


def _type_codes(customer_type: Any) -> tuple[np.ndarray, np.ndarray]:
    """Each customer's type as a position in an array of distinct type names (text; a missing type is
    "(unknown)", as the attribute lists name it).

    Hashed once (pandas) and named per distinct value, not converted to text per customer: that took 0.2 s
    at 500,000 customers. Values that read the same as text (1 and "1") are one type, as they were.
    """
    codes, values = pd.factorize(pd.Series(customer_type, copy=False), use_na_sentinel=False)
    names = [UNKNOWN_TYPE if pd.isna(value) else str(value) for value in values]
    name_code, distinct = pd.factorize(np.array(names, dtype=object))
    return name_code[codes], distinct.astype(object)


@dataclass
class ClvResult:
    """What the lifetime-value fit did, and whether its figures can be trusted.

    ``trusted`` is False when there is too little history or an optimiser did
    not converge; ``reason`` then says why ("cannot be trusted yet, because
    ..."), ``bgnbd``/``gamma_gamma`` are None and the table carries no
    predictions. ``warnings`` are caveats that leave the fit usable.
    ``gamma_gamma`` is the spend model on all customers (None when it did not
    converge); ``spend_models`` lists every spend model used, per customer
    type where a type carries its own (see :class:`SpendModels`).
    """

    trusted: bool
    reason: str | None
    observation_end: date
    unit: str
    horizon_months: int
    monthly_discount_rate: float
    n_customers: int
    n_repeat_buyers: int
    bgnbd: BGNBDFit | None = None
    gamma_gamma: GammaGammaFit | None = None
    spend_models: list[dict[str, Any]] = field(default_factory=list)
    excluded_nonpositive: int = 0
    contracts_ended: int = 0
    warnings: list[str] = field(default_factory=list)
    totals: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _observation_end(db: Database, filters: Filters | None, observation_end: date | None) -> date:
    if observation_end is not None:
        return observation_end
    if filters is not None:
        return filters.end
    end = as_date(db.meta("data_end"))
    if end is None:
        raise UserFacingError("nothing is loaded yet; load transactions first")
    return end


def _unit_days(unit: str) -> int:
    if unit not in clv_models.UNIT_DAYS:
        raise UserFacingError(f"unknown time unit {unit!r}; use days or weeks")
    return clv_models.UNIT_DAYS[unit]


def summary_frame(db: Database, filters: Filters | None, scope: Scope | None = None, unit: str = "weeks",
                  observation_end: date | None = None) -> pd.DataFrame:
    """Per-customer frequency, recency, T and monetary value from ``queries/clv_summary.sql``.

    Parameters
    ----------
    db : Database
    filters : Filters or None
        Attribute filters choose the customers; the period's end is the
        default observation end.
    scope : Scope, optional
    unit : {"days", "weeks"}
    observation_end : date, optional

    Returns
    -------
    DataFrame
        Columns :data:`SUMMARY_COLUMNS`, one row per customer with a purchase
        by the observation end.
    """
    return _summary_rows(*_figures_by_id(db, filters, scope, unit, _observation_end(db, filters, observation_end)))


def _figures_by_id(db: Database, filters: Filters | None, scope: Scope | None, unit: str,
                   end: date) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """The scope's list of customers, the rows of it that bought by ``end`` and their figures, all in id order.

    The figures are numbers and days only, so putting them in order is cheap; the text is taken from the
    list once, in whatever order the caller finally needs (:func:`_summary_rows`).
    """
    figures = _summary_figures(db, filters, scope, unit, end)
    listing, listing_rows, row_at = listed_rows(db, filters, scope, figures["customer_key"].to_numpy(dtype="int64"))
    return listing, listing_rows, figures.iloc[row_at].reset_index(drop=True)


def _summary_rows(listing: pd.DataFrame, listing_rows: np.ndarray, figures: pd.DataFrame) -> pd.DataFrame:
    """:data:`SUMMARY_COLUMNS` of the listing's rows ``listing_rows``, whose figures are ``figures`` (same order)."""
    frame = listing_columns(listing, ATTRIBUTE_COLUMNS, listing_rows)
    for column in FIGURE_COLUMNS:
        frame[column] = figures[column].to_numpy()
    for column in ("churn_date", "first_purchase_date", "last_purchase_date"):
        frame[column] = _as_dates(frame[column])
    return frame


def _summary_figures(db: Database, filters: Filters | None, scope: Scope | None, unit: str,
                     end: date) -> pd.DataFrame:
    """``clv_summary.sql``'s rows: the summary by customer key, without names (kept in the query cache).

    Up to the data's last day or later, the query reads the load's all-time sums. Should a load move that day
    between this check and the query, the fit's data version check refuses the result, and the query cache
    entry is one no later request asks for (the same end and version with the other answer).
    """
    span = data_range(db)
    whole_history = span is not None and end >= span.end
    return run(db, "clv_summary", filters=filters, scope=scope, params={
        "observation_end": end, "unit_days": _unit_days(unit), "whole_history": whole_history})


def _as_dates(values: pd.Series) -> pd.Series:
    """Timestamps as ``datetime.date`` objects, missing ones NaT, as ``.dt.date`` gives them.

    Through Arrow: ``.dt.date`` built 500,000 dates one by one in 0.1 s per column.
    """
    stamps = pd.to_datetime(values).to_numpy(dtype="datetime64[us]")
    dates = pa.array(stamps).cast(pa.date32()).to_pandas(date_as_object=True).to_numpy(dtype=object, copy=True)
    dates[np.isnat(stamps)] = pd.NaT
    return pd.Series(dates, index=values.index, dtype=object)


def _trust_problem(n_customers: int, n_repeat: int) -> str | None:
    if n_customers < MIN_CUSTOMERS:
        return (f"The lifetime-value model cannot be trusted yet, because only {n_customers:,} customers have "
                f"bought by the observation end; it needs at least {MIN_CUSTOMERS:,} to tell customers' "
                "habits apart from chance. Widen the filters or load more history.")
    if n_repeat < MIN_REPEAT_BUYERS:
        return (f"The lifetime-value model cannot be trusted yet, because only {n_repeat:,} customers have "
                f"bought more than once (at least {MIN_REPEAT_BUYERS:,} are needed); without repeat purchases "
                "nothing shows how often customers come back. Load a longer history.")
    return None


def _warnings(summary: pd.DataFrame, end: date, bgnbd: BGNBDFit, models: SpendModels, used: set[str],
              contracts_ended: int) -> list[str]:
    notes = []
    if bgnbd.caveat:
        notes.append(bgnbd.caveat)
    excluded = int(((summary["frequency"] > 0) & (summary["monetary_value"] <= 0)).sum())
    if excluded:
        notes.append(f"{excluded:,} repeat buyers are left out of the spend model because their repeat purchase "
                     "days net to zero or less (returns as large as purchases); their expected spend is their "
                     "model's mean.")
    fits = {name: models.named(name) for name in sorted(used)}
    one_timers = int((summary["frequency"] == 0).sum())
    if models.by_type:
        means = ", ".join(f"{name} {clv_models.population_mean_spend(fit):,.0f}" for name, fit in fits.items())
        notes.append(f"Spend per purchase is modelled per customer type, because it differs widely between them "
                     f"(mean spend per purchase: {means}). The {one_timers:,} customers without a repeat purchase "
                     "are valued at their type's mean, not at anything they have shown themselves.")
    elif one_timers:
        notes.append(f"The {one_timers:,} customers without a repeat purchase are valued at the mean spend of all "
                     "customers, not at anything they have shown themselves.")
    notes.extend(f"{note}." for note in models.notes)
    wild = [f"{name} (q = {fit.q:.2f})" for name, fit in fits.items() if fit.q < 2]
    if wild:
        notes.append(f"Spend per purchase varies enormously between customers in {', '.join(wild)}: with q below "
                     "2 the customers' mean spends have no finite variance, so the mean spend given to customers "
                     "with few purchases is uncertain.")
    frequency = summary["frequency"].to_numpy(dtype=float)
    monetary = summary["monetary_value"].to_numpy(dtype=float)
    repeat = (frequency > 0) & (monetary > 0)
    frequency, monetary = frequency[repeat], monetary[repeat]
    if len(frequency) > 2 and np.ptp(frequency) > 0 and np.ptp(monetary) > 0:
        correlation = float(np.corrcoef(frequency, monetary)[0, 1])
        # Gamma-Gamma assumes spend per purchase does not depend on how often a customer buys.
        if abs(correlation) > 0.3:
            notes.append(f"How often customers buy and how much they spend per purchase are correlated "
                         f"({correlation:+.2f}); the spend model assumes they are not, so expected spends lean "
                         "towards the average.")
    one_timers = float((summary["frequency"] == 0).mean())
    if one_timers > 0.8:
        notes.append(f"{one_timers:.0%} of customers bought only once; their predictions rest on the population "
                     "averages, not on their own record.")
    history_days = (pd.Timestamp(end) - pd.Timestamp(summary["first_purchase_date"].min())).days
    if history_days < max(PREDICTION_DAYS):
        notes.append(f"The history covers only {history_days:,} days, so predictions over {max(PREDICTION_DAYS)} "
                     "days reach beyond anything the model has seen.")
    if contracts_ended:
        notes.append(f"{contracts_ended:,} customers' contracts ended by the observation end; they are given no "
                     "future purchases or value.")
    return notes


def _with_segments(table: pd.DataFrame, keys: np.ndarray, db: Database, filters: Filters | None,
                   scope: Scope | None) -> pd.DataFrame:
    """The fitted table with the period's value x margin cell and RFM segment (none without filters).

    ``keys`` are the rows' customer keys. The segments page's labels (segment_labels_by_key), looked up by
    key: the whole classification and a lookup by id took 0.8 s at 500,000 customers.
    They go after the summary's columns, before the predictions, so the table reads summary, segments, value.
    """
    if filters is None:
        return table
    labels = segment_labels_by_key(db, filters, scope)
    rows = rows_of_keys(labels["customer_key"].to_numpy(dtype="int64"), keys)
    merged = table.copy(deep=False)
    place = (merged.columns.get_loc(PREDICTION_COLUMNS[0]) if PREDICTION_COLUMNS[0] in merged.columns
             else len(merged.columns))
    for offset, column in enumerate(("grid_cell", "rfm_segment")):
        names = np.append(labels[column].cat.categories.to_numpy(dtype=object), NOT_IN_PERIOD)
        # One code past the labelled customers' stands for everyone who did not buy in the period.
        codes = np.append(labels[column].cat.codes.to_numpy(), len(names) - 1)
        picked = codes[np.where(rows >= 0, rows, len(codes) - 1)]
        merged.insert(place + offset, column, pd.Series(names[picked], index=merged.index, dtype=object))
    return merged


def spend_model_row(name: str, fit: GammaGammaFit, customers_valued: int) -> dict[str, Any]:
    """One spend model's parameters, data and mean spend per purchase, for the page's table and JSON."""
    return {"spend_model": name, "p": fit.p, "q": fit.q, "v": fit.v, "repeat_buyers": fit.n_customers,
            "excluded_nonpositive": fit.excluded_nonpositive,
            "mean_spend_per_purchase": clv_models.population_mean_spend(fit), "customers_valued": customers_valued,
            "iterations": fit.iterations}


def clv_table(db: Database, filters: Filters | None, scope: Scope | None = None, unit: str = "weeks",
              observation_end: date | None = None, horizon_months: int = 12,
              monthly_discount_rate: float = 0.01) -> tuple[pd.DataFrame, ClvResult]:
    """Fit BG/NBD and Gamma-Gamma on the customers in scope and value each of them.

    Parameters
    ----------
    db : Database
    filters : Filters or None
        Attribute filters choose the customers; the period's end is the
        observation end unless ``observation_end`` is given.
    scope : Scope, optional
        The user's row scope.
    unit : {"days", "weeks"}
        Time unit of the fit (the parameters' alpha depends on it; the
        predictions do not).
    observation_end : date, optional
    horizon_months : int
        CLV horizon.
    monthly_discount_rate : float
        Discount per month (0.01 = 1%).

    Returns
    -------
    (DataFrame, ClvResult)
        One row per customer: :data:`SUMMARY_COLUMNS`, ``grid_cell`` and
        ``rfm_segment`` (the period's, or "(no purchase in period)"), and when
        the result is trusted ``expected_purchases_30/90/365`` (days),
        ``probability_alive``, ``expected_spend`` (per future purchase) and
        ``clv`` (discounted expected spend over the horizon), sorted by CLV
        (equal values by customer id). Fits are kept per data version, chosen
        customers, observation end and settings (a change of the period's start
        or of W refits nothing; it only attaches that period's segments), and the
        result is shared by every caller: read it, do not change it.
    """
    if not 1 <= horizon_months <= 120:
        raise UserFacingError("the horizon must be 1 to 120 months")
    if not 0 <= monthly_discount_rate < 1:
        raise UserFacingError("the monthly discount rate must be at least 0 and below 1 (0.01 = 1% a month)")
    end = _observation_end(db, filters, observation_end)
    chosen = customer_selection_key(db, filters, scope)
    fit_key = ("clv_table", *chosen, unit, end, horizon_months, monthly_discount_rate)
    fitted, result, keys = _FITS.get_or_compute(fit_key, lambda: _clv_table(db, filters, scope, unit, end,
                                                                             horizon_months, monthly_discount_rate))
    # Under the fit's own key (its data version): a load landing between the fit and the segments must not file
    # a table built on the old fit under the new version.
    table = _WITH_SEGMENTS.get_or_compute((*fit_key, without_period_name(filters)),
                                          lambda: _with_segments(fitted, keys, db, filters, scope))
    _same_data_version(db, chosen)
    return handed_out(table), result


def _same_data_version(db: Database, key: tuple) -> None:
    """Refuse figures computed while a load or an undo landed: parts of them may come from either version."""
    if db.data_version() != key[1]:
        raise DataChangedError()


def _clv_table(db: Database, filters: Filters | None, scope: Scope | None, unit: str, end: date,
               horizon_months: int, monthly_discount_rate: float) -> tuple[pd.DataFrame, ClvResult, np.ndarray]:
    """The fitted table, its result and each row's customer key."""
    listing, listing_rows, figures = _figures_by_id(db, filters, scope, unit, end)
    keys = figures["customer_key"].to_numpy(dtype="int64")
    # What the fits and the warnings read; the names and other text are taken once the table's order is known.
    summary = figures.join(listing_columns(listing, ["customer_type", "churn_date"], listing_rows))
    n_customers = len(summary)
    n_repeat = int((summary["frequency"] > 0).sum())
    ended = summary["churn_date"].notna() & (pd.to_datetime(summary["churn_date"]) <= pd.Timestamp(end))
    result = ClvResult(trusted=False, reason=_trust_problem(n_customers, n_repeat), observation_end=end, unit=unit,
                       horizon_months=horizon_months, monthly_discount_rate=monthly_discount_rate,
                       n_customers=n_customers, n_repeat_buyers=n_repeat, contracts_ended=int(ended.sum()))
    if result.reason is not None:
        return _summary_rows(listing, listing_rows, figures), result, keys
    frequency, recency, age, monetary = (summary[column].to_numpy(dtype=float)
                                         for column in ("frequency", "recency", "T", "monetary_value"))
    try:
        bgnbd = clv_models.fit_bgnbd(frequency, recency, age)
        models = fit_spend_models(summary)
        spend, basis = expected_spend_by_type(models, summary["customer_type"], frequency, monetary)
    except ModelFitError as error:
        result.reason = (f"The lifetime-value model cannot be trusted yet, because its fit did not converge: "
                         f"{error}. Try the other time unit, widen the filters or load more history.")
        return _summary_rows(listing, listing_rows, figures), result, keys
    unit_days = clv_models.UNIT_DAYS[unit]
    alive_factor = np.where(ended.to_numpy(), 0.0, 1.0)
    # One predictor for every horizon: the same figures as clv_models.expected_purchases, probability_alive and
    # discounted_purchases give one by one.
    predictor = clv_models.PurchasePredictor(bgnbd, frequency, recency, age)
    predictions = {f"expected_purchases_{days}": alive_factor * predictor.expected(days / unit_days)
                   for days in PREDICTION_DAYS}
    predictions["probability_alive"] = alive_factor * predictor.alive
    predictions["expected_spend"] = spend
    predictions["spend_model"] = basis
    predictions["clv"] = alive_factor * spend * predictor.discounted(horizon_months, monthly_discount_rate, unit)
    # Largest value first. The rows are in customer id order, so a stable sort on value alone leaves equal
    # values by id. The text is taken once in this order: sorting the finished table moved every customer's
    # names and dates a second time (a quarter of a second at 500,000 customers).
    order = np.argsort(-predictions["clv"], kind="stable")
    table = _summary_rows(listing, listing_rows[order], figures.iloc[order])
    for column, values in predictions.items():
        table[column] = values[order]
    keys = keys[order]
    used = set(basis.tolist())
    result.trusted = True
    result.bgnbd = bgnbd
    result.gamma_gamma = models.pooled if models.pooled is not None and models.pooled.converged else None
    result.spend_models = [spend_model_row(name, models.named(name), int((basis == name).sum()))
                           for name in sorted(used)]
    result.excluded_nonpositive = int(((summary["frequency"] > 0) & (summary["monetary_value"] <= 0)).sum())
    result.warnings = _warnings(summary, end, bgnbd, models, used, result.contracts_ended)
    purchases = table["expected_purchases_365"].to_numpy(dtype=float)
    result.totals = {
        "clv": float(table["clv"].sum()),
        "expected_purchases_365": float(purchases.sum()),
        "expected_alive_customers": float(table["probability_alive"].sum()),
        # What the expected purchases of the next year would bring on average, across every spend model used.
        "mean_expected_spend": (float((table["expected_spend"] * purchases).sum() / purchases.sum())
                                if purchases.sum() > 0 else float(table["expected_spend"].mean())),
    }
    return table, result, keys


def clv_by_group(table: pd.DataFrame, by: str) -> pd.DataFrame:
    """Totals of a trusted :func:`clv_table` by one attribute or segment.

    Parameters
    ----------
    table : DataFrame
        :func:`clv_table`'s table (with predictions).
    by : str
        One of :data:`GROUP_LEVELS` present in the table.

    Returns
    -------
    DataFrame
        Per group: customers, share_customers, expected_purchases_365,
        expected_alive (sum of probability alive), clv, share_clv,
        clv_per_customer; largest CLV first.
    """
    if by not in table.columns:
        raise UserFacingError(f"the lifetime-value table has no column {by!r}; choose one of "
                              f"{', '.join(level for level in GROUP_LEVELS if level in table.columns)}")
    if "clv" not in table.columns:
        raise UserFacingError("there are no lifetime values to total: the model could not be fitted")
    grouped = (table.assign(_group=table[by].astype(object).where(table[by].notna(), "(unknown)"))
               .groupby("_group", sort=False)
               .agg(customers=("customer_id", "size"), expected_purchases_365=("expected_purchases_365", "sum"),
                    expected_alive=("probability_alive", "sum"), clv=("clv", "sum"))
               .reset_index().rename(columns={"_group": by}))
    total_customers = grouped["customers"].sum()
    total_clv = grouped["clv"].sum()
    grouped["share_customers"] = grouped["customers"] / total_customers if total_customers else np.nan
    grouped["share_clv"] = grouped["clv"] / total_clv if total_clv else np.nan
    grouped["clv_per_customer"] = grouped["clv"] / grouped["customers"]
    columns = [by, "customers", "share_customers", "expected_purchases_365", "expected_alive", "clv", "share_clv",
               "clv_per_customer"]
    return grouped[columns].sort_values(["clv", by], ascending=[False, True], ignore_index=True)


def default_cut_date(first_purchase: date, observation_end: date) -> date:
    """A hold-out of the last third of the history, between 13 and 52 weeks long."""
    history_days = (observation_end - first_purchase).days
    holdout_days = min(max(history_days // 3, 91), 364)
    return observation_end - timedelta(days=holdout_days)


@dataclass
class HoldoutReport:
    """The model's track record: fitted up to ``cut_date``, checked on what happened until the end.

    ``check`` is None when the calibration data are too thin or the fit did not
    converge; ``reason`` then says why.
    """

    trusted: bool
    reason: str | None
    cut_date: date
    observation_end: date
    unit: str
    check: HoldoutCheck | None = None

    def summary(self) -> dict[str, Any]:
        """Plain figures for JSON and the command line."""
        figures: dict[str, Any] = {"trusted": self.trusted, "reason": self.reason, "cut_date": self.cut_date,
                                   "observation_end": self.observation_end, "unit": self.unit}
        if self.check is not None:
            figures.update({
                "calibration_fit": self.check.fit.as_dict(),
                "customers": self.check.n_customers,
                "mae_per_customer": self.check.mae,
                "total_predicted": self.check.total_predicted,
                "total_actual": self.check.total_actual,
                "total_error_share": self.check.total_error_share,
                "by_frequency": self.check.by_frequency,
                "over_time": self.check.over_time,
            })
        return figures


def holdout_report(db: Database, filters: Filters | None, cut_date: date | None = None, scope: Scope | None = None,
                   unit: str = "weeks", observation_end: date | None = None,
                   time_step: str = "auto") -> HoldoutReport:
    """Fit the purchase model on purchases up to ``cut_date`` and compare with the purchases after it.

    Parameters
    ----------
    db : Database
    filters : Filters or None
    cut_date : date, optional
        Last day of the calibration period; default :func:`default_cut_date`.
    scope : Scope, optional
    unit : {"days", "weeks"}
    observation_end : date, optional
        End of the hold-out; default the period's end.
    time_step : {"auto", "weeks", "months"}
        Spacing of the cumulative predicted-vs-actual points ("auto": weekly
        unless that is slow on many customers, then monthly).

    Returns
    -------
    HoldoutReport
        Kept per data version, chosen customers and settings, and shared by every
        caller: read it, do not change it.
    """
    _unit_days(unit)
    end = _observation_end(db, filters, observation_end)
    chosen = customer_selection_key(db, filters, scope)
    key = ("holdout_report", *chosen, unit, end, cut_date, time_step)
    report = _FITS.get_or_compute(key, lambda: _holdout_report(db, filters, cut_date, scope, unit, end, time_step))
    _same_data_version(db, chosen)
    return report


def _holdout_report(db: Database, filters: Filters | None, cut_date: date | None, scope: Scope | None, unit: str,
                    end: date, time_step: str) -> HoldoutReport:
    calibration_end = cut_date
    if calibration_end is None:
        # Only the first purchase matters here: the figures, without attaching every customer's name.
        everyone = _summary_figures(db, filters, scope, unit, end)
        if everyone.empty:
            raise UserFacingError("no purchases by the observation end; load transactions or widen the filters")
        calibration_end = default_cut_date(everyone["first_purchase_date"].min().date(), end)
    report = HoldoutReport(trusted=False, reason=None, cut_date=calibration_end, observation_end=end, unit=unit)
    if calibration_end >= end:
        report.reason = (f"The cut date {calibration_end:%Y-%m-%d} must lie before the observation end "
                         f"({end:%Y-%m-%d}): the model needs days after it to be checked on.")
        return report
    calibration = summary_frame(db, filters, scope, unit, calibration_end)
    problem = _trust_problem(len(calibration), int((calibration["frequency"] > 0).sum()))
    if problem is not None:
        report.reason = problem.replace("by the observation end", f"by the cut date {calibration_end:%Y-%m-%d}")
        return report
    window = {"cut_date": calibration_end, "observation_end": end}
    # One row per customer, read once per check, and the check itself is cached (_FITS): not kept twice.
    holdout = run(db, "clv_holdout_customers", filters=filters, scope=scope, params=window, use_cache=False)
    daily = run(db, "clv_holdout_daily", filters=filters, scope=scope, params=window)
    table = pd.DataFrame({
        "customer_id": calibration["customer_id"],
        "frequency_cal": calibration["frequency"],
        "recency_cal": calibration["recency"],
        "T_cal": calibration["T"],
        "monetary_value_cal": calibration["monetary_value"],
        "frequency_holdout": calibration["customer_id"].map(holdout.set_index("customer_id")["purchases"])
        .fillna(0).astype(float),
    })
    try:
        report.check = clv_models.holdout_check_from_summary(table, daily, calibration_end, end, unit=unit,
                                                             time_step=time_step)
    except ModelFitError as error:
        report.reason = f"The model fitted up to the cut date did not converge: {error}."
        return report
    report.trusted = True
    return report
