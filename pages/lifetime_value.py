"""Lifetime value and risk: CLV with its track record, churn early warning, unusual customers, what-if."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from customer_value import clv, risk, whatif
from customer_value.dataset import data_range
from customer_value.errors import UserFacingError
from customer_value.formatting import format_value
from ui.context import current
from ui.widgets import TABLE_ROWS_SHOWN, download_csv, empty_state, page_title

MONEY = "%,.0f"
# Below the axis title, so that the two never overlap.
LEGEND_BELOW = {"orientation": "h", "y": -0.28, "yanchor": "top"}

context = current()
page_title(context, "Lifetime value and risk")

filters = context.filters
span = data_range(context.db)
as_of = filters.as_of or span.end


def text_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Dates as text and missing text as blank, so a table never shows None or NaT."""
    shown = frame.copy()
    for column in shown.columns:
        values = shown[column]
        if not (pd.api.types.is_datetime64_any_dtype(values) or values.dtype == object):
            continue
        # Whole columns at once where their kind allows: cell by cell, 500,000 customers took seconds.
        kind = "datetime" if pd.api.types.is_datetime64_any_dtype(values) else pd.api.types.infer_dtype(
            values, skipna=True)
        if kind in ("datetime", "datetime64", "date"):
            shown[column] = pd.to_datetime(values).dt.strftime("%Y-%m-%d").fillna("").astype(object)
        elif kind in ("string", "empty"):
            shown[column] = values.where(values.notna(), "")
        else:
            shown[column] = [
                "" if value is None or (not isinstance(value, str) and pd.isna(value))
                else value.strftime("%Y-%m-%d") if hasattr(value, "strftime") else str(value)
                for value in values]
    return shown


st.caption(f"{filters.describe()}. The models use each customer's whole history up to the chosen day; the "
           "period's start does not matter here. Customer type, region and sales rep filters choose the customers.")

# Only the open tab computes: the early-warning model alone takes seconds on a cold cache.
tab_clv, tab_check, tab_warning, tab_unusual, tab_whatif = st.tabs(
    ["Lifetime value", "Model check", "Early warning", "Unusual customers", "What-if"], key="lv_tab",
    on_change="rerun")

# ---------------------------------------------------------------------------
with tab_clv:
    st.markdown("Expected purchases come from the **BG/NBD** model (how often a customer buys while alive, and the "
                "chance they are still a customer), spend per purchase from the **Gamma-Gamma** model, both fitted "
                "by maximum likelihood on this selection. Lifetime value = expected spend over the horizon, "
                "discounted monthly.")
    settings = st.columns(4)
    unit = settings[0].selectbox("Time unit of the fit", ["weeks", "days"], key="lv_unit",
                                 help="Changes the fitted alpha, not the predictions.")
    horizon = int(settings[1].number_input("Horizon (months)", min_value=1, max_value=120, value=12, step=1,
                                           key="lv_horizon"))
    discount = settings[2].number_input("Monthly discount rate (%)", min_value=0.0, max_value=10.0, value=1.0,
                                        step=0.1, key="lv_discount") / 100.0
    observation_end = settings[3].date_input("Observation end", value=min(filters.end, as_of),
                                             min_value=span.start, max_value=as_of, key="lv_end")
    if tab_clv.open:
        try:
            # Fits are kept by the package per data version, selection and settings (clv.clv_table).
            with st.spinner("Fitting the lifetime-value model..."):
                clv_rows, fit = clv.clv_table(context.db, filters, context.scope, unit=unit,
                                              observation_end=observation_end, horizon_months=horizon,
                                              monthly_discount_rate=discount)
        except UserFacingError as error:
            st.error(str(error))
            clv_rows, fit = None, None
        if fit is not None and not fit.trusted:
            # The reason opens with "The lifetime-value model cannot be trusted yet, because ...".
            st.warning(fit.reason)
            st.caption(f"{fit.n_customers:,} customers, {fit.n_repeat_buyers:,} repeat buyers by "
                       f"{fit.observation_end}.")
        elif fit is not None:
            figures = st.columns(4)
            figures[0].metric(f"Lifetime value, next {horizon} months", format_value(fit.totals["clv"], "money"),
                              help="Sum over the customers of expected spend over the horizon, discounted.")
            figures[1].metric("Expected purchases, next 365 days",
                              format_value(fit.totals["expected_purchases_365"], "count"),
                              help="Purchase days the BG/NBD model expects from these customers.")
            figures[2].metric("Customers expected alive", format_value(fit.totals["expected_alive_customers"], "count"),
                              help="Sum of each customer's probability of still being a customer.")
            figures[3].metric("Expected spend per purchase", format_value(fit.totals["mean_expected_spend"], "money"),
                              help="Each customer's expected spend per purchase (Gamma-Gamma, per customer type), "
                                   "averaged over the purchases expected in the next 365 days.")
            if fit.warnings:
                st.warning("**Read these figures with care.**\n\n"
                           + "\n".join(f"- {warning}" for warning in fit.warnings))
            bg = fit.bgnbd
            parameters = pd.DataFrame([
                {"model": "BG/NBD (purchases, everybody)",
                 "parameters": f"r = {bg.r:.4f}, alpha = {bg.alpha:.4f} ({unit}), a = {bg.a:.4f}, b = {bg.b:.4f}",
                 "customers": bg.n_customers, "iterations": bg.iterations},
                *({"model": f"Gamma-Gamma (spend, {row['spend_model']})",
                   "parameters": f"p = {row['p']:.4f}, q = {row['q']:.4f}, v = {row['v']:.4f}; mean spend per purchase "
                                 f"{format_value(row['mean_spend_per_purchase'], 'money')}",
                   "customers": row["repeat_buyers"], "iterations": row["iterations"]} for row in fit.spend_models),
            ])
            st.subheader("Fitted parameters")
            st.dataframe(parameters, hide_index=True, key="lv_parameters",
                         column_config={"model": "Model", "parameters": st.column_config.TextColumn(
                                            "Parameters", width="large"),
                                        "customers": "Customers fitted on", "iterations": "Iterations"})
            st.caption(f"Gamma-Gamma is fitted on repeat buyers only, per customer type where a type has at least "
                       f"{clv.MIN_REPEAT_BUYERS} of them; {fit.excluded_nonpositive:,} with zero or negative average "
                       "spend were left out of it.")

            st.subheader("Totals by group")
            levels = [level for level in clv.GROUP_LEVELS if level in clv_rows.columns]
            level = st.selectbox("Group by", levels, format_func=clv.GROUP_LEVELS.get, key="lv_group")
            groups = clv.clv_by_group(clv_rows, level)
            group_chart = go.Figure(go.Bar(x=groups[level], y=groups["clv"], marker_color="#3182bd",
                                           hovertemplate="%{x}: %{y:,.0f}<extra>Lifetime value</extra>"))
            group_chart.update_layout(height=320, margin={"t": 20, "b": 20}, yaxis_title="Lifetime value")
            st.plotly_chart(group_chart, key="lv_group_chart")
            st.dataframe(text_cells(groups), hide_index=True, key="lv_groups", column_config={
                level: clv.GROUP_LEVELS[level], "customers": "Customers",
                "share_customers": st.column_config.NumberColumn("Share of customers", format="percent"),
                "expected_purchases_365": st.column_config.NumberColumn("Expected purchases (365 days)",
                                                                        format="%,.0f"),
                "expected_alive": st.column_config.NumberColumn("Expected alive", format="%,.0f"),
                "clv": st.column_config.NumberColumn("Lifetime value", format=MONEY),
                "share_clv": st.column_config.NumberColumn("Share of value", format="percent"),
                "clv_per_customer": st.column_config.NumberColumn("Value per customer", format=MONEY)})

            st.subheader("Per customer")
            columns = ["customer_id", "name", "customer_type", "region", "sales_rep", "frequency", "recency", "T",
                       "monetary_value", "expected_purchases_30", "expected_purchases_90", "expected_purchases_365",
                       "probability_alive", "expected_spend", "spend_model", "clv"]
            columns = [column for column in columns if column in clv_rows.columns]
            if len(clv_rows) > TABLE_ROWS_SHOWN:
                st.caption(f"The {TABLE_ROWS_SHOWN:,} customers of highest lifetime value of {len(clv_rows):,}; "
                           "the CSV has them all.")
            st.dataframe(text_cells(clv_rows[columns].head(TABLE_ROWS_SHOWN)), hide_index=True, key="lv_customers",
                         column_config={
                "customer_id": "Customer", "name": "Name", "customer_type": "Type", "region": "Region",
                "sales_rep": "Sales rep", "frequency": "Repeat purchases", "recency": f"Recency ({unit})",
                "T": f"Age ({unit})",
                "monetary_value": st.column_config.NumberColumn("Mean repeat spend", format=MONEY),
                "expected_purchases_30": st.column_config.NumberColumn("Expected purchases 30 d", format="%.2f"),
                "expected_purchases_90": st.column_config.NumberColumn("Expected purchases 90 d", format="%.2f"),
                "expected_purchases_365": st.column_config.NumberColumn("Expected purchases 365 d", format="%.2f"),
                "probability_alive": st.column_config.NumberColumn("Probability alive", format="percent"),
                "expected_spend": st.column_config.NumberColumn("Expected spend per purchase", format=MONEY),
                "spend_model": "Spend model", "clv": st.column_config.NumberColumn("Lifetime value", format=MONEY)})
            download_csv(clv_rows[columns], "lifetime_value.csv", "Download the per-customer table (CSV)",
                         key="lv_download")

# ---------------------------------------------------------------------------
with tab_check:
    st.markdown("The purchase model is fitted on the history up to a cut date only, then asked how many purchases "
                "each customer would make after it; here is what they really did.")
    first_day = span.start
    default_cut = clv.default_cut_date(first_day, as_of)
    cut = st.date_input("Cut date (fit up to, check after)", value=default_cut, min_value=first_day,
                        max_value=as_of, key="lv_cut")
    if tab_check.open:
        try:
            with st.spinner("Checking the model on a hold-out..."):
                check_report = clv.holdout_report(context.db, filters, cut, context.scope, unit=unit,
                                                  observation_end=as_of, time_step="weeks")
        except UserFacingError as error:
            st.error(str(error))
            check_report = None
        if check_report is not None and check_report.check is None:
            st.warning(f"**The hold-out check cannot be made yet.** {check_report.reason}")
        elif check_report is not None:
            check = check_report.check
            figures = st.columns(4)
            figures[0].metric("Predicted purchases after the cut", format_value(check.total_predicted, "count"))
            figures[1].metric("Actual purchases after the cut", format_value(check.total_actual, "count"))
            figures[2].metric("Total error", format_value(check.total_error_share, "share"),
                              help="(Predicted - actual) / actual over every customer of the calibration period.")
            figures[3].metric("Mean absolute error per customer", format_value(check.mae, "ratio"),
                              help="Average over customers of |predicted - actual| purchases after the cut.")
            st.caption(f"Fitted on {check.n_customers:,} customers up to {check.calibration_end}; checked on "
                       f"{check.calibration_end} to {check.observation_end}.")
            if check.fit.caveat:
                st.warning(check.fit.caveat)
            left, right = st.columns(2)
            by_frequency = go.Figure([
                go.Bar(x=check.by_frequency["frequency_cal"], y=check.by_frequency["actual"], name="Actual",
                       marker_color="#9ecae1"),
                go.Bar(x=check.by_frequency["frequency_cal"], y=check.by_frequency["predicted"], name="Predicted",
                       marker_color="#08519c")])
            by_frequency.update_layout(height=380, barmode="group", margin={"t": 30, "b": 90},
                                       title="Purchases per customer after the cut",
                                       xaxis_title="Repeat purchases before the cut", legend=LEGEND_BELOW)
            left.plotly_chart(by_frequency, key="lv_check_frequency")
            over_time = go.Figure([
                go.Scatter(x=check.over_time["date"], y=check.over_time["actual_cumulative"], name="Actual",
                           mode="lines", line={"color": "#9ecae1", "width": 3}),
                go.Scatter(x=check.over_time["date"], y=check.over_time["predicted_cumulative"], name="Predicted",
                           mode="lines", line={"color": "#08519c", "dash": "dash"})])
            over_time.update_layout(height=380, margin={"t": 30, "b": 90}, title="Cumulative purchases after the cut",
                                    legend=LEGEND_BELOW)
            right.plotly_chart(over_time, key="lv_check_time")
            st.dataframe(check.by_frequency, hide_index=True, key="lv_check_table", column_config={
                "frequency_cal": "Repeat purchases before the cut", "customers": "Customers",
                "actual": st.column_config.NumberColumn("Actual purchases per customer", format="%.2f"),
                "predicted": st.column_config.NumberColumn("Predicted purchases per customer", format="%.2f")})

# ---------------------------------------------------------------------------
with tab_warning:
    if tab_warning.open:
        warning_result = risk.early_warning(context.db, filters, context.scope)
        st.markdown(
            f"Which active customers will be **lost within the next {filters.window_days} days** (no purchase for W "
            "days, or their contract ends)? The model learns from snapshots of the past and is judged on a later "
            "snapshot it never saw, next to a yardstick that knows only the days since the last purchase.")
        if not warning_result.trusted:
            st.warning("**The early-warning model cannot be trusted yet**, because "
                       + "; ".join(warning_result.problems) + ".")
        else:
            model_figures, baseline = warning_result.model_figures, warning_result.baseline_figures

            def gain(key: str) -> float | None:
                if model_figures.get(key) is None or baseline.get(key) is None:
                    return None
                return model_figures[key] - baseline[key]

            figures = st.columns(4)
            auc_gain = gain("roc_auc")
            figures[0].metric("ROC AUC", format_value(model_figures["roc_auc"], "ratio"),
                              delta=f"{auc_gain:+.3f} vs recency alone" if auc_gain is not None else None,
                              help="Chance that a customer who was lost is scored above one who stayed "
                                   "(0.5 = guessing).")
            precision_gain = gain("precision_top_decile")
            figures[1].metric("Precision in the top 10%", format_value(model_figures["precision_top_decile"], "share"),
                              delta=(f"{100 * precision_gain:+.1f} pts vs recency alone"
                                     if precision_gain is not None else None),
                              help="Share really lost among the 10% of customers scored highest.")
            figures[2].metric("Lift in the top 10%", format_value(model_figures["lift_top_decile"], "ratio"),
                              help="Precision in the top 10% divided by the share lost overall.")
            figures[3].metric("Lost in the check", format_value(model_figures["base_rate"], "share"),
                              help=f"Share of the {model_figures['customers']:,} customers active on "
                                   f"{warning_result.validation_cut} who were lost in the {filters.window_days} days "
                                   "after.")
            st.caption(
                f"Trained on customers active on {', '.join(str(c) for c in reversed(warning_result.training_cuts))} "
                f"({warning_result.training_rows:,} snapshots), each labelled by what happened in the following "
                f"{filters.window_days} days. Model family chosen on the {warning_result.selection_cut} snapshot: "
                + ", ".join(f"{name} AUC {format_value(value, 'ratio')}"
                            for name, value in warning_result.selection_auc.items())
                + f" → **{warning_result.chosen_model}**. Checked once on {warning_result.validation_cut}; today's "
                "scores come from the same model refitted with that snapshot too.")
            verdict = risk.baseline_verdict(model_figures, baseline)
            if verdict is not None:
                st.warning(f"**The model does not beat recency alone here.** {verdict}")
            comparison = pd.DataFrame([
                {"model": f"{warning_result.chosen_model} (all features)", **model_figures},
                {"model": "Recency alone (baseline)", **baseline}])[
                ["model", "roc_auc", "precision_top_decile", "lift_top_decile", "brier"]]
            st.dataframe(comparison, hide_index=True, key="ew_comparison", column_config={
                "model": "Model", "roc_auc": st.column_config.NumberColumn("ROC AUC", format="%.3f"),
                "precision_top_decile": st.column_config.NumberColumn("Precision, top 10%", format="percent"),
                "lift_top_decile": st.column_config.NumberColumn("Lift, top 10%", format="%.2f"),
                "brier": st.column_config.NumberColumn("Brier score (lower is better)", format="%.4f")})

            left, right = st.columns(2)
            lift_chart = go.Figure([
                go.Bar(x=warning_result.lift["decile"], y=warning_result.lift["lift"], name=warning_result.chosen_model,
                       marker_color="#08519c"),
                go.Bar(x=warning_result.lift["decile"], y=warning_result.lift["baseline_lift"], name="Recency alone",
                       marker_color="#bdbdbd")])
            lift_chart.add_hline(y=1.0, line_dash="dot", annotation_text="no better than chance")
            lift_chart.update_layout(height=390, barmode="group", margin={"t": 30, "b": 90}, title="Lift by decile",
                                     xaxis_title="Decile of predicted risk (1 = highest)", yaxis_title="Lift",
                                     legend=LEGEND_BELOW)
            left.plotly_chart(lift_chart, key="ew_lift")
            calibration = warning_result.calibration
            calibration_chart = go.Figure([
                go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="Perfect", line={"color": "#bdbdbd", "dash": "dot"}),
                go.Scatter(x=calibration["predicted"], y=calibration["observed"], mode="lines+markers",
                           name="Model", line={"color": "#08519c"}, text=calibration["customers"],
                           hovertemplate="predicted %{x:.0%}, observed %{y:.0%} (%{text} customers)<extra></extra>")])
            calibration_chart.update_layout(height=390, margin={"t": 30, "b": 90}, title="Calibration",
                                            xaxis_title="Predicted risk", yaxis_title="Share really lost",
                                            xaxis_tickformat=".0%", yaxis_tickformat=".0%", legend=LEGEND_BELOW)
            right.plotly_chart(calibration_chart, key="ew_calibration")

            st.subheader("At-risk customers")
            st.caption(f"Every customer active on {warning_result.as_of}, ranked by risk x value, where value = "
                       f"{warning_result.value_source}. Reasons: the features that raise this customer's risk most "
                       "against a typical customer.")
            guessed = int(warning_result.at_risk["value_basis"].str.startswith("one purchase").sum()) \
                if not warning_result.at_risk.empty else 0
            if guessed:
                st.info(f"{guessed:,} customers on the list have bought only once: their value is what an average "
                        "new customer of their type brings, not anything they have shown themselves (column "
                        "*Value based on*). Check them before ranking them above proven customers.")
            at_risk = warning_result.at_risk
            if warning_result.explained < len(at_risk):
                st.caption(f"Reasons are worked out for the first {warning_result.explained:,} customers of the list.")
            if at_risk.empty:
                empty_state("No customer is active today in this selection.", "Widen the filters in the sidebar.")
            else:
                if len(at_risk) > TABLE_ROWS_SHOWN:
                    st.caption(f"The first {TABLE_ROWS_SHOWN:,} of {len(at_risk):,} customers on the list; the CSV "
                               "has them all.")
                st.dataframe(text_cells(at_risk.head(TABLE_ROWS_SHOWN)), hide_index=True, key="ew_at_risk",
                             column_config={
                    "rank": "Rank", "customer_id": "Customer", "name": "Name", "customer_type": "Type",
                    "region": "Region", "sales_rep": "Sales rep", "last_purchase_date": "Last purchase",
                    "risk": st.column_config.NumberColumn("Risk", format="percent"),
                    "expected_value": st.column_config.NumberColumn("Expected value", format=MONEY),
                    "value_at_risk": st.column_config.NumberColumn("Risk x value", format=MONEY),
                    "value_basis": "Value based on",
                    "reasons": st.column_config.TextColumn("Top reasons", width="large")})
                download_csv(at_risk, "at_risk_customers.csv", "Download the at-risk list (CSV)", key="ew_download")
            with st.expander("What drives the score"):
                st.dataframe(warning_result.importance, hide_index=True, key="ew_importance", column_config={
                    "feature": "Feature", "description": "Meaning",
                    "mean_effect": st.column_config.NumberColumn("Average effect on risk", format="percent")})

# ---------------------------------------------------------------------------
with tab_unusual:
    if tab_unusual.open:
        unusual = risk.unusual_customers(context.db, filters, context.scope)
        st.markdown(f"Customers whose last {filters.window_days} days look unlike their own preceding year: spend, "
                    "orders, order size, the gap since the last purchase, margin and returns, compared by an isolation "
                    "forest. Sharp drops can be early churn; sudden surges or returns can be worth a look for fraud or "
                    "errors.")
        if not unusual.trusted:
            st.warning("**Unusual customers cannot be listed yet**, because " + "; ".join(unusual.problems) + ".")
        elif unusual.table.empty:
            empty_state(f"None of the {unusual.compared:,} customers compared stands out.")
        else:
            st.metric("Customers flagged", format_value(len(unusual.table), "count"),
                      help=f"The most unusual {risk.UNUSUAL_SHARE:.0%} of the {unusual.compared:,} customers who "
                           f"bought at least twice in the year before the last {filters.window_days} days.")
            shown = unusual.table[["customer_id", "name", "customer_type", "region", "sales_rep", "last_purchase_date",
                                   "what_changed", "revenue_recent", "revenue_earlier_year", "unusualness"]]
            st.dataframe(text_cells(shown), hide_index=True, key="uc_table", column_config={
                "customer_id": "Customer", "name": "Name", "customer_type": "Type", "region": "Region",
                "sales_rep": "Sales rep", "last_purchase_date": "Last purchase",
                "what_changed": st.column_config.TextColumn("What changed", width="large"),
                "revenue_recent": st.column_config.NumberColumn(f"Revenue, last {filters.window_days} days",
                                                                format=MONEY),
                "revenue_earlier_year": st.column_config.NumberColumn("Revenue, the year before", format=MONEY),
                "unusualness": st.column_config.NumberColumn("Unusualness", format="%.3f")})
            download_csv(unusual.table, "unusual_customers.csv", "Download the unusual customers (CSV)",
                         key="uc_download")

# ---------------------------------------------------------------------------
with tab_whatif:
    try:
        rates = whatif.current_rates(context.db, filters, context.scope)
    except UserFacingError as error:
        rates = None
        st.warning(str(error))
    if rates is not None:
        inputs = st.columns(2)
        # Rounded down so that the largest choice never exceeds today's churn.
        most_points = math.floor(1000 * rates.annual_churn_rate) / 10
        churn_points = inputs[0].number_input(
            "Annual churn falls by (points)", min_value=0.0, max_value=most_points,
            value=min(5.0, most_points), step=0.5, key="wi_churn",
            help=f"Today {rates.annual_churn_rate:.1%} of customers are lost over a year.")
        extra = inputs[1].number_input("More customers won a month", min_value=0, max_value=100_000, value=0, step=1,
                                       key="wi_extra", help=f"Today {rates.monthly_gains:,.1f} a month are won or "
                                                             "won back.")
        if tab_whatif.open:
            scenario = whatif.what_if(rates, float(churn_points), float(extra))
            table = scenario.comparison
            for horizon in whatif.HORIZONS:
                rows = table[table["months"] == horizon].set_index("figure")
                figures = st.columns(3)
                for column, figure, kind in zip(figures, ("Customers at the end", "Revenue", "Gross profit"),
                                                ("count", "money", "money"), strict=True):
                    if figure not in rows.index:
                        column.metric(f"{figure} after {horizon} months", format_value(None, kind),
                                      help="The data carry no cost, so profit is not known.")
                        continue
                    row = rows.loc[figure]
                    difference = row["difference"]
                    column.metric(f"{figure} after {horizon} months", format_value(row["scenario"], kind),
                                  delta=(None if pd.isna(difference)
                                         else f"{format_value(difference, kind)} vs today's rates"),
                                  help=f"At today's rates: {format_value(row['baseline'], kind)}.")
            path = go.Figure([
                go.Scatter(x=scenario.baseline["month"], y=scenario.baseline["customers"], name="Today's rates",
                           line={"color": "#bdbdbd"}),
                go.Scatter(x=scenario.scenario["month"], y=scenario.scenario["customers"], name="Scenario",
                           line={"color": "#08519c"})])
            path.update_layout(height=370, margin={"t": 30, "b": 90}, title="Active customers, month by month",
                               xaxis_title="Months from now", yaxis_title="Active customers",
                               legend=LEGEND_BELOW)
            st.plotly_chart(path, key="wi_chart")
            st.dataframe(table, hide_index=True, key="wi_table", column_config={
                "months": "Months", "figure": "Figure",
                "baseline": st.column_config.NumberColumn("Today's rates", format=MONEY),
                "scenario": st.column_config.NumberColumn("Scenario", format=MONEY),
                "difference": st.column_config.NumberColumn("Difference", format=MONEY),
                "change": st.column_config.NumberColumn("Change", format="percent")})
            st.markdown("**Assumptions**\n\n" + "\n".join(f"- {line}" for line in scenario.assumptions))
