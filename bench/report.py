"""BENCHMARKS.md: the report as a Markdown table, with the machine it ran on."""

from __future__ import annotations

from pathlib import Path


def _gb(value: int) -> str:
    return f"{value / 1024**3:.1f} GB"


def markdown(report: dict) -> str:
    from bench.runner import targets_for

    machine = report["machine"]
    versions = ", ".join(f"{name} {version}" for name, version in machine["versions"].items())
    lines = [
        "# Benchmarks",
        "",
        "Written by `python -m customer_value bench` (code in `bench/`); rerun it to refresh this file.",
        "Figures are medians and 95th percentiles over repeated runs; page data is timed after a filter change",
        "with every result cache cleared and the database warm. Targets are the issue's for "
        f"{targets_for(report['lines']).label} on 2 cores.",
        "",
        f"- Date: {machine['date']}",
        f"- Machine: {machine['cores']} cores, {_gb(machine['memory_bytes'])} memory, Python {machine['python']}, "
        f"{machine['platform']}",
        f"- Versions: {versions}",
        f"- Data: demo company, {report['lines']:,} target lines ({report['rows']['transactions']:,} transaction "
        f"rows, {report['rows']['customer_dim']:,} customers, {report['rows']['customer_days']:,} customer-days), "
        f"seed {report['seed']}",
        f"- Repetitions: {report['repeat']}; benchmark took {report['seconds']:.0f} s",
        *[f"- Note: {note}" for note in report.get("notes", [])],
        "",
        "| What | Figure | Target | Result |",
        "| --- | --- | --- | --- |",
    ]
    for row in report["checks"]:
        cells = [str(row[key]).replace("|", "/") for key in ("what", "figure", "target", "result")]
        lines.append("| " + " | ".join(cells) + " |")
    pages = report.get("pages")
    if pages:
        lines += ["", "## Page data by filter change (median ms)", ""]
        measured = {name: page for name, page in pages["pages"].items() if page.get("status") == "measured"}
        if measured:
            lines.append("| Filter change | " + " | ".join(measured) + " |")
            lines.append("| --- |" + " --- |" * len(measured))
            for change in pages["changes"]:
                cells = [f"{page['by_change'][change]['median_s'] * 1000:.0f}" if change in page["by_change"]
                         else "not run" for page in measured.values()]
                lines.append(f"| {change} | " + " | ".join(cells) + " |")
    clv = report.get("clv")
    if clv and clv.get("status") == "measured":
        lines += ["", "## BG/NBD parameters", "", "| Parameter | Ours | lifetimes |", "| --- | --- | --- |"]
        for name in ("r", "alpha", "a", "b"):
            lines.append(f"| {name} | {clv['bgnbd']['params_ours'][name]:.6g} | "
                         f"{clv['bgnbd']['params_lifetimes'][name]:.6g} |")
        lines.append("")
        lines.append(f"Peer: {clv['peer']}, in its own virtual environment (not a dependency).")
    loader = report.get("loader")
    if loader and loader.get("status") == "measured":
        lines += ["", f"Loader input: {loader['rows']:,} rows, {loader['csv_bytes'] / 1024**2:.0f} MB of CSV; "
                  f"DuckDB's bare read peaked at {_gb(loader['duckdb_peak_rss_bytes'])}."]
        stages = loader.get("loader_stages_s")
        if stages:
            lines.append("Loader stages (median seconds): "
                         + "; ".join(f"{stage} {seconds:.2f}" for stage, seconds in stages.items()) + ".")
    return "\n".join(lines) + "\n"


def write(report: dict, path: Path) -> None:
    path.write_text(markdown(report), encoding="utf-8")
