"""Periods and the link round trip."""

from __future__ import annotations

from datetime import date

from customer_value.filters import (
    Filters,
    filters_from_query_params,
    filters_to_query_params,
    previous_period,
    resolve_period,
)

AS_OF = date(2025, 12, 31)
START = date(2021, 1, 12)
CHOICES = {"type": ["University", "K-12 school"], "region": ["East China", "West"], "rep": ["Li Jun"]}


def test_period_presets():
    assert resolve_period("last_12_months", AS_OF, START) == (date(2025, 1, 1), date(2025, 12, 31))
    assert resolve_period("last_12_months", date(2024, 2, 29), START) == (date(2023, 3, 1), date(2024, 2, 29))
    assert resolve_period("year_to_date", date(2025, 6, 15), START) == (date(2025, 1, 1), date(2025, 6, 15))
    assert resolve_period("last_full_year", date(2025, 6, 15), START) == (date(2024, 1, 1), date(2024, 12, 31))
    assert resolve_period("last_full_year", AS_OF, START) == (date(2025, 1, 1), date(2025, 12, 31))
    assert resolve_period("all_time", AS_OF, START) == (START, AS_OF)


def test_previous_period_has_equal_length():
    # Whole months compare with the same number of calendar months before.
    assert previous_period(date(2025, 1, 1), date(2025, 12, 31)) == (date(2024, 1, 1), date(2024, 12, 31))
    assert previous_period(date(2024, 3, 1), date(2024, 3, 31)) == (date(2024, 2, 1), date(2024, 2, 29))
    # Any other range: the same number of days just before (10 days: 1-10 June -> 22-31 May).
    assert previous_period(date(2024, 6, 1), date(2024, 6, 10)) == (date(2024, 5, 22), date(2024, 5, 31))
    assert previous_period(date(2024, 6, 16), date(2024, 9, 15)) == (date(2024, 3, 16), date(2024, 6, 15))


def test_link_round_trip():
    original = Filters(start=date(2024, 2, 1), end=date(2024, 9, 30), customer_types=("University",),
                       regions=("East China", "West"), sales_reps=("Li Jun",), window_days=60,
                       period="custom", as_of=AS_OF)
    params = filters_to_query_params(original, "segments")
    as_lists = {key: value if isinstance(value, list) else [value] for key, value in params.items()}
    parsed = filters_from_query_params(as_lists, as_of=AS_OF, data_start=START, choices=CHOICES,
                                       pages=["overview", "segments"])
    assert parsed.filters == original
    assert parsed.page == "segments"
    assert parsed.notices == []


def test_default_view_makes_a_short_link():
    default = Filters(start=date(2025, 1, 1), end=AS_OF, as_of=AS_OF)
    assert filters_to_query_params(default) == {"period": "last_12_months"}


def test_a_link_spelling_a_page_with_hyphens_opens_that_page():
    parsed = filters_from_query_params({"page": ["net-growth"]}, as_of=AS_OF, data_start=START, choices=CHOICES,
                                       pages=["overview", "net_growth"])
    assert parsed.page == "net_growth"
    assert parsed.notices == []


def test_invalid_link_values_are_dropped_with_a_notice():
    parsed = filters_from_query_params(
        {"period": ["fortnight"], "region": ["West", "Atlantis"], "w": ["-3"], "page": ["nowhere"],
         "type": ["University"]},
        as_of=AS_OF, data_start=START, choices=CHOICES, pages=["overview"])
    assert parsed.filters.period == "last_12_months"
    assert parsed.filters.regions == ("West",)
    assert parsed.filters.customer_types == ("University",)
    assert parsed.filters.window_days == 90
    assert parsed.page is None
    assert len(parsed.notices) == 4
    assert any("Atlantis" in notice for notice in parsed.notices)


def test_bad_custom_dates_fall_back():
    parsed = filters_from_query_params({"period": ["custom"], "start": ["2025-13-01"], "end": ["2025-01-01"]},
                                       as_of=AS_OF, data_start=START, choices=CHOICES)
    assert parsed.filters.period == "last_12_months"
    assert parsed.notices and "custom dates" in parsed.notices[0]
    reversed_range = filters_from_query_params(
        {"period": ["custom"], "start": ["2025-06-01"], "end": ["2025-01-01"]},
        as_of=AS_OF, data_start=START, choices=CHOICES)
    assert reversed_range.filters.period == "last_12_months"
