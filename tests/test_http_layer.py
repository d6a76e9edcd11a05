"""The HTTP layer in process, through httpx's ASGI transport: routes, limits, errors, ids."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from riskserve.access import AccessGuard
from riskserve.audit import AuditLog
from riskserve.contract import Contract
from riskserve.decisions import Policy
from riskserve.http_layer import ScorerSlot, ScoringHTTP
from riskserve.inference_protocol import OpenInference, inference_request
from riskserve.model_entry import load_model
from riskserve.scoring import LocalModel, Scorer
from riskserve.settings import load_settings
from tests.cases import FRAUD, record

LIMIT = 4096


class Observed:
    """Stands in for the Prometheus metrics (registered once per process elsewhere)."""

    def __init__(self) -> None:
        self.labels: list[str] = []

    def observe(
        self, features: Any, probabilities: Any, labels: list[str], role: str = "champion"
    ) -> None:
        self.labels += labels


async def inner_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """BentoML's place: answers every path the layer passes through."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": f"inner {scope['path']}".encode()})


def layer(slot: ScorerSlot, digests: list[bytes] | None = None) -> ScoringHTTP:
    guard = AccessGuard(digests or [], {"/livez"}, (), None)
    return ScoringHTTP(
        inner_app, slot=slot, guard=guard, max_body_bytes=LIMIT, log_every_request=True
    )


@pytest.fixture
def slot(fraud_model, tmp_path: Path) -> ScorerSlot:
    settings = load_settings()
    loaded = load_model(fraud_model, "fraud_model", "onnx", 1e-4)
    policy = Policy(loaded.spec)
    slot = ScorerSlot()
    slot.contract = Contract.build(loaded.spec, policy, 3)
    audit = AuditLog(tmp_path / "audit", loaded.spec, 10**6, policy.cutoffs)
    slot.scorer = Scorer(loaded.spec, policy, settings, LocalModel(loaded, ""), audit, Observed())  # type: ignore[arg-type]
    return slot


def call(app: ScoringHTTP, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://riskserve") as c:
            return await c.request(method, path, **kwargs)

    return asyncio.run(go())


def test_scores_and_audits_with_the_request_id(slot, tmp_path):
    response = call(
        layer(slot),
        "POST",
        "/predict",
        json=FRAUD.example,
        headers={"x-request-id": "in-process-1"},
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "in-process-1"
    body = response.json()
    assert set(body) == {"fraud_probability", "decision", "model_version"}
    (line,) = [
        orjson.loads(x) for x in next((tmp_path / "audit").iterdir()).read_bytes().splitlines()
    ]
    assert line["request_id"] == "in-process-1" and line["features"] == FRAUD.example
    assert slot.scorer.metrics.labels == [body["decision"]]


def test_batch_limit_and_record_errors_name_index_field_and_rule(slot):
    app = layer(slot)
    too_many = call(app, "POST", "/predict_batch", json={"records": [FRAUD.example] * 4})
    assert too_many.status_code == 400 and too_many.json()["errors"][0]["type"] == "too_long"
    bad = {**FRAUD.example, "hour_of_day": 24}
    response = call(app, "POST", "/predict_batch", json={"records": [FRAUD.example, bad]})
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "records[1].hour_of_day: Input should be less than or equal to 23"
    )


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/predict", {}, 405),
        ("PUT", "/predict_batch", {}, 405),
        ("POST", "/predict", {"content": b"x=1", "headers": {"content-type": "text/plain"}}, 415),
        ("POST", "/predict", {"content": b"{" + b" " * LIMIT + b"}"}, 413),
        ("POST", "/predict", {"content": b'{"hour_of_day": '}, 400),
    ],
)
def test_refusals_are_json_with_status(slot, method, path, kwargs, status):
    response = call(layer(slot), method, path, **kwargs)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert {"error", "detail"} <= set(response.json())
    if status == 405:
        assert response.headers["allow"] == "POST"


def test_other_paths_pass_through_with_a_request_id(slot):
    response = call(layer(slot), "GET", "/metrics")
    assert response.text == "inner /metrics"
    assert len(response.headers["x-request-id"]) == 32


def test_without_a_scorer_the_answer_says_why(slot):
    empty = ScorerSlot()
    empty.problem = "model fraud_model:latest is not in the model store"
    response = call(layer(empty), "POST", "/predict", json=FRAUD.example)
    assert response.status_code == 503
    assert response.json()["detail"] == empty.problem


def test_keys_guard_scoring_but_not_open_paths(slot):
    app = layer(slot, [hashlib.sha256(b"k1").digest()])
    assert call(app, "POST", "/predict", json=FRAUD.example).status_code == 401
    ok = call(app, "POST", "/predict", json=FRAUD.example, headers={"x-api-key": "k1"})
    assert ok.status_code == 200
    assert call(app, "GET", "/livez").status_code == 200


def test_credit_records_are_refused_by_the_fraud_contract(slot):
    response = call(layer(slot), "POST", "/predict", json=record(age=40))
    assert response.status_code == 400
    assert {"age", "merchant_category"} <= {e["loc"][0] for e in response.json()["errors"]}


def test_protocol_routes_in_process(slot):
    app = layer(slot)
    assert call(app, "GET", "/v2/models/fraud_model").status_code == 404  # not set up
    slot.protocol = OpenInference(FRAUD, slot.contract, 3, "fraud_model:v1")
    assert call(app, "GET", "/v2/health/live").json() == {"live": True}
    wrong = call(app, "POST", "/v2/models/fraud_model/ready")
    assert (wrong.status_code, wrong.headers["allow"]) == (405, "GET")
    assert wrong.json() == {"error": "method not allowed: use GET"}
    body = inference_request(FRAUD, [FRAUD.example])
    answer = call(app, "POST", "/v2/models/fraud_model/versions/v1/infer", json=body).json()
    assert [o["name"] for o in answer["outputs"]] == ["fraud_probability", "decision"]
    assert slot.scorer.metrics.labels == answer["outputs"][1]["data"]
