"""The served API end to end: a real `bentoml serve` on 127.0.0.1, real HTTP, real client."""

from __future__ import annotations

import re
from pathlib import Path

import bentoml
import httpx
import numpy as np
import pytest

from riskserve.backends import SklearnBackend
from riskserve.decisions import Policy
from riskserve.scores import score_rows
from riskserve.settings import load_settings
from tests.cases import BAD_RECORDS, CREDIT, EXAMPLE, NON_FINITE_BODIES, record
from tests.server import Server, fire
from training.generators import credit

pytestmark = pytest.mark.slow
SETTINGS = load_settings()
POLICY = Policy(CREDIT)


def valid_records(n: int, seed: int) -> list[dict]:
    """Synthetic applicants that satisfy every request rule (JSON-native types)."""
    df = credit(3 * n, seed)[CREDIT.feature_names]
    df = df[df.credit_history_length <= df.age - 18].head(n)
    assert len(df) == n
    return [
        {k: (float(v) if k == "debt_to_income_ratio" else int(v)) for k, v in row.items()}
        for row in df.to_dict(orient="records")
    ]


def reference_probabilities(trained_model, records: list[dict]) -> np.ndarray:
    """What scikit-learn itself says about these records."""
    matrix = np.array([[r[n] for n in CREDIT.feature_names] for r in records], dtype=float)
    return SklearnBackend(Path(trained_model.path)).predict_proba(matrix)[:, 1]


def post(server, path: str, **kwargs) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", timeout=30, **kwargs)


def test_probes(server):
    assert httpx.get(f"{server.url}/livez").status_code == 200
    assert httpx.get(f"{server.url}/readyz").status_code == 200


def test_predict_spec_example(server, trained_model):
    response = post(server, "/predict", json=EXAMPLE)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {
        "prediction",
        "probability_of_default",
        "risk_category",
        "reasons",
        "model_version",
    }
    assert body["reasons"] == []  # a Low applicant: reasons only on adverse decisions
    (expected,) = reference_probabilities(trained_model, [EXAMPLE])
    assert body["probability_of_default"] == pytest.approx(expected, abs=1e-4)
    p = body["probability_of_default"]
    assert body["prediction"] == int(p >= 0.5)
    assert body["risk_category"] == ("Low" if p < 0.3 else "Medium" if p < 0.6 else "High")
    assert body["model_version"] == str(trained_model.tag)


def test_batch_of_one_and_of_a_thousand(server, trained_model):
    records = valid_records(1000, seed=11)
    expected = reference_probabilities(trained_model, records)
    for size in (1, 1000):
        response = post(server, "/predict_batch", json={"records": records[:size]})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model_version"] == str(trained_model.tag)
        assert body["latency_ms"] > 0
        got = np.array([r["probability_of_default"] for r in body["results"]])
        assert len(got) == size
        np.testing.assert_allclose(got, expected[:size], atol=1e-4)  # same order
        cats = [r["risk_category"] for r in body["results"]]
        assert cats == score_rows(POLICY, np.column_stack([1 - got, got])).labels


def test_batch_over_the_limit_is_rejected(server):
    limit = SETTINGS.max_batch_records
    response = post(server, "/predict_batch", json={"records": [EXAMPLE] * (limit + 1)})
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["loc"] == ["records"] and error["type"] == "too_long"
    assert str(limit) in error["msg"]


def test_empty_batch_is_rejected(server):
    response = post(server, "/predict_batch", json={"records": []})
    assert response.status_code == 400
    assert response.json()["errors"][0]["type"] == "too_short"


def test_single_and_batch_agree(server):
    records = valid_records(20, seed=5)
    batch = post(server, "/predict_batch", json={"records": records}).json()["results"]
    for rec, in_batch in zip(records, batch, strict=True):
        single = post(server, "/predict", json=rec).json()
        single.pop("model_version")
        assert single == in_batch


@pytest.mark.parametrize(
    ("record", "field", "error_type"), [c[1:] for c in BAD_RECORDS], ids=[c[0] for c in BAD_RECORDS]
)
def test_bad_record_gets_400_naming_field_and_rule(server, record, field, error_type):
    response = post(server, "/predict", json=record)
    assert response.status_code == 400
    body = response.json()
    assert isinstance(body, dict)
    assert [(e["loc"], e["type"]) for e in body["errors"]] == [([field], error_type)]
    assert body["detail"] == f"{field}: {body['errors'][0]['msg']}"


@pytest.mark.parametrize(
    ("record", "field", "error_type"), [c[1:] for c in BAD_RECORDS], ids=[c[0] for c in BAD_RECORDS]
)
def test_bad_record_in_batch_is_named_by_index(server, record, field, error_type):
    response = post(server, "/predict_batch", json={"records": [EXAMPLE, EXAMPLE, record]})
    assert response.status_code == 400
    body = response.json()
    assert [(e["loc"], e["type"]) for e in body["errors"]] == [(["records", 2, field], error_type)]
    assert body["detail"].startswith(f"records[2].{field}: ")


@pytest.mark.parametrize(
    ("body", "field"), [c[1:] for c in NON_FINITE_BODIES], ids=[c[0] for c in NON_FINITE_BODIES]
)
def test_non_finite_literals_rejected(server, body, field):
    response = post(server, "/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["loc"] == [field]


@pytest.mark.parametrize(
    ("body", "error_type"),
    [
        ('{"age": 35,', "json_invalid"),
        ("[1, 2]", "model_type"),
        ('"text"', "model_type"),
    ],
)
def test_malformed_bodies_get_a_json_400(server, body, error_type):
    response = post(server, "/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["type"] == error_type


def test_client_errors_are_one_json_line_without_traceback(server):
    post(server, "/predict", json=record(age=5), headers={"x-request-id": "bad-single"})
    post(
        server,
        "/predict_batch",
        json={"records": [record(loan_amount=-1)]},
        headers={"x-request-id": "bad-batch"},
    )
    lines = {r.get("request_id"): r for r in server.json_logs()}
    assert lines["bad-single"]["status"] == lines["bad-batch"]["status"] == 400
    assert lines["bad-single"]["level"] == "INFO"
    assert lines["bad-single"]["outcome"] == "rejected"
    assert "Traceback" not in server.log()


def test_request_id_is_taken_or_made_and_returned(server):
    given = post(server, "/predict", json=EXAMPLE, headers={"x-request-id": "req-42.a:b"})
    assert given.headers["x-request-id"] == "req-42.a:b"
    made = post(server, "/predict", json=EXAMPLE).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    unsafe = post(server, "/predict", json=EXAMPLE, headers={"x-request-id": 'a b"<x>'})
    assert re.fullmatch(r"[0-9a-f]{32}", unsafe.headers["x-request-id"])
    probe = httpx.get(f"{server.url}/readyz", headers={"x-request-id": "probe-1"})
    assert probe.headers["x-request-id"] == "probe-1"
    logged = {r["request_id"]: r for r in server.json_logs() if "request_id" in r}
    line = logged["req-42.a:b"]
    assert (line["path"], line["records"], line["outcome"]) == ("/predict", 1, "ok")
    assert line["model_version"].startswith("credit_model:") and line["latency_ms"] > 0
    assert line["level"] == "INFO" and line["timestamp"]
    assert logged["probe-1"]["path"] == "/readyz"


def test_wrong_content_type_is_415(server):
    response = post(server, "/predict", content=b"age=35", headers={"content-type": "text/plain"})
    assert response.status_code == 415
    assert "application/json" in response.json()["detail"]


def test_oversized_body_is_413(server):
    body = b'{"records": [' + b" " * (SETTINGS.max_body_bytes + 1) + b"]}"
    response = post(
        server, "/predict_batch", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert str(SETTINGS.max_body_bytes) in response.json()["detail"]


def test_model_info(server, trained_model):
    info = post(server, "/model_info").json()
    assert info["tag"] == str(trained_model.tag)
    assert info["created_at"].startswith(trained_model.info.creation_time.strftime("%Y-%m-%d"))
    assert info["backend"] == "onnx"
    assert info["parity"]["max_abs_diff"] <= info["parity"]["tolerance"] == 1e-4
    assert info["metadata"]["metrics"] == trained_model.info.metadata["metrics"]
    assert info["spec"] == CREDIT.to_json()
    assert info["decision"] == {
        "policy": "bands",
        "field": "risk_category",
        "labels": ["Low", "Medium", "High"],
        "cutoffs": {"threshold": 0.5, "Low": 0.3, "Medium": 0.6},
    }


def test_bentoml_python_client(server, trained_model):
    with bentoml.SyncHTTPClient(server.url) as client:
        single = client.predict(EXAMPLE)
        batch = client.predict_batch(records=[EXAMPLE, record(age=60)])
        assert single["model_version"] == batch["model_version"] == str(trained_model.tag)
        assert batch["results"][0]["probability_of_default"] == single["probability_of_default"]
        with pytest.raises(bentoml.exceptions.BentoMLException, match="greater_than_equal"):
            client.predict(record(age=3))


def _mean_batch_size(metrics: str) -> tuple[float, float]:
    """(sum, count) of the runner's adaptive batch-size histogram for `score`."""
    values = {}
    for kind in ("sum", "count"):
        pattern = (
            rf"bentoml_service_adaptive_batch_size_{kind}"
            r'\{[^}]*method_name="score"[^}]*\} (\S+)'
        )
        values[kind] = sum(float(v) for v in re.findall(pattern, metrics))
    return values["sum"], values["count"]


def test_adaptive_batching_merges_concurrent_requests(runner_server):
    server = runner_server
    before = _mean_batch_size(httpx.get(f"{server.url}/metrics").text)
    records = valid_records(400, seed=3)
    answers = fire(server.url, [("/predict", r, f"burst-{i}") for i, r in enumerate(records)])
    assert {status for status, _ in answers} == {200}
    after = _mean_batch_size(httpx.get(f"{server.url}/metrics").text)
    rows, batches = after[0] - before[0], after[1] - before[1]
    assert rows == len(records)
    assert rows / batches > 1, f"{rows} rows in {batches} batches: nothing was merged"


def test_swagger_ui_and_openapi_example(server):
    page = httpx.get(f"{server.url}/")
    assert page.status_code == 200 and "swagger" in page.text.lower()
    spec = httpx.get(f"{server.url}/docs.json").json()
    assert {"/predict", "/predict_batch", "/model_info"} <= set(spec["paths"])
    assert spec["components"]["schemas"]["CreditApplication"]["example"] == EXAMPLE
    # The documented example is itself accepted.
    example = spec["components"]["schemas"]["CreditApplication"]["example"]
    assert post(server, "/predict", json=example).status_code == 200


def _predict_count(server) -> float:
    pattern = (
        r'bentoml_service_request_total\{endpoint="/predict"[^}]*'
        r'http_response_code="200"[^}]*\} (\S+)'
    )
    return sum(float(v) for v in re.findall(pattern, httpx.get(f"{server.url}/metrics").text))


def test_metrics_count_requests(server):
    before = _predict_count(server)
    post(server, "/predict", json=EXAMPLE)
    assert _predict_count(server) == before + 1


def test_both_layouts_give_the_same_answers_and_errors(server, runner_server):
    records = valid_records(30, seed=8)
    expected = post(server, "/predict_batch", json={"records": records}).json()["results"]
    batch = post(runner_server, "/predict_batch", json={"records": records}).json()
    assert batch["results"] == expected
    single = post(runner_server, "/predict", json=records[0]).json()
    assert single == {**expected[0], "model_version": batch["model_version"]}
    bad = {"records": [EXAMPLE, record(age=200)]}
    assert (
        post(runner_server, "/predict_batch", json=bad).json()
        == post(server, "/predict_batch", json=bad).json()
    )
    assert post(runner_server, "/model_info").json()["layout"] == "runner"
    assert post(server, "/model_info").json()["layout"] == "inprocess"


def test_method_size_and_type_limits_hold_in_the_runner_layout(runner_server):
    assert httpx.get(f"{runner_server.url}/predict").status_code == 405
    wrong_type = post(
        runner_server, "/predict", content=b"{}", headers={"content-type": "text/plain"}
    )
    assert wrong_type.status_code == 415
    too_big = post(
        runner_server,
        "/predict_batch",
        content=b" " * (SETTINGS.max_body_bytes + 1),
        headers={"content-type": "application/json"},
    )
    assert too_big.status_code == 413


def test_service_metrics(server):
    records = valid_records(600, seed=21)
    post(server, "/predict_batch", json={"records": records[:500]})
    post(server, "/predict_batch", json={"records": records[500:]})
    text = httpx.get(f"{server.url}/metrics").text
    assert re.search(r'riskserve_model_info\{[^}]*model_version="credit_model:', text)
    count = re.search(
        r'riskserve_probability_count\{model="credit_model",role="champion"\} '
        r"(\S+)",
        text,
    )
    assert count and float(count.group(1)) >= 600
    decided = re.findall(
        r'riskserve_decisions_total\{decision="(?:Low|Medium|High)",'
        r'model="credit_model",role="champion"\} (\S+)',
        text,
    )
    assert sum(float(v) for v in decided) >= 600


def test_request_log_errors_only(trained_model, tmp_path):
    with Server.source(tmp_path, request_log="errors") as srv:
        post(srv, "/predict", json=EXAMPLE, headers={"x-request-id": "fine"})
        post(srv, "/predict", json=record(age=1), headers={"x-request-id": "broken"})
        logged = {r.get("request_id") for r in srv.json_logs()}
    assert "broken" in logged and "fine" not in logged
