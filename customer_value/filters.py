"""The shared filters every page and report command takes, and their round trip through a link.

Periods are resolved against the data's own last day (``as_of``), not the wall
clock, so the demo company and an export from last year both open on a
meaningful "last 12 months".
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

PERIOD_PRESETS: dict[str, str] = {
    "last_12_months": "Last 12 months",
    "year_to_date": "Year to date",
    "last_full_year": "Last full year",
    "all_time": "All time",
    "custom": "Custom range",
}
DEFAULT_PERIOD = "last_12_months"
DEFAULT_WINDOW_DAYS = 90
MIN_WINDOW_DAYS = 7
MAX_WINDOW_DAYS = 730


def add_months(day: date, months: int) -> date:
    month_index = day.year * 12 + day.month - 1 + months
    year, month = divmod(month_index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def resolve_period(preset: str, as_of: date, data_start: date,
                   custom: tuple[date, date] | None = None) -> tuple[date, date]:
    """Start and end (both inclusive) of a named period ending at or before ``as_of``."""
    if preset == "last_12_months":
        return add_months(as_of, -12) + timedelta(days=1), as_of
    if preset == "year_to_date":
        return date(as_of.year, 1, 1), as_of
    if preset == "last_full_year":
        # A year that has fully passed by as_of: the previous calendar year unless
        # as_of is 31 December itself.
        year = as_of.year if as_of == date(as_of.year, 12, 31) else as_of.year - 1
        return date(year, 1, 1), date(year, 12, 31)
    if preset == "all_time":
        return data_start, as_of
    if preset == "custom":
        if custom is None:
            raise ValueError("a custom period needs a start and an end")
        return custom
    raise ValueError(f"unknown period {preset!r}")


def _is_month_end(day: date) -> bool:
    return day.day == calendar.monthrange(day.year, day.month)[1]


def previous_period(start: date, end: date) -> tuple[date, date]:
    """The period of equal length just before ``start``.

    Whole calendar months compare with the same number of months before (2025
    with 2024, March with February), as an executive expects; any other range
    with the same number of days before it.
    """
    if start.day == 1 and _is_month_end(end):
        months = (end.year - start.year) * 12 + end.month - start.month + 1
        return add_months(start, -months), start - timedelta(days=1)
    length = (end - start).days + 1
    return start - timedelta(days=length), start - timedelta(days=1)


@dataclass(frozen=True)
class Filters:
    """What the user has chosen; hashable so it can key caches."""

    start: date
    end: date
    customer_types: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    sales_reps: tuple[str, ...] = ()
    window_days: int = DEFAULT_WINDOW_DAYS
    period: str = DEFAULT_PERIOD
    as_of: date | None = None

    def previous(self) -> Filters:
        start, end = previous_period(self.start, self.end)
        return replace(self, start=start, end=end, period="custom")

    def describe(self) -> str:
        parts = [f"{self.start:%Y-%m-%d} to {self.end:%Y-%m-%d}"]
        for label, values in (("type", self.customer_types), ("region", self.regions),
                              ("rep", self.sales_reps)):
            if values:
                parts.append(f"{label}: {', '.join(values)}")
        parts.append(f"W = {self.window_days} days")
        return "; ".join(parts)


@dataclass(frozen=True)
class Scope:
    """Rows a user may see. ``regions=None`` means every region (see access.py)."""

    regions: tuple[str, ...] | None = None


@dataclass
class ParsedLink:
    filters: Filters
    page: str | None
    notices: list[str] = field(default_factory=list)


def _parse_date(text: str) -> date:
    return date.fromisoformat(text.strip())


def filters_to_query_params(filters: Filters, page: str | None = None) -> dict[str, str | list[str]]:
    """The URL query parameters that reopen exactly this view."""
    params: dict[str, str | list[str]] = {}
    if page:
        params["page"] = page
    params["period"] = filters.period
    if filters.period == "custom":
        params["start"] = filters.start.isoformat()
        params["end"] = filters.end.isoformat()
    if filters.customer_types:
        params["type"] = list(filters.customer_types)
    if filters.regions:
        params["region"] = list(filters.regions)
    if filters.sales_reps:
        params["rep"] = list(filters.sales_reps)
    if filters.window_days != DEFAULT_WINDOW_DAYS:
        params["w"] = str(filters.window_days)
    return params


def filters_from_query_params(
    params: dict[str, list[str]],
    *,
    as_of: date,
    data_start: date,
    choices: dict[str, list[str]],
    pages: list[str] | None = None,
) -> ParsedLink:
    """Read a link's parameters; anything invalid is dropped with a notice, never raised.

    ``params`` maps each key to all its values (Streamlit's ``get_all``).
    ``choices`` maps "type", "region" and "rep" to the values that exist.
    """
    notices: list[str] = []

    def first(key: str) -> str | None:
        values = params.get(key) or []
        return values[0] if values else None

    page = first("page")
    # Links shared before the page paths became the page files' names spelt words with hyphens.
    if page is not None and pages is not None and page not in pages and page.replace("-", "_") in pages:
        page = page.replace("-", "_")
    if page is not None and pages is not None and page not in pages:
        notices.append(f"The link names a page '{page}' that does not exist; showing the overview.")
        page = None

    period = first("period") or DEFAULT_PERIOD
    if period not in PERIOD_PRESETS:
        notices.append(f"Unknown period '{period}' in the link; using {PERIOD_PRESETS[DEFAULT_PERIOD]}.")
        period = DEFAULT_PERIOD
    custom = None
    if period == "custom":
        try:
            custom = (_parse_date(first("start") or ""), _parse_date(first("end") or ""))
            if custom[0] > custom[1]:
                raise ValueError("start after end")
        except ValueError:
            notices.append("The link's custom dates are missing or invalid; using the last 12 months.")
            period, custom = DEFAULT_PERIOD, None
    start, end = resolve_period(period, as_of, data_start, custom)

    selected: dict[str, tuple[str, ...]] = {}
    for key, label in (("type", "customer type"), ("region", "region"), ("rep", "sales rep")):
        wanted = params.get(key) or []
        known = [value for value in wanted if value in choices.get(key, [])]
        unknown = [value for value in wanted if value not in choices.get(key, [])]
        if unknown:
            notices.append(f"Ignored unknown {label} in the link: {', '.join(unknown)}.")
        selected[key] = tuple(dict.fromkeys(known))

    window_days = DEFAULT_WINDOW_DAYS
    raw_window = first("w")
    if raw_window is not None:
        try:
            window_days = int(raw_window)
            if not MIN_WINDOW_DAYS <= window_days <= MAX_WINDOW_DAYS:
                raise ValueError
        except ValueError:
            notices.append(
                f"Churn window '{raw_window}' in the link is not a whole number of days between "
                f"{MIN_WINDOW_DAYS} and {MAX_WINDOW_DAYS}; using {DEFAULT_WINDOW_DAYS}."
            )
            window_days = DEFAULT_WINDOW_DAYS

    filters = Filters(
        start=start,
        end=end,
        customer_types=selected["type"],
        regions=selected["region"],
        sales_reps=selected["rep"],
        window_days=window_days,
        period=period,
        as_of=as_of,
    )
    return ParsedLink(filters=filters, page=page, notices=notices)
