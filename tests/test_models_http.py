"""Fraud and iris served end to end from their stored specs: real servers, real clients."""

from __future__ import annotations

from pathlib import Path

import bentoml
import httpx
import numpy as np
import pytest

from riskserve.backends import SklearnBackend
from riskserve.contract import record_model
from riskserve.model_entry import reference_rows
from tests.cases import FRAUD, IRIS

pytestmark = pytest.mark.slow

NIGHT_ONLINE = {
    "transaction_amount": 4000,
    "merchant_category": "online",
    "card_present": False,
    "hour_of_day": 3,
    "days_since_last_transaction": 0.2,
}
NOON_GROCERY = {
    "transaction_amount": 25,
    "merchant_category": "grocery",
    "card_present": True,
    "hour_of_day": 12,
    "days_since_last_transaction": 1,
}


def post(server, path: str, **kwargs) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", timeout=30, **kwargs)


def records_from_reference(entry, spec, n: int) -> list[dict]:
    """Servable rows of the stored reference sample, in request form."""
    rows = reference_rows(Path(entry.path), spec, "servable")[:n]
    columns = {
        name: spec.decode(name, rows[:, i]).tolist() for i, name in enumerate(spec.feature_names)
    }
    kinds = {f.name: f.kind for f in spec.features}
    return [
        {
            name: (int(v) if kinds[name] == "int" else v)
            for name, v in zip(columns, values, strict=True)
        }
        for values in zip(*columns.values(), strict=True)
    ]


def test_fraud_decisions_follow_the_risk(fraud_server, fraud_model):
    risky = post(fraud_server, "/predict", json=NIGHT_ONLINE)
    assert risky.status_code == 200, risky.text
    body = risky.json()
    assert set(body) == {"fraud_probability", "decision", "reasons", "model_version"}
    assert body["decision"] in {"decline", "review"}
    assert body["model_version"] == str(fraud_model.tag)
    safe = post(fraud_server, "/predict", json=NOON_GROCERY).json()
    assert safe["decision"] == "approve" and safe["fraud_probability"] < 0.2


def test_fraud_unknown_category_and_loose_bool_are_400(fraud_server):
    response = post(fraud_server, "/predict", json={**NOON_GROCERY, "merchant_category": "shoes"})
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["loc"] == ["merchant_category"] and error["type"] == "literal_error"
    for value in FRAUD.feature("merchant_category").values:
        assert f"'{value}'" in error["msg"]
    loose = post(fraud_server, "/predict", json={**NOON_GROCERY, "card_present": "yes"})
    assert loose.status_code == 400 and loose.json()["errors"][0]["loc"] == ["card_present"]


def test_fraud_batch_of_a_thousand_matches_scikit_learn(fraud_server, fraud_model):
    records = records_from_reference(fraud_model, FRAUD, 1000)
    response = post(fraud_server, "/predict_batch", json={"records": records})
    assert response.status_code == 200, response.text
    got = np.array([r["fraud_probability"] for r in response.json()["results"]])
    model = record_model(FRAUD)
    matrix = FRAUD.to_matrix([model.model_validate(r) for r in records])
    expected = SklearnBackend(Path(fraud_model.path)).predict_proba(matrix)[:, 1]
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_fraud_openapi_shows_the_enum_and_the_bentoml_client_scores(fraud_server):
    schemas = httpx.get(f"{fraud_server.url}/docs.json").json()["components"]["schemas"]
    props = schemas["CardTransaction"]["properties"]
    assert props["merchant_category"]["enum"] == list(FRAUD.feature("merchant_category").values)
    assert props["card_present"]["type"] == "boolean"
    assert schemas["CardTransaction"]["example"] == FRAUD.example
    with bentoml.SyncHTTPClient(fraud_server.url) as client:
        assert client.predict(NOON_GROCERY)["decision"] == "approve"


def test_fraud_audit_lines_keep_categories_and_cutoffs(fraud_server):
    post(fraud_server, "/predict", json=NIGHT_ONLINE, headers={"x-request-id": "fraud-audit"})
    (line,) = [r for r in fraud_server.audit_records() if r["request_id"] == "fraud-audit"]
    assert line["features"] == NIGHT_ONLINE
    assert line["cutoffs"] == {"approve": 0.2, "review": 0.6}
    assert line["decision"]["decision"] in {"decline", "review"}


def test_iris_answers_every_class_and_the_label(iris_server, iris_model):
    body = post(iris_server, "/predict", json=IRIS.example).json()
    assert set(body) == {"species", "probabilities", "model_version"}  # no reasons: multiclass
    assert body["species"] == "setosa"
    assert set(body["probabilities"]) == {"setosa", "versicolor", "virginica"}
    assert sum(body["probabilities"].values()) == pytest.approx(1)
    virginica = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.8, "petal_width": 2.2}
    batch = post(iris_server, "/predict_batch", json={"records": [IRIS.example, virginica]})
    assert [r["species"] for r in batch.json()["results"]] == ["setosa", "virginica"]
    info = post(iris_server, "/model_info").json()
    assert info["decision"]["policy"] == "argmax" and info["tag"] == str(iris_model.tag)
