"""Overview: the headline figures an executive reads first, with their change."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from customer_value.metrics import monthly_trend, overview_kpis
from ui.context import current
from ui.widgets import comparison_caption, empty_state, kpi_row, page_title

context = current()
page_title(context, "Overview")

filters = context.filters
comparison_caption(filters)

kpis = overview_kpis(context.db, filters, context.scope)
by_key = {kpi.key: kpi for kpi in kpis}
if by_key["revenue"].value == 0 and by_key["active_customers"].value == 0 and by_key["lost_customers"].value == 0:
    empty_state("No customer in this selection bought anything in the period.",
                "Widen the period or clear the customer type, region and sales rep filters in the sidebar.")
    st.stop()

st.subheader("Customers")
kpi_row([by_key[k] for k in ("active_customers", "new_customers", "lost_customers", "reactivated_customers")])
kpi_row([by_key[k] for k in ("net_growth_rate", "loss_to_gain_ratio", "customer_quick_ratio",
                             "repeat_purchase_rate")])
st.subheader("Value and satisfaction")
kpi_row([by_key[k] for k in ("revenue", "gross_margin", "revenue_per_active_customer", "nps")])
kpi_row([by_key["csat"]])

st.subheader("Monthly trend")
trend = monthly_trend(context.db, filters, context.scope)
figure = make_subplots(specs=[[{"secondary_y": True}]])
figure.add_trace(go.Bar(x=trend["month"], y=trend["revenue"], name="Revenue", marker_color="#9ecae1",
                        hovertemplate="%{x|%b %Y}: %{y:,.0f}<extra>Revenue</extra>"), secondary_y=False)
figure.add_trace(go.Scatter(x=trend["month"], y=trend["active_end"], name="Active customers (month end)",
                            mode="lines+markers", line={"color": "#08519c"},
                            hovertemplate="%{x|%b %Y}: %{y:,}<extra>Active customers</extra>"), secondary_y=True)
figure.update_yaxes(title_text="Revenue", secondary_y=False, rangemode="tozero")
figure.update_yaxes(title_text="Active customers", secondary_y=True, rangemode="tozero")
figure.update_layout(height=380, margin={"t": 20, "b": 20}, legend={"orientation": "h", "y": -0.15})
st.plotly_chart(figure, key="overview_trend")

table = trend.assign(month=trend["month"].dt.strftime("%Y-%m"))[
    ["month", "active_start", "new_customers", "reactivated", "lost", "active_end", "revenue", "buyers"]]
st.dataframe(
    table, hide_index=True, key="overview_table",
    column_config={
        "month": "Month", "active_start": "Active at start", "new_customers": "New",
        "reactivated": "Reactivated", "lost": "Lost", "active_end": "Active at end",
        "revenue": st.column_config.NumberColumn("Revenue", format="%,.0f"),
        "buyers": "Buying customers",
    },
)
