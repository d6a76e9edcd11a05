"""Reason codes without a server: the served lookup tables against shap's TreeExplainer
(deep, unbalanced trees that test a feature twice on one path included), ranking,
one-hot summing, codes and texts, the table size limit and the startup check."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import shap
from sklearn.ensemble import GradientBoostingClassifier

from riskserve import reasons
from riskserve.reasons import (
    EXPLAINER_FILE,
    Explainer,
    ExplainerError,
    load_explainer,
    log_odds,
    reason_code,
    reason_text,
)
from riskserve.settings import PROJECT_ROOT
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
    np.testing.assert_allclose(served[:, numeric], per_column[:, :n_numeric], rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        served[:, CATEGORY], per_column[:, n_numeric:].sum(axis=1), rtol=0, atol=1e-12
    )
    margin = pipeline.decision_function(x_test)
    assert np.max(np.abs(explainer.expected_value + served.sum(axis=1) - margin)) < 1e-10


def _tree_arrays(model: GradientBoostingClassifier, n_features: int) -> dict[str, np.ndarray]:
    """What training stores for `model`, with an identity column map."""
    ensemble = shap.TreeExplainer(model).model
    arrays = {name: getattr(ensemble, name) for name in reasons.TREE_ARRAYS}
    identity = np.arange(n_features)
    nan = np.full(n_features, np.nan)
    return {
        **arrays,
        "max_depth": np.array(ensemble.max_depth),
        "source": identity,
        "mean": np.zeros(n_features),
        "scale": np.ones(n_features),
        "code": nan,
        "expected_value": np.array(0.0),
    }


def test_tables_equal_treeexplainer_on_deep_unbalanced_trees_with_repeated_features():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(3000, 3)).astype(np.float32)
    y = (np.sin(3 * x[:, 0]) + x[:, 1] * x[:, 0] > 0.2).astype(int)
    # Three features, depth 6: paths test a feature more than once, and the leaf size
    # limit stops branches at different depths.
    model = GradientBoostingClassifier(
        n_estimators=30, max_depth=6, min_samples_leaf=40, random_state=0
    ).fit(x, y)
    arrays = _tree_arrays(model, 3)
    paths = list(
        reasons._leaf_paths(
            arrays["children_left"], arrays["children_right"], arrays["node_sample_weight"]
        )
    )
    tested = [[arrays["features"][tree, node] for node, _, _ in path] for tree, _, path in paths]
    assert any(len(set(features)) < len(features) for features in tested)
    assert len({len(features) for features in tested}) > 1
    tables = reasons.LeafTables(arrays, np.eye(3))
    expected = shap.TreeExplainer(model).shap_values(x[:500])
    np.testing.assert_allclose(tables.contributions(x[:500]), expected, rtol=0, atol=1e-12)


def test_tables_too_large_for_serving_are_refused_with_the_arithmetic(monkeypatch, fraud):
    _, folder, _, _, _, _ = fraud
    with np.load(folder / EXPLAINER_FILE) as stored:
        arrays = dict(stored)
    monkeypatch.setattr(reasons, "MAX_TABLE_ENTRIES", 1000)
    with pytest.raises(ExplainerError, match=r"need [\d,]+ table entries \(at most 1,000\)"):
        Explainer(FRAUD, arrays)


def test_a_record_gets_the_same_contributions_alone_or_in_any_batch(fraud):
    _, _, explainer, _, x_test, _ = fraud
    rows = x_test[:300]
    whole = explainer.contributions(rows)
    chunks = np.vstack([explainer.contributions(rows[i : i + 37]) for i in range(0, 300, 37)])
    alone = np.vstack([explainer.contributions(rows[i : i + 1]) for i in range(0, 300, 10)])
    np.testing.assert_array_equal(chunks, whole)
    np.testing.assert_array_equal(alone, whole[::10])


def test_reasons_rank_only_features_pushing_toward_the_adverse_outcome(fraud):
    _, _, explainer, _, x_test, _ = fraud
    contributions = explainer.contributions(x_test[:200])
    for limit in (1, 2, 4):
        for row, ranked in zip(contributions, explainer.reasons(x_test[:200], limit), strict=True):
            positive = np.sort(row[row > 0])[::-1][:limit]
            assert [r["contribution"] for r in ranked] == pytest.approx(positive.tolist())
            for r in ranked:
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
    assert figures["max_abs_diff_served_vs_treeexplainer"] < 1e-13
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


def test_serving_explains_without_shap():
    lock = (PROJECT_ROOT / "requirements" / "serve.txt").read_text().splitlines()
    assert not {line.split("==")[0] for line in lock} & {"shap", "numba", "llvmlite"}
    loaded = "import sys, service; print(sorted({'shap', 'numba', 'llvmlite'} & set(sys.modules)))"
    run = subprocess.run(
        [sys.executable, "-c", loaded], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    assert run.stdout.strip().splitlines()[-1] == "[]"
