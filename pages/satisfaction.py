"""Satisfaction: scores with their noise, by segment, next to churn; complaints and comments."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from customer_value import satisfaction as sat
from customer_value.formatting import NOT_DEFINED, format_value
from ui.context import current
from ui.widgets import comparison_caption, download_csv, empty_state, keep_widget_values, kpi_row, page_title

context = current()
page_title(context, "Satisfaction")

filters = context.filters
previous = filters.previous()
comparison_caption(filters)

summary = sat.headline(context.db, filters, context.scope)
if summary["all"]["figures"]["answers"] == 0:
    empty_state("No survey answer of a customer in this selection falls in the period.",
                "Load a feedback file on **Load data**, widen the period, or clear the sidebar filters.")
    st.stop()

survey_names = [name for name in summary if name != "all"]
SURVEY_TITLES = {"service": "After-service questionnaire", "annual": "Annual survey", "all": "All surveys"}
st.caption(
    "**Which answers count.** Scores, trends and segment tables count every answer in the period (a customer who "
    "answered twice counts twice). The satisfaction-and-churn table counts each customer once, by their latest "
    "answer within the period. **Margins of error** are 95% intervals: CSAT by the Wilson score interval, NPS by "
    "the normal interval with the standard NPS variance (share of promoters + share of detractors - NPS², over the "
    "answers). A difference is marked 'within noise' when it is not significant at 95%: for NPS a gap under 1.96 "
    "combined standard errors, for shares (CSAT, churn rates) the pooled two-proportion z-test.")


def survey_title(name: str) -> str:
    return SURVEY_TITLES.get(name, f"Survey '{name}'")


def pct(value: float | None) -> str:
    return format_value(value, "share")


def points(value: float | None) -> str:
    shown = format_value(value, "points")
    return shown if shown == NOT_DEFINED else f"{shown} pts"


PERCENT = "percent"
DAY = "YYYY-MM-DD"
MONEY = "%,.0f"
SCORE_COLUMNS = {
    "answers": st.column_config.NumberColumn("Answers", format="%d", help="Every answer in the period."),
    "nps_answers": st.column_config.NumberColumn("NPS answers", format="%d", help="Answers with a 0-10 score."),
    "csat_answers": st.column_config.NumberColumn("CSAT answers", format="%d", help="Answers with a 1-5 score."),
    "customers": st.column_config.NumberColumn("Customers", format="%d"),
    "nps": st.column_config.NumberColumn("NPS", format="%+.1f"),
    "nps_margin": st.column_config.NumberColumn("NPS ± (95%)", format="%.1f"),
    "promoter_share": st.column_config.NumberColumn("Promoters", format=PERCENT),
    "passive_share": st.column_config.NumberColumn("Passives", format=PERCENT),
    "detractor_share": st.column_config.NumberColumn("Detractors", format=PERCENT),
    "csat": st.column_config.NumberColumn("CSAT", format=PERCENT),
    "csat_low": st.column_config.NumberColumn("CSAT low (95%)", format=PERCENT),
    "csat_high": st.column_config.NumberColumn("CSAT high (95%)", format=PERCENT),
    "average_score": st.column_config.NumberColumn("Average 1-5", format="%.2f"),
    "response_rate": st.column_config.NumberColumn(
        "Response rate", format=PERCENT,
        help="After-service questionnaire only: answers / orders (orders stand in for questionnaires sent)."),
    "complaints": st.column_config.NumberColumn("Complaints", format="%d"),
    "complaints_per_100_orders": st.column_config.NumberColumn(
        "Complaints per 100 orders", format="%.2f", help="Complaints raised / orders in the period x 100."),
}
COMPLAINT_RATE_HELP = ("Complaints raised in the period per 100 orders in it. Per order, because a complaint is "
                       "about a job; a rate over survey answers would drop whenever the annual survey runs.")

# Only the open tab computes: at 500,000 customers the churn table alone reads every answering customer's history.
tab_scores, tab_segments, tab_churn, tab_complaints, tab_comments = st.tabs(
    ["Scores and trend", "By segment", "Satisfaction and churn", "Complaints", "Comments"], key="sat_tab",
    on_change="rerun")
# The settings of a closed tab are not drawn; keep them for when it opens again.
keep_widget_values("sat_dimension", "sat_segment_survey", "sat_min_answers", "sat_search", "sat_bands", "sat_csat")
st.session_state.setdefault("sat_min_answers", sat.DEFAULT_MIN_ANSWERS)

with tab_scores:
    if tab_scores.open:
        for survey in survey_names:
            entry = summary[survey]
            figures = entry["figures"]
            st.subheader(survey_title(survey))
            kpis = entry["kpis"]
            kpi_row(kpis[:-3], per_row=len(kpis) - 3)
            kpi_row(kpis[-3:], per_row=len(kpis) - 3)
            noise_notes = []
            for scale, label in (("nps", "NPS"), ("csat", "CSAT")):
                verdict = entry[f"{scale}_change_beyond_noise"]
                if verdict is not None:
                    noise_notes.append(f"{label} change against the previous period: "
                                       f"{'beyond the noise' if verdict else 'within the noise (not significant)'}")
            text = (f"NPS {format_value(figures['nps'], 'points')} ± {format_value(figures['nps_margin'], 'ratio')} "
                    f"points over {format_value(figures['nps_answers'], 'count')} answers; CSAT {pct(figures['csat'])} "
                    f"(95% interval {pct(figures['csat_low'])} to {pct(figures['csat_high'])}) over "
                    f"{format_value(figures['csat_answers'], 'count')} answers.")
            if noise_notes:
                text += " " + "; ".join(noise_notes) + "."
            if survey == "service":
                text += f" {sat.SERVICE_RESPONSE_RATE_NOTE}"
            st.caption(text)
            trend = sat.monthly_scores(context.db, filters, survey, context.scope)
            figure = go.Figure()
            figure.add_trace(go.Scatter(
                x=trend["month"], y=trend["nps"], name="NPS (points)", mode="lines+markers",
                error_y={"type": "data", "array": trend["nps_margin"].fillna(0), "visible": True},
                hovertemplate="%{x|%b %Y}: %{y:+.1f}<extra>NPS</extra>"))
            figure.add_trace(go.Scatter(
                x=trend["month"], y=100 * trend["csat"], name="CSAT (%)", mode="lines+markers", yaxis="y2",
                error_y={"type": "data", "symmetric": False, "visible": True,
                         "array": (100 * (trend["csat_high"] - trend["csat"])).fillna(0),
                         "arrayminus": (100 * (trend["csat"] - trend["csat_low"])).fillna(0)},
                hovertemplate="%{x|%b %Y}: %{y:.1f}%<extra>CSAT</extra>"))
            figure.update_layout(height=320, margin={"t": 20, "b": 20}, legend={"orientation": "h", "y": -0.2},
                                 yaxis={"title": "NPS (points, 95% bars)", "zeroline": True},
                                 # Explicit ticks: the overlaid axis otherwise borrows the NPS axis' odd positions.
                                 yaxis2={"title": "CSAT % (95% bars)", "overlaying": "y", "side": "right",
                                         "range": [0, 100], "showgrid": False, "tickmode": "linear", "tick0": 0,
                                         "dtick": 20, "ticksuffix": "%"})
            st.plotly_chart(figure, key=f"sat_trend_{survey}")
            st.dataframe(trend.assign(month=trend["month"].dt.strftime("%Y-%m")), hide_index=True, height="content",
                         key=f"sat_trend_table_{survey}", placeholder=NOT_DEFINED,
                         column_config={"month": "Month", **SCORE_COLUMNS})

with tab_segments:
    if tab_segments.open:
        dimensions = sat.SEGMENT_DIMENSIONS
        left, middle, right = st.columns(3)
        dimension = left.selectbox("Group by", list(dimensions), format_func=dimensions.get, key="sat_dimension")
        segment_survey = middle.selectbox("Survey", [*survey_names, "all"], key="sat_segment_survey",
                                          format_func=survey_title)
        min_answers = right.number_input("Fewest answers to rank a group", min_value=1, max_value=100_000,
                                         step=1, key="sat_min_answers")
        segments = sat.segment_table(context.db, filters, dimension, segment_survey, context.scope, int(min_answers))
        notes = [f"Groups with fewer than {int(min_answers)} answers are flagged 'too few answers' and not ranked "
                 "(grey in the chart). 'Higher', 'lower' or 'within noise': the group against all other answers "
                 "together at 95% (NPS: gap over 1.96 combined standard errors; CSAT: two-proportion z-test)."]
        if dimension == "value_cell":
            notes.append("Value grid cell of the period: volume A = the top customers making 80% of revenue; margin "
                         "A = gross profit per order above the median; 'No purchase in period' for customers who "
                         "answered without buying.")
        st.caption(" ".join(notes))
        if segments.empty:
            empty_state("No answer to this survey in the period.", "Choose another survey.")
        else:
            use_nps = segments["nps"].notna().any()
            score, margin_low, margin_high, title = (
                ("nps", segments["nps_margin"], segments["nps_margin"], "NPS (points, 95% bars)") if use_nps else
                ("csat", segments["csat"] - segments["csat_low"], segments["csat_high"] - segments["csat"],
                 "CSAT (95% bars)"))
            scale = 1 if use_nps else 100
            verdict_marks = {"higher": "▲ above the rest", "lower": "▼ below the rest",
                             "within noise": "≈ within noise", "too few answers": "too few answers"}
            verdicts = segments["nps_vs_rest" if use_nps else "csat_vs_rest"]
            # The verdict goes under each group's name: text on the bar would sit on its error bar.
            bar_labels = [f"{group}<br><sub>{verdict_marks.get(verdict, '')}</sub>"
                          for group, verdict in zip(segments["group"], verdicts, strict=True)]
            chart = go.Figure(go.Bar(
                x=bar_labels, y=scale * segments[score],
                marker_color=["#3182bd" if enough else "#bdbdbd" for enough in segments["enough_answers"]],
                error_y={"type": "data", "symmetric": False, "visible": True,
                         "array": (scale * margin_high).fillna(0), "arrayminus": (scale * margin_low).fillna(0)},
                customdata=segments["answers"],
                hovertemplate="%{y:.1f} (%{customdata:,} answers)<extra></extra>"))
            chart.update_layout(height=340, margin={"t": 20, "b": 20}, yaxis={"title": title})
            st.plotly_chart(chart, key="sat_segment_chart")
        st.dataframe(segments, hide_index=True, key="sat_segment_table", placeholder=NOT_DEFINED, height="content",
                     column_config={
            "group": dimensions[dimension], **SCORE_COLUMNS,
            "enough_answers": st.column_config.CheckboxColumn("Enough answers"),
            "rank": st.column_config.NumberColumn("Rank", format="%d"),
            "nps_vs_rest": "NPS vs rest", "csat_vs_rest": "CSAT vs rest",
        })

with tab_churn:
    if tab_churn.open:
        latest = sat.latest_answers(context.db, filters, context.scope)
        bands = sat.band_churn_table(latest)
        gap = sat.churn_gap(bands)
        st.caption(
            "Each customer's **latest answer within the period** counts here (one per scale), among customers active "
            f"on the day they answered. Lost = became inactive (no purchase for W = {filters.window_days} days, or "
            f"contract end) after that answer and by {filters.end:%Y-%m-%d} + W days; losses are known up to the "
            "data's last day. Revenue lost = the period revenue of the customers lost.")
        columns = st.columns(4)
        columns[0].metric("Detractor churn", pct(gap["detractor_churn_rate"]),
                          help="Lost / customers whose latest NPS answer in the period was 0-6.")
        columns[1].metric("Promoter churn", pct(gap["promoter_churn_rate"]),
                          help="Lost / customers whose latest NPS answer in the period was 9-10.")
        noise_words = {True: "Beyond the noise (95%, two-proportion z-test).",
                       False: "Within the noise: not significant at 95% (two-proportion z-test).",
                       None: "Not defined: one of the groups is empty."}
        columns[2].metric("Gap, detractors vs promoters", points(gap["nps_gap_points"]),
                          help="Detractor churn minus promoter churn, in percentage points. "
                               + noise_words[gap["nps_gap_beyond_noise"]])
        columns[3].metric("Gap, CSAT 1-2 vs 4-5", points(gap["csat_gap_points"]),
                          help="Churn of customers whose latest CSAT was 1-2 minus churn of those at 4-5, in points. "
                               + noise_words[gap["csat_gap_beyond_noise"]])
        verdicts = [f"{label} gap: {'beyond the noise' if verdict else 'within the noise (not significant)'}"
                    for label, verdict in (("NPS", gap["nps_gap_beyond_noise"]), ("CSAT", gap["csat_gap_beyond_noise"]))
                    if verdict is not None]
        if verdicts:
            st.caption("; ".join(verdicts) + " (95%, two-proportion z-test).")
        band_labels = [f"{'NPS' if scale == 'nps' else 'CSAT'} {band}"
                       for scale, band in zip(bands["scale"], bands["band"], strict=True)]
        chart = go.Figure(go.Bar(x=band_labels, y=100 * bands["churn_rate"],
                                 error_y={"type": "data", "symmetric": False, "visible": True,
                                          "array": (100 * (bands["churn_high"] - bands["churn_rate"])).fillna(0),
                                          "arrayminus": (100 * (bands["churn_rate"] - bands["churn_low"])).fillna(0)},
                                 customdata=bands[["customers", "lost"]].to_numpy(),
                                 hovertemplate="%{x}: %{y:.1f}% (%{customdata[1]:,} of %{customdata[0]:,})"
                                               "<extra>Churn rate</extra>"))
        chart.update_layout(height=300, margin={"t": 20, "b": 20}, yaxis={"title": "Churn rate %"})
        st.plotly_chart(chart, key="sat_band_chart")
        st.dataframe(bands, hide_index=True, key="sat_band_table", placeholder=NOT_DEFINED, column_config={
            "scale": "Scale", "band": "Band", "customers": "Customers", "lost": "Lost",
            "churn_rate": st.column_config.NumberColumn("Churn rate", format=PERCENT),
            "churn_low": st.column_config.NumberColumn("Churn low (95%)", format=PERCENT),
            "churn_high": st.column_config.NumberColumn("Churn high (95%)", format=PERCENT),
            "revenue": st.column_config.NumberColumn("Period revenue", format=MONEY),
            "revenue_lost": st.column_config.NumberColumn("Revenue lost", format=MONEY),
            "revenue_lost_share": st.column_config.NumberColumn("Share of revenue lost", format=PERCENT),
        })
        st.subheader("Follow up: unhappy customers still active")
        follow_up = sat.follow_up_list(latest)
        follow_up = follow_up[["customer_id", "name", "latest_nps", "latest_csat", "period_revenue", "sales_rep",
                               *[column for column in follow_up.columns
                                 if column not in ("customer_id", "name", "latest_nps", "latest_csat", "period_revenue",
                                                   "sales_rep")]]]
        st.caption(f"{len(follow_up):,} customers whose latest answer in the period was NPS 0-6 or CSAT 1-2 and who "
                   f"are still active on {filters.end:%Y-%m-%d}, most valuable first (period revenue).")
        st.dataframe(follow_up, hide_index=True, key="sat_follow_up", placeholder=NOT_DEFINED, column_config={
            "customer_id": "Customer", "name": "Name", "customer_type": "Type", "region": "Region",
            "sales_rep": "Sales rep", "value_cell": "Value cell", "rfm_segment": "RFM segment",
            "period_revenue": st.column_config.NumberColumn("Period revenue", format=MONEY),
            "last_purchase_date": st.column_config.DateColumn("Last purchase", format=DAY),
            "latest_nps": "Latest NPS", "latest_csat": "Latest CSAT",
            "answered_on": st.column_config.DateColumn("Answered on", format=DAY),
            "comment": st.column_config.TextColumn("Comment", width="large")})
        download_csv(follow_up, "satisfaction_follow_up.csv", "Download follow-up list (CSV)", key="sat_follow_up_csv")

with tab_complaints:
    if tab_complaints.open:
        complaint_rows = sat.complaints(context.db, filters, context.scope)
        totals = summary["all"]["figures"]
        open_list = sat.open_complaints(complaint_rows)
        columns = st.columns(4)
        columns[0].metric("Complaints", format_value(totals["complaints"], "count"),
                          help="Answers flagged as complaints in the period.")
        columns[1].metric("Complaints per 100 orders", format_value(totals["complaints_per_100_orders"], "ratio"),
                          help=COMPLAINT_RATE_HELP)
        median_days = totals["median_days_to_resolve"]
        columns[2].metric("Median days to resolve",
                          NOT_DEFINED if median_days is None else f"{median_days:.1f} days",
                          help="Over the period's complaints resolved by the data's last day.")
        columns[3].metric("Open complaints", format_value(len(open_list), "count"),
                          help="Not resolved by the data's last day, including older complaints still open.")
        st.caption(COMPLAINT_RATE_HELP)
        complaint_columns = {
            "orders": st.column_config.NumberColumn("Orders", format="%d"),
            "complaints": st.column_config.NumberColumn("Complaints", format="%d"),
            "complaints_per_100_orders": st.column_config.NumberColumn("Complaints per 100 orders", format="%.2f"),
            "open_complaints": st.column_config.NumberColumn("Still open", format="%d"),
            "median_days_to_resolve": st.column_config.NumberColumn("Median days to resolve", format="%.1f"),
        }
        by_month = sat.complaints_by(context.db, filters, "month", context.scope)
        st.markdown("**By month**")
        st.dataframe(by_month.assign(month=by_month["month"].dt.strftime("%Y-%m")), hide_index=True, height="content",
                     key="sat_complaints_month", placeholder=NOT_DEFINED,
                     column_config={"month": "Month", **complaint_columns})
        st.markdown("**By sales rep**")
        st.dataframe(sat.complaints_by(context.db, filters, "sales_rep", context.scope), hide_index=True,
                     key="sat_complaints_rep", placeholder=NOT_DEFINED,
                     column_config={"sales_rep": "Sales rep", **complaint_columns})
        st.subheader("Open complaints")
        st.caption(f"Age = days from the complaint to the data's last day, {filters.as_of or filters.end:%Y-%m-%d}; "
                   "oldest first.")
        open_view = open_list[["feedback_id", "customer_id", "name", "region", "sales_rep", "survey", "response_date",
                               "age_days", "csat", "nps", "comment"]]
        if open_view.empty:
            empty_state("No complaint of a customer in this selection is open.")
        else:
            st.dataframe(open_view, hide_index=True, key="sat_open_complaints", placeholder=NOT_DEFINED,
                         column_config={"feedback_id": "Answer", "customer_id": "Customer", "name": "Name",
                                        "region": "Region", "sales_rep": "Sales rep", "survey": "Survey",
                                        "response_date": st.column_config.DateColumn("Raised on", format=DAY),
                                        "age_days": "Age (days)", "csat": "CSAT", "nps": "NPS",
                                        "comment": st.column_config.TextColumn("Comment", width="large")})
            download_csv(open_view, "open_complaints.csv", "Download open complaints (CSV)", key="sat_open_csv")

with tab_comments:
    if tab_comments.open:
        comment_rows = sat.comments(context.db, filters, context.scope)
        left, middle, right = st.columns(3)
        search = left.text_input("Search comments", key="sat_search", placeholder="word or phrase")
        chosen_bands = middle.multiselect("NPS band", list(sat.NPS_BANDS), key="sat_bands", placeholder="All bands")
        chosen_scores = right.multiselect("CSAT score", [1, 2, 3, 4, 5], key="sat_csat", placeholder="All scores")
        matching = sat.filter_comments(comment_rows, search or "", chosen_bands, chosen_scores)
        shown = matching.head(sat.COMMENT_ROWS_SHOWN)
        note = f"{len(matching):,} of {len(comment_rows):,} comments in the period match, newest first."
        if len(matching) > len(shown):
            note += (f" The newest {len(shown):,} are shown; narrow the search or download all {len(matching):,} "
                     "matching comments as a CSV.")
        st.caption(note)
        st.dataframe(shown, hide_index=True, key="sat_comments", placeholder=NOT_DEFINED,
                     column_order=["response_date", "comment", "nps", "csat", "complaint", "customer_id", "name",
                                   "sales_rep", "survey", "feedback_id"],
                     column_config={
                         "feedback_id": "Answer", "customer_id": "Customer", "name": "Name", "sales_rep": "Sales rep",
                         "response_date": st.column_config.DateColumn("Date", format=DAY), "survey": "Survey",
                         "nps": "NPS", "csat": "CSAT", "complaint": "Complaint",
                         "comment": st.column_config.TextColumn("Comment", width="large")})
        download_csv(matching, "satisfaction_comments.csv", f"Download the {len(matching):,} matching comments (CSV)",
                     key="sat_comments_csv")
        st.subheader("What detractors write about")
        terms = sat.detractor_terms(comment_rows)
        if terms.empty:
            empty_state("No detractor (NPS 0-6) left a comment in this selection.")
        else:
            st.caption("Most frequent words and two-word phrases in the comments of NPS 0-6 answers in the period "
                       "(common English words left out; Chinese text, which has no spaces, counted as overlapping "
                       "2-character terms). Computed locally.")
            st.dataframe(terms, hide_index=True, key="sat_detractor_terms",
                         column_config={"term": "Word or phrase", "kind": "Kind", "count": "Times used"})
