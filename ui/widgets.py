"""Drawing helpers: headline figures, empty states, safe CSV downloads."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from customer_value.formatting import format_change, format_value, neutralise_formula
from customer_value.metrics import Kpi

# A long list is drawn up to this many rows (in its ranking) and downloaded whole: sending 500,000 rows to the
# browser took over a second of every page run and no reader scrolls that far.
TABLE_ROWS_SHOWN = 1_000


def kpi_metric(kpi: Kpi, container=None) -> None:
    """One figure with its change against the previous period and its definition as help."""
    target = container or st
    delta = format_change(kpi.change, kpi.kind)
    help_text = kpi.help
    if kpi.value is None:
        help_text += " Not defined for this selection (nothing to divide by)."
    target.metric(
        kpi.label,
        format_value(kpi.value, kpi.kind),
        delta=delta,
        delta_color="normal" if kpi.higher_is_better else "inverse",
        help=help_text + f" Previous period: {format_value(kpi.previous, kpi.kind)}.",
    )


def kpi_row(kpis: list[Kpi], per_row: int = 4) -> None:
    for offset in range(0, len(kpis), per_row):
        columns = st.columns(per_row)
        for column, kpi in zip(columns, kpis[offset:offset + per_row], strict=False):
            kpi_metric(kpi, column)


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """CSV with spreadsheet formulas neutralised in every text cell."""
    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(neutralise_formula)
    return safe.to_csv(index=False).encode("utf-8")


def download_csv(frame: pd.DataFrame, file_name: str, label: str = "Download CSV", key: str | None = None) -> None:
    # The CSV is written only when the button is clicked: written on every rerun, the lifetime-value
    # table of 500,000 customers took 8 of the page's 11 seconds.
    st.download_button(label, data=lambda: csv_bytes(frame), file_name=file_name, mime="text/csv", key=key)


def empty_state(message: str, hint: str | None = None) -> None:
    st.info(message + (f"\n\n{hint}" if hint else ""))


def page_title(context, title: str) -> None:
    """The page's title; with nothing loaded yet, says how to get data and stops the page there."""
    st.title(title)
    if context.filters is None:
        empty_state("No transactions are loaded yet.",
                    "Open **Load data** to upload an export, or run `python -m customer_value demo` for the demo "
                    "company.")
        st.stop()


def comparison_caption(filters) -> None:
    """The period shown and the previous period its changes compare with."""
    previous = filters.previous()
    st.caption(f"{filters.describe()}. Changes compare with {previous.start:%Y-%m-%d} to {previous.end:%Y-%m-%d}.")


def keep_widget_values(*keys: str) -> None:
    """Keep these widgets' values while they are not drawn (their tab is closed).

    Streamlit forgets a widget's value on any run that does not draw it, and a
    page whose tabs compute only when open draws the widgets of one tab. Set
    back at the top of the page, the value becomes plain session state, which
    survives until the widget is drawn again (Streamlit's documented way to
    keep widget state across pages). A widget kept this way must take its
    starting value from session state, not from ``value=``.
    """
    for key in keys:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]
