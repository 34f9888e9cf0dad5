"""What the loaded data spans and offers: the date range and the filter choices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from customer_value.db import Database
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
