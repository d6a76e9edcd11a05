"""The drift rule: per-feature measures against the training reference, and the verdict.

Every feature of the model's spec is compared: numbers (`int`, `float`) as numbers,
categories and booleans as categories (a boolean is the two categories false and true).
Per feature, two measures against the reference stored in the model's store entry:

- PSI over the bins fixed at training time (`drift_reference.json`): the reference
  deciles for numbers, one bin per value for categories and booleans, plus, for
  categories, an "unseen" bin for values the spec does not list (its reference share
  is 0, floored at `psi.EPSILON`, so unseen values raise the PSI steeply). SPEC section
  4's band: < 0.10 stable, 0.10-0.25 moderate, > 0.25 significant. It is reported, not
  voted: its noise floor is about (bins - 1) / n_current, so a fixed 0.25 cut would flag
  noise in small samples.
- A drift test chosen by the kind and the current sample's size, which decides the
  feature's `drift`. k is the number of features compared and alpha = 0.05 / k
  (Bonferroni), so that with no drift at all the chance that *any* feature is flagged
  (a false dataset alarm) stays at most 5%, however many features the model has. (A
  per-feature test at 5% alone flags a fresh sample of a 20-feature model most of the
  time: 1 - 0.95**20 = 64%.)
  - numbers, n_current <= 1,000: SciPy's two-sample Kolmogorov-Smirnov test (`ks`);
    drift when p < alpha. With tied integer values the test is conservative, so it errs
    towards "no drift".
  - numbers, n_current > 1,000: p-values flag trivial shifts at this size, so the test is
    an effect size instead (`wasserstein_norm`, p_value null): SciPy's Wasserstein
    distance divided by the reference's standard deviation; drift when >= 0.1, a shift
    of a tenth of the feature's usual spread.
  - categories, n_current <= 1,000: two p-values, and drift when the smaller is below
    alpha (reported as `p_value`).
    - Pearson's chi-square test of homogeneity (`chi2`, SciPy's `chi2_contingency`
      without continuity correction) of the reference's and the current sample's counts
      of the values the spec lists. Two-sample, like KS: the reference is a sample too,
      and treating its shares as exact would inflate the statistic by (1 + n_current /
      n_reference) and with it the false alarms. Values absent from both samples are
      left out, and values with an expected count below 5 are pooled (Cochran's rule:
      with rare values in a small sample the statistic is not chi-square distributed,
      and a 24-feature model with 40- and 60-value categories raised about 9% false
      dataset alarms at n_current = 100 without pooling, 5% with it).
    - The unseen bucket, values the spec does not list, which no training row holds: the
      exact two-sample p-value (n_current / (n_current + n_reference)) ** u of u unseen
      values (the chance that all u fell in the current sample had both samples come
      from one distribution). With no unseen value it is 1, so the false-alarm rate is
      the chi-square test's. At n_current = 400 against 4,000 reference rows, one unseen
      value gives p = 0.09 and three give 0.00075.
  - categories, n_current > 1,000: an effect size (`tvd`): the total variation distance
    0.5 * sum(|current share - reference share|) over the values and the unseen bucket,
    the share of rows that would have to change category to turn one distribution into
    the other (between 0 and 1). Drift when TVD >= 0.1 *and* the smaller p-value above
    is below alpha. The test guards the bound against noise: with no drift the TVD of a
    feature with m values is about 0.4 * sqrt(m * (1/n_current + 1/n_reference)), near
    0.1 for 50 values at n_current = 1,001, while the test keeps such a feature's false
    alarms below alpha; for a handful of values the bound alone decides.

Values the spec does not list for a category go to its "unseen" bucket: they are drift
evidence in the test, the TVD and the PSI, and the report counts them by value.

Dataset verdict: drift when any feature drifts (one shifted input is enough to make the
model score a population it was not trained on). The per-feature alpha above is what
keeps this verdict's false alarms at 5% or less across features.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from riskserve import psi
from riskserve.spec import NUMERIC_KINDS, Feature, ModelSpec

KS_MAX_ROWS = 1000
ALPHA = 0.05
WASSERSTEIN_NORM_DRIFT = 0.1
TVD_DRIFT = 0.1
# Cochran's rule: the chi-square test wants every expected count at least this large.
MIN_EXPECTED = 5.0
BOOL_VALUES = ("false", "true")
RULE = (
    f"alpha = {ALPHA} / features compared (Bonferroni). Numbers: n_current <= {KS_MAX_ROWS}: "
    f"KS p < alpha; else Wasserstein / reference std >= {WASSERSTEIN_NORM_DRIFT}. "
    f"Categories and booleans: p = the smaller of the chi-square p over the listed values "
    f"(sparse ones pooled) and the exact p of the unseen values; n_current <= {KS_MAX_ROWS}: "
    f"p < alpha; else total variation distance (unseen bucket included) >= {TVD_DRIFT} "
    "and p < alpha. Dataset drift: any feature drifts. PSI is reported with "
    "its band, not voted."
)


def categories(feature: Feature) -> tuple[str, ...]:
    """A categorical feature's values in code order (a boolean's: false, true)."""
    return feature.values if feature.values is not None else BOOL_VALUES


def numeric_drift(
    reference: np.ndarray, current: np.ndarray, bins: dict[str, list[float]], alpha: float
) -> dict[str, Any]:
    """PSI and the size-appropriate test of one numeric feature (see the module docstring)."""
    value = psi.psi(bins["fractions"], psi.bin_fractions(current, np.asarray(bins["edges"])))
    if len(current) <= KS_MAX_ROWS:
        result = stats.ks_2samp(reference, current)
        test, statistic, p_value = "ks", float(result.statistic), float(result.pvalue)
        drift = p_value < alpha
    else:
        # A constant reference has no spread to scale by: keep the raw distance.
        spread = float(np.std(reference)) or 1.0
        statistic = float(stats.wasserstein_distance(reference, current)) / spread
        test, p_value = "wasserstein_norm", None
        drift = statistic >= WASSERSTEIN_NORM_DRIFT
    return {
        "psi": value,
        "psi_band": psi.psi_band(value),
        "test": test,
        "statistic": statistic,
        "p_value": p_value,
        "drift": bool(drift),
    }


def pool_sparse(table: np.ndarray) -> np.ndarray:
    """The 2 x m count table with sparse columns pooled, so every expected count is >= 5.

    Pearson's chi-square is only chi-square distributed when expected counts are not
    small (Cochran's rule: at least 5); rare values in a small sample would otherwise
    raise false alarms. Columns whose smaller expected count is below 5 are pooled into
    one, and while the pool is still below 5 it absorbs the next smallest column.
    """
    rows = table.sum(axis=1, keepdims=True)
    columns = table.sum(axis=0)
    least = columns * rows.min() / rows.sum()  # a column's smaller expected count
    order = np.argsort(least, kind="stable")
    sparse = int(np.searchsorted(least[order], MIN_EXPECTED))
    if sparse == 0:
        return table
    sparse = max(sparse, 2)  # pooling a single column alone changes nothing
    while sparse < len(order) and least[order[:sparse]].sum() < MIN_EXPECTED:
        sparse += 1
    pooled = table[:, order[:sparse]].sum(axis=1, keepdims=True)
    return np.hstack([table[:, order[sparse:]], pooled])


def chi_square(reference_counts: np.ndarray, current_counts: np.ndarray) -> tuple[float, float]:
    """Pearson's chi-square test of homogeneity of two count vectors: (statistic, p).

    Values neither sample holds are left out and sparse ones pooled (`pool_sparse`);
    with fewer than two columns left there is nothing to compare (statistic 0, p 1).
    """
    table = np.vstack([reference_counts, current_counts]).astype(np.float64)
    if not table.sum(axis=1).all():
        return 0.0, 1.0
    table = pool_sparse(table[:, table.sum(axis=0) > 0])
    if table.shape[1] < 2:
        return 0.0, 1.0
    result = stats.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def unseen_p_value(n_reference: int, n_current: int, unseen: int) -> float:
    """The exact two-sample p-value of `unseen` values the reference never holds.

    Given u values outside the spec across both samples, and both samples from one
    distribution, each would fall in the current sample with chance n_current / (n_current
    + n_reference): all u do so with chance (n_current / (n_current + n_reference)) ** u.
    """
    return float((n_current / (n_current + n_reference)) ** unseen)


def category_drift(
    reference: np.ndarray,
    current: np.ndarray,
    bins: dict[str, list[float]],
    values: tuple[str, ...],
    alpha: float,
    unseen_bucket: bool = True,
) -> dict[str, Any]:
    """PSI, chi-square and TVD of one categorical feature (see the module docstring).

    `reference` and `current` hold codes: the index of the value in `values`, and for
    the current sample len(values) for an unseen value (`riskserve.tables` encoding).
    """
    k = len(values)
    reference_counts = np.bincount(reference.astype(np.int64), minlength=k + 1)
    current_counts = np.bincount(current.astype(np.int64), minlength=k + 1)
    if len(reference_counts) > k + 1 or len(current_counts) > k + 1:
        raise ValueError(f"codes beyond the {k} values and the unseen bucket")
    reference_share = reference_counts / reference_counts.sum()
    current_share = current_counts / current_counts.sum()
    # The stored bins have one bin per value; the unseen bucket is one more past them.
    edges = np.asarray([*bins["edges"], k - 0.5])
    value = psi.psi([*bins["fractions"], 0.0], psi.bin_fractions(current, edges))
    statistic, seen_p = chi_square(reference_counts[:k], current_counts[:k])
    unseen_p = unseen_p_value(len(reference), len(current), int(current_counts[k]))
    p_value = min(seen_p, unseen_p)
    tvd = 0.5 * float(np.abs(current_share - reference_share).sum())
    if len(current) <= KS_MAX_ROWS:
        test, shown, drift = "chi2", statistic, p_value < alpha
    else:
        test, shown, drift = "tvd", tvd, tvd >= TVD_DRIFT and p_value < alpha
    result: dict[str, Any] = {
        "psi": value,
        "psi_band": psi.psi_band(value),
        "test": test,
        "statistic": shown,
        "p_value": p_value,
        "drift": bool(drift),
        "tvd": tvd,
        "frequencies": [
            {"value": v, "reference": float(r), "current": float(c)}
            for v, r, c in zip(values, reference_share, current_share, strict=False)
        ],
    }
    if unseen_bucket:
        result["unseen"] = {
            "count": int(current_counts[k]),
            "share": float(current_share[k]),
            "p_value": unseen_p,
        }
    return result


def compare(
    spec: ModelSpec,
    reference: dict[str, np.ndarray],
    current: dict[str, np.ndarray],
    bins: dict[str, dict[str, list[float]]],
) -> dict[str, dict[str, Any]]:
    """Per-feature results for every feature of `current` (a subset of the spec's).

    Columns are in feature-matrix codes (`riskserve.tables.encode_column`), with an
    unseen category coded as the number of the feature's values.
    """
    alpha = ALPHA / len(current)
    results = {}
    for name, values in current.items():
        feature = spec.feature(name)
        if feature.kind in NUMERIC_KINDS:
            result = numeric_drift(reference[name], values, bins[name], alpha)
        else:
            result = category_drift(
                reference[name],
                values,
                bins[name],
                categories(feature),
                alpha,
                unseen_bucket=feature.kind == "category",
            )
        results[name] = {"kind": feature.kind, **result}
    return results


def dataset_drift(features: dict[str, dict[str, Any]]) -> list[str]:
    """The drifted features; the dataset drifts when there is any (module docstring)."""
    return [name for name, result in features.items() if result["drift"]]
