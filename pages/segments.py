"""Segments: the value x margin grid, Pareto pyramid, contribution, RFM, clusters, lifecycle, migration."""

from __future__ import annotations

import re

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from customer_value import rfm, segments
from customer_value.clusters import DEFAULT_SEED, K_RANGE, cluster_customers
from customer_value.errors import UserFacingError
from customer_value.formatting import NOT_DEFINED, format_value
from customer_value.query import filters_key
from ui.context import current
from ui.widgets import TABLE_ROWS_SHOWN, download_csv, empty_state, keep_widget_values, page_title

context = current()
page_title(context, "Segments")

filters = context.filters
db = context.db
scope = context.scope
st.caption(f"{filters.describe()}. Customers = those in the selection who bought in the period "
           "(a period with only cancellations or returns is not a purchase).")

KINDS = {"revenue": "money", "profit": "money", "customer_share": "share", "revenue_share": "share",
         "profit_share": "share", "churn_rate": "share", "average_nps": "ratio", "nps": "points",
         "conversion": "share", "median_revenue": "money", "profit_per_order": "money",
         "revenue_before": "money", "revenue_after": "money"}
LABELS = {"grid_cell": "Cell", "cell_name": "Meaning", "customers": "Customers", "customer_share": "Share of customers",
          "revenue": "Revenue", "revenue_share": "Share of revenue", "profit": "Gross profit",
          "profit_share": "Share of profit", "average_nps": "Average NPS answer (0-10)", "nps": "NPS",
          "nps_answers": "NPS answers", "churned": "Not active at end", "churn_rate": "Churn rate",
          "treatment": "Recommended treatment", "tier": "Tier", "rfm_segment": "Segment", "rule": "Rule (R, F)",
          "customer_id": "Customer id", "name": "Name", "customer_type": "Type", "region": "Region",
          "sales_rep": "Sales rep", "orders": "Orders", "last_purchase_date": "Last purchase",
          "r_score": "R", "f_score": "F", "m_score": "M", "pyramid_tier": "Pyramid tier", "cluster": "Cluster",
          "stage": "Lifecycle stage", "purchase_days": "Purchase days to the end", "grid_before": "Cell before",
          "grid_after": "Cell after", "rfm_before": "Segment before", "rfm_after": "Segment after",
          "revenue_before": "Revenue before", "revenue_after": "Revenue after"}


def shown(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Figures as display text (never NaN); counts and scores stay numbers."""
    table = frame[columns].copy()
    for column in columns:
        if column in KINDS:
            table[column] = [format_value(None if pd.isna(value) else float(value), KINDS[column])
                             for value in table[column]]
        elif column == "last_purchase_date":
            table[column] = [NOT_DEFINED if pd.isna(day) else day.strftime("%Y-%m-%d")
                             for day in pd.to_datetime(table[column])]
        elif table[column].dtype == object or str(table[column].dtype).startswith("str"):
            table[column] = table[column].fillna(NOT_DEFINED)
    return table.rename(columns={c: LABELS.get(c, c) for c in columns})


def drill(frame: pd.DataFrame | None, column: str, options: list, key: str, label: str, format_func=str,
          lister=None, placeholder: str | None = None) -> None:
    """A selectbox of the section's groups and the chosen group's customers, downloadable.

    ``lister(choice)`` lists a group's customers when they are not rows of ``frame`` (lifecycle, migration,
    and the grid, whose cell lists name only that cell's customers). With a ``placeholder`` nothing is chosen
    until the user picks a group.
    """
    if not options:
        return
    choice = st.selectbox(label, options, key=key, format_func=format_func, placeholder=placeholder,
                          index=None if placeholder else 0)
    if choice is None:
        return
    customers = lister(choice) if lister is not None else segments.drill_down(frame, column, choice)
    if customers.empty:
        st.caption(f"No customer is listed in {format_func(choice)}.")
        return
    if len(customers) > TABLE_ROWS_SHOWN:
        st.caption(f"{len(customers):,} customers in {format_func(choice)}; the {TABLE_ROWS_SHOWN:,} with the "
                   "highest revenue are shown, the CSV has them all.")
    else:
        st.caption(f"{len(customers):,} customers in {format_func(choice)}.")
    st.dataframe(shown(customers.head(TABLE_ROWS_SHOWN), list(customers.columns)), hide_index=True,
                 key=f"{key}_table")
    safe_name = re.sub(r"[^\w-]+", "_", str(choice)).strip("_") or "group"
    download_csv(customers, f"customers_{column}_{safe_name}.csv", key=f"{key}_csv")


@st.cache_data(show_spinner="Finding clusters...", max_entries=32)
def cached_clusters(path: str, data_version: str, filters_tuple: tuple, scope_regions, threshold, k,
                    _frame: pd.DataFrame):
    # Keyed by data version + filters + settings; the frame itself is derived from them.
    return cluster_customers(_frame, k=k, seed=DEFAULT_SEED)


threshold_input = st.number_input(
    "Margin threshold: average gross profit per order above which the margin class is A (empty = the median)",
    value=None, step=100.0, key="seg_margin_threshold")

rules_state = st.session_state.get("seg_rules_applied")
rules = rules_state if rules_state is not None else list(rfm.DEFAULT_SEGMENT_RULES)
# The grid and the figures above it come without the customer list: classifying every customer (names, RFM,
# tiers) takes most of a second at 500,000 customers, so only the tabs and lists that show customers ask for it.
try:
    overview = segments.grid_overview(db, filters, scope, threshold_input)
except UserFacingError as error:
    st.error(str(error))
    st.stop()
info = overview.info

if overview.customers == 0:
    empty_state("No customer in this selection bought anything in the period.",
                "Widen the period or clear the customer type, region and sales rep filters in the sidebar.")
    st.stop()


def classified_customers() -> pd.DataFrame:
    """Every buying customer with their segments; kept by the package, so each caller after the first is quick."""
    try:
        frame, _ = segments.segment_frame(db, filters, scope, threshold_input, rules)
    except UserFacingError as error:
        st.error(str(error))
        st.stop()
    return frame


def cell_customers(cell: str) -> pd.DataFrame:
    """A cell's customers, listed without classifying everyone (the grid's first view needs no more)."""
    try:
        return segments.grid_cell_customers(db, filters, scope, cell, threshold_input, rules)
    except UserFacingError as error:
        st.error(str(error))
        st.stop()


top_share = overview.top_share
columns = st.columns(4)
columns[0].metric("Customers who bought", format_value(overview.customers, "count"), help="Customers in the "
                  "selection with at least one purchase day in the period.")
columns[1].metric("Revenue", format_value(overview.revenue, "money"),
                  help="Their net revenue in the period.")
columns[2].metric("Top 20% bring", format_value(top_share, "share"),
                  help="Share of revenue from the 20% of customers with the highest revenue (Pareto curve).")
columns[3].metric("Margin threshold", format_value(info.margin_threshold, "money"),
                  help=("Median" if info.threshold_is_median else "Set") + " average gross profit per order; "
                  "above it the margin class is A." + ("" if info.has_profit else " No cost data in the period."))

# Only the open tab computes: at 500,000 customers migration alone reads two periods and takes seconds.
tabs = st.tabs(["Value x margin grid", "Pareto pyramid", "Contribution", "RFM", "Clusters", "Lifecycle",
                "Migration", "Customer lists"], key="seg_tab", on_change="rerun")
# The k chosen on the Clusters tab also drives the Customer lists tab, which does not draw its widget.
keep_widget_values("seg_k")
st.session_state.setdefault("seg_k", "automatic")


def clusters_for_page():
    """The clusters for the k chosen on the Clusters tab (cached), or the reason there are none."""
    k_choice = st.session_state["seg_k"]
    try:
        return cached_clusters(str(db.path), db.data_version(), filters_key(filters), scope.regions,
                               threshold_input, None if k_choice == "automatic" else int(k_choice),
                               classified_customers()), None
    except UserFacingError as error:
        return None, str(error)


# ---------------------------------------------------------------- 1. value x margin grid
with tabs[0]:
    if tabs[0].open:
        st.subheader("Value x margin grid")
        st.caption("Volume A = the smallest set of top customers by revenue that together make 80% of it (the "
                   "customer who crosses 80% is A); margin A = average gross profit per order above the threshold. "
                   "Churn rate = share of the cell's customers not active on the period's last day (no purchase in "
                   f"the last {filters.window_days} days, or contract ended).")
        if info.fallback_reason:
            st.warning(info.fallback_reason)
        elif info.customers_without_cost:
            st.info(f"{info.customers_without_cost:,} customers have no line with a cost in the period; they are "
                    "shown as 'margin unknown'.")
        grid = overview.grid
        by_cell = grid.set_index("grid_cell")
        # The grid as the studies draw it: volume A on top, margin A on the left; each cell with its treatment.
        layout = [["AA", "AB"], ["BA", "BB"]] if info.has_profit else [["A", "B"]]
        for row in layout:
            for column, cell in zip(st.columns(len(row)), row, strict=True):
                card = column.container(border=True, key=f"seg_grid_card_{cell}")
                if cell not in by_cell.index:
                    card.markdown(f"**{cell} · {segments.CELL_NAMES[cell]}**  \nNo customer in this cell.")
                    continue
                figures = by_cell.loc[cell]
                card.markdown(
                    f"**{cell} · {figures['cell_name']}**  \n"
                    f"**{format_value(figures['customers'], 'count')}** customers "
                    f"({format_value(figures['customer_share'], 'share')}) · revenue "
                    f"{format_value(figures['revenue'], 'money')} ({format_value(figures['revenue_share'], 'share')})"
                    f" · profit {format_value(figures['profit'], 'money')} "
                    f"({format_value(figures['profit_share'], 'share')})  \n"
                    f"NPS {format_value(figures['nps'], 'points')} ({format_value(figures['nps_answers'], 'count')} "
                    f"answers) · churn rate {format_value(figures['churn_rate'], 'share')}")
                card.caption(f"Treatment: {figures['treatment']}")
        st.dataframe(shown(grid, list(grid.columns)), hide_index=True, key="seg_grid_table")
        drill(None, "grid_cell", grid["grid_cell"].tolist(), "seg_grid_drill", "List the customers of cell",
              lister=cell_customers,
              placeholder="Choose a cell to list its customers")

# ---------------------------------------------------------------- 2. Pareto curve and pyramid
with tabs[1]:
    if tabs[1].open:
        st.subheader("Pareto curve and customer pyramid")
        frame = classified_customers()
        curve = segments.pareto_curve(frame, points=1_000)
        if curve.empty:
            empty_state("Total revenue is not positive in this selection, so there is no Pareto curve.")
        else:
            figure = go.Figure()
            figure.add_trace(go.Scatter(x=curve["customer_share"], y=curve["revenue_share"], mode="lines",
                                        name="Cumulative revenue", line={"color": "#08519c"},
                                        hovertemplate="Top %{x:.1%} of customers: %{y:.1%} of revenue<extra></extra>"))
            figure.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="Equal shares",
                                        line={"dash": "dot", "color": "#999"}, hoverinfo="skip"))
            figure.add_trace(go.Scatter(x=[0.2], y=[top_share], mode="markers+text", name="Top 20%",
                                        marker={"size": 12, "color": "#e6550d"},
                                        text=[f"Top 20% bring {format_value(top_share, 'share')}"],
                                        textposition="bottom right", hoverinfo="skip"))
            figure.update_layout(height=380, margin={"t": 20, "b": 20}, xaxis={"tickformat": ".0%",
                                 "title": "Share of customers (highest revenue first)"},
                                 yaxis={"tickformat": ".0%", "title": "Share of revenue"},
                                 legend={"orientation": "h", "y": -0.2})
            st.plotly_chart(figure, key="seg_pareto_chart")
        pyramid = segments.pyramid_summary(frame)
        st.dataframe(shown(pyramid, ["tier", "customers", "customer_share", "revenue", "revenue_share", "profit",
                                     "profit_share"]), hide_index=True, key="seg_pyramid_table")
        drill(frame, "pyramid_tier", pyramid["tier"].tolist(), "seg_pyramid_drill", "List the customers of tier")

# ---------------------------------------------------------------- 3. contribution by attribute
with tabs[2]:
    if tabs[2].open:
        st.subheader("Contribution by customer attribute")
        frame = classified_customers()
        attribute = st.selectbox("Attribute", list(segments.ATTRIBUTES), key="seg_attribute",
                                 format_func=segments.ATTRIBUTES.get)
        parts = segments.contribution(frame, attribute)
        figure = go.Figure()
        for column, label, colour in (("customer_share", "Customers", "#9ecae1"),
                                      ("revenue_share", "Revenue", "#08519c"),
                                      ("profit_share", "Gross profit", "#31a354")):
            figure.add_trace(go.Bar(x=parts[attribute], y=parts[column], name=label, marker_color=colour,
                                    hovertemplate="%{x}: %{y:.1%}<extra>" + label + "</extra>"))
        figure.update_layout(barmode="group", height=340, margin={"t": 20, "b": 20}, yaxis={"tickformat": ".0%"},
                             legend={"orientation": "h", "y": -0.25})
        st.plotly_chart(figure, key="seg_contribution_chart")
        LABELS[attribute] = segments.ATTRIBUTES[attribute]
        st.dataframe(shown(parts, [attribute, "customers", "customer_share", "revenue", "revenue_share", "profit",
                                   "profit_share"]), hide_index=True, key="seg_contribution_table")
        drill(frame, attribute, parts[attribute].tolist(), "seg_contribution_drill",
              f"List the customers of {segments.ATTRIBUTES[attribute].lower()}")

# ---------------------------------------------------------------- 4. RFM
with tabs[3]:
    if tabs[3].open:
        st.subheader("RFM")
        frame = classified_customers()
        st.caption("Recency = days from the last purchase to the period's end; frequency = purchase days in the "
                   "period; monetary = net revenue in it. Scores 1-5 by quintile of rank; equal values share a score "
                   "(so every single-purchase customer has F = 1). A customer takes the first segment whose rule "
                   "their R and F satisfy.")
        cells = rfm.heat_map(frame)
        counts = cells.pivot(index="r_score", columns="f_score", values="customers").sort_index(ascending=False)
        revenue = cells.pivot(index="r_score", columns="f_score", values="revenue").sort_index(ascending=False)
        names = rfm.segment_map(rules)
        text = [[f"{names.loc[r, f]}<br>{counts.loc[r, f]:,} customers<br>{format_value(revenue.loc[r, f], 'money')}"
                 for f in counts.columns] for r in counts.index]
        heat = go.Figure(go.Heatmap(z=counts.to_numpy(), x=[f"F {f}" for f in counts.columns],
                                    y=[f"R {r}" for r in counts.index], text=text, texttemplate="%{text}",
                                    colorscale="Blues", hovertemplate="%{y}, %{x}<br>%{text}<extra></extra>"))
        heat.update_layout(height=460, margin={"t": 20, "b": 20}, yaxis={"autorange": "reversed"})
        st.plotly_chart(heat, key="seg_rfm_heatmap")
        summary = segments.rfm_segment_summary(frame, rules)
        st.dataframe(shown(summary, ["rfm_segment", "rule", "customers", "customer_share", "revenue", "revenue_share"]),
                     hide_index=True, key="seg_rfm_table")
        with st.expander("Segment rules (editable)"):
            st.caption("Each segment is a range of R and F scores; rules are checked top to bottom and the first "
                       "match wins; cells no rule covers are 'Other'.")
            edited = st.data_editor(rfm.rules_frame(rules)[["segment", "r_min", "r_max", "f_min", "f_max", "meaning"]],
                                    hide_index=True, num_rows="dynamic", key="seg_rules_editor")
            apply_column, reset_column = st.columns(2)
            if apply_column.button("Apply rules", key="seg_rules_apply"):
                try:
                    st.session_state["seg_rules_applied"] = rfm.rules_from_frame(edited)
                    st.rerun()
                except UserFacingError as error:
                    st.error(str(error))
            if reset_column.button("Restore the customary rules", key="seg_rules_reset"):
                st.session_state["seg_rules_applied"] = None
                st.rerun()
        drill(frame, "rfm_segment", summary["rfm_segment"].tolist(), "seg_rfm_drill", "List the customers of segment")

# ---------------------------------------------------------------- 5. clusters
with tabs[4]:
    if tabs[4].open:
        st.subheader("Clusters (K-Means)")
        frame = classified_customers()
        k_options = ["automatic", *K_RANGE]
        st.selectbox(
            "Number of clusters", k_options, key="seg_k",
            format_func=lambda k: "Chosen by silhouette (2-8)" if k == "automatic" else str(k))
        result, reason = clusters_for_page()
        if result is None:
            st.info(reason)
        else:
            frame["cluster"] = result.labels
            how = (f"k = {result.k}, the best silhouette in 2-8 (measured on a sample)" if result.k_chosen_by_silhouette
                   else f"k = {result.k}, as set")
            st.caption(f"Standardised log of {', '.join(result.features)}; {how}; seed {DEFAULT_SEED}. Clusters are "
                       "numbered by total revenue; 'high'/'low' = centre more than half a standard deviation above or "
                       "below the average customer.")
            profiles = result.profiles.rename(columns={"description": "Description", "median_recency_days":
                                                       "Median days since last purchase", "median_purchase_days":
                                                       "Median purchase days"})
            st.dataframe(shown(profiles, ["cluster", "Description", "customers", "customer_share", "revenue",
                                          "revenue_share", "Median days since last purchase", "Median purchase days",
                                          "median_revenue"]).rename(columns={"median_revenue": "Median revenue"}),
                         hide_index=True, key="seg_cluster_table")
            if result.silhouettes:
                st.caption("Silhouette by k: "
                           + ", ".join(f"{k}: {score:.3f}" for k, score in result.silhouettes.items()))
            descriptions = dict(zip(result.profiles["cluster"], result.profiles["description"], strict=True))
            drill(frame, "cluster", result.profiles["cluster"].tolist(), "seg_cluster_drill",
                  "List the customers of cluster", format_func=lambda c: f"{c}: {descriptions[c]}")

# ---------------------------------------------------------------- 6. lifecycle
with tabs[5]:
    if tabs[5].open:
        st.subheader("Lifecycle ladder")
        st.caption("At the period's end: potential = lead never contacted; prospect = contacted (or registered as a "
                   "customer) without a purchase; buyer = one purchase day; loyal = two or more; advocate = loyal and "
                   "referred a customer or answered NPS 9-10. Conversion = reached this rung / reached the one before.")
        ladder, funnel, note = segments.lifecycle(db, filters, scope)
        st.caption(note)
        steps = [f"{format_value(value, 'count')}" + ("" if pd.isna(rate) else f" ({format_value(rate, 'share')} of "
                 "the rung before)") for value, rate in zip(funnel["reached"], funnel["conversion"], strict=True)]
        funnel_chart = go.Figure(go.Funnel(y=funnel["stage"], x=funnel["reached"], text=steps, textinfo="text",
                                           hovertemplate="%{y}: %{text}<extra></extra>"))
        funnel_chart.update_layout(height=340, margin={"t": 20, "b": 20})
        st.plotly_chart(funnel_chart, key="seg_funnel_chart")
        st.dataframe(shown(funnel, ["stage", "at_stage", "reached", "conversion"]).rename(
            columns={LABELS["stage"]: "Rung", "at_stage": "Currently here", "reached": "Reached",
                     "conversion": "Conversion"}),
            hide_index=True, key="seg_funnel_table")
        stages = [stage for stage in segments.LIFECYCLE_STAGES if (ladder["stage"] == stage).any()]
        st.caption("Open leads have no customer record, so the lists hold the known customers of each rung.")
        drill(ladder, "stage", stages, "seg_lifecycle_drill", "List the customers of rung",
              lister=lambda stage: segments.lifecycle_drill_down(ladder, classified_customers(), stage))

# ---------------------------------------------------------------- 7. migration
with tabs[6]:
    if tabs[6].open:
        st.subheader("Migration between two periods")
        previous = filters.previous()
        first_range = st.date_input("First period", value=(previous.start, previous.end), key="seg_mig_first")
        second_range = st.date_input("Second period", value=(filters.start, filters.end), key="seg_mig_second")
        view = st.radio("Segments", ["Value x margin grid", "RFM segments"], horizontal=True, key="seg_mig_view")
        if not (isinstance(first_range, tuple | list) and len(first_range) == 2
                and isinstance(second_range, tuple | list) and len(second_range) == 2):
            st.info("Pick a start and an end date for both periods.")
        else:
            try:
                first = segments.period_filters(filters, first_range[0], first_range[1])
                second = segments.period_filters(filters, second_range[0], second_range[1])
                moved = segments.migration(db, first, second, scope, threshold_input, rules)
            except UserFacingError as error:
                st.error(str(error))
                moved = None
            if moved is not None:
                movement = moved["movements"]
                metric_columns = st.columns(6)
                for column, key in zip(metric_columns,
                                       ("upgraded", "downgraded", "unchanged", "lateral", "new", "left"), strict=True):
                    column.metric(key.capitalize(), format_value(movement[key], "count"))
                st.caption("Grid cells rank AA > AB = BA > BB; lateral = AB <-> BA; new = bought only in the second "
                           "period; left = bought only in the first. Each period is classified on its own: the 80% "
                           "line and (unless a threshold is set above) the median margin are that period's.")
                matrix = moved["grid"] if view == "Value x margin grid" else moved["rfm"]
                links = segments.sankey_links(matrix)
                labels = [f"{row} (before)" for row in matrix.index] + [f"{col} (after)" for col in matrix.columns]
                sankey = go.Figure(go.Sankey(node={"label": labels, "pad": 12}, link=links))
                sankey.update_layout(height=480, margin={"t": 20, "b": 20})
                st.plotly_chart(sankey, key="seg_sankey")
                st.dataframe(matrix.reset_index(), hide_index=True, key="seg_migration_table")
                kind = "grid" if view == "Value x margin grid" else "rfm"
                pairs = [(source, target) for source in matrix.index for target in matrix.columns
                         if matrix.loc[source, target] > 0]
                drill(moved["customers"], kind, pairs, "seg_migration_drill", "List the customers who moved",
                      format_func=lambda pair: f"{pair[0]} → {pair[1]}",
                      lister=lambda pair: segments.migration_drill_down(moved["customers"], kind, *pair))
                download_csv(moved["customers"], "segment_migration.csv", "Download each customer's move",
                             key="seg_migration_csv")

# ---------------------------------------------------------------- 8. customer lists
with tabs[7]:
    if tabs[7].open:
        st.subheader("Customer lists")
        frame = classified_customers()
        groupings = {"grid_cell": "Value x margin cell", "rfm_segment": "RFM segment", "pyramid_tier": "Pyramid tier",
                     **segments.ATTRIBUTES, "cluster": "Cluster (k as set on the Clusters tab)"}
        grouping = st.selectbox("List customers by", list(groupings), key="seg_list_by", format_func=groupings.get)
        if grouping == "cluster":
            result, reason = clusters_for_page()
            if result is None:
                st.info(reason)
            else:
                frame["cluster"] = result.labels
        values = sorted(frame[grouping].dropna().unique().tolist(), key=str) if grouping in frame else []
        drill(frame, grouping, values, "seg_list_value", groupings[grouping])
        download_csv(segments.revenue_order(frame, segments.DRILL_COLUMNS), "customers_all_segments.csv",
                     "Download every customer with their segments", key="seg_list_all_csv")
