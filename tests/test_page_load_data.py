"""The Load data page (pages/load_data.py) end to end: upload, map, load, report, history, undo, permissions."""

from __future__ import annotations

from datetime import date

import pytest

from customer_value import query
from customer_value.access import User
from customer_value.dataset import data_range
from customer_value.loader.history import list_batches
from tests.conftest import APP_PATH, PROJECT_DIR

NOT_MAPPED = "— not in the file —"

# A small transactions export, every line's fate counted by hand:
#   T100/1, T100/2, T101/1   loaded (two new customers)          100.50 + 20.25 + 300.00 = 420.75
#                            (T101 on 2026-01-15, after the demo's last day 2025-12-31)
#   T101/1 again             exact duplicate line, skipped        300.00
#   CT100/1                  cancellation (C invoice, qty -1), netted   -20.25
#   T102/1                   no customer id: loaded as anonymous   55.55
#   T103/1                   date 'not a date': rejected           10.00
#   SO0000001/1              the demo's first line: already loaded 185.49
# rows read 8, loaded 5 (420.75 + 55.55 = 476.30 plus the cancellation), rejected 1, duplicates 1,
# already loaded 1; file total 951.54 = 476.30 - 20.25 + 10.00 + 300.00 + 185.49.
EXPORT = (
    b"InvoiceNo,Line,CustomerID,InvoiceDate,Quantity,Amount\n"
    b"T100,1,NEWCUST1,2025-12-01,2,100.50\n"
    b"T100,2,NEWCUST1,2025-12-01,1,20.25\n"
    b"T101,1,NEWCUST2,2026-01-15,3,300.00\n"
    b"T101,1,NEWCUST2,2026-01-15,3,300.00\n"
    b"CT100,1,NEWCUST1,2025-12-03,-1,-20.25\n"
    b"T102,1,,2025-12-04,1,55.55\n"
    b"T103,1,NEWCUST2,not a date,1,10.00\n"
    b"SO0000001,1,C00001,2021-01-08,7,185.49\n"
)


@pytest.fixture()
def writable_app_test(writable_demo_db, monkeypatch):
    """An AppTest of app.py on a private copy of the demo database, so the test may load and undo."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("CV_DB_PATH", str(writable_demo_db.path))
    query.clear_cache()
    return AppTest.from_file(APP_PATH, default_timeout=180)


def open_load_page(at):
    at.run()
    at.switch_page("pages/load_data.py")
    at.run()
    assert not at.exception
    return at


def metrics(at) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


def table_with(at, *columns: str):
    """The dataframe on screen holding these columns (read-only dataframes carry no key in AppTest)."""
    for element in at.dataframe:
        if set(columns) <= set(element.value.columns):
            return element.value
    raise AssertionError(f"no table with columns {columns}")


def texts(elements) -> str:
    return " ".join(element.value for element in elements)


def test_upload_map_load_report_and_undo(writable_app_test, writable_demo_db):
    at = open_load_page(writable_app_test)
    assert any("Drop an export file" in info.value for info in at.info)
    assert table_with(at, "batch_id", "status")["batch_id"].tolist() == [1]

    at.selectbox(key="load_kind").set_value("transactions")
    at.file_uploader(key="load_upload").set_value(("shop_export.csv", EXPORT, "text/csv"))
    at.run()
    assert not at.exception, at.exception
    # The columns were mapped from their names alone.
    assert at.selectbox(key="load_map_order_id").value == "InvoiceNo"
    assert at.selectbox(key="load_map_line_no").value == "Line"
    assert at.selectbox(key="load_map_customer_id").value == "CustomerID"
    assert at.selectbox(key="load_map_order_date").value == "InvoiceDate"
    assert at.selectbox(key="load_map_amount").value == "Amount"
    preview = table_with(at, "file_row", "problem")
    assert preview["file_row"].tolist()[:3] == [2, 3, 4]
    assert preview.loc[preview["file_row"] == 8, "problem"].item() != ""

    at.button(key="load_button").click()
    at.run()
    assert not at.exception, at.exception
    shown = metrics(at)
    assert shown["Rows read"] == "8"
    assert shown["Rows loaded"] == "5"
    assert shown["Rows rejected"] == "1"
    assert shown["Duplicate lines skipped"] == "1"
    assert shown["Already loaded, skipped"] == "1"
    assert shown["Cancellation / return lines"] == "1"
    assert shown["Cancelled revenue"] == "-20.25"
    assert shown["Lines without customer id"] == "1"
    assert shown["Revenue without customer id"] == "55.55"
    reconciliation = texts(at.success)
    assert ("File total 951.54 = loaded 476.30 + cancelled -20.25 + rejected 10.00 + duplicate lines 300.00 "
            "+ already loaded 185.49: reconciled to the cent.") in reconciliation
    rejected = table_with(at, "file_row", "column", "value", "reason")
    assert rejected["file_row"].tolist() == [8]
    assert rejected["column"].tolist() == ["InvoiceDate"]
    assert at.download_button(key="load_rejected_csv") is not None

    history = table_with(at, "batch_id", "status")
    assert history["batch_id"].tolist() == [2, 1]
    assert history.loc[0, "source_name"] == "shop_export.csv" and history.loc[0, "rows_loaded"] == 5
    mapping_line = next(text.value for text in at.markdown if text.value.startswith("**Mapping used:**"))
    for pair in ("InvoiceNo → order_id", "Line → line_no", "CustomerID → customer_id", "InvoiceDate → order_date",
                 "Quantity → quantity", "Amount → amount"):
        assert pair in mapping_line
    # The report stored with the batch can be opened from the history and says the same.
    at.toggle(key="report_toggle").set_value(True)
    at.run()
    at.selectbox(key="report_choice").set_value(2)
    at.run()
    assert not at.exception, at.exception
    figures = table_with(at, "Figure", "Value")
    assert dict(zip(figures["Figure"], figures["Value"], strict=True)) == {
        "Rows read": "8", "Rows loaded": "5", "Rows rejected": "1", "Duplicate lines skipped": "1",
        "Already loaded, skipped": "1", "Cancellation / return lines": "1", "Cancelled revenue": "-20.25",
        "Lines without customer id": "1", "Revenue without customer id": "55.55"}
    assert texts(at.success).count("File total 951.54 = loaded 476.30 + cancelled -20.25") == 2
    stored_rejects = [frame.value for frame in at.dataframe if "file_row" in frame.value.columns]
    assert stored_rejects[-1]["file_row"].tolist() == [8]
    # The rest of the app sees the new data at once: the sidebar's data range now ends on T101's day.
    assert "Data from 2021-01-08 to 2026-01-15." in texts(at.sidebar.caption)
    customers = writable_demo_db.cursor().execute(
        "select count(*) from customer_summary where customer_id in ('NEWCUST1', 'NEWCUST2')").fetchone()[0]
    assert customers == 2

    at.selectbox(key="undo_choice").set_value(2)
    at.button(key="undo_ask").click()
    at.run()
    assert "Undo batch 2 (shop_export.csv)?" in texts(at.warning)
    at.button(key="undo_confirm").click()
    at.run()
    assert not at.exception, at.exception
    assert "Undid batch 2 (shop_export.csv): removed 5 transactions." in texts(at.success)
    history = table_with(at, "batch_id", "status")
    assert history.loc[0, "status"].startswith("undone ")
    assert history.loc[1, "status"] == "in force"
    assert "Data from 2021-01-08 to 2025-12-31." in texts(at.sidebar.caption)
    undoable = at.selectbox(key="undo_choice").options
    assert len(undoable) == 1 and undoable[0].startswith("Batch 1: demo company")
    remaining = writable_demo_db.cursor().execute(
        "select count(*) from transactions where customer_id in ('NEWCUST1', 'NEWCUST2') or order_id = 'T102'"
    ).fetchone()[0]
    assert remaining == 0


def test_undoing_the_demo_batch_asks_first_and_empties_the_app(writable_app_test, writable_demo_db):
    at = open_load_page(writable_app_test)
    at.button(key="undo_ask").click()
    at.run()
    assert "This is the demo company" in texts(at.warning)
    at.button(key="undo_cancel").click()
    at.run()
    assert list_batches(writable_demo_db)["status"].tolist() == ["in force"]
    at.button(key="undo_ask").click()
    at.run()
    at.button(key="undo_confirm").click()
    at.run()
    assert not at.exception, at.exception
    assert data_range(writable_demo_db) is None
    # The sidebar knows at once: no filters, the empty-data notice instead.
    assert "No transactions loaded yet." in texts(at.sidebar.info)
    assert "Every batch has been undone." in texts(at.caption)


def test_a_viewer_is_told_they_cannot_load(writable_app_test, monkeypatch, demo_db):
    monkeypatch.setenv("CV_ROLE", "viewer")
    at = writable_app_test.run()
    assert not at.exception
    # A viewer's menu has no Load data page ...
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/load_data.py")
    # ... and the page itself refuses if opened anyway.
    from streamlit.testing.v1 import AppTest

    from ui.context import PageContext

    page = AppTest.from_file(str(PROJECT_DIR / "pages" / "load_data.py"), default_timeout=60)
    page.session_state["_page_context"] = PageContext(db=demo_db, filters=None, user=User("Vic", role="viewer"))
    page.run()
    assert not page.exception
    assert "needs the analyst or admin role" in texts(page.warning)
    assert not page.file_uploader and not page.button


def test_a_custom_range_past_the_new_last_day_survives_an_undo(writable_app_test):
    at = open_load_page(writable_app_test)
    at.file_uploader(key="load_upload").set_value(("shop_export.csv", EXPORT, "text/csv"))
    at.run()
    at.button(key="load_button").click()
    at.run()
    at.selectbox(key="f_period").set_value("custom")
    at.run()
    at.date_input(key="f_range").set_value((date(2025, 1, 1), date(2026, 1, 15)))
    at.run()
    at.selectbox(key="undo_choice").set_value(2)
    at.button(key="undo_ask").click()
    at.run()
    at.button(key="undo_confirm").click()
    at.run()
    assert not at.exception, at.exception
    # The data now ends on 2025-12-31 again, and the range picked before is cut to fit it.
    assert at.date_input(key="f_range").value == (date(2025, 1, 1), date(2025, 12, 31))


# Next month's export from a German web shop: headers no synonym knows, semicolons, day-first dates,
# decimal commas. Revenue by hand: 1,234.50 + 99.95 = 1,334.45.
GERMAN_EXPORT = (
    b"Beleg;Kunde;Datum;Umsatz\n"
    b"R1;K1;03/02/2025;1.234,50\n"
    b"R2;K2;04/02/2025;99,95\n"
)


def test_map_by_hand_save_a_preset_and_apply_it_to_the_next_export(writable_app_test):
    at = open_load_page(writable_app_test)
    at.file_uploader(key="load_upload").set_value(("march.csv", GERMAN_EXPORT, "text/csv"))
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="load_delimiter").options[0] == "detected: semicolon"
    # Nothing is recognised, so the required fields are unmapped and Load is not offered yet.
    assert at.selectbox(key="load_map_customer_id").value == NOT_MAPPED
    assert "required field(s) customer_id, order_date" in texts(at.warning)
    assert at.button(key="load_button").disabled

    for field_name, column in (("order_id", "Beleg"), ("customer_id", "Kunde"), ("order_date", "Datum"),
                               ("amount", "Umsatz")):
        at.selectbox(key=f"load_map_{field_name}").set_value(column)
    at.selectbox(key="load_date_order").set_value("DMY")
    at.selectbox(key="load_decimal").set_value(",")
    at.run()
    assert not at.exception, at.exception
    preview = table_with(at, "file_row", "problem")
    assert [str(day)[:10] for day in preview["order_date"]] == ["2025-02-03", "2025-02-04"]
    assert [float(amount) for amount in preview["amount"]] == [1234.50, 99.95]
    at.text_input(key="load_preset_name").input("German shop")
    at.button(key="load_preset_save").click()
    at.run()
    assert "Saved the transactions preset 'German shop' (4 columns)." in texts(at.success)

    # April's file: same layout. The widgets start from the (empty) suggestion until the preset is applied.
    at.file_uploader(key="load_upload").set_value(("april.csv", GERMAN_EXPORT.replace(b"R1;", b"R3;")
                                                   .replace(b"R2;", b"R4;"), "text/csv"))
    at.run()
    assert at.selectbox(key="load_map_order_id").value == NOT_MAPPED
    at.selectbox(key="load_preset_choice").set_value("German shop")
    at.button(key="load_preset_apply").click()
    at.run()
    assert not at.exception, at.exception
    assert "Applied the preset 'German shop'." in texts(at.info)
    assert at.selectbox(key="load_map_amount").value == "Umsatz"
    assert at.selectbox(key="load_date_order").value == "DMY"
    at.button(key="load_button").click()
    at.run()
    assert not at.exception, at.exception
    shown = metrics(at)
    assert (shown["Rows read"], shown["Rows loaded"], shown["Rows rejected"]) == ("2", "2", "0")
    assert ("File total 1,334.45 = loaded 1,334.45 + cancelled 0.00 + rejected 0.00 + duplicate lines 0.00 "
            "+ already loaded 0.00: reconciled to the cent.") in texts(at.success)


def test_a_chinese_gbk_export_is_mapped_and_loaded(writable_app_test, writable_demo_db):
    export = ("订单号,客户编号,订单日期,金额\n"
              "X1,新客户1,2025-11-02,\"1,200.00\"\n"
              "X2,新客户1,2025-11-20,¥300.50\n").encode("gb18030")
    at = open_load_page(writable_app_test)
    at.file_uploader(key="load_upload").set_value(("客户订单.csv", export, "text/csv"))
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="load_encoding").options[0].startswith("detected: gb")
    mapped = [at.selectbox(key=f"load_map_{name}").value
              for name in ("order_id", "customer_id", "order_date", "amount")]
    assert mapped == ["订单号", "客户编号", "订单日期", "金额"]
    at.button(key="load_button").click()
    at.run()
    assert not at.exception, at.exception
    assert metrics(at)["Rows loaded"] == "2"
    revenue = writable_demo_db.cursor().execute(
        "select revenue from customer_summary where customer_id = '新客户1'").fetchone()[0]
    assert float(revenue) == 1500.50


def test_a_picture_renamed_csv_gets_a_clear_message_and_loads_nothing(writable_app_test, writable_demo_db):
    at = open_load_page(writable_app_test)
    at.file_uploader(key="load_upload").set_value(
        ("orders.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "text/csv"))
    at.run()
    assert not at.exception, at.exception
    assert "orders.csv" in texts(at.error) and "PNG" in texts(at.error)
    assert not [button for button in at.button if button.key == "load_button"]
    assert list_batches(writable_demo_db)["batch_id"].tolist() == [1]


def test_a_workbook_with_several_sheets_asks_which_one(writable_app_test, tmp_path):
    from openpyxl import Workbook

    workbook = Workbook()
    notes = workbook.active
    notes.title = "Notes"
    notes.append(["Exported by the shop"])
    orders = workbook.create_sheet("Orders")
    orders.append(["InvoiceNo", "CustomerID", "InvoiceDate", "Amount"])
    orders.append(["W1", "WB1", date(2025, 10, 1), 45.5])
    orders.append(["W2", "WB1", date(2025, 10, 9), 54.5])
    path = tmp_path / "book.xlsx"
    workbook.save(path)

    at = open_load_page(writable_app_test)
    at.file_uploader(key="load_upload").set_value(
        ("book.xlsx", path.read_bytes(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))
    at.run()
    assert not at.exception, at.exception
    assert "Notes" in texts(at.warning) and "Orders" in texts(at.warning)
    at.selectbox(key="load_sheet").set_value("Orders")
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="load_map_customer_id").value == "CustomerID"
    at.button(key="load_button").click()
    at.run()
    assert not at.exception, at.exception
    assert metrics(at)["Rows loaded"] == "2"
    assert "File total 100.00 = loaded 100.00" in texts(at.success)


@pytest.fixture()
def fresh_app_test(tmp_path, monkeypatch):
    """An AppTest of app.py on a new, empty database (nothing loaded, no derived tables yet)."""
    from streamlit.testing.v1 import AppTest

    from customer_value import db as dbmod

    path = tmp_path / "fresh.duckdb"
    monkeypatch.setenv("CV_DB_PATH", str(path))
    query.clear_cache()
    yield AppTest.from_file(APP_PATH, default_timeout=300)
    dbmod.forget(path)


def test_real_export_into_an_empty_database_and_again(fresh_app_test, real_data_dir):
    import pandas as pd

    raw = (real_data_dir / "france.csv").read_bytes()
    # Independent count: pandas reads the file its own way; revenue of a line is Quantity x UnitPrice.
    frame = pd.read_csv(real_data_dir / "france.csv", encoding="utf-8-sig", dtype={"CustomerID": str})
    file_total = (frame["Quantity"] * frame["UnitPrice"]).round(2).sum()
    days = pd.to_datetime(frame["InvoiceDate"], format="%m/%d/%Y %H:%M")

    at = open_load_page(fresh_app_test)
    assert "No transactions loaded yet." in texts(at.sidebar.info)
    assert any("Nothing has been loaded into this database yet" in info.value for info in at.info)
    at.file_uploader(key="load_upload").set_value(("france.csv", raw, "text/csv"))
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="load_date_order").options[0].startswith("detected: month first")
    at.button(key="load_button").click()
    at.run()
    assert not at.exception, at.exception
    shown = metrics(at)
    assert shown["Rows read"] == f"{len(frame):,}"
    counted = sum(int(shown[label].replace(",", "")) for label in (
        "Rows loaded", "Rows rejected", "Duplicate lines skipped", "Already loaded, skipped"))
    assert counted == len(frame)
    assert f"File total {file_total:,.2f} = loaded " in texts(at.success)
    assert "reconciled to the cent" in texts(at.success)
    assert f"Data from {days.min():%Y-%m-%d} to {days.max():%Y-%m-%d}." in texts(at.sidebar.caption)
    loaded = shown["Rows loaded"]

    # The same file again: every line is already loaded, nothing changes.
    at.button(key="load_button").click()
    at.run()
    assert not at.exception, at.exception
    again = metrics(at)
    assert again["Rows loaded"] == "0"
    assert again["Already loaded, skipped"] == loaded
    assert "This exact file was loaded before (batch 1" in texts(at.info)


def test_a_wrong_delimiter_is_explained_and_can_be_put_right(writable_app_test, writable_demo_db):
    at = open_load_page(writable_app_test)
    at.file_uploader(key="load_upload").set_value(("shop_export.csv", EXPORT, "text/csv"))
    at.run()
    # A hand-made change to the suggested mapping (quantity left out) ...
    at.selectbox(key="load_map_quantity").set_value(NOT_MAPPED)
    at.run()
    at.selectbox(key="load_delimiter").set_value("|")
    at.run()
    assert not at.exception, at.exception
    assert "shop_export.csv: with the pipe delimiter the file has a single column" in texts(at.error)
    assert not [button for button in at.button if button.key == "load_button"]
    # The reading options stay on screen, so the choice can be undone right there.
    at.button(key="load_reset_options").click()
    at.run()
    assert not at.error
    assert at.selectbox(key="load_map_customer_id").value == "CustomerID"
    # ... survives the runs in which the file could not be read.
    assert at.selectbox(key="load_map_quantity").value == NOT_MAPPED
    assert list_batches(writable_demo_db)["batch_id"].tolist() == [1]


def test_a_big_file_previews_a_changed_mapping_from_its_first_lines(writable_app_test):
    # About 17 MB: above the size from which a changed mapping is previewed from a sample.
    lines = [b"InvoiceNo,CustomerID,InvoiceDate,Amount,Memo"]
    lines += [b"B%07d,K%04d,15/03/2025,%d.25,note" % (number, number % 3000, number % 900 + 1)
              for number in range(480_000)]
    export = b"\n".join(lines) + b"\n"
    assert len(export) > 16 * 1024 * 1024
    at = open_load_page(writable_app_test)
    at.file_uploader(key="load_upload").set_value(("big.csv", export, "text/csv"))
    at.run()
    assert not at.exception, at.exception
    assert "big.csv: 480,000 data rows" in texts(at.caption)
    # Day first was decided from the whole column (15/03 cannot be month first).
    assert at.selectbox(key="load_date_order").options[0] == "detected: day first (31/12/2024)"
    at.selectbox(key="load_map_product").set_value("Memo")
    at.run()
    assert not at.exception, at.exception
    assert "the preview reads the file's first 2,000 lines" in texts(at.caption)
    preview = table_with(at, "file_row", "problem")
    assert preview["product"].tolist()[:2] == ["note", "note"]
    assert [str(day)[:10] for day in preview["order_date"]][:2] == ["2025-03-15", "2025-03-15"]
    assert preview["amount"].map(float).tolist()[:3] == [1.25, 2.25, 3.25]


def test_a_customers_file_updates_the_sidebar_choices_and_undo_restores_them(writable_app_test):
    at = open_load_page(writable_app_test)
    assert "Atlantis" not in at.multiselect(key="f_region").options
    at.selectbox(key="load_kind").set_value("customers")
    at.file_uploader(key="load_upload").set_value(
        ("moved.csv", b"CustomerID,Region,Customer Type\nC00001,Atlantis,University\n", "text/csv"))
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="load_map_region").value == "Region"
    at.button(key="load_button").click()
    at.run()
    assert not at.exception, at.exception
    assert (metrics(at)["Rows read"], metrics(at)["Rows loaded"]) == ("1", "1")
    # Customers files have no revenue, so no reconciliation line.
    assert "File total" not in texts(at.success)
    assert "Atlantis" in at.multiselect(key="f_region").options

    at.selectbox(key="undo_choice").set_value(2)
    at.button(key="undo_ask").click()
    at.run()
    at.button(key="undo_confirm").click()
    at.run()
    assert not at.exception, at.exception
    assert "Undid batch 2 (moved.csv): removed 1 customers." in texts(at.success)
    assert "Atlantis" not in at.multiselect(key="f_region").options
