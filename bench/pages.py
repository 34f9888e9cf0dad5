"""Each page's data, fetched the way the page fetches it, for timing after a filter change.

For every page listed in ``app.PAGES`` there is a function here that calls the
same package functions, with the same arguments, as ``pages/<name>.py`` does
on its first run (widgets at their defaults). A page whose file does not exist
yet is reported as "not built". A page that exists but has no function here
yet (a helper added it after this file was written) is replayed from its own
source: ``replay_page`` walks the page's statements and runs, in order, every
call into ``customer_value`` whose arguments it can evaluate, binding widgets
to their default values; calls it cannot evaluate are counted and reported.
A page section written as a function ``show_<name>()`` without parameters
(the body of a tab that computes only when open) is replayed where it is
defined, so a replayed page's data covers every tab.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from customer_value.access import User
from customer_value.dataset import filter_choices, make_filters
from customer_value.db import PROJECT_DIR, Database
from customer_value.filters import Filters, Scope

PAGES_DIR = PROJECT_DIR / "pages"


@dataclass(frozen=True)
class BenchContext:
    """What ``ui.context.current()`` gives a page, without Streamlit."""

    db: Database
    filters: Filters
    user: User = field(default_factory=lambda: User(name="benchmark"))

    @property
    def scope(self) -> Scope:
        return self.user.scope


# ---------------------------------------------------------------- filter changes


def filter_changes(db: Database) -> list[tuple[str, Filters]]:
    """Realistic filter changes: period presets, one region, one customer type, W = 60/90/180."""
    changes = [(f"period={preset}", make_filters(db, period=preset))
               for preset in ("last_12_months", "year_to_date", "last_full_year", "all_time")]
    choices = filter_choices(db)
    base = make_filters(db)
    if choices["region"]:
        changes.append((f"region={choices['region'][0]}", replace(base, regions=(choices["region"][0],))))
    if choices["type"]:
        changes.append((f"type={choices['type'][0]}", replace(base, customer_types=(choices["type"][0],))))
    for window in (60, 90, 180):
        changes.append((f"W={window}", replace(base, window_days=window)))
    return changes


# ---------------------------------------------------------------- pages written out


def overview_data(context: BenchContext) -> None:
    from customer_value.metrics import monthly_trend, overview_kpis

    overview_kpis(context.db, context.filters, context.scope)
    monthly_trend(context.db, context.filters, context.scope)


def team_first_view(context: BenchContext) -> Any:
    """What a filter change recomputes on the team page before a rep is chosen: the region and rep tables."""
    from customer_value import team

    team.team_table(context.db, context.filters, "region", context.scope)
    return team.team_table(context.db, context.filters, "sales_rep", context.scope)


def team_data(context: BenchContext) -> None:
    from customer_value import team

    reps = team_first_view(context)
    # The page lists one rep's customers once a rep is chosen (and keeps the choice through filter changes);
    # the first rep stands for that click.
    if not reps.empty:
        team.rep_customers(context.db, context.filters, reps["sales_rep"].iloc[0], context.scope)


def satisfaction_first_tab(context: BenchContext) -> list[str]:
    """What a filter change recomputes while the page shows its first tab (the others compute when opened):
    the headline and the monthly scores. Returns the surveys answered."""
    from customer_value import satisfaction as sat

    db, filters, scope = context.db, context.filters, context.scope
    summary = sat.headline(db, filters, scope)
    survey_names = [name for name in summary if name != "all"]
    for survey in survey_names:
        sat.monthly_scores(db, filters, survey, scope)
    return survey_names


def satisfaction_data(context: BenchContext) -> None:
    from customer_value import satisfaction as sat

    db, filters, scope = context.db, context.filters, context.scope
    survey_names = satisfaction_first_tab(context)
    sat.segment_table(db, filters, next(iter(sat.SEGMENT_DIMENSIONS)), survey_names[0] if survey_names else "all",
                      scope, int(sat.DEFAULT_MIN_ANSWERS))
    latest = sat.latest_answers(db, filters, scope)
    sat.churn_gap(sat.band_churn_table(latest))
    sat.follow_up_list(latest)
    sat.open_complaints(sat.complaints(db, filters, scope))
    sat.complaints_by(db, filters, "month", scope)
    sat.complaints_by(db, filters, "sales_rep", scope)
    comment_rows = sat.comments(db, filters, scope)
    sat.filter_comments(comment_rows, "", [], [])
    sat.detractor_terms(comment_rows)


# Pages whose tabs compute only when open: what the first tab alone needs, reported beside the whole page.
def segments_first_tab(context: BenchContext) -> None:
    """What a filter change recomputes while the segments page shows its first tab, the value x margin grid:
    the headline figures and the grid (grid_overview). The other tabs, and the list of a cell's customers
    once one is chosen, classify every customer (segment_frame) when opened."""
    from customer_value import segments

    segments.grid_overview(context.db, context.filters, context.scope)


def segments_cell_listed(context: BenchContext) -> None:
    """The first tab with a cell's customers listed (the choice stays through filter changes): the grid, then
    the first cell's list (grid_cell_customers, which names only that cell's customers)."""
    from customer_value import segments

    overview = segments.grid_overview(context.db, context.filters, context.scope)
    if overview.customers:
        segments.grid_cell_customers(context.db, context.filters, context.scope, overview.grid["grid_cell"].iloc[0])


def churn_first_tab(context: BenchContext) -> None:
    """What a filter change recomputes while the churn page shows its first tab, movements and ratios: the
    monthly movements (headline and tab), the churn rule and the data range the early-history caveat reads."""
    from customer_value import movements
    from customer_value.dataset import data_range

    monthly = movements.monthly_movements(context.db, context.filters, context.scope)
    movements.movement_totals(monthly)
    movements.churn_rule(context.db, context.filters, context.scope, monthly)
    movements.early_history_caveat(data_range(context.db).start, context.filters)
    movements.identity_failures(monthly)


def lifetime_value_first_tab(context: BenchContext) -> None:
    """What a filter change recomputes while the lifetime value page shows its first tab: the BG/NBD and
    Gamma-Gamma fit with the page's default settings (clv_table's own: weeks, 12 months, 1% a month; observation
    end at the period's end or the data's last day) and the table grouped by the first level the page offers."""
    from customer_value import clv
    from customer_value.dataset import data_range

    as_of = context.filters.as_of or data_range(context.db).end
    rows, fit = clv.clv_table(context.db, context.filters, context.scope,
                              observation_end=min(context.filters.end, as_of))
    if fit.trusted:
        clv.clv_by_group(rows, next(level for level in clv.GROUP_LEVELS if level in rows.columns))


# Views of a page smaller than the whole, reported beside it: (label, function) per page.
PARTIAL_VIEWS: dict[str, list[tuple[str, Callable[[BenchContext], Any]]]] = {
    "satisfaction": [("first tab", satisfaction_first_tab)],
    "segments": [("first tab", segments_first_tab), ("first tab, a cell listed", segments_cell_listed)],
    "churn": [("first tab", churn_first_tab)],
    "lifetime_value": [("first tab", lifetime_value_first_tab)],
    "team": [("first view", team_first_view)],
}
_PARTIAL_METHODS = {"first tab": "written out, the tab open after a filter change",
                    "first tab, a cell listed": "written out, the first tab after a filter change with a cell chosen",
                    "first view": "written out, the page after a filter change before any list is chosen"}
# Pages whose data calls are written out above; any other page is replayed from its source.
PAGE_FUNCTIONS: dict[str, Callable[[BenchContext], None]] = {
    "overview": overview_data,
    "team": team_data,
    "satisfaction": satisfaction_data,
}


def page_files() -> list[tuple[str, Path]]:
    """Every page the app lists (app.PAGES order), as (name, file)."""
    source = (PROJECT_DIR / "app.py").read_text(encoding="utf-8")
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("pages/") \
                and node.value.endswith(".py"):
            names.append(node.value)
    ordered = list(dict.fromkeys(names))
    return [(Path(name).stem, PROJECT_DIR / name) for name in ordered]


@dataclass
class PageRunner:
    name: str
    path: Path
    method: str  # "written out, ..." | "replayed from page source" | "not built"
    function: Callable[[BenchContext], Any] | None


def page_runners() -> list[PageRunner]:
    runners = []
    for name, path in page_files():
        if not path.exists():
            runners.append(PageRunner(name, path, "not built", None))
            continue
        if name in PAGE_FUNCTIONS:
            runners.append(PageRunner(name, path, "written out, every tab", PAGE_FUNCTIONS[name]))
        else:
            runners.append(PageRunner(name, path, "replayed from page source, every tab",
                                      lambda context, path=path: replay_page(path, context)))
        for label, function in PARTIAL_VIEWS.get(name, []):
            runners.append(PageRunner(f"{name} ({label})", path, _PARTIAL_METHODS[label], function))
    return runners


# ---------------------------------------------------------------- replay from source

_WIDGET_DEFAULTS = {
    # widget method: (keyword holding its default, fallback)
    "number_input": ("value", None), "slider": ("value", None), "select_slider": ("value", None),
    "text_input": ("value", ""), "text_area": ("value", ""), "checkbox": ("value", False),
    "toggle": ("value", False), "multiselect": ("default", []), "date_input": ("value", None),
    "segmented_control": ("default", None), "pills": ("default", None),
}
_CHOICE_WIDGETS = {"selectbox", "radio"}
# Libraries a page may use on data between package calls (never streamlit or plotly: those draw).
_PLAIN_MODULES = {"pandas", "numpy", "datetime", "math"}


class _Stop(Exception):
    """The page would call st.stop() here."""


@dataclass
class ReplayResult:
    calls: int = 0
    skipped: list[str] = field(default_factory=list)


# A page function named show_...() without parameters draws one section (a tab's body); replay runs it in place.
SECTION_PREFIX = "show_"


class _Replayer:
    def __init__(self, path: Path, context: BenchContext) -> None:
        self.source = path.read_text(encoding="utf-8")
        self.result = ReplayResult()
        self.env: dict[str, Any] = {"context": context, "__builtins__": __builtins__}
        self.package_names: set[str] = set()

    # Names bound to customer_value modules or functions by the page's imports.
    def imports(self, tree: ast.Module) -> None:
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("customer_value"):
                for alias in node.names:
                    module = importlib.import_module(node.module)
                    value = getattr(module, alias.name, None)
                    if value is None:
                        value = importlib.import_module(f"{node.module}.{alias.name}")
                    self.env[alias.asname or alias.name] = value
                    self.package_names.add(alias.asname or alias.name)
            elif isinstance(node, ast.ImportFrom) and node.module in _PLAIN_MODULES:
                module = importlib.import_module(node.module)
                for alias in node.names:
                    self.env[alias.asname or alias.name] = getattr(module, alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in _PLAIN_MODULES:
                        self.env[alias.asname or alias.name] = importlib.import_module(alias.name)
                    elif alias.name.startswith("customer_value"):
                        bound = alias.asname or alias.name.split(".")[0]
                        self.env[bound] = importlib.import_module(alias.asname and alias.name or bound)
                        self.package_names.add(bound)

    def is_package_call(self, node: ast.AST) -> bool:
        if not isinstance(node, ast.Call):
            return False
        root = node.func
        while isinstance(root, ast.Attribute):
            root = root.value
        return isinstance(root, ast.Name) and root.id in self.package_names

    def evaluate(self, node: ast.expr) -> Any:
        return eval(compile(ast.Expression(node), "<page>", "eval"), self.env)  # noqa: S307 - our own page files

    def widget_default(self, call: ast.Call) -> tuple[bool, Any]:
        if not isinstance(call.func, ast.Attribute):
            return False, None
        method = call.func.attr
        keywords = {keyword.arg: keyword.value for keyword in call.keywords if keyword.arg}
        if method in _CHOICE_WIDGETS:
            options_node = call.args[1] if len(call.args) > 1 else keywords.get("options")
            options = list(self.evaluate(options_node)) if options_node is not None else []
            index = self.evaluate(keywords["index"]) if "index" in keywords else 0
            return True, (options[index] if options and index is not None else None)
        if method in _WIDGET_DEFAULTS:
            keyword, fallback = _WIDGET_DEFAULTS[method]
            if keyword in keywords:
                return True, self.evaluate(keywords[keyword])
            if "min_value" in keywords:
                return True, self.evaluate(keywords["min_value"])
            return True, fallback
        return False, None

    def with_widget_defaults(self, value: ast.expr) -> ast.expr:
        """``value`` with every widget call inside it replaced by the widget's default.

        Pages convert or scale a widget's value where they read it (``int(column.number_input(...))``,
        ``number_input(...) / 100``); without this the name stays unbound and every package call using it
        (the lifetime-value fit) would go untimed.
        """
        replayer = self

        class Substitute(ast.NodeTransformer):
            def visit_Call(self, node: ast.Call) -> ast.AST:
                try:
                    is_widget, default = replayer.widget_default(node)
                except Exception:  # noqa: BLE001 - options we cannot rebuild: leave the call as it is
                    is_widget, default = False, None
                if not is_widget:
                    return self.generic_visit(node)
                name = f"__widget_{len(replayer.env)}"
                replayer.env[name] = default
                return ast.copy_location(ast.Name(id=name, ctx=ast.Load()), node)

        return ast.fix_missing_locations(Substitute().visit(copy.deepcopy(value)))

    def run_package_calls(self, node: ast.AST) -> None:
        for child in ast.walk(node):
            if self.is_package_call(child):
                self.call(child)

    def call(self, node: ast.Call) -> Any:
        try:
            value = self.evaluate(node)
        except NameError as exc:
            self.result.skipped.append(f"line {node.lineno}: {exc}")
            raise
        self.result.calls += 1
        return value

    def statements(self, body: list[ast.stmt]) -> None:
        for statement in body:
            self.statement(statement)

    def statement(self, node: ast.stmt) -> None:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            func = node.value.func
            if isinstance(func, ast.Attribute) and func.attr == "stop":
                raise _Stop
            self.try_package_calls(node)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            self.assign(node.targets[0].id, node.value)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Tuple) \
                and all(isinstance(element, ast.Name) for element in node.targets[0].elts):
            self.assign("__tuple__", node.value)
            if "__tuple__" in self.env:
                try:
                    values = list(self.env.pop("__tuple__"))
                except TypeError:
                    return
                for element, value in zip(node.targets[0].elts, values, strict=False):
                    self.env[element.id] = value
        elif isinstance(node, ast.If):
            try:
                taken = bool(self.evaluate(node.test))
            except Exception:  # noqa: BLE001 - a condition on a widget or chart: follow the main branch
                taken = True
            self.statements(node.body if taken else node.orelse)
        elif isinstance(node, ast.With | ast.Try):
            self.statements(node.body)
        elif isinstance(node, ast.For) and isinstance(node.target, ast.Name):
            try:
                items = list(self.evaluate(node.iter))
            except Exception:  # noqa: BLE001 - a loop over something we cannot rebuild: skip it
                self.try_package_calls(node)
                return
            for item in items:
                self.env[node.target.id] = item
                self.statements(node.body)
        elif isinstance(node, ast.FunctionDef) and node.name.startswith(SECTION_PREFIX) and not (
                node.args.args or node.args.kwonlyargs or node.args.vararg or node.args.kwarg):
            # A page section (one tab's body, shown only when its tab is open): every tab is replayed.
            self.statements(node.body)
        elif not isinstance(node, ast.FunctionDef | ast.ClassDef | ast.Import | ast.ImportFrom):
            self.try_package_calls(node)

    def try_package_calls(self, node: ast.AST) -> None:
        for child in ast.walk(node):
            if self.is_package_call(child):
                try:
                    self.call(child)
                except NameError:
                    continue

    def assign(self, name: str, value: ast.expr) -> None:
        if isinstance(value, ast.Call):
            try:
                is_widget, default = self.widget_default(value)
            except Exception:  # noqa: BLE001 - options we cannot rebuild: leave the name unbound
                return
            if is_widget:
                self.env[name] = default
                return
        value = self.with_widget_defaults(value)
        if self.is_package_call(value):
            with contextlib.suppress(NameError):
                self.env[name] = self.call(value)
            return
        if _is_session_state_read(value):
            # A fresh session has nothing stored yet.
            self.env[name] = None
            return
        uses_streamlit = any(isinstance(child, ast.Name) and child.id == "st" for child in ast.walk(value))
        if uses_streamlit:
            self.try_package_calls(value)
            return
        try:
            self.env[name] = self.evaluate(value)
        except Exception:  # noqa: BLE001 - page-local helpers and widgets: the data calls are what we time
            self.try_package_calls(value)

    def run(self) -> ReplayResult:
        tree = ast.parse(self.source)
        self.imports(tree)
        self.env["current"] = lambda: self.env["context"]
        try:
            with contextlib.suppress(_Stop):
                self.statements([node for node in tree.body if not isinstance(node, ast.Import | ast.ImportFrom)])
        finally:
            # The page's names (frames of every customer) and `current` refer to each other; without this
            # they wait for a full garbage collection, and piled up to gigabytes across samples at 100M lines.
            self.env.clear()
        return self.result


def _is_session_state_read(node: ast.expr) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
            and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "session_state")


def replay_page(path: Path, context: BenchContext) -> ReplayResult:
    """Run the package calls of ``path`` in page order (see the module docstring)."""
    return _Replayer(path, context).run()
