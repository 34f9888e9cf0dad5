"""The DuckDB file: opening it safely, versioned schema migrations, the data version.

One connection per process and database path (DuckDB allows a single writer
process per file); every thread or user session works on its own ``cursor()``,
because a DuckDB cursor is a separate connection to the same database with its
own temporary tables and transaction state.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from customer_value.errors import UserFacingError

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
DEFAULT_DB_PATH = PROJECT_DIR / "data" / "demo.duckdb"

# Each entry upgrades the schema by one version; entries are never edited once
# released, only appended, so a database written by any older release can be
# brought forward in order without losing data.
MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "base tables: batches, customers, transactions, feedback, leads, presets, meta",
        [
            """
            create sequence if not exists batch_id_seq start 1
            """,
            """
            create table load_batches (
                batch_id            integer primary key,
                kind                varchar not null,   -- transactions | customers | feedback | leads | demo
                source_name         varchar not null,
                content_hash        varchar,
                rows_read           bigint not null default 0,
                rows_loaded         bigint not null default 0,
                rows_rejected       bigint not null default 0,
                rows_duplicate      bigint not null default 0,
                rows_already_loaded bigint not null default 0,
                loaded_at           timestamp not null,
                loaded_by           varchar not null,
                report_json         varchar,
                undone_at           timestamp
            )
            """,
            # Customers carry no primary key: a later customers file may restate a
            # customer, and the newest batch wins (see derived customer_dim). Keeping
            # every version is what lets "undo batch" restore the previous one.
            """
            create table customers (
                row_key             uhugeint not null,
                customer_id         varchar not null,
                name                varchar,
                customer_type       varchar,
                region              varchar,
                sales_rep           varchar,
                acquisition_channel varchar,
                signup_date         date,
                referred_by         varchar,
                churn_date          date,
                batch_id            integer not null
            )
            """,
            """
            create table transactions (
                row_key         uhugeint not null,  -- md5 of the natural key: makes reloads idempotent
                order_id        varchar not null,   -- synthesised from customer and date when the file has none
                line_no         integer,
                customer_id     varchar,            -- null: anonymous line, kept out of customer metrics
                order_date      date not null,
                amount          decimal(18, 2) not null,
                quantity        decimal(18, 3),
                gross_profit    decimal(18, 2),
                product         varchar,
                channel         varchar,
                is_cancellation boolean not null default false,
                batch_id        integer not null
            )
            """,
            """
            create table feedback (
                row_key       uhugeint not null,
                feedback_id   varchar,
                customer_id   varchar not null,
                response_date date not null,
                survey        varchar,   -- 'service' | 'annual' | anything the firm uses
                csat          smallint,  -- 1..5
                nps           smallint,  -- 0..10
                complaint     boolean not null default false,
                resolved_date date,
                comment       varchar,
                batch_id      integer not null
            )
            """,
            """
            create table leads (
                row_key               uhugeint not null,
                lead_id               varchar not null,
                first_contact_date    date,
                contacts              integer,
                converted_customer_id varchar,
                source                varchar,
                batch_id              integer not null
            )
            """,
            """
            create table mapping_presets (
                name         varchar not null,
                kind         varchar not null,
                mapping_json varchar not null,
                options_json varchar,
                saved_at     timestamp not null,
                saved_by     varchar not null,
                primary key (name, kind)
            )
            """,
            """
            create table app_meta (
                key   varchar primary key,
                value varchar not null
            )
            """,
            "insert into app_meta values ('data_version', '0')",
        ],
    ),
]

LATEST_SCHEMA_VERSION = MIGRATIONS[-1][0]


class DatabaseError(UserFacingError):
    """The database file cannot be used; the message says which file and what to do."""


def _schema_version(con: duckdb.DuckDBPyConnection) -> int:
    has_table = con.execute(
        "select count(*) from information_schema.tables where table_name = 'schema_migrations'"
    ).fetchone()[0]
    if not has_table:
        return 0
    return con.execute("select coalesce(max(version), 0) from schema_migrations").fetchone()[0]


def _migrate(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """create table if not exists schema_migrations (
               version integer primary key, description varchar, applied_at timestamp)"""
    )
    current = _schema_version(con)
    for version, description, statements in MIGRATIONS:
        if version <= current:
            continue
        con.execute("begin transaction")
        try:
            for statement in statements:
                con.execute(statement)
            con.execute(
                "insert into schema_migrations values (?, ?, current_timestamp)",
                [version, description],
            )
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise


def _explain_open_failure(path: Path, exc: Exception) -> DatabaseError:
    text = str(exc)
    if "lock" in text.lower():
        return DatabaseError(
            f"The database {path} is in use by another program (DuckDB allows one writer). "
            "Close the other dashboard or command that has it open, then try again."
        )
    if "permission" in text.lower() or "read-only" in text.lower():
        return DatabaseError(
            f"The database {path} cannot be written (permission denied). "
            "Choose a writable location with --db, or fix the file's permissions."
        )
    return DatabaseError(f"The database {path} cannot be opened: {text.splitlines()[0]}")


def check_schema_not_newer(path: Path) -> None:
    """Refuse, without writing a byte, a file made by a newer release of this tool."""
    if not path.exists():
        return
    try:
        probe = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise _explain_open_failure(path, exc) from None
    try:
        version = _schema_version(probe)
    finally:
        probe.close()
    if version > LATEST_SCHEMA_VERSION:
        raise DatabaseError(
            f"The database {path} was written by a newer release (schema version {version}; "
            f"this release understands up to {LATEST_SCHEMA_VERSION}). Upgrade the dashboard "
            "to open it; the file has not been changed."
        )


@dataclass
class Database:
    """The process-wide connection to one DuckDB file, handing out per-thread cursors."""

    path: Path
    connection: duckdb.DuckDBPyConnection
    memory_limit: str = ""
    _local: threading.local = field(default_factory=threading.local, repr=False)
    write_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _loads_running: int = field(default=0, repr=False)
    _loads_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor; created on first use, reused afterwards."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self.connection.cursor()
            self._local.cursor = cur
            self._local.scope_key = None
        return cur

    def thread_state(self) -> threading.local:
        self.cursor()
        return self._local

    def data_version(self) -> int:
        value = self.cursor().execute(
            "select value from app_meta where key = 'data_version'"
        ).fetchone()[0]
        return int(value)

    def meta(self, key: str) -> str | None:
        row = self.cursor().execute("select value from app_meta where key = ?", [key]).fetchone()
        return row[0] if row else None

    @contextmanager
    def loading_memory(self):
        """Hold DuckDB to ``default_load_memory_limit()`` while a file loads, then give back the usual limit.

        A load stages and types every row of the file in temporary tables; under a
        lower limit DuckDB spills them to disk instead of holding gigabytes, so a
        ten-million-line upload does not take the memory the other sessions of a
        hosted dashboard are using. The limit is the database's, not the cursor's:
        concurrent loads share one lowered limit, and the last one to finish restores it.
        """
        limit = default_load_memory_limit()
        with self._loads_lock:
            if self._loads_running == 0 and limit:
                self.connection.execute("set memory_limit = $limit", {"limit": limit})
            self._loads_running += 1
        try:
            yield
        finally:
            with self._loads_lock:
                self._loads_running -= 1
                if self._loads_running == 0 and limit:
                    self.connection.execute("set memory_limit = $limit", {"limit": self.memory_limit})

    def close(self) -> None:
        self.connection.close()


def bump_data_version(con: duckdb.DuckDBPyConnection) -> None:
    """Call inside the load's transaction so cached results keyed by the old version go stale."""
    con.execute(
        "update app_meta set value = cast(cast(value as bigint) + 1 as varchar) "
        "where key = 'data_version'"
    )


def set_meta(con: duckdb.DuckDBPyConnection, key: str, value: str) -> None:
    con.execute("delete from app_meta where key = ?", [key])
    con.execute("insert into app_meta values (?, ?)", [key, value])


def default_threads() -> int:
    """DuckDB threads: ``CV_DUCKDB_THREADS``, else the cores this process may use."""
    configured = os.environ.get("CV_DUCKDB_THREADS", "").strip()
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_memory_limit() -> str:
    """DuckDB's memory limit: ``CV_DUCKDB_MEMORY_LIMIT`` (e.g. "8GB"), else a quarter of the machine's memory.

    DuckDB's own default is 80%; the app also holds pandas frames and Streamlit
    sessions in the same process. With half the machine a 100-million-line
    database's pages were killed for lack of memory (DuckDB's buffers plus five
    million customers' frames passed 24 GB), so DuckDB gets a quarter and
    spills to disk beyond it.
    """
    configured = os.environ.get("CV_DUCKDB_MEMORY_LIMIT", "").strip()
    if configured:
        return configured
    total = machine_memory_bytes()
    if total is None:
        return "4GB"
    return f"{max(1, total // 4 // 1024**2)}MB"


def machine_memory_bytes() -> int | None:
    """The machine's physical memory, or None where the system does not tell it."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def default_load_memory_limit() -> str:
    """DuckDB's memory limit while a file loads: ``CV_LOAD_MEMORY_LIMIT``, else 2.5 GB or the usual limit if lower.

    Measured on 10 million lines (BENCHMARKS.md): the loader's peak resident memory was
    4.8 GB under the usual limit and 2.9 GB under 2.5 GB, for about 10% more time.
    """
    configured = os.environ.get("CV_LOAD_MEMORY_LIMIT", "").strip()
    if configured:
        return configured
    usual = default_memory_limit()
    return usual if _megabytes(usual) < LOAD_MEMORY_LIMIT_MB else f"{LOAD_MEMORY_LIMIT_MB}MB"


LOAD_MEMORY_LIMIT_MB = 2560
_SIZE_UNITS_MB = {"KB": 1 / 1000, "KIB": 1 / 1024, "MB": 1, "MIB": 1, "GB": 1000, "GIB": 1024, "TB": 10**6,
                  "TIB": 1024**2}


def _megabytes(size: str) -> float:
    """'8GB' -> 8000; an unreadable size counts as unlimited, so the load limit applies."""
    text = size.strip().upper().replace(" ", "")
    number = text.rstrip("KMGTIB")
    unit = text[len(number):] or "MB"
    try:
        return float(number) * _SIZE_UNITS_MB[unit]
    except (ValueError, KeyError):
        return float("inf")


_BYTE_UNITS = {"": 1, "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4,
               "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3, "TIB": 1024**4}


def size_in_bytes(size: str) -> int:
    """'6GB' -> 6,000,000,000; '6GiB' -> 6 x 1024^3; ValueError for anything else (also 0, negative, inf)."""
    text = size.strip().upper().replace(" ", "")
    number = text.rstrip("KMGTIB")
    try:
        value = int(float(number) * _BYTE_UNITS[text[len(number):]])
    except (ValueError, KeyError, OverflowError):
        value = 0
    if value <= 0:
        raise ValueError(f"'{size}' is not a size such as 6GB, 6GiB or 4096MB")
    return value


_open_databases: dict[Path, Database] = {}
_open_lock = threading.Lock()


def connect(path: str | Path, *, threads: int | None = None, memory_limit: str | None = None) -> Database:
    """Open (creating and migrating if needed) the database at ``path``; one per process.

    DuckDB's allocator (jemalloc on Linux) keeps what a query freed until later allocations purge it; with
    its background threads it hands it back to the system within seconds. Without them the early-warning
    model of a 100-million-line database peaked at 11.5 GB, with them at 9.9 GB, in the same time
    (BENCHMARKS-100M.md); at 10 million lines a process held 1.9 GB after one query where 0.6 GB was in use.
    """
    resolved = Path(path).expanduser().resolve()
    with _open_lock:
        existing = _open_databases.get(resolved)
        if existing is not None:
            return existing
        check_schema_not_newer(resolved)
        if not resolved.parent.exists():
            try:
                resolved.parent.mkdir(parents=True)
            except OSError as exc:
                raise DatabaseError(
                    f"The folder for the database {resolved} cannot be created ({exc.strerror}). "
                    "Choose a writable location with --db."
                ) from None
        config = {"threads": str(threads or default_threads()), "memory_limit": memory_limit or default_memory_limit(),
                  "allocator_background_threads": "true"}
        try:
            con = duckdb.connect(str(resolved), config=config)
        except duckdb.Error as exc:
            raise _explain_open_failure(resolved, exc) from None
        try:
            _migrate(con)
        except duckdb.Error as exc:
            con.close()
            raise _explain_open_failure(resolved, exc) from None
        # Imported here: derive builds on this module (and on query, which imports it).
        from customer_value.derive import rebuild_if_models_changed

        try:
            rebuild_if_models_changed(con)
        except duckdb.Error as exc:
            con.close()
            raise _explain_open_failure(resolved, exc) from None
        database = Database(path=resolved, connection=con, memory_limit=config["memory_limit"])
        _open_databases[resolved] = database
        return database


def close_all() -> None:
    """Close every open database (tests and the command line use this to release file locks)."""
    with _open_lock:
        for database in _open_databases.values():
            database.close()
        _open_databases.clear()


def forget(path: str | Path) -> None:
    resolved = Path(path).expanduser().resolve()
    with _open_lock:
        database = _open_databases.pop(resolved, None)
    if database is not None:
        database.close()
