"""Reason codes end to end: real servers, the stored explainer, the audit log."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import joblib
import numpy as np
import pytest
import shap

from riskserve.backends import PIPELINE_FILE
from riskserve.contract import record_model
from riskserve.reasons import EXPLAINER_FILE
from tests.cases import CREDIT, EXAMPLE, FRAUD
from tests.server import Server
from tests.test_models_http import NIGHT_ONLINE, NOON_GROCERY, records_from_reference

pytestmark = pytest.mark.slow


def post(server, path: str, **kwargs) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", timeout=30, **kwargs)


def matrix(spec, records: list[dict]) -> np.ndarray:
    """Records as the feature matrix the service scores."""
    model = record_model(spec)
    return spec.to_matrix([model.model_validate(r) for r in records])


def scored(entry, spec) -> tuple[list[dict], np.ndarray]:
    """The servable reference records and the model's probabilities for them."""
    records = records_from_reference(entry, spec, 4000)
    pipeline = joblib.load(Path(entry.path) / PIPELINE_FILE)
    return records, pipeline.predict_proba(matrix(spec, records))[:, 1]


def riskiest(entry, spec, n: int = 1) -> list[dict]:
    """The servable reference records the model scores highest."""
    records, p = scored(entry, spec)
    return [records[i] for i in np.argsort(-p)[:n]]


def treeexplainer(entry, spec, record: dict) -> tuple[float, np.ndarray]:
    """shap's own expected value and per-feature contributions for one record."""
    pipeline = joblib.load(Path(entry.path) / PIPELINE_FILE)
    explainer = shap.TreeExplainer(pipeline.named_steps["model"])
    phi = explainer.shap_values(pipeline[:-1].transform(matrix(spec, [record])))[0]
    return float(np.ravel(explainer.expected_value)[0]), phi


def test_high_risk_applicant_gets_at_most_four_reasons_that_add_up(server, trained_model):
    (record,) = riskiest(trained_model, CREDIT)
    body = post(server, "/predict", json=record).json()
    assert body["risk_category"] == "High", body
    reasons = body["reasons"]
    assert 1 <= len(reasons) <= 4
    expected_value, phi = treeexplainer(trained_model, CREDIT, record)
    for reason in reasons:
        feature = CREDIT.feature(reason["feature"])
        assert reason["text"] == feature.reason and reason["code"] == feature.name.upper()
        i = CREDIT.feature_names.index(feature.name)
        assert reason["contribution"] == pytest.approx(phi[i], abs=1e-12)
    contributions = [r["contribution"] for r in reasons]
    assert contributions == sorted(contributions, reverse=True) and min(contributions) > 0
    assert contributions == pytest.approx(sorted(phi[phi > 0], reverse=True)[:4])
    p = body["probability_of_default"]  # ONNX Runtime's float32 answer
    assert expected_value + phi.sum() == pytest.approx(np.log(p / (1 - p)), abs=1e-5)


def test_low_risk_applicant_gets_no_reasons_and_batches_carry_them(server, trained_model):
    assert post(server, "/predict", json=EXAMPLE).json()["reasons"] == []
    risky = riskiest(trained_model, CREDIT, 3)
    response = post(
        server,
        "/predict_batch",
        json={"records": [EXAMPLE, *risky]},
        headers={"x-request-id": "reasons-batch"},
    )
    results = response.json()["results"]
    assert results[0]["reasons"] == []
    assert all(r["reasons"] and r["risk_category"] != "Low" for r in results[1:])
    lines = sorted(
        (r for r in server.audit_records() if r["request_id"] == "reasons-batch"),
        key=lambda r: r["index"],
    )
    assert [line["decision"]["reasons"] for line in lines] == [r["reasons"] for r in results]


def test_runner_layout_gives_the_same_reasons(server, runner_server, trained_model):
    risky = riskiest(trained_model, CREDIT, 2)
    answers = [
        post(srv, "/predict_batch", json={"records": risky}).json()["results"]
        for srv in (server, runner_server)
    ]
    assert answers[0] == answers[1] and all(r["reasons"] for r in answers[0])


def test_openapi_documents_the_reasons(server):
    docs = httpx.get(f"{server.url}/docs.json").text
    assert '"reasons"' in docs and "TreeSHAP contribution in log-odds" in docs


def test_model_info_shows_the_additivity_check(server):
    info = post(server, "/model_info").json()["explanations"]
    assert info["additivity"]["max_abs_error"] <= info["additivity"]["tolerance"] == 1e-5
    assert info["additivity"]["rows"] == 1000
    assert info["max_abs_diff_from_training"] < 1e-12


def test_fraud_declines_carry_reasons_and_approvals_none(fraud_server):
    risky = post(fraud_server, "/predict", json=NIGHT_ONLINE).json()
    assert risky["decision"] in {"review", "decline"} and risky["reasons"]
    assert {r["feature"] for r in risky["reasons"]} <= set(FRAUD.feature_names)
    assert post(fraud_server, "/predict", json=NOON_GROCERY).json()["reasons"] == []


def test_reasons_always_and_never(trained_model, tmp_path):
    (tmp_path / "always").mkdir()
    (tmp_path / "never").mkdir()
    records, p = scored(trained_model, CREDIT)
    # Low, yet above the average log-odds: some feature pushed it toward default.
    low = records[int(np.flatnonzero((p > 0.15) & (p < 0.25))[0])]
    with Server.source(tmp_path / "always", reasons="always", max_reasons=2) as srv:
        body = post(srv, "/predict", json=low).json()
        assert body["risk_category"] == "Low" and 1 <= len(body["reasons"]) <= 2
    with Server.source(tmp_path / "never", reasons="never") as srv:
        (record,) = riskiest(trained_model, CREDIT)
        assert "reasons" not in post(srv, "/predict", json=record).json()
        assert '"reasons"' not in httpx.get(f"{srv.url}/docs.json").text


def test_tampered_explainer_leaves_the_service_unready(trained_model, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(Path(trained_model.path).parents[2], home, symlinks=True)
    entry = home / "models" / "credit_model" / trained_model.tag.version
    (home / "models" / "credit_model" / "latest").write_text(trained_model.tag.version)
    with np.load(entry / EXPLAINER_FILE) as stored:
        arrays = dict(stored)
    arrays["thresholds"] = arrays["thresholds"] + 0.5
    np.savez(entry / EXPLAINER_FILE, **arrays)
    env = {"BENTOML_HOME": str(home)}
    with Server.source(tmp_path, env=env, wait_ready=False) as srv:
        assert httpx.get(f"{srv.url}/readyz").status_code == 503
        response = post(srv, "/predict", json=EXAMPLE)
        assert response.status_code == 503
        log = srv.log()
    assert log.count("riskserve not ready") == 1 and "Traceback" not in log
    assert "reason codes fail their startup check" in log
    assert "differ from the model's log-odds" in response.json()["detail"]
