"""CLV against ``lifetimes``: the summary table and the BG/NBD fit on the same lines.

``lifetimes`` is not a dependency of the dashboard. It lives in its own virtual
environment, ``bench/work/peers-venv`` (created on first use with pinned
versions it still runs on), and its side runs there as a child process over a
parquet file of the same order lines our side reads.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from bench.timing import Timing, measure
from customer_value import db as dbmod
from customer_value.db import PROJECT_DIR

# lifetimes 0.11.3 (its last release) predates pandas 2 and numpy 2; these are the newest that it runs on.
PEER_REQUIREMENTS = ["lifetimes==0.11.3", "pandas==1.5.3", "numpy==1.26.4", "scipy==1.11.4", "autograd==1.6.2",
                     "pyarrow==15.0.2"]
PEER_SCRIPT = Path(__file__).resolve().parent / "peer_lifetimes.py"
PARAMETER_TOLERANCE = 1e-3  # relative
SUMMARY_TOLERANCE = 1e-9  # relative, on floats computed in different orders


def peer_python(work_dir: Path, log=print) -> Path | None:
    """The peers venv's Python, creating the venv if needed; None (with a message) when it cannot be made."""
    venv = work_dir / "peers-venv"
    python = venv / "bin" / "python"
    if python.exists() and subprocess.run([str(python), "-c", "import lifetimes"], capture_output=True).returncode == 0:
        return python
    log(f"installing lifetimes into {venv} (benchmark only)...")
    made = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True)
    if made.returncode != 0:
        log(f"cannot create {venv}: {made.stderr.strip()[-300:]}")
        return None
    installed = subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_REQUIREMENTS],
                               capture_output=True, text=True)
    if installed.returncode != 0:
        log(f"cannot install lifetimes: {installed.stderr.strip()[-300:]}")
        return None
    return python


def clv_lines(db_path: Path, max_lines: int) -> pd.DataFrame:
    """Purchase lines (customer_id, date, amount) of the first customers by id, about ``max_lines`` of them."""
    cursor = dbmod.connect(db_path).cursor()
    purchases = ("from transactions where customer_id is not null and not is_cancellation and amount > 0")
    total = cursor.execute("select count(*) " + purchases).fetchone()[0]
    customers = cursor.execute("select count(*) from customer_dim").fetchone()[0]
    keep = max(1, int(customers * min(1.0, max_lines / max(total, 1))))
    return cursor.execute(
        "select customer_id, order_date as date, cast(amount as double) as amount " + purchases
        + " and customer_id in (select customer_id from customer_dim where customer_key <= $keep)"
        " order by customer_id, order_date", {"keep": keep},
    ).df()


def _relative_difference(ours: float, theirs: float) -> float:
    return abs(ours - theirs) / max(abs(theirs), 1e-300)


def compare_summaries(ours: pd.DataFrame, theirs: pd.DataFrame) -> tuple[bool, str]:
    columns = ["frequency", "recency", "T", "monetary_value"]
    left = ours.set_index("customer_id")[columns].sort_index()
    right = theirs.set_index("customer_id")[columns].sort_index()
    if len(left) != len(right) or not left.index.equals(right.index):
        return False, f"different customers: {len(left)} ours, {len(right)} lifetimes"
    worst = 0.0
    for column in columns:
        a, b = left[column].to_numpy(float), right[column].to_numpy(float)
        difference = np.abs(a - b) / np.maximum(np.abs(b), 1.0)
        worst = max(worst, float(difference.max(initial=0.0)))
    return worst <= SUMMARY_TOLERANCE, f"largest relative difference {worst:.2e} over {len(left):,} customers"


def run_clv(db_path: Path, work_dir: Path, max_lines: int, repeat: int, log=print) -> dict:
    from customer_value import clv_models

    python = peer_python(work_dir, log)
    if python is None:
        return {"status": "skipped", "reason": "lifetimes could not be installed into bench/work/peers-venv"}
    lines = clv_lines(db_path, max_lines)
    observation_end = pd.Timestamp(lines["date"].max()).date().isoformat()
    parquet = work_dir / "clv_lines.parquet"
    lines.to_parquet(parquet, index=False)

    summary_timing = measure(lambda: clv_models.summary_table(lines, observation_end), repeat)
    ours = clv_models.summary_table(lines, observation_end)
    fit_timing = measure(lambda: clv_models.fit_bgnbd(ours["frequency"], ours["recency"], ours["T"]), repeat)
    fit = clv_models.fit_bgnbd(ours["frequency"], ours["recency"], ours["T"])

    log(f"running lifetimes on {len(lines):,} lines (this is the slow side)...")
    completed = subprocess.run([str(python), str(PEER_SCRIPT), str(parquet), observation_end, str(work_dir),
                                str(repeat)], capture_output=True, text=True, cwd=PROJECT_DIR)
    if completed.returncode != 0:
        return {"status": "skipped", "reason": "lifetimes failed: " + completed.stderr.strip()[-300:]}
    peer = json.loads(completed.stdout.strip().splitlines()[-1])
    theirs = pd.read_parquet(work_dir / "peer_summary.parquet")
    identical, detail = compare_summaries(ours, theirs)
    peer_summary, peer_fit = Timing(tuple(peer["summary_seconds"])), Timing(tuple(peer["fit_seconds"]))
    ours_params = {"r": fit.r, "alpha": fit.alpha, "a": fit.a, "b": fit.b}
    differences = {name: _relative_difference(ours_params[name], peer["params"][name]) for name in ours_params}
    return {
        "status": "measured",
        "lines": len(lines),
        "customers": int(len(ours)),
        "peer": f"lifetimes {peer['lifetimes_version']} (pandas {peer['pandas_version']})",
        "summary": {"ours": summary_timing.as_dict(), "lifetimes": peer_summary.as_dict(),
                    "ratio": peer_summary.median / summary_timing.median, "identical": identical, "detail": detail},
        "bgnbd": {"ours": fit_timing.as_dict(), "lifetimes": peer_fit.as_dict(),
                  "ratio": peer_fit.median / fit_timing.median,
                  "params_ours": ours_params, "params_lifetimes": peer["params"],
                  "max_relative_difference": max(differences.values()),
                  "agree": max(differences.values()) <= PARAMETER_TOLERANCE},
    }
