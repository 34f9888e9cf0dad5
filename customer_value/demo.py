"""The demo company: a deterministic education-services firm in the shape of the domain brief.

Modelled on the brief's education-services study: few large universities,
vocational schools, many K-12 schools and small training institutions; six
regions, about twenty sales reps, five years of orders with a school-year
rhythm, a customer base that grows then matures, and customers that really
leave. Every customer has a latent satisfaction that both shortens their
lifetime and colours their survey answers, so the satisfaction-and-churn link
the dashboard shows is there to be found, not painted on.

Same seed, same database: all randomness comes from one ``numpy`` generator
seeded once, and nothing reads the clock.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from customer_value import db as dbmod
from customer_value.derive import rebuild_derived

DEFAULT_CUSTOMERS = 8_000
DEFAULT_YEARS = 5
DEFAULT_SEED = 20_240_601
DEFAULT_END = date(2025, 12, 31)
# Calibrated so the default company has about 300,000 order lines.
DEFAULT_LINES_PER_CUSTOMER = 37.5
# Orders and lines are drawn this many customers at a time (about ten million lines at the
# benchmark's twenty lines per customer), so a hundred-million-line company fits in memory.
CUSTOMERS_PER_BLOCK = 500_000

CUSTOMER_TYPES = {
    # share of customers, mean spend per line (yuan), relative order rate, extra lines per order
    "University": (0.04, 12_000.0, 14.0, 1.2),
    "Vocational school": (0.16, 4_500.0, 9.0, 0.6),
    "K-12 school": (0.35, 2_000.0, 6.5, 0.3),
    "Training institution": (0.45, 1_100.0, 5.5, 0.2),
}
REGIONS = {
    "North China": ["Beijing", "Tianjin", "Shijiazhuang", "Taiyuan", "Hohhot"],
    "Northeast": ["Shenyang", "Dalian", "Changchun", "Harbin"],
    "East China": ["Shanghai", "Hangzhou", "Nanjing", "Suzhou", "Hefei", "Jinan", "Qingdao", "Fuzhou"],
    "South China": ["Guangzhou", "Shenzhen", "Nanning", "Haikou", "Xiamen"],
    "Central China": ["Wuhan", "Changsha", "Zhengzhou", "Nanchang"],
    "West": ["Chengdu", "Chongqing", "Xi'an", "Kunming", "Lanzhou", "Guiyang"],
}
REGION_WEIGHTS = [0.18, 0.10, 0.30, 0.17, 0.13, 0.12]
REP_FIRST = ["Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou",
             "Xu", "Sun", "Ma", "Zhu", "Hu", "Guo", "He", "Lin", "Gao", "Luo"]
REP_GIVEN = ["Wei", "Fang", "Jing", "Lei", "Min", "Tao", "Yan", "Jun", "Hui", "Qiang",
             "Li", "Ping", "Na", "Hao", "Xin", "Yu", "Bo", "Lan", "Kai", "Ning"]
REPS_PER_REGION = [4, 3, 4, 3, 3, 3]
CHANNELS = ["Sales visit", "Exhibition", "Website", "Tender", "Referral"]
CHANNEL_WEIGHTS = [0.32, 0.16, 0.20, 0.17, 0.15]
PRODUCTS = {
    # product: margin rate
    "Smart classroom kit": 0.28,
    "Exam and grading software licence": 0.62,
    "Teacher training course": 0.48,
    "Laboratory equipment set": 0.22,
    "Library book bundle": 0.18,
    "Campus network service": 0.40,
    "Vocational skills curriculum": 0.55,
    "Maintenance contract": 0.45,
}
PRODUCT_WEIGHTS = [0.14, 0.12, 0.14, 0.10, 0.16, 0.10, 0.12, 0.12]
# School procurement rhythm: the spring term start, the autumn term start and
# the year-end budget; little in the Spring Festival month and the summer break.
MONTH_WEIGHTS = np.array([0.9, 0.5, 1.3, 1.1, 1.0, 1.1, 0.6, 0.8, 1.4, 1.0, 1.1, 1.2])
ORDER_CHANNELS = ["Direct sales", "Tender", "Online shop"]

GOOD_COMMENTS = [
    "Delivery was on time and the installer was very professional.",
    "Teachers love the new software, training was clear.",
    "Quick response from our sales rep, thank you.",
    "Good value for money, will order again next term.",
    "Support team solved our issue the same day.",
    "服务很好，交货及时。",
]
NEUTRAL_COMMENTS = [
    "Product is fine but the invoice took a while.",
    "Installation okay, documentation could be better.",
    "Average experience, price is a bit high.",
    "Delivery was late by two days but acceptable.",
]
BAD_COMMENTS = [
    "Delivery was late and nobody called us back.",
    "Price too high compared with other suppliers.",
    "The software keeps crashing during exams.",
    "Installer did not finish the job, had to call twice.",
    "Invoice was wrong again, very slow to correct.",
    "No follow-up from the sales rep after the complaint.",
    "服务态度差，回复太慢。",
]


@dataclass(frozen=True)
class DemoSpec:
    customers: int = DEFAULT_CUSTOMERS
    years: int = DEFAULT_YEARS
    seed: int = DEFAULT_SEED
    end: date = DEFAULT_END
    lines: int | None = None  # target order lines; None = about 37.5 per customer


def _day_number(day: date) -> int:
    return (day - date(1970, 1, 1)).days


def _to_dates(day_numbers: np.ndarray) -> np.ndarray:
    return np.asarray(day_numbers, dtype="int64").astype("datetime64[D]")


@dataclass(frozen=True)
class _Traits:
    """Every customer's latent traits, in signup order (index i is customer ``C{i + 1:05d}``)."""

    customer_ids: np.ndarray
    type_index: np.ndarray
    base_lines: np.ndarray
    spend_scale: np.ndarray
    rate: np.ndarray
    satisfaction: np.ndarray
    margin_factor: np.ndarray
    signup: np.ndarray
    churn_day: np.ndarray
    last_possible: np.ndarray

    def block(self, members: np.ndarray) -> _Traits:
        return _Traits(*(getattr(self, name)[members] for name in self.__dataclass_fields__))


@dataclass
class _Counters:
    """How many orders, answers and leads earlier blocks numbered, so every id stays unique."""

    orders: int = 0
    feedback: int = 0
    leads: int = 0


def _calendar(spec: DemoSpec) -> tuple[int, int, int]:
    end_day = _day_number(spec.end)
    start_day = _day_number(date(spec.end.year - spec.years + 1, 1, 1))
    return start_day, end_day, end_day - start_day + 1


def _customer_traits(rng: np.random.Generator, spec: DemoSpec) -> _Traits:
    n = spec.customers
    start_day, end_day, span = _calendar(spec)
    type_shares = np.array([v[0] for v in CUSTOMER_TYPES.values()])
    type_index = rng.choice(len(CUSTOMER_TYPES), size=n, p=type_shares / type_shares.sum())
    base_spend = np.array([v[1] for v in CUSTOMER_TYPES.values()])[type_index]
    base_rate = np.array([v[2] for v in CUSTOMER_TYPES.values()])[type_index]
    base_lines = np.array([v[3] for v in CUSTOMER_TYPES.values()])[type_index]

    # Customer-level heterogeneity is what concentrates revenue about 80/20.
    spend_scale = base_spend * rng.lognormal(mean=-0.4, sigma=0.9, size=n)
    rate = base_rate * rng.gamma(shape=3.0, scale=1 / 3.0, size=n)
    satisfaction = rng.normal(size=n)
    margin_factor = rng.beta(6, 4, size=n) / 0.6

    # Acquisition grows, peaks in the third year, then matures; it goes on to the data's last day,
    # so the latest months show new customers as a real export would.
    signup = start_day + (rng.beta(1.35, 1.05, size=n) * span).astype(int)
    order = np.argsort(signup, kind="stable")
    # Customer ids in signup order read naturally (C00001 is the oldest customer).
    type_index, base_lines, spend_scale, rate = (
        type_index[order], base_lines[order], spend_scale[order], rate[order])
    satisfaction, margin_factor, signup = satisfaction[order], margin_factor[order], signup[order]
    customer_ids = np.array([f"C{i + 1:05d}" for i in range(n)])

    # Lifetime: satisfied customers stay longer; about a third hold contracts whose
    # end date is recorded explicitly (the telecom study's number leaving the network).
    mean_life_days = 4.5 * 365 * np.exp(0.55 * satisfaction)
    life = rng.exponential(mean_life_days).astype(int) + 60
    leave_day = signup + life
    has_contract = rng.random(n) < np.where(type_index <= 1, 0.55, 0.2)
    churn_day = np.where(has_contract & (leave_day <= end_day), leave_day, -1)
    last_possible = np.minimum(leave_day, end_day)

    lines_target = spec.lines if spec.lines else int(round(DEFAULT_LINES_PER_CUSTOMER * n))
    active_years = (last_possible - signup + 1) / 365.25
    # Scale purchase rates so the expected line count (first orders, repeat
    # orders, and the 1.5% of lines that come back as returns) meets the target.
    first_order_lines = (1 + base_lines).sum()
    repeat_lines = (rate * active_years * (1 + base_lines)).sum()
    rate = rate * max(lines_target / 1.015 - first_order_lines, 1) / repeat_lines
    return _Traits(customer_ids, type_index, base_lines, spend_scale, rate, satisfaction, margin_factor,
                   signup, churn_day, last_possible)


def _block_generator(seed: int, block: int, first_block_rng: np.random.Generator) -> np.random.Generator:
    # The first block goes on drawing from the generator that drew the traits, so a company of one
    # block is the same as before blocks existed; later blocks get streams of their own.
    return first_block_rng if block == 0 else np.random.default_rng([seed, block])


def generate_blocks(spec: DemoSpec) -> Iterator[dict[str, pd.DataFrame]]:
    """The demo company's four tables, at most ``CUSTOMERS_PER_BLOCK`` customers at a time.

    Orders, lines, answers and leads are drawn block by block, so memory
    follows one block, not the whole company: a hundred million order lines
    are built in blocks of about ten million. Customer traits (and with them
    signup order, ids and the purchase-rate scaling to the lines target) are
    drawn for the whole company first, so blocks join into one firm. Block k
    holds every customer whose position is k modulo the number of blocks: old
    customers have many more lines than new ones, and a block of consecutive
    customers would make the first block several times the last.
    """
    rng = np.random.default_rng(spec.seed)
    traits = _customer_traits(rng, spec)
    counters = _Counters()
    blocks = -(-spec.customers // CUSTOMERS_PER_BLOCK)
    for block in range(blocks):
        members = np.arange(block, spec.customers, blocks)
        yield _block_tables(_block_generator(spec.seed, block, rng), spec, traits, members, counters)


def generate(spec: DemoSpec) -> dict[str, pd.DataFrame]:
    """The demo company's four tables as DataFrames (no database involved)."""
    blocks = list(generate_blocks(spec))
    if len(blocks) == 1:
        return blocks[0]
    tables = {name: pd.concat([block[name] for block in blocks], ignore_index=True) for name in blocks[0]}
    tables["customers"] = tables["customers"].sort_values("customer_id", ignore_index=True)
    return tables


def _block_tables(rng: np.random.Generator, spec: DemoSpec, company: _Traits, members: np.ndarray,
                  counters: _Counters) -> dict[str, pd.DataFrame]:
    """Orders, lines, returns, answers and leads of the customers at positions ``members`` (ascending)."""
    traits = company.block(members)
    n = members.size
    start_day, end_day, _ = _calendar(spec)
    customer_ids, type_index, base_lines, spend_scale, rate = (
        traits.customer_ids, traits.type_index, traits.base_lines, traits.spend_scale, traits.rate)
    signup, last_possible, margin_factor = traits.signup, traits.last_possible, traits.margin_factor

    # Orders: a first order just after signup, then a renewal process with
    # fairly regular gaps (schools reorder each term, not at random moments),
    # thinned by the month weights, until the customer leaves.
    peak = MONTH_WEIGHTS.max()
    boosted_rate = rate * peak / MONTH_WEIGHTS.mean()
    span_days = last_possible - signup + 1
    slots = np.ceil(boosted_rate * span_days / 365.25 * 1.6 + 4).astype(int)
    owner = np.repeat(np.arange(n), slots)
    regularity = 4.0  # gamma shape of the gaps: 1 would be Poisson, larger is more regular
    gaps = rng.gamma(regularity, 365.25 / (regularity * boosted_rate[owner]))
    elapsed = np.cumsum(gaps)
    group_first = np.cumsum(slots) - slots
    elapsed = elapsed - np.concatenate([[0.0], elapsed])[group_first][np.repeat(np.arange(n), slots)]
    # A random phase, so customers do not all reorder in step from their signup.
    elapsed = elapsed - rng.random(n)[owner] * gaps[group_first][owner]
    inside = (elapsed > 0) & (elapsed < span_days[owner])
    owner, days = owner[inside], signup[owner[inside]] + elapsed[inside].astype(int)
    months = _to_dates(days).astype("datetime64[M]").astype(int) % 12
    keep = rng.random(owner.size) < MONTH_WEIGHTS[months] / peak
    owner, days = owner[keep], days[keep]
    first_days = np.minimum(signup + rng.integers(0, 15, size=n), last_possible)
    owner = np.concatenate([np.arange(n), owner])
    days = np.concatenate([first_days, days])
    # Schools order on working days.
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    days = days - np.where(weekday == 5, 1, 0) + np.where(weekday == 6, 1, 0)
    days = np.minimum(days, end_day)
    days = np.where(days < signup[owner], signup[owner], days)
    sort = np.lexsort((owner, days))
    owner, days = owner[sort], days[sort]
    n_orders = owner.size
    order_ids = np.array([f"SO{i + 1:07d}" for i in range(counters.orders, counters.orders + n_orders)])
    counters.orders += n_orders

    lines_per_order = 1 + rng.poisson(base_lines[owner])
    line_order = np.repeat(np.arange(n_orders), lines_per_order)
    line_no = np.arange(line_order.size) - np.repeat(np.cumsum(lines_per_order) - lines_per_order, lines_per_order) + 1
    line_owner = owner[line_order]
    product_index = rng.choice(len(PRODUCTS), size=line_order.size, p=PRODUCT_WEIGHTS)
    product_margin = np.array(list(PRODUCTS.values()))[product_index]
    quantity = 1 + rng.poisson(np.where(type_index[line_owner] == 0, 12, 4))
    amount = np.round(spend_scale[line_owner] * rng.lognormal(-0.125, 0.5, size=line_order.size), 2)
    amount = np.maximum(amount, 20.0)
    profit_rate = product_margin * margin_factor[line_owner] + rng.normal(0, 0.05, size=line_order.size)
    gross_profit = np.round(amount * profit_rate, 2)
    order_channel = rng.choice(len(ORDER_CHANNELS), size=n_orders, p=[0.6, 0.15, 0.25])

    line_channel = order_channel[line_order]

    # Text columns repeat a few names (or a block's customer ids) over millions of lines: as
    # categoricals they cost four bytes a line, where fixed-width text would cost up to 132.
    def text_of(names, codes) -> pd.Categorical:
        return pd.Categorical.from_codes(codes, categories=pd.Index(names, dtype="str"))

    transactions = pd.DataFrame({
        "order_id": pd.array(order_ids, dtype="str").take(line_order),
        "line_no": line_no.astype("int32"),
        "customer_id": text_of(customer_ids, line_owner),
        "order_date": _to_dates(days[line_order]),
        "amount": amount,
        "quantity": quantity.astype(float),
        "gross_profit": gross_profit,
        "product": text_of(list(PRODUCTS), product_index),
        "channel": text_of(ORDER_CHANNELS, line_channel),
        "is_cancellation": False,
    })

    # Returns: about 1.5% of lines come back within a month, as the negative
    # line a real export carries under a "C" order number.
    returned = np.flatnonzero(rng.random(line_order.size) < 0.015)
    return_days = np.minimum(days[line_order[returned]] + rng.integers(2, 30, size=returned.size), end_day)
    returns = pd.DataFrame({
        "order_id": pd.array(np.char.add("C", order_ids[line_order[returned]]), dtype="str"),
        "line_no": line_no[returned].astype("int32"),
        "customer_id": text_of(customer_ids, line_owner[returned]),
        "order_date": _to_dates(return_days),
        "amount": -amount[returned],
        "quantity": -quantity[returned].astype(float),
        "gross_profit": -gross_profit[returned],
        "product": text_of(list(PRODUCTS), product_index[returned]),
        "channel": text_of(ORDER_CHANNELS, line_channel[returned]),
        "is_cancellation": True,
    })
    transactions = pd.concat([transactions, returns], ignore_index=True)

    customers = _customers_frame(rng, company.customer_ids, members, type_index, signup, traits.churn_day)
    feedback = _feedback_frame(rng, customer_ids, traits.satisfaction, owner, days, signup,
                               last_possible, start_day, end_day, counters.feedback)
    counters.feedback += len(feedback)
    leads = _leads_frame(rng, customer_ids, signup, customers["acquisition_channel"].to_numpy(), start_day, end_day,
                         counters.leads)
    counters.leads += len(leads)
    return {"customers": customers, "transactions": transactions, "feedback": feedback, "leads": leads}


def _customers_frame(rng, all_customer_ids, members, type_index, signup, churn_day) -> pd.DataFrame:
    """Attributes of the customers at positions ``members`` of the whole company."""
    n = members.size
    customer_ids = all_customer_ids[members]
    type_names = list(CUSTOMER_TYPES)
    region_names = list(REGIONS)
    region_index = rng.choice(len(region_names), size=n, p=REGION_WEIGHTS)
    reps_by_region: list[list[str]] = []
    rep_counter = 0
    for count in REPS_PER_REGION:
        names = [f"{REP_FIRST[rep_counter + k]} {REP_GIVEN[(rep_counter + k) * 7 % 20]}" for k in range(count)]
        reps_by_region.append(names)
        rep_counter += count
    rep = np.array([reps_by_region[r][rng.integers(len(reps_by_region[r]))] for r in region_index])
    city = np.array([REGIONS[region_names[r]][rng.integers(len(REGIONS[region_names[r]]))] for r in region_index])
    serial = members + 1
    suffix = {
        0: lambda c, k: f"{c} University of Technology {k}",
        1: lambda c, k: f"{c} No.{k % 40 + 1} Vocational College",
        2: lambda c, k: f"{c} No.{k % 90 + 1} {'Middle' if k % 2 else 'Primary'} School",
        3: lambda c, k: f"{c} Bright Future Training Centre {k}",
    }
    names = [suffix[int(t)](c, int(k)) for t, c, k in zip(type_index, city, serial, strict=True)]
    channel = rng.choice(len(CHANNELS), size=n, p=CHANNEL_WEIGHTS)
    referred_by = np.full(n, None, dtype=object)
    referral = np.flatnonzero((np.array(CHANNELS)[channel] == "Referral") & (members > 0))
    # A referral comes from a customer who signed up earlier, in any block (ids are in signup order).
    referred_by[referral] = all_customer_ids[(rng.random(referral.size) * members[referral]).astype(int)]
    return pd.DataFrame({
        "customer_id": customer_ids,
        "name": names,
        "customer_type": np.array(type_names)[type_index],
        "region": np.array(region_names)[region_index],
        "sales_rep": rep,
        "acquisition_channel": np.array(CHANNELS)[channel],
        "signup_date": _to_dates(signup),
        "referred_by": referred_by,
        "churn_date": pd.Series(_to_dates(np.where(churn_day >= 0, churn_day, 0))).where(churn_day >= 0),
    })


def _scores(rng, latent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSAT 1-5 and NPS 0-10 from a latent satisfaction plus answer noise."""
    noisy = latent + rng.normal(0, 0.8, size=latent.size)
    csat = np.clip(np.round(3.7 + 0.9 * noisy), 1, 5).astype("int16")
    nps = np.clip(np.round(7.6 + 1.9 * noisy), 0, 10).astype("int16")
    return csat, nps


def _feedback_frame(rng, customer_ids, satisfaction, order_owner, order_days, signup,
                    last_possible, start_day, end_day, numbered_before=0) -> pd.DataFrame:
    # After-service questionnaire after about one order in eight.
    asked = rng.random(order_owner.size) < 0.125
    service_owner = order_owner[asked]
    service_day = np.minimum(order_days[asked] + rng.integers(1, 11, size=service_owner.size), end_day)
    service_csat, service_nps = _scores(rng, satisfaction[service_owner])
    service_nps = np.where(rng.random(service_owner.size) < 0.5, service_nps, -1)

    # Annual survey every November to customers still with the firm; about 45% answer.
    annual_owner, annual_day = [], []
    first_year = (np.datetime64(int(start_day), "D").astype("datetime64[Y]").astype(int) + 1970)
    last_year = (np.datetime64(int(end_day), "D").astype("datetime64[Y]").astype(int) + 1970)
    for year in range(first_year, last_year + 1):
        survey_day = _day_number(date(year, 11, 15))
        if survey_day > end_day:
            continue
        with_firm = np.flatnonzero((signup <= survey_day - 30) & (last_possible >= survey_day))
        answered = with_firm[rng.random(with_firm.size) < 0.45]
        annual_owner.append(answered)
        annual_day.append(survey_day + rng.integers(0, 21, size=answered.size))
    annual_owner_arr = np.concatenate(annual_owner) if annual_owner else np.array([], dtype=int)
    annual_day_arr = np.minimum(np.concatenate(annual_day), end_day) if annual_day else np.array([], dtype=int)
    annual_csat, annual_nps = _scores(rng, satisfaction[annual_owner_arr])

    owner = np.concatenate([service_owner, annual_owner_arr])
    day = np.concatenate([service_day, annual_day_arr])
    csat = np.concatenate([service_csat, annual_csat])
    nps = np.concatenate([service_nps, annual_nps])
    survey = np.array(["service"] * service_owner.size + ["annual"] * annual_owner_arr.size)

    complaint = (csat <= 2) & (rng.random(owner.size) < 0.6) | (rng.random(owner.size) < 0.01)
    resolve_days = np.ceil(rng.gamma(1.4, 6.0, size=owner.size)).astype(int)
    recent = day > end_day - 45
    still_open = complaint & (rng.random(owner.size) < np.where(recent, 0.45, 0.03))
    resolved = np.where(complaint & ~still_open, day + resolve_days, -1)
    resolved = np.where(resolved > end_day, -1, resolved)

    comment_draw = rng.random(owner.size)
    has_comment = comment_draw < 0.4
    pools = [BAD_COMMENTS, NEUTRAL_COMMENTS, GOOD_COMMENTS]
    band = np.where(csat <= 2, 0, np.where(csat == 3, 1, 2))
    pick = rng.integers(0, 1000, size=owner.size)
    comments = np.array([pools[b][p % len(pools[b])] if c else None
                         for b, p, c in zip(band, pick, has_comment | complaint, strict=True)], dtype=object)

    frame = pd.DataFrame({
        "feedback_id": [f"F{i + 1:06d}" for i in range(numbered_before, numbered_before + owner.size)],
        "customer_id": customer_ids[owner],
        "response_date": _to_dates(day),
        "survey": survey,
        "csat": csat,
        "nps": pd.Series(nps, dtype="Int16").where(nps >= 0),
        "complaint": complaint,
        "resolved_date": pd.Series(_to_dates(np.where(resolved >= 0, resolved, 0))).where(resolved >= 0),
        "comment": comments,
    })
    return frame.sort_values(["response_date", "feedback_id"], kind="stable").reset_index(drop=True)


def _leads_frame(rng, customer_ids, signup, channel, start_day, end_day, numbered_before=0) -> pd.DataFrame:
    # Customers who came in through sales visits, exhibitions, the website and
    # tenders were leads first; referrals mostly skip the lead list.
    from_leads = np.flatnonzero((channel != "Referral") | (rng.random(customer_ids.size) < 0.3))
    converted_first = signup[from_leads] - rng.integers(10, 150, size=from_leads.size)
    converted = pd.DataFrame({
        "first_contact_date": _to_dates(np.maximum(converted_first, start_day - 150)),
        "contacts": 1 + rng.poisson(3, size=from_leads.size),
        "converted_customer_id": customer_ids[from_leads],
        "source": channel[from_leads],
    })
    n_open = int(customer_ids.size * 1.6)
    open_first = start_day + (rng.beta(1.8, 1.2, size=n_open) * (end_day - start_day)).astype(int)
    never_contacted = rng.random(n_open) < 0.35
    open_leads = pd.DataFrame({
        "first_contact_date": pd.Series(_to_dates(open_first)).where(~never_contacted),
        "contacts": np.where(never_contacted, 0, 1 + rng.poisson(1.5, size=n_open)),
        "converted_customer_id": None,
        "source": rng.choice(CHANNELS[:4], size=n_open),
    })
    leads = pd.concat([converted, open_leads], ignore_index=True)
    leads.insert(0, "lead_id", [f"L{i + 1:06d}" for i in range(numbered_before, numbered_before + len(leads))])
    leads["contacts"] = leads["contacts"].astype("int32")
    return leads


INSERTS = {
    "customers": """
        insert into customers
        select md5_number(concat_ws('|', 'customer', customer_id)), customer_id, name, customer_type,
               region, sales_rep, acquisition_channel, cast(signup_date as date), referred_by,
               cast(churn_date as date), $batch_id
        from frame""",
    "transactions": """
        insert into transactions
        select md5_number(concat_ws('|', order_id, line_no)), order_id, line_no, customer_id,
               cast(order_date as date), cast(amount as decimal(18, 2)), quantity,
               cast(gross_profit as decimal(18, 2)), product, channel, is_cancellation, $batch_id
        from frame""",
    "feedback": """
        insert into feedback
        select md5_number(concat_ws('|', 'feedback', feedback_id)), feedback_id, customer_id,
               cast(response_date as date), survey, csat, nps, complaint, cast(resolved_date as date),
               comment, $batch_id
        from frame""",
    "leads": """
        insert into leads
        select md5_number(concat_ws('|', 'lead', lead_id)), lead_id, cast(first_contact_date as date),
               contacts, converted_customer_id, source, $batch_id
        from frame""",
}


def write_demo(database: dbmod.Database, spec: DemoSpec) -> dict[str, int]:
    """Generate the demo company into an empty database file as one batch; returns row counts.

    Only for a new file that nobody reads yet (``build_demo_database`` writes a
    temporary file and discards it on failure): each block of customers is
    committed as soon as it is inserted, and the derived tables follow in a
    last transaction. One transaction for everything kept every block's
    frames alive inside DuckDB until the commit, 37 MB per million lines.
    """
    con = database.cursor()
    existing = con.execute("select count(*) from load_batches").fetchone()[0]
    if existing:
        raise dbmod.DatabaseError(
            f"The database {database.path} already holds data; the demo is only written into a new database."
        )
    counts = dict.fromkeys(INSERTS, 0)
    # A demo is a load: DuckDB is held to the load limit and spills, because the block being drawn
    # holds gigabytes of frames in the same process.
    with database.loading_memory():
        # fetchall, not fetchone: DuckDB refuses to register a frame while a result is still open.
        [(batch_id,)] = con.execute("select nextval('batch_id_seq')").fetchall()
        for tables in generate_blocks(spec):
            with _transaction(con):
                for name, frame in tables.items():
                    con.register("frame", frame)
                    con.execute(INSERTS[name], {"batch_id": batch_id})
                    con.unregister("frame")
                    counts[name] += len(frame)
            # Let go of this block before the next is drawn; the loop variable would hold it until then.
            del tables
        with _transaction(con):
            con.execute(
                """insert into load_batches (batch_id, kind, source_name, content_hash, rows_read, rows_loaded,
                       loaded_at, loaded_by, report_json)
                   values (?, 'demo', ?, ?, ?, ?, ?, 'demo generator', ?)""",
                [batch_id, f"demo company (seed {spec.seed})", f"seed:{spec.seed}",
                 sum(counts.values()), sum(counts.values()),
                 # A fixed load time keeps the file identical for a given seed.
                 pd.Timestamp(spec.end).to_pydatetime(),
                 json.dumps({"spec": {"customers": spec.customers, "years": spec.years, "seed": spec.seed,
                                      "end": spec.end.isoformat(), "lines": spec.lines}, "rows": counts})],
            )
            rebuild_derived(con)
            dbmod.bump_data_version(con)
    return counts


@contextmanager
def _transaction(con):
    con.execute("begin transaction")
    try:
        yield
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")


def build_demo_database(path: str | Path, spec: DemoSpec = DemoSpec()) -> dict[str, int]:
    """Create a new database file at ``path`` holding the demo company.

    Written to a temporary file first and renamed, so an interrupted build
    never leaves a half-written database where the app looks for one.
    """
    target = Path(path).expanduser().resolve()
    if target.exists():
        raise dbmod.DatabaseError(f"{target} already exists; remove it or choose another --db to build a demo.")
    temporary = target.with_suffix(".tmp")
    if temporary.exists():
        temporary.unlink()
    database = dbmod.connect(temporary)
    try:
        counts = write_demo(database, spec)
        database.connection.execute("checkpoint")
    except BaseException:
        dbmod.forget(temporary)
        # Blocks are committed as they are drawn: a half-built file must not be mistaken for a demo.
        for leftover in (temporary, temporary.with_name(temporary.name + ".wal")):
            leftover.unlink(missing_ok=True)
        raise
    dbmod.forget(temporary)
    temporary.rename(target)
    return counts


def ensure_demo_database(path: str | Path = dbmod.DEFAULT_DB_PATH) -> bool:
    """Build the default demo database if there is none; True when it was built now."""
    target = Path(path)
    if target.exists():
        return False
    build_demo_database(target)
    return True
