"""Team performance: regions and sales reps against the previous period; a rep's customers."""

from __future__ import annotations

import streamlit as st

from customer_value import team
from ui.context import current
from ui.widgets import download_csv, empty_state

context = current()
st.title("Team performance")

if context.filters is None:
    empty_state("No transactions are loaded yet.",
                "Open **Load data** to upload an export, or run `python -m customer_value demo` for the demo company.")
    st.stop()

filters = context.filters
previous = filters.previous()
st.caption(f"{filters.describe()}. Changes compare with {previous.start:%Y-%m-%d} to {previous.end:%Y-%m-%d}.")
st.caption("Customers = bought in the period; active = active on the period's last day (bought within W days, "
           "contract not ended); new / reactivated / lost as on the overview; net growth = (new + reactivated - "
           "lost) / active at the start; NPS and CSAT over every answer in the period; complaints raised in it.")

MONEY = "%,.0f"


def column_config(level: str) -> dict:
    config = {level: team.TEAM_LEVELS[level]}
    labels = {"customers": "Customers", "active_customers": "Active", "new_customers": "New",
              "reactivated": "Reactivated", "lost": "Lost", "nps_answers": "NPS answers",
              "csat_answers": "CSAT answers", "complaints": "Complaints", "active_at_start": "Active at start"}
    for figure in team.FIGURES:
        for prefix, suffix in (("", ""), ("previous_", " (prev.)"), ("change_", " Δ")):
            name = prefix + figure
            if figure in ("revenue", "gross_profit"):
                title = {"revenue": "Revenue", "gross_profit": "Gross profit"}[figure] + suffix
                config[name] = st.column_config.NumberColumn(title, format=MONEY)
            elif figure in ("gross_margin", "net_growth_rate", "csat"):
                title = {"gross_margin": "Gross margin", "net_growth_rate": "Net growth",
                         "csat": "CSAT"}[figure] + suffix
                config[name] = st.column_config.NumberColumn(title, format="percent")
            elif figure == "nps":
                config[name] = st.column_config.NumberColumn("NPS" + suffix, format="%+.1f")
            else:
                config[name] = st.column_config.NumberColumn(labels[figure] + suffix, format="%d" if not prefix
                                                             else "%+d" if prefix == "change_" else "%d")
    return config


def shown_columns(level: str) -> list[str]:
    return [level, *team.FIGURES, *(f"change_{figure}" for figure in ("revenue", "active_customers", "new_customers",
                                                                      "lost", "nps", "csat"))]


regions = team.team_table(context.db, filters, "region", context.scope)
if regions.empty or (regions["customers"].fillna(0).sum() == 0 and regions["active_customers"].fillna(0).sum() == 0
                     and regions["lost"].fillna(0).sum() == 0):
    empty_state("No customer in this selection bought anything or moved in the period.",
                "Widen the period or clear the customer type, region and sales rep filters in the sidebar.")
    st.stop()

st.subheader("Regions")
st.dataframe(regions, hide_index=True, key="team_regions", column_order=shown_columns("region"),
             column_config=column_config("region"))

st.subheader("Sales reps")
st.caption("Select a row to list that rep's customers.")
reps = team.team_table(context.db, filters, "sales_rep", context.scope)
selection = st.dataframe(reps, hide_index=True, key="team_reps", column_order=shown_columns("sales_rep"),
                         column_config=column_config("sales_rep"), on_select="rerun", selection_mode="single-row")
selected_rows = selection.selection.rows if selection is not None else []
rep_names = reps["sales_rep"].tolist()
default_rep = rep_names[selected_rows[0]] if selected_rows else None
chosen_rep = st.selectbox("Sales rep's customers", rep_names, key="team_rep",
                          index=rep_names.index(default_rep) if default_rep in rep_names else None,
                          placeholder="Choose a rep (or select a row above)")
rep = default_rep or chosen_rep
if rep:
    customers = team.rep_customers(context.db, filters, rep, context.scope)
    st.caption(f"{len(customers):,} customers of {rep} with activity in the period, most valuable first.")
    st.dataframe(customers, hide_index=True, key="team_rep_customers", column_config={
        "revenue": st.column_config.NumberColumn("Revenue", format=MONEY),
        "profit": st.column_config.NumberColumn("Gross profit", format=MONEY),
        "nps": st.column_config.NumberColumn("NPS", format="%+.1f"),
        "csat": st.column_config.NumberColumn("CSAT", format="percent"),
    })
    download_csv(customers, f"customers_{rep}.csv", "Download this rep's customers (CSV)", key="team_rep_csv")
