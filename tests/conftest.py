"""Shared fixtures: a demo database built once per test run, real-data paths, AppTest setup."""

from __future__ import annotations

import os
import shutil
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
