"""Training: determinism, the parity gate, and what a store entry holds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from riskserve.backends import ONNX_FILE, ONNX_INPUT, OnnxBackend, SklearnBackend, max_abs_diff
from riskserve.model_entry import SPEC_FILE, read_reference
from riskserve.specs import SPECS
from training.__main__ import main as training_main
from training.data import data_hash, generate_credit, split
from training.recipes import RECIPES
from training.train import ParityError, train

CREDIT = SPECS["credit_model"]


def test_generator_follows_the_spec_distributions():
    df = generate_credit(5000, 42)
    assert list(df.columns) == [*CREDIT.feature_names, "default"]
    assert df.age.between(21, 69).all()
    assert df.debt_to_income_ratio.between(0, 1.5).all()
    assert (df.debt_to_income_ratio.round(3) == df.debt_to_income_ratio).all()
    assert df.credit_history_length.between(0, 29).all()
    assert df.num_open_accounts.between(1, 19).all()
    assert df.loan_amount.between(1000, 49999).all()
    assert 0.05 < df.default.mean() < 0.3


def test_same_seed_same_data_other_seed_other_data():
    assert data_hash(generate_credit(2000, 42)) == data_hash(generate_credit(2000, 42))
    assert data_hash(generate_credit(2000, 42)) != data_hash(generate_credit(2000, 7))


def test_split_is_stratified_80_20():
    df = generate_credit(5000, 42)
    x_train, x_test, y_train, y_test = split(df, CREDIT)
    assert (len(x_train), len(x_test)) == (4000, 1000)
    assert abs(y_train.mean() - y_test.mean()) < 0.005


def test_training_is_deterministic(trained_model):
    again = train(RECIPES["credit_model"], 5000, 42, threshold=0.5, tolerance=1e-4,
                  log=lambda _: None)
    first, second = trained_model.info.metadata, again.info.metadata
    assert again.tag != trained_model.tag
    assert first["data_hash"] == second["data_hash"]
    assert first["metrics"] == second["metrics"]


def test_entry_holds_everything_the_service_needs(trained_model):
    folder = Path(trained_model.path)
    meta = trained_model.info.metadata
    assert json.loads((folder / SPEC_FILE).read_text()) == CREDIT.to_json()
    assert read_reference(folder, CREDIT).shape == (4000, 7)
    assert 0.5 < meta["metrics"]["roc_auc"] < 1
    assert {"0", "1", "accuracy"} <= set(meta["metrics"]["classification_report"])
    assert meta["parity_max_abs_diff"] <= 1e-4 and meta["parity_rows"] == 1000
    assert meta["n_samples"] == 5000 and meta["seed"] == 42
    assert meta["training_params"]["n_estimators"] == 100
    assert meta["library_versions"]["bentoml"] == "1.4.39"
    assert trained_model.info.labels["model"] == "credit_model"


def test_onnx_signature_derives_from_the_spec(trained_model):
    graph = onnx.load(Path(trained_model.path) / ONNX_FILE).graph
    (inp,) = graph.input
    assert inp.name == ONNX_INPUT
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    dims = inp.type.tensor_type.shape.dim
    assert dims[1].dim_value == len(CREDIT.features)


def test_onnx_matches_sklearn_on_the_whole_test_split(trained_model):
    folder = Path(trained_model.path)
    _, x_test, _, _ = split(generate_credit(5000, 42), CREDIT)
    assert max_abs_diff(OnnxBackend(folder), SklearnBackend(folder), x_test) <= 1e-4


def test_backends_score_the_same_rows_the_same_way(trained_model):
    folder = Path(trained_model.path)
    rows = read_reference(folder, CREDIT)[:50]
    onnx_p = OnnxBackend(folder).predict_proba(rows)
    sk_p = SklearnBackend(folder).predict_proba(rows)
    assert onnx_p.dtype == sk_p.dtype == np.float64
    assert ((onnx_p >= 0) & (onnx_p <= 1)).all()
    np.testing.assert_allclose(onnx_p, sk_p, atol=1e-4)


def test_parity_gate_fails_training_with_the_figure():
    with pytest.raises(ParityError, match=r"max \|dp\| = [0-9.e-]+ > 1e-12 over 200 test rows"):
        train(RECIPES["credit_model"], 1000, 1, threshold=0.5, tolerance=1e-12,
              log=lambda _: None)


def test_cli_trains_and_skips_when_asked(capsys):
    assert training_main(["--n-samples", "500", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "ROC AUC" in out and out.strip().splitlines()[-1].startswith("credit_model:")
    assert training_main(["--if-missing"]) == 0
    assert "already has credit_model:" in capsys.readouterr().out
