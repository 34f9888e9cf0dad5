"""RFM scores and the customary named segments (domain brief section 2, "RFM grid").

For the customers who bought in the period:

- recency   = days from the last purchase day in the period to the period's end
              (fewer days = better);
- frequency = purchase days in the period (days with a non-cancelled line of
              positive revenue; two orders on one day are one purchase);
- monetary  = net revenue in the period (returns and cancellations deducted).

Each becomes a score 1-5 by quintiles of rank. Ties are handled
deterministically and fairly: equal values always get the same score, the
score of the first rank of their group, ``1 + floor(5 * (min_rank - 1) / n)``.
So every single-purchase customer gets F = 1, however many there are, and a
value shared by 60% of customers does not spill into three scores at random.

Segments are rectangles on the recency x frequency grid, checked in order; the
first rule a customer's (R, F) satisfies names their segment. The defaults
cover all 25 cells exactly once; a user who narrows a rule leaves some cells to
"Other".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from customer_value.errors import UserFacingError

SCORES = (1, 2, 3, 4, 5)
OTHER_SEGMENT = "Other"


@dataclass(frozen=True)
class SegmentRule:
    """Customers with r_min <= R <= r_max and f_min <= F <= f_max (scores 1-5)."""

    segment: str
    r_min: int
    r_max: int
    f_min: int
    f_max: int
    meaning: str = ""

    def matches(self, r_score: pd.Series, f_score: pd.Series) -> pd.Series:
        return r_score.between(self.r_min, self.r_max) & f_score.between(self.f_min, self.f_max)

    def describe(self) -> str:
        def span(low: int, high: int) -> str:
            return str(low) if low == high else f"{low}-{high}"

        return f"R {span(self.r_min, self.r_max)}, F {span(self.f_min, self.f_max)}"


DEFAULT_SEGMENT_RULES: tuple[SegmentRule, ...] = (
    SegmentRule("Champions", 5, 5, 4, 5, "bought very recently and often"),
    SegmentRule("Loyal", 3, 4, 4, 5, "buy often, fairly recently"),
    SegmentRule("Potential loyalist", 4, 5, 2, 3, "recent, have bought a few times"),
    SegmentRule("New customers", 5, 5, 1, 1, "bought once, very recently"),
    SegmentRule("Promising", 4, 4, 1, 1, "bought once, recently"),
    SegmentRule("Need attention", 3, 3, 3, 3, "middling recency and frequency"),
    SegmentRule("About to sleep", 3, 3, 1, 2, "few purchases, not recent"),
    SegmentRule("At risk", 1, 2, 3, 4, "used to buy fairly often, long ago"),
    SegmentRule("Can't lose them", 1, 2, 5, 5, "bought most often, but long ago"),
    SegmentRule("Hibernating", 2, 2, 1, 2, "few purchases, long ago"),
    SegmentRule("Lost", 1, 1, 1, 2, "few purchases, longest ago"),
)


def quintile_scores(values: pd.Series, *, higher_is_better: bool = True) -> pd.Series:
    """Scores 1-5 by quintile of rank; equal values get equal scores.

    Parameters
    ----------
    values : pandas.Series
        One value per customer (no missing values).
    higher_is_better : bool
        When False (recency in days), smaller values score higher.

    Returns
    -------
    pandas.Series of int64
        ``1 + floor(5 * (r - 1) / n)`` where ``r`` is the lowest 1-based rank
        of the value's tie group in the "worse to better" order and ``n`` the
        number of values. Independent of row order.
    """
    if values.empty:
        return pd.Series([], index=values.index, dtype="int64")
    if values.isna().any():
        raise ValueError("quintile_scores needs a value for every customer")
    if pd.api.types.is_integer_dtype(values.dtype):
        whole = values.to_numpy(dtype="int64")
        if not higher_is_better:
            whole = -whole
        low, high = int(whole.min()), int(whole.max())
        if high - low <= 4 * len(whole):
            # Days and purchase counts span a small range: the lowest rank of a value is one more than the
            # number of smaller values, read off the running count of each value, no sort needed.
            occurrences = np.bincount(whole - low)
            first_rank = (np.cumsum(occurrences) - occurrences + 1)[whole - low]
            scores = 1 + (5 * (first_rank - 1)) // len(values)
            return pd.Series(np.clip(scores, 1, 5), index=values.index, dtype="int64")
    ordered = values.astype(float).to_numpy()
    if not higher_is_better:
        ordered = -ordered
    # The lowest rank of each value's tie group ("min" ranking): sort once, mark where each run of equal values
    # starts, carry that position along the run. (A binary search per value took 70 ms per score at 375,000.)
    order = np.argsort(ordered, kind="stable")
    in_order = ordered[order]
    starts = np.concatenate([[True], in_order[1:] != in_order[:-1]])
    run_start = np.maximum.accumulate(np.where(starts, np.arange(len(in_order)), 0))
    first_rank = np.empty(len(in_order), dtype="int64")
    first_rank[order] = run_start + 1
    scores = 1 + np.floor(5 * (first_rank - 1) / len(values)).astype("int64")
    return pd.Series(np.clip(scores, 1, 5), index=values.index, dtype="int64")


def rfm_values(customers: pd.DataFrame, end) -> pd.DataFrame:
    """Recency, frequency and monetary value of each customer for a period ending on ``end``.

    Parameters
    ----------
    customers : pandas.DataFrame
        One row per buying customer with ``last_purchase_date``, ``purchase_days``
        and ``revenue`` (as :func:`customer_value.segments.customer_segments` reads them).
    end : date
        The period's last day.

    Returns
    -------
    pandas.DataFrame
        ``recency_days``, ``frequency`` and ``monetary``, same index.
    """
    last = pd.to_datetime(customers["last_purchase_date"])
    recency = (pd.Timestamp(end) - last).dt.days.astype("int64")
    return pd.DataFrame({
        "recency_days": recency,
        "frequency": customers["purchase_days"].astype("int64"),
        "monetary": customers["revenue"].astype(float),
    }, index=customers.index)


def rfm_scores(values: pd.DataFrame) -> pd.DataFrame:
    """R, F and M scores 1-5 from :func:`rfm_values` output.

    Customers with a single purchase always have F = 1: they hold the lowest
    frequency, and ties share the score of their first rank.
    """
    scores = rf_scores(values)
    scores["m_score"] = quintile_scores(values["monetary"])
    return scores


def rf_scores(values: pd.DataFrame) -> pd.DataFrame:
    """The R and F scores of :func:`rfm_scores`, all a segment rule reads (M costs a sort of the revenues)."""
    scores = pd.DataFrame({
        "r_score": quintile_scores(values["recency_days"], higher_is_better=False),
        "f_score": quintile_scores(values["frequency"]),
    }, index=values.index)
    single = values["frequency"] <= 1
    scores.loc[single, "f_score"] = 1
    return scores


def validate_rules(rules: list[SegmentRule] | tuple[SegmentRule, ...]) -> None:
    """Raise UserFacingError when a rule's bounds are not scores or are reversed."""
    for rule in rules:
        name = rule.segment.strip() or "(unnamed)"
        bounds = (rule.r_min, rule.r_max, rule.f_min, rule.f_max)
        if any(bound not in SCORES for bound in bounds):
            raise UserFacingError(f"segment {name}: every bound must be a whole score from 1 to 5")
        if rule.r_min > rule.r_max or rule.f_min > rule.f_max:
            raise UserFacingError(f"segment {name}: a lower bound is above its upper bound")
        if not rule.segment.strip():
            raise UserFacingError("every segment rule needs a name")


def assign_segments(r_score: pd.Series, f_score: pd.Series,
                    rules: list[SegmentRule] | tuple[SegmentRule, ...] = DEFAULT_SEGMENT_RULES) -> pd.Series:
    """The first rule each (R, F) pair satisfies; "Other" when none does."""
    validate_rules(rules)
    r_values, f_values = r_score.to_numpy(), f_score.to_numpy()
    if len(r_values) > len(SCORES) ** 2 and np.isin(r_values, SCORES).all() and np.isin(f_values, SCORES).all():
        # Rule masks over 375,000 customers cost a pass per rule; a lookup of each customer's pair does not.
        codes, names = segment_codes(r_values, f_values, rules)
        return pd.Series(names[codes], index=r_score.index, dtype=object)
    return _first_matching_rule(r_score, f_score, rules)


def segment_codes(r_score: np.ndarray, f_score: np.ndarray,
                  rules: list[SegmentRule] | tuple[SegmentRule, ...] = DEFAULT_SEGMENT_RULES
                  ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`assign_segments` as each customer's position in an array of segment names, and that array.

    The 25 (R, F) pairs are decided by the rules once. Scores must be whole numbers 1-5, as
    :func:`rfm_scores` gives them.
    """
    validate_rules(rules)
    r_values, f_values = np.asarray(r_score, dtype="int64"), np.asarray(f_score, dtype="int64")
    if len(r_values) and (min(r_values.min(), f_values.min()) < 1 or max(r_values.max(), f_values.max()) > 5):
        raise ValueError("segment_codes needs R and F scores from 1 to 5")
    pairs_r = pd.Series([r for r in SCORES for _ in SCORES])
    pairs_f = pd.Series([f for _ in SCORES for f in SCORES])
    names, pair_codes = np.unique(_first_matching_rule(pairs_r, pairs_f, rules).to_numpy(dtype=str),
                                  return_inverse=True)
    pair = (r_values - 1) * len(SCORES) + (f_values - 1)
    return pair_codes[pair], names.astype(object)


def _first_matching_rule(r_score: pd.Series, f_score: pd.Series,
                         rules: list[SegmentRule] | tuple[SegmentRule, ...]) -> pd.Series:
    segment = pd.Series(OTHER_SEGMENT, index=r_score.index, dtype=object)
    unassigned = pd.Series(True, index=r_score.index)
    for rule in rules:
        hit = unassigned & rule.matches(r_score, f_score)
        segment[hit] = rule.segment
        unassigned &= ~hit
    return segment


def segment_map(rules: list[SegmentRule] | tuple[SegmentRule, ...] = DEFAULT_SEGMENT_RULES) -> pd.DataFrame:
    """The segment of each cell of the 5 x 5 recency x frequency grid (rows R 5..1, columns F 1..5)."""
    r_values = pd.Series([r for r in reversed(SCORES) for _ in SCORES])
    f_values = pd.Series([f for _ in SCORES for f in SCORES])
    names = assign_segments(r_values, f_values, rules).to_numpy().reshape(5, 5)
    return pd.DataFrame(names, index=pd.Index(list(reversed(SCORES)), name="r_score"),
                        columns=pd.Index(list(SCORES), name="f_score"))


def rules_frame(rules: list[SegmentRule] | tuple[SegmentRule, ...] = DEFAULT_SEGMENT_RULES) -> pd.DataFrame:
    """The rules as a table the page shows and lets the user edit."""
    return pd.DataFrame([{"segment": rule.segment, "r_min": rule.r_min, "r_max": rule.r_max,
                          "f_min": rule.f_min, "f_max": rule.f_max, "rule": rule.describe(),
                          "meaning": rule.meaning} for rule in rules])


def rules_from_frame(frame: pd.DataFrame) -> list[SegmentRule]:
    """Rules read back from an edited :func:`rules_frame` table; bad bounds raise UserFacingError."""
    rules: list[SegmentRule] = []
    for row in frame.to_dict(orient="records"):
        try:
            bounds = [int(row[key]) for key in ("r_min", "r_max", "f_min", "f_max")]
        except (TypeError, ValueError):
            raise UserFacingError(f"segment {row.get('segment') or '(unnamed)'}: every bound must be a whole "
                                  "score from 1 to 5") from None
        rules.append(SegmentRule(str(row.get("segment") or "").strip(), *bounds, str(row.get("meaning") or "")))
    validate_rules(rules)
    return rules


def heat_map(scored: pd.DataFrame) -> pd.DataFrame:
    """Customers and revenue in each recency x frequency cell (all 25 cells, empty ones as 0).

    Parameters
    ----------
    scored : pandas.DataFrame
        ``r_score``, ``f_score`` and ``revenue`` per customer.
    """
    grid = pd.MultiIndex.from_product([list(reversed(SCORES)), list(SCORES)], names=["r_score", "f_score"])
    cells = scored.groupby(["r_score", "f_score"]).agg(customers=("revenue", "size"), revenue=("revenue", "sum"))
    cells = cells.reindex(grid, fill_value=0)
    cells["customers"] = cells["customers"].astype("int64")
    cells["revenue"] = cells["revenue"].astype(float)
    return cells.reset_index()
