"""Reason codes without a server: the served computation against shap's TreeExplainer,
ranking, one-hot summing, codes and texts, and the startup check."""

from __future__ import annotations

import numpy as np
import pytest
import shap

from riskserve.reasons import (
    EXPLAINER_FILE,
    Explainer,
    ExplainerError,
    load_explainer,
    log_odds,
    reason_code,
    reason_text,
)
from riskserve.spec import parse_spec
from tests.cases import CREDIT, FRAUD
from training.data import prepare, split
from training.explain import write_explainer
from training.generators import GENERATORS
from training.pipeline import build_pipeline

CATEGORY = FRAUD.feature_names.index("merchant_category")


@pytest.fixture(scope="module")
def fraud(tmp_path_factory):
    """A small fraud pipeline, its stored explainer and held-out rows."""
    prepared = prepare(FRAUD, GENERATORS["fraud"](4000, 3))
    x_train, x_test, y_train, _ = split(FRAUD, prepared)
    pipeline = build_pipeline(FRAUD).fit(x_train, y_train)
    folder = tmp_path_factory.mktemp("explainer")
    figures = write_explainer(folder, FRAUD, pipeline, x_train)
    with np.load(folder / EXPLAINER_FILE) as arrays:
        explainer = Explainer(FRAUD, dict(arrays))
    return pipeline, folder, explainer, x_train, x_test, figures


def test_served_contributions_are_treeexplainers_with_one_hot_columns_summed(fraud):
    pipeline, _, explainer, _, x_test, _ = fraud
    tree_explainer = shap.TreeExplainer(pipeline.named_steps["model"])
    per_column = tree_explainer.shap_values(pipeline[:-1].transform(x_test))
    served = explainer.contributions(x_test)
    n_numeric = len(FRAUD.features) - 1  # the pipeline puts the scaled columns first
    numeric = [i for i in range(len(FRAUD.features)) if i != CATEGORY]
    np.testing.assert_array_equal(served[:, numeric], per_column[:, :n_numeric])
    np.testing.assert_allclose(
        served[:, CATEGORY], per_column[:, n_numeric:].sum(axis=1), rtol=0, atol=1e-12
    )
    margin = pipeline.decision_function(x_test)
    assert np.max(np.abs(explainer.expected_value + served.sum(axis=1) - margin)) < 1e-10


def test_reasons_rank_only_features_pushing_toward_the_adverse_outcome(fraud):
    _, _, explainer, _, x_test, _ = fraud
    contributions = explainer.contributions(x_test[:200])
    for limit in (1, 2, 4):
        for row, reasons in zip(contributions, explainer.reasons(x_test[:200], limit), strict=True):
            positive = np.sort(row[row > 0])[::-1][:limit]
            assert [r["contribution"] for r in reasons] == pytest.approx(positive.tolist())
            for r in reasons:
                assert r["contribution"] == row[FRAUD.feature_names.index(r["feature"])]
                assert r["code"] == r["feature"].upper()
                assert r["text"] == FRAUD.feature(r["feature"]).reason


def test_codes_are_stable_and_texts_default_to_the_description():
    text = CREDIT.to_yaml().replace("  reason: Age of applicant\n", "")
    spec = parse_spec(text)
    assert reason_text(spec, "age") == "Applicant age in years"
    assert reason_text(spec, "loan_amount") == "Amount of credit requested"
    assert reason_code("debt_to_income_ratio") == "DEBT_TO_INCOME_RATIO"


def test_training_gate_and_startup_check_pass_on_an_untouched_entry(fraud):
    pipeline, folder, _, x_train, _, figures = fraud
    assert figures["max_abs_diff_served_vs_treeexplainer"] == 0
    assert figures["additivity_max_abs_error"] < 1e-10
    _, info = load_explainer(folder, FRAUD, x_train, pipeline.predict_proba(x_train))
    assert info["additivity"]["max_abs_error"] < 1e-10
    assert info["additivity"]["rows"] == min(1000, len(x_train))


def test_startup_check_refuses_tampered_trees(fraud, tmp_path):
    pipeline, folder, _, x_train, _, _ = fraud
    with np.load(folder / EXPLAINER_FILE) as stored:
        arrays = dict(stored)
    arrays["values"] = arrays["values"] * 1.01
    np.savez(tmp_path / EXPLAINER_FILE, **arrays)
    with pytest.raises(ExplainerError, match="differ from the model's log-odds"):
        load_explainer(tmp_path, FRAUD, x_train, pipeline.predict_proba(x_train))


def test_log_odds_inverts_the_logistic():
    margin = np.array([-6.0, -0.5, 0.0, 2.5])
    p = 1 / (1 + np.exp(-margin))
    np.testing.assert_allclose(log_odds(np.column_stack([1 - p, p])), margin, atol=1e-12)
