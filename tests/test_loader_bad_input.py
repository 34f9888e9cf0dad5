"""Bad files: each gets a clear message naming the file (and row and column where there is one),
and nothing already in the database changes."""

from __future__ import annotations

import io
import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from customer_value import db as dbmod
from customer_value.errors import UserFacingError
from customer_value.loader import ReadOptions, SheetChoiceNeeded, load_file, suggest_mapping
from customer_value.loader.reading import read_columns

GOOD = "order_id,customer_id,order_date,amount\nA1,C1,2024-01-05,10\nA2,C2,2024-01-06,20\n"
TRANSACTION_MAPPING = {"order_id": "order_id", "customer_id": "customer_id", "order_date": "order_date",
                       "amount": "amount"}


@pytest.fixture()
def loaded_db(tmp_path):
    """A database already holding one good batch, which no bad file may touch."""
    path = tmp_path / "bad.duckdb"
    database = dbmod.connect(path)
    good = tmp_path / "good.csv"
    good.write_text(GOOD, encoding="utf-8")
    load_file(database, good, "transactions", TRANSACTION_MAPPING)
    yield database
    dbmod.forget(path)


def state(database) -> tuple:
    return database.cursor().execute(
        "select (select count(*) from transactions), (select sum(amount) from transactions), "
        "(select count(*) from load_batches), (select count(*) from customer_summary), "
        "(select value from app_meta where key = 'data_version')"
    ).fetchone()


def refused(database, path: Path, mapping=None, options: ReadOptions | None = None) -> str:
    """Load ``path``, expect a UserFacingError, check nothing changed; the message."""
    before = state(database)
    with pytest.raises(UserFacingError) as raised:
        load_file(database, path, "transactions", TRANSACTION_MAPPING if mapping is None else mapping, options)
    assert state(database) == before
    message = str(raised.value)
    assert message.startswith(path.name)
    return message


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def test_empty_file(tmp_path, loaded_db):
    assert "empty" in refused(loaded_db, write(tmp_path, "empty.csv", ""))


def test_header_only(tmp_path, loaded_db):
    message = refused(loaded_db, write(tmp_path, "header.csv", "order_id,customer_id,order_date,amount\n"))
    assert "no data rows" in message


def test_wrong_delimiter(tmp_path, loaded_db):
    path = write(tmp_path, "semicolons.csv", GOOD.replace(",", ";"))
    message = refused(loaded_db, path, options=ReadOptions(delimiter=","))
    assert "single column" in message and "semicolon" in message


def test_data_rows_split_differently_from_the_header(tmp_path, loaded_db):
    path = write(tmp_path, "mixed.csv", "order_id,customer_id,order_date,amount\nA1;C1;2024-01-05;10\n"
                 "A2;C2;2024-01-06;20\nA3;C3;2024-01-07;30\n")
    message = refused(loaded_db, path)
    assert "3 of 3 rows do not match the header" in message and "row 2" in message and "delimiter" in message


def test_image_renamed_csv(tmp_path, loaded_db):
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    assert "PNG image" in refused(loaded_db, write(tmp_path, "photo.csv", png))


def test_binary_file_renamed_csv(tmp_path, loaded_db):
    blob = bytes([7, 0, 3, 0, 255, 254, 0, 1]) * 200
    assert "binary" in refused(loaded_db, write(tmp_path, "data.csv", blob))


def test_required_column_missing(tmp_path, loaded_db):
    path = write(tmp_path, "nodate.csv", "order_id,customer_id,amount\nA1,C1,10\n")
    mapping = suggest_mapping(read_columns(path), "transactions")
    message = refused(loaded_db, path, mapping=mapping)
    assert "order_date" in message and "order_id, customer_id, amount" in message


def test_date_column_that_does_not_parse(tmp_path, loaded_db):
    path = write(tmp_path, "dates.csv", "order_id,customer_id,order_date,amount\nB1,C1,soon,10\nB2,C1,later,5\n"
                 "B3,C1,2024-01-05,5\n")
    message = refused(loaded_db, path)
    assert "2 of 3 rows cannot be loaded" in message
    assert "row 2, column 'order_date': 'soon'" in message and "not a date" in message


def test_future_dates_reject_the_row(tmp_path, loaded_db):
    path = write(tmp_path, "future.csv", "order_id,customer_id,order_date,amount\nB1,C1,2024-01-05,10\n"
                 "B2,C1,2999-01-01,5\nB3,C1,2024-01-06,1\n")
    report = load_file(loaded_db, path, "transactions", TRANSACTION_MAPPING)
    assert report.rejected_rows.to_dict(orient="records") == [
        {"file_row": 3, "column": "order_date", "value": "2999-01-01", "reason": "date is in the future"}]
    assert report.rows_loaded == 2


def test_only_future_dates_refuse_the_file(tmp_path, loaded_db):
    path = write(tmp_path, "allfuture.csv", "order_id,customer_id,order_date,amount\nB1,C1,2999-01-05,10\n")
    assert "date is in the future (row 2, column 'order_date'" in refused(loaded_db, path)


def test_mixed_type_column_rejects_the_odd_rows(tmp_path, loaded_db):
    path = write(tmp_path, "mixed.csv", "order_id,customer_id,order_date,amount\nB1,C1,2024-01-05,10\n"
                 "B2,C1,2024-01-05,ten\nB3,C1,2024-01-05,3.5kg\nB4,C1,2024-01-05,4\nB5,C1,2024-01-05,1\n")
    report = load_file(loaded_db, path, "transactions", TRANSACTION_MAPPING)
    assert report.rejected_rows.to_dict(orient="records") == [
        {"file_row": 3, "column": "amount", "value": "ten", "reason": "not a number"},
        {"file_row": 4, "column": "amount", "value": "3.5kg", "reason": "not a number"}]
    assert report.rejected_by_reason == {"not a number": 2}
    # The unreadable amounts cannot enter the file total: 10 + 4 + 1.
    assert report.reconciliation["file_total"] == Decimal("15.00")
    assert report.reconciliation["rejected_rows_without_amount"] == 2


def test_ragged_rows_are_rejected_with_their_row_number(tmp_path, loaded_db):
    path = write(tmp_path, "ragged.csv", "order_id,customer_id,order_date,amount\nB1,C1,2024-01-05,10\n"
                 "B2,C1,2024-01-05,7,extra\nB3,C1,2024-01-06\nB4,C1,2024-01-07,1\nB5,C1,2024-01-08,2\n")
    report = load_file(loaded_db, path, "transactions", TRANSACTION_MAPPING)
    assert report.rejected_rows[["file_row", "reason"]].to_dict(orient="records") == [
        {"file_row": 3, "reason": "row has 5 fields, the header has 4"},
        {"file_row": 4, "reason": "row has 3 fields, the header has 4"}]
    assert loaded_db.cursor().execute(
        "select order_id from transactions where batch_id = ? order by order_id", [report.batch_id]
    ).fetchall() == [("B1",), ("B4",), ("B5",)]


def test_rows_after_a_ragged_row_keep_their_row_numbers(tmp_path, loaded_db):
    path = write(tmp_path, "later.csv", "order_id,customer_id,order_date,amount\nB1,C1,2024-01-05,10\n"
                 "B2,C1,2024-01-05,7,extra\nB3,C1,2024-01-06,1\nB4,C1,2024-01-07,oops\n")
    report = load_file(loaded_db, path, "transactions", TRANSACTION_MAPPING)
    assert report.rejected_rows[["file_row", "value"]].to_dict(orient="records") == [
        {"file_row": 3, "value": "B2,C1,2024-01-05,7,extra"}, {"file_row": 5, "value": "oops"}]


def test_huge_and_non_numeric_amounts(tmp_path, loaded_db):
    path = write(tmp_path, "huge.csv", "order_id,customer_id,order_date,amount\nB1,C1,2024-01-05,10\n"
                 "B2,C1,2024-01-05,99999999999999999999999\nB3,C1,2024-01-05,N/A\nB4,C1,2024-01-05,1e30\n"
                 "B5,C1,2024-01-05,2\nB6,C1,2024-01-05,3\nB7,C1,2024-01-05,4\n")
    report = load_file(loaded_db, path, "transactions", TRANSACTION_MAPPING)
    assert report.rejected_rows[["file_row", "value", "reason"]].to_dict(orient="records") == [
        {"file_row": 3, "value": "99999999999999999999999", "reason": "number too large (a trillion or more)"},
        {"file_row": 4, "value": "N/A", "reason": "not a number"},
        {"file_row": 5, "value": "1e30", "reason": "number too large (a trillion or more)"}]
    assert report.rows_loaded == 4


def test_amounts_either_side_of_a_trillion(tmp_path, loaded_db):
    # Plain amounts take a 64-bit fast cast that holds every value below 10^12; at and above it they must
    # still be refused as too large, also when only the wider cast reads them ("1000000000000." has no
    # decimals, which the shape of a number wants).
    path = write(tmp_path, "trillion.csv", "order_id,customer_id,order_date,amount\n"
                 "T1,C1,2024-01-05,999999999999.99\nT2,C1,2024-01-05,1000000000000\n"
                 "T3,C1,2024-01-05,1000000000000.\nT4,C1,2024-01-05,-999999999999.994\n"
                 "T5,C1,2024-01-05,-1000000000000.5\nT6,C1,2024-01-05, 12.345678 \n"
                 # More than 18 digits written, a small value meant: read, not refused.
                 "T7,C1,2024-01-05,12345678901234e-2\nT8,C1,2024-01-05,-12345678901234E-3\n"
                 "T9,C1,2024-01-05,12345678901234e0\n")
    report = load_file(loaded_db, path, "transactions", TRANSACTION_MAPPING)
    too_large = "number too large (a trillion or more)"
    assert report.rejected_rows[["file_row", "value", "reason"]].to_dict(orient="records") == [
        {"file_row": 3, "value": "1000000000000", "reason": too_large},
        {"file_row": 4, "value": "1000000000000.", "reason": too_large},
        {"file_row": 6, "value": "-1000000000000.5", "reason": too_large},
        {"file_row": 10, "value": "12345678901234e0", "reason": too_large}]
    # -999999999999.994 rounds to the cent as -999999999999.99; 12.345678 (spaces trimmed) as 12.35;
    # 12345678901234e-2 = 123456789012.34; -12345678901234E-3 = -12345678901.234 -> -12345678901.23.
    assert loaded_db.cursor().execute(
        "select order_id, amount from transactions where order_id like 'T%' order by order_id").fetchall() == [
        ("T1", Decimal("999999999999.99")), ("T4", Decimal("-999999999999.99")), ("T6", Decimal("12.35")),
        ("T7", Decimal("123456789012.34")), ("T8", Decimal("-12345678901.23"))]


def test_quantity_times_price_overflow_is_rejected_not_crashed(tmp_path, loaded_db):
    path = write(tmp_path, "overflow.csv", "InvoiceNo,CustomerID,InvoiceDate,Quantity,UnitPrice\n"
                 "B1,C1,2024-01-05,999999999999,999999999999\nB2,C1,2024-01-05,1,1\nB3,C1,2024-01-05,2,2\n")
    mapping = suggest_mapping(read_columns(path), "transactions")
    report = load_file(loaded_db, path, "transactions", mapping)
    assert report.rejected_rows[["file_row", "column"]].to_dict(orient="records") == [
        {"file_row": 2, "column": "Quantity x UnitPrice"}]


def _workbook_bytes(sheets: list[str]) -> bytes:
    workbook = openpyxl.Workbook()
    workbook.active.title = sheets[0]
    workbook.active.append(["order_id", "customer_id", "order_date", "amount"])
    workbook.active.append(["X1", "C1", "2024-01-05", 3])
    for name in sheets[1:]:
        workbook.create_sheet(name).append(["a"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_workbook_with_several_sheets_asks_which(tmp_path, loaded_db):
    path = write(tmp_path, "book.xlsx", _workbook_bytes(["2024", "2025", "notes"]))
    before = state(loaded_db)
    with pytest.raises(SheetChoiceNeeded) as raised:
        load_file(loaded_db, path, "transactions", TRANSACTION_MAPPING)
    assert raised.value.sheets == ["2024", "2025", "notes"]
    assert "choose which one" in str(raised.value)
    assert state(loaded_db) == before
    with pytest.raises(SheetChoiceNeeded, match="no sheet '2026'"):
        load_file(loaded_db, path, "transactions", TRANSACTION_MAPPING, ReadOptions(sheet="2026"))


def test_macro_workbooks_are_refused(tmp_path, loaded_db):
    assert "macros" in refused(loaded_db, write(tmp_path, "book.xlsm", _workbook_bytes(["s"])))
    # A macro workbook renamed .xlsx still carries its VBA project.
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(_workbook_bytes(["s"]))) as source, zipfile.ZipFile(buffer, "w") as target:
        for item in source.infolist():
            target.writestr(item, source.read(item.filename))
        target.writestr("xl/vbaProject.bin", b"\x00" * 64)
    assert "macros" in refused(loaded_db, write(tmp_path, "renamed.xlsx", buffer.getvalue()))


def test_zip_bomb_is_refused(tmp_path, loaded_db):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\x00" * (40 * 1024 * 1024))
    message = refused(loaded_db, write(tmp_path, "bomb.xlsx", buffer.getvalue()))
    assert "zip bomb" in message


def test_plain_zip_and_old_excel_are_explained(tmp_path, loaded_db):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("orders.csv", GOOD)
    assert "unzip" in refused(loaded_db, write(tmp_path, "orders.zip", buffer.getvalue()))
    old = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512
    assert ".xls" in refused(loaded_db, write(tmp_path, "old.xls", old))


def test_file_over_the_limit(tmp_path, loaded_db):
    # 1.1 MB of orders against a 1 MB limit: refused as a whole, nothing loaded.
    rows = "".join(f"B{i},C{i % 50},2024-02-{1 + i % 28:02d},{i % 90 + 1}\n" for i in range(50_000))
    path = write(tmp_path, "big.csv", "order_id,customer_id,order_date,amount\n" + rows)
    assert 1024 * 1024 < path.stat().st_size < 1.2 * 1024 * 1024
    before = state(loaded_db)
    with pytest.raises(UserFacingError) as raised:
        load_file(loaded_db, path, "transactions", TRANSACTION_MAPPING, max_file_bytes=1024 * 1024)
    assert state(loaded_db) == before
    message = str(raised.value)
    assert message.startswith("big.csv: the file is 1 MB, over the 1 MB limit; split it")
    assert "--max-file-mb" in message


def test_the_command_line_can_raise_the_file_limit(tmp_path, loaded_db, capsys):
    from customer_value.cli import main as cli_main

    rows = "".join(f"B{i},C{i % 50},2024-02-{1 + i % 28:02d},{i % 90 + 1}\n" for i in range(50_000))
    path = write(tmp_path, "big.csv", "order_id,customer_id,order_date,amount\n" + rows)
    database_path = str(loaded_db.path)
    assert cli_main(["load", str(path), "--kind", "transactions", "--db", database_path, "--max-file-mb", "1"]) == 2
    assert "over the 1 MB limit" in capsys.readouterr().err
    assert cli_main(["load", str(path), "--kind", "transactions", "--db", database_path, "--max-file-mb", "2"]) == 0
    # 50,000 lines of amounts 1..90 cycling: 555 full cycles of 4,095 = 2,272,725, plus 1 + ... + 50 = 1,275.
    assert '"rows_loaded": 50000' in capsys.readouterr().out
    total = loaded_db.cursor().execute("select sum(amount) from transactions where order_id like 'B%'").fetchone()[0]
    assert total == Decimal("2274000")


def test_wrong_encoding_named_by_the_user(tmp_path, loaded_db):
    path = write(tmp_path, "gbk.csv", "订单号,客户编号,订单日期,金额\nS1,甲,2024-01-01,1\n".encode("gbk"))
    message = refused(loaded_db, path, options=ReadOptions(encoding="utf-8"))
    assert "not valid UTF-8" in message


def test_unknown_mapping_targets_and_options(tmp_path, loaded_db):
    path = write(tmp_path, "ok.csv", GOOD)
    assert "not a field" in refused(loaded_db, path, mapping={**TRANSACTION_MAPPING, "amount": "price_total"})
    assert "both mapped to order_id" in refused(loaded_db, path, mapping={**TRANSACTION_MAPPING,
                                                                         "customer_id": "order_id"})
    with pytest.raises(UserFacingError, match="date order"):
        ReadOptions(date_order="DDMM")
    with pytest.raises(UserFacingError, match="unknown kind"):
        load_file(loaded_db, path, "invoices", TRANSACTION_MAPPING)


def test_missing_file(tmp_path, loaded_db):
    with pytest.raises(UserFacingError, match="no such file"):
        load_file(loaded_db, tmp_path / "absent.csv", "transactions", TRANSACTION_MAPPING)


def test_an_empty_amount_cell_rejects_that_row_not_the_whole_load(loaded_db, tmp_path):
    # Found by the property test: an empty amount reached the NOT NULL column and failed the load.
    path = write(tmp_path, "gaps.csv",
                 "order_id,customer_id,order_date,amount\nB1,C1,2024-02-01,\nB2,C1,2024-02-02,7.5\n")
    report = load_file(loaded_db, path, "transactions", TRANSACTION_MAPPING)
    assert (report.rows_loaded, report.rows_rejected) == (1, 1)
    assert report.rejected_rows.iloc[0]["file_row"] == 2
    assert report.rejected_rows.iloc[0]["column"] == "amount"


def test_a_file_whose_amounts_are_all_empty_is_refused(loaded_db, tmp_path):
    path = write(tmp_path, "blank.csv",
                 "order_id,customer_id,order_date,amount\nB1,C1,2024-02-01,\nB2,C1,2024-02-02,\n")
    assert "amount" in refused(loaded_db, path)


def test_rows_are_named_by_the_line_they_start_on_after_quoted_line_breaks_and_blank_lines(tmp_path, loaded_db):
    # Lines (a text editor's numbering):   1 header, 2 B1, 3 blank, 4-5 B2 (quoted line break),
    # 6 B3 (bad date), 7 B4 (ragged), 8-10 B5 (two quoted line breaks), 11 blank, 12 B6 (bad amount).
    path = write(tmp_path, "lines.csv",
                 "order_id,customer_id,order_date,amount,product\n"
                 "B1,C1,2024-01-05,10,plain\n"
                 "\n"
                 'B2,C1,2024-01-06,20,"two\nlines"\n'
                 "B3,C1,2024-13-45,30,plain\n"
                 "B4,C1,2024-01-07,40,plain,extra\n"
                 'B5,C1,2024-01-08,50,"three\r\nlines\nhere"\n'
                 "\n"
                 "B6,C1,2024-01-09,ten,plain\n")
    report = load_file(loaded_db, path, "transactions", {**TRANSACTION_MAPPING, "product": "product"})
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (6, 3, 3)
    assert report.rejected_rows[["file_row", "column", "value"]].to_dict(orient="records") == [
        {"file_row": 6, "column": "order_date", "value": "2024-13-45"},
        {"file_row": 7, "column": "", "value": "B4,C1,2024-01-07,40,plain,extra"},
        {"file_row": 12, "column": "amount", "value": "ten"}]
    assert report.rejected_rows.loc[1, "reason"] == "row has 6 fields, the header has 5"
    assert "2 blank row(s) ignored" in report.notices
    products = loaded_db.cursor().execute(
        "select product from transactions where order_id in ('B2', 'B5') order by order_id").fetchall()
    assert products == [("two\nlines",), ("three\r\nlines\nhere",)]


def test_a_stray_carriage_return_rejects_its_row_by_line_and_the_rest_loads(tmp_path, loaded_db):
    # Line 3 has a carriage return in an unquoted cell; the one inside quotes on line 4 is data.
    path = write(tmp_path, "cr.csv",
                 "order_id,customer_id,order_date,amount\r\n"
                 "B1,C1,2024-01-05,10\r\n"
                 "B2,C1\r,2024-01-06,20\r\n"
                 'B3,"C\r3",2024-01-07,30\r\n'
                 "B4,C1,2024-01-08,40\r\n")
    report = load_file(loaded_db, path, "transactions", TRANSACTION_MAPPING)
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (4, 3, 1)
    rejected = report.rejected_rows.iloc[0]
    assert rejected.file_row == 3
    assert "carriage return" in rejected.reason
    assert report.reconciliation["file_total"] == Decimal("80.00")


def test_a_quote_never_closed_names_the_line_it_opens_on(tmp_path, loaded_db):
    path = write(tmp_path, "open_quote.csv",
                 'order_id,customer_id,order_date,amount\nB1,C1,2024-01-05,10\nB2,"C1,2024-01-06,20\nB3,C1,2024-01-07,5\n')
    message = refused(loaded_db, path)
    assert "line 3" in message and "quote" in message


def test_old_mac_line_endings_are_named(tmp_path, loaded_db):
    path = write(tmp_path, "mac.csv", "order_id,customer_id,order_date,amount\rB1,C1,2024-01-05,10\r")
    assert "line endings" in refused(loaded_db, path)


def test_a_quote_inside_an_unquoted_cell_is_an_ordinary_character(tmp_path, loaded_db):
    # Found by the property test: a quote in the middle of a cell (5" screen) opens no quoted cell,
    # so the next lines are rows of their own and keep their line numbers.
    path = write(tmp_path, "inch.csv", 'order_id,customer_id,order_date,amount,product\n'
                 'B1,C1,2024-01-05,10,5" screen\nB2,C1,2024-01-06,20,plain\nB3,C1,2024-01-07,x,plain\n')
    report = load_file(loaded_db, path, "transactions", {**TRANSACTION_MAPPING, "product": "product"})
    assert (report.rows_read, report.rows_loaded) == (3, 2)
    assert report.rejected_rows.iloc[0]["file_row"] == 4
    assert loaded_db.cursor().execute("select product from transactions where order_id = 'B1'").fetchone() == \
        ('5" screen',)
