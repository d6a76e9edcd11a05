"""Open Inference Protocol units: routes, metadata, tensor checks and answers, no server."""

from __future__ import annotations

import json

import numpy as np
import orjson
import pytest

from riskserve.contract import Contract
from riskserve.decisions import Policy
from riskserve.errors import ErrorResponse
from riskserve.inference_messages import InferenceResponse, ModelMetadataResponse, openapi
from riskserve.inference_protocol import (
    OpenInference,
    Route,
    check_headers,
    document,
    error_body,
    inference_request,
    match,
)
from riskserve.scores import score_rows
from tests.cases import CREDIT, EXAMPLE, FRAUD, IRIS


def protocol(spec, max_rows: int = 1000, version: str = "v1") -> OpenInference:
    policy = Policy(spec)
    tag = f"{spec.name}:{version}"
    return OpenInference(spec, Contract.build(spec, policy, max_rows), max_rows, tag)


def refused(proto: OpenInference, body: dict | bytes) -> str:
    with pytest.raises(ErrorResponse) as info:
        proto.parse(body if isinstance(body, bytes) else orjson.dumps(body))
    assert info.value.status == 400
    assert list(info.value.body) == ["error"]
    return info.value.body["error"]


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/v2", Route("server")),
        ("/v2/health/live", Route("live")),
        ("/v2/health/ready", Route("ready")),
        ("/v2/models/m", Route("model", "m")),
        ("/v2/models/m/ready", Route("model_ready", "m")),
        ("/v2/models/m/infer", Route("infer", "m")),
        ("/v2/models/m/versions/7", Route("model", "m", "7")),
        ("/v2/models/m/versions/7/ready", Route("model_ready", "m", "7")),
        ("/v2/models/m/versions/7/infer", Route("infer", "m", "7")),
    ],
)
def test_routes(path, route):
    assert match(path) == route
    assert route.method == ("POST" if route.action == "infer" else "GET")


@pytest.mark.parametrize(
    "path",
    ["/v2/", "/v2/models", "/v2/models/m/explain", "/v2/models/m/versions", "/v2/health/started"],
)
def test_unknown_protocol_paths_are_404(path):
    with pytest.raises(ErrorResponse) as info:
        match(path)
    assert info.value.status == 404 and path in info.value.body["error"]


def test_metadata_follows_the_spec_and_the_answer():
    metadata = protocol(FRAUD, version="v9").metadata(
        Route("model", "fraud_model"), {"backend": "sklearn"}
    )
    ModelMetadataResponse.model_validate(metadata)
    assert metadata["versions"] == ["v9"] and metadata["platform"] == "sklearn"
    assert [(t["name"], t["datatype"]) for t in metadata["inputs"]] == [
        ("transaction_amount", "FP64"),
        ("merchant_category", "BYTES"),
        ("card_present", "BOOL"),
        ("hour_of_day", "INT64"),
        ("days_since_last_transaction", "FP64"),
    ]
    assert [(t["name"], t["datatype"]) for t in metadata["outputs"]] == [
        ("fraud_probability", "FP64"),
        ("decision", "BYTES"),
    ]


@pytest.mark.parametrize(
    ("route", "found"),
    [
        (Route("model", "credit_model"), True),
        (Route("model", "credit_model", "v1"), True),
        (Route("model", "credit_model", "v2"), False),
        (Route("model", "fraud_model"), False),
    ],
)
def test_model_name_and_version_must_be_the_served_ones(route, found):
    if found:
        assert protocol(CREDIT).check_model(route) == ("credit_model", "v1")
        return
    with pytest.raises(ErrorResponse) as info:
        protocol(CREDIT).check_model(route)
    assert info.value.status == 404 and "serves credit_model version v1" in info.value.body["error"]


def test_columns_become_the_same_records_as_predict():
    second = {**EXAMPLE, "age": 61, "debt_to_income_ratio": 2}
    inference = protocol(CREDIT).parse(
        orjson.dumps(
            {**inference_request(CREDIT, [EXAMPLE, second]), "id": "r-1", "parameters": {"k": 1}}
        )
    )
    contract = Contract.build(CREDIT, Policy(CREDIT), 1000)
    expected = contract.many(orjson.dumps({"records": [EXAMPLE, second]}))
    assert [r.__dict__ for r in inference.records] == expected.records
    assert type(inference.records[1].debt_to_income_ratio) is float
    assert (inference.id, inference.parameters) == ("r-1", {"k": 1})
    fraud = dict(FRAUD.example)
    assert (
        protocol(FRAUD).parse(orjson.dumps(inference_request(FRAUD, [fraud]))).records[0].__dict__
        == fraud
    )


@pytest.mark.parametrize("nested", [True, False])
def test_feature_matrix_form_for_numeric_models(nested):
    row = [float(EXAMPLE[n]) for n in CREDIT.feature_names]
    data = [row, row] if nested else row + row
    body = {"inputs": [{"name": "features", "shape": [2, 7], "datatype": "FP64", "data": data}]}
    records = protocol(CREDIT).parse(orjson.dumps(body)).records
    assert [r.__dict__ for r in records] == [EXAMPLE, EXAMPLE]
    assert type(records[0].age) is int  # whole FP64 values of int features


def test_feature_matrix_errors_name_the_cell():
    row = [float(EXAMPLE[n]) for n in CREDIT.feature_names]
    bad = [*row[:5], 2.5, row[6]]
    body = {
        "inputs": [{"name": "features", "shape": [2, 7], "datatype": "FP64", "data": row + bad}]
    }
    assert refused(protocol(CREDIT), body) == (
        "input 'features' index [1, 5] (num_late_payments): Input should be a valid integer "
        "[int_type]"
    )
    one = {"inputs": [{"name": "features", "shape": [1, 5], "datatype": "FP64", "data": [0.0] * 5}]}
    assert "needs all-numeric features" in refused(protocol(FRAUD), one)


def test_types_are_strict_and_errors_name_input_index_and_rule():
    proto = protocol(FRAUD)
    record = dict(FRAUD.example)
    body = inference_request(
        FRAUD, [record, {**record, "merchant_category": "shoes", "card_present": 1}]
    )
    error = refused(proto, body)
    assert "input 'merchant_category' index 1: Input should be " in error
    assert "[literal_error]" in error
    assert "input 'card_present' index 1: Input should be a valid boolean [bool_type]" in error
    body["inputs"][2]["datatype"] = "INT64"
    assert refused(proto, body) == "input 'card_present': datatype INT64, expected BOOL"


def test_row_limits_and_error_count():
    proto = protocol(CREDIT, max_rows=3)
    assert "send 1 to 3 rows" in refused(proto, inference_request(CREDIT, [EXAMPLE] * 4))
    assert "send 1 to 3 rows" in refused(proto, inference_request(CREDIT, []))
    body = inference_request(CREDIT, [EXAMPLE] * 3)
    for tensor in body["inputs"]:
        tensor["data"] = ["x"] * 3
    error = refused(proto, body)
    assert error.count("[int_type]") + error.count("[float_type]") == 10
    assert error.endswith("and 11 more")


def test_repeated_input_and_envelope_errors():
    proto = protocol(CREDIT)
    body = inference_request(CREDIT, [EXAMPLE])
    body["inputs"].append(body["inputs"][0])
    assert refused(proto, body) == "input 'age' is given twice"
    assert refused(proto, {"inputs": [{"name": "age"}]}).startswith("inputs[0].shape: Field")
    assert refused(proto, {"inputs": [], "extra": 1}).count(";") == 1
    assert refused(proto, b"[1").startswith("body: Invalid JSON")


def test_parameters_are_the_protocols_scalars():
    body = {**inference_request(CREDIT, [EXAMPLE]), "parameters": {"big": 2**70, "n": 5}}
    parameters = protocol(CREDIT).parse(json.dumps(body).encode()).parameters  # 2**70
    assert parameters == {"big": float(2**70), "n": 5} and type(parameters["n"]) is int
    nested = {**body, "parameters": {"p": {"q": 1}}}
    assert refused(protocol(CREDIT), nested).startswith("parameters.p.str: Input should be")


def test_answer_outputs_in_request_order_with_id_and_parameters():
    proto = protocol(CREDIT)
    body = {
        **inference_request(CREDIT, [EXAMPLE, EXAMPLE]),
        "id": "x",
        "parameters": {"p": True},
        "outputs": [{"name": "risk_category"}, {"name": "probability_of_default"}],
    }
    inference = proto.parse(orjson.dumps(body))
    results = [
        {"prediction": 0, "probability_of_default": 0.25, "risk_category": "Low"},
        {"prediction": 1, "probability_of_default": 0.75, "risk_category": "High"},
    ]
    answer = proto.respond(inference, {"results": results, "model_version": "credit_model:v1"})
    InferenceResponse.model_validate(answer)
    assert answer == {
        "model_name": "credit_model",
        "model_version": "v1",
        "id": "x",
        "parameters": {"p": True},
        "outputs": [
            {"name": "risk_category", "datatype": "BYTES", "shape": [2], "data": ["Low", "High"]},
            {
                "name": "probability_of_default",
                "datatype": "FP64",
                "shape": [2],
                "data": [0.25, 0.75],
            },
        ],
    }


def test_multiclass_probabilities_are_one_row_per_record_in_class_order():
    proto = protocol(IRIS)
    inference = proto.parse(orjson.dumps(inference_request(IRIS, [IRIS.example])))
    probabilities = np.array([[0.1, 0.2, 0.7]])
    results = score_rows(Policy(IRIS), probabilities).answers()
    answer = proto.respond(inference, {"results": results, "model_version": "iris_model:v"})
    by_name = {o["name"]: o for o in answer["outputs"]}
    assert by_name["probabilities"]["shape"] == [1, 3]
    assert by_name["probabilities"]["data"] == [0.1, 0.2, 0.7]
    assert by_name["species"]["data"] == ["virginica"]


def test_reasons_are_json_text_per_row():
    """Adverse-action reasons (a list per record, when configured) are an output too:
    BYTES holding each row's list as JSON; without them there is no such output."""
    contract = Contract.build(CREDIT, Policy(CREDIT), 10, "adverse")
    proto = OpenInference(CREDIT, contract, 10, "credit_model:1")
    assert [(o.name, o.datatype, o.shape) for o in proto.outputs][-1] == ("reasons", "BYTES", [-1])
    reason = {"feature": "age", "code": "R01", "text": "Age of applicant", "contribution": 0.5}
    tensor = proto.outputs[-1].tensor([{"reasons": [reason]}, {"reasons": []}])
    assert [orjson.loads(row) for row in tensor["data"]] == [[reason], []]
    assert "reasons" not in [o.name for o in protocol(CREDIT).outputs]  # reasons: never


def test_error_body_and_headers():
    assert error_body({"error": "too large", "detail": "at most 5 bytes"}) == {
        "error": "too large: at most 5 bytes"
    }
    assert error_body({"error": "no"}) == {"error": "no"}
    check_headers([(b"content-type", b"application/json"), (b"content-encoding", b"identity")])
    for header, status in (
        ((b"inference-header-content-length", b"10"), 400),
        ((b"content-encoding", b"gzip"), 415),
    ):
        with pytest.raises(ErrorResponse) as info:
            check_headers([header])
        assert info.value.status == status


def test_openapi_document_gains_the_protocol_routes():
    paths, schemas = openapi()
    bentoml_document = orjson.dumps({"paths": {"/predict": {}}, "tags": []})
    merged = orjson.loads(document(bentoml_document, None))
    assert set(merged["paths"]) == {"/predict", *paths}
    assert merged["components"]["schemas"] == schemas
    infer = paths["/v2/models/{name}/versions/{version}/infer"]["post"]
    assert [p["schema"] for p in infer["parameters"]] == [{"type": "string"}] * 2
    served = orjson.loads(document(bentoml_document, protocol(CREDIT)))
    infer = served["paths"]["/v2/models/{name}/versions/{version}/infer"]["post"]
    example = infer["requestBody"]["content"]["application/json"]["example"]
    assert protocol(CREDIT).parse(orjson.dumps(example)).records[0].__dict__ == EXAMPLE
    assert [(p["name"], p["schema"]["enum"]) for p in infer["parameters"]] == [
        ("name", ["credit_model"]),
        ("version", ["v1"]),
    ]
    assert set(infer["responses"]) == {"200", "400", "404", "413", "415", "503"}
    assert schemas["InferenceRequest"]["properties"]["id"] == {
        "default": None,
        "nullable": True,
        "title": "Id",
        "type": "string",
    }
    assert '"type":"null"' not in orjson.dumps(schemas).decode()
