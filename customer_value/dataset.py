"""What the loaded data spans and offers: the date range and the filter choices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa

from customer_value.db import Database
from customer_value.errors import DataChangedError
from customer_value.filters import (
    DEFAULT_PERIOD,
    DEFAULT_WINDOW_DAYS,
    Filters,
    Scope,
    resolve_period,
)
from customer_value.query import run


@dataclass(frozen=True)
class DataRange:
    start: date
    end: date  # "as of": the last day with a transaction

    @property
    def empty(self) -> bool:
        return self.start > self.end


def data_range(db: Database) -> DataRange | None:
    """First and last transaction day, or None when nothing is loaded."""
    start, end = db.meta("data_start"), db.meta("data_end")
    if not start or not end:
        return None
    return DataRange(date.fromisoformat(start), date.fromisoformat(end))


def filter_choices(db: Database, scope: Scope | None = None) -> dict[str, list[str]]:
    """Values each attribute filter can offer; regions narrowed to the user's scope."""
    frame = run(db, "filter_choices")
    choices = {key: frame.loc[frame["attribute"] == key, "value"].tolist() for key in ("type", "region", "rep")}
    if scope is not None and scope.regions is not None:
        choices["region"] = [value for value in choices["region"] if value in scope.regions]
    return choices


def make_filters(
    db: Database,
    *,
    period: str = DEFAULT_PERIOD,
    start: date | None = None,
    end: date | None = None,
    customer_types: tuple[str, ...] = (),
    regions: tuple[str, ...] = (),
    sales_reps: tuple[str, ...] = (),
    window_days: int = DEFAULT_WINDOW_DAYS,
) -> Filters:
    """Filters resolved against the loaded data (the command line and the pages share this)."""
    span = data_range(db)
    if span is None:
        today = date.today()
        span = DataRange(today, today)
    if start is not None or end is not None:
        period = "custom"
        custom = (start or span.start, end or span.end)
        if custom[0] > custom[1]:
            raise ValueError(f"the start {custom[0]} is after the end {custom[1]}")
    else:
        custom = None
    first, last = resolve_period(period, span.end, span.start, custom)
    return Filters(start=first, end=last, customer_types=tuple(customer_types), regions=tuple(regions),
                   sales_reps=tuple(sales_reps), window_days=window_days, period=period, as_of=span.end)


def rows_of_keys(listed: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Each ``wanted`` integer's position in ``listed`` (distinct integers from 0), -1 where it is not listed.

    Customer keys are small dense integers: a lookup table indexed by them beats sorting or hashing half a
    million of them.
    """
    listed = np.asarray(listed, dtype="int64")
    wanted = np.asarray(wanted, dtype="int64")
    row_of = np.full(int(max(listed.max(initial=-1), wanted.max(initial=-1))) + 1, -1, dtype="int64")
    row_of[listed] = np.arange(len(listed))
    return row_of[wanted]


def listed_rows(db: Database, filters: Filters | None, scope: Scope | None,
                keys: np.ndarray) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Where customers given by key sit in the scope's list of customers, in customer id order.

    Returns
    -------
    listing : DataFrame
        ``segment_customer_attributes.sql``'s rows, every customer in scope in id order (cached: the list
        does not depend on the period).
    listing_rows : ndarray of int
        The listing's rows of the customers ``keys`` names, in id order.
    row_at : ndarray of int
        For each of those, its position in ``keys``: ``keys[row_at]`` lists the customers by id.

    Raises :class:`DataChangedError` unless every key is listed, once: both queries read the same scoped
    customers, one row each, unless a load or an undo landed between them, and then the page runs again
    for the new data anyway.
    """
    listing = run(db, "segment_customer_attributes", filters=filters, scope=scope)
    positions = rows_of_keys(listing["customer_key"].to_numpy(dtype="int64"), keys)
    kept = np.zeros(len(listing), dtype=bool)
    kept[positions[positions >= 0]] = True
    if (positions < 0).any() or int(kept.sum()) != len(keys):
        raise DataChangedError()
    # Each key's place among the kept customers, counted rather than sorted (positions are unique).
    row_at = np.empty(len(keys), dtype="int64")
    row_at[(np.cumsum(kept) - 1)[positions]] = np.arange(len(keys))
    return listing, np.flatnonzero(kept), row_at


def listing_columns(listing: pd.DataFrame, attributes: list[str], rows: np.ndarray) -> pd.DataFrame:
    """``attributes`` of the listing's ``rows``, in that order, with a fresh index.

    Taken in Arrow: pandas' mask over the query's chunked text columns took 0.1-0.3 s at 500,000 customers
    where Arrow's filter, or this take in id order, takes 0.03-0.07 s. Rows in another order (by value) cost
    more, as every gather of text does: 3 s for 5 million customers' six columns.
    """
    table = pa.Table.from_pandas(listing[attributes], preserve_index=False)
    return table.take(pa.array(rows, type=pa.int64())).to_pandas()


def with_customer_attributes(db: Database, filters: Filters | None, scope: Scope | None, rows: pd.DataFrame,
                             attributes: list[str]) -> pd.DataFrame:
    """``rows`` (one per customer, with ``customer_key``) in customer id order, ``attributes`` columns first.

    ``attributes`` are columns of ``segment_customer_attributes.sql`` (customer_id,
    name, customer_type, region, sales_rep, acquisition_channel,
    first_purchase_date, churn_date). That list, in id order, does not depend on
    the period, so it stays cached while periods change; a query joining and
    sorting the text of 375,000-500,000 customers itself took longer than its
    aggregate. ``customer_key`` is dropped from the result.
    """
    listing, listing_rows, row_at = listed_rows(db, filters, scope, rows["customer_key"].to_numpy(dtype="int64"))
    frame = listing_columns(listing, attributes, listing_rows)
    ordered = rows.iloc[row_at].reset_index(drop=True)
    for column in ordered.columns.drop("customer_key"):
        frame[column] = ordered[column]
    return frame
