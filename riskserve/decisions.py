"""Decisions: the spec's policy, with the cut-offs in force, applied to probabilities.

The spec names the policy and its default cut-offs; `configuration.yaml`'s `cutoffs`
may move them per model without retraining. `/model_info` and every audit line carry
the cut-offs in force, so a decision can always be traced to the numbers that made it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from riskserve.spec import ModelSpec


class PolicyError(ValueError):
    """Cut-off overrides that do not fit the spec's policy; the message says why."""


class Policy:
    """Turns the model's class probabilities into answers (see the module docstring)."""

    def __init__(self, spec: ModelSpec, overrides: Mapping[str, float] | None = None) -> None:
        decision = spec.decision
        self.kind = decision.policy
        self.field = decision.field
        self.probability_field = spec.response.probability
        self.prediction_field = decision.prediction_field
        if self.kind == "argmax":
            assert spec.classes is not None
            self.labels: tuple[str, ...] = spec.classes
            self.cutoffs: dict[str, float] = {}
        else:
            self.labels = tuple(level.label for level in decision.levels)
            cutoffs = {level.label: level.below for level in decision.levels[:-1]}
            if decision.threshold is not None:
                cutoffs = {"threshold": decision.threshold, **cutoffs}
            self.cutoffs = _override(spec.name, cutoffs, dict(overrides or {}))  # type: ignore[arg-type]
        self._cuts = np.array([v for k, v in self.cutoffs.items() if k != "threshold"])
        self.best = self.labels[0]

    def explain(self) -> str:
        """The policy in one sentence, for the API documentation."""
        if self.kind == "argmax":
            return "The most probable class."
        names = [k for k in self.cutoffs if k != "threshold"]
        steps = [f"{label} if p < {self.cutoffs[label]:g}" for label in names]
        return ", ".join(steps) + f", else {self.labels[-1]}."

    def describe(self) -> dict[str, Any]:
        """The policy and the cut-offs in force (`/model_info`)."""
        return {
            "policy": self.kind,
            "field": self.field,
            "labels": list(self.labels),
            "cutoffs": self.cutoffs,
        }

    def classify(self, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row, the index of its label in `labels` and the probability scored.

        `probabilities` is the model's [N, classes] output. The probability scored is the
        positive class's (binary) or the predicted class's (multiclass).
        """
        if self.kind == "argmax":
            index = np.argmax(probabilities, axis=1)
            return index, probabilities[np.arange(len(index)), index]
        positive = probabilities[:, 1]
        return np.searchsorted(self._cuts, positive, "right"), positive


def _override(
    model: str, cutoffs: dict[str, float], overrides: dict[str, float]
) -> dict[str, float]:
    unknown = sorted(set(overrides) - set(cutoffs))
    if unknown:
        raise PolicyError(
            f"cutoffs.{model}: unknown keys {unknown}; this model's are {sorted(cutoffs)}"
        )
    merged = {**cutoffs, **overrides}
    for key, value in merged.items():
        if not 0 < value < 1:
            raise PolicyError(f"cutoffs.{model}.{key}: {value} is not between 0 and 1")
    cuts = [v for k, v in merged.items() if k != "threshold"]
    if cuts != sorted(set(cuts)):
        raise PolicyError(f"cutoffs.{model}: cut-offs must increase ({merged})")
    return merged
