"""Process-wide result caches, shared by every session of one server, emptied together.

Every cached result is keyed by (at least) the database path and its data
version, which each load and undo bumps, so an upload never shows stale figures
and no cache needs telling about loads. What they do need is one way to be
emptied all at once: tests that rebuild a database in place, and the benchmark,
which measures a filter change "with the cache cleared" and must not find a
segment classification or a model fit left over from the previous sample.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import itertools
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import fields, is_dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa

from customer_value.db import Database, machine_memory_bytes, size_in_bytes

if TYPE_CHECKING:
    from customer_value.filters import Filters, Scope

Value = TypeVar("Value")

_EVERY_CACHE: list[LruCache] = []


def default_process_cache_bytes() -> int:
    """What every result cache of the process may hold together: ``CV_CACHE_MEMORY`` (e.g. "6GB"), else a
    quarter of the machine's memory.

    Each cache has its own budget for one kind of result; added up they came to 16 GiB, which five million
    customers' results could fill beside DuckDB's quarter on a 24 GB server. A quarter for DuckDB and one
    for cached results leaves half for the pages' working frames and the sessions.
    """
    configured = os.environ.get("CV_CACHE_MEMORY", "").strip()
    if configured:
        try:
            return size_in_bytes(configured)
        except ValueError as exc:
            raise ValueError(f"CV_CACHE_MEMORY: {exc}") from None
    total = machine_memory_bytes()
    return 4 * 1024**3 if total is None else total // 4


# Read once: a server's budget does not change while it runs (tests set it directly).
PROCESS_CACHE_BYTES = default_process_cache_bytes()
# Ticks of one clock for every cache, so the least recently used entry of the whole process can be found.
_CLOCK = itertools.count()
# Held while entries are evicted across caches (each cache's own lock is taken inside it, never the reverse).
_PROCESS_BUDGET_LOCK = threading.Lock()


class LruCache:
    """A bounded least-recently-used map, safe to share between threads.

    Parameters
    ----------
    name : str
        What it holds: a label for whoever inspects a process's caches.
    size : int
        Entries kept; the least recently used goes first.
    max_bytes : int, optional
        Also keep the frames held under this many bytes (the newest entry always
        stays). Counting entries alone let a server with 500,000 customers hold
        512 query results of up to 100 MB each.

    Every cache with ``max_bytes`` also shares the process's budget
    (``PROCESS_CACHE_BYTES``): when all of them together hold more, the least
    recently used entries of the whole process go, whichever cache holds them.
    """

    def __init__(self, name: str, size: int, max_bytes: int | None = None) -> None:
        self.name = name
        self.size = size
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._bytes: dict[Hashable, int] = {}
        self._used: dict[Hashable, int] = {}  # each entry's last use, on the process-wide clock
        self._total = 0
        self._lock = threading.Lock()
        _EVERY_CACHE.append(self)

    @property
    def bytes_held(self) -> int:
        with self._lock:
            return self._total

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self._used[key] = next(_CLOCK)
                return self._items[key]
            return None

    def put(self, key: Hashable, value: Any) -> None:
        size = frame_bytes(value) if self.max_bytes is not None else 0
        with self._lock:
            self._drop(key)
            self._items[key] = value
            self._bytes[key] = size
            self._used[key] = next(_CLOCK)
            self._total += size
            while len(self._items) > self.size or (
                    self.max_bytes is not None and len(self._items) > 1 and self._total > self.max_bytes):
                self._drop(next(iter(self._items)))
        if size:
            _keep_within_process_budget(self, key)

    def _drop(self, key: Hashable) -> None:
        """Remove ``key`` if present; the caller holds the lock."""
        if key in self._items:
            del self._items[key]
            self._total -= self._bytes.pop(key)
            del self._used[key]

    def _oldest(self) -> tuple[int, Hashable] | None:
        """(last use, key) of the least recently used entry, or None when empty."""
        with self._lock:
            if not self._items:
                return None
            key = next(iter(self._items))
            return self._used[key], key

    def _evict(self, key: Hashable) -> None:
        with self._lock:
            self._drop(key)

    def get_or_compute(self, key: Hashable, compute: Callable[[], Value]) -> Value:
        """The cached value, else ``compute()`` stored under ``key``.

        Two sessions asking at once may both compute; the lock is not held
        while computing, so one slow fit never blocks every other page.
        """
        cached = self.get(key)
        if cached is not None:
            return cached
        value = compute()
        self.put(key, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes.clear()
            self._used.clear()
            self._total = 0


def _keep_within_process_budget(newest_cache: LruCache, newest_key: Hashable) -> None:
    """Evict the least recently used entries of every cache until they hold at most ``PROCESS_CACHE_BYTES``.

    The entry just stored stays, as in a single cache: a result larger than the
    budget is still handed to its caller and reused until something newer comes.
    """
    with _PROCESS_BUDGET_LOCK:
        while sum(cache.bytes_held for cache in _EVERY_CACHE) > PROCESS_CACHE_BYTES:
            candidates = []
            for cache in list(_EVERY_CACHE):
                if cache.max_bytes is None:
                    continue  # its entries count no bytes: evicting them frees nothing that is counted
                oldest = cache._oldest()
                if oldest is not None and not (cache is newest_cache and oldest[1] == newest_key):
                    candidates.append((oldest[0], cache, oldest[1]))
            if not candidates:
                return
            _, cache, key = min(candidates, key=lambda candidate: candidate[0])
            cache._evict(key)


# The byte budget of each cache of customer-level results that is not a query result (lifetime-value fits,
# early-warning models, segment labels). Counted in entries alone, sixteen lifetime-value tables of five
# million customers (130 MB measured at 500,000) could be kept at once, more than a server's memory.
RESULT_FRAMES_BYTES = 2 * 1024**3


def frame_bytes(value: Any) -> int:
    """Memory held by the frames and arrays in ``value``: a DataFrame, Series or numpy array, or a tuple, list,
    dict or dataclass holding them (a lifetime-value fit is a table, a result and the customers' keys).

    Shallow: an object column counts its pointers, which is what it adds when its
    strings are shared names (cells, segments); Arrow-backed text counts its buffers.
    """
    if isinstance(value, pd.DataFrame):
        return int(value.memory_usage(index=True, deep=False).sum())
    if isinstance(value, pd.Series):
        return int(value.memory_usage(index=True, deep=False))
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, tuple | list):
        return sum(frame_bytes(item) for item in value)
    if isinstance(value, dict):
        return sum(frame_bytes(item) for item in value.values())
    if is_dataclass(value) and not isinstance(value, type):
        return sum(frame_bytes(getattr(value, field.name)) for field in fields(value))
    return 0


def selection_key(db: Database, filters: Filters | None, scope: Scope | None) -> tuple:
    """What a result computed for a selection depends on: the database, its data version, the filters (see
    :func:`without_period_name`) and the regions the user may see. Settings of the computation go after it in the
    cache key.
    """
    return (str(db.path), db.data_version(), without_period_name(filters), scope.regions if scope is not None else None)


def without_period_name(filters: Filters | None) -> Filters | None:
    """The filters as a cache key part: without the period's name.

    The name (a preset or "custom") only rebuilds the link: the same dates under another name
    share one entry, so the migration tab's second period, "custom" with the page's dates, reuses the
    page's classification instead of recomputing it (11 s at 5 million customers).
    """
    return None if filters is None else replace(filters, period="custom")


def customer_selection_key(db: Database, filters: Filters | None, scope: Scope | None) -> tuple:
    """What a result that reads each customer's whole history depends on: the database, its data version and
    which customers are chosen (type, region and rep filters, the user's regions), but not the period's start
    or W. The lifetime-value models are such results: their end day goes after this in the cache key.

    Keyed by :func:`selection_key` instead, a change of W or of a period with the same last day refitted the
    models for the same figures (3 s at 500,000 customers).
    """
    chosen = None if filters is None else (filters.customer_types, filters.regions, filters.sales_reps)
    return (str(db.path), db.data_version(), chosen, scope.regions if scope is not None else None)


def handed_out(frame: pd.DataFrame) -> pd.DataFrame:
    """A cached frame as given to a caller: a new object over the same data, nothing copied.

    pandas 3 always copies on write, so a caller that adds or changes a column
    copies just that column and the cached frame stays as it was. A deep copy
    per caller cost 0.2-0.3 s for the 375,000 buyers of a 10-million-line
    database (it also consolidates the frame's blocks every time).
    """
    return frame.copy(deep=False)


def give_back_memory() -> None:
    """Return the memory freed since the last call to the operating system; the app calls it after each run.

    pandas/numpy (the C library's malloc) and Arrow (its own mimalloc pool) each keep the
    memory they freed for reuse, and neither can reuse the other's. After a page of a
    five-million-customer database each pool held gigabytes, which added up across pages
    until the process was killed; measured there, this took a page process from 6.2 to 2.0 GB
    between runs. Without glibc (another C library) only Arrow's pool is released.

    A full garbage collection comes first: a page's functions refer to the page's own
    namespace, so the frames a run leaves there sit in a reference cycle that only
    Python's rare full collection frees. Between samples of the 100-million-line
    benchmark those cycles held 2-3 GB each and piled up past 21 GB.
    """
    gc.collect()
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def clear_every_cache() -> None:
    """Empty every cache of this process (query results, classifications, model fits)."""
    for cache in _EVERY_CACHE:
        cache.clear()
