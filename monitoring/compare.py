"""The drift rule: per-feature measures against the training reference, and the verdict.

Per feature, two measures against the reference stored in the model's store entry:

- PSI over the reference deciles fixed at training time (`drift_reference.json`), with
  SPEC section 4's band: < 0.10 stable, 0.10-0.25 moderate, > 0.25 significant. It is
  reported, not voted: its noise floor is about 9 / n_current (ten bins), so a fixed
  0.25 cut would flag noise in small samples.
- A drift test chosen by the current sample's size, which decides the feature's `drift`:
  - n_current <= 1,000: SciPy's two-sample Kolmogorov-Smirnov test (`ks`); drift when
    p < 0.05 / k, k the number of features compared (Bonferroni), so a sample without
    drift raises a false alarm at most 5% of the time. With tied integer values the test
    is conservative, so it errs towards "no drift".
  - n_current > 1,000: p-values flag trivial shifts at this size, so the test is an
    effect size instead (`wasserstein_norm`, p_value null): SciPy's Wasserstein distance
    divided by the reference's standard deviation; drift when >= 0.1, a shift of a tenth
    of the feature's usual spread.

Dataset verdict: drift when any feature drifts (one shifted input is enough to make the
model score a population it was not trained on).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from riskserve import psi

KS_MAX_ROWS = 1000
ALPHA = 0.05
WASSERSTEIN_NORM_DRIFT = 0.1
RULE = (
    f"feature drift: n_current <= {KS_MAX_ROWS}: KS p < {ALPHA} / features compared; "
    f"else Wasserstein / reference std >= {WASSERSTEIN_NORM_DRIFT}. "
    "Dataset drift: any feature drifts. PSI is reported with its band, not voted."
)


def feature_drift(
    reference: np.ndarray, current: np.ndarray, bins: dict[str, list[float]], alpha: float
) -> dict[str, Any]:
    """PSI and the size-appropriate test of one feature (see the module docstring)."""
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


def compare(
    reference: dict[str, np.ndarray],
    current: dict[str, np.ndarray],
    bins: dict[str, dict[str, list[float]]],
) -> dict[str, dict[str, Any]]:
    """Per-feature results for every feature of `current` (a subset of the reference's)."""
    alpha = ALPHA / len(current)
    return {
        name: feature_drift(reference[name], values, bins[name], alpha)
        for name, values in current.items()
    }
