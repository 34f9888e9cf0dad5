"""``demo``: build a demo company database of any size."""

from __future__ import annotations

import time
from pathlib import Path

from customer_value.cli import emit, positive_whole_number
from customer_value.db import DEFAULT_DB_PATH
from customer_value.demo import DEFAULT_CUSTOMERS, DEFAULT_SEED, DEFAULT_YEARS, DemoSpec, build_demo_database
from customer_value.errors import UserFacingError


def register(subparsers, common) -> None:
    parser = subparsers.add_parser("demo", help="build a deterministic demo company database")
    parser.add_argument("--db", type=Path, default=DEFAULT_DB_PATH, help="where to write (must not exist)")
    parser.add_argument("--customers", type=positive_whole_number(), default=DEFAULT_CUSTOMERS)
    parser.add_argument("--years", type=positive_whole_number(), default=DEFAULT_YEARS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--lines", type=positive_whole_number(), default=None,
                        help="target number of order lines (default: about 37.5 per customer)")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    if args.years > 30:
        raise UserFacingError("--years must be 30 or fewer")
    started = time.perf_counter()
    counts = build_demo_database(args.db, DemoSpec(customers=args.customers, years=args.years, seed=args.seed,
                                                   lines=args.lines))
    seconds = time.perf_counter() - started
    result = {"db": str(Path(args.db).resolve()), "rows": counts, "seconds": round(seconds, 2)}
    emit(result, args, f"Built {args.db} in {seconds:.1f} s: " + ", ".join(f"{v:,} {k}" for k, v in counts.items()))
    return 0
