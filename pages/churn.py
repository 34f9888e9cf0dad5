"""Churn and acquisition: who came, who left, who came back, month by month, and who is sliding."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from customer_value.dataset import data_range
from customer_value.formatting import format_value
from customer_value.movements import (
    ACQUISITION_SPLITS,
    COHORT_MEASURES,
    CUSTOMER_RATIOS,
    acquisition,
    acquisition_totals,
    churn_rule,
    cohort_average_curve,
    cohort_matrix,
    cohort_retention,
    early_history_caveat,
    identity_failures,
    monthly_movements,
    movement_totals,
    value_churn,
    value_churn_customers,
)
from ui.context import current
from ui.widgets import download_csv, empty_state, keep_widget_values, page_title

RATIO_KINDS = {"churn_rate": "share", "loss_to_gain_ratio": "ratio", "net_growth_rate": "share",
               "customer_quick_ratio": "ratio"}
# How each headline ratio reads the whole period (label suffix, sentence added to its help).
PERIOD_READING = {
    "churn_rate": ("monthly average", " The months pooled: lost over the period / customers active at the start "
                                      "of each month."),
    "loss_to_gain_ratio": ("period", " Over the whole period."),
    "net_growth_rate": ("period", " Over the whole period: (active at end - active at start) / active at start."),
    "customer_quick_ratio": ("period", " Over the whole period."),
}

context = current()
page_title(context, "Churn and acquisition")

filters = context.filters
movements = monthly_movements(context.db, filters, context.scope)
st.caption(f"{filters.describe()}. Whole calendar months from {movements['month'].iloc[0]:%B %Y}; "
           f"a customer is active while their last purchase is less than W = {filters.window_days} days old.")

if movements[["active_start", "new_customers", "reactivated", "lost"]].to_numpy().sum() == 0:
    empty_state("No customer in this selection was active, won or lost in the period.",
                "Widen the period or clear the customer type, region and sales rep filters in the sidebar.")
    st.stop()

rule = churn_rule(context.db, filters, context.scope, movements)
st.info(rule["description"], icon=":material/rule:")
caveat = early_history_caveat(data_range(context.db).start, filters)
if caveat:
    st.warning(caveat, icon=":material/history:")

# ---------------------------------------------------------------- headline for the period
totals = movement_totals(movements)
columns = st.columns(5)
columns[0].metric("Active at start", format_value(totals["active_start"], "count"),
                  help="Customers active on the day before the first month.")
columns[1].metric("New", format_value(totals["new_customers"], "count"), help="First purchase ever in the period.")
columns[2].metric("Reactivated", format_value(totals["reactivated"], "count"),
                  help="Bought again after having been inactive.")
columns[3].metric("Lost", format_value(totals["lost"], "count"),
                  help="Became inactive in the period: last purchase + W, or a contract end.")
columns[4].metric("Active at end", format_value(totals["active_end"], "count"),
                  help="Customers active on the period's last day.")
columns = st.columns(4)
for column, ratio_key in zip(columns, CUSTOMER_RATIOS, strict=True):
    suffix, how = PERIOD_READING[ratio_key]
    column.metric(f"{CUSTOMER_RATIOS[ratio_key][0]} ({suffix})",
                  format_value(totals[ratio_key], RATIO_KINDS[ratio_key]),
                  help=CUSTOMER_RATIOS[ratio_key][2] + how +
                  ("" if totals[ratio_key] is not None else " Not defined: nothing to divide by."))

# ---------------------------------------------------------------- monthly movements
def show_movements() -> None:
    """Monthly movements of customers and the ratios built on them."""
    st.subheader("Monthly customer movements")
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    for column, label, colour, sign in (("new_customers", "New", "#2ca02c", 1),
                                        ("reactivated", "Reactivated", "#98df8a", 1),
                                        ("lost_by_lapse", "Lost (lapse)", "#d62728", -1),
                                        ("lost_at_contract_end", "Lost (contract end)", "#ff9896", -1)):
        figure.add_trace(go.Bar(x=movements["month"], y=sign * movements[column], name=label, marker_color=colour,
                                customdata=movements[column],
                                hovertemplate="%{x|%b %Y}: %{customdata:,}<extra>" + label + "</extra>"),
                         secondary_y=False)
    figure.add_trace(go.Scatter(x=movements["month"], y=movements["active_end"], name="Active at end",
                                mode="lines+markers", line={"color": "#08519c"},
                                hovertemplate="%{x|%b %Y}: %{y:,}<extra>Active at end</extra>"), secondary_y=True)
    figure.update_layout(barmode="relative", height=380, margin={"t": 20, "b": 20},
                         legend={"orientation": "h", "y": -0.15})
    figure.update_yaxes(title_text="Customers won (+) and lost (-)", secondary_y=False)
    figure.update_yaxes(title_text="Active customers", secondary_y=True, rangemode="tozero")
    st.plotly_chart(figure, key="churn_movements_chart")

    failures = identity_failures(movements)
    if failures:
        st.error("Active at start + new + reactivated - lost does not equal active at end in " + ", ".join(failures)
                 + ". Please report this: the movements are inconsistent.")
    else:
        st.caption("Checked: active at start + new + reactivated - lost = active at end in all "
                   f"{len(movements)} months.")

    movement_table = movements.assign(month=movements["month"].dt.strftime("%Y-%m"))[
        ["month", "active_start", "new_customers", "reactivated", "lost", "lost_at_contract_end", "lost_by_lapse",
         "net_change", "active_end"]]
    st.dataframe(movement_table, hide_index=True, key="churn_movements_table", column_config={
        "month": "Month", "active_start": "Active at start", "new_customers": "New", "reactivated": "Reactivated",
        "lost": "Lost", "lost_at_contract_end": "of which at contract end", "lost_by_lapse": "of which by lapse",
        "net_change": "Net change", "active_end": "Active at end"})
    download_csv(movements.assign(month=movements["month"].dt.strftime("%Y-%m")), "customer_movements.csv",
                 key="churn_movements_csv")

    # ---------------------------------------------------------------- ratios
    st.subheader("Ratios by month")
    ratio = st.selectbox("Ratio", list(CUSTOMER_RATIOS), format_func=lambda key: CUSTOMER_RATIOS[key][0],
                         key="churn_ratio")
    label, reference, definition = CUSTOMER_RATIOS[ratio]
    kind = RATIO_KINDS[ratio]
    scale = 100 if kind == "share" else 1
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=movements["month"], y=movements[ratio] * scale, name="Month", mode="lines+markers",
                                line={"color": "#9ecae1"}))
    figure.add_trace(go.Scatter(x=movements["month"], y=movements[f"{ratio}_3m"] * scale, name="Trailing 3 months",
                                mode="lines", line={"color": "#08519c", "width": 3}))
    if reference is not None:
        figure.add_hline(y=reference * scale, line_dash="dash", line_color="#636363",
                         annotation_text="standing still" if reference == 1 else "no net growth")
    elif totals[ratio] is not None:
        # Churn has no break-even level of its own: the period's monthly average shows which months stand out.
        figure.add_hline(y=totals[ratio] * scale, line_dash="dash", line_color="#636363",
                         annotation_text=f"period average {format_value(totals[ratio], kind)}")
    figure.update_layout(height=340, margin={"t": 20, "b": 20}, legend={"orientation": "h", "y": -0.2},
                         yaxis_title=label + (" (%)" if kind == "share" else ""))
    st.plotly_chart(figure, key="churn_ratio_chart")
    st.caption(definition + " The trailing 3-month figure pools the counts of the month and the two before it.")

    ratio_table = pd.DataFrame({"Month": movements["month"].dt.strftime("%Y-%m")})
    for column, (column_label, _, _) in CUSTOMER_RATIOS.items():
        ratio_table[column_label] = [format_value(value, RATIO_KINDS[column]) for value in
                                     movements[column].astype(object).where(movements[column].notna(), None)]
        ratio_table[column_label + " (3 months)"] = [
            format_value(value, RATIO_KINDS[column])
            for value in movements[f"{column}_3m"].astype(object).where(movements[f"{column}_3m"].notna(), None)]
    st.dataframe(ratio_table, hide_index=True, key="churn_ratio_table")


# ---------------------------------------------------------------- cohorts
def show_cohorts() -> None:
    """Share of each month's new customers still active (or revenue kept) month after month."""
    st.subheader("Cohort retention")
    cohorts = cohort_retention(context.db, filters, context.scope)
    if cohorts.empty:
        empty_state("No customer made a first purchase in this period, so there is no cohort to follow.",
                    "Choose a longer period, such as All time, in the sidebar.")
    else:
        measure = st.radio("Show", list(COHORT_MEASURES), format_func=COHORT_MEASURES.get, horizontal=True,
                           key="churn_cohort_measure")
        matrix = cohort_matrix(cohorts, measure)
        curve = cohort_average_curve(cohorts)
        figure = make_subplots(rows=2, cols=1, row_heights=[0.7, 0.3], vertical_spacing=0.08,
                               subplot_titles=("By acquisition month", "Average cohort"))
        figure.add_trace(go.Heatmap(z=matrix.to_numpy() * 100, x=matrix.columns.tolist(), y=matrix.index.tolist(),
                                    colorscale="Blues", colorbar={"title": "%", "len": 0.65, "y": 0.68},
                                    hovertemplate="Cohort %{y}, month %{x}: %{z:.1f}%<extra></extra>"), row=1, col=1)
        figure.add_trace(go.Scatter(x=curve["months_since"], y=curve[measure] * 100, mode="lines+markers",
                                    name="Average", line={"color": "#08519c"}, showlegend=False,
                                    hovertemplate="Month %{x}: %{y:.1f}%<extra>Average cohort</extra>"), row=2, col=1)
        figure.update_yaxes(autorange="reversed", row=1, col=1)
        figure.update_xaxes(title_text="Months since acquisition", row=2, col=1)
        figure.update_yaxes(title_text="%", row=2, col=1, rangemode="tozero")
        figure.update_layout(height=560, margin={"t": 40, "b": 20})
        st.plotly_chart(figure, key="churn_cohort_chart")
        st.caption("Share still active: the cohort's customers active at each month's end (W days). Revenue retained: "
                   "the cohort's revenue in the month against its acquisition month. The average pools every cohort "
                   "that has reached that month, so large cohorts weigh more.")
        cohort_table = matrix.map(lambda value: format_value(None if pd.isna(value) else float(value), "share"))
        cohort_table.columns = [f"Month {column}" for column in cohort_table.columns]
        cohort_table.insert(0, "Customers", cohorts.groupby("cohort_month")["cohort_size"].first().to_numpy())
        st.dataframe(cohort_table, key="churn_cohort_table")
        download_csv(cohorts.assign(cohort_month=cohorts["cohort_month"].dt.strftime("%Y-%m"),
                                    month=cohorts["month"].dt.strftime("%Y-%m")),
                     "cohort_retention.csv", key="churn_cohort_csv")


# ---------------------------------------------------------------- value churn
def show_value_churn() -> None:
    """Active customers sliding to a lower value cell, and the revenue at stake."""
    st.subheader("Value churn: still active, sliding to a lower value cell")
    st.caption("Each month every customer gets a cell of the segments page's value x margin grid, computed on their "
               "last 3 months: volume A = the top customers who together make 80% of that revenue, B the rest; margin "
               "A = gross profit per order above the median, B below. A slide is a customer whose cell ranks lower "
               "than last month's (AA > AB = BA > BB; A > B where no cost data is loaded) and who is still active "
               "(W days). \"Into BB\" counts those who fell to the bottom cell.")
    slides = value_churn(context.db, filters, context.scope)
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    figure.add_trace(go.Bar(x=slides["month"], y=slides["slid"], name="Customers who slid", marker_color="#fd8d3c",
                            hovertemplate="%{x|%b %Y}: %{y:,}<extra>Slid</extra>"), secondary_y=False)
    figure.add_trace(go.Scatter(x=slides["month"], y=slides["revenue_at_stake"], name="Revenue at stake",
                                mode="lines+markers", line={"color": "#7f2704"},
                                hovertemplate="%{x|%b %Y}: %{y:,.0f}<extra>Revenue at stake</extra>"), secondary_y=True)
    figure.update_yaxes(title_text="Customers", secondary_y=False, rangemode="tozero")
    figure.update_yaxes(title_text="Revenue at stake (3 months)", secondary_y=True, rangemode="tozero")
    figure.update_layout(height=340, margin={"t": 20, "b": 20}, legend={"orientation": "h", "y": -0.2})
    st.plotly_chart(figure, key="churn_value_chart")
    value_table = pd.DataFrame({
        "month": slides["month"].dt.strftime("%Y-%m"),
        "high_value_before": slides["high_value_before"],
        "slid": slides["slid"],
        "to_lowest": slides["to_lowest"],
        "slid_share": [format_value(None if pd.isna(value) else float(value), "share")
                       for value in slides["slid_share"]],
        "revenue_before": slides["revenue_before"],
        "revenue_now": slides["revenue_now"],
    })
    st.dataframe(value_table, hide_index=True, key="churn_value_table", column_config={
        "month": "Month", "high_value_before": "Above BB last month", "slid": "Slid to a lower cell",
        "to_lowest": "of which into BB", "slid_share": "Share who slid",
        "revenue_before": st.column_config.NumberColumn("Revenue at stake (their 3 months before the slide)",
                                                        format="%,.0f"),
        "revenue_now": st.column_config.NumberColumn("Their revenue now (3 months)", format="%,.0f")})
    slide_months = slides.loc[slides["slid"] > 0, "month"].dt.date.tolist()
    if slide_months:
        chosen = st.selectbox("Customers who slid in", slide_months[::-1], format_func=lambda day: f"{day:%B %Y}",
                              key="churn_value_month")
        sliders = value_churn_customers(context.db, filters, chosen, context.scope)
        st.dataframe(sliders, hide_index=True, key="churn_value_customers", column_config={
            "customer_id": "Customer", "name": "Name", "customer_type": "Type", "region": "Region",
            "sales_rep": "Sales rep", "cell_before": "Cell last month", "cell_now": "Cell now",
            "revenue_now": st.column_config.NumberColumn("Revenue now (3 months)", format="%,.0f"),
            "revenue_at_stake": st.column_config.NumberColumn("At stake (3 months before)", format="%,.0f"),
            "revenue_drop": st.column_config.NumberColumn("Drop", format="%,.0f")})
        download_csv(sliders, f"value_churn_{chosen:%Y-%m}.csv", key="churn_value_csv")
    else:
        empty_state("No customer slid to a lower value cell while still active in this period.")


# ---------------------------------------------------------------- acquisition
def show_acquisition() -> None:
    """New customers by channel, type or region, and their first orders."""
    st.subheader("Acquisition")
    split = st.selectbox("Split new customers by", list(ACQUISITION_SPLITS), format_func=ACQUISITION_SPLITS.get,
                         key="churn_acquisition_split")
    acquired = acquisition(context.db, filters, split, context.scope)
    if acquired.empty:
        empty_state("No customer made a first purchase in this period.", "Choose a longer period in the sidebar.")
    else:
        figure = go.Figure()
        for group, rows in acquired.groupby("group"):
            figure.add_trace(go.Bar(x=rows["month"], y=rows["new_customers"], name=str(group),
                                    hovertemplate="%{x|%b %Y}: %{y:,}<extra>" + str(group) + "</extra>"))
        figure.update_layout(barmode="stack", height=340, margin={"t": 20, "b": 20}, yaxis_title="New customers",
                             legend={"orientation": "h", "y": -0.2})
        st.plotly_chart(figure, key="churn_acquisition_chart")
        by_group = acquisition_totals(acquired, "group")
        st.dataframe(by_group, hide_index=True, key="churn_acquisition_table", column_config={
            "group": ACQUISITION_SPLITS[split], "new_customers": "New customers",
            "first_order_value": st.column_config.NumberColumn("First-order value", format="%,.0f"),
            "average_first_order": st.column_config.NumberColumn("Average first order", format="%,.0f")})
        cohorts_by_month = acquisition_totals(acquired, "month")
        st.caption("First-order value of each monthly cohort: the revenue of each new customer's first purchase day.")
        st.dataframe(cohorts_by_month.assign(month=cohorts_by_month["month"].dt.strftime("%Y-%m")), hide_index=True,
                     key="churn_acquisition_cohorts", column_config={
                         "month": "Cohort", "new_customers": "New customers",
                         "first_order_value": st.column_config.NumberColumn("First-order value", format="%,.0f"),
                         "average_first_order": st.column_config.NumberColumn("Average first order", format="%,.0f")})
        download_csv(acquired.assign(month=acquired["month"].dt.strftime("%Y-%m")), "acquisition.csv",
                     key="churn_acquisition_csv")


# Only the open tab computes: value churn alone reads every customer month, seconds at 500,000 customers.
tabs = st.tabs(["Movements and ratios", "Cohort retention", "Value churn", "Acquisition"], key="churn_tab",
               on_change="rerun")
# The settings of a closed tab are not drawn; keep them for when it opens again. (The month of the slide list is
# not kept: its choices change with the filters.)
keep_widget_values("churn_ratio", "churn_cohort_measure", "churn_acquisition_split")
for tab, show in zip(tabs, (show_movements, show_cohorts, show_value_churn, show_acquisition), strict=True):
    with tab:
        if tab.open:
            show()
