"""Satisfaction: scores with their noise, by segment, next to churn; complaints and comments."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from customer_value import satisfaction as sat
from customer_value.formatting import format_value
from ui.context import current
from ui.widgets import download_csv, empty_state, kpi_row

context = current()
st.title("Satisfaction")

if context.filters is None:
    empty_state("No transactions are loaded yet.",
                "Open **Load data** to upload an export, or run `python -m customer_value demo` for the demo company.")
    st.stop()

filters = context.filters
previous = filters.previous()
st.caption(f"{filters.describe()}. Changes compare with {previous.start:%Y-%m-%d} to {previous.end:%Y-%m-%d}.")

summary = sat.headline(context.db, filters, context.scope)
if summary["all"]["figures"]["answers"] == 0:
    empty_state("No survey answer of a customer in this selection falls in the period.",
                "Load a feedback file on **Load data**, widen the period, or clear the sidebar filters.")
    st.stop()

survey_names = [name for name in summary if name != "all"]
st.caption("All answers count for the scores and trends (a customer who answered twice counts twice). "
           "Bands with 95% intervals: CSAT by the Wilson interval, NPS by the normal interval of the "
           "promoter/detractor multinomial.")

tab_scores, tab_segments, tab_churn, tab_complaints, tab_comments = st.tabs(
    ["Scores and trend", "By segment", "Satisfaction and churn", "Complaints", "Comments"])

SURVEY_TITLES = {"service": "After-service questionnaire", "annual": "Annual survey"}


def pct(value: float | None) -> str:
    return format_value(value, "share")


with tab_scores:
    for survey in survey_names:
        entry = summary[survey]
        figures = entry["figures"]
        st.subheader(SURVEY_TITLES.get(survey, f"Survey '{survey}'"))
        kpi_row(entry["kpis"][:5], per_row=5)
        kpi_row(entry["kpis"][5:], per_row=5)
        noise_notes = []
        for scale, label in (("nps", "NPS"), ("csat", "CSAT")):
            verdict = entry[f"{scale}_change_beyond_noise"]
            if verdict is not None:
                noise_notes.append(f"{label} change vs previous period is "
                                   f"{'beyond the noise' if verdict else 'within the noise (not significant)'}")
        st.caption(
            f"NPS {format_value(figures['nps'], 'points')} ± {format_value(figures['nps_margin'], 'ratio')} points; "
            f"CSAT {pct(figures['csat'])} (95% interval {pct(figures['csat_low'])} to {pct(figures['csat_high'])}). "
            + ("; ".join(noise_notes) + "." if noise_notes else "")
            + (f" {sat.SERVICE_RESPONSE_RATE_NOTE}" if survey == "service" else ""))
        trend = sat.monthly_scores(context.db, filters, survey, context.scope)
        figure = go.Figure()
        figure.add_trace(go.Scatter(
            x=trend["month"], y=trend["nps"], name="NPS", mode="lines+markers",
            error_y={"type": "data", "array": trend["nps_margin"].fillna(0), "visible": True},
            hovertemplate="%{x|%b %Y}: %{y:+.1f}<extra>NPS</extra>"))
        figure.add_trace(go.Scatter(
            x=trend["month"], y=100 * trend["csat"], name="CSAT (%)", mode="lines+markers", yaxis="y2",
            hovertemplate="%{x|%b %Y}: %{y:.1f}%<extra>CSAT</extra>"))
        figure.update_layout(height=320, margin={"t": 20, "b": 20}, legend={"orientation": "h", "y": -0.2},
                             yaxis={"title": "NPS (points, 95% bars)"},
                             yaxis2={"title": "CSAT %", "overlaying": "y", "side": "right", "rangemode": "tozero"})
        st.plotly_chart(figure, key=f"sat_trend_{survey}")
        st.dataframe(
            trend.assign(month=trend["month"].dt.strftime("%Y-%m")), hide_index=True, key=f"sat_trend_table_{survey}",
            column_config={
                "month": "Month", "answers": "Answers",
                "nps": st.column_config.NumberColumn("NPS", format="%+.1f"),
                "nps_margin": st.column_config.NumberColumn("NPS ±", format="%.1f"),
                "promoter_share": st.column_config.NumberColumn("Promoters", format="percent"),
                "passive_share": st.column_config.NumberColumn("Passives", format="percent"),
                "detractor_share": st.column_config.NumberColumn("Detractors", format="percent"),
                "csat": st.column_config.NumberColumn("CSAT", format="percent"),
                "csat_low": st.column_config.NumberColumn("CSAT low", format="percent"),
                "csat_high": st.column_config.NumberColumn("CSAT high", format="percent"),
                "average_score": st.column_config.NumberColumn("Average 1-5", format="%.2f"),
                "response_rate": st.column_config.NumberColumn("Response rate", format="percent"),
            })

with tab_segments:
    left, middle, right = st.columns(3)
    dimension = left.selectbox("Group by", list(sat.SEGMENT_DIMENSIONS), format_func=sat.SEGMENT_DIMENSIONS.get,
                               key="sat_dimension")
    segment_survey = middle.selectbox("Survey", [*survey_names, "all"], key="sat_segment_survey",
                                      format_func=lambda name: SURVEY_TITLES.get(name, "All surveys" if name == "all"
                                                                                 else name))
    min_answers = right.number_input("Fewest answers to rank a group", min_value=1, max_value=10_000,
                                     value=sat.DEFAULT_MIN_ANSWERS, step=1, key="sat_min_answers")
    segments = sat.segment_table(context.db, filters, dimension, segment_survey, context.scope, int(min_answers))
    st.caption(f"Groups with fewer than {int(min_answers)} answers are flagged 'too few answers' and not ranked. "
               "'Within noise': the group's score is not significantly different (95%, z-test) from all other "
               "answers together. Value grid cell: volume A = top customers making 80% of the period's revenue; "
               "margin A = gross profit per order above the median.")
    ranked = segments[segments["enough_answers"]]
    chart = go.Figure(go.Bar(
        x=ranked["group"], y=ranked["nps"],
        error_y={"type": "data", "array": ranked["nps_margin"].fillna(0), "visible": True},
        hovertemplate="%{x}: %{y:+.1f}<extra>NPS</extra>"))
    chart.update_layout(height=320, margin={"t": 20, "b": 20}, yaxis={"title": "NPS (95% bars)"})
    st.plotly_chart(chart, key="sat_segment_chart")
    st.dataframe(segments, hide_index=True, key="sat_segment_table", column_config={
        "group": sat.SEGMENT_DIMENSIONS[dimension],
        "nps": st.column_config.NumberColumn("NPS", format="%+.1f"),
        "nps_margin": st.column_config.NumberColumn("NPS ±", format="%.1f"),
        "promoter_share": st.column_config.NumberColumn("Promoters", format="percent"),
        "passive_share": st.column_config.NumberColumn("Passives", format="percent"),
        "detractor_share": st.column_config.NumberColumn("Detractors", format="percent"),
        "csat": st.column_config.NumberColumn("CSAT", format="percent"),
        "csat_low": st.column_config.NumberColumn("CSAT low", format="percent"),
        "csat_high": st.column_config.NumberColumn("CSAT high", format="percent"),
        "average_score": st.column_config.NumberColumn("Average 1-5", format="%.2f"),
        "complaint_rate": st.column_config.NumberColumn("Complaint rate", format="percent"),
        "enough_answers": "Ranked", "rank": "Rank", "nps_vs_rest": "NPS vs rest", "csat_vs_rest": "CSAT vs rest",
    })

with tab_churn:
    latest = sat.latest_answers(context.db, filters, context.scope)
    bands = sat.band_churn_table(latest)
    gap = sat.churn_gap(bands)
    st.caption(
        "Each customer's LATEST answer within the period counts here (one per scale), among customers active on "
        f"the day they answered. Lost = became inactive (no purchase for W = {filters.window_days} days, or "
        f"contract end) after that answer and by {filters.end:%Y-%m-%d} + W days; losses are only known up to "
        f"the data's last day. Revenue lost = the period revenue of the customers lost.")
    columns = st.columns(4)
    columns[0].metric("Detractor churn", pct(gap["detractor_churn_rate"]), help="Lost / customers whose latest "
                      "NPS answer was 0-6.")
    columns[1].metric("Promoter churn", pct(gap["promoter_churn_rate"]), help="Lost / customers whose latest NPS "
                      "answer was 9-10.")
    columns[2].metric("Gap (NPS)", format_value(gap["nps_gap_points"], "ratio") + " pts"
                      if gap["nps_gap_points"] is not None else format_value(None, "ratio"),
                      help="Detractor churn minus promoter churn, in percentage points.")
    columns[3].metric("Gap (CSAT 1-2 vs 4-5)", format_value(gap["csat_gap_points"], "ratio") + " pts"
                      if gap["csat_gap_points"] is not None else format_value(None, "ratio"),
                      help="Churn of customers whose latest CSAT was 1-2 minus churn of those at 4-5.")
    chart = go.Figure(go.Bar(x=[f"{scale.upper()} {band}" for scale, band in zip(bands["scale"], bands["band"],
                                                                                   strict=True)],
                             y=100 * bands["churn_rate"].astype(float),
                             hovertemplate="%{x}: %{y:.1f}%<extra>Churn rate</extra>"))
    chart.update_layout(height=300, margin={"t": 20, "b": 20}, yaxis={"title": "Churn rate %"})
    st.plotly_chart(chart, key="sat_band_chart")
    st.dataframe(bands, hide_index=True, key="sat_band_table", column_config={
        "scale": "Scale", "band": "Band", "customers": "Customers", "lost": "Lost",
        "churn_rate": st.column_config.NumberColumn("Churn rate", format="percent"),
        "revenue": st.column_config.NumberColumn("Period revenue", format="%,.0f"),
        "revenue_lost": st.column_config.NumberColumn("Revenue lost", format="%,.0f"),
        "revenue_lost_share": st.column_config.NumberColumn("Share of revenue lost", format="percent"),
    })
    st.subheader("Follow up: unhappy customers still active")
    follow_up = sat.follow_up_list(latest)
    st.caption(f"{len(follow_up):,} customers whose latest answer was NPS 0-6 or CSAT 1-2 and who are active on "
               f"{filters.end:%Y-%m-%d}, most valuable first (period revenue).")
    st.dataframe(follow_up, hide_index=True, key="sat_follow_up", column_config={
        "period_revenue": st.column_config.NumberColumn("Period revenue", format="%,.0f")})
    download_csv(follow_up, "satisfaction_follow_up.csv", "Download follow-up list (CSV)", key="sat_follow_up_csv")

with tab_complaints:
    complaint_rows = sat.complaints(context.db, filters, context.scope)
    totals = summary["all"]["figures"]
    open_list = sat.open_complaints(complaint_rows)
    columns = st.columns(4)
    columns[0].metric("Complaints", format_value(totals["complaints"], "count"),
                      help="Answers flagged as complaints in the period.")
    columns[1].metric("Complaint rate", pct(totals["complaint_rate"]), help="Complaints / answers in the period.")
    columns[2].metric("Median days to resolve", format_value(totals["median_days_to_resolve"], "ratio"),
                      help="Over the period's complaints resolved by the data's last day.")
    columns[3].metric("Open complaints", format_value(len(open_list), "count"),
                      help="Not resolved by the data's last day, including older complaints still open.")
    by_month = sat.complaints_by(context.db, filters, "month", context.scope)
    st.dataframe(by_month.assign(month=by_month["month"].dt.strftime("%Y-%m")), hide_index=True,
                 key="sat_complaints_month", column_config={
                     "complaint_rate": st.column_config.NumberColumn("Complaint rate", format="percent")})
    st.dataframe(sat.complaints_by(context.db, filters, "sales_rep", context.scope), hide_index=True,
                 key="sat_complaints_rep", column_config={
                     "complaint_rate": st.column_config.NumberColumn("Complaint rate", format="percent")})
    st.subheader("Open complaints")
    st.caption(f"Age = days from the answer to the data's last day, {filters.as_of or filters.end:%Y-%m-%d}.")
    open_view = open_list[["feedback_id", "customer_id", "name", "region", "sales_rep", "response_date",
                           "age_days", "csat", "nps", "comment"]]
    st.dataframe(open_view, hide_index=True, key="sat_open_complaints")
    download_csv(open_view, "open_complaints.csv", "Download open complaints (CSV)", key="sat_open_csv")

with tab_comments:
    comment_rows = sat.comments(context.db, filters, context.scope)
    left, middle, right = st.columns(3)
    search = left.text_input("Search comments", key="sat_search", placeholder="word or phrase")
    chosen_bands = middle.multiselect("NPS band", list(sat.NPS_BANDS), key="sat_bands", placeholder="All bands")
    chosen_scores = right.multiselect("CSAT score", [1, 2, 3, 4, 5], key="sat_csat", placeholder="All scores")
    shown = sat.filter_comments(comment_rows, search or "", chosen_bands, chosen_scores)
    st.caption(f"{len(shown):,} of {len(comment_rows):,} comments in the period.")
    st.dataframe(shown, hide_index=True, key="sat_comments")
    st.subheader("What detractors write about")
    terms = sat.detractor_terms(comment_rows)
    if terms.empty:
        empty_state("No detractor (NPS 0-6) left a comment in this selection.")
    else:
        st.caption("Most frequent words and two-word phrases in the comments of NPS 0-6 answers (stop words "
                   "removed; Chinese text counted as 2-character terms). Computed locally.")
        st.dataframe(terms, hide_index=True, key="sat_detractor_terms")
