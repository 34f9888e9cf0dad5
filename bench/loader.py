"""The real loader against DuckDB's bare CSV read of the same file, each in a fresh child process.

Each measurement runs in its own process so that its peak memory (``VmHWM``,
the high-water mark of resident memory) is the loader's alone, and loads into
a new, empty database file so that every run does the same work.

Run as ``python -m bench.loader loader|bare CSV DB`` it performs one
measurement and prints one JSON line: seconds, peak_rss_bytes and rows.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from customer_value.db import PROJECT_DIR


def peak_rss_bytes() -> int:
    """This process's resident-memory high-water mark (Linux /proc; getrusage elsewhere)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# Where the loader's progress fractions start each stage reported (see customer_value.loader.loading).
STAGES = (("reading the file", 0.0), ("checking every value", 0.4), ("finding repeats", 0.6),
          ("writing the rows", 0.7), ("derived tables", 0.8))


def stage_seconds(marks: list[tuple[float, float]], finished: float) -> dict[str, float]:
    """Seconds per stage from ``(fraction, seconds since start)`` progress marks and the end time.

    A stage starts at the first mark at or past its fraction; a stage the load
    never reached (nothing loaded: no derived tables) takes 0 s.
    """
    starts = []
    for _, fraction in STAGES:
        reached = [seconds for mark_fraction, seconds in marks if mark_fraction >= fraction]
        starts.append(min(reached) if reached else finished)
    ends = starts[1:] + [finished]
    return {name: max(0.0, end - start) for (name, _), start, end in zip(STAGES, starts, ends, strict=True)}


def _load_with_loader(csv_path: Path, db_path: Path) -> tuple[int, dict[str, float]]:
    import pandas as pd

    from customer_value import db as dbmod
    from customer_value.access import local_user
    from customer_value.loader import load_file
    from customer_value.loader.mapping import suggest_mapping

    database = dbmod.connect(db_path)
    columns = list(pd.read_csv(csv_path, nrows=0).columns)
    mapping = suggest_mapping(columns, "transactions")
    # The benchmark times the loader on the whole file; the upload limit is a browser setting, not measured here.
    started = time.perf_counter()
    marks: list[tuple[float, float]] = []
    load_file(database, csv_path, "transactions", mapping, None, local_user().name,
              max_file_bytes=csv_path.stat().st_size + 1,
              progress=lambda fraction, message: marks.append((fraction, time.perf_counter() - started)))
    stages = stage_seconds(marks, time.perf_counter() - started)
    return database.cursor().execute("select count(*) from transactions").fetchone()[0], stages


def _load_bare(csv_path: Path, db_path: Path) -> tuple[int, dict[str, float]]:
    import duckdb

    con = duckdb.connect(str(db_path))
    con.execute("create table transactions as select * from read_csv($path)", {"path": str(csv_path)})
    return con.execute("select count(*) from transactions").fetchone()[0], {}


def child_main(argv: list[str]) -> int:
    how, csv_path, db_path = argv[0], Path(argv[1]), Path(argv[2])
    started = time.perf_counter()
    rows, stages = (_load_with_loader if how == "loader" else _load_bare)(csv_path, db_path)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_rss_bytes": peak_rss_bytes(), "rows": rows, "stages": stages}))
    return 0


def measure_once(how: str, csv_path: Path, work_dir: Path) -> dict:
    db_path = work_dir / f"load_{how}.duckdb"
    for leftover in (db_path, db_path.with_suffix(".duckdb.wal")):
        leftover.unlink(missing_ok=True)
    try:
        completed = subprocess.run([sys.executable, "-m", "bench.loader", how, str(csv_path), str(db_path)],
                                   cwd=PROJECT_DIR, capture_output=True, text=True)
    finally:
        for leftover in (db_path, db_path.with_suffix(".duckdb.wal")):
            leftover.unlink(missing_ok=True)
    if completed.returncode != 0:
        lines = [line for line in completed.stderr.strip().splitlines() if line.strip()]
        raise RuntimeError(lines[-1] if lines else f"exit code {completed.returncode}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    raise SystemExit(child_main(sys.argv[1:]))
