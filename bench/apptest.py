"""Full page runs through Streamlit's AppTest: app.py, then a switch to the page, timed.

Every result cache (ours and Streamlit's cache_data) is cleared before each timed run, so the figure is a page
opened (or rerun after a filter change) on a warm database but cold results.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench.timing import Timing
from customer_value.cache import clear_every_cache
from customer_value.db import PROJECT_DIR

APP_PATH = PROJECT_DIR / "app.py"
SLOW_RUN_S = 10.0


def _patch_pages_manager() -> None:
    # Same workaround as tests/conftest.py: AppTest (Streamlit 1.67) resets
    # uses_pages_directory before every run and, seeing pages/, would run a page
    # file without app.py on reruns; the real server clears it once st.navigation runs.
    from streamlit.runtime.pages_manager import PagesManager

    if getattr(PagesManager, "_bench_patched", False):
        return
    original = PagesManager.__init__

    def patched(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    PagesManager.__init__ = patched
    PagesManager._bench_patched = True


def run_pages(db_path: Path, pages: list[tuple[str, Path]], repeat: int) -> dict[str, dict]:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    _patch_pages_manager()
    previous = os.environ.get("CV_DB_PATH")
    os.environ["CV_DB_PATH"] = str(db_path)
    results: dict[str, dict] = {}
    try:
        for name, path in pages:
            samples, problem = [], None
            for _ in range(max(1, repeat)):
                app = AppTest.from_file(str(APP_PATH), default_timeout=600)
                app.run()
                clear_every_cache()
                # Streamlit's own caches too (the segments page's clusters): a timed run starts from nothing.
                st.cache_data.clear()
                started = time.perf_counter()
                app.switch_page(str(path.relative_to(PROJECT_DIR)))
                app.run()
                samples.append(time.perf_counter() - started)
                if app.exception:
                    problem = str(app.exception[0].message).splitlines()[0][:200]
                    break
                if samples[-1] > SLOW_RUN_S:
                    break  # many times the target: more runs would only lengthen the benchmark
            results[name] = {**Timing(tuple(samples)).as_dict(), "error": problem}
    finally:
        if previous is None:
            os.environ.pop("CV_DB_PATH", None)
        else:
            os.environ["CV_DB_PATH"] = previous
    return results
