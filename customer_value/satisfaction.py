"""Satisfaction (domain brief section 5): scores, their noise, complaints, comments, and churn by band.

Two rules the page states:
- every answer counts for the score trends and segment tables (a customer who
  answered twice counts twice);
- the by-band churn table takes each customer's LATEST answer within the
  period on each scale, and calls the customer lost when a 'lost' event
  (spell_events, the activity rule) follows that answer by the period end + W.

Answers outside the scales (CSAT 1-5, NPS 0-10) are rejected by the loader;
the queries ignore any that got in another way, and the band functions here
refuse them rather than guess.

Margins of error are 95%: the Wilson score interval for CSAT (and churn
rates), the normal interval with the standard NPS variance
(p + d - (p - d)^2) / n for NPS. Two shares (CSAT, churn rates) differ "beyond
the noise" by the pooled two-proportion z-test at 95%; two NPS figures when
their gap exceeds 1.96 combined standard errors.

Complaint rate = complaints per 100 orders: the jobs complaints are about
(the same stand-in as the after-service response rate). A rate over survey
answers would fall each time the annual survey runs, however many complaints.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from customer_value.cache import RESULT_FRAMES_BYTES, LruCache, handed_out, selection_key
from customer_value.dataset import with_customer_attributes
from customer_value.db import Database
from customer_value.filters import Filters, Scope
from customer_value.metrics import Kpi, csat_share, nps_score, safe_ratio
from customer_value.query import run
from customer_value.segments import by_customer, segment_labels_by_key

Z_95 = 1.959963984540054
DEFAULT_MIN_ANSWERS = 10
# A browser table of tens of thousands of comments is slow to send and nobody reads it: the page shows the newest
# matches and offers every match as a CSV.
COMMENT_ROWS_SHOWN = 500
SEGMENT_DIMENSIONS: dict[str, str] = {
    "value_cell": "Value grid cell",
    "rfm_segment": "RFM segment",
    "customer_type": "Customer type",
    "region": "Region",
    "sales_rep": "Sales rep",
}
# Dimensions whose customer labels come from customer_value.segments (the segments page's own rules), and the
# column of its customer_segments() and segment_labels_by_key() frames that holds them.
SEGMENT_LABEL_COLUMNS: dict[str, str] = {"value_cell": "grid_cell", "rfm_segment": "rfm_segment"}
# The segments module labels the customers who bought in the period; the others answered without buying.
NO_SEGMENT = "No purchase in period"
COUNT_COLUMNS = ["answers", "nps_answers", "promoters", "passives", "detractors", "csat_answers", "satisfied",
                 "csat_total", "complaints"]
NPS_BANDS = ("detractor", "passive", "promoter")
CSAT_BANDS = ("1", "2", "3", "4", "5")
SERVICE_RESPONSE_RATE_NOTE = (
    "Response rate of the after-service questionnaire = its answers / orders in the period (one questionnaire "
    "follows each job, so orders stand in for 'customers asked'). Not known for other surveys.")


# --- statistics (pure) ---------------------------------------------------------------------------------------

def wilson_interval(successes: int, answers: int, z: float = Z_95) -> tuple[float, float] | None:
    """Wilson score interval of a share (95% by default); None without answers."""
    if not answers:
        return None
    share = successes / answers
    denominator = 1 + z * z / answers
    centre = (share + z * z / (2 * answers)) / denominator
    half_width = z * math.sqrt(share * (1 - share) / answers + z * z / (4 * answers * answers)) / denominator
    return max(0.0, centre - half_width), min(1.0, centre + half_width)


def nps_standard_error(promoters: int, detractors: int, answers: int) -> float | None:
    """Standard error of NPS in points, from the multinomial variance of +1/0/-1 answers."""
    if not answers:
        return None
    promoter_share, detractor_share = promoters / answers, detractors / answers
    variance = promoter_share + detractor_share - (promoter_share - detractor_share) ** 2
    return 100.0 * math.sqrt(max(variance, 0.0) / answers)


def nps_margin_of_error(promoters: int, detractors: int, answers: int, z: float = Z_95) -> float | None:
    """Half-width of the 95% normal interval of NPS, in points."""
    error = nps_standard_error(promoters, detractors, answers)
    return None if error is None else z * error


def share_standard_error(successes: int, answers: int) -> float | None:
    if not answers:
        return None
    share = successes / answers
    return math.sqrt(share * (1 - share) / answers)


def differs(value_a: float | None, error_a: float | None, value_b: float | None, error_b: float | None,
            z: float = Z_95) -> bool | None:
    """Two-sided z-test of independent estimates: True when the gap is beyond the noise; None if undefined."""
    if None in (value_a, error_a, value_b, error_b):
        return None
    combined = math.sqrt(error_a ** 2 + error_b ** 2)
    if combined == 0:
        return value_a != value_b
    return abs(value_a - value_b) > z * combined


def two_proportion_differs(successes_a: int, trials_a: int, successes_b: int, trials_b: int,
                           z: float = Z_95) -> bool | None:
    """Pooled two-proportion z-test (two-sided, 95%): True when the shares differ beyond the noise.

    Standard error under "no difference": sqrt(p (1 - p) (1/n_a + 1/n_b)) with
    p the pooled share. Unlike separate standard errors it does not call a gap
    certain when one group has no event at all. None when a group is empty.
    """
    if not trials_a or not trials_b:
        return None
    pooled = (successes_a + successes_b) / (trials_a + trials_b)
    error = math.sqrt(pooled * (1 - pooled) * (1 / trials_a + 1 / trials_b))
    gap = successes_a / trials_a - successes_b / trials_b
    if error == 0:
        return False
    return abs(gap) > z * error


def complaints_per_100_orders(complaints: int | float | None, orders: int | float | None) -> float | None:
    """Complaints per 100 orders; None when there was no order."""
    ratio = safe_ratio(complaints, orders)
    return None if ratio is None else 100.0 * ratio


def nps_band(score: int | float | None) -> str | None:
    """detractor (0-6), passive (7-8) or promoter (9-10); None for no answer."""
    if score is None or pd.isna(score):
        return None
    if not 0 <= score <= 10 or score != int(score):
        raise ValueError(f"NPS answer {score!r} is outside the 0-10 scale")
    if score <= 6:
        return "detractor"
    return "passive" if score <= 8 else "promoter"


def csat_band(score: int | float | None) -> str | None:
    """The CSAT score itself ('1'..'5') as a band; None for no answer."""
    if score is None or pd.isna(score):
        return None
    if not 1 <= score <= 5 or score != int(score):
        raise ValueError(f"CSAT answer {score!r} is outside the 1-5 scale")
    return str(int(score))


def score_figures(counts: dict[str, Any]) -> dict[str, float | int | None]:
    """NPS, CSAT, average and their 95% intervals from one group's counts (a satisfaction_groups row)."""
    answers = int(counts.get("answers") or 0)
    nps_answers = int(counts.get("nps_answers") or 0)
    promoters, passives = int(counts.get("promoters") or 0), int(counts.get("passives") or 0)
    detractors = int(counts.get("detractors") or 0)
    csat_answers, satisfied = int(counts.get("csat_answers") or 0), int(counts.get("satisfied") or 0)
    interval = wilson_interval(satisfied, csat_answers)
    complaints = int(counts.get("complaints") or 0)
    median_days = counts.get("median_days_to_resolve")
    return {
        "answers": answers,
        "nps_answers": nps_answers,
        "nps": nps_score(promoters, detractors, nps_answers),
        "nps_margin": nps_margin_of_error(promoters, detractors, nps_answers),
        "nps_error": nps_standard_error(promoters, detractors, nps_answers),
        "promoter_share": safe_ratio(promoters, nps_answers),
        "passive_share": safe_ratio(passives, nps_answers),
        "detractor_share": safe_ratio(detractors, nps_answers),
        "csat_answers": csat_answers,
        "csat": csat_share(satisfied, csat_answers),
        "csat_low": interval[0] if interval else None,
        "csat_high": interval[1] if interval else None,
        "csat_error": share_standard_error(satisfied, csat_answers),
        "average_score": safe_ratio(float(counts.get("csat_total") or 0), csat_answers),
        "complaints": complaints,
        "open_complaints": int(counts.get("open_complaints") or 0),
        "median_days_to_resolve": None if median_days is None or pd.isna(median_days) else float(median_days),
    }


# --- tokens of comments (pure, local) -------------------------------------------------------------------------

_STOP_WORD_TEXT = """
a about above after again against all am an and any are as at be because been before being below between both
but by can could did do does doing down during each few for from further had has have having he her here hers
him his how i if in into is it its itself just me more most my no nor not of off on once only or other our ours
out over own same she should so some such than that the their them then there these they this those through to
too under until up very was we were what when where which while who whom why will with would you your yours
also again ever get got one two us s t don didn doesn isn wasn weren won
"""
ENGLISH_STOP_WORDS = frozenset(_STOP_WORD_TEXT.split())
_TOKEN = re.compile(r"[a-z][a-z']*|[\u3400-\u4dbf\u4e00-\u9fff]+")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
# Phrases never span punctuation: "experience, price" is not a phrase.
_CLAUSE_BREAK = re.compile(r"[.,;:!?()\[\]\"\n\r\t/\u3001-\u3003\uff01\uff08\uff09\uff0c\uff1a\uff1b\uff1f]+")


def tokenise(text: str | None) -> list[str]:
    """Lower-case English words (stop words kept, apostrophes trimmed) and runs of Chinese characters as
    overlapping 2-character grams (a lone character stays itself); digits and punctuation dropped."""
    if not text or not isinstance(text, str):
        return []
    tokens: list[str] = []
    for piece in _TOKEN.findall(text.lower()):
        if _HAN.match(piece):
            tokens.extend([piece] if len(piece) == 1 else [piece[i:i + 2] for i in range(len(piece) - 1)])
        else:
            word = piece.strip("'")
            if word.endswith("'s"):
                word = word[:-2]
            if word:
                tokens.append(word)
    return tokens


def _is_content(token: str) -> bool:
    return bool(_HAN.match(token)) or (token not in ENGLISH_STOP_WORDS and len(token) > 1)


def frequent_terms(comments: Iterable[str | None], limit: int = 20) -> pd.DataFrame:
    """The most frequent words and two-word phrases (adjacent within a clause, neither a stop word).

    Chinese 2-character grams count as words. Ties are ordered alphabetically so the list is stable.
    """
    words: Counter[str] = Counter()
    phrases: Counter[str] = Counter()
    # Surveys repeat the same short comments many times: tokenise each distinct text once.
    for comment, times in Counter(text for text in comments if isinstance(text, str)).items():
        for clause in _CLAUSE_BREAK.split(comment):
            tokens = tokenise(clause)
            for token in tokens:
                if _is_content(token):
                    words[token] += times
            english = [token for token in tokens if not _HAN.match(token)]
            for first, second in zip(english, english[1:], strict=False):
                if _is_content(first) and _is_content(second):
                    phrases[f"{first} {second}"] += times
    rows = [(term, "word", count) for term, count in words.items()]
    rows += [(term, "phrase", count) for term, count in phrases.items()]
    frame = pd.DataFrame(rows, columns=["term", "kind", "count"])
    if frame.empty:
        return frame
    frame = frame.sort_values(["count", "term"], ascending=[False, True], kind="stable")
    return frame.head(limit).reset_index(drop=True)


def filter_comments(comments: pd.DataFrame, search: str = "", nps_bands: Iterable[str] = (),
                    csat_scores: Iterable[int] = ()) -> pd.DataFrame:
    """Comments containing ``search`` (case-insensitive, plain text) whose answer falls in the chosen bands."""
    frame = comments
    if search.strip():
        frame = frame[frame["comment"].str.contains(search.strip(), case=False, regex=False, na=False)]
    bands = set(nps_bands)
    if bands:
        frame = frame[frame["nps"].map(nps_band).isin(bands)]
    scores = {int(score) for score in csat_scores}
    if scores:
        frame = frame[frame["csat"].isin(scores)]
    return frame.reset_index(drop=True)


# --- satisfaction and churn (pure over latest answers) --------------------------------------------------------

def assign_bands(latest: pd.DataFrame) -> pd.DataFrame:
    """Latest answers with their band: NPS -> detractor/passive/promoter, CSAT -> '1'..'5'."""
    frame = latest.copy()
    is_nps = (frame["scale"] == "nps").to_numpy()
    score = pd.to_numeric(frame["score"]).astype("float64").to_numpy()
    given = ~np.isnan(score)
    outside = given & (np.where(is_nps, (score < 0) | (score > 10), (score < 1) | (score > 5))
                       | (score != np.round(score)))
    if outside.any():
        # The same refusal as nps_band / csat_band, for the first offending row.
        first = int(np.flatnonzero(outside)[0])
        (nps_band if is_nps[first] else csat_band)(score[first])
    nps_bands = np.select([score <= 6, score <= 8], ["detractor", "passive"], "promoter")
    # Every given score is now a whole number from 0 to 10: its text by position, not str(int()) per row.
    whole_numbers = np.array([str(number) for number in range(11)], dtype=object)
    csat_bands = np.where(given, whole_numbers[np.where(given, score, 0).astype(int)], "")
    frame["band"] = np.where(~given, None, np.where(is_nps, nps_bands, csat_bands))
    return frame


def band_churn_table(latest: pd.DataFrame) -> pd.DataFrame:
    """Churn by satisfaction band: one row per scale and band.

    Customers counted are those active on the day of their latest answer in the
    period; lost = a 'lost' event after that answer by period end + W; revenue
    lost = the period revenue of the lost ones. churn_low / churn_high: the
    95% Wilson interval of the churn rate.
    """
    # Bands of the scores alone: a copy of the answers with their comments and names is not needed.
    frame = assign_bands(latest[["scale", "score"]])
    # Sixteen bands counted over arrays: filtering the frame once per band copied its rows sixteen times.
    active = latest["active_at_answer"].astype(bool).to_numpy()
    scales = latest["scale"].to_numpy(dtype=object)[active]
    band_of_row = frame["band"].to_numpy(dtype=object)[active]
    lost_rows = latest["lost_after_answer"].astype(bool).to_numpy()[active]
    period_revenue = latest["period_revenue"].to_numpy(dtype="float64")[active]
    rows = []
    for scale, bands in (("nps", NPS_BANDS), ("csat", CSAT_BANDS)):
        of_scale = scales == scale
        for band in bands:
            in_group = of_scale & (band_of_row == band)
            customers, lost = int(in_group.sum()), int((in_group & lost_rows).sum())
            revenue = float(np.nansum(period_revenue[in_group]))
            revenue_lost = float(np.nansum(period_revenue[in_group & lost_rows]))
            interval = wilson_interval(lost, customers)
            rows.append({
                "scale": scale, "band": band, "customers": customers, "lost": lost,
                "churn_rate": safe_ratio(lost, customers),
                "churn_low": interval[0] if interval else None, "churn_high": interval[1] if interval else None,
                "revenue": revenue, "revenue_lost": revenue_lost,
                "revenue_lost_share": safe_ratio(revenue_lost, revenue),
            })
    result = pd.DataFrame(rows)
    # Undefined rates (an empty band) are NaN in a float column, never Python objects.
    for column in ("churn_rate", "churn_low", "churn_high", "revenue_lost_share"):
        result[column] = pd.to_numeric(result[column]).astype("float64")
    return result


def churn_gap(table: pd.DataFrame) -> dict[str, float | bool | None]:
    """How much more often unhappy customers leave: detractors vs promoters, CSAT 1-2 vs 4-5.

    ``*_gap_beyond_noise`` is the pooled two-proportion z-test at 95%
    (``two_proportion_differs``); None when either group is empty.
    """
    def counts(scale: str, bands: Iterable[str]) -> tuple[int, int]:
        rows = table[(table["scale"] == scale) & table["band"].isin(list(bands))]
        return int(rows["lost"].sum()), int(rows["customers"].sum())

    def gap(unhappy_counts: tuple[int, int], happy_counts: tuple[int, int]) -> dict[str, float | bool | None]:
        unhappy, happy = safe_ratio(*unhappy_counts), safe_ratio(*happy_counts)
        return {
            "unhappy": unhappy, "happy": happy,
            "points": None if unhappy is None or happy is None else 100 * (unhappy - happy),
            "ratio": safe_ratio(unhappy, happy),
            "beyond_noise": two_proportion_differs(*unhappy_counts, *happy_counts),
        }

    nps = gap(counts("nps", ["detractor"]), counts("nps", ["promoter"]))
    csat = gap(counts("csat", ["1", "2"]), counts("csat", ["4", "5"]))
    return {
        "detractor_churn_rate": nps["unhappy"],
        "promoter_churn_rate": nps["happy"],
        "nps_gap_points": nps["points"],
        "nps_churn_ratio": nps["ratio"],
        "nps_gap_beyond_noise": nps["beyond_noise"],
        "csat_low_churn_rate": csat["unhappy"],
        "csat_high_churn_rate": csat["happy"],
        "csat_gap_points": csat["points"],
        "csat_churn_ratio": csat["ratio"],
        "csat_gap_beyond_noise": csat["beyond_noise"],
    }


def follow_up_list(latest: pd.DataFrame) -> pd.DataFrame:
    """Customers whose latest answer was bad (NPS detractor or CSAT 1-2) and who are active at period end,
    one row each, most valuable (period revenue) first, with both latest scores and the bad answer's date and
    comment."""
    bands = assign_bands(latest[["scale", "score"]])["band"]
    unhappy = ((bands == "detractor") & (latest["scale"] == "nps")) | (
        (latest["scale"] == "csat") & bands.isin(["1", "2"]))
    bad = latest[unhappy & latest["active_at_end"].astype(bool)]
    segment_columns = [column for column in ("value_cell", "rfm_segment") if column in latest.columns]
    columns = ["customer_id", "name", "customer_type", "region", "sales_rep", *segment_columns, "period_revenue",
               "last_purchase_date"]
    if bad.empty:
        return pd.DataFrame(columns=[*columns, "latest_nps", "latest_csat", "answered_on", "comment"])
    customers = bad.drop_duplicates("customer_id").set_index("customer_id")
    latest_answer = bad.sort_values("response_date").drop_duplicates("customer_id", keep="last") \
        .set_index("customer_id")
    result = customers[columns[1:]].copy()
    # Both latest scores, the good one too: a blank would read as "never answered". Only the listed customers'
    # scores are looked up: an index of every answering customer's id took half of this function's time.
    # Matched in Arrow: pandas' isin on text walks every value in Python.
    listed = pc.is_in(pa.array(latest["customer_id"]), value_set=pa.array(bad["customer_id"])).to_numpy(
        zero_copy_only=False)
    theirs = latest.loc[listed, ["customer_id", "scale", "score"]]
    for scale in ("nps", "csat"):
        result[f"latest_{scale}"] = theirs[theirs["scale"] == scale].set_index("customer_id")["score"] \
            .reindex(result.index)
    result["answered_on"] = latest_answer["response_date"].reindex(result.index)
    result["comment"] = latest_answer["comment"].reindex(result.index)
    result = result.reset_index().sort_values(["period_revenue", "customer_id"], ascending=[False, True])
    result["latest_nps"] = result["latest_nps"].astype("Int64")
    result["latest_csat"] = result["latest_csat"].astype("Int64")
    return result.reset_index(drop=True)


# --- the database side ----------------------------------------------------------------------------------------

def _with_figures(groups: pd.DataFrame) -> pd.DataFrame:
    figures = pd.DataFrame([score_figures(row) for row in groups.to_dict(orient="records")], index=groups.index,
                           columns=list(score_figures({})))
    # Undefined figures are None in score_figures; as a column they become NaN in a float column, not objects.
    figures = figures.apply(pd.to_numeric)
    counts = groups[["survey", "dimension", "group_value", "customers", "promoters", "passives", "detractors",
                     "satisfied"]]
    return pd.concat([counts, figures], axis=1)


GROUP_DIMENSIONS = ("total", "month", "customer_type", "region", "sales_rep")
# What the page's first tab shows (headline and monthly trend): asking only for these makes its query a third
# of the cost of every dimension (distinct customers per group are most of it); other tabs ask for theirs.
TREND_DIMENSIONS = ("total", "month")


def score_groups(db: Database, filters: Filters, scope: Scope | None = None,
                 dimensions: tuple[str, ...] = GROUP_DIMENSIONS) -> pd.DataFrame:
    """Every group's counts and figures (satisfaction_groups plus score_figures), one row per survey x group."""
    groups = run(db, "satisfaction_groups", filters=filters, scope=scope, params={"dimensions": list(dimensions)})
    return _with_figures(groups)


_SEGMENT_LABELS = LruCache("segment labels of answering customers", 8, max_bytes=RESULT_FRAMES_BYTES)


def segment_labels(db: Database, filters: Filters, scope: Scope | None = None) -> pd.DataFrame:
    """Each buying customer's value grid cell, RFM segment and period revenue, as the segments page has them.

    The segments page's own rules label them (segments.segment_labels_by_key),
    so a follow-up list and the segments page never disagree on a customer's cell. Returns ``customer_id``,
    ``value_cell``, ``rfm_segment`` and ``period_revenue`` (net revenue in the
    period, 0 when returns outweigh purchases) for the customers with a
    purchase day in the period; everyone else answered without buying
    (``NO_SEGMENT``). Kept per data version, filters and scope: one page run
    asks several times.
    """
    labels = _SEGMENT_LABELS.get_or_compute(selection_key(db, filters, scope),
                                            lambda: _labels_of(_buyer_labels(db, filters, scope)))
    return handed_out(labels)


def _buyer_labels(db: Database, filters: Filters, scope: Scope | None) -> pd.DataFrame:
    """The segments page's grid cell, RFM segment and period revenue of each buyer, with their id.

    From the period's figures alone (segment_labels_by_key), not the whole classification with names and
    attributes, which took most of a second at 500,000 customers.
    """
    return with_customer_attributes(db, filters, scope, segment_labels_by_key(db, filters, scope), ["customer_id"])


def _labels_of(segments: pd.DataFrame) -> pd.DataFrame:
    # Text as pandas' text columns throughout: through numpy, 500,000 ids and labels became Python strings and
    # back, a fifth of a second.
    labels = pd.DataFrame({"customer_id": segments["customer_id"].astype(str).reset_index(drop=True)})
    for dimension, column in SEGMENT_LABEL_COLUMNS.items():
        labels[dimension] = segments[column].astype(str).reset_index(drop=True)
    labels["period_revenue"] = segments["revenue"].astype(float).clip(lower=0).to_numpy()
    return labels


def group_answer_counts(customer_answers: pd.DataFrame, labels: pd.DataFrame, dimension: str) -> pd.DataFrame:
    """Per-customer answer counts (satisfaction_customer_answers) summed by the customer's label in ``dimension``.

    Customers without a label fall in ``NO_SEGMENT``, so the groups still
    partition the answers. One row per survey x group plus survey 'all', shaped
    like satisfaction_groups.
    """
    labelled = customer_answers.merge(labels[["customer_id", dimension]], on="customer_id", how="left")
    labelled["group_value"] = labelled[dimension].astype(object).where(labelled[dimension].notna(), NO_SEGMENT)
    every_survey = labelled.assign(survey="all")
    frames = []
    for frame in (labelled, every_survey):
        grouped = frame.groupby(["survey", "group_value"], sort=True)
        summed = grouped[COUNT_COLUMNS].sum()
        summed["customers"] = grouped["customer_id"].nunique()
        frames.append(summed.reset_index())
    result = pd.concat(frames, ignore_index=True).assign(dimension=dimension)
    for column in (*COUNT_COLUMNS, "customers"):
        result[column] = result[column].astype("int64")
    return result


def surveys(groups: pd.DataFrame) -> list[str]:
    """Survey names present, the after-service questionnaire and the annual survey first."""
    names = sorted(set(groups["survey"]) - {"all"})
    return sorted(names, key=lambda name: ({"service": 0, "annual": 1}.get(name, 2), name))


def _total(groups: pd.DataFrame, survey: str) -> dict[str, Any]:
    rows = groups[(groups["survey"] == survey) & (groups["dimension"] == "total")]
    if rows.empty:
        return score_figures({})
    return {key: (None if not isinstance(value, str) and pd.isna(value) else value)
            for key, value in rows.iloc[0].to_dict().items()}


def _orders(db: Database, filters: Filters, scope: Scope | None) -> pd.DataFrame:
    orders = run(db, "satisfaction_orders", filters=filters, scope=scope)
    orders["month"] = pd.to_datetime(orders["month"])
    orders["orders"] = orders["orders"].astype(float)
    return orders


HEADLINE_DEFINITIONS: dict[str, tuple[str, str, str, bool]] = {
    "nps": ("NPS", "points", "% of answers 9-10 minus % 0-6, in points; every answer in the period counts.", True),
    "csat": ("CSAT", "share", "Share of 1-5 answers that are 4 or 5.", True),
    "average_score": ("Average score (1-5)", "ratio", "Mean of the 1-5 satisfaction answers.", True),
    "answers": ("Answers", "count", "Survey answers in the period.", True),
    "response_rate": ("Response rate", "share", SERVICE_RESPONSE_RATE_NOTE, True),
    "promoter_share": ("Promoters", "share", "Share of 0-10 answers that are 9 or 10.", True),
    "passive_share": ("Passives", "share", "Share of 0-10 answers that are 7 or 8.", True),
    "detractor_share": ("Detractors", "share", "Share of 0-10 answers from 0 to 6.", False),
}


def _period_totals(db: Database, filters: Filters, scope: Scope | None,
                   dimensions: tuple[str, ...] = GROUP_DIMENSIONS) -> dict[str, dict[str, Any]]:
    groups = score_groups(db, filters, scope, dimensions)
    orders = float(_orders(db, filters, scope)["orders"].sum())
    totals = {}
    for survey in [*surveys(groups), "all"]:
        figures = _total(groups, survey)
        figures["orders"] = orders
        figures["response_rate"] = safe_ratio(figures["answers"], orders) if survey == "service" else None
        figures["complaints_per_100_orders"] = complaints_per_100_orders(figures["complaints"], orders)
        totals[survey] = figures
    return totals


def headline(db: Database, filters: Filters, scope: Scope | None = None) -> dict[str, dict[str, Any]]:
    """Per survey: its Kpis (with the previous period), 95% intervals, and whether NPS/CSAT moved beyond noise."""
    # The previous period is only compared in total; its segment breakdowns are never shown. It goes
    # first: the period's own building blocks then stay materialised for the page's later queries.
    previous = _period_totals(db, filters.previous(), scope, ("total",))
    current = _period_totals(db, filters, scope, TREND_DIMENSIONS)
    result = {}
    for survey, figures in current.items():
        before = previous.get(survey, score_figures({}))
        before.setdefault("response_rate", None)
        # Only the after-service questionnaire has a known "asked" count (its jobs); elsewhere the rate is not shown.
        kpis = [Kpi(key=key, label=label, value=figures[key], previous=before.get(key), kind=kind, help=text,
                    higher_is_better=better)
                for key, (label, kind, text, better) in HEADLINE_DEFINITIONS.items()
                if key != "response_rate" or survey == "service"]
        result[survey] = {
            "kpis": kpis,
            "figures": figures,
            "previous": before,
            "nps_change_beyond_noise": differs(figures["nps"], figures["nps_error"], before.get("nps"),
                                               before.get("nps_error")),
            "csat_change_beyond_noise": two_proportion_differs(
                int(figures.get("satisfied") or 0), int(figures.get("csat_answers") or 0),
                int(before.get("satisfied") or 0), int(before.get("csat_answers") or 0)),
        }
    return result


TREND_COLUMNS = ["month", "answers", "nps_answers", "nps", "nps_margin", "promoter_share", "passive_share",
                 "detractor_share", "csat_answers", "csat", "csat_low", "csat_high", "average_score",
                 "response_rate"]


def monthly_scores(db: Database, filters: Filters, survey: str, scope: Scope | None = None) -> pd.DataFrame:
    """One row per calendar month of the period for ``survey``; every answer counts. A month without answers
    has 0 answers and undefined scores."""
    groups = score_groups(db, filters, scope, TREND_DIMENSIONS)
    answered = groups[(groups["survey"] == survey) & (groups["dimension"] == "month")].copy()
    answered["month"] = pd.to_datetime(answered["group_value"])
    months = pd.DataFrame({"month": pd.date_range(pd.Timestamp(filters.start).to_period("M").to_timestamp(),
                                                  pd.Timestamp(filters.end), freq="MS")})
    trend = months.merge(answered, on="month", how="left")
    for column in ("answers", "nps_answers", "csat_answers"):
        trend[column] = trend[column].fillna(0).astype("int64")
    if survey == "service":
        orders = _orders(db, filters, scope).set_index("month")["orders"]
        trend["response_rate"] = [safe_ratio(answers, orders.get(month)) for answers, month
                                  in zip(trend["answers"], trend["month"], strict=True)]
    else:
        trend["response_rate"] = None
    return trend[TREND_COLUMNS].sort_values("month").reset_index(drop=True)


def segment_table(db: Database, filters: Filters, dimension: str, survey: str, scope: Scope | None = None,
                  min_answers: int = DEFAULT_MIN_ANSWERS) -> pd.DataFrame:
    """Scores of each group of ``dimension`` for ``survey``.

    Groups with fewer than ``min_answers`` answers are flagged and not ranked.
    Each group's NPS and CSAT is tested against the rest of the answers (all
    other groups together); 'within noise' when the gap is under 1.96 standard
    errors.
    """
    if dimension not in SEGMENT_DIMENSIONS:
        raise ValueError(f"unknown segment dimension {dimension!r}; choose one of {', '.join(SEGMENT_DIMENSIONS)}")
    groups = score_groups(db, filters, scope, ("total", dimension) if dimension in GROUP_DIMENSIONS else ("total",))
    total = _total(groups, survey)
    labels = segment_labels(db, filters, scope) if dimension in SEGMENT_LABEL_COLUMNS else None
    if labels is not None:
        counts = run(db, "satisfaction_customer_answers", filters=filters, scope=scope)
        groups = _with_figures(group_answer_counts(counts, labels, dimension))
    table = groups[(groups["survey"] == survey) & (groups["dimension"] == dimension)].copy()
    table = table.rename(columns={"group_value": "group"}).reset_index(drop=True)
    # Counted for every group of a segment dimension; the query leaves it null only for the total and the months,
    # which turned the whole column into floats.
    table["customers"] = table["customers"].astype("int64")
    table["enough_answers"] = table["answers"] >= min_answers
    table["nps_vs_rest"] = [_versus_rest(row, total, "nps") for row in table.to_dict(orient="records")]
    table["csat_vs_rest"] = [_versus_rest(row, total, "csat") for row in table.to_dict(orient="records")]
    rank_by = "nps" if table["nps_answers"].sum() > 0 else "csat"
    ranked = table[table["enough_answers"] & table[rank_by].notna()]
    table["rank"] = ranked[rank_by].rank(ascending=False, method="min").astype("Int64").reindex(table.index)
    table.loc[~table["enough_answers"], ["nps_vs_rest", "csat_vs_rest"]] = "too few answers"
    orders = _group_orders(db, filters, scope, dimension, labels, table["group"])
    table["response_rate"] = [safe_ratio(answers, group_orders) if survey == "service" else None
                              for answers, group_orders in zip(table["answers"], orders, strict=True)]
    table["complaints_per_100_orders"] = [complaints_per_100_orders(complaints, group_orders) for
                                          complaints, group_orders in zip(table["complaints"], orders, strict=True)]
    for column in ("response_rate", "complaints_per_100_orders"):
        table[column] = pd.to_numeric(table[column]).astype("float64")
    # The verdicts come first: on a narrow screen they are what a reader must not miss.
    columns = ["group", "answers", "rank", "nps", "nps_margin", "nps_vs_rest", "csat", "csat_low", "csat_high",
               "csat_vs_rest", "enough_answers", "customers", "response_rate", "promoter_share", "passive_share",
               "detractor_share", "average_score", "complaints", "complaints_per_100_orders"]
    return table[columns].sort_values(["rank", "answers"], ascending=[True, False], na_position="last") \
        .reset_index(drop=True)


def _group_orders(db: Database, filters: Filters, scope: Scope | None, dimension: str,
                  labels: pd.DataFrame | None, groups: pd.Series) -> list[float | None]:
    """Orders in the period of each group's customers: the after-service questionnaires sent (one per job) and
    the denominator of the complaint rate."""
    orders = run(db, "satisfaction_customer_orders", filters=filters, scope=scope)
    if labels is not None:
        orders[dimension] = by_customer(orders["customer_id"], labels, {dimension: NO_SEGMENT})[dimension]
    by_group = orders.groupby(dimension)["orders"].sum()
    return [None if by_group.get(group) is None else float(by_group.get(group)) for group in groups]


def _versus_rest(row: dict[str, Any], total: dict[str, Any], scale: str) -> str | None:
    """'higher', 'lower' or 'within noise' against all other answers (the groups of a dimension partition them).

    NPS: gap over 1.96 combined standard errors; CSAT: the pooled two-proportion z-test."""
    def rest(key: str) -> int:
        return int(total.get(key) or 0) - int(row[key])

    if scale == "nps":
        rest_n, rest_promoters, rest_detractors = rest("nps_answers"), rest("promoters"), rest("detractors")
        value, rest_value = row["nps"], nps_score(rest_promoters, rest_detractors, rest_n)
        if value is None or pd.isna(value):
            return None
        verdict = differs(value, row["nps_error"], rest_value,
                          nps_standard_error(rest_promoters, rest_detractors, rest_n))
    else:
        rest_n, rest_satisfied = rest("csat_answers"), rest("satisfied")
        value, rest_value = row["csat"], csat_share(rest_satisfied, rest_n)
        if value is None or pd.isna(value):
            return None
        verdict = two_proportion_differs(int(row["satisfied"]), int(row["csat_answers"]), rest_satisfied, rest_n)
    if verdict is None:
        return None
    if not verdict:
        return "within noise"
    return "higher" if value > rest_value else "lower"


def latest_answers(db: Database, filters: Filters, scope: Scope | None = None) -> pd.DataFrame:
    """Each customer's latest NPS and latest CSAT answer in the period, with activity and loss after it."""
    frame = run(db, "satisfaction_latest_answers", filters=filters, scope=scope)
    # The segments page's cells, RFM names and revenue, so a follow-up list and that page agree.
    labelled = by_customer(frame["customer_id"], segment_labels(db, filters, scope),
                           {**dict.fromkeys(SEGMENT_LABEL_COLUMNS, NO_SEGMENT), "period_revenue": 0.0})
    for column, values in labelled.items():
        frame[column] = values
    frame["period_revenue"] = frame["period_revenue"].astype(float)
    return frame


def band_churn(db: Database, filters: Filters, scope: Scope | None = None) -> pd.DataFrame:
    return band_churn_table(latest_answers(db, filters, scope))


def complaints(db: Database, filters: Filters, scope: Scope | None = None) -> pd.DataFrame:
    """Complaints raised in the period, and older ones still open on the data's last day."""
    return run(db, "satisfaction_complaints", filters=filters, scope=scope)


def open_complaints(complaint_rows: pd.DataFrame) -> pd.DataFrame:
    """Open complaints, oldest first (age = days from the answer to the data's last day)."""
    open_rows = complaint_rows[complaint_rows["is_open"].astype(bool)]
    return open_rows.sort_values(["age_days", "feedback_id"], ascending=[False, True]).reset_index(drop=True)


def complaints_by(db: Database, filters: Filters, dimension: str, scope: Scope | None = None) -> pd.DataFrame:
    """Per month or per sales rep: orders, complaints raised (any survey), complaints per 100 orders, those still
    open on the data's last day, and the median days to resolve. Months and reps with orders and no complaint
    are rows too."""
    if dimension not in ("month", "sales_rep"):
        raise ValueError("complaints are broken down by 'month' or 'sales_rep'")
    groups = score_groups(db, filters, scope, ("total", dimension))
    table = groups[(groups["survey"] == "all") & (groups["dimension"] == dimension)]
    table = table.rename(columns={"group_value": dimension})[
        [dimension, "complaints", "open_complaints", "median_days_to_resolve"]]
    if dimension == "month":
        orders = _orders(db, filters, scope)
        table = table.assign(month=pd.to_datetime(table["month"])).merge(orders, on="month", how="outer")
    else:
        orders = run(db, "satisfaction_customer_orders", filters=filters, scope=scope) \
            .groupby("sales_rep", as_index=False)["orders"].sum()
        table = table.merge(orders, on="sales_rep", how="outer")
    # A month or rep with orders but no complaint has 0 complaints, not an undefined number.
    table["complaints"] = table["complaints"].fillna(0).astype("int64")
    table["open_complaints"] = table["open_complaints"].fillna(0).astype("int64")
    table["orders"] = table["orders"].fillna(0).astype("int64")
    table["complaints_per_100_orders"] = pd.to_numeric(pd.Series(
        [complaints_per_100_orders(complaints, orders) for complaints, orders
         in zip(table["complaints"], table["orders"], strict=True)], index=table.index, dtype="object")).astype(
        "float64")
    table = table[[dimension, "orders", "complaints", "complaints_per_100_orders", "open_complaints",
                   "median_days_to_resolve"]]
    if dimension == "month":
        return table.sort_values("month").reset_index(drop=True)
    return table.sort_values(["complaints", dimension], ascending=[False, True]).reset_index(drop=True)


def comments(db: Database, filters: Filters, scope: Scope | None = None) -> pd.DataFrame:
    """Answers with a comment in the period, newest first (every one: the page shows the newest
    ``COMMENT_ROWS_SHOWN`` and offers all as a CSV)."""
    return run(db, "satisfaction_comments", filters=filters, scope=scope)


def detractor_terms(comment_rows: pd.DataFrame, limit: int = 20) -> pd.DataFrame:
    """Most frequent words and phrases in detractors' comments (NPS 0-6)."""
    detractor_rows = comment_rows[comment_rows["nps"].map(nps_band) == "detractor"]
    return frequent_terms(detractor_rows["comment"], limit)


def satisfaction_report(db: Database, filters: Filters, scope: Scope | None = None,
                        min_answers: int = DEFAULT_MIN_ANSWERS) -> dict[str, Any]:
    """What ``python -m customer_value satisfaction --json`` prints: headline figures, segment tables and
    churn by band."""
    summary = headline(db, filters, scope)
    table = band_churn(db, filters, scope)
    previous = filters.previous()
    return {
        "filters": {"start": filters.start.isoformat(), "end": filters.end.isoformat(),
                    "previous_start": previous.start.isoformat(), "previous_end": previous.end.isoformat(),
                    "customer_types": list(filters.customer_types), "regions": list(filters.regions),
                    "sales_reps": list(filters.sales_reps), "window_days": filters.window_days},
        "surveys": {
            survey: {
                "kpis": {kpi.key: kpi.as_dict() for kpi in entry["kpis"]},
                "nps_margin": entry["figures"]["nps_margin"],
                "csat_interval": [entry["figures"]["csat_low"], entry["figures"]["csat_high"]],
                "nps_change_beyond_noise": entry["nps_change_beyond_noise"],
                "csat_change_beyond_noise": entry["csat_change_beyond_noise"],
            }
            for survey, entry in summary.items()
        },
        "segments": {
            survey: {dimension: segment_table(db, filters, dimension, survey, scope, min_answers)
                     for dimension in SEGMENT_DIMENSIONS}
            for survey in summary
        },
        "min_answers": min_answers,
        "band_churn": table.to_dict(orient="records"),
        "churn_gap": churn_gap(table),
        "notes": [
            "Every answer counts for the scores; the by-band churn table uses each customer's latest answer in "
            "the period, among customers active on that day; lost = a 'lost' event after the answer, by period "
            f"end + {filters.window_days} days (known up to the data's last day).",
            SERVICE_RESPONSE_RATE_NOTE,
        ],
    }
