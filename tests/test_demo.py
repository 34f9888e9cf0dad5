"""The demo company: deterministic, and shaped like the firm the brief describes."""

from __future__ import annotations

import pytest

from customer_value import db as dbmod
from customer_value.demo import DemoSpec, build_demo_database, generate


def _fingerprint(database: dbmod.Database) -> dict[str, list]:
    con = database.cursor()
    return {
        # Table names are the fixed tuple below, not user input.
        table: con.execute("select * from " + table + " order by all").fetchall()
        for table in ("customers", "transactions", "feedback", "leads", "load_batches")
    }


def test_same_seed_same_database(tmp_path):
    spec = DemoSpec(customers=300, years=3, seed=7)
    build_demo_database(tmp_path / "a.duckdb", spec)
    build_demo_database(tmp_path / "b.duckdb", spec)
    a, b = dbmod.connect(tmp_path / "a.duckdb"), dbmod.connect(tmp_path / "b.duckdb")
    assert _fingerprint(a) == _fingerprint(b)
    build_demo_database(tmp_path / "c.duckdb", DemoSpec(customers=300, years=3, seed=8))
    assert _fingerprint(dbmod.connect(tmp_path / "c.duckdb")) != _fingerprint(a)
    for name in ("a", "b", "c"):
        dbmod.forget(tmp_path / f"{name}.duckdb")


def test_default_company_shape(demo_db):
    con = demo_db.cursor()
    lines, customers = con.execute("select count(*), count(distinct customer_id) from transactions").fetchone()
    assert 270_000 <= lines <= 330_000
    assert customers == 8_000
    # Revenue concentrates roughly 80/20.
    top_share = con.execute("""
        with ranked as (
            select revenue, row_number() over (order by revenue desc) as position, count(*) over () as n,
                   sum(revenue) over () as total
            from customer_summary)
        select sum(revenue) / max(total) from ranked where position <= n * 0.2""").fetchone()[0]
    assert 0.72 <= top_share <= 0.90
    # Four customer types, universities few and large; six regions; about twenty reps.
    types = dict(con.execute("select customer_type, count(*) from customer_dim group by 1").fetchall())
    assert set(types) == {"University", "Vocational school", "K-12 school", "Training institution"}
    assert types["University"] < types["Vocational school"] < types["K-12 school"] < types["Training institution"]
    mean_revenue = dict(con.execute(
        "select customer_type, avg(revenue) from customer_summary group by 1").fetchall())
    assert mean_revenue["University"] > 5 * mean_revenue["Training institution"]
    assert con.execute("select count(distinct region) from customer_dim").fetchone()[0] == 6
    assert 18 <= con.execute("select count(distinct sales_rep) from customer_dim").fetchone()[0] <= 22
    # Five years of orders, seasonality: February (Spring Festival) below March.
    months = dict(con.execute(
        "select month(order_date), count(*) from transactions group by 1").fetchall())
    assert con.execute("select count(distinct year(order_date)) from transactions").fetchone()[0] == 5
    assert months[2] < 0.7 * months[3]
    # Contract customers with explicit churn dates; returns as cancellations.
    assert con.execute("select count(*) from customers where churn_date is not null").fetchone()[0] > 300
    assert con.execute("select count(*) from transactions where is_cancellation and amount < 0").fetchone()[0] > 1000


def test_satisfaction_is_related_to_later_churn(demo_db):
    # Customers whose first annual answer was a detractor leave sooner than promoters.
    con = demo_db.cursor()
    rates = dict(con.execute("""
        with first_answer as (
            select customer_id, nps,
                   row_number() over (partition by customer_id order by response_date) as position
            from feedback where survey = 'annual' and nps is not null),
        banded as (
            select case when nps >= 9 then 'promoter' when nps <= 6 then 'detractor' else 'passive' end as band,
                   s.last_purchase_date < date '2025-06-30' as gone
            from first_answer join customer_summary s using (customer_id) where position = 1)
        select band, avg(case when gone then 1.0 else 0.0 end) from banded group by band""").fetchall())
    assert rates["detractor"] > rates["promoter"] + 0.05


def test_feedback_and_leads_in_shape():
    tables = generate(DemoSpec(customers=500, years=3, seed=3))
    feedback = tables["feedback"]
    assert set(feedback["survey"]) == {"service", "annual"}
    assert feedback["csat"].between(1, 5).all()
    assert feedback["nps"].dropna().between(0, 10).all()
    complaints = feedback[feedback["complaint"]]
    assert len(complaints) > 0
    resolved = complaints.dropna(subset=["resolved_date"])
    assert (resolved["resolved_date"] >= resolved["response_date"]).all()
    leads = tables["leads"]
    converted = leads["converted_customer_id"].notna()
    assert 0 < converted.sum() < len(leads)
    assert (leads.loc[leads["contacts"] == 0, "first_contact_date"].isna()).all()


def test_company_drawn_in_blocks_is_one_firm(monkeypatch, tmp_path):
    # Large demos draw orders a block of customers at a time; blocks must join into one
    # firm: unique ids, referrals across blocks, the lines target met, the same file per seed.
    from customer_value import demo

    spec = DemoSpec(customers=1_000, years=3, seed=11, lines=40_000)
    whole = generate(spec)
    monkeypatch.setattr(demo, "CUSTOMERS_PER_BLOCK", 300)
    blocks = list(demo.generate_blocks(spec))
    assert [len(block["customers"]) for block in blocks] == [250, 250, 250, 250]
    # Blocks take every fourth customer, old and new alike, so they are of a size.
    block_lines = [len(block["transactions"]) for block in blocks]
    assert max(block_lines) < 1.2 * min(block_lines)
    assert blocks[1]["customers"]["customer_id"].iloc[:2].tolist() == ["C00002", "C00006"]
    joined = generate(spec)
    customers, lines = joined["customers"], joined["transactions"]
    assert customers["customer_id"].tolist() == [f"C{i:05d}" for i in range(1, 1_001)]
    # Traits are drawn for the whole firm before the blocks, so attributes drawn with them agree.
    assert customers["signup_date"].equals(whole["customers"]["signup_date"])
    assert customers["customer_type"].equals(whole["customers"]["customer_type"])
    training = customers[customers["customer_type"] == "Training institution"]
    assert (training["name"].str.split().str[-1] == training["customer_id"].str[1:].astype(int).astype(str)).all()
    assert not lines.duplicated(["order_id", "line_no"]).any()
    assert joined["feedback"]["feedback_id"].is_unique
    assert joined["leads"]["lead_id"].is_unique
    assert set(lines["customer_id"]) <= set(customers["customer_id"])
    # Each block's orders start where the previous block's numbering stopped.
    first_orders = [block["transactions"]["order_id"].str.removeprefix("C").min() for block in blocks]
    assert first_orders[0] == "SO0000001" and len(set(first_orders)) == 4
    referred = customers.dropna(subset=["referred_by"])
    assert (referred["referred_by"] < referred["customer_id"]).all()
    assert (referred["referred_by"].str[1:].astype(int) <= 300).any()
    assert (referred.loc[referred["customer_id"] > "C00600", "referred_by"] <= "C00300").any()
    assert 0.9 * 40_000 <= len(lines) <= 1.1 * 40_000
    assert abs(len(lines) - len(whole["transactions"])) < 0.05 * 40_000

    build_demo_database(tmp_path / "blocks.duckdb", spec)
    database = dbmod.connect(tmp_path / "blocks.duckdb")
    con = database.cursor()
    assert con.execute("select count(*) from transactions").fetchone()[0] == len(lines)
    assert con.execute("select count(*) from customer_dim").fetchone()[0] == 1_000
    assert con.execute("select rows_loaded from load_batches").fetchone()[0] == sum(
        len(frame) for frame in joined.values())
    assert _fingerprint(database)["transactions"] == sorted(
        con.execute("select * from transactions").fetchall())
    dbmod.forget(tmp_path / "blocks.duckdb")


def test_a_build_that_fails_part_way_leaves_no_file(monkeypatch, tmp_path):
    # Blocks are committed one by one, so a failure after the first block must discard the
    # half-written file rather than leave a database that looks like a smaller demo.
    from customer_value import demo

    monkeypatch.setattr(demo, "CUSTOMERS_PER_BLOCK", 100)
    drawn = demo.generate_blocks

    def failing_after_one_block(spec):
        blocks = drawn(spec)
        yield next(blocks)
        raise MemoryError("out of memory while drawing the second block")

    monkeypatch.setattr(demo, "generate_blocks", failing_after_one_block)
    target = tmp_path / "demo.duckdb"
    with pytest.raises(MemoryError):
        build_demo_database(target, DemoSpec(customers=300, years=2, seed=5))
    assert sorted(path.name for path in tmp_path.iterdir()) == []
    monkeypatch.setattr(demo, "generate_blocks", drawn)
    build_demo_database(target, DemoSpec(customers=300, years=2, seed=5))
    database = dbmod.connect(target)
    assert database.cursor().execute("select count(*) from customers").fetchone()[0] == 300
    dbmod.forget(target)
