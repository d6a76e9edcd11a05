"""Decisions: each policy of the spec, with the cut-offs in force."""

from __future__ import annotations

import numpy as np
import pytest

from riskserve.decisions import Policy, PolicyError
from riskserve.scores import score_rows
from tests.cases import CREDIT, FRAUD, IRIS


def _binary(p: list[float]) -> np.ndarray:
    positive = np.array(p)
    return np.column_stack([1 - positive, positive])


@pytest.mark.parametrize(
    ("p", "category", "prediction"),
    [
        (0.0, "Low", 0),
        (0.2999, "Low", 0),
        (0.3, "Medium", 0),
        (0.4999, "Medium", 0),
        (0.5, "Medium", 1),
        (0.5999, "Medium", 1),
        (0.6, "High", 1),
        (1.0, "High", 1),
    ],
)
def test_credit_bands(p, category, prediction):
    scores = score_rows(Policy(CREDIT), _binary([p]))
    assert scores.answers() == [
        {"prediction": prediction, "probability_of_default": p, "risk_category": category}
    ]
    assert scores.labels == [category] and scores.scored.tolist() == [p]
    # The answer's field order is the API's (its JSON bytes) and the scored file's columns.
    assert (
        list(scores.answers()[0])
        == list(scores.columns())
        == ["prediction", "probability_of_default", "risk_category"]
    )


def test_fraud_cutoffs_in_order_and_overridden_without_retraining():
    probabilities = _binary([0.9, 0.1, 0.45])
    scores = score_rows(Policy(FRAUD), probabilities)
    assert scores.labels == ["decline", "approve", "review"]
    assert scores.answers()[1] == {"fraud_probability": 0.1, "decision": "approve"}
    assert list(scores.answers()[1]) == list(scores.columns()) == ["fraud_probability", "decision"]
    stricter = Policy(FRAUD, {"approve": 0.05, "review": 0.4})
    assert score_rows(stricter, probabilities).labels == ["decline", "review", "decline"]
    assert stricter.cutoffs == {"approve": 0.05, "review": 0.4}
    assert Policy(FRAUD, {"review": 0.5}).cutoffs == {"approve": 0.2, "review": 0.5}


def test_iris_argmax_answers_every_class():
    scores = score_rows(Policy(IRIS), np.array([[0.1, 0.7, 0.2], [0.8, 0.1, 0.1]]))
    assert scores.labels == ["versicolor", "setosa"]
    assert scores.answers()[0] == {
        "species": "versicolor",
        "probabilities": {"setosa": 0.1, "versicolor": 0.7, "virginica": 0.2},
    }
    assert scores.scored.tolist() == [0.7, 0.8]
    assert list(scores.columns()) == [
        "species",
        "probabilities_setosa",
        "probabilities_versicolor",
        "probabilities_virginica",
    ]


@pytest.mark.parametrize(
    ("spec", "overrides", "error"),
    [
        (
            FRAUD,
            {"decline": 0.9},
            r"unknown keys \['decline'\]; this model's are \['approve', 'review'\]",
        ),
        (FRAUD, {"approve": 0.7}, "cut-offs must increase"),
        (CREDIT, {"threshold": 1.5}, "threshold: 1.5 is not between 0 and 1"),
    ],
)
def test_bad_overrides_are_refused_with_the_reason(spec, overrides, error):
    with pytest.raises(PolicyError, match=error):
        Policy(spec, overrides)


def test_policy_describes_itself():
    policy = Policy(CREDIT, {"threshold": 0.4})
    assert policy.describe() == {
        "policy": "bands",
        "field": "risk_category",
        "labels": ["Low", "Medium", "High"],
        "cutoffs": {"threshold": 0.4, "Low": 0.3, "Medium": 0.6},
    }
    assert policy.explain() == "Low if p < 0.3, Medium if p < 0.6, else High."
    assert policy.best == "Low"
