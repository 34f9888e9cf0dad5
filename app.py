"""Entry point: ``streamlit run app.py``.

Opens the database (building the demo company on first run), decides who the
user is and what they may see, draws the shared filters in the sidebar, keeps
them in the link's query parameters, and runs the chosen page.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import streamlit as st

from customer_value import db as dbmod
from customer_value.access import local_user
from customer_value.cache import give_back_memory
from customer_value.dataset import data_range, filter_choices
from customer_value.demo import ensure_demo_database
from customer_value.errors import UserFacingError
from customer_value.filters import (
    DEFAULT_PERIOD,
    DEFAULT_WINDOW_DAYS,
    MAX_WINDOW_DAYS,
    MIN_WINDOW_DAYS,
    PERIOD_PRESETS,
    Filters,
    filters_from_query_params,
    filters_to_query_params,
    resolve_period,
)
from ui.context import PageContext, set_context

APP_DIR = Path(__file__).resolve().parent

st.set_page_config(page_title="Customer value", page_icon=":material/insights:", layout="wide")

# Pages in menu order: (file, title, icon, url path, permission needed). The url path is the file's
# name: a fresh server resolves a link's path against pages/ before st.navigation has run, and any
# other spelling opens the right page under a "Page not found" dialog.
PAGES = [
    ("pages/overview.py", "Overview", ":material/dashboard:", "overview", "view"),
    ("pages/segments.py", "Segments", ":material/grid_view:", "segments", "view"),
    ("pages/churn.py", "Churn and acquisition", ":material/group_remove:", "churn", "view"),
    ("pages/net_growth.py", "Net growth", ":material/trending_up:", "net_growth", "view"),
    ("pages/satisfaction.py", "Satisfaction", ":material/sentiment_satisfied:", "satisfaction", "view"),
    ("pages/team.py", "Team performance", ":material/badge:", "team", "view"),
    ("pages/lifetime_value.py", "Lifetime value and risk", ":material/savings:", "lifetime_value", "view"),
    ("pages/load_data.py", "Load data", ":material/upload_file:", "load_data", "load_data"),
]

FILTER_KEYS = {"period": "f_period", "range": "f_range", "type": "f_type", "region": "f_region",
               "rep": "f_rep", "w": "f_window"}


def open_database() -> dbmod.Database:
    path = Path(os.environ.get("CV_DB_PATH", dbmod.DEFAULT_DB_PATH))
    if not path.exists() and path.resolve() == Path(dbmod.DEFAULT_DB_PATH).resolve():
        with st.spinner("Building the demo company (first run only, about 10 seconds)..."):
            ensure_demo_database(path)
    return dbmod.connect(path)


def apply_link(database: dbmod.Database, span, choices, page_paths: list[str]) -> str | None:
    """On a session's first run, put the link's view into the widgets; returns the page it names."""
    if st.session_state.get("_link_applied"):
        return None
    st.session_state["_link_applied"] = True
    params = {key: st.query_params.get_all(key) for key in st.query_params}
    if not params:
        return None
    parsed = filters_from_query_params(params, as_of=span.end, data_start=span.start, choices=choices,
                                       pages=page_paths)
    st.session_state["_link_notices"] = parsed.notices
    chosen = parsed.filters
    st.session_state[FILTER_KEYS["period"]] = chosen.period
    st.session_state[FILTER_KEYS["range"]] = (chosen.start, chosen.end)
    st.session_state[FILTER_KEYS["type"]] = list(chosen.customer_types)
    st.session_state[FILTER_KEYS["region"]] = list(chosen.regions)
    st.session_state[FILTER_KEYS["rep"]] = list(chosen.sales_reps)
    st.session_state[FILTER_KEYS["w"]] = chosen.window_days
    return parsed.page


def sidebar_filters(span, choices) -> Filters:
    sidebar = st.sidebar
    sidebar.header("Filters")
    period = sidebar.selectbox("Period", list(PERIOD_PRESETS), format_func=PERIOD_PRESETS.get,
                               key=FILTER_KEYS["period"], index=list(PERIOD_PRESETS).index(DEFAULT_PERIOD),
                               help="Periods end on the data's last day, "
                                    f"{span.end:%Y-%m-%d}; the previous period has the same length.")
    if period == "custom":
        default_range = st.session_state.get(FILTER_KEYS["range"]) or resolve_period(DEFAULT_PERIOD, span.end,
                                                                                      span.start)
        earliest = date(span.start.year - 5, 1, 1)
        # A load or an undo moves the data's first and last day; a range picked before must still fit them.
        fitted = tuple(min(max(day, earliest), span.end) for day in default_range)
        if fitted != tuple(default_range) and FILTER_KEYS["range"] in st.session_state:
            # Dropped rather than overwritten, so the widget starts afresh from the fitted value.
            del st.session_state[FILTER_KEYS["range"]]
        default_range = fitted
        picked = sidebar.date_input("From - to", value=default_range, min_value=earliest,
                                    max_value=span.end, key=FILTER_KEYS["range"])
        if isinstance(picked, tuple | list) and len(picked) == 2:
            start, end = picked
        else:
            sidebar.caption("Pick an end date too; showing the last 12 months meanwhile.")
            start, end = resolve_period(DEFAULT_PERIOD, span.end, span.start)
    else:
        start, end = resolve_period(period, span.end, span.start)
    types = sidebar.multiselect("Customer type", choices["type"], key=FILTER_KEYS["type"], placeholder="All types")
    regions = sidebar.multiselect("Region", choices["region"], key=FILTER_KEYS["region"], placeholder="All regions")
    reps = sidebar.multiselect("Sales rep", choices["rep"], key=FILTER_KEYS["rep"], placeholder="All reps")
    window = sidebar.number_input("Churn window W (days)", min_value=MIN_WINDOW_DAYS, max_value=MAX_WINDOW_DAYS,
                                  value=DEFAULT_WINDOW_DAYS, step=30, key=FILTER_KEYS["w"],
                                  help="A customer is active while their last purchase is less than W days "
                                       "old (and no contract end has passed); every churn figure uses it.")
    sidebar.caption(f"Data from {span.start:%Y-%m-%d} to {span.end:%Y-%m-%d}.")
    return Filters(start=start, end=end, customer_types=tuple(types), regions=tuple(regions),
                   sales_reps=tuple(reps), window_days=int(window), period=period, as_of=span.end)


def main() -> None:
    user = local_user()
    try:
        database = open_database()
    except UserFacingError as exc:
        st.error(str(exc))
        st.stop()

    allowed = [page for page in PAGES if user.can(page[4]) and (APP_DIR / page[0]).exists()]
    st_pages = {path: st.Page(path, title=title, icon=icon, url_path=url, default=(url == "overview"))
                for path, title, icon, url, _ in allowed}
    url_paths = {url: path for path, _, _, url, _ in allowed}

    span = data_range(database)
    filters = None
    if span is not None:
        choices = filter_choices(database, user.scope)
        linked_page = apply_link(database, span, choices, list(url_paths))
        for notice in st.session_state.get("_link_notices", []):
            st.warning(notice, icon=":material/link_off:")
        filters = sidebar_filters(span, choices)
    else:
        linked_page = None
        st.sidebar.info("No transactions loaded yet.")

    navigation = st.navigation(list(st_pages.values()))
    if linked_page and linked_page != (navigation.url_path or "overview"):
        # Only after st.navigation: switching before it makes Streamlit run the page
        # file on its own, without this script's context (KeyError in the page).
        st.switch_page(st_pages[url_paths[linked_page]])
    if filters is not None:
        st.query_params.from_dict(filters_to_query_params(filters, navigation.url_path or "overview"))
    st.sidebar.caption(f"Signed in as {user.name} ({user.role}).")
    set_context(PageContext(db=database, filters=filters, user=user))
    try:
        navigation.run()
    finally:
        # Also when the page stops or reruns early: a large page's freed memory must not pile up between runs.
        give_back_memory()


main()
