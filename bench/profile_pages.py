"""Where a page's time goes: each SQL statement and each package call, for one filter change.

``python -m bench.profile_pages DB [--page NAME] [--change LABEL]`` runs every page's data
(as ``bench.pages`` does, cache cleared) and prints the slowest SQL statements, named by
their query file, so work on speed starts from a measurement rather than a guess.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from collections import defaultdict
from pathlib import Path

from bench.pages import BenchContext, filter_changes, page_runners
from bench.runner import _reset_results
from customer_value import db as dbmod
from customer_value.query import QUERY_DIR


def _query_names() -> dict[str, str]:
    """The text of every query file, mapped to its name, to name the statements executed."""
    names = {}
    for path in QUERY_DIR.rglob("*.sql"):
        names[path.read_text(encoding="utf-8").strip()[:400]] = str(path.relative_to(QUERY_DIR).with_suffix(""))
    return names


class _TimedCursor:
    def __init__(self, cursor, record) -> None:
        self._cursor = cursor
        self._record = record

    def execute(self, sql, *args, **kwargs):
        started = time.perf_counter()
        result = self._cursor.execute(sql, *args, **kwargs)
        self._record(sql, time.perf_counter() - started)
        return result

    def sql(self, query, **kwargs):
        return _TimedRelation(self._cursor.sql(query, **kwargs), query, self._record)

    def __getattr__(self, name):
        return getattr(self._cursor, name)


class _TimedRelation:
    """A relation whose fetch (where DuckDB runs it) is timed as its statement."""

    def __init__(self, relation, sql, record) -> None:
        self._relation = relation
        self._sql = sql
        self._record = record

    def to_arrow_table(self):
        started = time.perf_counter()
        result = self._relation.to_arrow_table()
        self._record(self._sql, time.perf_counter() - started)
        return result


def profile(db_path: Path, page: str | None, change: str | None, python_functions: int = 0) -> None:
    database = dbmod.connect(db_path)
    names = _query_names()
    timings: dict[str, list[float]] = defaultdict(list)

    def record(sql: str, seconds: float) -> None:
        text = sql.strip()
        if text.startswith("create or replace temp table "):
            text = text.split(" as ", 1)[1].strip()
        label = names.get(text[:400], text.splitlines()[0][:70])
        timings[label].append(seconds)

    original = database.cursor
    database.cursor = lambda: _TimedCursor(original(), record)  # type: ignore[method-assign]
    changes = dict(filter_changes(database))
    # "all" measures every change; any other text picks the changes whose label contains it.
    labels = ([label for label in changes if change == "all" or change in label] if change
              else list(changes)[:1])
    if not labels:
        raise SystemExit(f"no filter change matches {change!r}; the changes are: {', '.join(changes)}")
    for runner in page_runners():
        if runner.function is None or (page and runner.name != page):
            continue
        for label in labels:
            # Warm once, then measure one cold-cache run.
            runner.function(BenchContext(database, changes[label]))
            _reset_results(database)
            timings.clear()
            profiler = cProfile.Profile() if python_functions else None
            started = time.perf_counter()
            if profiler:
                profiler.enable()
            runner.function(BenchContext(database, changes[label]))
            if profiler:
                profiler.disable()
            total = time.perf_counter() - started
            sql_total = sum(sum(values) for values in timings.values())
            print(f"\n== {runner.name} [{label}]: {total:.3f} s, SQL {sql_total:.3f} s, "
                  f"other {total - sql_total:.3f} s")
            for name, values in sorted(timings.items(), key=lambda item: -sum(item[1]))[:15]:
                print(f"  {sum(values):7.3f} s  x{len(values):<3} {name}")
            if profiler:
                print(f"  -- the {python_functions} Python functions with the most time, callees included:")
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(python_functions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", type=Path)
    parser.add_argument("--page")
    parser.add_argument("--change", help="'all', or text that the change labels contain (default: the first)")
    parser.add_argument("--python", type=int, default=0, metavar="N",
                        help="also list the N Python functions with the most time (cProfile)")
    arguments = parser.parse_args()
    profile(arguments.db, arguments.page, arguments.change, arguments.python)


if __name__ == "__main__":
    main()
