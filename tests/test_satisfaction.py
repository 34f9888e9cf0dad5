"""Satisfaction statistics and the churn-by-band table, on hand-worked examples."""

from __future__ import annotations

import json
from dataclasses import replace

import pandas as pd
import pytest

from customer_value import db as dbmod
from customer_value import satisfaction as sat
from customer_value import team
from customer_value.cli import main
from customer_value.dataset import filter_choices, make_filters
from customer_value.derive import rebuild_derived
from customer_value.filters import Filters
from customer_value.metrics import period_figures
from customer_value.query import run
from tests.builders import d, tiny_database


def test_nps_csat_and_average_from_counts():
    # 10 answers: 4 promoters, 3 passives, 3 detractors -> NPS = 40% - 30% = +10 points.
    # 10 CSAT answers, 7 of them 4 or 5, scores summing to 36 -> CSAT 70%, average 3.6.
    figures = sat.score_figures({"answers": 10, "nps_answers": 10, "promoters": 4, "passives": 3, "detractors": 3,
                                 "csat_answers": 10, "satisfied": 7, "csat_total": 36, "complaints": 2})
    assert figures["nps"] == pytest.approx(10.0)
    assert figures["promoter_share"] == pytest.approx(0.4)
    assert figures["passive_share"] == pytest.approx(0.3)
    assert figures["detractor_share"] == pytest.approx(0.3)
    assert figures["csat"] == pytest.approx(0.7)
    assert figures["average_score"] == pytest.approx(3.6)
    assert figures["complaints"] == 2
    # The complaint rate needs orders, which these counts do not hold: it is per 100 orders, not per answer.
    assert "complaint_rate" not in figures
    assert sat.complaints_per_100_orders(3, 200) == pytest.approx(1.5)
    assert sat.complaints_per_100_orders(3, 0) is None


def test_no_answers_give_undefined_figures_not_nan():
    figures = sat.score_figures({})
    assert figures["nps"] is None and figures["csat"] is None and figures["nps_margin"] is None
    assert figures["csat_low"] is None and figures["average_score"] is None


def test_wilson_interval_by_hand():
    # 7 of 10, z = 1.96: z^2 = 3.8415; denominator 1 + 3.8415/10 = 1.38415;
    # centre (0.7 + 3.8415/20) / 1.38415 = 0.64449;
    # half width 1.96 * sqrt(0.21/10 + 3.8415/400) / 1.38415 = 0.24772 -> (0.39677, 0.89221).
    low, high = sat.wilson_interval(7, 10)
    assert low == pytest.approx(0.39677, abs=1e-4)
    assert high == pytest.approx(0.89221, abs=1e-4)
    # 0 of 5 still has an upper bound: 3.8415/5 / (1 + 3.8415/5) = 0.43449 (and the lower bound is 0).
    low, high = sat.wilson_interval(0, 5)
    assert low == pytest.approx(0.0, abs=1e-12)
    assert high == pytest.approx(0.43449, abs=1e-4)
    assert sat.wilson_interval(0, 0) is None


def test_nps_margin_of_error_by_hand():
    # 4 promoters, 3 detractors of 10: var = 0.4 + 0.3 - (0.4 - 0.3)^2 = 0.69;
    # standard error sqrt(0.69/10) = 0.26268 -> 26.268 points; 95% margin 1.96 * 26.268 = 51.48 points.
    assert sat.nps_standard_error(4, 3, 10) == pytest.approx(26.268, abs=1e-3)
    assert sat.nps_margin_of_error(4, 3, 10) == pytest.approx(51.48, abs=0.01)
    # All promoters: no spread, no margin.
    assert sat.nps_margin_of_error(5, 0, 5) == pytest.approx(0.0)
    assert sat.nps_margin_of_error(0, 0, 0) is None


def test_differences_within_the_noise():
    # Gap 8 with standard errors 3 and 4: combined 5, threshold 1.96 * 5 = 9.8 -> within noise.
    assert sat.differs(10.0, 3.0, 2.0, 4.0) is False
    # Gap 18 > 9.8 -> beyond the noise.
    assert sat.differs(20.0, 3.0, 2.0, 4.0) is True
    assert sat.differs(None, 3.0, 2.0, 4.0) is None


def test_two_proportion_test_by_hand():
    # 30 of 100 against 15 of 100: pooled share 45/200 = 0.225; standard error
    # sqrt(0.225 x 0.775 x (1/100 + 1/100)) = sqrt(0.0034875) = 0.059055; 1.96 x 0.059055 = 0.11575 < gap 0.15.
    assert sat.two_proportion_differs(30, 100, 15, 100) is True
    # 3 of 10 against 0 of 10: pooled 3/20 = 0.15; sqrt(0.15 x 0.85 x 0.2) = 0.159687; 1.96 x 0.159687 = 0.31299
    # > gap 0.30: within the noise. (Separate standard errors, sqrt(0.21/10) + 0 = 0.14491 -> 0.28403 < 0.30,
    # would have called it certain because the second group had no event.)
    assert sat.two_proportion_differs(3, 10, 0, 10) is False
    assert sat.two_proportion_differs(0, 5, 0, 5) is False
    assert sat.two_proportion_differs(1, 0, 0, 5) is None


@pytest.mark.parametrize(("score", "band"), [(0, "detractor"), (6, "detractor"), (7, "passive"), (8, "passive"),
                                             (9, "promoter"), (10, "promoter"), (None, None)])
def test_nps_band(score, band):
    assert sat.nps_band(score) == band


@pytest.mark.parametrize(("score", "band"), [(1, "1"), (2, "2"), (3, "3"), (4, "4"), (5, "5"), (None, None)])
def test_csat_band(score, band):
    assert sat.csat_band(score) == band


@pytest.mark.parametrize("score", [-1, 11, 6.5])
def test_nps_outside_the_scale_is_refused(score):
    with pytest.raises(ValueError, match="0-10"):
        sat.nps_band(score)


@pytest.mark.parametrize("score", [0, 6, 4.5])
def test_csat_outside_the_scale_is_refused(score):
    with pytest.raises(ValueError, match="1-5"):
        sat.csat_band(score)


def test_tokeniser_english_and_chinese():
    assert sat.tokenise("Delivery was LATE, very late!") == ["delivery", "was", "late", "very", "late"]
    assert sat.tokenise("服务很好") == ["服务", "务很", "很好"]
    assert sat.tokenise("好 ok") == ["好", "ok"]
    assert sat.tokenise(None) == []


def test_frequent_words_and_phrases_by_hand():
    comments = ["Delivery was late, very late.", "Late delivery again", "服务差", None]
    terms = sat.frequent_terms(comments)
    # late 3, delivery 2; "was", "very", "again" are stop words; the phrase "late delivery" once
    # (no phrase spans the comma); Chinese 服务 and 务差 once each.
    assert list(terms.itertuples(index=False, name=None)) == [
        ("late", "word", 3), ("delivery", "word", 2), ("late delivery", "phrase", 1),
        ("务差", "word", 1), ("服务", "word", 1)]


def test_filter_comments_by_text_and_band():
    frame = pd.DataFrame({"comment": ["Late delivery", "great service", "late again"],
                          "nps": pd.array([3, 10, 8], dtype="Int64"), "csat": pd.array([2, 5, 3], dtype="Int64")})
    assert sat.filter_comments(frame, "LATE")["comment"].tolist() == ["Late delivery", "late again"]
    assert sat.filter_comments(frame, "late", nps_bands=["detractor"])["comment"].tolist() == ["Late delivery"]
    assert sat.filter_comments(frame, "", csat_scores=[5, 3])["comment"].tolist() == ["great service", "late again"]


# A tiny company, W = 45 days, period 2024-01-01..2024-06-30, data to 2024-12-31.
#   A (North, Ann): buys 01-10, 02-10, 03-10 (100 each) -> lost 04-24. Answers 01-15 (NPS 10, CSAT 5) and
#     03-01 (NPS 3, CSAT 2): latest = detractor / CSAT 2, active on 03-01, lost after it.
#   B (North, Ann): buys on the 1st of every month of 2024 (50 each). Answers 02-01 (NPS 2, CSAT 1) and
#     05-01 (NPS 9, CSAT 4): latest = promoter / CSAT 4, never lost.
#   C (South, Bob): buys 01-20 and 06-20 (1,000 each; lost 03-05, reactivated 06-20) and 07-15 (500).
#     Answer 06-25 (NPS 5, CSAT 2): detractor, active at the answer, next loss 08-29 is after 06-30 + 45 days.
#   D (South, Bob): bought once on 2023-10-01 (lost 2023-11-15). Answer 03-01 (NPS 8, CSAT 3) while inactive.
WINDOW = 45
PERIOD = Filters(start=d("2024-01-01"), end=d("2024-06-30"), window_days=WINDOW, period="custom",
                 as_of=d("2024-12-31"))


@pytest.fixture()
def tiny_company(tmp_path):
    transactions = [("A", d("2024-01-10"), 100), ("A", d("2024-02-10"), 100), ("A", d("2024-03-10"), 100),
                    ("C", d("2024-01-20"), 1000), ("C", d("2024-06-20"), 1000), ("C", d("2024-07-15"), 500),
                    ("D", d("2023-10-01"), 400)]
    transactions += [("B", d(f"2024-{month:02d}-01"), 50) for month in range(1, 13)]
    transactions += [("B", d("2024-12-31"), 50)]
    customers = [("A", "School", "North", "Ann", None), ("B", "School", "North", "Ann", None),
                 ("C", "University", "South", "Bob", None), ("D", "University", "South", "Bob", None)]
    feedback = [("A", d("2024-01-15"), "service", 5, 10), ("A", d("2024-03-01"), "service", 2, 3),
                ("B", d("2024-02-01"), "service", 1, 2), ("B", d("2024-05-01"), "service", 4, 9),
                ("C", d("2024-06-25"), "service", 2, 5), ("D", d("2024-03-01"), "service", 3, 8)]
    return tiny_database(tmp_path / "t.duckdb", transactions=transactions, customers=customers, feedback=feedback)


def test_churn_by_band_uses_each_customers_latest_answer(tiny_company):
    table = sat.band_churn(tiny_company, PERIOD).set_index(["scale", "band"])
    # D answered while inactive and is left out; A (lost) and C (kept) are detractors; B a promoter.
    assert table.loc[("nps", "detractor"), ["customers", "lost"]].tolist() == [2, 1]
    assert table.loc[("nps", "detractor"), "churn_rate"] == pytest.approx(0.5)
    assert table.loc[("nps", "detractor"), "revenue"] == pytest.approx(2300.0)   # A 300 + C 2,000
    assert table.loc[("nps", "detractor"), "revenue_lost"] == pytest.approx(300.0)
    assert table.loc[("nps", "passive"), "customers"] == 0
    assert pd.isna(table.loc[("nps", "passive"), "churn_rate"])  # not defined: nobody in the band
    assert table.loc[("nps", "promoter"), ["customers", "lost"]].tolist() == [1, 0]
    assert table.loc[("nps", "promoter"), "revenue"] == pytest.approx(300.0)      # B: 6 x 50
    # B's earlier CSAT 1 is superseded by the later 4.
    assert table.loc[("csat", "1"), "customers"] == 0
    assert table.loc[("csat", "2"), ["customers", "lost"]].tolist() == [2, 1]
    assert table.loc[("csat", "4"), ["customers", "lost"]].tolist() == [1, 0]
    # Wilson interval of 1 lost of 2: z^2 = 3.8415, denominator 1 + 3.8415/2 = 2.92074, centre
    # (0.5 + 3.8415/4) / 2.92074 = 0.5, half width 1.96 * sqrt(0.25/2 + 3.8415/16) / 2.92074 = 0.40548.
    assert table.loc[("nps", "detractor"), "churn_low"] == pytest.approx(0.09452, abs=1e-4)
    assert table.loc[("nps", "detractor"), "churn_high"] == pytest.approx(0.90548, abs=1e-4)
    gap = sat.churn_gap(table.reset_index())
    assert gap["nps_gap_points"] == pytest.approx(50.0)
    assert gap["csat_gap_points"] == pytest.approx(50.0)
    # Detractors 1 of 2 lost, promoters 0 of 1: pooled share 1/3, standard error sqrt(1/3 x 2/3 x (1/2 + 1/1))
    # = 0.57735; the 50-point gap is under 1.96 x 0.57735 = 1.1316, so within the noise.
    assert gap["nps_gap_beyond_noise"] is False


def test_follow_up_lists_unhappy_customers_still_active(tiny_company):
    follow_up = sat.follow_up_list(sat.latest_answers(tiny_company, PERIOD))
    # A is unhappy but already lost on 04-24; B's latest answer is good; D was never active in the period.
    assert follow_up["customer_id"].tolist() == ["C"]
    row = follow_up.iloc[0]
    assert (row["latest_nps"], row["latest_csat"], row["period_revenue"]) == (5, 2, 2000.0)


def test_follow_up_shows_both_latest_scores_and_ranks_by_value():
    # X: latest NPS 3 (bad) but latest CSAT 4 (fine) -> listed, with CSAT 4 shown, not blank. Y: CSAT 1, no NPS,
    # more revenue -> first. Z: NPS 2 but no longer active -> left out. W: NPS 9, CSAT 5 -> nothing to follow up.
    def answer(customer, scale, score, active, revenue, day, comment=None):
        return {"customer_id": customer, "name": f"Customer {customer}", "customer_type": "School",
                "region": "North", "sales_rep": "Ann", "period_revenue": revenue, "last_purchase_date": d(day),
                "scale": scale, "score": score, "active_at_end": active, "response_date": d(day),
                "comment": comment}

    latest = pd.DataFrame([
        answer("X", "nps", 3, True, 500.0, "2024-05-01", "slow"), answer("X", "csat", 4, True, 500.0, "2024-04-01"),
        answer("Y", "csat", 1, True, 900.0, "2024-03-01", "broken"),
        answer("Z", "nps", 2, False, 5000.0, "2024-02-01"),
        answer("W", "nps", 9, True, 800.0, "2024-02-01"), answer("W", "csat", 5, True, 800.0, "2024-02-01")])
    follow_up = sat.follow_up_list(latest)
    assert follow_up["customer_id"].tolist() == ["Y", "X"]
    assert follow_up["latest_nps"].tolist()[1] == 3 and follow_up["latest_csat"].tolist()[1] == 4
    assert pd.isna(follow_up["latest_nps"].iloc[0]) and follow_up["latest_csat"].iloc[0] == 1
    assert follow_up["comment"].tolist() == ["broken", "slow"]


def test_answering_customers_are_counted_only_where_shown(tiny_company):
    groups = sat.score_groups(tiny_company, PERIOD).set_index(["survey", "dimension", "group_value"])
    # Ann's customers A and B gave 4 answers; the total and the months are not counted (nothing shows them).
    assert groups.loc[("service", "sales_rep", "Ann"), "customers"] == 2
    assert groups.loc[("all", "customer_type", "University"), "customers"] == 2
    assert groups.xs("total", level="dimension")["customers"].isna().all()
    assert groups.xs("month", level="dimension")["customers"].isna().all()


def test_a_survey_named_all_keeps_its_own_customer_count(tmp_path):
    # A answered a survey its export calls "All", B the service questionnaire. The survey "all" (A's one answer)
    # and every survey together (both answers) share a label; each must get its own count of customers.
    database = tiny_database(tmp_path / "all.duckdb",
                             transactions=[("A", d("2024-01-10"), 100), ("B", d("2024-02-10"), 100)],
                             customers=[("A", "School", "North", "Ann", None), ("B", "School", "North", "Ann", None)],
                             feedback=[("A", d("2024-01-15"), "All", 5, 10), ("B", d("2024-02-15"), "service", 4, 9)])
    filters = Filters(start=d("2024-01-01"), end=d("2024-12-31"), period="custom", as_of=d("2024-02-10"))
    groups = run(database, "satisfaction_groups", filters=filters, params={"dimensions": ["region"]},
                 use_cache=False)
    north = groups[(groups["survey"] == "all") & (groups["group_value"] == "North")]
    assert sorted(zip(north["answers"], north["customers"], strict=True)) == [(1, 1), (2, 2)]
    assert len(groups) == 3  # "all" North, service North and every survey North


def test_all_answers_count_for_the_scores(tiny_company):
    service = sat.headline(tiny_company, PERIOD)["service"]["figures"]
    # Six answers: NPS 10, 3, 2, 9, 5, 8 -> 2 promoters, 3 detractors -> (2 - 3) / 6 = -16.67 points.
    assert service["answers"] == 6
    assert service["nps"] == pytest.approx(-16.6667, abs=1e-3)
    # CSAT 5, 2, 1, 4, 2, 3 -> 2 of 6 satisfied; average 17 / 6.
    assert service["csat"] == pytest.approx(1 / 3)
    assert service["average_score"] == pytest.approx(17 / 6)
    # Orders in the period: A 3, B 6, C 2 -> response rate 6 / 11.
    assert service["response_rate"] == pytest.approx(6 / 11)
    # The previous half-year (2023-07-01..12-31) has no answer: no verdict on the change, rather than a guess.
    assert sat.headline(tiny_company, PERIOD)["service"]["csat_change_beyond_noise"] is None
    trend = sat.monthly_scores(tiny_company, PERIOD, "service").set_index("month")
    # Every month of the period is a row; April has no answer, so its scores are undefined (B's one order
    # that month was not answered: response rate 0 / 1).
    assert trend["answers"].tolist() == [1, 1, 2, 0, 1, 1]                   # Jan .. Jun
    assert trend["nps_answers"].tolist() == [1, 1, 2, 0, 1, 1]               # every answer carries an NPS
    assert pd.isna(trend.loc[pd.Timestamp("2024-04-01"), "nps"])
    assert trend.loc[pd.Timestamp("2024-04-01"), "response_rate"] == 0.0
    assert trend.loc[pd.Timestamp("2024-03-01"), "nps"] == pytest.approx(-50.0)  # A's 3 and D's 8
    assert trend.loc[pd.Timestamp("2024-03-01"), "response_rate"] == pytest.approx(1.0)  # 2 answers, A + B orders


def test_complaints_per_order_time_to_resolve_and_open_age(tiny_company):
    # Three answers of the tiny company become complaints: B's of 02-01 (resolved 02-05, 4 days), A's of 03-01
    # (resolved 03-11, 10 days) and C's of 06-25 (never resolved: open, 189 days old on 2024-12-31).
    con = tiny_company.cursor()
    con.execute("begin transaction")
    for customer, answered, resolved in (("B", "2024-02-01", "2024-02-05"), ("A", "2024-03-01", "2024-03-11"),
                                         ("C", "2024-06-25", None)):
        con.execute("update feedback set complaint = true, resolved_date = cast(? as date) "
                    "where customer_id = ? and response_date = cast(? as date)", [resolved, customer, answered])
    dbmod.bump_data_version(con)
    con.execute("commit")
    everything = sat.headline(tiny_company, PERIOD)["all"]["figures"]
    # 3 complaints over 11 orders in the period (A 3, B 6, C 2) = 27.27 per 100 orders; median of 4 and 10 = 7.
    assert everything["complaints"] == 3 and everything["orders"] == 11
    assert everything["complaints_per_100_orders"] == pytest.approx(27.2727, abs=1e-3)
    assert everything["median_days_to_resolve"] == pytest.approx(7.0)
    open_list = sat.open_complaints(sat.complaints(tiny_company, PERIOD))
    assert open_list[["customer_id", "age_days"]].values.tolist() == [["C", 189]]
    by_month = sat.complaints_by(tiny_company, PERIOD, "month")
    # Orders: Jan A, B, C = 3; Feb A, B = 2; Mar A, B = 2; Apr B; May B; Jun B, C = 2.
    assert by_month["orders"].tolist() == [3, 2, 2, 1, 1, 2]
    assert by_month["complaints"].tolist() == [0, 1, 1, 0, 0, 1]
    assert by_month["complaints_per_100_orders"].tolist() == pytest.approx([0.0, 50.0, 50.0, 0.0, 0.0, 50.0])
    by_rep = sat.complaints_by(tiny_company, PERIOD, "sales_rep").set_index("sales_rep")
    # Ann (A, B): 2 complaints / 9 orders = 22.22 per 100; Bob (C; D bought nothing): 1 / 2 = 50.
    assert by_rep.loc["Ann", "complaints_per_100_orders"] == pytest.approx(22.2222, abs=1e-3)
    assert by_rep.loc["Bob", "complaints_per_100_orders"] == pytest.approx(50.0)
    assert by_rep.loc["Bob", "open_complaints"] == 1 and by_rep.loc["Ann", "open_complaints"] == 0


def test_segment_table_flags_small_groups(tiny_company):
    table = sat.segment_table(tiny_company, PERIOD, "region", "service", min_answers=3).set_index("group")
    # North: A and B, 4 answers (NPS 10, 3, 2, 9 -> 0 points); South: C and D, 2 answers -> flagged, unranked.
    assert table.loc["North", "answers"] == 4 and table.loc["North", "nps"] == pytest.approx(0.0)
    assert table.loc["North", "rank"] == 1
    # Customers are counted once however often they answered: North A and B (4 answers), South C and D.
    assert table.loc["North", "customers"] == 2 and table.loc["South", "customers"] == 2
    assert table["customers"].dtype == "int64"  # whole numbers in the JSON report, not 2.0
    # CSAT North 2 of 4 (5, 2, 1, 4) against the rest 0 of 2 (2, 3): pooled share 2/6, standard error
    # sqrt(1/3 x 2/3 x (1/4 + 1/2)) = 0.40825; the 0.5 gap is under 1.96 x 0.40825 = 0.80 -> within the noise.
    assert table.loc["North", "csat"] == pytest.approx(0.5) and table.loc["North", "csat_vs_rest"] == "within noise"
    assert bool(table.loc["South", "enough_answers"]) is False
    assert pd.isna(table.loc["South", "rank"]) and table.loc["South", "nps_vs_rest"] == "too few answers"
    # Response rate of the after-service questionnaire: North 4 answers / (A 3 + B 6 orders) = 4/9;
    # South 2 answers / C's 2 orders (D bought nothing in the period) = 1.
    assert table.loc["North", "response_rate"] == pytest.approx(4 / 9)
    assert table.loc["South", "response_rate"] == pytest.approx(1.0)
    annual = sat.segment_table(tiny_company, PERIOD, "region", "all", min_answers=3)
    assert annual["response_rate"].isna().all()                # not known beyond the service questionnaire


def test_demo_totals_agree_with_the_overview(demo_db):
    filters = make_filters(demo_db)
    overview = period_figures(demo_db, filters)
    everything = sat.headline(demo_db, filters)["all"]["figures"]
    assert everything["nps"] == pytest.approx(overview["nps"])
    assert everything["csat"] == pytest.approx(overview["csat"])
    # A segment dimension partitions the answers.
    for dimension in sat.SEGMENT_DIMENSIONS:
        assert sat.segment_table(demo_db, filters, dimension, "all")["answers"].sum() == everything["answers"]
    # The demo company's unhappy customers leave more often.
    gap = sat.churn_gap(sat.band_churn(demo_db, filters))
    assert gap["detractor_churn_rate"] > gap["promoter_churn_rate"]


@pytest.mark.parametrize("change", ["default", "window_45", "one_region", "last_full_year"])
def test_activity_after_each_answer_follows_the_spells(demo_db, change):
    # The latest-answers query reads only the answering customers' purchase days; the customer movements
    # of spell_events.sql (the activity rule every page shares) must tell the same story for each answer.
    base = make_filters(demo_db)
    filters = {"default": base, "window_45": replace(base, window_days=45),
               "one_region": replace(base, regions=(filter_choices(demo_db)["region"][0],)),
               "last_full_year": make_filters(demo_db, period="last_full_year")}[change]
    latest = sat.latest_answers(demo_db, filters)
    events = run(demo_db, "spell_events", filters=filters)
    events["step"] = events["event"].map({"new": 1, "reactivated": 1, "lost": -1})
    merged = latest[["customer_id", "scale", "response_date"]].merge(events, on="customer_id", how="left")
    answer_day = pd.to_datetime(merged["response_date"])
    event_day = pd.to_datetime(merged["event_date"])
    last_day = pd.Timestamp(filters.end)
    follow_until = last_day + pd.Timedelta(days=filters.window_days)
    merged["before_answer"] = merged["step"].where(event_day <= answer_day, 0)
    merged["before_end"] = merged["step"].where(event_day <= last_day, 0)
    merged["loss_after"] = event_day.where((merged["event"] == "lost") & (event_day > answer_day)
                                           & (event_day <= follow_until))
    expected = merged.groupby(["customer_id", "scale"]).agg(
        active_at_answer=("before_answer", "sum"), active_at_end=("before_end", "sum"), lost_date=("loss_after", "min"))
    got = latest.set_index(["customer_id", "scale"]).loc[expected.index]
    assert len(latest) > 500
    assert (got["active_at_answer"].astype(bool) == (expected["active_at_answer"] > 0)).all()
    assert (got["active_at_end"].astype(bool) == (expected["active_at_end"] > 0)).all()
    never = pd.Timestamp(0)
    assert (pd.to_datetime(got["lost_date"]).fillna(never) == expected["lost_date"].fillna(never)).all()
    # Both answers of every kind occur, so the comparison above is not vacuous.
    assert got["active_at_answer"].astype(bool).any() and not got["active_at_answer"].astype(bool).all()
    assert got["lost_after_answer"].astype(bool).any() and not got["lost_after_answer"].astype(bool).all()
    assert (got["lost_after_answer"].astype(bool) == expected["lost_date"].notna()).all()


def test_open_complaints_have_an_age(demo_db):
    filters = make_filters(demo_db)
    open_list = sat.open_complaints(sat.complaints(demo_db, filters))
    assert len(open_list) > 0
    expected_age = (pd.Timestamp(filters.as_of) - pd.to_datetime(open_list["response_date"])).dt.days
    assert (open_list["age_days"].astype(int) == expected_age).all()
    assert open_list["age_days"].is_monotonic_decreasing


def test_command_prints_headline_and_band_churn(demo_db_path, capsys):
    assert main(["satisfaction", "--db", str(demo_db_path), "--json", "--min-answers", "5"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["min_answers"] == 5
    assert {row["band"] for row in report["band_churn"]} == {"detractor", "passive", "promoter", "1", "2", "3", "4",
                                                             "5"}
    assert report["surveys"]["service"]["kpis"]["nps"]["value"] is not None
    assert main(["satisfaction", "--db", str(demo_db_path), "--rep", "Nobody"]) == 2
    assert "unknown sales rep Nobody" in capsys.readouterr().err


# Band edges and answers outside the scales. The loader rejects -1, 11 (NPS) and 0, 6 (CSAT); rows that got in
# another way must not move any figure. Six customers each buy on 2024-06-01 and answer on 2024-06-10:
#   P6: NPS 6, CSAT 3    P7: NPS 7, CSAT 4    P8: NPS 8    P9: NPS 9    X1: NPS 11, CSAT 0    X2: NPS -1, CSAT 6
EDGE_ANSWERS = [("P6", 3, 6), ("P7", 4, 7), ("P8", None, 8), ("P9", None, 9), ("X1", 0, 11), ("X2", 6, -1)]


@pytest.fixture()
def edge_company(tmp_path):
    transactions = [(customer, d("2024-06-01"), 100) for customer, _, _ in EDGE_ANSWERS]
    customers = [(customer, "School", "North", "Ann", None) for customer, _, _ in EDGE_ANSWERS]
    feedback = [(customer, d("2024-06-10"), "service", csat, nps) for customer, csat, nps in EDGE_ANSWERS]
    return tiny_database(tmp_path / "edges.duckdb", transactions=transactions, customers=customers,
                         feedback=feedback)


def test_band_edges_and_out_of_scale_answers_in_the_queries(edge_company):
    service = sat.headline(edge_company, PERIOD)["service"]["figures"]
    # Valid NPS answers 6, 7, 8, 9: one detractor (6), two passives (7, 8), one promoter (9) -> NPS 0.
    assert service["nps_answers"] == 4
    assert (service["detractor_share"], service["passive_share"], service["promoter_share"]) == (0.25, 0.5, 0.25)
    assert service["nps"] == pytest.approx(0.0)
    # Valid CSAT answers 3 and 4: one satisfied (4) -> 50%; average 3.5.
    assert service["csat_answers"] == 2
    assert service["csat"] == pytest.approx(0.5) and service["average_score"] == pytest.approx(3.5)
    # All six rows are still answers (they may carry a complaint or a comment).
    assert service["answers"] == 6
    # The overview and team page read the same scales.
    overview = period_figures(edge_company, PERIOD)
    assert (overview["nps_answers"], overview["csat_answers"], overview["nps"]) == (4, 2, 0.0)
    team_row = team.team_table(edge_company, PERIOD, "region").iloc[0]
    assert (team_row["nps_answers"], team_row["csat_answers"], team_row["csat"]) == (4, 2, 0.5)
    # By band (latest answer per customer): X1 and X2 appear in no band.
    table = sat.band_churn(edge_company, PERIOD).set_index(["scale", "band"])["customers"]
    assert table[("nps", "detractor")] == 1 and table[("nps", "passive")] == 2 and table[("nps", "promoter")] == 1
    assert table[("csat", "3")] == 1 and table[("csat", "4")] == 1
    assert table[("csat", "1")] + table[("csat", "5")] == 0
    assert table.sum() == 6                                     # 4 NPS + 2 CSAT answers
    shown = sat.comments(edge_company, PERIOD)
    assert shown.empty                                          # no comments written
    latest = sat.latest_answers(edge_company, PERIOD)
    assert set(latest["customer_id"]) == {"P6", "P7", "P8", "P9"}


def test_several_answers_per_customer_latest_in_the_period_wins(tmp_path):
    # One customer, three answers: 2024-02-01 NPS 10, 2024-05-01 NPS 2, 2024-08-01 NPS 9 (after the period).
    # Within 2024-01-01..06-30 the latest is the 2 (detractor); the trend counts both 10 and 2 -> NPS 0.
    database = tiny_database(
        tmp_path / "several.duckdb",
        transactions=[("A", d("2024-01-10"), 100), ("A", d("2024-04-20"), 100), ("A", d("2024-09-01"), 100)],
        customers=[("A", "School", "North", "Ann", None)],
        feedback=[("A", d("2024-02-01"), "annual", None, 10), ("A", d("2024-05-01"), "annual", None, 2),
                  ("A", d("2024-08-01"), "annual", None, 9)])
    latest = sat.latest_answers(database, PERIOD)
    assert latest[["scale", "score"]].values.tolist() == [["nps", 2]]
    assert sat.headline(database, PERIOD)["annual"]["figures"]["nps"] == pytest.approx(0.0)
    table = sat.band_churn(database, PERIOD).set_index(["scale", "band"])
    assert table.loc[("nps", "detractor"), "customers"] == 1 and table.loc[("nps", "promoter"), "customers"] == 0


def test_rfm_and_value_cells_come_from_the_segments_module(tiny_company, monkeypatch):
    # A stand-in for customer_value.segments: A and B "Champions", C "At risk", D not segmented.
    def customer_segments(db, filters, scope=None):
        return pd.DataFrame({"customer_id": ["A", "B", "C"], "rfm_segment": ["Champions", "Champions", "At risk"],
                             "grid_cell": ["BA", "BB", "AA"], "revenue": [300.0, -20.0, 50.0]})

    monkeypatch.setattr(sat, "_buyer_labels", customer_segments)
    sat._SEGMENT_LABELS.clear()
    table = sat.segment_table(tiny_company, PERIOD, "rfm_segment", "service", min_answers=2).set_index("group")
    # Champions: A's 10 and 3, B's 2 and 9 -> 2 promoters, 2 detractors of 4 -> 0 points; CSAT 5, 2, 1, 4 -> 50%.
    assert table.loc["Champions", "answers"] == 4 and table.loc["Champions", "customers"] == 2
    assert table.loc["Champions", "nps"] == pytest.approx(0.0) and table.loc["Champions", "csat"] == 0.5
    assert table.loc["Champions", "response_rate"] == pytest.approx(4 / 9)     # A 3 + B 6 orders
    # At risk: C's single 5 -> -100 points, too few answers to rank; D's answer falls in "(no segment)".
    assert table.loc["At risk", "nps"] == pytest.approx(-100.0) and pd.isna(table.loc["At risk", "rank"])
    assert table.loc[sat.NO_SEGMENT, "answers"] == 1
    assert table["answers"].sum() == 6
    cells = sat.segment_table(tiny_company, PERIOD, "value_cell", "all", min_answers=1).set_index("group")
    assert cells.loc["AA", "answers"] == 1 and cells.loc["BA", "answers"] == 2
    # Period revenue comes with the labels: A 300, B's net return counts as 0, D bought nothing.
    latest = sat.latest_answers(tiny_company, PERIOD).drop_duplicates("customer_id").set_index("customer_id")
    assert latest["period_revenue"].to_dict() == {"A": 300.0, "B": 0.0, "C": 50.0, "D": 0.0}
    assert latest.loc["D", "value_cell"] == sat.NO_SEGMENT and latest.loc["B", "rfm_segment"] == "Champions"
    sat._SEGMENT_LABELS.clear()


def test_labels_and_revenue_are_the_segments_pages(demo_db):
    from customer_value.segments import customer_segments

    filters = make_filters(demo_db)
    segments = customer_segments(demo_db, filters).set_index("customer_id")
    latest = sat.latest_answers(demo_db, filters).drop_duplicates("customer_id").set_index("customer_id")
    buyers = latest[latest["value_cell"] != sat.NO_SEGMENT]
    assert len(buyers) > 100
    assert (buyers["value_cell"] == segments.loc[buyers.index, "grid_cell"]).all()
    assert (buyers["rfm_segment"] == segments.loc[buyers.index, "rfm_segment"]).all()
    assert buyers["period_revenue"].tolist() == pytest.approx(
        segments.loc[buyers.index, "revenue"].clip(lower=0).tolist())
    others = latest[latest["value_cell"] == sat.NO_SEGMENT]
    assert not others.index.isin(segments.index).any() and (others["period_revenue"] == 0).all()
    # Every buyer's labels, for other periods, a region and W too, as the classification gives them.
    region = demo_db.cursor().execute("select min(region) from customer_dim").fetchone()[0]
    for chosen in (filters, make_filters(demo_db, period="all_time"), replace(filters, regions=(region,)),
                   replace(filters, window_days=180)):
        expected = sat._labels_of(customer_segments(demo_db, chosen)).sort_values("customer_id", ignore_index=True)
        labels = sat.segment_labels(demo_db, chosen).sort_values("customer_id", ignore_index=True)
        assert len(labels) > 100
        pd.testing.assert_frame_equal(labels, expected)


def real_retail_database(real_data_dir, path):
    """The France and Germany exports as they stand (no loader: every line kept), Country as the region.

    Returns the database and the lines as a frame (customer_id, day, amount, is_cancellation, region).
    """
    frames = []
    for name in ("france.csv", "germany.csv"):
        raw = pd.read_csv(real_data_dir / name, encoding="utf-8-sig", dtype={"InvoiceNo": str, "CustomerID": str})
        frames.append(raw)
    raw = pd.concat(frames, ignore_index=True)
    raw = raw[raw["CustomerID"].notna()].copy()
    lines = pd.DataFrame({
        "order_id": raw["InvoiceNo"],
        "customer_id": raw["CustomerID"].str.replace(r"\.0$", "", regex=True),
        "day": pd.to_datetime(raw["InvoiceDate"], format="%m/%d/%Y %H:%M").dt.date,
        "amount": (raw["Quantity"] * raw["UnitPrice"]).round(2),
        "is_cancellation": raw["InvoiceNo"].str.startswith("C"),
        "region": raw["Country"],
    }).reset_index(drop=True)
    database = tiny_database(path, transactions=[], customers=[
        (customer, None, region, None, None)
        for customer, region in lines.groupby("customer_id")["region"].first().items()])
    con = database.cursor()
    con.register("real_lines", lines.assign(line_no=lines.index))
    con.execute("begin transaction")
    con.execute("""
        insert into transactions
        select md5_number('real' || line_no), order_id, 1, customer_id, day, amount, null, null, null, null,
               is_cancellation, (select max(batch_id) from load_batches)
        from real_lines""")
    rebuild_derived(con)
    dbmod.bump_data_version(con)
    con.execute("commit")
    con.unregister("real_lines")
    return database, lines


def test_real_exports_without_survey_answers_say_not_defined(real_data_dir, tmp_path):
    database, _ = real_retail_database(real_data_dir, tmp_path / "real.duckdb")
    filters = make_filters(database, period="all_time")
    summary = sat.headline(database, filters)
    assert summary["all"]["figures"]["answers"] == 0
    assert summary["all"]["figures"]["nps"] is None and summary["all"]["figures"]["csat_low"] is None
    table = sat.band_churn(database, filters)
    assert table["customers"].sum() == 0 and table["churn_rate"].isna().all()
    assert sat.follow_up_list(sat.latest_answers(database, filters)).empty
    assert sat.open_complaints(sat.complaints(database, filters)).empty
    trend = sat.monthly_scores(database, filters, "all")
    assert len(trend) == 13 and (trend["answers"] == 0).all()     # Dec 2010 .. Dec 2011


def test_answers_outside_the_scale_are_rejected_at_load_and_the_rest_scored(tmp_path):
    # The loader (customer_value.loader) refuses NPS outside 0-10 and CSAT outside 1-5 with a reason; the
    # answers it keeps are scored as by hand: NPS 6, 7, 8, 9 -> 1 detractor, 2 passives, 1 promoter = 0 points.
    from customer_value.loader import load_file

    database = tiny_database(tmp_path / "load.duckdb",
                             transactions=[(customer, d("2024-06-01"), 100) for customer in ("P", "Q", "R", "S")])
    answers = tmp_path / "answers.csv"
    answers.write_text(
        "customer_id,response_date,survey,nps,csat\n"
        "P,2024-06-10,service,6,3\n"
        "Q,2024-06-10,service,7,4\n"
        "R,2024-06-10,service,8,\n"
        "S,2024-06-10,service,9,\n"
        "P,2024-06-11,service,11,\n"
        "Q,2024-06-11,service,,0\n"
        "R,2024-06-11,service,,6\n", encoding="utf-8")
    mapping = {name: name for name in ("customer_id", "response_date", "survey", "nps", "csat")}
    report = load_file(database, answers, "feedback", mapping)
    assert (report.rows_loaded, report.rows_rejected) == (4, 3)
    assert report.rejected_by_reason == {"outside the allowed range": 3}
    assert report.rejected_rows[["column", "value", "reason"]].values.tolist() == [
        ["nps", "11", "outside the allowed range 0 to 10"], ["csat", "0", "outside the allowed range 1 to 5"],
        ["csat", "6", "outside the allowed range 1 to 5"]]
    service = sat.headline(database, PERIOD)["service"]["figures"]
    assert (service["answers"], service["nps_answers"], service["nps"]) == (4, 4, 0.0)
    assert (service["csat_answers"], service["csat"]) == (2, 0.5)
