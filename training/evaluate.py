"""Model evaluation on the held-out split."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import classification_report, roc_auc_score


def evaluate(probabilities: np.ndarray, target: np.ndarray, threshold: float) -> dict[str, Any]:
    """ROC AUC and the classification report at the decision threshold."""
    predicted = (probabilities >= threshold).astype(int)
    return {
        "roc_auc": float(roc_auc_score(target, probabilities)),
        "threshold": threshold,
        "classification_report": classification_report(
            target, predicted, output_dict=True, zero_division=0
        ),
    }
