"""Model evaluation on the held-out split."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, classification_report, roc_auc_score

from riskserve.decisions import Policy


def positive_cut(policy: Policy) -> float:
    """Where a binary model's answer turns adverse: the threshold, or the last cut-off."""
    return policy.cutoffs.get("threshold", max(policy.cutoffs.values()))


def evaluate(probabilities: np.ndarray, target: np.ndarray, policy: Policy) -> dict[str, Any]:
    """ROC AUC (one-vs-rest for multiclass), accuracy and the classification report.

    Binary models are cut at the policy's threshold (bands) or its last cut-off
    (cut-offs: the adverse level); multiclass ones take the most probable class.
    """
    cut: dict[str, float] = {}
    if policy.kind == "argmax":
        predicted = np.argmax(probabilities, axis=1)
        auc = roc_auc_score(target, probabilities, multi_class="ovr")
    else:
        cut["threshold"] = positive_cut(policy)
        predicted = (probabilities[:, 1] >= cut["threshold"]).astype(int)
        auc = roc_auc_score(target, probabilities[:, 1])
    return {
        "roc_auc": float(auc),
        "accuracy": float(accuracy_score(target, predicted)),
        **cut,
        "classification_report": classification_report(
            target, predicted, output_dict=True, zero_division=0
        ),
    }
