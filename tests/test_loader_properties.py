"""Generated messy files: the loader either loads them with a report that adds up, or refuses them with a
UserFacingError; it never crashes and never commits part of a file."""

from __future__ import annotations

import csv
import io
import tempfile
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customer_value import db as dbmod
from customer_value.errors import UserFacingError
from customer_value.loader import ReadOptions, load_file, suggest_mapping
from customer_value.loader.reading import read_columns

# Column sets a real export of each kind might have; extra and odd columns are drawn on top.
BASE_COLUMNS = {
    "transactions": [["InvoiceNo", "CustomerID", "InvoiceDate", "Quantity", "UnitPrice"],
                     ["order_id", "line_no", "customer_id", "order_date", "amount"],
                     ["订单号", "客户编号", "订单日期", "金额", "成本"]],
    "customers": [["客户编号", "客户名称", "地区", "流失日期"], ["CustomerID", "Country", "signup_date"]],
    "feedback": [["customer_id", "response_date", "csat", "nps", "complaint"]],
}
EXTRA_COLUMNS = ["Description", "", "x,y", 'quo"te', "Customer ID", "Country", "备注", "amount"]

junk = st.one_of(
    st.just(""),
    st.text(alphabet="abcXYZ 0123456789,;|\t\"'\n\r-.=+@€¥$()年月日客户", max_size=12),
    st.integers(min_value=-10**25, max_value=10**25).map(str),
    st.sampled_from(["1e400", "NaN", "inf", "-0", "(12.50)", "¥2,000", "1.234,56", "1,234.56", "2021-02-30",
                     "13/13/2013", "2999-01-01", "1899-12-31", "是", "no", "C536", "=1+2", "@SUM(A1)"]),
)
DATE_FORMATS = [
    lambda day: day.isoformat(),
    lambda day: f"{day.day}/{day.month}/{day.year}",
    lambda day: f"{day.month}/{day.day}/{day.year} 8:45",
    lambda day: f"{day.year}年{day.month}月{day.day}日",
    lambda day: day.strftime("%Y%m%d"),
    lambda day: day.strftime("%d.%m.%Y"),
]
days = st.dates(min_value=date(1995, 1, 1), max_value=date(2025, 12, 31))
good_values = {
    "number": st.one_of(st.integers(min_value=-50, max_value=500).map(str),
                        st.decimals(min_value=-1000, max_value=100000, places=2).map(str),
                        st.decimals(min_value=0, max_value=10**7, places=2).map(lambda value: f"{value:,}")),
    "count": st.integers(min_value=1, max_value=20).map(str),
    "id": st.one_of(st.integers(min_value=1, max_value=30).map(lambda n: f"{n}"),
                    st.sampled_from(["C536370", "A1", "学校甲", "12583.0", ""])),
    "text": st.text(alphabet="abc ,\n\"中文", max_size=8),
}
COLUMN_TYPES = {"InvoiceDate": "date", "order_date": "date", "订单日期": "date", "流失日期": "date",
                "signup_date": "date", "response_date": "date", "Quantity": "number", "UnitPrice": "number",
                "amount": "number", "金额": "number", "成本": "number", "csat": "number", "nps": "number",
                "line_no": "count", "InvoiceNo": "id", "order_id": "id", "订单号": "id", "CustomerID": "id",
                "customer_id": "id", "客户编号": "id", "Customer ID": "id"}


def cell_for(column: str, date_format):
    kind = COLUMN_TYPES.get(column, "text")
    good = days.map(date_format) if kind == "date" else good_values[kind]
    # One cell in twenty-five is junk: enough for rejected rows, few enough that most files load.
    return st.integers(min_value=0, max_value=24).flatmap(lambda roll: junk if roll == 0 else good)


@st.composite
def messy_files(draw):
    kind = draw(st.sampled_from(["transactions", "transactions", "customers", "feedback"]))
    columns = draw(st.sampled_from(BASE_COLUMNS[kind])) + draw(st.lists(st.sampled_from(EXTRA_COLUMNS),
                                                                         max_size=2))
    columns = draw(st.permutations(columns))
    if draw(st.integers(min_value=0, max_value=4)) == 0:
        columns = columns[: draw(st.integers(min_value=1, max_value=len(columns)))]
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    date_format = draw(st.sampled_from(DATE_FORMATS))
    rows = []
    for _ in range(draw(st.integers(min_value=0, max_value=12))):
        row = [draw(cell_for(column, date_format)) for column in columns]
        if draw(st.integers(min_value=0, max_value=9)) == 0:
            row = row[:-1] if draw(st.booleans()) else [*row, "extra"]
        # Now and then an exact repeat of the previous line, as real exports have.
        if rows and draw(st.integers(min_value=0, max_value=5)) == 0:
            row = list(rows[-1])
        rows.append(row)
    buffer = io.StringIO()
    if draw(st.integers(min_value=0, max_value=4)):
        writer = csv.writer(buffer, delimiter=delimiter, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        # Written without quoting, as some exports do: delimiters and newlines inside cells break rows.
        buffer.write("\n".join(delimiter.join(row) for row in [columns, *rows]))
    text = buffer.getvalue()
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "latin-1"]))
    data = text.encode(encoding, errors="replace")
    if draw(st.integers(min_value=0, max_value=19)) == 0:
        data = draw(st.binary(max_size=200))
    options = draw(st.sampled_from([ReadOptions(), ReadOptions(), ReadOptions(cancellations="exclude"),
                                    ReadOptions(date_order="MDY"), ReadOptions(decimal=",")]))
    return data, kind, options


@pytest.fixture(scope="module")
def shared_db():
    folder = Path(tempfile.mkdtemp(prefix="loader-properties-"))
    path = folder / "properties.duckdb"
    database = dbmod.connect(path)
    good = folder / "good.csv"
    good.write_text("order_id,customer_id,order_date,amount\nG1,C1,2024-01-05,10\n", encoding="utf-8")
    load_file(database, good, "transactions", suggest_mapping(read_columns(good), "transactions"))
    yield database, folder
    dbmod.forget(path)


def table_counts(database) -> tuple:
    return database.cursor().execute(
        "select (select count(*) from transactions), (select coalesce(sum(amount), 0) from transactions), "
        "(select count(*) from customers), (select count(*) from feedback), (select count(*) from load_batches), "
        "(select count(*) from customer_summary), (select value from app_meta where key = 'data_version')"
    ).fetchone()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(messy_files())
def test_messy_files_load_fully_or_not_at_all(shared_db, generated):
    database, folder = shared_db
    data, kind, options = generated
    path = folder / "messy.csv"
    path.write_bytes(data)
    before = table_counts(database)
    try:
        mapping = suggest_mapping(read_columns(path, options), kind)
        report = load_file(database, path, kind, mapping, options)
    except UserFacingError as exc:
        # A refusal names the file and is specific: a generic database failure would be a loader bug.
        assert str(exc).startswith("messy.csv")
        assert "the load failed" not in str(exc)
        assert table_counts(database) == before
        return
    after = table_counts(database)
    excluded = report.cancellations["count"] if report.cancellations["treatment"] == "exclude" else 0
    assert (report.rows_loaded + report.rows_rejected + report.duplicate_lines_skipped
            + report.already_loaded_skipped + excluded) == report.rows_read
    assert after[4] == before[4] + 1
    if kind == "transactions":
        assert after[0] == before[0] + report.rows_loaded
        assert report.reconciliation["balanced"]
        assert after[1] - before[1] == report.reconciliation["in_database"]
        parts = ("loaded", "cancelled", "rejected", "duplicates", "already_loaded")
        assert sum((report.reconciliation[part] for part in parts), Decimal("0")) == \
            report.reconciliation["file_total"]
    elif kind == "customers":
        assert after[2] == before[2] + report.rows_loaded
    else:
        assert after[3] == before[3] + report.rows_loaded
    assert len(report.rejected_rows) == report.rows_rejected
