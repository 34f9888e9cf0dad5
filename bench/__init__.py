"""The benchmark behind ``python -m customer_value bench``: how fast the dashboard is, against the alternatives.

Modules: ``demo_cache`` (demo databases of any size, cached in ``bench/work``),
``timing`` (median and 95th percentile), ``loader`` (the real loader against a
bare DuckDB CSV read), ``pages`` (each page's data after a filter change),
``apptest`` (full page runs), ``peers`` (CLV against ``lifetimes`` in its own
virtual environment), ``risk`` (early-warning model), ``report`` (BENCHMARKS.md)
and ``runner`` (all of it in order). Nothing here is imported by the app.
"""
