"""The Open Inference Protocol end to end: Triton's own client against real servers."""

from __future__ import annotations

import json
import re

import httpx
import numpy as np
import orjson
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from riskserve.inference_protocol import DATATYPES, inference_request
from riskserve.settings import load_settings
from tests.cases import CREDIT, EXAMPLE, FRAUD, IRIS
from tests.test_http import valid_records
from tests.test_models_http import records_from_reference

pytestmark = pytest.mark.slow
NUMPY = {"int": np.int64, "float": np.float64, "bool": np.bool_, "category": np.object_}


def client(server) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(server.url.removeprefix("http://"))


def named_inputs(spec, records: list[dict]) -> list[triton.InferInput]:
    """One input per feature, as a Triton user builds them from NumPy columns."""
    inputs = []
    for f in spec.features:
        column = np.array([r[f.name] for r in records], dtype=NUMPY[f.kind])
        tensor = triton.InferInput(f.name, [len(records)], DATATYPES[f.kind])
        tensor.set_data_from_numpy(column, binary_data=False)
        inputs.append(tensor)
    return inputs


def predict_batch(server, records: list[dict]) -> list[dict]:
    response = httpx.post(f"{server.url}/predict_batch", json={"records": records}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["results"]


def infer(server, body: dict | bytes, path: str = "/v2/models/credit_model/infer", **kw):
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return httpx.post(f"{server.url}{path}", content=content, timeout=30, **kw)


def column_body(records: list[dict], **changes) -> dict:
    """A raw credit inference request, one input per feature; `changes` replace inputs."""
    inputs = {tensor["name"]: tensor for tensor in inference_request(CREDIT, records)["inputs"]}
    inputs.update(changes)
    return {"inputs": [tensor for tensor in inputs.values() if tensor is not None]}


def test_readiness_and_metadata(server, trained_model):
    name, version = str(trained_model.tag).split(":")
    with client(server) as c:
        assert c.is_server_live() and c.is_server_ready()
        assert c.is_model_ready(name) and c.is_model_ready(name, version)
        assert not c.is_model_ready("fraud_model")
        assert not c.is_model_ready(name, "not-a-version")
        assert c.get_server_metadata()["name"] == "riskserve"
        metadata = c.get_model_metadata(name)
        assert c.get_model_metadata(name, version) == metadata
    assert metadata["name"] == name and metadata["versions"] == [version]
    assert metadata["platform"] == "onnxruntime_onnx"
    assert metadata["inputs"] == [
        {"name": f.name, "datatype": DATATYPES[f.kind], "shape": [-1]} for f in CREDIT.features
    ]
    assert metadata["outputs"] == [
        {"name": "prediction", "datatype": "INT64", "shape": [-1]},
        {"name": "probability_of_default", "datatype": "FP64", "shape": [-1]},
        {"name": "risk_category", "datatype": "BYTES", "shape": [-1]},
        {"name": "reasons", "datatype": "BYTES", "shape": [-1]},  # reasons: adverse
    ]


def test_credit_scores_equal_predict(server, trained_model):
    records = valid_records(200, seed=15)
    expected = predict_batch(server, records)
    with client(server) as c:
        result = c.infer("credit_model", named_inputs(CREDIT, records), request_id="t-1")
    response = result.get_response()
    assert response["id"] == "t-1"
    assert response["model_version"] == str(trained_model.tag).split(":")[1]
    got = result.as_numpy("probability_of_default")
    assert got.dtype == np.float64
    assert got.tolist() == [r["probability_of_default"] for r in expected]  # exactly
    assert result.as_numpy("prediction").tolist() == [r["prediction"] for r in expected]
    categories = result.as_numpy("risk_category").tolist()
    assert categories == [r["risk_category"] for r in expected]
    reasons = [json.loads(v) for v in result.as_numpy("reasons").tolist()]
    assert reasons == [r["reasons"] for r in expected]
    assert any(reasons) and not all(reasons)  # explained where the decision is not Low
    single = httpx.post(f"{server.url}/predict", json=records[0]).json()
    assert single["probability_of_default"] == got[0]


def test_credit_feature_matrix_form(server):
    records = valid_records(50, seed=16)
    matrix = np.array([[r[n] for n in CREDIT.feature_names] for r in records], dtype=np.float64)
    features = triton.InferInput("features", list(matrix.shape), "FP64")
    features.set_data_from_numpy(matrix, binary_data=False)
    with client(server) as c:
        result = c.infer("credit_model", [features])
    expected = [r["probability_of_default"] for r in predict_batch(server, records)]
    assert result.as_numpy("probability_of_default").tolist() == expected


def test_fraud_scores_and_decisions_equal_predict(fraud_server, fraud_model):
    records = records_from_reference(fraud_model, FRAUD, 300)
    expected = predict_batch(fraud_server, records)
    requested = [
        triton.InferRequestedOutput(n, binary_data=False) for n in ("decision", "fraud_probability")
    ]
    with client(fraud_server) as c:
        result = c.infer("fraud_model", named_inputs(FRAUD, records), outputs=requested)
    assert [o["name"] for o in result.get_response()["outputs"]] == [
        "decision",
        "fraud_probability",
    ]
    got = result.as_numpy("fraud_probability").tolist()
    assert got == [r["fraud_probability"] for r in expected]
    assert result.as_numpy("decision").tolist() == [r["decision"] for r in expected]
    assert {r["decision"] for r in expected} == {"approve", "review", "decline"}


def test_fraud_refuses_the_matrix_form(fraud_server):
    features = triton.InferInput("features", [1, 5], "FP64")
    features.set_data_from_numpy(np.zeros((1, 5)), binary_data=False)
    with client(fraud_server) as c, pytest.raises(InferenceServerException) as info:
        c.infer("fraud_model", [features])
    assert info.value.status() == "400"
    assert "merchant_category (category)" in info.value.message()


def test_iris_per_class_probabilities(iris_server):
    virginica = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.8, "petal_width": 2.2}
    records = [IRIS.example, virginica]
    expected = predict_batch(iris_server, records)
    with client(iris_server) as c:
        metadata = c.get_model_metadata("iris_model")
        result = c.infer("iris_model", named_inputs(IRIS, records))
    assert {"name": "probabilities", "datatype": "FP64", "shape": [-1, 3]} in metadata["outputs"]
    probabilities = result.as_numpy("probabilities")
    assert probabilities.shape == (2, 3)
    assert probabilities.tolist() == [
        [r["probabilities"][c] for c in IRIS.classes] for r in expected
    ]
    assert result.as_numpy("species").tolist() == ["setosa", "virginica"]


def test_tritonclient_binary_tensors_get_a_400_saying_what_to_send(server):
    inputs = named_inputs(CREDIT, [EXAMPLE])
    inputs[0].set_data_from_numpy(np.array([35], dtype=np.int64))  # binary_data=True
    with client(server) as c, pytest.raises(InferenceServerException) as info:
        c.infer("credit_model", inputs)
    assert info.value.status() == "400" and "binary_data=False" in info.value.message()


def _values(name: str, datatype: str, data: list, shape: list | None = None) -> dict:
    return {"name": name, "datatype": datatype, "shape": shape or [len(data)], "data": data}


TWO = [EXAMPLE, {**EXAMPLE, "age": 40}]
# (id, body, text the error must hold)
MALFORMED = [
    ("not JSON", b'{"inputs": [', "Invalid JSON"),
    ("no inputs", {"inputs": []}, "inputs"),
    (
        "shape and data disagree",
        column_body(TWO, age=_values("age", "INT64", [35, 40], [3])),
        "input 'age': shape [3] with 2 values",
    ),
    (
        "lengths differ",
        column_body(TWO, age=_values("age", "INT64", [35])),
        "inputs differ in length",
    ),
    (
        "BYTES where INT64 is declared",
        column_body(TWO, age=_values("age", "BYTES", ["35", "40"])),
        "input 'age': datatype BYTES, expected INT64",
    ),
    ("missing input", column_body(TWO, age=None), "missing input age"),
    (
        "unknown input",
        column_body(TWO, zip_code=_values("zip_code", "BYTES", ["1", "2"])),
        "unknown input zip_code",
    ),
    (
        "out of bounds",
        column_body(TWO, age=_values("age", "INT64", [35, 17])),
        "input 'age' index 1: Input should be greater than or equal to 18 [greater_than_equal]",
    ),
    (
        "cross-field rule",
        column_body(TWO, credit_history_length=_values("credit_history_length", "INT64", [12, 30])),
        "input 'credit_history_length' index 1: Input should satisfy credit_history_length <= "
        "age - 18",
    ),
    (
        "float for an integer",
        column_body(TWO, age=_values("age", "INT64", [35, 40.5])),
        "input 'age' index 1: Input should be a valid integer [int_type]",
    ),
    (
        "matrix of the wrong width",
        {"inputs": [_values("features", "FP64", [1.0] * 6, [1, 6])]},
        "expected FP64 [N, 7]",
    ),
    (
        "unknown output",
        {**column_body(TWO), "outputs": [{"name": "score"}]},
        "unknown output 'score'",
    ),
]


@pytest.mark.parametrize(
    ("body", "text"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED]
)
def test_malformed_tensors_get_a_protocol_400(server, body, text):
    response = infer(server, body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()
    assert list(error) == ["error"] and text in error["error"], error


def test_outputs_id_and_parameters(server):
    body = {
        **column_body(TWO),
        "id": "abc",
        "parameters": {"trace": "x1"},
        "outputs": [{"name": "risk_category"}],
    }
    answer = infer(server, body).json()
    assert answer["id"] == "abc" and answer["parameters"] == {"trace": "x1"}
    assert [(o["name"], o["datatype"], o["shape"]) for o in answer["outputs"]] == [
        ("risk_category", "BYTES", [2])
    ]


def test_protocol_routes_keep_the_layer_rules(server, trained_model):
    url, version = server.url, str(trained_model.tag).split(":")[1]
    wrong_method = httpx.get(f"{url}/v2/models/credit_model/infer")
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
    assert list(wrong_method.json()) == ["error"]
    assert httpx.post(f"{url}/v2").status_code == 405
    limit = load_settings().max_body_bytes
    too_big = infer(server, b" " * (limit + 1))
    assert too_big.status_code == 413 and str(limit) in too_big.json()["error"]
    wrong_type = infer(server, column_body(TWO), headers={"content-type": "text/plain"})
    assert wrong_type.status_code == 415
    for path in ("/v2/models/fraud_model/infer", "/v2/models/credit_model/versions/x/infer"):
        missing = infer(server, column_body(TWO), path)
        assert missing.status_code == 404 and f"version {version}" in missing.json()["error"]
    assert (
        infer(
            server, column_body(TWO), f"/v2/models/credit_model/versions/{version}/infer"
        ).status_code
        == 200
    )
    assert httpx.get(f"{url}/v2/nothing").status_code == 404
    answered = infer(server, column_body(TWO), headers={"x-request-id": "v2-id"})
    assert answered.headers["x-request-id"] == "v2-id"
    (line,) = [r for r in server.json_logs() if r.get("request_id") == "v2-id"]
    assert (line["status"], line["records"]) == (200, 2)
    assert line["model_version"] == str(trained_model.tag)


def _counted(server) -> float:
    text = httpx.get(f"{server.url}/metrics").text
    line = r'riskserve_probability_count\{model="credit_model",role="champion"\} (\S+)'
    return float(re.search(line, text).group(1))


def test_every_row_audited_and_counted(server, trained_model):
    records = valid_records(120, seed=17)
    before = _counted(server)
    response = infer(server, column_body(records), headers={"x-request-id": "v2-audit"})
    assert response.status_code == 200
    assert _counted(server) == before + len(records)
    lines = [r for r in server.audit_records() if r["request_id"] == "v2-audit"]
    assert [line["index"] for line in lines] == list(range(len(records)))
    assert {line["endpoint"] for line in lines} == {"v2_infer"}
    assert [line["features"] for line in lines] == records
    assert {line["model_version"] for line in lines} == {str(trained_model.tag)}
    probabilities = response.json()["outputs"][1]["data"]
    assert [line["probability"] for line in lines] == probabilities


def test_openapi_documents_the_protocol(server):
    document = httpx.get(f"{server.url}/docs.json").json()
    assert "/v2/models/{name}/infer" in document["paths"]
    assert {"/predict", "/v2", "/v2/health/ready"} <= set(document["paths"])
    request = document["components"]["schemas"]["InferenceRequest"]
    assert request["required"] == ["inputs"]
