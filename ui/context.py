"""The per-run context app.py prepares for the page it runs: database, filters, user."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

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
    return st.session_state[_KEY]
