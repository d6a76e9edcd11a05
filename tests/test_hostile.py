"""Hostile input: every malformed request gets a 4xx with a JSON object naming the problem."""

from __future__ import annotations

import httpx
import orjson
import pytest

from riskserve.inference_protocol import inference_request
from riskserve.settings import load_settings
from tests.cases import CREDIT, EXAMPLE, record

pytestmark = pytest.mark.slow
SETTINGS = load_settings()
JSON = {"content-type": "application/json"}
V2_INFER = "/v2/models/credit_model/infer"


def _records(n: int) -> bytes:
    return orjson.dumps({"records": [EXAMPLE] * n})


# (id, path, body, headers, status, text the error must contain)
CORPUS = [
    ("invalid JSON", "/predict", b'{"age": 35,', JSON, 400, "json_invalid"),
    (
        "wrong content type",
        "/predict",
        orjson.dumps(EXAMPLE),
        {"content-type": "text/csv"},
        415,
        "application/json",
    ),
    (
        "form encoded",
        "/predict",
        b"age=35",
        {"content-type": "application/x-www-form-urlencoded"},
        415,
        "application/json",
    ),
    ("empty body", "/predict", b"", JSON, 400, "json_invalid"),
    ("null body", "/predict", b"null", JSON, 400, "model_type"),
    ("array for object", "/predict", b"[1, 2, 3]", JSON, 400, "model_type"),
    (
        "array of records for batch object",
        "/predict_batch",
        orjson.dumps([EXAMPLE]),
        JSON,
        400,
        "model_type",
    ),
    ("records not a list", "/predict_batch", b'{"records": {"age": 1}}', JSON, 400, "list_type"),
    (
        "deeply nested",
        "/predict",
        b'{"age":' * 20000 + b"1" + b"}" * 20000,
        JSON,
        400,
        "recursion limit",
    ),
    (
        "deeply nested arrays",
        "/predict_batch",
        b"[" * 50000 + b"]" * 50000,
        JSON,
        400,
        "recursion limit",
    ),
    (
        "float overflow",
        "/predict",
        orjson.dumps(EXAMPLE).replace(
            b'"debt_to_income_ratio":0.35', b'"debt_to_income_ratio":1e999'
        ),
        JSON,
        400,
        "debt_to_income_ratio",
    ),
    (
        "integer beyond 64 bits",
        "/predict",
        orjson.dumps(EXAMPLE).replace(b'"loan_amount":15000', b'"loan_amount":' + b"9" * 400),
        JSON,
        400,
        "loan_amount",
    ),
    (
        "NaN literal",
        "/predict",
        orjson.dumps(EXAMPLE).replace(
            b'"debt_to_income_ratio":0.35', b'"debt_to_income_ratio":NaN'
        ),
        JSON,
        400,
        "debt_to_income_ratio",
    ),
    (
        "Infinity literal",
        "/predict",
        orjson.dumps(EXAMPLE).replace(
            b'"debt_to_income_ratio":0.35', b'"debt_to_income_ratio":-Infinity'
        ),
        JSON,
        400,
        "debt_to_income_ratio",
    ),
    ("string for number", "/predict", orjson.dumps(record(age="35")), JSON, 400, "age"),
    ("fullwidth digits", "/predict", orjson.dumps(record(age="\uff13\uff15")), JSON, 400, "age"),
    (
        "boolean for integer",
        "/predict",
        orjson.dumps(record(num_late_payments=False)),
        JSON,
        400,
        "num_late_payments",
    ),
    ("unknown field", "/predict", orjson.dumps(record(ssn="123-45-6789")), JSON, 400, "ssn"),
    ("unicode field name", "/predict", orjson.dumps(record(**{"âge": 35})), JSON, 400, "âge"),
    ("invalid UTF-8", "/predict", b'\xff\xfe{"age": 35}', JSON, 400, "json_invalid"),
    ("control characters", "/predict", b'{"age": 35\x00\x01}', JSON, 400, "json_invalid"),
    (
        "10 MB body",
        "/predict_batch",
        b'{"records": [' + b" " * 10_000_000 + b"]}",
        JSON,
        413,
        "too large",
    ),
    ("100,000-record batch", "/predict_batch", _records(100_000), JSON, 413, "too large"),
    (
        "batch over the record limit",
        "/predict_batch",
        _records(SETTINGS.max_batch_records + 1),
        JSON,
        400,
        "too_long",
    ),
    ("empty batch", "/predict_batch", b'{"records": []}', JSON, 400, "too_short"),
    (
        "V2 deeply nested tensor",
        V2_INFER,
        b'{"inputs": [{"name": "age", "shape": [1], "datatype": "INT64", "data": '
        + b"[" * 20000
        + b"]" * 20000
        + b"}]}",
        JSON,
        400,
        "recursion limit",
    ),
    (
        "V2 100,000-row tensors",
        V2_INFER,
        orjson.dumps(inference_request(CREDIT, [EXAMPLE] * 100_000)),
        JSON,
        413,
        "too large",
    ),
    (
        "V2 NaN in a tensor",
        V2_INFER,
        orjson.dumps(inference_request(CREDIT, [EXAMPLE])).replace(b"[0.35]", b"[NaN]"),
        JSON,
        400,
        "input 'debt_to_income_ratio' index 0",
    ),
]


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "names"),
    [c[1:] for c in CORPUS],
    ids=[c[0] for c in CORPUS],
)
def test_hostile_request_gets_a_json_4xx(server, path, body, headers, status, names):
    response = httpx.post(f"{server.url}{path}", content=body, headers=headers, timeout=60)
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"] == "application/json"
    error = response.json()
    assert isinstance(error, dict) and error["error"]
    assert names in response.text


def test_wrong_method_is_a_json_405(server):
    response = httpx.get(f"{server.url}/predict")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["error"] == "method not allowed"


def test_service_unharmed_after_the_corpus(server):
    assert httpx.get(f"{server.url}/readyz").status_code == 200
    assert httpx.post(f"{server.url}/predict", json=EXAMPLE).status_code == 200
    assert "Traceback" not in server.log()
