"""Tiny hand-written databases for hand-worked tests."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from customer_value import db as dbmod
from customer_value.derive import rebuild_derived


def tiny_database(path: Path, *, transactions: list[tuple], customers: list[tuple] = (),
                  feedback: list[tuple] = ()) -> dbmod.Database:
    """A database holding exactly these rows, derived tables built.

    transactions: (customer_id, order_date, amount[, gross_profit[, is_cancellation]]) — each its own order.
    customers: (customer_id, customer_type, region, sales_rep, churn_date)
    feedback: (customer_id, response_date, survey, csat, nps)
    """
    database = dbmod.connect(path)
    con = database.cursor()
    con.execute("begin transaction")
    con.execute("insert into load_batches (batch_id, kind, source_name, loaded_at, loaded_by) "
                "values (nextval('batch_id_seq'), 'test', 'hand-written', current_timestamp, 'test')")
    batch_id = con.execute("select max(batch_id) from load_batches").fetchone()[0]
    for number, row in enumerate(transactions):
        customer_id, order_date, amount = row[:3]
        profit = row[3] if len(row) > 3 else None
        cancelled = row[4] if len(row) > 4 else False
        con.execute(
            "insert into transactions values (md5_number(?), ?, 1, ?, ?, ?, 1, ?, null, null, ?, ?)",
            [f"line{number}", f"O{number}", customer_id, order_date, amount, profit, cancelled, batch_id],
        )
    for customer_id, customer_type, region, rep, churn_date in customers:
        con.execute(
            "insert into customers values (md5_number(?), ?, ?, ?, ?, ?, null, null, null, ?, ?)",
            [f"c{customer_id}", customer_id, f"Name {customer_id}", customer_type, region, rep, churn_date,
             batch_id],
        )
    for number, (customer_id, response_date, survey, csat, nps) in enumerate(feedback):
        con.execute(
            "insert into feedback values (md5_number(?), ?, ?, ?, ?, ?, ?, false, null, null, ?)",
            [f"f{number}", f"F{number}", customer_id, response_date, survey, csat, nps, batch_id],
        )
    rebuild_derived(con)
    dbmod.bump_data_version(con)
    con.execute("commit")
    return database


def d(text: str) -> date:
    return date.fromisoformat(text)


def online_retail_database(path: Path, csv_path: Path) -> tuple[dbmod.Database, pd.DataFrame]:
    """A database holding one of the real "Online Retail" exports, read with pandas, not the loader.

    Tests of metrics use it so that a figure on real data is checked against an
    independent pandas computation without depending on the loader's own rules.
    Returns the database and the frame that went in (order_id, line_no,
    customer_id, order_date, amount, is_cancellation).
    """
    raw = pd.read_csv(csv_path, encoding="utf-8-sig", dtype={"InvoiceNo": str, "CustomerID": str})
    frame = pd.DataFrame({
        "order_id": raw["InvoiceNo"],
        "line_no": raw.groupby("InvoiceNo").cumcount() + 1,
        "customer_id": raw["CustomerID"].str.replace(r"\.0$", "", regex=True),
        "order_date": pd.to_datetime(raw["InvoiceDate"], format="%m/%d/%Y %H:%M").dt.date,
        "amount": (raw["Quantity"] * raw["UnitPrice"]).round(2),
        "quantity": raw["Quantity"],
        "is_cancellation": raw["InvoiceNo"].str.startswith("C"),
    })
    database = dbmod.connect(path)
    con = database.cursor()
    con.execute("begin transaction")
    con.execute("insert into load_batches (batch_id, kind, source_name, loaded_at, loaded_by) "
                "values (nextval('batch_id_seq'), 'transactions', ?, current_timestamp, 'test')", [csv_path.name])
    # fetchall, not fetchone: DuckDB 2 keeps a half-read result open and refuses register().
    batch_id = con.execute("select max(batch_id) from load_batches").fetchall()[0][0]
    con.register("incoming", frame)
    con.execute(
        "insert into transactions select md5_number(order_id || '/' || line_no), order_id, line_no, customer_id, "
        "order_date, amount, quantity, null, null, null, is_cancellation, ? from incoming",
        [batch_id],
    )
    con.unregister("incoming")
    rebuild_derived(con)
    dbmod.bump_data_version(con)
    con.execute("commit")
    return database, frame
