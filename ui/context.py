"""The per-run context app.py prepares for the page it runs: database, filters, user."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from customer_value.access import User
from customer_value.db import Database
from customer_value.filters import Filters, Scope

_KEY = "_page_context"


@dataclass(frozen=True)
class PageContext:
    db: Database
    filters: Filters | None  # None when no transactions are loaded yet
    user: User

    @property
    def scope(self) -> Scope:
        return self.user.scope


def set_context(context: PageContext) -> None:
    st.session_state[_KEY] = context


def current() -> PageContext:
    """The context of this run; pages call this first."""
    if _KEY not in st.session_state:
        _rerun_through_app()
    return st.session_state[_KEY]


def _rerun_through_app() -> None:
    """Run the whole app instead of a page file started on its own.

    Until app.py has called st.navigation once in the server process, Streamlit
    1.67 treats the pages/ folder the old way: a first visit to /team on a fresh
    server runs pages/team.py alone, without app.py's database, filters and
    user. Switching that off and rerunning makes app.py run and route to the
    page the address names.
    """
    PagesManager.uses_pages_directory = False
    st.rerun()
