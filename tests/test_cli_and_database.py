"""The command line (same figures as the page, clear errors) and opening database files safely."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from customer_value import db as dbmod
from customer_value.cli import main
from customer_value.dataset import make_filters
from customer_value.metrics import overview_report
from customer_value.query import clear_cache

PROJECT_DIR = Path(__file__).resolve().parent.parent


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "customer_value", *args], cwd=PROJECT_DIR, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(PROJECT_DIR)})


def test_metrics_command_prints_the_overview_figures(demo_db_path, capsys):
    assert main(["metrics", "--db", str(demo_db_path), "--region", "West", "--window-days", "60", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    database = dbmod.connect(demo_db_path)
    expected = overview_report(database, make_filters(database, regions=("West",), window_days=60))
    assert printed["kpis"]["active_customers"]["value"] == expected["kpis"]["active_customers"]["value"]
    assert printed["kpis"]["revenue"]["value"] == pytest.approx(expected["kpis"]["revenue"]["value"])
    assert set(printed["kpis"]) == set(expected["kpis"])
    assert printed["filters"]["regions"] == ["West"]


def test_cli_errors_are_one_line_without_traceback(demo_db_path, capsys):
    assert main(["metrics", "--db", str(demo_db_path), "--region", "Atlantis"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: unknown region Atlantis") and error.count("\n") == 1
    with pytest.raises(SystemExit) as exit_info:
        main(["metrics", "--db", str(demo_db_path), "--start", "2025-02-30"])
    assert exit_info.value.code == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err


def test_a_separate_process_gets_one_line_errors(tmp_path):
    target = tmp_path / "small.duckdb"
    assert _run_cli("demo", "--db", str(target), "--customers", "200", "--years", "2").returncode == 0
    unknown = _run_cli("metrics", "--db", str(target), "--customer-type", "Spaceport")
    assert unknown.returncode == 2
    assert unknown.stderr.strip().count("\n") == 0 and "Spaceport" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_newer_schema_is_refused_untouched(tmp_path):
    path = tmp_path / "future.duckdb"
    database = dbmod.connect(path)
    database.connection.execute("insert into schema_migrations values (99, 'from the future', current_timestamp)")
    dbmod.forget(path)
    before = path.read_bytes()
    with pytest.raises(dbmod.DatabaseError, match="newer release"):
        dbmod.connect(path)
    assert path.read_bytes() == before


def test_locked_database_names_the_path(tmp_path):
    path = tmp_path / "locked.duckdb"
    dbmod.connect(path)
    dbmod.forget(path)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True);"
         " time.sleep(60)", str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(dbmod.DatabaseError, match="in use by another program") as caught:
            dbmod.connect(path)
        assert str(path) in str(caught.value)
    finally:
        holder.kill()
        holder.wait()


def test_unwritable_location_is_explained(tmp_path):
    if os.geteuid() == 0:
        # root can write anywhere; a path under a regular file cannot be created by anyone.
        blocker = tmp_path / "a_file"
        blocker.write_text("x")
        target = blocker / "sub" / "db.duckdb"
    else:
        locked_dir = tmp_path / "ro"
        locked_dir.mkdir(mode=0o500)
        target = locked_dir / "sub" / "db.duckdb"
    with pytest.raises(dbmod.DatabaseError) as caught:
        dbmod.connect(target)
    assert str(target) in str(caught.value)


def test_migrations_bring_an_old_file_forward(tmp_path):
    # A database with no schema table (as a first release would see it) gets every migration once.
    path = tmp_path / "old.duckdb"
    duckdb.connect(str(path)).close()
    database = dbmod.connect(path)
    versions = database.cursor().execute("select version from schema_migrations order by 1").fetchall()
    assert [v for (v,) in versions] == list(range(1, dbmod.LATEST_SCHEMA_VERSION + 1))
    dbmod.forget(path)
    # Opening again applies nothing twice and keeps data.
    database = dbmod.connect(path)
    assert database.data_version() == 0
    dbmod.forget(path)


def test_demo_command_builds_a_database(tmp_path):
    target = tmp_path / "small.duckdb"
    result = _run_cli("demo", "--db", str(target), "--customers", "200", "--years", "2", "--seed", "5", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["rows"]["customers"] == 200
    again = _run_cli("demo", "--db", str(target), "--customers", "200")
    assert again.returncode == 2 and "already exists" in again.stderr


def test_derived_tables_from_an_older_release_are_rebuilt_on_open(tmp_path):
    from tests.builders import d, tiny_database

    path = tmp_path / "older.duckdb"
    database = tiny_database(path, transactions=[("A", d("2024-01-10"), 100), ("A", d("2024-03-01"), 50),
                                                 ("B", d("2024-02-01"), 70)])
    filters = make_filters(database, start=d("2024-01-01"), end=d("2024-03-31"))
    expected = overview_report(database, filters)
    # What a database built before the movement cube existed looks like.
    con = database.cursor()
    con.execute("drop table movement_events")
    con.execute("update app_meta set value = 'an older release' where key = 'derived_signature'")
    dbmod.forget(path)
    clear_cache()
    reopened = dbmod.connect(path)
    try:
        assert overview_report(reopened, filters) == expected
        assert reopened.meta("derived_signature") != "an older release"
    finally:
        dbmod.forget(path)


def test_the_database_gives_freed_memory_back_to_the_system(tmp_path):
    # DuckDB's allocator keeps freed memory for itself unless its background threads purge it (see connect).
    database = dbmod.connect(tmp_path / "allocator.duckdb")
    try:
        setting = database.cursor().execute("select current_setting('allocator_background_threads')").fetchone()
        assert setting == (True,)
    finally:
        dbmod.forget(tmp_path / "allocator.duckdb")


def test_result_cache_keeps_frames_within_its_byte_budget():
    import pandas as pd

    from customer_value.cache import LruCache, clear_every_cache, frame_bytes

    # 1,000 float64 values = 8,000 bytes, plus a RangeIndex (132 bytes in memory_usage): 8,132 per frame.
    frame = pd.DataFrame({"value": [0.0] * 1_000})
    assert frame_bytes(frame) == 8_132 and frame_bytes((frame, "info")) == 8_132 and frame_bytes("text") == 0
    # A migration result is a dict of matrices and a customer list: its frames count.
    assert frame_bytes({"grid": frame, "customers": frame, "movements": {"new": 1}}) == 16_264
    # A lifetime-value fit is (table, result dataclass, keys array); an early-warning result a dataclass of
    # frames: every frame, Series and array in them counts, other fields do not.
    from dataclasses import dataclass

    import numpy as np

    @dataclass
    class Result:
        at_risk: pd.DataFrame
        figures: dict
        name: str = "model"

    keys = np.zeros(1_000, dtype="int64")
    assert frame_bytes(keys) == 8_000 and frame_bytes(frame["value"]) == 8_132
    assert frame_bytes((frame, Result(frame, {"auc": 0.8, "lift": frame}), keys)) == 3 * 8_132 + 8_000
    cache = LruCache("test frames", size=10, max_bytes=20_000)
    for key in "abc":
        cache.put(key, frame)
    # Three frames are 24,396 bytes, over 20,000: the least recently used ("a") goes, two stay.
    assert cache.get("a") is None and cache.get("b") is not None and cache.get("c") is not None
    assert cache.bytes_held == 16_264
    # One frame larger than the budget is still kept (the newest entry always stays), alone.
    cache.put("big", pd.DataFrame({"value": [0.0] * 5_000}))
    assert cache.get("big") is not None and cache.get("b") is None and cache.get("c") is None
    clear_every_cache()
    assert cache.bytes_held == 0


def test_caches_share_one_process_budget(monkeypatch):
    from customer_value import cache as cache_module
    from customer_value.cache import LruCache, clear_every_cache

    clear_every_cache()
    frame = pd.DataFrame({"value": [0.0] * 1_000})  # 8,132 bytes (8,000 of values, 132 of index)
    monkeypatch.setattr(cache_module, "PROCESS_CACHE_BYTES", 20_000)
    first, second = LruCache("test first", size=10, max_bytes=100_000), LruCache("test second", 10, 100_000)
    first.put("a", frame)
    second.put("b", frame)
    assert first.get("a") is not None  # now "b" is the least recently used of the process
    # 3 x 8,132 = 24,396 bytes are over 20,000 together (each cache alone is within its own 100,000).
    second.put("c", frame)
    assert (first.get("a") is not None, second.get("b"), second.get("c") is not None) == (True, None, True)
    assert first.bytes_held + second.bytes_held == 16_264
    first.put("d", frame)  # "c" was read last above, so "a" is the oldest now, in the same cache as "d"
    assert (first.get("a"), first.get("d") is not None, second.get("c") is not None) == (None, True, True)
    # A result larger than the whole budget still stays, alone, until something newer comes.
    second.put("big", pd.DataFrame({"value": [0.0] * 5_000}))
    assert (first.bytes_held, second.get("c"), second.get("big") is not None) == (0, None, True)
    clear_every_cache()


@pytest.mark.parametrize(("text", "expected"), [
    ("6GB", 6 * 1000**3), ("6 GiB", 6 * 1024**3), ("4096MB", 4096 * 1000**2), ("1.5gb", 1_500_000_000), ("123", 123)])
def test_sizes_read_as_bytes(text, expected):
    assert dbmod.size_in_bytes(text) == expected


@pytest.mark.parametrize("text", ["lots", "inf", "-2GB", "0", "6XB"])
def test_a_size_that_cannot_be_read_is_named(text):
    with pytest.raises(ValueError, match=f"'{text}' is not a size"):
        dbmod.size_in_bytes(text)


def test_every_cache_of_the_package_is_bounded_in_bytes():
    # Counted in entries alone, a cache of customer-level results holds gigabytes at five million customers.
    import customer_value.clv
    import customer_value.query
    import customer_value.risk
    import customer_value.satisfaction
    import customer_value.segments  # noqa: F401  (each module creates its caches on import)
    from customer_value.cache import _EVERY_CACHE

    package_caches = [cache for cache in _EVERY_CACHE if not cache.name.startswith("test")]
    assert len(package_caches) >= 7
    assert [cache.name for cache in package_caches if cache.max_bytes is None] == []


def test_giving_back_memory_keeps_every_cached_result():
    # The app calls it after every run: it must only return freed memory, never drop or damage live data.
    import pandas as pd
    import pyarrow as pa

    from customer_value.cache import LruCache, give_back_memory

    cache = LruCache("kept frames", size=2)
    frame = pd.DataFrame({"value": range(100_000)})
    cache.put("kept", frame)
    table = pa.table({"value": pa.array(range(100_000))})
    give_back_memory()
    give_back_memory()  # twice in a row, as two quick reruns would
    assert cache.get("kept")["value"].sum() == 4_999_950_000
    assert table["value"].to_pylist()[-1] == 99_999


def test_giving_back_memory_frees_frames_held_only_by_a_reference_cycle():
    # A page's functions refer to the page's namespace; the frames it left there must go after the run,
    # not at Python's next full collection (at 100M lines they piled up to 21 GB between collections).
    import gc
    import weakref

    import pyarrow as pa

    from customer_value.cache import give_back_memory

    namespace: dict = {"customers": pa.table({"value": pa.array(range(1_000_000))})}
    exec("def current():\n    return customers\n", namespace)  # as a page defines a function: its globals
    table_alive = weakref.ref(namespace["customers"])
    held_before = pa.default_memory_pool().bytes_allocated()
    gc.disable()  # the test must not depend on a collection happening to run in between
    try:
        del namespace
        assert table_alive() is not None
        give_back_memory()
    finally:
        gc.enable()
    assert table_alive() is None
    assert pa.default_memory_pool().bytes_allocated() <= held_before - 8_000_000


def test_a_detached_text_column_keeps_its_values_but_none_of_the_results_memory():
    import pyarrow as pa

    from customer_value.query import arrow_to_frame, detached_text

    result = duckdb.connect().sql(
        "select 'C' || cast(i as varchar) as customer_id, i * 2 as doubled from range(5) as r(i)").to_arrow_table()
    frame = arrow_to_frame(result)
    text = frame["customer_id"].iloc[1:]  # an index of its own, not 0..n-1
    copied = detached_text(text)
    pd.testing.assert_series_equal(copied, text)
    assert copied.tolist() == ["C1", "C2", "C3", "C4"]

    def buffer_addresses(values) -> set[int]:
        arrow = pa.array(values)
        chunks = arrow.chunks if isinstance(arrow, pa.ChunkedArray) else [arrow]
        return {buffer.address for chunk in chunks for buffer in chunk.buffers() if buffer is not None}

    # As read, the column's text lives in DuckDB's result; the copy shares none of it.
    result_buffers = {buffer.address for chunk in result.column("customer_id").chunks
                      for buffer in chunk.buffers() if buffer is not None}
    assert buffer_addresses(frame["customer_id"]) & result_buffers
    assert not buffer_addresses(copied) & result_buffers
