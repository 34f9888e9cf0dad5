"""Demo databases of a given size, built once into ``bench/work`` and reused.

A cached file is keyed by lines, customers and seed. The derived tables are
part of what is measured, so a cached file whose derived tables were built by
other model SQL than today's is brought up to date (a full rebuild) first.
"""

from __future__ import annotations

import hashlib
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from customer_value import db as dbmod
from customer_value.db import PROJECT_DIR

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_WORK_DIR = BENCH_DIR / "work"
LINES_PER_CUSTOMER = 20  # the reference shape: 10 million lines, 500,000 customers


def default_customers(lines: int) -> int:
    return max(50, lines // LINES_PER_CUSTOMER)


def models_fingerprint() -> str:
    """Hash of everything that decides the derived tables' content and shape."""
    digest = hashlib.sha256()
    sources = sorted((PROJECT_DIR / "queries" / "models").glob("*.sql"))
    sources.append(PROJECT_DIR / "customer_value" / "derive.py")
    for path in sources:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def demo_path(work_dir: Path, lines: int, customers: int, seed: int) -> Path:
    return work_dir / f"demo_{lines}l_{customers}c_s{seed}.duckdb"


def ensure_demo(work_dir: Path, lines: int, customers: int, seed: int, log=print) -> Path:
    """The cached demo database of this size, built (in a child process, to free its memory) if missing."""
    work_dir.mkdir(parents=True, exist_ok=True)
    path = demo_path(work_dir, lines, customers, seed)
    stamp = path.with_suffix(".models")
    if not path.exists():
        log(f"building the demo database {path.name} ({lines:,} lines, {customers:,} customers)...")
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "customer_value", "demo", "--db", str(path), "--customers", str(customers),
             "--lines", str(lines), "--seed", str(seed)],
            check=True, cwd=PROJECT_DIR, stdout=subprocess.DEVNULL,
        )
        # The high-water mark of this process's finished children: the build is the largest of them
        # unless an earlier child of the same run (a previous build) was larger.
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        build_record_path(path).write_text(json.dumps(
            {"seconds": round(time.perf_counter() - started, 1), "peak_rss_bytes": peak}))
        stamp.write_text(models_fingerprint())
    elif not stamp.exists() or stamp.read_text().strip() != models_fingerprint():
        log(f"derived-table SQL changed since {path.name} was built: rebuilding its derived tables...")
        rebuild_in_child(path)
        stamp.write_text(models_fingerprint())
    return path


def build_record_path(path: Path) -> Path:
    return path.with_suffix(".build.json")


def build_record(path: Path) -> dict | None:
    """How long the cached demo took to build and its peak memory, when this benchmark built it."""
    record = build_record_path(path)
    return json.loads(record.read_text()) if record.exists() else None


def rebuild_in_child(path: Path) -> None:
    code = (
        "import sys\n"
        "from customer_value import db as dbmod\n"
        "from customer_value.derive import rebuild_derived\n"
        "database = dbmod.connect(sys.argv[1])\n"
        "con = database.cursor()\n"
        "con.execute('begin transaction')\n"
        "rebuild_derived(con)\n"
        "dbmod.bump_data_version(con)\n"
        "con.execute('commit')\n"
        "dbmod.forget(sys.argv[1])\n"  # closing checkpoints the file
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, cwd=PROJECT_DIR)


def export_transactions_csv(db_path: Path, csv_path: Path) -> Path:
    """The demo's order lines as a plain CSV export (what a firm would upload), written once."""
    if csv_path.exists():
        return csv_path
    database = dbmod.connect(db_path)
    temporary = csv_path.with_suffix(".tmp.csv")
    # DuckDB draws a progress bar on standard output for long statements; that would break --json.
    database.cursor().execute("set enable_progress_bar = false")
    # The path is ours (bench/work), never user text.
    database.cursor().execute(
        "copy (select order_id, line_no, customer_id, order_date, amount, quantity, gross_profit, product, channel "
        "from transactions order by order_date, order_id, line_no) to '" + str(temporary) + "' (header, delimiter ',')"
    )
    temporary.rename(csv_path)
    return csv_path
