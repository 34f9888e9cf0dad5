"""Net growth: where revenue came from and went, month by month, and how much of last year's revenue stayed."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from customer_value.formatting import format_value
from customer_value.movements import (
    REVENUE_MOVEMENT_LABELS,
    REVENUE_MOVEMENTS,
    SEGMENT_LEVELS,
    executive_reading,
    gross_revenue_retention,
    monthly_movements,
    net_revenue_retention,
    revenue_movements,
    revenue_movements_by_segment,
    revenue_retention,
    revenue_totals,
)
from ui.context import current
from ui.widgets import download_csv, empty_state, page_title

GAINS = ("new_revenue", "expansion_revenue", "reactivation_revenue")
COLOURS = {"new_revenue": "#2ca02c", "expansion_revenue": "#74c476", "reactivation_revenue": "#c7e9c0",
           "contraction_revenue": "#fc9272", "churned_revenue": "#d62728"}


def _formatted(values, kind: str) -> list[str]:
    return [format_value(None if pd.isna(value) else float(value), kind) for value in values]


context = current()
page_title(context, "Net growth")

filters = context.filters
revenue = revenue_movements(context.db, filters, context.scope)
retention = revenue_retention(context.db, filters, context.scope)
movements = monthly_movements(context.db, filters, context.scope)
st.caption(f"{filters.describe()}. Whole calendar months from {revenue['month'].iloc[0]:%B %Y}.")

if revenue[["revenue_start", "revenue_end"]].to_numpy().sum() == 0 and retention["base_revenue"].sum() == 0:
    empty_state("No customer in this selection bought anything in the period or the year before.",
                "Widen the period or clear the customer type, region and sales rep filters in the sidebar.")
    st.stop()

st.markdown(f"**{executive_reading(movements, retention)}**")

# ---------------------------------------------------------------- headline for the period
totals = revenue_totals(revenue)
latest = retention.iloc[-1]
columns = st.columns(3)
columns[0].metric("Revenue quick ratio (period)", format_value(totals["revenue_quick_ratio"], "ratio"),
                  help="(New + expansion + reactivation revenue) / (churned + contraction revenue), summed over "
                       "the period's months; above 1 revenue grows.")
columns[1].metric(f"Net revenue retention (12 months to {latest['month']:%b %Y})",
                  format_value(net_revenue_retention(latest["current_revenue"], latest["base_revenue"]), "share"),
                  help="Revenue over the last 12 months of the customers who bought in the 12 months before, "
                       "divided by what they bought then.")
columns[2].metric(f"Gross revenue retention (12 months to {latest['month']:%b %Y})",
                  format_value(gross_revenue_retention(latest["retained_revenue"], latest["base_revenue"]),
                               "share"),
                  help="The same, with each customer's revenue capped at what they bought the year before: "
                       "the share of last year's revenue kept, ignoring growth.")

# ---------------------------------------------------------------- revenue movements
st.subheader("Revenue movements by month")
st.caption("Each customer's revenue this month against last month: new (first purchase month), expansion, "
           "reactivation (bought again after a month without revenue), contraction and churned (no revenue this "
           "month). Last month's revenue + gains - losses = this month's revenue.")
figure = go.Figure()
for column in REVENUE_MOVEMENTS:
    sign = 1 if column in GAINS else -1
    figure.add_trace(go.Bar(x=revenue["month"], y=sign * revenue[column], name=REVENUE_MOVEMENT_LABELS[column],
                            marker_color=COLOURS[column], customdata=revenue[column],
                            hovertemplate="%{x|%b %Y}: %{customdata:,.0f}<extra>"
                                          + REVENUE_MOVEMENT_LABELS[column] + "</extra>"))
figure.add_trace(go.Scatter(x=revenue["month"], y=revenue["net_change"], name="Net change", mode="lines+markers",
                            line={"color": "#000000"}, hovertemplate="%{x|%b %Y}: %{y:,.0f}<extra>Net change</extra>"))
figure.update_layout(barmode="relative", height=380, margin={"t": 20, "b": 20}, yaxis_title="Revenue",
                     legend={"orientation": "h", "y": -0.15})
st.plotly_chart(figure, key="net_growth_trend_chart")

month_choices = revenue["month"].dt.date.tolist()
chosen = st.selectbox("Waterfall for", month_choices[::-1], format_func=lambda day: f"{day:%B %Y}",
                      key="net_growth_month")
row = revenue.loc[revenue["month"].dt.date == chosen].iloc[0]
steps = [("Last month", row["revenue_start"], "absolute")]
steps += [(REVENUE_MOVEMENT_LABELS[column], row[column] if column in GAINS else -row[column], "relative")
          for column in REVENUE_MOVEMENTS]
steps.append(("This month", row["revenue_end"], "total"))
figure = go.Figure(go.Waterfall(
    x=[label for label, _, _ in steps], y=[float(value) for _, value, _ in steps],
    measure=[measure for _, _, measure in steps], connector={"line": {"color": "#bdbdbd"}},
    increasing={"marker": {"color": "#2ca02c"}}, decreasing={"marker": {"color": "#d62728"}},
    totals={"marker": {"color": "#08519c"}}, texttemplate="%{y:,.0f}", textposition="outside"))
figure.update_layout(height=380, margin={"t": 30, "b": 20}, yaxis_title="Revenue", showlegend=False)
st.plotly_chart(figure, key="net_growth_waterfall")

revenue_table = pd.DataFrame({"month": revenue["month"].dt.strftime("%Y-%m")})
for column in ("revenue_start", *REVENUE_MOVEMENTS, "revenue_end", "net_change"):
    revenue_table[column] = revenue[column].round(2)
revenue_table["revenue_quick_ratio"] = _formatted(revenue["revenue_quick_ratio"], "ratio")
money = {column: st.column_config.NumberColumn(label, format="%,.0f") for column, label in (
    ("revenue_start", "Last month"), ("revenue_end", "This month"), ("net_change", "Net change"),
    *((column, REVENUE_MOVEMENT_LABELS[column]) for column in REVENUE_MOVEMENTS))}
st.dataframe(revenue_table, hide_index=True, key="net_growth_revenue_table",
             column_config={"month": "Month", "revenue_quick_ratio": "Revenue quick ratio", **money})
download_csv(revenue.assign(month=revenue["month"].dt.strftime("%Y-%m")), "revenue_movements.csv",
             key="net_growth_revenue_csv")

# ---------------------------------------------------------------- ratios
st.subheader("Revenue quick ratio, net and gross revenue retention")
# Two panels: a monthly quick ratio of 8 would flatten retention figures that move by a few points around 100%.
figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.1,
                       subplot_titles=("Net and gross revenue retention over 12 months", "Revenue quick ratio"))
figure.add_trace(go.Scatter(x=retention["month"], y=retention["nrr"] * 100, name="NRR (12 months)",
                            mode="lines+markers", line={"color": "#08519c"},
                            hovertemplate="%{x|%b %Y}: %{y:.1f}%<extra>NRR</extra>"), row=1, col=1)
figure.add_trace(go.Scatter(x=retention["month"], y=retention["grr"] * 100, name="GRR (12 months)",
                            mode="lines+markers", line={"color": "#9ecae1"},
                            hovertemplate="%{x|%b %Y}: %{y:.1f}%<extra>GRR</extra>"), row=1, col=1)
figure.add_trace(go.Scatter(x=revenue["month"], y=revenue["revenue_quick_ratio"], name="Revenue quick ratio",
                            mode="lines+markers", line={"color": "#6a51a3"},
                            hovertemplate="%{x|%b %Y}: %{y:.2f}<extra>Revenue quick ratio</extra>"), row=2, col=1)
figure.add_hline(y=100, line_dash="dash", line_color="#636363", annotation_text="100% = as much as the year before",
                 row=1, col=1)
figure.add_hline(y=1, line_dash="dash", line_color="#636363", annotation_text="1 = standing still", row=2, col=1)
figure.update_yaxes(title_text="%", row=1, col=1)
figure.update_yaxes(title_text="Ratio", rangemode="tozero", row=2, col=1)
figure.update_layout(height=520, margin={"t": 40, "b": 20}, legend={"orientation": "h", "y": -0.12})
st.plotly_chart(figure, key="net_growth_ratio_chart")
retention_table = pd.DataFrame({
    "month": retention["month"].dt.strftime("%Y-%m"),
    "base_customers": retention["base_customers"],
    "retained_customers": retention["retained_customers"],
    "base_revenue": retention["base_revenue"].round(2),
    "current_revenue": retention["current_revenue"].round(2),
    "nrr": _formatted(retention["nrr"], "share"),
    "grr": _formatted(retention["grr"], "share"),
})
st.dataframe(retention_table, hide_index=True, key="net_growth_retention_table", column_config={
    "month": "12 months to", "base_customers": "Customers a year before", "retained_customers": "Still buying",
    "base_revenue": st.column_config.NumberColumn("Their revenue the year before", format="%,.0f"),
    "current_revenue": st.column_config.NumberColumn("Their revenue this year", format="%,.0f"),
    "nrr": "NRR", "grr": "GRR"})

# ---------------------------------------------------------------- by segment
st.subheader("By segment")
level = st.selectbox("Segment by", list(SEGMENT_LEVELS), format_func=SEGMENT_LEVELS.get, key="net_growth_segment")
by_segment = revenue_retention(context.db, filters, context.scope, level=level)
segment_latest = by_segment[by_segment["month"] == retention["month"].iloc[-1]]
segment_table = pd.DataFrame({
    "segment": segment_latest["segment"],
    "base_customers": segment_latest["base_customers"],
    "base_revenue": segment_latest["base_revenue"].round(2),
    "current_revenue": segment_latest["current_revenue"].round(2),
    "nrr": _formatted(segment_latest["nrr"], "share"),
    "grr": _formatted(segment_latest["grr"], "share"),
})
if level != "value_class":
    quick = revenue_movements_by_segment(context.db, filters, level, context.scope)
    segment_table = segment_table.merge(
        pd.DataFrame({"segment": quick["segment"],
                      "revenue_quick_ratio": _formatted(quick["revenue_quick_ratio"], "ratio")}),
        on="segment", how="outer").fillna({"revenue_quick_ratio": format_value(None, "ratio")})
else:
    st.caption("Value class A = the customers who made 80% of the base year's revenue (the Pareto rule); B the rest.")
segment_table = segment_table.fillna({"base_customers": 0, "base_revenue": 0.0, "current_revenue": 0.0,
                                      "nrr": format_value(None, "share"), "grr": format_value(None, "share")})
st.caption(f"NRR and GRR over the 12 months to {retention['month'].iloc[-1]:%B %Y}"
           + ("; the revenue quick ratio over the period's months." if level != "value_class" else "."))
st.dataframe(segment_table, hide_index=True, key="net_growth_segment_table", column_config={
    "segment": SEGMENT_LEVELS[level], "base_customers": "Customers a year before",
    "base_revenue": st.column_config.NumberColumn("Their revenue the year before", format="%,.0f"),
    "current_revenue": st.column_config.NumberColumn("Their revenue this year", format="%,.0f"),
    "nrr": "NRR", "grr": "GRR", "revenue_quick_ratio": "Revenue quick ratio"})
figure = go.Figure()
for segment, rows in by_segment.groupby("segment"):
    figure.add_trace(go.Scatter(x=rows["month"], y=rows["nrr"], name=str(segment), mode="lines+markers"))
figure.add_hline(y=1, line_dash="dash", line_color="#636363")
figure.update_layout(height=320, margin={"t": 20, "b": 20}, yaxis_title="NRR (1 = 100%)",
                     legend={"orientation": "h", "y": -0.2})
st.plotly_chart(figure, key="net_growth_segment_chart")
download_csv(by_segment.assign(month=by_segment["month"].dt.strftime("%Y-%m")), f"retention_by_{level}.csv",
             key="net_growth_segment_csv")
