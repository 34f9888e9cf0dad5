"""How figures read on screen and in the terminal; never NaN, never 'inf'."""

from __future__ import annotations

import math

NOT_DEFINED = "—"


def format_value(value: float | None, kind: str) -> str:
    if value is None or (isinstance(value, float) and (math.isnan(value) or math.isinf(value))):
        return NOT_DEFINED
    if kind == "count":
        return f"{int(round(value)):,}"
    if kind == "money":
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
    if kind == "share":
        return f"{100 * value:.1f}%"
    if kind == "ratio":
        return f"{value:.2f}"
    if kind == "points":
        return f"{value:+.1f}"
    return str(value)


def format_change(change: float | None, kind: str) -> str | None:
    """The delta shown under a figure: points for shares, plain for the rest."""
    if change is None or (isinstance(change, float) and (math.isnan(change) or math.isinf(change))):
        return None
    if kind == "share":
        return f"{100 * change:+.1f} pts"
    if kind == "count":
        return f"{int(round(change)):+,}"
    if kind == "money":
        return f"{change:+,.0f}"
    if kind == "ratio":
        return f"{change:+.2f}"
    if kind == "points":
        return f"{change:+.1f} pts"
    return str(change)


def neutralise_formula(cell: object) -> object:
    """Prefix text cells a spreadsheet would run as a formula (=, +, -, @) with a quote."""
    if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + cell
    return cell
