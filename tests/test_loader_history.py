"""Load history, undo and mapping presets (customer_value/loader/history.py, presets.py, commands/batches.py)."""

from __future__ import annotations

import json
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hst

from customer_value import db as dbmod
from customer_value.cli import main as cli_main
from customer_value.dataset import data_range
from customer_value.errors import UserFacingError
from customer_value.loader.history import list_batches, undo_batch
from customer_value.loader.presets import delete_preset, get_preset, list_presets, save_preset
from tests.builders import d, tiny_database

CHECKED_TABLES = ("transactions", "customers", "feedback", "leads", "load_batches",
                  "customer_dim", "customer_days", "customer_month", "customer_summary", "answer_days",
                  "customer_periods", "movement_events", "revenue_movement_months", "retention_cells")


def database_state(database: dbmod.Database, ignore_batch: int = 0) -> dict:
    """Row counts and an order-free fingerprint (sum of row hashes) of every data and derived table.

    ``ignore_batch`` leaves that batch's own history row out: undo marks it undone, and must change nothing else.
    """
    con = database.cursor()
    state = {}
    for table in CHECKED_TABLES:
        # Table names are the constants above.
        state[table] = con.execute(
            f"select count(*), coalesce(sum(hash(t)), 0) from {table} t "
            + ("where batch_id <> $ignore" if table == "load_batches" else ""),
            {"ignore": ignore_batch} if table == "load_batches" else {},
        ).fetchone()
    state["meta"] = con.execute(
        "select key, value from app_meta where key <> 'data_version' order by key").fetchall()
    state["revenue"] = con.execute("select sum(amount) from transactions where customer_id is not null").fetchone()
    return state


def add_hand_batch(database: dbmod.Database) -> int:
    """A batch touching every table, written by hand: two orders (one a new customer, one past the demo's
    last day), a restated demo customer moved to another region, a survey answer and a lead."""
    con = database.cursor()
    con.execute("begin transaction")
    batch_id = con.execute("select nextval('batch_id_seq')").fetchone()[0]
    con.execute("insert into load_batches (batch_id, kind, source_name, content_hash, rows_read, rows_loaded, "
                "loaded_at, loaded_by) values (?, 'transactions', 'hand.csv', 'h', 5, 5, current_timestamp, 'test')",
                [batch_id])
    con.execute("insert into transactions values (md5_number('hand1'), 'H1', 1, 'C00001', ?, 1234.56, 1, null, "
                "null, null, false, ?)", [d("2026-01-15"), batch_id])
    con.execute("insert into transactions values (md5_number('hand2'), 'H2', 1, 'NEW1', ?, 99.99, 1, 10, "
                "null, null, false, ?)", [d("2025-06-01"), batch_id])
    con.execute("insert into customers values (md5_number('handc'), 'C00001', 'Renamed', 'University', 'West', "
                "'Someone Else', null, null, null, null, ?)", [batch_id])
    con.execute("insert into feedback values (md5_number('handf'), 'HF1', 'C00002', ?, 'service', 5, 10, false, "
                "null, null, ?)", [d("2025-06-02"), batch_id])
    con.execute("insert into leads values (md5_number('handl'), 'HL1', ?, 2, null, 'Website', ?)",
                [d("2025-06-03"), batch_id])
    from customer_value.derive import refresh_after_change

    refresh_after_change(con, None)
    dbmod.bump_data_version(con)
    con.execute("commit")
    return batch_id


def test_undo_restores_every_table_exactly(writable_demo_db):
    before = database_state(writable_demo_db)
    version_before = writable_demo_db.data_version()
    batch_id = add_hand_batch(writable_demo_db)
    with_batch = database_state(writable_demo_db)
    assert with_batch != before
    # The restated customer wins while the batch is in force, and the data now ends on the new order's day.
    region = writable_demo_db.cursor().execute(
        "select region from customer_dim where customer_id = 'C00001'").fetchone()[0]
    assert region == "West"
    assert data_range(writable_demo_db).end == d("2026-01-15")

    result = undo_batch(writable_demo_db, batch_id, "analyst a")

    assert result["rows_removed"] == {"transactions": 2, "customers": 1, "feedback": 1, "leads": 1}
    # C00001 (order and restatement), NEW1 (order), C00002 (answer); the lead converted nobody.
    assert result["customers_affected"] == 3
    assert result["undone_by"] == "analyst a"
    assert database_state(writable_demo_db, ignore_batch=batch_id) == before
    assert data_range(writable_demo_db).end == d("2025-12-31")
    assert writable_demo_db.data_version() == version_before + 2
    history = list_batches(writable_demo_db)
    undone = history.loc[history["batch_id"] == batch_id].iloc[0]
    assert undone["status"].startswith("undone ")
    assert history.loc[history["batch_id"] == 1, "status"].item() == "in force"
    report = json.loads(writable_demo_db.cursor().execute(
        "select report_json from load_batches where batch_id = ?", [batch_id]).fetchone()[0])
    assert report["undo"]["undone_by"] == "analyst a"


def test_undone_or_unknown_batch_is_refused_and_changes_nothing(writable_demo_db):
    batch_id = add_hand_batch(writable_demo_db)
    undo_batch(writable_demo_db, batch_id, "a")
    state = database_state(writable_demo_db)
    version = writable_demo_db.data_version()
    with pytest.raises(UserFacingError, match=f"Batch {batch_id} .* already undone"):
        undo_batch(writable_demo_db, batch_id, "a")
    with pytest.raises(UserFacingError, match="There is no load batch 999"):
        undo_batch(writable_demo_db, 999, "a")
    with pytest.raises(UserFacingError, match="not a batch number"):
        undo_batch(writable_demo_db, "seven", "a")
    assert database_state(writable_demo_db) == state
    assert writable_demo_db.data_version() == version


def test_undoing_the_demo_batch_empties_the_data(writable_demo_db):
    result = undo_batch(writable_demo_db, 1, "admin")
    assert result["kind"] == "demo"
    assert result["rows_removed"]["transactions"] > 100_000
    con = writable_demo_db.cursor()
    for table in ("transactions", "customers", "feedback", "leads", "customer_summary"):
        assert con.execute(f"select count(*) from {table}").fetchone()[0] == 0
    assert data_range(writable_demo_db) is None


def test_history_of_a_new_database_is_empty(tmp_path):
    database = dbmod.connect(tmp_path / "new.duckdb")
    try:
        assert list_batches(database).empty
        assert list_presets(database).empty
    finally:
        dbmod.forget(tmp_path / "new.duckdb")


def test_cli_lists_batches_and_undoes_one(writable_demo_db, capsys):
    path = str(writable_demo_db.path)
    batch_id = add_hand_batch(writable_demo_db)
    before_undo = database_state(writable_demo_db)

    assert cli_main(["batches", "--db", path, "--json"]) == 0
    history = json.loads(capsys.readouterr().out)
    assert [row["batch_id"] for row in history] == [batch_id, 1]
    assert history[0]["source_name"] == "hand.csv" and history[0]["rows_loaded"] == 5
    assert history[0]["status"] == "in force" and history[0]["undone_at"] is None
    assert history[1]["kind"] == "demo" and history[1]["loaded_at"] == "2025-12-31 00:00:00"

    # The demo batch needs --yes; without it nothing changes.
    assert cli_main(["undo", "1", "--db", path]) == 2
    assert "--yes" in capsys.readouterr().err
    assert database_state(writable_demo_db) == before_undo

    assert cli_main(["undo", str(batch_id), "--db", path, "--user", "night job"]) == 0
    out = capsys.readouterr().out
    assert f"Undid batch {batch_id} (hand.csv): removed 2 transactions, 1 customers, 1 feedback, 1 leads" in out
    assert cli_main(["undo", str(batch_id), "--db", path]) == 2
    assert "already undone" in capsys.readouterr().err

    assert cli_main(["batches", "--db", path]) == 0
    text = capsys.readouterr().out
    assert "undone " in text and "in force: demo company" in text and "night job" not in text


def test_cli_undo_of_an_unknown_batch_says_so(writable_demo_db, capsys):
    assert cli_main(["undo", "42", "--db", str(writable_demo_db.path)]) == 2
    assert "There is no load batch 42" in capsys.readouterr().err


def test_load_then_undo_leaves_every_total_as_before(writable_demo_db, tmp_path):
    from customer_value.loader import load_file, suggest_mapping
    from tests.test_page_load_data import EXPORT

    path = tmp_path / "shop_export.csv"
    path.write_bytes(EXPORT)
    before = database_state(writable_demo_db)
    mapping = suggest_mapping(["InvoiceNo", "Line", "CustomerID", "InvoiceDate", "Quantity", "Amount"], "transactions")
    report = load_file(writable_demo_db, path, "transactions", mapping, user="analyst a")
    assert (report.rows_loaded, report.already_loaded_skipped) == (5, 1)
    assert database_state(writable_demo_db) != before

    result = undo_batch(writable_demo_db, report.batch_id, "analyst a")

    # Only the five lines the batch wrote leave; the demo line the file repeated (SO0000001/1) stays.
    assert result["rows_removed"] == {"transactions": 5, "customers": 0, "feedback": 0, "leads": 0}
    assert database_state(writable_demo_db, ignore_batch=report.batch_id) == before
    assert writable_demo_db.cursor().execute(
        "select amount from transactions where order_id = 'SO0000001' and line_no = 1").fetchone()[0] == \
        Decimal("185.49")
    # Loading the same file again after the undo brings the same rows back under a new batch.
    again = load_file(writable_demo_db, path, "transactions", mapping, user="analyst a")
    assert (again.rows_loaded, again.already_loaded_skipped) == (5, 1)


def test_undo_warns_when_a_later_batch_relied_on_the_undone_rows(writable_demo_db, tmp_path):
    from customer_value.loader import load_file, suggest_mapping
    from tests.test_page_load_data import EXPORT

    path = tmp_path / "shop_export.csv"
    path.write_bytes(EXPORT)
    mapping = suggest_mapping(["InvoiceNo", "Line", "CustomerID", "InvoiceDate", "Quantity", "Amount"], "transactions")
    first = load_file(writable_demo_db, path, "transactions", mapping)
    second = load_file(writable_demo_db, path, "transactions", mapping, source_name="shop_export_copy.csv")
    assert second.rows_loaded == 0 and second.already_loaded_skipped == 6
    result = undo_batch(writable_demo_db, first.batch_id, "a")
    assert len(result["notices"]) == 1
    assert f"Batch {second.batch_id} (shop_export_copy.csv) skipped 6 rows as already loaded" in result["notices"][0]


# ---------------------------------------------------------------------------
# presets


def test_preset_round_trip(writable_demo_db):
    from customer_value.loader import ReadOptions

    mapping = {"InvoiceNo": "order_id", "客户编号": "customer_id", "InvoiceDate": "order_date", "金额": "amount",
               "Remarks": ""}
    saved = save_preset(writable_demo_db, "  Shop export 月度  ", "transactions", mapping,
                        ReadOptions(encoding="gb18030", date_order="DMY"), "ana")
    assert saved["name"] == "Shop export 月度" and saved["replaced"] is False

    got_mapping, got_options = get_preset(writable_demo_db, "Shop export 月度", "transactions")
    assert got_mapping == {"InvoiceNo": "order_id", "客户编号": "customer_id", "InvoiceDate": "order_date",
                           "金额": "amount"}
    assert got_options == {"encoding": "gb18030", "delimiter": None, "date_order": "DMY", "decimal": None,
                           "sheet": None, "cancellations": "net", "header_row": None}
    assert ReadOptions(**got_options) == ReadOptions(encoding="gb18030", date_order="DMY")

    listed = list_presets(writable_demo_db, "transactions")
    assert listed["name"].tolist() == ["Shop export 月度"]
    assert listed["mapped_columns"].tolist() == [4] and listed["saved_by"].tolist() == ["ana"]
    assert "InvoiceNo → order_id" in listed.loc[0, "mapping"]
    assert list_presets(writable_demo_db, "customers").empty

    # Saving under the same name and kind replaces; the same name for another kind is another preset.
    again = save_preset(writable_demo_db, "Shop export 月度", "transactions", {"Invoice": "order_id",
                        "Customer": "customer_id"}, {"cancellations": "exclude"}, "bo")
    assert again["replaced"] is True
    save_preset(writable_demo_db, "Shop export 月度", "customers", {"Customer": "customer_id"}, None, "bo")
    assert len(list_presets(writable_demo_db)) == 2
    assert get_preset(writable_demo_db, "Shop export 月度", "transactions") == (
        {"Invoice": "order_id", "Customer": "customer_id"},
        {"encoding": None, "delimiter": None, "date_order": None, "decimal": None, "sheet": None,
         "cancellations": "exclude", "header_row": None})

    delete_preset(writable_demo_db, "Shop export 月度", "transactions")
    assert list_presets(writable_demo_db)["kind"].tolist() == ["customers"]
    with pytest.raises(UserFacingError, match="no transactions preset named 'Shop export 月度'"):
        delete_preset(writable_demo_db, "Shop export 月度", "transactions")
    with pytest.raises(UserFacingError, match="no transactions preset named 'Other'.*none saved yet"):
        get_preset(writable_demo_db, "Other", "transactions")


@pytest.mark.parametrize("name, problem", [
    ("", "Give the preset a name"),
    ("   ", "Give the preset a name"),
    ("x" * 61, "61 characters long"),
    ("=HYPERLINK(1)", "characters a name cannot hold"),
    ("monthly; drop table", "characters a name cannot hold"),
    ("two\nlines", "characters a name cannot hold"),
    ("-leading dash", "characters a name cannot hold"),
])
def test_bad_preset_names_are_refused(writable_demo_db, name, problem):
    with pytest.raises(UserFacingError, match=problem):
        save_preset(writable_demo_db, name, "transactions", {"CustomerID": "customer_id"}, None, "ana")
    assert list_presets(writable_demo_db).empty


def test_bad_preset_contents_are_refused_naming_the_problem(writable_demo_db):
    def save(mapping, options=None, kind="transactions"):
        save_preset(writable_demo_db, "Monthly", kind, mapping, options, "ana")

    with pytest.raises(UserFacingError, match="field 'revenue_total' .*column 'Sales'.*not a field of a transactions"):
        save({"CustomerID": "customer_id", "Sales": "revenue_total"})
    with pytest.raises(UserFacingError, match="field 'csat' .*not a field of a customers file"):
        save({"Score": "csat"}, kind="customers")
    with pytest.raises(UserFacingError, match="'customer_id' is mapped from two columns, 'A' and 'B'"):
        save({"A": "customer_id", "B": "customer_id"})
    with pytest.raises(UserFacingError, match="maps no column"):
        save({"A": "", "B": None})
    with pytest.raises(UserFacingError, match="Unknown read option quote"):
        save({"A": "customer_id"}, {"quote": "'"})
    with pytest.raises(UserFacingError, match="date order must be one of"):
        save({"A": "customer_id"}, {"date_order": "DDMM"})
    with pytest.raises(UserFacingError, match="Unknown kind of file 'orders'"):
        save({"A": "customer_id"}, kind="orders")
    assert list_presets(writable_demo_db).empty


def test_a_saved_preset_loads_next_months_export(writable_demo_db, tmp_path):
    """The use the preset exists for: a semicolon, day-first, decimal-comma export mapped once, loaded again."""
    from customer_value.loader import ReadOptions, load_file

    export = (b"Beleg;Kunde;Datum;Umsatz\n"
              b"R1;K1;03/02/2025;1.234,50\n"
              b"R2;K2;04/02/2025;99,95\n")
    path = tmp_path / "march.csv"
    path.write_bytes(export)
    save_preset(writable_demo_db, "German shop", "transactions",
                {"Beleg": "order_id", "Kunde": "customer_id", "Datum": "order_date", "Umsatz": "amount"},
                ReadOptions(delimiter=";", date_order="DMY", decimal=","), "ana")
    mapping, options = get_preset(writable_demo_db, "German shop", "transactions")
    report = load_file(writable_demo_db, path, "transactions", mapping, ReadOptions(**options))
    assert report.rows_loaded == 2
    rows = writable_demo_db.cursor().execute(
        "select order_id, order_date, amount from transactions where batch_id = ? order by order_id",
        [report.batch_id]).fetchall()
    # 03/02/2025 day first is 3 February; 1.234,50 with a decimal comma is 1234.50.
    assert [(order, day.isoformat(), float(amount)) for order, day, amount in rows] == [
        ("R1", "2025-02-03", 1234.50), ("R2", "2025-02-04", 99.95)]


def test_cli_load_with_a_preset_then_batches_and_undo(writable_demo_db, tmp_path, capsys):
    path = str(writable_demo_db.path)
    export = tmp_path / "march.csv"
    export.write_bytes(b"Beleg;Kunde;Datum;Umsatz\nR1;K1;03/02/2025;1.234,50\nR2;K2;04/02/2025;99,95\n")
    save_preset(writable_demo_db, "German shop", "transactions",
                {"Beleg": "order_id", "Kunde": "customer_id", "Datum": "order_date", "Umsatz": "amount"},
                {"delimiter": ";", "date_order": "DMY", "decimal": ","}, "ana")
    before = database_state(writable_demo_db)

    assert cli_main(["load", str(export), "--kind", "transactions", "--preset", "German shop", "--db", path]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows_loaded"] == 2 and report["reconciliation"]["file_total"] == 1334.45

    assert cli_main(["batches", "--db", path, "--json"]) == 0
    newest = json.loads(capsys.readouterr().out)[0]
    assert (newest["batch_id"], newest["source_name"], newest["rows_loaded"]) == (report["batch_id"], "march.csv", 2)

    assert cli_main(["undo", str(report["batch_id"]), "--db", path, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows_removed"]["transactions"] == 2
    assert database_state(writable_demo_db, ignore_batch=report["batch_id"]) == before


# ---------------------------------------------------------------------------
# property: however files overlap and in whatever order their batches are undone, undoing them all
# gives back exactly the database they were loaded into


# Order lines with some anonymous ones (number % 7 == 0) and some returns (negative amounts).
_LINES = [f"O{number // 2},{number % 2 + 1},{'K' + str(number % 5) if number % 7 else ''},"
          f"2025-0{number % 9 + 1}-1{number % 10},{(number * 37) % 500 - 40}.{number % 100:02d}"
          for number in range(24)]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files=hst.lists(hst.lists(hst.integers(0, len(_LINES) - 1), min_size=1, max_size=10), min_size=1, max_size=4),
       undo_order=hst.randoms(use_true_random=False))
def test_undoing_every_batch_in_any_order_restores_the_database(files, undo_order):
    from customer_value.loader import load_file

    with tempfile.TemporaryDirectory() as folder:
        database = tiny_database(Path(folder) / "tiny.duckdb", transactions=[("K1", d("2025-01-05"), 100)],
                                 customers=[("K1", "University", "West", "Rep A", None)])
        try:
            before = database_state(database)
            batches = []
            for number, picks in enumerate(files):
                path = Path(folder) / f"file{number}.csv"
                path.write_text("InvoiceNo,Line,CustomerID,InvoiceDate,Amount\n"
                                + "\n".join(_LINES[pick] for pick in picks) + "\n")
                report = load_file(database, path, "transactions", {"InvoiceNo": "order_id", "Line": "line_no",
                                   "CustomerID": "customer_id", "InvoiceDate": "order_date", "Amount": "amount"})
                assert report.rows_rejected == 0
                assert (report.rows_loaded + report.duplicate_lines_skipped + report.already_loaded_skipped
                        == len(picks))
                batches.append(report.batch_id)
            assert database_state(database) != before
            undo_order.shuffle(batches)
            for batch_id in batches:
                undo_batch(database, batch_id, "property")
            state = database_state(database)
            # Only the undone batches' own history rows differ (they are marked undone).
            state["load_batches"] = before["load_batches"] = None
            assert state == before
            assert set(list_batches(database).loc[lambda frame: frame["batch_id"].isin(batches), "status"]
                       .str.slice(0, 6)) == {"undone"}
        finally:
            dbmod.forget(Path(folder) / "tiny.duckdb")


def test_the_stored_report_of_a_batch_is_shown_from_the_history(writable_demo_db, tmp_path, capsys):
    from customer_value.loader import load_file, suggest_mapping
    from customer_value.loader.history import batch_report

    # Worked by hand: line 2 loads (2 x 5.00), line 3 is rejected (no date), line 4 is a cancellation.
    path = tmp_path / "april.csv"
    path.write_text("InvoiceNo,CustomerID,InvoiceDate,Quantity,UnitPrice\nR1,C00001,2024-04-02,2,5.00\n"
                    "R2,C00001,,1,3.00\nCR3,C00001,2024-04-03,-1,5.00\n", encoding="utf-8")
    mapping = suggest_mapping(["InvoiceNo", "CustomerID", "InvoiceDate", "Quantity", "UnitPrice"], "transactions")
    report = load_file(writable_demo_db, path, "transactions", mapping, user="analyst a")
    stored = batch_report(writable_demo_db, report.batch_id)
    assert (stored["file"], stored["rows_read"], stored["rows_loaded"], stored["rows_rejected"]) == \
        ("april.csv", 3, 2, 1)
    assert stored["mapping"] == {"InvoiceNo": "order_id", "CustomerID": "customer_id", "InvoiceDate": "order_date",
                                 "Quantity": "quantity", "UnitPrice": "unit_price"}
    assert stored["reconciliation"]["file_total"] == 8.0 and stored["reconciliation"]["balanced"] is True
    assert stored["rejected_examples"] == [
        {"file_row": 3, "column": "InvoiceDate", "value": None, "reason": "required value is empty"}]
    # After an undo the stored report says who undid it; the demo batch has the history's counts.
    undo_batch(writable_demo_db, report.batch_id, "analyst b")
    assert batch_report(writable_demo_db, report.batch_id)["undo"]["undone_by"] == "analyst b"
    assert batch_report(writable_demo_db, 1)["kind"] == "demo"
    with pytest.raises(UserFacingError, match="no load batch 99"):
        batch_report(writable_demo_db, 99)

    assert cli_main(["batches", "--db", str(writable_demo_db.path), "--report", str(report.batch_id)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["mapping"] == stored["mapping"] and printed["undo"]["undone_by"] == "analyst b"
