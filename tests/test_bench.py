"""The bench command on a tiny demo: it runs end to end and writes a well-formed report (no timing checked)."""

from __future__ import annotations

import json

import pytest

from bench.loader import STAGES, stage_seconds
from bench.pages import page_files
from customer_value.cli import main


def test_bench_writes_a_well_formed_report(tmp_path, capsys):
    output = tmp_path / "BENCHMARKS.md"
    # Peers (lifetimes) and the risk model are left out: they take the longest and are measured by the real run.
    code = main(["bench", "--lines", "20000", "--repeat", "1", "--only", "loader,pages,apptest",
                 "--work-dir", str(tmp_path / "work"), "--output", str(output), "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)

    assert report["lines"] == 20000 and report["customers"] == 1000
    assert report["machine"]["cores"] >= 1 and report["machine"]["memory_bytes"] > 0
    assert report["rows"]["transactions"] > 15000
    pages = report["pages"]["pages"]
    # Every page, and the first tab alone of a page whose tabs compute only when open (or the view before a
    # list is chosen).
    first_tabs = {"satisfaction (first tab)", "segments (first tab)", "segments (first tab, a cell listed)",
                  "churn (first tab)", "lifetime_value (first tab)", "team (first view)"}
    assert set(pages) == {name for name, _ in page_files()} | first_tabs
    for name in first_tabs:
        assert pages[name]["status"] == "measured" and pages[name]["method"].startswith("written out"), name
        assert 0 < pages[name]["median_s"] <= pages[name]["p95_s"], name
    for name, path in page_files():
        assert pages[name]["status"] == ("not built" if not path.exists() else "measured"), name
        if path.exists():
            assert pages[name]["samples"] == len(report["pages"]["changes"]) == 9
            assert 0 < pages[name]["median_s"] <= pages[name]["p95_s"]
            assert report["apptest"][name]["samples"] == 1
    assert pages["overview"]["method"] == "written out, every tab"
    assert report["loader"]["status"] in ("measured", "failed")
    if report["loader"]["status"] == "measured":
        stages = report["loader"]["loader_stages_s"]
        assert list(stages) == [name for name, _ in STAGES]
        # One run: its stages cover the load from the first step to the end, inside the timed call.
        assert 0 < sum(stages.values()) <= report["loader"]["loader"]["median_s"]
    assert "clv" not in report  # not asked for
    # The run built its demo, so it knows the build's time and peak memory.
    assert report["demo_build"]["seconds"] > 0 and report["demo_build"]["peak_rss_bytes"] > 50 * 1024**2
    assert report["pages"]["peak_rss_bytes"] > 50 * 1024**2

    text = output.read_text(encoding="utf-8")
    assert text.startswith("# Benchmarks")
    table = [line for line in text.splitlines() if line.startswith("| ")]
    assert table[0] == "| What | Figure | Target | Result |"
    rows = [line for line in table if line.startswith(("| page data", "| full page run", "| loader"))]
    assert len(rows) == len(report["checks"]) > len(page_files())
    for check in report["checks"]:
        assert check["result"] in ("pass", "FAIL", "n/a")
    assert f"{report['machine']['cores']} cores" in text


def test_replay_runs_every_tab_of_a_page_written_in_sections(demo_db, monkeypatch):
    # The churn page draws each tab in a show_...() section; the replay must reach the sections' package calls,
    # or a page would look fast because its tabs were never timed.
    from bench.pages import PAGES_DIR, BenchContext, replay_page
    from customer_value import movements
    from customer_value.dataset import make_filters

    called = []
    for name in ("cohort_retention", "value_churn", "acquisition"):
        original = getattr(movements, name)
        monkeypatch.setattr(movements, name, lambda *args, _name=name, _original=original, **kwargs: (
            called.append(_name), _original(*args, **kwargs))[1])
    result = replay_page(PAGES_DIR / "churn.py", BenchContext(demo_db, make_filters(demo_db)))
    assert called == ["cohort_retention", "value_churn", "acquisition"]
    assert result.calls >= 15


def test_replay_reads_a_widget_value_converted_where_it_is_read(demo_db, monkeypatch):
    # The lifetime-value page reads int(column.number_input(...)) and number_input(...) / 100; the fit that uses
    # them must be replayed (and so timed) with the widgets' defaults.
    from bench.pages import PAGES_DIR, BenchContext, replay_page
    from customer_value import clv
    from customer_value.dataset import make_filters

    settings = []
    original = clv.clv_table
    monkeypatch.setattr(clv, "clv_table", lambda *args, **kwargs: (
        settings.append((kwargs["horizon_months"], kwargs["monthly_discount_rate"])), original(*args, **kwargs))[1])
    replay_page(PAGES_DIR / "lifetime_value.py", BenchContext(demo_db, make_filters(demo_db)))
    assert settings[0] == (12, 0.01)


def test_hundred_million_lines_are_held_to_their_own_targets():
    # At 100M lines the issue asks for page data under 2 s at p95 and every peak under 12 GB,
    # with no median, full-page-run or loader-ratio target; the reference size keeps its own.
    from bench.runner import checks, default_output

    gb = 1024**3
    page = {"status": "measured", "method": "written out", "median_s": 0.9, "p95_s": 1.8, "samples": 9}
    slow = {**page, "median_s": 2.5, "p95_s": 2.5, "samples": 1}
    report = {
        "lines": 100_000_000,
        "demo_build": {"seconds": 1800.0, "peak_rss_bytes": 13 * gb},
        "pages": {"pages": {"overview": page, "lifetime_value": slow}, "peak_rss_bytes": 6 * gb},
        "apptest": {"overview": {"median_s": 3.0, "samples": 1}},
        "loader": {"status": "measured", "loader": {"median_s": 700.0}, "duckdb_read_csv": {"median_s": 70.0},
                   "ratio": 10.0, "loader_peak_rss_bytes": 11 * gb, "duckdb_peak_rss_bytes": 3 * gb},
    }
    rows = {row["what"].split(" (")[0]: row for row in checks(report)}
    assert rows["demo build"]["result"] == "pass"
    assert rows["demo build peak memory"]["result"] == "FAIL"
    assert rows["page data: overview"]["result"] == "pass"
    assert rows["page data: overview"]["target"] == "<= 2000 ms p95"
    assert rows["page data: lifetime_value"]["result"] == "FAIL"
    assert "1 sample" in rows["page data: lifetime_value"]["figure"]
    assert rows["page data: the process's peak memory"]["result"] == "pass"
    assert rows["full page run: overview"]["result"] == "pass"
    assert rows["loader vs DuckDB read_csv"]["result"] == "pass"
    assert rows["loader peak memory"]["result"] == "pass"
    assert default_output(100_000_000).name == "BENCHMARKS-100M.md"

    reference = {**report, "lines": 10_000_000}
    rows = {row["what"].split(" (")[0]: row for row in checks(reference)}
    assert "demo build" not in rows
    assert rows["page data: overview"]["result"] == "FAIL"  # 900 ms median is over 250 ms
    assert rows["full page run: overview"]["result"] == "FAIL"
    assert rows["loader vs DuckDB read_csv"]["result"] == "FAIL"
    assert rows["loader peak memory"]["result"] == "FAIL"  # 11 GB is over 4 GB
    assert default_output(10_000_000).name == "BENCHMARKS.md"


def test_a_page_whose_data_fails_is_reported_as_failing_with_its_reason():
    # At 100M lines a page's query once ran the disk out of space; the report must say so, not "n/a".
    from bench.runner import checks

    reason = 'IOException: IO Error: Could not write file "x.tmp": No space left on device'
    report = {"lines": 100_000_000,
              "pages": {"pages": {"lifetime_value": {"status": "failed", "method": "replayed", "reason": reason},
                                  "team": {"status": "not built", "method": "written out"}}}}
    rows = {row["what"]: row for row in checks(report)}
    failed = rows["page data: lifetime_value"]
    assert failed["result"] == "FAIL" and failed["figure"] == "failed: " + reason
    assert failed["target"] == "<= 2000 ms p95"
    assert rows["page data: team"]["result"] == "n/a" and rows["page data: team"]["figure"] == "not built"


def test_loader_stages_from_progress_marks():
    # Progress marks (fraction, seconds) as load_file reports them; the run ends at 6.1 s.
    marks = [(0.0, 0.0), (0.05, 0.1), (0.2, 0.5), (0.4, 1.0), (0.6, 3.0), (0.7, 3.2), (0.8, 4.0), (1.0, 6.0)]
    assert stage_seconds(marks, 6.1) == pytest.approx({
        "reading the file": 1.0, "checking every value": 2.0, "finding repeats": 0.2, "writing the rows": 0.8,
        "derived tables": 2.1})
    # Nothing loaded: no "updating customer figures" step, so the derived tables take no time.
    assert stage_seconds(marks[:6] + [(1.0, 5.0)], 5.0)["derived tables"] == 0
    assert stage_seconds(marks[:6] + [(1.0, 5.0)], 5.0)["writing the rows"] == pytest.approx(1.8)
