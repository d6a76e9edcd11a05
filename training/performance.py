"""A binary model's performance figures on scored records with known outcomes.

The model card computes them on the held-out split at training time; the outcome
backtest (`monitoring.backtest`) recomputes them on live decisions once outcomes arrive,
with the card's own calibration deciles, so the two sets of figures sit side by side.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score, roc_curve

from riskserve import psi
from riskserve.decisions import Policy
from riskserve.scores import score_rows


def decile_edges(probabilities: np.ndarray) -> list[float]:
    """Calibration bins: interior cut points at the probabilities' deciles."""
    return psi.decile_edges(probabilities).tolist()


def ks_statistic(probabilities: np.ndarray, outcomes: np.ndarray) -> float:
    """Kolmogorov-Smirnov separation: the largest gap between the classes' score CDFs."""
    fpr, tpr, _ = roc_curve(outcomes, probabilities)
    return float(np.max(tpr - fpr))


def calibration(
    probabilities: np.ndarray, outcomes: np.ndarray, edges: list[float]
) -> list[dict[str, Any]]:
    """Per bin (-inf, e1], ..., (ek, inf): rows, mean predicted and observed rate."""
    bins = np.searchsorted(np.asarray(edges), probabilities, side="left")
    rows = []
    for b in range(len(edges) + 1):
        inside = bins == b
        n = int(inside.sum())
        rows.append(
            {
                "rows": n,
                "predicted": float(probabilities[inside].mean()) if n else None,
                "observed": float(outcomes[inside].mean()) if n else None,
            }
        )
    return rows


def calibration_error(bins: list[dict[str, Any]]) -> float:
    """Mean |predicted - observed| over the bins, weighted by their rows."""
    total = sum(b["rows"] for b in bins)
    return sum(b["rows"] * abs(b["predicted"] - b["observed"]) for b in bins if b["rows"]) / total


def bands(
    probabilities: np.ndarray, outcomes: np.ndarray, labels: list[str], policy: Policy
) -> dict[str, dict[str, Any]]:
    """Per decision label: share of records (the approval or decline rate), mean
    predicted probability and the bad rate observed."""
    table = {}
    chosen = np.asarray(labels)
    for label in policy.labels:
        inside = chosen == label
        n = int(inside.sum())
        table[label] = {
            "rows": n,
            "share": n / len(chosen),
            "predicted": float(probabilities[inside].mean()) if n else None,
            "bad_rate": float(outcomes[inside].mean()) if n else None,
        }
    return table


def binary_figures(
    probabilities: np.ndarray,
    outcomes: np.ndarray,
    policy: Policy,
    edges: list[float] | None = None,
    labels: list[str] | None = None,
) -> dict[str, Any]:
    """Discrimination, calibration and decision figures of positive-class probabilities
    against 0/1 outcomes; calibration bins at `edges` (default: these scores' deciles),
    decision labels as given (default: the policy's)."""
    edges = decile_edges(probabilities) if edges is None else edges
    if labels is None:
        labels = score_rows(policy, np.column_stack([1 - probabilities, probabilities])).labels
    both = len(np.unique(outcomes)) == 2
    auc = float(roc_auc_score(outcomes, probabilities)) if both else None
    deciles = calibration(probabilities, outcomes, edges)
    return {
        "rows": len(outcomes),
        "positives": int(outcomes.sum()),
        "positive_rate": float(outcomes.mean()),
        "roc_auc": auc,
        "gini": 2 * auc - 1 if auc is not None else None,
        "ks": ks_statistic(probabilities, outcomes) if both else None,
        "brier": float(brier_score_loss(outcomes, probabilities)),
        "log_loss": float(log_loss(outcomes, probabilities, labels=[0, 1])),
        "calibration_edges": edges,
        "calibration": deciles,
        "calibration_error": calibration_error(deciles),
        "bands": bands(probabilities, outcomes, labels, policy),
    }
