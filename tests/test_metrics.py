"""Headline figures: the ratio rules by hand, and the overview figures on tiny histories."""

from __future__ import annotations

from dataclasses import replace

import pytest

from customer_value import db as dbmod
from customer_value import query
from customer_value.dataset import make_filters
from customer_value.filters import Filters
from customer_value.metrics import (
    csat_share,
    customer_quick_ratio,
    loss_to_gain_ratio,
    net_growth_rate,
    nps_score,
    overview_kpis,
    period_figures,
    safe_ratio,
)
from customer_value.query import clear_cache
from tests.builders import d, tiny_database


def test_ratios_by_hand():
    # The telecom study: 97 lost for 99 new in a month.
    assert loss_to_gain_ratio(97, 99) == pytest.approx(0.979798, abs=1e-6)
    # 100 active, 10 new, 5 back, 8 lost: (10 + 5 - 8) / 100 = 0.07
    assert net_growth_rate(10, 5, 8, 100) == pytest.approx(0.07)
    # (10 + 5) / 8 = 1.875
    assert customer_quick_ratio(10, 5, 8) == pytest.approx(1.875)
    assert customer_quick_ratio(3, 0, 0) is None
    assert safe_ratio(1, 0) is None
    assert net_growth_rate(1, 0, 0, 0) is None


def test_nps_and_csat_by_hand():
    # 10 answers: 5 promoters, 3 passives, 2 detractors -> 50% - 20% = +30 points.
    assert nps_score(5, 2, 10) == pytest.approx(30.0)
    assert nps_score(0, 0, 0) is None
    # 4 of 5 answers are 4 or 5 -> 80%.
    assert csat_share(4, 5) == pytest.approx(0.8)
    assert csat_share(0, 0) is None


@pytest.fixture()
def small_firm(tmp_path):
    """Three customers over 2024, W = 30 in the tests below.

    A: buys 2024-01-10 and 2024-03-01 (gap 51 > 30: lost 2024-02-09, back 2024-03-01), last + 30 = 2024-03-31.
    B: buys 2024-02-05 twice the same day (one purchase day), 2024-03-06 (gap exactly 30: no break).
    C: buys 2024-03-20, contract ends 2024-03-25 (explicit churn before last purchase + W).
    Data end (as of) is C's 2024-03-20 purchase... plus a late line on 2024-04-30 to set the end.
    """
    database = tiny_database(
        tmp_path / "firm.duckdb",
        transactions=[
            ("A", d("2024-01-10"), 100, 40), ("A", d("2024-03-01"), 50, 10),
            ("B", d("2024-02-05"), 30, 6), ("B", d("2024-02-05"), 20, 4), ("B", d("2024-03-06"), 80, 20),
            ("C", d("2024-03-20"), 200, None),
            ("D", d("2024-04-30"), 10, 1),
        ],
        customers=[("A", "University", "East", "Li", None), ("B", "K-12 school", "East", "Li", None),
                   ("C", "University", "West", "Wang", d("2024-03-25")),
                   ("D", "K-12 school", "West", "Wang", None)],
        feedback=[("A", d("2024-03-02"), "service", 5, 10), ("B", d("2024-03-07"), "service", 4, 7),
                  ("C", d("2024-03-21"), "annual", 2, 3)],
    )
    yield database
    dbmod.forget(database.path)


def test_march_figures_by_hand(small_firm):
    march = Filters(start=d("2024-03-01"), end=d("2024-03-31"), window_days=30, as_of=d("2024-04-30"))
    figures = period_figures(small_firm, march)
    # Active on 29 Feb: A lost on 9 Feb; B active (5 Feb + 30 = 6 Mar is the first inactive day). -> 1
    assert figures["active_at_start"] == 1
    # New in March: C. Reactivated: A (1 Mar). Lost: B? B bought again on 6 Mar, exactly W days
    # later, so B stays active; C's contract ends 25 Mar -> lost; A's last + 30 = 31 Mar -> lost.
    assert figures["new_customers"] == 1
    assert figures["reactivated_customers"] == 1
    assert figures["lost_customers"] == 2
    # Active on 31 Mar: B only (6 Mar + 30 = 5 Apr). 1 + 1 + 1 - 2 = 1.
    assert figures["active_customers"] == 1
    assert figures["revenue"] == pytest.approx(50 + 80 + 200)
    # Margin over lines with a cost: (10 + 20) / 330 (C's 200 has no cost but counts in revenue).
    assert figures["gross_margin"] == pytest.approx(30 / 330)
    assert figures["buyers"] == 3
    assert figures["repeat_purchase_rate"] == pytest.approx(0.0)
    # NPS answers 10, 7, 3: 1 promoter, 1 detractor of 3 -> 0 points; CSAT 5, 4, 2 -> 2/3.
    assert figures["nps"] == pytest.approx(0.0)
    assert figures["csat"] == pytest.approx(2 / 3)
    assert figures["net_growth_rate"] == pytest.approx((1 + 1 - 2) / 1)
    assert figures["loss_to_gain_ratio"] == pytest.approx(2.0)
    assert figures["customer_quick_ratio"] == pytest.approx(1.0)


def test_february_and_previous_period(small_firm):
    february = Filters(start=d("2024-02-01"), end=d("2024-02-29"), window_days=30, as_of=d("2024-04-30"))
    figures = period_figures(small_firm, february)
    # A lost on 9 Feb (10 Jan + 30); B new on 5 Feb with two lines on one day = one purchase day, 2 orders.
    assert (figures["active_at_start"], figures["new_customers"], figures["lost_customers"],
            figures["active_customers"]) == (1, 1, 1, 1)
    assert figures["repeat_purchase_rate"] == pytest.approx(1.0)  # B placed two orders in February
    kpis = {kpi.key: kpi for kpi in overview_kpis(small_firm, february)}
    # The previous period of equal length (29 days) is 3 Jan to 31 Jan: A new in it.
    assert kpis["new_customers"].previous == 1
    assert kpis["new_customers"].change == 0
    assert kpis["nps"].value is None  # no answers in February: not defined, never NaN


def test_repeat_buyers_by_hand(tmp_path):
    # Every transaction here is its own order. In March:
    # P buys on two days -> repeat. Q buys twice on one day -> repeat. R buys once and has a
    # zero-amount order (not a purchase, but an order) on another March day -> repeat.
    # S buys once in March, once in April -> not repeat. T buys once and returns something
    # on another March day (a cancelled order is no order) -> not repeat. U only has the
    # zero-amount order -> no buyer at all. V buys once in March; its zero-amount orders fall in
    # February and April -> not repeat in March. X's zero-amount order comes before its one
    # March purchase -> repeat.
    database = tiny_database(tmp_path / "repeat.duckdb", transactions=[
        ("P", d("2024-03-02"), 10), ("P", d("2024-03-20"), 10),
        ("Q", d("2024-03-05"), 10), ("Q", d("2024-03-05"), 15),
        ("R", d("2024-03-07"), 10), ("R", d("2024-03-12"), 0),
        ("S", d("2024-03-09"), 10), ("S", d("2024-04-02"), 10),
        ("T", d("2024-03-10"), 10), ("T", d("2024-03-15"), -4, None, True),
        ("U", d("2024-03-11"), 0),
        ("V", d("2024-02-20"), 0), ("V", d("2024-03-14"), 10), ("V", d("2024-04-10"), 0),
        ("X", d("2024-03-01"), 0), ("X", d("2024-03-25"), 10),
    ])
    try:
        march = Filters(start=d("2024-03-01"), end=d("2024-03-31"), window_days=30, as_of=d("2024-04-30"))
        figures = period_figures(database, march)
        assert figures["buyers"] == 7  # P, Q, R, S, T, V, X
        assert figures["repeat_purchase_rate"] == pytest.approx(4 / 7)  # P, Q, R, X
        # From 14 March V's April zero-amount order is in the period; X's of 1 March is not.
        march_14_on = Filters(start=d("2024-03-14"), end=d("2024-04-30"), window_days=30, as_of=d("2024-04-30"))
        figures = period_figures(database, march_14_on)
        assert figures["buyers"] == 4  # P (20 March), S (2 April), V, X
        assert figures["repeat_purchase_rate"] == pytest.approx(1 / 4)  # V
        # The whole history is a period preset, read from customer_periods' rows: S's March and April
        # purchases make it a repeat buyer too.
        everything = make_filters(database, period="all_time")
        assert (everything.start, everything.end) == (d("2024-02-20"), d("2024-04-10"))
        assert query._stored_period(database, everything)
        figures = period_figures(database, everything)
        assert figures["buyers"] == 7
        assert figures["repeat_purchase_rate"] == pytest.approx(6 / 7)  # P, Q, R, S, V, X
    finally:
        dbmod.forget(database.path)


def test_filters_narrow_every_figure(small_firm):
    march_west = Filters(start=d("2024-03-01"), end=d("2024-03-31"), window_days=30, as_of=d("2024-04-30"),
                         regions=("West",))
    figures = period_figures(small_firm, march_west)
    assert figures["new_customers"] == 1 and figures["lost_customers"] == 1  # C only
    assert figures["revenue"] == pytest.approx(200)
    assert figures["gross_margin"] is None  # C's line has no cost
    assert figures["nps"] == pytest.approx(-100.0)


def test_longer_window_removes_the_lapse(small_firm):
    march = Filters(start=d("2024-03-01"), end=d("2024-03-31"), window_days=60, as_of=d("2024-04-30"))
    figures = period_figures(small_firm, march)
    # With W = 60, A's 51-day gap is no break: no reactivation, and nobody but C is lost in March.
    assert figures["reactivated_customers"] == 0
    assert figures["lost_customers"] == 1
    assert figures["active_customers"] == 2


def test_a_filtered_scope_lists_exactly_the_customers_of_the_allowed_groups(small_firm, tmp_path):
    from customer_value.filters import Scope
    from customer_value.query import _ensure_scoped_customers

    march = Filters(start=d("2024-03-01"), end=d("2024-03-31"), window_days=30, as_of=d("2024-04-30"))

    def listed(filters: Filters, scope: Scope | None = None, database: dbmod.Database = small_firm) -> list[str]:
        _ensure_scoped_customers(database, filters, scope)
        rows = database.cursor().execute("select customer_id from scoped_customers").fetchall()
        return sorted(row[0] for row in rows)

    assert listed(march) == ["A", "B", "C", "D"]
    # West: C and D (two groups: University/Wang and K-12 school/Wang).
    assert listed(replace(march, regions=("West",))) == ["C", "D"]
    assert listed(replace(march, customer_types=("University",), sales_reps=("Li",))) == ["A"]
    # The user's region scope and a filter together; a scope allowing no region shows nobody.
    assert listed(replace(march, customer_types=("K-12 school",)), Scope(regions=("East",))) == ["B"]
    assert listed(march, Scope(regions=())) == []
    # A customer missing from the customers file is '(unknown)' in all three, and can be chosen as such.
    partly_known = tiny_database(tmp_path / "partly_known.duckdb",
                                 transactions=[("A", d("2024-03-01"), 50, 10), ("E", d("2024-03-02"), 70, 7)],
                                 customers=[("A", "University", "East", "Li", None)])
    assert listed(replace(march, regions=("(unknown)",)), database=partly_known) == ["E"]
    assert listed(replace(march, regions=("East",)), database=partly_known) == ["A"]
    dbmod.forget(partly_known.path)


def test_one_session_moving_between_all_customers_and_a_filter_sees_each_scope(small_firm):
    # scoped_customers is a view of every customer while nobody is left out, else of the allowed groups' customers;
    # one cursor goes back and forth between them.
    march = Filters(start=d("2024-03-01"), end=d("2024-03-31"), window_days=30, as_of=d("2024-04-30"))
    west = Filters(start=march.start, end=march.end, window_days=30, as_of=march.as_of, regions=("West",))
    universities = Filters(start=march.start, end=march.end, window_days=30, as_of=march.as_of,
                           customer_types=("University",))
    # March revenue by hand: all 50 + 80 + 200; West: C's 200; universities: A's 50 + C's 200.
    expected = [(march, 330), (west, 200), (march, 330), (universities, 250), (west, 200), (march, 330)]
    for filters, revenue in expected:
        assert period_figures(small_firm, filters, None)["revenue"] == pytest.approx(revenue)
        clear_cache()  # so each run really rebuilds scoped_customers
