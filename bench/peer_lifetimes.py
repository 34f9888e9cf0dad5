"""The peer side of the CLV benchmark, run with the ``lifetimes`` virtual environment's Python.

``python bench/peer_lifetimes.py LINES.parquet OBSERVATION_END OUT_DIR REPEAT`` times
``lifetimes.utils.summary_data_from_transaction_data`` on the lines (columns
customer_id, date, amount) and ``lifetimes.BetaGeoFitter`` on its result, writes
the summary to ``OUT_DIR/peer_summary.parquet`` and prints one JSON line. It
imports nothing from this project: that venv has only lifetimes and its
dependencies.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pandas as pd
from lifetimes import BetaGeoFitter
from lifetimes.utils import summary_data_from_transaction_data


def main(argv: list[str]) -> int:
    lines_path, observation_end, out_dir, repeat = Path(argv[0]), argv[1], Path(argv[2]), int(argv[3])
    lines = pd.read_parquet(lines_path)
    lines["date"] = pd.to_datetime(lines["date"])
    summary_seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        summary = summary_data_from_transaction_data(lines, "customer_id", "date", monetary_value_col="amount",
                                                     observation_period_end=observation_end, freq="D")
        summary_seconds.append(time.perf_counter() - started)
    summary.reset_index().to_parquet(out_dir / "peer_summary.parquet")
    fit_seconds = []
    fitter = None
    for _ in range(repeat):
        fitter = BetaGeoFitter(penalizer_coef=0.0)
        started = time.perf_counter()
        fitter.fit(summary["frequency"], summary["recency"], summary["T"])
        fit_seconds.append(time.perf_counter() - started)
    params = {name: float(fitter.params_[name]) for name in ("r", "alpha", "a", "b")}
    import lifetimes

    print(json.dumps({"summary_seconds": summary_seconds, "fit_seconds": fit_seconds, "params": params,
                      "customers": int(len(summary)), "lifetimes_version": lifetimes.__version__,
                      "pandas_version": pd.__version__}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
