"""Shared fixtures: a demo database built once per test run, real-data paths, AppTest setup."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from streamlit.runtime.pages_manager import PagesManager

from customer_value import db as dbmod
from customer_value import query
from customer_value.demo import DemoSpec, build_demo_database

PROJECT_DIR = Path(__file__).resolve().parent.parent
APP_PATH = str(PROJECT_DIR / "app.py")

# AppTest (Streamlit 1.67) resets PagesManager.uses_pages_directory before every
# run and, seeing our pages/ folder, falls back to the old automatic multipage
# mode on reruns: it then runs a page file without app.py. The real server
# clears the flag once st.navigation is called; do the same here.
_original_pages_manager_init = PagesManager.__init__


def _pages_manager_init(self, *args, **kwargs):
    _original_pages_manager_init(self, *args, **kwargs)
    PagesManager.uses_pages_directory = False


PagesManager.__init__ = _pages_manager_init


@pytest.fixture(scope="session")
def demo_db_path(tmp_path_factory) -> Path:
    """The default demo company, built once; tests must not write to it (copy it first)."""
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    build_demo_database(path, DemoSpec())
    return path


@pytest.fixture(scope="session")
def demo_db(demo_db_path) -> dbmod.Database:
    return dbmod.connect(demo_db_path)


@pytest.fixture()
def writable_demo_db(demo_db_path, tmp_path) -> dbmod.Database:
    """A private copy of the demo database that a test may load into or undo."""
    copy = tmp_path / "demo_copy.duckdb"
    # The session connection must have flushed its file before copying it.
    dbmod.connect(demo_db_path).connection.execute("checkpoint")
    shutil.copy(demo_db_path, copy)
    database = dbmod.connect(copy)
    yield database
    dbmod.forget(copy)


@pytest.fixture()
def app_test(demo_db_path, monkeypatch):
    """An AppTest of app.py on the demo database; call .run() yourself."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("CV_DB_PATH", str(demo_db_path))
    query.clear_cache()
    return AppTest.from_file(APP_PATH, default_timeout=120)


def open_tab(at, tab_key: str, title: str):
    """Open the tab ``title`` of the tabs keyed ``tab_key``: only the open tab computes, and choosing one is a
    widget change like a click."""
    at.session_state[tab_key] = title
    at.run()
    assert not at.exception, [exception.value for exception in at.exception]
    return at


def open_page(app_test, page_file: str):
    """Run app.py, switch to ``page_file`` (e.g. "pages/team.py") and check the page raised nothing."""
    at = app_test.run()
    at.switch_page(page_file)
    at.run()
    assert not at.exception
    return at


def table_with(at, *columns: str):
    """The first table on the page holding all these columns (AppTest does not expose a table's key)."""
    for element in at.dataframe:
        if set(columns) <= set(element.value.columns):
            return element.value
    raise AssertionError(f"no table with columns {columns}")


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The folder of real exports (``CV_REAL_DATA``); tests using it skip when it is absent."""
    folder = os.environ.get("CV_REAL_DATA")
    if not folder or not Path(folder).is_dir():
        pytest.skip("CV_REAL_DATA is not set to the real exports folder")
    return Path(folder)


def empty_database(path: Path) -> dbmod.Database:
    """A new database with the schema and nothing loaded."""
    return dbmod.connect(path)


# End-to-end fixtures: the real server in Debian's headless Chromium (never a downloaded browser).
PROJECT_DIR = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")


def wait_until_idle(page, timeout: int = 90_000) -> None:
    """Until Streamlit's "Running..." indicator is gone: a click that lands while a script runs may be dropped."""
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')",
        timeout=timeout)


def metric_value(page, label: str, timeout: int = 90_000, within=None) -> str:
    """The shown value of the first metric labelled ``label`` (in ``within``, else the page).

    The label must be whole, optionally followed by a bracketed qualifier ("Net revenue retention (12 months
    to Dec 2025)"), so "Revenue" never reads "Revenue per active customer" while the page is still drawing.
    """
    whole_label = re.compile(r"^" + re.escape(label) + r"( \(.*\))?$")
    metric = (within if within is not None else page).locator('[data-testid="stMetric"]').filter(
        has=page.get_by_text(whole_label)).first
    metric.wait_for(timeout=timeout)
    return metric.locator('[data-testid="stMetricValue"]').inner_text().strip()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(demo_db_path, tmp_path_factory):
    # The server is another process and DuckDB allows one writer: give it its own copy.
    dbmod.connect(demo_db_path).connection.execute("checkpoint")
    copy = tmp_path_factory.mktemp("e2e") / "demo.duckdb"
    copy.write_bytes(demo_db_path.read_bytes())
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless=true",
         f"--server.port={port}", "--server.address=127.0.0.1", "--browser.gatherUsageStats=false",
         "--server.fileWatcherType=none"],
        cwd=PROJECT_DIR, env={**os.environ, "CV_DB_PATH": str(copy)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail("the Streamlit server did not start: " + (process.stdout.read() if process.stdout else ""))
    yield base
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture(scope="module")
def browser():
    with pytest.importorskip("playwright.sync_api").sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"])
        yield instance
        instance.close()
