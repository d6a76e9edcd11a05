"""Training: determinism, the parity gate, data checks, and what a store entry holds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest

from riskserve.backends import ONNX_FILE, ONNX_INPUT, OnnxBackend, SklearnBackend, max_abs_diff
from riskserve.model_entry import REJECTS_FILE, read_reference, read_spec
from tests.cases import CREDIT, FRAUD, IRIS
from training.__main__ import main as training_main
from training.data import DataError, data_hash, prepare, source_frame, split
from training.generators import credit, fraud
from training.train import ParityError, train


def test_credit_generator_follows_the_spec_distributions():
    df = credit(5000, 42)
    assert list(df.columns) == [*CREDIT.feature_names, "default"]
    assert df.age.between(21, 69).all()
    assert df.debt_to_income_ratio.between(0, 1.5).all()
    assert (df.debt_to_income_ratio.round(3) == df.debt_to_income_ratio).all()
    assert df.credit_history_length.between(0, 29).all()
    assert df.num_open_accounts.between(1, 19).all()
    assert df.loan_amount.between(1000, 49999).all()
    assert 0.05 < df.default.mean() < 0.3


def test_fraud_generator_makes_the_risky_transactions_riskier():
    df = fraud(20000, 42)
    assert list(df.columns) == [*FRAUD.feature_names, "is_fraud"]
    assert set(df.merchant_category) == set(FRAUD.feature("merchant_category").values)
    assert 0.01 < df.is_fraud.mean() < 0.1
    rate = df.groupby("card_present").is_fraud.mean()
    assert rate[False] > 3 * rate[True]
    assert df[df.hour_of_day < 6].is_fraud.mean() > df[df.hour_of_day >= 6].is_fraud.mean()


def test_same_seed_same_data_other_seed_other_data():
    assert data_hash(credit(2000, 42)) == data_hash(credit(2000, 42))
    assert data_hash(credit(2000, 42)) != data_hash(credit(2000, 7))


def test_split_is_stratified_80_20():
    x_train, x_test, y_train, y_test = split(CREDIT, prepare(CREDIT, credit(5000, 42)))
    assert (len(x_train), len(x_test)) == (4000, 1000)
    assert abs(y_train.mean() - y_test.mean()) < 0.005


def test_rows_breaking_the_spec_are_reported_and_past_the_limit_stop_training():
    df = credit(1000, 1)
    df.loc[[3, 7], "age"] = 150
    df.loc[7, "loan_amount"] = -1
    prepared = prepare(CREDIT, df)
    assert prepared.rows == 1000 and len(prepared.features) == 998
    assert prepared.rejects.to_dict("records") == [
        {"row": 3, "field": "age", "rule": "18 <= age <= 120"},
        {"row": 7, "field": "age", "rule": "18 <= age <= 120"},
        {"row": 7, "field": "loan_amount", "rule": "0 < loan_amount"},
    ]
    df["age"] = df.age.astype(object)
    df.loc[:100, "age"] = "unknown"
    with pytest.raises(DataError, match=r"101 of 1000 rows \(10.1%\) break the spec.*age must"):
        prepare(CREDIT, df)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda df: df.drop(columns="default"), "no target column 'default'"),
        (lambda df: df.assign(default=0), "only ['0'] value"),
        (
            lambda df: df.assign(default=df.default.map({0: "good", 1: "bad"})),
            "positive label '1' is not in the target",
        ),
        (lambda df: df.drop(columns="age"), "spec and data differ: the data has no column 'age'"),
        (lambda df: df.assign(loan_amount=5000), "column 'loan_amount' (loan_amount) is constant"),
    ],
)
def test_unusable_data_gets_one_clear_error(change, error):
    with pytest.raises(
        DataError,
        match=error.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]"),
    ):
        prepare(CREDIT, change(credit(500, 1)))


@pytest.mark.usefixtures("credit_latest_kept")
def test_training_is_deterministic(trained_model):
    again = train(CREDIT, 1e-4, log=lambda _: None)
    first, second = trained_model.info.metadata, again.info.metadata
    assert again.tag != trained_model.tag
    assert first["data_hash"] == second["data_hash"]
    assert first["metrics"] == second["metrics"]


def test_entry_holds_everything_the_service_needs(trained_model):
    folder = Path(trained_model.path)
    meta = trained_model.info.metadata
    assert read_spec(folder) == CREDIT
    assert read_reference(folder, CREDIT).shape == (4000, 7)
    assert pd.read_csv(folder / REJECTS_FILE).empty
    assert 0.5 < meta["metrics"]["roc_auc"] < 1
    assert {"0", "1", "accuracy"} <= set(meta["metrics"]["classification_report"])
    assert meta["parity_max_abs_diff"] <= 1e-4 and meta["parity_rows"] == 1000
    assert meta["data_rows"] == 5000 and meta["rejected_rows"] == 0
    assert meta["data_source"] == "generator credit (n=5000, seed=42)"
    assert meta["class_balance"] == {"not 1": 4357, "1": 643}
    assert meta["training_params"]["n_estimators"] == 100
    assert meta["library_versions"]["bentoml"] == "1.4.39"
    assert trained_model.info.labels["model"] == "credit_model"


@pytest.mark.parametrize("fixture", ["trained_model", "fraud_model", "iris_model"])
def test_onnx_signature_derives_from_the_spec(fixture, request):
    entry = request.getfixturevalue(fixture)
    spec = read_spec(Path(entry.path))
    graph = onnx.load(Path(entry.path) / ONNX_FILE).graph
    (inp,) = graph.input
    assert inp.name == ONNX_INPUT
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    assert inp.type.tensor_type.shape.dim[1].dim_value == len(spec.features)


@pytest.mark.parametrize(
    ("fixture", "spec"), [("trained_model", CREDIT), ("fraud_model", FRAUD), ("iris_model", IRIS)]
)
def test_onnx_matches_sklearn_on_the_whole_test_split(fixture, spec, request):
    folder = Path(request.getfixturevalue(fixture).path)
    frame, _ = source_frame(spec, None, None, None)
    _, x_test, _, _ = split(spec, prepare(spec, frame))
    assert max_abs_diff(OnnxBackend(folder), SklearnBackend(folder), x_test) <= 1e-4


def test_model_quality(trained_model, fraud_model, iris_model):
    assert trained_model.info.metadata["metrics"]["roc_auc"] > 0.58
    assert fraud_model.info.metadata["metrics"]["roc_auc"] > 0.8
    assert iris_model.info.metadata["metrics"]["accuracy"] > 0.9
    assert iris_model.info.metadata["class_balance"] == {
        "setosa": 50,
        "versicolor": 50,
        "virginica": 50,
    }


def test_backends_score_the_same_rows_the_same_way(fraud_model):
    folder = Path(fraud_model.path)
    rows = read_reference(folder, FRAUD)[:50]
    onnx_p = OnnxBackend(folder).predict_proba(rows)
    sk_p = SklearnBackend(folder).predict_proba(rows)
    assert onnx_p.dtype == sk_p.dtype == np.float64 and onnx_p.shape == (50, 2)
    np.testing.assert_allclose(onnx_p.sum(axis=1), 1, atol=1e-6)
    np.testing.assert_allclose(onnx_p, sk_p, atol=1e-4)


def test_parity_gate_fails_training_with_the_figure():
    with pytest.raises(ParityError, match=r"max \|dp\| = [0-9.e-]+ > 1e-12 over 200 test rows"):
        train(CREDIT, 1e-12, n_samples=1000, seed=1, log=lambda _: None)


@pytest.mark.usefixtures("credit_latest_kept")
def test_cli_trains_and_skips_when_asked(capsys):
    assert training_main(["--n-samples", "500", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "ROC AUC" in out and out.strip().splitlines()[-1].startswith("credit_model:")
    assert training_main(["--if-missing"]) == 0
    assert "already has credit_model:" in capsys.readouterr().out


def test_cli_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "data.txt").write_text("a,b\n")
    assert training_main(["--spec", str(tmp_path / "none.yaml")]) == 2
    assert training_main(["--spec", "specs/credit.yaml", "--data", str(tmp_path / "data.txt")]) == 2
    assert training_main(["--model", "nope_model"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert [line.split(":")[0] for line in err] == ["error"] * 3
    assert "unknown file type '.txt'" in err[1] and "names 'nope_model'" in err[2]


def test_trees_too_large_to_explain_when_served_stop_training_in_one_line(tmp_path, capsys):
    deep = (
        CREDIT.to_yaml()
        .replace("max_depth: 4", "max_depth: 7")
        .replace("n_estimators: 100", "n_estimators: 300")
    )
    (tmp_path / "deep.yaml").write_text(deep)
    assert training_main(["--spec", str(tmp_path / "deep.yaml"), "--n-samples", "3000"]) == 2
    (err,) = capsys.readouterr().err.strip().splitlines()
    assert err.startswith("error: reason codes for ")
    assert "set `reasons: never`" in err
