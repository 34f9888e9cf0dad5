"""K-Means clusters of buying customers (domain brief section 2, the bank study's segmentation).

Features, each standardised (mean 0, standard deviation 1) after a log:
log(1 + recency days), log(1 + purchase days), signed log of net revenue, and,
where the period has cost data, signed log of average gross profit per order
(customers without cost data get the median so they sit in the middle).
k is the one with the best silhouette in 2..8 unless the user sets it; the
silhouette is measured on a fixed random sample of at most 1,500 customers and
the candidate models are fitted on at most 3,000, so the choice stays quick at
500k customers; the final model is then fitted on everyone. A fixed seed makes
the result repeatable.

Each cluster is described from its centre in standard units: above +0.5 is
"high", below -0.5 "low", in between "average", turned into words such as
"recent, frequent, high spend".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from customer_value.errors import UserFacingError

K_RANGE = range(2, 9)
DEFAULT_SEED = 42
SILHOUETTE_SAMPLE = 1_500
SELECTION_SAMPLE = 3_000
HIGH, LOW = 0.5, -0.5
# Words for (low, average, high) standardised centre values of each feature.
WORDS = {
    "recency": ("recent", "moderately recent", "lapsed"),  # low days since purchase = recent
    "frequency": ("occasional", "moderate frequency", "frequent"),
    "monetary": ("low spend", "average spend", "high spend"),
    "margin": ("thin margin", "average margin", "high margin"),
}


@dataclass(frozen=True)
class ClusterResult:
    labels: pd.Series          # cluster number per customer (same index as the input)
    profiles: pd.DataFrame     # one row per cluster: size, value, centre, description
    k: int
    k_chosen_by_silhouette: bool
    silhouettes: dict[int, float]  # k -> silhouette on the sample (only when k was chosen)
    features: list[str]


def _signed_log(values: pd.Series) -> np.ndarray:
    numbers = values.astype(float).to_numpy()
    return np.sign(numbers) * np.log1p(np.abs(numbers))


def feature_matrix(customers: pd.DataFrame) -> pd.DataFrame:
    """The log features before standardising; margin only when some customer has cost data."""
    features = pd.DataFrame({
        "recency": np.log1p(customers["recency_days"].astype(float).clip(lower=0)),
        "frequency": np.log1p(customers["frequency"].astype(float).clip(lower=0)),
        "monetary": _signed_log(customers["revenue"]),
    }, index=customers.index)
    if "profit_per_order" in customers and customers["profit_per_order"].notna().any():
        margin = customers["profit_per_order"].astype(float)
        features["margin"] = _signed_log(margin.fillna(margin.median()))
    return features


def describe_centre(centre: pd.Series) -> str:
    """Plain words for a standardised cluster centre, e.g. "recent, frequent, high spend"."""
    words = []
    for feature, value in centre.items():
        low, middle, high = WORDS[feature]
        words.append(low if value < LOW else high if value > HIGH else middle)
    return ", ".join(words)


def _fit(matrix: np.ndarray, k: int, seed: int, n_init: int = 4) -> KMeans:
    # On a few cores, OpenMP/BLAS threads fighting over them made each fit 30x slower than one thread.
    with threadpool_limits(1):
        return KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(matrix)


def cluster_customers(customers: pd.DataFrame, k: int | None = None, seed: int = DEFAULT_SEED) -> ClusterResult:
    """K-Means clusters of customers on standardised log recency, frequency, monetary (and margin).

    Parameters
    ----------
    customers : pandas.DataFrame
        One row per buying customer with ``recency_days``, ``frequency``,
        ``revenue`` and optionally ``profit_per_order`` (as
        :func:`customer_value.segments.customer_segments` returns).
    k : int, optional
        Number of clusters (2..8); chosen by silhouette when omitted.
    seed : int
        Random seed for sampling and K-Means: same data and seed, same clusters.

    Returns
    -------
    ClusterResult
        Clusters are numbered 1..k by descending total revenue.
    """
    if k is not None and k not in K_RANGE:
        raise UserFacingError(f"the number of clusters must be between {K_RANGE.start} and {K_RANGE.stop - 1}")
    features = feature_matrix(customers)
    distinct = len(features.drop_duplicates())
    if distinct < 3:
        raise UserFacingError("clusters need at least three customers with different purchase patterns; "
                              "widen the period or the filters")
    matrix = StandardScaler().fit_transform(features.to_numpy())
    # A constant feature standardises to 0 (StandardScaler leaves it unscaled), which K-Means ignores.
    rng = np.random.default_rng(seed)
    silhouettes: dict[int, float] = {}
    chosen_by_silhouette = k is None
    if k is None:
        candidates = [c for c in K_RANGE if c < distinct]
        selection = matrix if len(matrix) <= SELECTION_SAMPLE else matrix[
            np.sort(rng.choice(len(matrix), SELECTION_SAMPLE, replace=False))]
        sample_size = min(SILHOUETTE_SAMPLE, len(selection))
        for candidate in candidates:
            labels = _fit(selection, candidate, seed, n_init=2).labels_
            if len(set(labels)) < 2:
                continue
            with threadpool_limits(1):
                silhouettes[candidate] = float(silhouette_score(selection, labels, sample_size=sample_size,
                                                                random_state=seed))
        if not silhouettes:
            raise UserFacingError("the customers are too alike to form clusters; widen the period or the filters")
        # Highest silhouette; the smaller k wins a tie (simpler to read).
        k = max(silhouettes, key=lambda c: (round(silhouettes[c], 12), -c))
    elif k >= distinct:
        raise UserFacingError(f"only {distinct} distinct purchase patterns here; choose fewer than {distinct} "
                              "clusters")
    model = _fit(matrix, k, seed)
    raw_labels = pd.Series(model.labels_, index=customers.index)
    revenue = customers["revenue"].astype(float)
    # Number clusters by total revenue so "cluster 1" is the most valuable whatever K-Means' order.
    order = revenue.groupby(raw_labels).sum().sort_values(ascending=False).index
    renumber = {old: new for new, old in enumerate(order, start=1)}
    labels = raw_labels.map(renumber).astype("int64")
    centres = pd.DataFrame(model.cluster_centers_, columns=features.columns).rename(index=renumber).sort_index()
    profiles = _profiles(customers, labels, centres)
    return ClusterResult(labels, profiles, int(k), chosen_by_silhouette, silhouettes, list(features.columns))


def _profiles(customers: pd.DataFrame, labels: pd.Series, centres: pd.DataFrame) -> pd.DataFrame:
    frame = customers.assign(cluster=labels)
    total_revenue = float(frame["revenue"].sum())
    grouped = frame.groupby("cluster").agg(
        customers=("customer_id", "size"), revenue=("revenue", "sum"),
        median_recency_days=("recency_days", "median"), median_purchase_days=("frequency", "median"),
        median_revenue=("revenue", "median"))
    grouped["customer_share"] = grouped["customers"] / len(frame)
    grouped["revenue_share"] = grouped["revenue"] / total_revenue if total_revenue else np.nan
    grouped["description"] = [describe_centre(centres.loc[cluster]) for cluster in grouped.index]
    for feature in centres.columns:
        grouped[f"centre_{feature}"] = centres[feature]
    grouped["customers"] = grouped["customers"].astype("int64")
    return grouped.reset_index()
