"""Population Stability Index on reference deciles, in pure NumPy.

The credit industry's PSI compares how a sample spreads over bins cut at the deciles of
the training data. The bins are fixed once, at training time, and stored with the model,
so the nightly report and the service's live gauges measure against the same cut points.
This module imports nothing but NumPy because the serving process imports it.
"""

from __future__ import annotations

import numpy as np

# An empty bin would make ln(actual / expected) infinite; floor both fractions at this.
EPSILON = 1e-4

# SPEC section 4: < 0.10 stable, 0.10-0.25 moderate, > 0.25 significant.
MODERATE_FROM = 0.10
SIGNIFICANT_ABOVE = 0.25


def decile_edges(reference: np.ndarray) -> np.ndarray:
    """Interior cut points: the reference's 10th..90th percentiles, each kept once.

    A discrete feature repeats deciles (Poisson counts give 0, 0, 1, 1, 1, 2, ...);
    keeping unique values yields fewer, still well-defined bins instead of empty ones.
    The outer bins are open, so current values outside the training range still count.
    """
    values = np.asarray(reference, dtype=np.float64)
    return np.unique(np.quantile(values, np.linspace(0.1, 0.9, 9)))


def bin_fractions(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of `values` in each bin (-inf, e1], (e1, e2], ..., (ek, inf).

    Bins are closed on the right so a discrete value equal to an edge always falls in
    the bin the reference put it in.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        raise ValueError("cannot bin an empty sample")
    index = np.searchsorted(edges, values, side="left")
    return np.bincount(index, minlength=len(edges) + 1) / values.size


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI = sum((actual - expected) * ln(actual / expected)) over bins, floored at EPSILON."""
    e = np.maximum(np.asarray(expected, dtype=np.float64), EPSILON)
    a = np.maximum(np.asarray(actual, dtype=np.float64), EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_band(value: float) -> str:
    """The SPEC section 4 band of a PSI value: stable, moderate or significant."""
    if value < MODERATE_FROM:
        return "stable"
    if value <= SIGNIFICANT_ABOVE:
        return "moderate"
    return "significant"
