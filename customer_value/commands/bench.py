"""``bench``: measure the dashboard at a given size and write BENCHMARKS.md (code in ``bench/``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from customer_value.cli import emit, positive_whole_number
from customer_value.db import PROJECT_DIR
from customer_value.errors import UserFacingError

PARTS = ("loader", "pages", "apptest", "clv", "risk")


def _parts(text: str) -> tuple[str, ...]:
    chosen = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [part for part in chosen if part not in PARTS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"choose among {','.join(PARTS)} (got {text!r})")
    return chosen


def register(subparsers, common) -> None:
    parser = subparsers.add_parser("bench", help="measure speed at N order lines and write BENCHMARKS.md")
    count = positive_whole_number()
    parser.add_argument("--lines", type=count, default=10_000_000, help="order lines of the demo (default 10M)")
    parser.add_argument("--customers", type=count, default=None, help="customers (default: lines / 20)")
    parser.add_argument("--repeat", type=count, default=5, help="repetitions of each measurement (default 5)")
    parser.add_argument("--seed", type=int, default=20_240_601)
    parser.add_argument("--only", type=_parts, default=PARTS, help=f"comma-separated parts: {','.join(PARTS)}")
    parser.add_argument("--work-dir", type=Path, default=PROJECT_DIR / "bench" / "work",
                        help="where demo databases and generated files are cached (default bench/work)")
    parser.add_argument("--output", type=Path, default=None,
                        help="Markdown report to write (default BENCHMARKS.md; BENCHMARKS-100M.md for 100M lines)")
    parser.add_argument("--json", action="store_true", help="print the full report as JSON")
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    # bench/ sits beside the package in the repository, not inside it; it is not shipped with the app.
    if str(PROJECT_DIR) not in sys.path:
        sys.path.insert(0, str(PROJECT_DIR))
    try:
        from bench import report as report_module
        from bench.runner import Options, default_output, run
    except ImportError as exc:
        raise UserFacingError(f"the benchmark code (bench/) is not available: {exc}") from None
    # Progress goes to standard error so that --json output stays parseable.
    output = args.output or default_output(args.lines)
    options = Options(lines=args.lines, customers=args.customers, repeat=args.repeat, seed=args.seed,
                      only=args.only, work_dir=args.work_dir, output=output,
                      log=lambda message: print(message, file=sys.stderr, flush=True))
    result = run(options)
    report_module.write(result, output)
    text = report_module.markdown(result) + f"\nWritten to {output}"
    emit(result, args, text)
    return 0
