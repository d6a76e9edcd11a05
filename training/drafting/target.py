"""The draft's target: its task, labels and adverse (positive) label.

Also what follows from them: the response's field names and the decision's risk bands.
"""

from __future__ import annotations

import dataclasses
import re

import pandas as pd

from training.data import target_labels
from training.drafting import DraftError
from training.drafting.columns import identifier, round_outwards

# Target codings whose adverse (positive) label is clear: one label of each set.
ADVERSE = frozenset(
    {
        "1",
        "1.0",
        "bad",
        "yes",
        "y",
        "true",
        "t",
        "default",
        "defaulted",
        "fraud",
        "fraudulent",
        "churn",
        "churned",
        "positive",
        "pos",
        "charged off",
        "delinquent",
        "high risk",
        "risky",
    }
)
BENIGN = frozenset(
    {
        "0",
        "0.0",
        "good",
        "no",
        "n",
        "false",
        "f",
        "no default",
        "non default",
        "not default",
        "nondefault",
        "not defaulted",
        "legit",
        "legitimate",
        "genuine",
        "not fraud",
        "no fraud",
        "no churn",
        "not churned",
        "negative",
        "neg",
        "fully paid",
        "paid",
        "low risk",
        "ok",
        "normal",
    }
)
# Positive labels that name no event: the probability is named after the target instead.
_GENERIC = frozenset({"1", "1.0", "yes", "y", "true", "t", "positive", "pos"})
MAX_CLASSES = 20


def _normal(label: str) -> str:
    return re.sub(r"[\s_\-]+", " ", label.strip().lower())


def infer_positive(labels: list[str]) -> str | None:
    """The adverse label of a common binary coding (1/0, bad/good, yes/no, ...), or None."""
    adverse = [label for label in labels if _normal(label) in ADVERSE]
    benign = [label for label in labels if _normal(label) in BENIGN]
    if len(adverse) == 1 and len(benign) == 1 and adverse != benign:
        return adverse[0]
    return None


@dataclasses.dataclass(frozen=True)
class Target:
    """The target as drafted: task, labels, rows per label and the positive label."""

    task: str
    labels: list[str]
    counts: dict[str, int]
    positive: str | None = None
    inferred: bool = False


def draft_target(frame: pd.DataFrame, target: str, positive: str | None) -> Target:
    """Task, labels and positive label; every problem as a DraftError."""
    if target not in frame.columns:
        shown = ", ".join(map(repr, list(frame.columns)[:30]))
        raise DraftError(f"the data has no target column {target!r} (columns: {shown})")
    raw = frame[target]
    empty = int(raw.isna().sum())
    labels = target_labels(raw)
    counts = {str(k): int(v) for k, v in labels.value_counts().sort_index().items()}
    seen = sorted(counts)
    if len(seen) < 2:
        raise DraftError(
            f"the target {target!r} has only {len(seen)} value ({seen}): a model "
            "needs at least two classes"
        )
    if empty:
        raise DraftError(
            f"the target {target!r} is empty in {empty} of {len(frame)} rows: "
            "remove those rows or fill them in"
        )
    if len(seen) > MAX_CLASSES:
        raise DraftError(
            f"the target {target!r} has {len(seen)} distinct values (more than "
            f"{MAX_CLASSES}): riskserve serves classifiers; is it a number to "
            "predict rather than a class?"
        )
    rare = [label for label in seen if counts[label] < 2]
    if rare:
        raise DraftError(
            f"the target {target!r} has {rare[:5]} in a single row each: every "
            "class needs at least two rows to train and test on"
        )
    if len(seen) > 2:
        if positive is not None:
            raise DraftError(
                f"--positive is for binary targets; {target!r} has {len(seen)} "
                f"values: {', '.join(seen)}"
            )
        return Target("multiclass", seen, counts)
    if positive is not None:
        if positive not in seen:
            raise DraftError(
                f"positive label {positive!r} is not a value of the target "
                f"{target!r} (values: {', '.join(map(repr, seen))})"
            )
        return Target("binary", seen, counts, positive, inferred=False)
    inferred = infer_positive(seen)
    if inferred is None:
        raise DraftError(
            f"cannot tell which value of the target {target!r} is the adverse "
            f"(positive) one: {', '.join(map(repr, seen))}; pass --positive LABEL "
            "(make spec ... POSITIVE=<label>)"
        )
    return Target("binary", seen, counts, inferred, inferred=True)


def response_names(target: str, t: Target) -> tuple[str, str]:
    """(probability field, decision field)."""
    if t.task == "multiclass":
        field = identifier(target)
        if field in ("probabilities", "model_version"):
            field = f"predicted_{field}"
        return "probabilities", field
    assert t.positive is not None
    label = identifier(t.positive)
    if _normal(t.positive) in _GENERIC or not label.isascii() or label.startswith("f_"):
        label = identifier(target)
    return f"probability_of_{label}", "risk_category"


def _cutoff(value: float) -> float:
    """A probability cut-off: two significant digits, strictly inside (0, 1)."""
    return min(max(round_outwards(value, up=False), 0.01), 0.99)


def bands(base_rate: float) -> tuple[float, float]:
    """The Low and Medium cut-offs: about the positive share, and about twice it."""
    low = _cutoff(base_rate)
    high = _cutoff(min(2 * base_rate, (1 + base_rate) / 2))
    if high <= low:
        high = min(round(low + 0.01, 2), 0.99)
        if high <= low:
            low = 0.98
    return low, high
