"""Repeated wall-clock measurements summarised as median and 95th percentile."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Timing:
    samples: tuple[float, ...]  # seconds

    @property
    def median(self) -> float:
        return float(np.median(self.samples))

    @property
    def p95(self) -> float:
        # Linear interpolation between order statistics; with few samples p95 is close to the maximum.
        return float(np.percentile(self.samples, 95))

    def as_dict(self) -> dict[str, float | int]:
        return {"median_s": round(self.median, 4), "p95_s": round(self.p95, 4), "samples": len(self.samples)}


def timed(function: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def measure(function: Callable[[], object], repeat: int, before: Callable[[], None] | None = None) -> Timing:
    """Run ``function`` ``repeat`` times (``before`` untimed ahead of each run)."""
    samples = []
    for _ in range(max(1, repeat)):
        if before is not None:
            before()
        seconds, _ = timed(function)
        samples.append(seconds)
    return Timing(tuple(samples))
