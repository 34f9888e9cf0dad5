"""The loader on hand-worked small files and on the real exports.

Every expected figure below is worked out by hand from the file written in the
test; the real-data tests compare with an independent pandas computation.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from customer_value import db as dbmod
from customer_value.cli import main
from customer_value.errors import UserFacingError
from customer_value.loader import (
    FIELDS,
    KINDS,
    MAX_UPLOAD_BYTES,
    ReadOptions,
    SheetChoiceNeeded,
    inspect_file,
    load_file,
    reading,
    suggest_mapping,
    validation,
)
from customer_value.loader.mapping import check_mapping
from customer_value.loader.reading import read_columns

ONLINE_RETAIL_HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"


@pytest.fixture()
def database(tmp_path):
    path = tmp_path / "loader.duckdb"
    yield dbmod.connect(path)
    dbmod.forget(path)


def write_file(folder: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


def load(db, path, kind="transactions", mapping=None, **options):
    read_options = ReadOptions(**options)
    if mapping is None:
        mapping = suggest_mapping(read_columns(path, read_options), kind)
    return load_file(db, path, kind, mapping, read_options)


def rows(db, sql, params=None):
    return db.cursor().execute(sql, params).fetchall()


# ---------------------------------------------------------------------------
# Fields and mapping


def test_kinds_and_required_fields_match_the_tables():
    assert KINDS == ("transactions", "customers", "feedback", "leads")
    required = {kind: [f.name for f in FIELDS[kind] if f.required] for kind in KINDS}
    assert required == {"transactions": ["customer_id", "order_date"], "customers": ["customer_id"],
                        "feedback": ["customer_id", "response_date"], "leads": ["lead_id"]}


def test_online_retail_columns_map_without_help():
    columns = ONLINE_RETAIL_HEADER.split(",")
    assert suggest_mapping(columns, "transactions") == {
        "InvoiceNo": "order_id", "StockCode": "product", "Quantity": "quantity", "InvoiceDate": "order_date",
        "UnitPrice": "unit_price", "CustomerID": "customer_id",
    }


def test_names_match_regardless_of_case_spaces_and_underscores():
    columns = ["Customer ID", "INVOICE_DATE", "unit price", "Qty", "Invoice", "Price"]
    assert suggest_mapping(columns, "transactions") == {
        "Customer ID": "customer_id", "INVOICE_DATE": "order_date", "unit price": "unit_price",
        "Qty": "quantity", "Invoice": "order_id",
    }


def test_chinese_headers_map_for_every_kind():
    assert suggest_mapping(["订单号", "客户编号", "订单日期", "金额", "数量", "单价", "成本", "产品名称"],
                           "transactions") == {
        "订单号": "order_id", "客户编号": "customer_id", "订单日期": "order_date", "金额": "amount",
        "数量": "quantity", "单价": "unit_price", "成本": "cost", "产品名称": "product",
    }
    assert suggest_mapping(["客户编号", "客户名称", "客户类型", "地区", "业务员", "流失日期"], "customers") == {
        "客户编号": "customer_id", "客户名称": "name", "客户类型": "customer_type", "地区": "region",
        "业务员": "sales_rep", "流失日期": "churn_date",
    }
    assert suggest_mapping(["客户编号", "日期", "满意度", "推荐值", "投诉", "意见"], "feedback") == {
        "客户编号": "customer_id", "日期": "response_date", "满意度": "csat", "推荐值": "nps",
        "投诉": "complaint", "意见": "comment",
    }


# ---------------------------------------------------------------------------
# Dates, numbers, encodings


def test_day_first_is_decided_by_a_later_row(tmp_path, database):
    # The first two dates read either way; 25/04 can only be day first.
    path = write_file(tmp_path, "dmy.csv", "InvoiceNo,CustomerID,InvoiceDate,Quantity,UnitPrice\n"
                      "A1,C1,01/02/2024,2,1.50\nA2,C2,03/04/2024,1,10.00\nA3,C1,25/04/2024,4,0.25\n")
    report = load(database, path)
    assert report.date_order == {"InvoiceDate": "DMY"}
    assert rows(database, "select order_id, order_date, amount from transactions order by order_id") == [
        ("A1", date(2024, 2, 1), Decimal("3.00")), ("A2", date(2024, 4, 3), Decimal("10.00")),
        ("A3", date(2024, 4, 25), Decimal("1.00")),
    ]


def test_month_first_is_decided_by_a_later_row(tmp_path, database):
    path = write_file(tmp_path, "mdy.csv", "InvoiceNo,CustomerID,InvoiceDate,Quantity,UnitPrice\n"
                      "A1,C1,02/01/2024 08:45,2,1.50\nA2,C2,04/03/2024 13:00,1,10.00\nA3,C1,04/25/2024 9:05,4,0.25\n")
    report = load(database, path)
    assert report.date_order == {"InvoiceDate": "MDY"}
    assert [row[0] for row in rows(database, "select order_date from transactions order by order_id")] == [
        date(2024, 2, 1), date(2024, 4, 3), date(2024, 4, 25)]


def test_date_order_can_be_overridden(tmp_path, database):
    path = write_file(tmp_path, "ambiguous.csv", "order_id,customer_id,order_date,amount\nA1,C1,01/02/2024,5\n")
    report = load(database, path, date_order="MDY")
    assert report.date_order == {"order_date": "MDY"}
    assert rows(database, "select order_date from transactions") == [(date(2024, 1, 2),)]


def test_iso_and_chinese_dates(tmp_path, database):
    path = write_file(tmp_path, "ymd.csv", "order_id,customer_id,order_date,amount\n"
                      "A1,C1,2024-03-05,1\nA2,C1,2024年3月6日,2\nA3,C1,20240307,3\nA4,C1,2024/3/8 10:00:00,4\n")
    report = load(database, path)
    assert report.date_order == {"order_date": "YMD"}
    assert [row[0] for row in rows(database, "select order_date from transactions order by order_id")] == [
        date(2024, 3, 5), date(2024, 3, 6), date(2024, 3, 7), date(2024, 3, 8)]


def test_decimal_commas_and_currency_symbols(tmp_path, database):
    # 1.234,50 + 12,5 - 3,25 = 1243.75
    path = write_file(tmp_path, "eu.csv", 'order_id;customer_id;order_date;amount\n'
                      'A1;C1;01.02.2024;"€ 1.234,50"\nA2;C1;13.02.2024;12,5\nA3;C2;14.02.2024;-3,25\n')
    report = load(database, path)
    assert report.delimiter == "semicolon"
    assert rows(database, "select amount from transactions order by order_id") == [
        (Decimal("1234.50"),), (Decimal("12.50"),), (Decimal("-3.25"),)]
    assert report.reconciliation["file_total"] == Decimal("1243.75")


def test_thousands_separators_and_accounting_negatives(tmp_path, database):
    path = write_file(tmp_path, "us.csv", 'order_id,customer_id,order_date,amount\n'
                      'A1,C1,2024-01-05,"$1,234.50"\nA2,C1,2024-01-06,"¥2,000"\nA3,C2,2024-01-07,(15.25)\n'
                      'A4,C2,2024-01-08,RMB 8.5\n')
    load(database, path)
    assert rows(database, "select amount from transactions order by order_id") == [
        (Decimal("1234.50"),), (Decimal("2000.00"),), (Decimal("-15.25"),), (Decimal("8.50"),)]


def test_trimming_shortcut_leaves_every_cell_as_trim_does(database):
    # trim removes spaces, including Unicode ones (no-break, ideographic), but not tabs.
    cells = [None, "", " ", "a", " a", "a ", "\u00a0a", "a\u3000", "\u2003", "\ta\t", "é", " é ", "a b", "12.5"]
    con = database.cursor()
    con.execute("create temp table cells as select unnest($cells) as c0", {"cells": cells})
    assert con.execute("select count(*) from cells where " + validation._trim("c0")
                       + " is distinct from trim(c0)").fetchone()[0] == 0


@pytest.mark.parametrize("text", [
    # Plain points with two decimals in one column; three-decimal quantities read either way.
    "order_id,customer_id,order_date,amount,quantity\nA1,C1,2024-03-05,12.50,1.500\nA2,C1,2024-03-06,3,2.000\n",
    # Decimal commas in one column make the file's ambiguous plain column (1.500) a comma column too.
    "order_id;customer_id;order_date;amount;quantity\nA1;C1;05.03.2024;12,5;1.500\nA2;C1;13.03.2024;3,25;2.000\n",
    # One date not in ISO form, spaces around cells, a no-break space after a number.
    "order_id,customer_id,order_date,amount,quantity\nA1,C1, 2024-03-05 ,12.5\u00a0,1\nA2,C1,2024-3-6,7.125,2\n",
    # Ten characters with "-" fifth that cast as dates (year 13) but start with a day or month to the detection.
    "order_id,customer_id,order_date,amount,quantity\nA1,C1,2024-01-05,1,1\nA2,C1,13-1-1 1:2,2,2\n",
    "order_id,customer_id,order_date,amount,quantity\nA1,C1,2024-01-05,1,1\nA2,C1,12-1-1 1:2,2,2\n",
    # Plain numbers with four decimals and an exponent; month-first dates.
    "order_id,customer_id,order_date,amount,quantity\nA1,C1,03/25/2024,1.2345,1e3\nA2,C1,03/26/2024,5,2\n",
])
def test_detection_fast_paths_decide_as_the_full_detection(tmp_path, database, monkeypatch, text):
    # The fast paths (whole ISO date columns, plain number columns) must give the very decisions
    # and notices of the full, regular-expression detection of every distinct value.
    path = write_file(tmp_path, "detect.csv", text)
    con = database.cursor()
    staged = reading.stage_file(con, path, ReadOptions())
    try:
        by_field = check_mapping(suggest_mapping(staged.columns, "transactions"), staged.columns, "transactions",
                                 path.name)
        assert any(validation._plain_columns(con, staged, ["order_date"], ["amount", "quantity"]))  # a fast path
        fast = validation.detect_columns(con, staged, "transactions", by_field, ReadOptions())
        monkeypatch.setattr(validation, "_plain_columns", lambda *arguments: (set(), set()))
        full = validation.detect_columns(con, staged, "transactions", by_field, ReadOptions())
        assert (fast.date_orders, fast.decimals, fast.notices) == (full.date_orders, full.decimals, full.notices)
    finally:
        staged.cleanup(con)


def test_gbk_chinese_file(tmp_path, database):
    text = ("订单号,客户编号,订单日期,金额,产品名称\n"
            "S001,学校甲,2024-05-01,1500.00,数学教材\nS002,学校乙,2024-05-02,980.50,语文练习册\n")
    path = write_file(tmp_path, "销售.csv", text, encoding="gbk")
    report = load(database, path)
    assert report.encoding == "gb18030"
    assert rows(database, "select customer_id, product, amount from transactions order by order_id") == [
        ("学校甲", "数学教材", Decimal("1500.00")), ("学校乙", "语文练习册", Decimal("980.50"))]


def test_latin1_file_and_encoding_override(tmp_path, database):
    text = "order_id,customer_id,order_date,amount,product\nA1,Müller,2024-01-05,10,Crème brûlée\n"
    path = write_file(tmp_path, "latin.csv", text, encoding="latin-1")
    report = load(database, path, encoding="latin-1")
    assert report.encoding == "latin-1"
    assert rows(database, "select customer_id, product from transactions") == [("Müller", "Crème brûlée")]


def test_byte_order_mark_does_not_stick_to_the_first_column(tmp_path, database):
    path = write_file(tmp_path, "bom.csv", "InvoiceNo,CustomerID,InvoiceDate,Quantity,UnitPrice\n"
                      "A1,C1,2024-01-05,1,2.00\n", encoding="utf-8-sig")
    report = load(database, path)
    assert report.encoding == "utf-8-sig"
    assert report.mapping["InvoiceNo"] == "order_id"
    assert rows(database, "select order_id from transactions") == [("A1",)]


def test_quoted_newlines_and_delimiters_inside_cells(tmp_path, database):
    path = write_file(tmp_path, "quoted.csv", 'order_id,customer_id,order_date,amount,product\n'
                      'A1,C1,2024-01-05,10,"Box, large\nwith lid"\nA2,C1,2024-01-06,5,"Say ""hi"""\n')
    report = load(database, path)
    assert report.rows_loaded == 2
    assert rows(database, "select product from transactions order by order_id") == [
        ("Box, large\nwith lid",), ('Say "hi"',)]


@pytest.mark.parametrize(("text", "line_end"), [
    (b"a,b\n1,2\n3,4\n", "\n"),
    (b"a,b\n1,2\n3,4", "\n"),                      # no line end after the last row
    (b"a,b\r\n1,2\r\n3,4\r\n", "\r\n"),             # Windows line ends
    (b"a,b\r\n1,2\r\n3,4", "\r\n"),
    (b"a,b\n1,2\n\n3,4\n", None),                   # blank line
    (b"a,b\r\n1,2\r\n\r\n3,4\r\n", None),           # blank line, Windows
    (b"a,b\n1,2\n \t \n3,4\n", None),               # line of spaces
    (b"a,b\n1,2\n3,4\n   ", None),                  # last line of spaces
    (b"a,b\n1,\"2\"\n", None),                       # a quote may hide a line break
    (b"a,b\r\n1,2\n", None),                        # both kinds of line end
    (b"a,b\n1,2\r3,4\n", None),                     # a carriage return inside a line
])
def test_file_scan_tells_when_every_line_is_one_record(tmp_path, monkeypatch, text, line_end):
    # Chunks of 3 bytes put every blank line and "\r\n" across a chunk boundary somewhere.
    monkeypatch.setattr(reading, "CHUNK_BYTES", 3)
    path = tmp_path / "scan.csv"
    path.write_bytes(text)
    scan = reading._scan_text_file(path)
    assert scan.line_end == line_end
    assert scan.utf8_valid


@pytest.mark.parametrize(("text", "valid"), [
    (b"a,\xc3\xa9,2\n", True),            # an "e" with acute accent split across two chunks
    (b"a,\xc3bcd\xa9\n", False),           # its two bytes apart, an ASCII chunk between them
    (b"a,b\n1\xc3,2\n", False),           # a character begun in one chunk, not continued by the next (ASCII)
    (b"a,b\n1,2\xc3", False),              # a character begun in the last chunk
    (b"a,b\n\xe4\xb8\xad,2\n", True),     # a three-byte character (Chinese) across chunks
    (b"a,b\n1,\xff\n", False),            # a byte that never occurs in UTF-8
])
def test_file_scan_tells_valid_utf8_across_chunks(tmp_path, monkeypatch, text, valid):
    # Chunks of 3 bytes split the characters; plain ASCII chunks skip the decoder unless it holds a part.
    monkeypatch.setattr(reading, "CHUNK_BYTES", 3)
    path = tmp_path / "utf8.csv"
    path.write_bytes(text)
    scan = reading._scan_text_file(path)
    assert scan.utf8_valid is valid
    assert scan.content_hash == hashlib.sha256(text).hexdigest()


def test_rows_of_empty_cells_are_blank_and_a_tab_or_letter_is_not(tmp_path, database):
    # A row is blank when every cell trims to nothing; trim removes Unicode spaces but not tabs.
    text = ("a,b,c,d\nx,1,2,3\n,,,\n , , , \n\u00a0,,,\u3000\n\t,,,\n,,,é\n, ,,y\n")
    path = write_file(tmp_path, "blank_cells.csv", text)
    con = database.cursor()
    staged = reading.stage_file(con, path, ReadOptions())
    try:
        kept = [row[0] for row in con.execute("select file_row from " + reading.STAGING_TABLE + " order by file_row")
                .fetchall()]
        assert (staged.rows, staged.blank_rows, kept) == (4, 3, [2, 6, 7, 8])
    finally:
        staged.cleanup(con)


def test_rows_keep_their_file_lines_with_and_without_blank_lines(tmp_path, database):
    header = "order_id,customer_id,order_date,amount\n"
    plain = write_file(tmp_path, "plain.csv", header + "A1,C1,2024-01-05,1\nA2,C1,2024-01-06,x\n")
    with_blank = write_file(tmp_path, "blank.csv", header + "\nB1,C1,2024-01-05,1\n\nB2,C1,2024-01-06,x\n")
    windows = write_file(tmp_path, "windows.csv", (header + "W1,C1,2024-01-05,1\nW2,C1,2024-01-06,x\n").replace(
        "\n", "\r\n"))
    assert load(database, plain).rejected_rows["file_row"].tolist() == [3]
    report = load(database, windows)
    assert report.rejected_rows[["file_row", "value"]].to_dict(orient="records") == [{"file_row": 3, "value": "x"}]
    assert rows(database, "select order_id, amount from transactions where order_id = 'W1'") == [("W1", 1)]
    report = load(database, with_blank)
    assert report.rejected_rows["file_row"].tolist() == [5]
    assert "2 blank row(s) ignored" in report.notices


# ---------------------------------------------------------------------------
# Duplicates, reloads, cancellations, reconciliation


def test_exact_duplicate_lines_are_skipped_and_counted(tmp_path, database):
    path = write_file(tmp_path, "dups.csv", ONLINE_RETAIL_HEADER + "\n"
                      "536370,22728,CLOCK,24,12/1/2010 8:45,3.75,12583,France\n"
                      "536370,22728,CLOCK,24,12/1/2010 8:45,3.75,12583,France\n"
                      "536370,22727,CLOCK RED,12,12/1/2010 8:45,3.75,12583,France\n")
    report = load(database, path)
    assert (report.rows_read, report.rows_loaded, report.duplicate_lines_skipped) == (3, 2, 1)
    # 24 x 3.75 = 90.00 loaded twice in the file, kept once; 12 x 3.75 = 45.00.
    assert report.reconciliation["duplicates"] == Decimal("90.00")
    assert report.reconciliation["loaded"] == Decimal("135.00")
    assert rows(database, "select sum(amount) from transactions") == [(Decimal("135.00"),)]


def test_loading_the_same_file_twice_changes_nothing(tmp_path, database):
    path = write_file(tmp_path, "once.csv", "order_id,customer_id,order_date,amount\n"
                      "A1,C1,2024-01-05,10\nA2,C2,2024-01-06,20\n")
    first = load(database, path)
    state = rows(database, "select count(*), sum(amount) from transactions")
    summary = rows(database, "select customer_id, revenue from customer_summary order by customer_id")
    second = load(database, path)
    assert (first.rows_loaded, second.rows_loaded, second.already_loaded_skipped) == (2, 0, 2)
    assert rows(database, "select count(*), sum(amount) from transactions") == state == [(2, Decimal("30.00"))]
    assert rows(database, "select customer_id, revenue from customer_summary order by customer_id") == summary
    assert any("loaded before" in notice for notice in second.notices)
    assert second.reconciliation["already_loaded"] == Decimal("30.00")


def test_overlapping_exports_load_only_the_new_lines(tmp_path, database):
    header = "order_id,line_no,customer_id,order_date,amount\n"
    january = write_file(tmp_path, "jan.csv", header + "A1,1,C1,2024-01-05,10\nA1,2,C1,2024-01-05,5\n"
                         "A2,1,C2,2024-01-31,7\n")
    # The second export restates A2 (same order and line) and adds A3.
    february = write_file(tmp_path, "feb.csv", header + "A2,1,C2,31/01/2024,7.00\nA3,1,C1,2024-02-02,4\n")
    load(database, january)
    report = load(database, february)
    assert (report.rows_loaded, report.already_loaded_skipped) == (1, 1)
    assert rows(database, "select count(*), sum(amount) from transactions") == [(4, Decimal("26.00"))]


def test_same_order_line_with_other_values_in_one_file_is_rejected(tmp_path, database):
    path = write_file(tmp_path, "conflict.csv", "order_id,line_no,customer_id,order_date,amount\n"
                      "A1,1,C1,2024-01-05,10\nA1,1,C1,2024-01-05,99\n")
    report = load(database, path)
    assert (report.rows_loaded, report.rows_rejected) == (1, 1)
    rejected = report.rejected_rows.iloc[0]
    assert rejected.file_row == 3
    assert rejected.reason == "same order and line as row 2 but different values"


def cancellation_file(folder):
    # 536370: 10 x 2.50 = 25.00; C536371 cancels 4 of them: -4 x 2.50 = -10.00; 536372: 3 x 1.10 = 3.30.
    return write_file(folder, "cancel.csv", ONLINE_RETAIL_HEADER + "\n"
                      "536370,22728,CLOCK,10,12/1/2010 8:45,2.50,12583,France\n"
                      "C536371,22728,CLOCK,-4,12/2/2010 9:00,2.50,12583,France\n"
                      "536372,22729,CUP,3,12/13/2010 9:00,1.10,12584,France\n")


def test_cancellations_are_netted_by_default(tmp_path, database):
    report = load(database, cancellation_file(tmp_path))
    assert report.cancellations == {"count": 1, "revenue": Decimal("-10.00"), "treatment": "net"}
    assert rows(database, "select sum(amount), count_if(is_cancellation) from transactions") == [
        (Decimal("18.30"), 1)]
    assert rows(database, "select revenue from customer_summary where customer_id = '12583'") == [
        (Decimal("15.00"),)]


def test_cancellations_can_be_excluded(tmp_path, database):
    report = load(database, cancellation_file(tmp_path), cancellations="exclude")
    assert report.cancellations == {"count": 1, "revenue": Decimal("-10.00"), "treatment": "exclude"}
    assert report.rows_loaded == 2
    assert rows(database, "select sum(amount), count_if(is_cancellation) from transactions") == [
        (Decimal("28.30"), 0)]


@pytest.mark.parametrize("repeated", [False, True])
def test_rows_are_stored_in_file_order(tmp_path, database, repeated):
    # 200,000 lines span two of DuckDB's row groups, so a parallel insert could interleave them. Without a
    # repeated line the rows go straight from the parsed table; with one, through the classification.
    lines = [f"Z{number:06d},C{number % 97},2024-01-05,{number % 50 + 1}" for number in range(200_000, 0, -1)]
    if repeated:
        lines.append(lines[0])
    path = write_file(tmp_path, "order.csv", "order_id,customer_id,order_date,amount\n" + "\n".join(lines) + "\n")
    report = load(database, path)
    assert (report.rows_loaded, report.duplicate_lines_skipped) == (200_000, int(repeated))
    stored = [row[0] for row in rows(database, "select order_id from transactions order by rowid")]
    assert stored == [line.split(",")[0] for line in lines[:200_000]]


def test_revenue_reconciles_to_the_cent(tmp_path, database):
    # Lines: 3 x 0.85 = 2.55; 7 x 1.25 = 8.75 (twice: one is a duplicate); a cancellation -1 x 2.55 = -2.55;
    # a line dated in 2099 (10 x 1.00 = 10.00, rejected); an anonymous line 2 x 0.99 = 1.98.
    path = write_file(tmp_path, "cents.csv", ONLINE_RETAIL_HEADER + "\n"
                      "1001,A,a,3,1/13/2011 10:00,0.85,1,UK\n"
                      "1002,B,b,7,1/13/2011 10:00,1.25,1,UK\n"
                      "1002,B,b,7,1/13/2011 10:00,1.25,1,UK\n"
                      "C1003,A,a,-1,1/14/2011 10:00,2.55,1,UK\n"
                      "1004,A,a,10,1/14/2099 10:00,1.00,2,UK\n"
                      "1005,C,c,2,1/15/2011 10:00,0.99,,UK\n")
    report = load(database, path)
    assert report.reconciliation == {
        "file_total": Decimal("29.48"), "loaded": Decimal("13.28"), "cancelled": Decimal("-2.55"),
        "rejected": Decimal("10.00"), "duplicates": Decimal("8.75"), "already_loaded": Decimal("0.00"),
        "difference": Decimal("0.00"), "in_database": Decimal("10.73"), "rejected_rows_without_amount": 0,
        "balanced": True,
    }
    assert report.rejected_by_reason == {"date is in the future": 1}
    assert report.rejected_rows.to_dict(orient="records") == [
        {"file_row": 6, "column": "InvoiceDate", "value": "1/14/2099 10:00", "reason": "date is in the future"}]
    assert report.rows_without_customer == {"count": 1, "revenue": Decimal("1.98")}


def test_anonymous_lines_stay_out_of_customer_metrics(tmp_path, database):
    path = write_file(tmp_path, "anon.csv", "order_id,customer_id,order_date,amount\n"
                      "A1,C1,2024-01-05,10\nA2,,2024-01-06,4.40\nA3,  ,2024-01-07,1.10\n")
    report = load(database, path)
    assert report.rows_without_customer == {"count": 2, "revenue": Decimal("5.50")}
    assert rows(database, "select count(*) from transactions where customer_id is null") == [(2,)]
    assert rows(database, "select customer_id, revenue from customer_summary") == [("C1", Decimal("10.00"))]


def test_amount_from_quantity_and_price_and_profit_from_cost(tmp_path, database):
    path = write_file(tmp_path, "cost.csv", "订单号,客户编号,订单日期,数量,单价,成本\n"
                      "S1,K1,2024-02-01,3,19.99,40.00\nS2,K1,2024-02-02,2,5,\n")
    load(database, path)
    # 3 x 19.99 = 59.97, profit 59.97 - 40.00 = 19.97; the second line has no cost: profit unknown.
    assert rows(database, "select amount, gross_profit from transactions order by order_id") == [
        (Decimal("59.97"), Decimal("19.97")), (Decimal("10.00"), None)]


# ---------------------------------------------------------------------------
# Other kinds and formats


def test_customers_feedback_and_leads_load(tmp_path, database):
    customers = write_file(tmp_path, "customers.csv", "客户编号,客户名称,客户类型,地区,业务员,流失日期\n"
                           "K1,第一中学,K-12 school,华东,张三,\nK2,职业学院,vocational school,华南,李四,2030-06-30\n")
    feedback = write_file(tmp_path, "feedback.csv", "客户编号,日期,满意度,推荐值,投诉,意见\n"
                          "K1,2024-03-01,5,9,否,很好\nK2,2024-03-02,7,3,是,太慢\nK2,2024-03-03,2,3,是,太慢\n")
    leads = write_file(tmp_path, "leads.csv", "lead_id,first_contact_date,contacts,customer_id,source\n"
                       "L1,2024-01-01,3,K1,Exhibition\nL2,,0,,Website\n")
    assert load(database, customers, "customers").rows_loaded == 2
    report = load(database, feedback, "feedback")
    assert (report.rows_loaded, report.rows_rejected) == (2, 1)
    assert report.rejected_rows.to_dict(orient="records") == [
        {"file_row": 3, "column": "满意度", "value": "7", "reason": "outside the allowed range 1 to 5"}]
    assert load(database, leads, "leads").rows_loaded == 2
    assert rows(database, "select customer_id, region, sales_rep, churn_date from customer_summary "
                          "order by customer_id") == [("K1", "华东", "张三", None), ("K2", "华南", "李四",
                                                                                      date(2030, 6, 30))]
    assert rows(database, "select customer_id, csat, nps, complaint from feedback order by response_date") == [
        ("K1", 5, 9, False), ("K2", 2, 3, True)]
    assert rows(database, "select lead_id, contacts, converted_customer_id from leads order by lead_id") == [
        ("L1", 3, "K1"), ("L2", 0, None)]


def write_workbook(path: Path, sheets: dict[str, list[list]]) -> Path:
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for title, table in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in table:
            sheet.append(row)
    workbook.save(path)
    return path


def test_excel_sheet_loads_and_several_sheets_ask_which(tmp_path, database):
    table = [["InvoiceNo", "CustomerID", "InvoiceDate", "Quantity", "UnitPrice"],
             [536370, 12583, pd.Timestamp("2010-12-01 08:45").to_pydatetime(), 24, 3.75],
             [536371, 12584.0, pd.Timestamp("2010-12-02").to_pydatetime(), 2, 1.5]]
    single = write_workbook(tmp_path / "one.xlsx", {"Orders": table})
    report = load(database, single)
    assert (report.format, report.sheet, report.rows_loaded) == ("excel", "Orders", 2)
    assert rows(database, "select order_id, customer_id, order_date, amount from transactions order by 1") == [
        ("536370", "12583", date(2010, 12, 1), Decimal("90.00")),
        ("536371", "12584", date(2010, 12, 2), Decimal("3.00"))]
    several = write_workbook(tmp_path / "two.xlsx", {"Orders": table, "Notes": [["note"], ["x"]]})
    with pytest.raises(SheetChoiceNeeded) as raised:
        load(database, several)
    assert raised.value.sheets == ["Orders", "Notes"]
    assert "two.xlsx" in str(raised.value) and "Orders, Notes" in str(raised.value)
    assert load(database, several, sheet="Orders").already_loaded_skipped == 2


def test_parquet_file_loads(tmp_path, database):
    frame = pd.DataFrame({"order_id": ["P1", "P2"], "customer_id": ["C1", "C2"],
                          "order_date": pd.to_datetime(["2024-06-01", "2024-06-02"]), "amount": [12.5, 7.25]})
    path = tmp_path / "orders.parquet"
    frame.to_parquet(path)
    report = load(database, path)
    assert (report.format, report.rows_loaded) == ("parquet", 2)
    assert rows(database, "select order_date, amount from transactions order by order_id") == [
        (date(2024, 6, 1), Decimal("12.50")), (date(2024, 6, 2), Decimal("7.25"))]


def test_inspect_file_shows_how_the_file_reads(tmp_path):
    path = write_file(tmp_path, "look.csv", "InvoiceNo,CustomerID,InvoiceDate,Quantity,UnitPrice,Country\n"
                      "A1,C1,01/02/2024,2,1.50,UK\nA2,C2,13/04/2024,x,10.00,UK\n")
    inspection = inspect_file(path, "transactions")
    assert (inspection.encoding, inspection.delimiter, inspection.row_count) == ("utf-8", "comma", 2)
    assert inspection.date_order == {"InvoiceDate": "DMY"}
    assert inspection.mapping_problem is None
    assert inspection.preview["amount"].tolist()[0] == 3.0
    assert inspection.preview["problem"].tolist() == ["", "Quantity: not a number"]
    assert "columns not used: Country" in inspection.notices


def test_inspect_file_reports_an_incomplete_mapping_without_failing(tmp_path):
    path = write_file(tmp_path, "partial.csv", "order_id,when,amount\nA1,2024-01-01,3\n")
    inspection = inspect_file(path, "transactions")
    assert "customer_id" in inspection.mapping_problem
    assert inspection.preview["order_id"].tolist() == ["A1"]


# ---------------------------------------------------------------------------
# Command line


def test_cli_prints_the_report_as_json_and_writes_rejected_rows(tmp_path, capsys):
    path = write_file(tmp_path, "cli.csv", "order_id,customer_id,order_date,amount\n"
                      "A1,C1,2024-01-05,10\nA2,C1,2024-01-06,=1+2\nA3,C2,2024-01-07,5\n")
    rejected_csv = tmp_path / "rejected.csv"
    db_path = tmp_path / "cli.duckdb"
    assert main(["load", str(path), "--kind", "transactions", "--db", str(db_path),
                 "--rejected-csv", str(rejected_csv)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["rows_loaded"], printed["rows_rejected"]) == (2, 1)
    assert printed["reconciliation"]["file_total"] == 15.0
    assert printed["rejected_examples"] == [
        {"file_row": 3, "column": "amount", "value": "=1+2", "reason": "not a number"}]
    written = rejected_csv.read_text(encoding="utf-8-sig").splitlines()
    assert written == ["file_row,column,value,reason", "3,amount,'=1+2,not a number"]
    dbmod.forget(db_path)


def test_cli_map_flag_corrects_the_mapping(tmp_path, capsys):
    path = write_file(tmp_path, "map.csv", "ref,client,day,total\nA1,C1,2024-01-05,10\n")
    db_path = tmp_path / "map.duckdb"
    assert main(["load", str(path), "--kind", "transactions", "--db", str(db_path), "--map", "ref=order_id",
                 "--map", "client=customer_id", "--map", "day=order_date"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["mapping"] == {"ref": "order_id", "client": "customer_id", "day": "order_date",
                                  "total": "amount"}
    assert main(["load", str(path), "--kind", "transactions", "--db", str(db_path), "--map", "nope=amount"]) == 2
    assert "no column 'nope'" in capsys.readouterr().err
    dbmod.forget(db_path)


def test_cli_uses_a_saved_preset(tmp_path, capsys):
    from customer_value.loader.presets import save_preset

    path = write_file(tmp_path, "preset.csv", "ref;client;day;total\nA1;C1;05/01/2024;10,5\n")
    db_path = tmp_path / "preset.duckdb"
    database = dbmod.connect(db_path)
    save_preset(database, "Shop monthly", "transactions",
                {"ref": "order_id", "client": "customer_id", "day": "order_date", "total": "amount"},
                ReadOptions(delimiter=";", date_order="DMY"), user="analyst")
    assert main(["load", str(path), "--kind", "transactions", "--db", str(db_path),
                 "--preset", "Shop monthly"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["rows_loaded"] == 1
    assert rows(database, "select order_date, amount from transactions") == [(date(2024, 1, 5), Decimal("10.50"))]
    dbmod.forget(db_path)


def test_upload_limit_is_200_megabytes():
    assert MAX_UPLOAD_BYTES == 200 * 1024 * 1024


def test_a_failure_midway_leaves_the_database_as_before(tmp_path, database, monkeypatch):
    first = write_file(tmp_path, "first.csv", "order_id,customer_id,order_date,amount\nA1,C1,2024-01-05,10\n")
    load(database, first)
    before = rows(database, "select (select count(*) from transactions), (select count(*) from load_batches), "
                            "(select value from app_meta where key = 'data_version')")

    def broken_refresh(con, customer_ids):
        raise UserFacingError("the derived tables could not be rebuilt")

    monkeypatch.setattr("customer_value.loader.loading.refresh_after_change", broken_refresh)
    second = write_file(tmp_path, "second.csv", "order_id,customer_id,order_date,amount\nB1,C2,2024-01-06,20\n")
    with pytest.raises(UserFacingError):
        load(database, second)
    assert rows(database, "select (select count(*) from transactions), (select count(*) from load_batches), "
                          "(select value from app_meta where key = 'data_version')") == before


def memory_limit_setting(db) -> str:
    return rows(db, "select current_setting('memory_limit')")[0][0]


def test_a_load_runs_under_the_load_memory_limit_and_gives_the_usual_one_back(tmp_path, monkeypatch):
    # 4000 MB usual, 1000 MB while loading: DuckDB reports them in GiB (3.7 and 953.6 MiB).
    monkeypatch.setenv("CV_LOAD_MEMORY_LIMIT", "1000MB")
    database = dbmod.connect(tmp_path / "limits.duckdb", memory_limit="4000MB")
    try:
        usual = memory_limit_setting(database)
        seen_while_loading = []
        path = write_file(tmp_path, "one.csv", "order_id,customer_id,order_date,amount\nA1,C1,2024-01-05,10\n")
        mapping = suggest_mapping(read_columns(path, ReadOptions()), "transactions")
        load_file(database, path, "transactions", mapping, None,
                  progress=lambda fraction, message: seen_while_loading.append(memory_limit_setting(database)))
        assert usual == "3.7 GiB"
        assert set(seen_while_loading[1:-1]) == {"953.6 MiB"}
        assert memory_limit_setting(database) == usual

        # A failed load gives the usual limit back too.
        bad = write_file(tmp_path, "bad.csv", "order_id,customer_id,order_date,amount\nA1,C1,not a date,10\n")
        with pytest.raises(UserFacingError):
            load(database, bad)
        assert memory_limit_setting(database) == usual
    finally:
        dbmod.forget(tmp_path / "limits.duckdb")


@pytest.mark.parametrize(("usual", "expected"), [("12000MB", "2560MB"), ("2GB", "2GB"), ("1.5GiB", "1.5GiB"),
                                                 ("8 GB", "2560MB"), ("lots", "2560MB")])
def test_the_load_memory_limit_never_raises_the_usual_one(monkeypatch, usual, expected):
    monkeypatch.delenv("CV_LOAD_MEMORY_LIMIT", raising=False)
    monkeypatch.setenv("CV_DUCKDB_MEMORY_LIMIT", usual)
    assert dbmod.default_load_memory_limit() == expected


# ---------------------------------------------------------------------------
# Real exports


def independent_view(path: Path) -> dict:
    """What the file holds, computed with pandas and Decimal, without the loader's code."""
    frame = pd.read_csv(path, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    line_revenue = [
        (Decimal(quantity) * Decimal(price)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        for quantity, price in zip(frame["Quantity"], frame["UnitPrice"], strict=True)
    ]
    frame["revenue"] = line_revenue
    unique = frame.drop_duplicates(subset=[c for c in frame.columns if c != "revenue"])
    identified = unique[unique["CustomerID"] != ""]
    per_customer = identified.groupby("CustomerID")["revenue"].apply(lambda values: sum(values, Decimal("0")))
    return {
        "rows": len(frame),
        "file_total": sum(line_revenue, Decimal("0")),
        "duplicates": len(frame) - len(unique),
        "loaded_total": sum(unique["revenue"], Decimal("0")),
        "cancelled_lines": int((unique["InvoiceNo"].str.startswith("C") | (unique["Quantity"].astype(int) < 0))
                               .sum()),
        "anonymous_lines": int((unique["CustomerID"] == "").sum()),
        "customers": per_customer.to_dict(),
    }


@pytest.mark.parametrize("file_name", ["france.csv", "germany.csv"])
def test_real_export_loads_reconciles_and_reloads_to_nothing(real_data_dir, tmp_path, database, file_name):
    path = real_data_dir / file_name
    expected = independent_view(path)
    mapping = suggest_mapping(read_columns(path), "transactions")
    report = load_file(database, path, "transactions", mapping)
    assert report.rows_read == expected["rows"]
    assert report.rows_rejected == 0
    assert report.duplicate_lines_skipped == expected["duplicates"]
    assert report.rows_loaded == expected["rows"] - expected["duplicates"]
    assert report.cancellations["count"] == expected["cancelled_lines"]
    assert report.rows_without_customer["count"] == expected["anonymous_lines"]
    assert report.reconciliation["file_total"] == expected["file_total"]
    assert report.reconciliation["balanced"]
    assert report.reconciliation["in_database"] == expected["loaded_total"]
    stored = dict(rows(database, "select customer_id, revenue from customer_summary"))
    assert {customer: Decimal(value) for customer, value in stored.items()} == expected["customers"]

    state = rows(database, "select count(*), sum(amount), max(order_date) from transactions")
    again = load_file(database, path, "transactions", mapping)
    assert again.rows_loaded == 0
    assert again.already_loaded_skipped == report.rows_loaded
    assert rows(database, "select count(*), sum(amount), max(order_date) from transactions") == state
    assert dict(rows(database, "select customer_id, revenue from customer_summary")) == stored


def test_both_real_exports_together(real_data_dir, database):
    total = Decimal("0")
    for file_name in ("france.csv", "germany.csv"):
        path = real_data_dir / file_name
        report = load_file(database, path, "transactions", suggest_mapping(read_columns(path), "transactions"))
        total += report.reconciliation["in_database"]
    assert rows(database, "select sum(amount) from transactions") == [(total,)]
    customers = rows(database, "select count(*) from customer_summary")[0][0]
    france = independent_view(real_data_dir / "france.csv")["customers"]
    germany = independent_view(real_data_dir / "germany.csv")["customers"]
    assert customers == len(set(france) | set(germany))


def test_tab_separated_file_with_header_lower_down_and_progress(tmp_path, database):
    path = write_file(tmp_path, "export.tsv", "Sales export\tMarch\n\n"
                      "Invoice\tCustomer ID\tDate\tTotal\nT1\tC1\t2024-03-01\t12.00\nT2\tC2\t2024-03-02\t8.00\n")
    steps = []
    mapping = suggest_mapping(read_columns(path, ReadOptions(header_row=3)), "transactions")
    report = load_file(database, path, "transactions", mapping, ReadOptions(header_row=3),
                       progress=lambda fraction, message: steps.append(fraction))
    assert (report.delimiter, report.rows_loaded) == ("tab", 2)
    assert rows(database, "select order_id, amount from transactions order by 1") == [
        ("T1", Decimal("12.00")), ("T2", Decimal("8.00"))]
    assert steps[0] == 0.0 and steps[-1] == 1.0 and steps == sorted(steps)
