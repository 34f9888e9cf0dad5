"""Team performance: regions and sales reps against the previous period; a rep's customers."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from customer_value import team
from customer_value.formatting import NOT_DEFINED
from ui.context import current
from ui.widgets import comparison_caption, download_csv, empty_state, page_title

context = current()
page_title(context, "Team performance")

filters = context.filters
previous = filters.previous()
comparison_caption(filters)
st.caption("Customers = bought in the period; active = active on the period's last day (bought within W days, "
           "contract not ended); new / reactivated / lost as on the overview; net growth = (new + reactivated - "
           "lost) / active at the start; NPS and CSAT over every answer in the period; complaints raised in it. "
           "Regions and reps add up to the overview's figures for the same filters.")

MONEY = "%,.0f"
# Each figure sits beside its change against the previous period.
# Reactivated sits between new and lost: without it a positive net growth beside more lost than new reads wrong.
SHOWN_FIGURES = ["customers", "active_customers", "revenue", "gross_margin", "new_customers", "reactivated", "lost",
                 "net_growth_rate", "nps", "csat", "complaints"]
TITLES = {"customers": "Customers", "active_customers": "Active", "revenue": "Revenue", "gross_profit": "Gross profit",
          "gross_margin": "Gross margin", "new_customers": "New", "reactivated": "Reactivated", "lost": "Lost",
          "net_growth_rate": "Net growth", "nps": "NPS", "nps_answers": "NPS answers", "csat": "CSAT",
          "csat_answers": "CSAT answers", "complaints": "Complaints", "active_at_start": "Active at start"}


def number_format(figure: str, change: bool) -> str:
    if figure in ("revenue", "gross_profit"):
        return "%+,.0f" if change else MONEY
    if figure in ("gross_margin", "net_growth_rate", "csat"):
        # A change of a share reads in percentage points.
        return "%+.1f pts" if change else "percent"
    if figure == "nps":
        return "%+.1f"
    return "%+d" if change else "%d"


def table_view(table: pd.DataFrame, level: str) -> tuple[pd.DataFrame, dict]:
    """The columns shown, shares' changes in points, and their headings."""
    previous_range = f"{previous.start:%Y-%m-%d} to {previous.end:%Y-%m-%d}"
    view = table[[level]].copy()
    config: dict = {level: team.TEAM_LEVELS[level]}
    for figure in SHOWN_FIGURES:
        view[figure] = table[figure]
        config[figure] = st.column_config.NumberColumn(TITLES[figure], format=number_format(figure, False))
        change = table[f"change_{figure}"].astype(float)
        # Rounded as shown, plus 0.0, so that a tiny fall reads "+0.0 pts" rather than "-0.0 pts".
        view[f"change_{figure}"] = ((100 * change).round(1) + 0.0 if figure in ("gross_margin", "net_growth_rate",
                                                                                 "csat") else change)
        config[f"change_{figure}"] = st.column_config.NumberColumn(
            f"{TITLES[figure]} Δ", format=number_format(figure, True),
            help=f"{TITLES[figure]} minus the previous period's ({previous_range}).")
    return view, config


regions = team.team_table(context.db, filters, "region", context.scope)
if regions.empty or (regions["customers"].fillna(0).sum() == 0 and regions["active_customers"].fillna(0).sum() == 0
                     and regions["lost"].fillna(0).sum() == 0):
    empty_state("No customer in this selection bought anything or moved in the period.",
                "Widen the period or clear the customer type, region and sales rep filters in the sidebar.")
    st.stop()

st.subheader("Regions")
region_view, region_config = table_view(regions, "region")
st.dataframe(region_view, hide_index=True, key="team_regions", column_config=region_config,
             placeholder=NOT_DEFINED)
download_csv(regions, "team_regions.csv", "Download regions (CSV)", key="team_regions_csv")

st.subheader("Sales reps")
st.caption("Select a rep's row (or choose the rep below) to list that rep's customers.")
reps = team.team_table(context.db, filters, "sales_rep", context.scope)
rep_view, rep_config = table_view(reps, "sales_rep")
selection = st.dataframe(rep_view, hide_index=True, key="team_reps", column_config=rep_config, height="content",
                         placeholder=NOT_DEFINED, on_select="rerun", selection_mode="single-row")
download_csv(reps, "team_sales_reps.csv", "Download sales reps (CSV)", key="team_reps_csv")

rep_names = reps["sales_rep"].tolist()
selected_rows = selection.selection.rows if selection is not None else []
selected_rep = rep_names[selected_rows[0]] if selected_rows else None
# A newly selected row drives the chooser; afterwards the chooser can still pick any other rep.
if selected_rep is not None and st.session_state.get("team_rep_selected_row") != selected_rep:
    st.session_state["team_rep"] = selected_rep
st.session_state["team_rep_selected_row"] = selected_rep
if st.session_state.get("team_rep") not in rep_names:
    st.session_state["team_rep"] = None
rep = st.selectbox("Sales rep's customers", rep_names, key="team_rep",
                   placeholder="Choose a rep (or select a row above)")
if rep:
    customers = team.rep_customers(context.db, filters, rep, context.scope)
    st.caption(f"{len(customers):,} customers of {rep} who bought, answered a survey or moved in the period, "
               "most valuable first.")
    st.dataframe(customers, hide_index=True, key="team_rep_customers", placeholder=NOT_DEFINED, column_config={
        "customer_id": "Customer", "name": "Name", "customer_type": "Type", "region": "Region", "status": "Status",
        "revenue": st.column_config.NumberColumn("Revenue", format=MONEY),
        "profit": st.column_config.NumberColumn("Gross profit", format=MONEY),
        "last_purchase_date": st.column_config.DateColumn("Last purchase", format="YYYY-MM-DD"),
        "nps": st.column_config.NumberColumn("NPS", format="%+.1f"),
        "csat": st.column_config.NumberColumn("CSAT", format="percent"),
        "complaints": st.column_config.NumberColumn("Complaints", format="%d"),
    })
    download_csv(customers, f"customers_{rep}.csv", "Download this rep's customers (CSV)", key="team_rep_csv")
