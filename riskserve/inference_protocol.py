"""The Open Inference Protocol (KServe's "V2"), REST: what Triton's, KServe's and
MLServer's clients speak, answered from the served model's spec.

Each feature is one named input of shape [-1] (INT64, FP64, BOOL, or BYTES for a
category); an all-numeric model also takes the feature matrix as one FP64 input
`features` of shape [N, n_features], the ONNX graph's own input. Every field of
`/predict`'s per-record answer is an output, so the two APIs cannot drift apart. Here
the tensors are checked (names, datatypes, shapes); their values then go through the
contract's record model, the validator of every other route, so the rules are the same
and only the wording of an error (input, index, rule) is the protocol's.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import re
import typing
from typing import Any, Literal

import orjson
from pydantic import TypeAdapter, ValidationError

from riskserve import inference_messages
from riskserve.contract import Contract, validation_error_body
from riskserve.errors import ErrorResponse
from riskserve.inference_messages import InferenceRequest, Parameters, RequestInput
from riskserve.spec import NUMERIC_KINDS, ModelSpec

DATATYPES = {"int": "INT64", "float": "FP64", "bool": "BOOL", "category": "BYTES"}
MATRIX_INPUT = "features"
ENDPOINT = "v2_infer"  # the audit lines' `endpoint`
PLATFORMS = {"onnx": "onnxruntime_onnx", "sklearn": "sklearn"}
# Errors listed in one 400 before the rest are only counted.
MAX_LISTED_ERRORS = 10
_ROUTE = re.compile(
    r"/v2(?:/health/(?P<health>live|ready)"
    r"|/models/(?P<model>[^/]+)(?:/versions/(?P<version>[^/]+))?(?:/(?P<action>ready|infer))?)?"
)


def error_body(body: dict[str, Any]) -> dict[str, str]:
    """riskserve's `{"error", "detail"}` answer in the protocol's `{"error"}` form."""
    detail = body.get("detail")
    return {"error": f"{body['error']}: {detail}" if detail else str(body["error"])}


def _bad(message: str) -> ErrorResponse:
    return ErrorResponse(400, {"error": message})


@dataclasses.dataclass(frozen=True)
class Route:
    """A protocol path: the server, a health probe, or a model (and version) action."""

    action: str  # server, live, ready, model, model_ready, infer
    model: str | None = None
    version: str | None = None

    @property
    def method(self) -> str:
        """The one HTTP method the route answers."""
        return "POST" if self.action == "infer" else "GET"


def owns(path: str) -> bool:
    """Whether `path` is in the protocol's namespace (`/v2`), all of it answered here."""
    return path == "/v2" or path.startswith("/v2/")


def match(path: str) -> Route:
    """The protocol route of a `/v2` path; 404 for one the protocol does not have."""
    found = _ROUTE.fullmatch(path)
    if found is None:
        raise ErrorResponse(404, {"error": f"no Open Inference Protocol route {path}"})
    health, model, version, action = found.group("health", "model", "version", "action")
    if health:
        return Route(health)
    if model is None:
        return Route("server")
    return Route({None: "model", "ready": "model_ready", "infer": "infer"}[action], model, version)


def check_headers(headers: list[tuple[bytes, bytes]]) -> None:
    """Refuse, saying what to send instead, the binary tensor extension (Triton's
    `Inference-Header-Content-Length`) and compressed bodies."""
    for name, value in headers:
        if name == b"inference-header-content-length":
            raise _bad(
                "binary tensor data is not supported: send tensors as JSON data "
                "(tritonclient: set_data_from_numpy(..., binary_data=False))"
            )
        if name == b"content-encoding" and value.strip().lower() != b"identity":
            raise ErrorResponse(
                415,
                {
                    "error": f"Content-Encoding {value.decode('latin-1')} "
                    "is not supported: send the body uncompressed"
                },
            )


def inference_request(spec: ModelSpec, records: list[dict[str, Any]]) -> dict[str, Any]:
    """The inference request of `records` (JSON values): one input per feature."""
    return {
        "inputs": [
            {
                "name": f.name,
                "shape": [len(records)],
                "datatype": DATATYPES[f.kind],
                "data": [r[f.name] for r in records],
            }
            for f in spec.features
        ]
    }


def server_metadata() -> dict[str, Any]:
    """`GET /v2`: no protocol extensions are implemented."""
    return {"name": "riskserve", "version": importlib.metadata.version("bentoml"), "extensions": []}


@dataclasses.dataclass(frozen=True)
class Output:
    """How one field of the per-record answer becomes an output tensor."""

    name: str
    datatype: str
    classes: tuple[str, ...] = ()  # per-class probabilities: one column per class
    as_json: bool = False  # structured values (lists, objects): JSON text per row

    @property
    def shape(self) -> list[int]:
        """The metadata shape: -1 rows, and a column per class when there are classes."""
        return [-1, len(self.classes)] if self.classes else [-1]

    def tensor(self, results: list[dict[str, Any]]) -> dict[str, Any]:
        """The output tensor of these per-record answers."""
        values = [r[self.name] for r in results]
        if self.classes:
            data = [row[c] for row in values for c in self.classes]
            shape = [len(values), len(self.classes)]
        else:
            data = [orjson.dumps(v).decode() for v in values] if self.as_json else values
            shape = [len(values)]
        return {"name": self.name, "datatype": self.datatype, "shape": shape, "data": data}


def _output(name: str, annotation: Any, classes: tuple[str, ...]) -> Output:
    """The tensor form of an answer field, from its type in the response model."""
    args = typing.get_args(annotation)
    if annotation is float:
        return Output(name, "FP64")
    if typing.get_origin(annotation) is Literal and all(type(a) is int for a in args):
        return Output(name, "INT64")
    if typing.get_origin(annotation) is Literal and all(type(a) is str for a in args):
        return Output(name, "BYTES")
    if typing.get_origin(annotation) is dict and args[1] is float:
        return Output(name, "FP64", classes)
    return Output(name, "BYTES", as_json=True)


@dataclasses.dataclass(frozen=True)
class Inference:
    """A checked inference request: validated records and what to answer."""

    records: list[Any]
    outputs: tuple[Output, ...]
    id: str | None
    parameters: Parameters | None


class OpenInference:
    """The protocol for one spec: metadata, request checks and answers."""

    def __init__(self, spec: ModelSpec, contract: Contract, max_rows: int, tag: str) -> None:
        self.spec, self.max_rows = spec, max_rows
        name, _, version = tag.partition(":")
        self.served = (name, version)  # the store entry, as the protocol names models
        self.names = spec.feature_names
        self.numeric = all(f.kind in NUMERIC_KINDS for f in spec.features)
        self._records = TypeAdapter(list[contract.record])  # type: ignore[name-defined]
        self.outputs = tuple(
            _output(name, field.annotation, spec.labels)
            for name, field in contract.score.model_fields.items()
        )
        self._outputs = {o.name: o for o in self.outputs}

    def metadata(self, route: Route, info: dict[str, Any]) -> dict[str, Any]:
        """`GET /v2/models/{name}`: one input per feature, one output per answer field."""
        name, version = self.check_model(route)
        tensors = [
            {"name": f.name, "datatype": DATATYPES[f.kind], "shape": [-1]}
            for f in self.spec.features
        ]
        outputs = [{"name": o.name, "datatype": o.datatype, "shape": o.shape} for o in self.outputs]
        return {
            "name": name,
            "versions": [version],
            "platform": PLATFORMS[info["backend"]],
            "inputs": tensors,
            "outputs": outputs,
        }

    def check_model(self, route: Route) -> tuple[str, str]:
        """The served model's (name, version); 404 when the route names another."""
        name, version = self.served
        if route.model != name or route.version not in (None, version):
            asked = route.model + (f" version {route.version}" if route.version else "")
            raise ErrorResponse(
                404,
                {"error": f"model {asked} not found; this server serves {name} version {version}"},
            )
        return name, version

    def parse(self, body: bytes) -> Inference:
        """Check an inference request and validate its rows; a 400 says what is wrong."""
        try:
            request = InferenceRequest.model_validate_json(body)
        except ValidationError as exc:
            raise _bad(validation_error_body(exc)["detail"]) from None
        wanted = request.outputs
        unknown = [o.name for o in wanted or () if o.name not in self._outputs]
        if unknown:
            raise _bad(f"unknown output {unknown[0]!r}; outputs are {list(self._outputs)}")
        tensors = {}
        for tensor in request.inputs:
            if tensor.name in tensors:
                raise _bad(f"input {tensor.name!r} is given twice")
            tensors[tensor.name] = tensor
        if set(tensors) == {MATRIX_INPUT} and MATRIX_INPUT not in self.names:
            columns, where = self._matrix(tensors[MATRIX_INPUT]), self._in_matrix
        else:
            columns, where = self._columns(tensors), self._in_column
        rows = [dict(zip(self.names, values, strict=True)) for values in zip(*columns, strict=True)]
        try:
            records = self._records.validate_python(rows)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_context=False, include_input=False)
            listed = "; ".join(
                f"{where(*e['loc'][:2])}: {e['msg']} [{e['type']}]"
                for e in errors[:MAX_LISTED_ERRORS]
            )
            more = len(errors) - MAX_LISTED_ERRORS
            raise _bad(listed + (f"; and {more} more" if more > 0 else "")) from None
        outputs = tuple(self._outputs[o.name] for o in wanted) if wanted else self.outputs
        return Inference(records, outputs, request.id, request.parameters)

    def _rows(self, n: int) -> int:
        if not 1 <= n <= self.max_rows:
            raise _bad(f"{n} rows: send 1 to {self.max_rows} rows per request")
        return n

    def _columns(self, tensors: dict[str, RequestInput]) -> list[list[Any]]:
        """Per feature, its input's values: named, typed and shaped as the metadata says."""
        unknown = [name for name in tensors if name not in self.names]
        missing = [name for name in self.names if name not in tensors]
        if unknown or missing:
            problems = [
                f"{what} input{'s' if len(names) > 1 else ''} {', '.join(names)}"
                for what, names in (("unknown", unknown), ("missing", missing))
                if names
            ]
            matrix = f", or one FP64 input {MATRIX_INPUT!r}" if self.numeric else ""
            raise _bad(
                f"{'; '.join(problems)}: this model's inputs are {', '.join(self.names)}{matrix}"
            )
        columns, rows = [], None
        for f in self.spec.features:
            tensor = tensors[f.name]
            expected = DATATYPES[f.kind]
            if tensor.datatype != expected:
                raise _bad(f"input {f.name!r}: datatype {tensor.datatype}, expected {expected}")
            if len(tensor.shape) != 1 or tensor.shape[0] != len(tensor.data):
                raise _bad(
                    f"input {f.name!r}: shape {tensor.shape} with {len(tensor.data)} "
                    "values; expected shape [N] holding N values"
                )
            if rows is None:
                rows = self._rows(tensor.shape[0])
            elif tensor.shape[0] != rows:
                raise _bad(
                    f"inputs differ in length: {self.names[0]!r} has {rows} rows, "
                    f"{f.name!r} {tensor.shape[0]}"
                )
            columns.append(tensor.data)
        return columns

    def _matrix(self, tensor: RequestInput) -> list[list[Any]]:
        """The columns of an [N, n_features] FP64 tensor, int features as ints."""
        width = len(self.names)
        if not self.numeric:
            others = [
                f"{f.name} ({f.kind})" for f in self.spec.features if f.kind not in NUMERIC_KINDS
            ]
            raise _bad(
                f"input {MATRIX_INPUT!r} needs all-numeric features; this model has "
                f"{', '.join(others)}: send one input per feature"
            )
        if tensor.datatype != "FP64" or len(tensor.shape) != 2 or tensor.shape[1] != width:
            raise _bad(
                f"input {MATRIX_INPUT!r}: {tensor.datatype} {tensor.shape}, expected "
                f"FP64 [N, {width}] with columns {self.names}"
            )
        data = tensor.data
        if data and all(isinstance(row, list) for row in data):  # nested rows: flatten
            data = [value for row in data for value in row]
        rows = self._rows(tensor.shape[0])
        if len(data) != rows * width:
            raise _bad(
                f"input {MATRIX_INPUT!r}: shape {tensor.shape} holds {rows * width} "
                f"values, data has {len(data)}"
            )
        return [
            [_whole(v) for v in data[j::width]] if f.kind == "int" else data[j::width]
            for j, f in enumerate(self.spec.features)
        ]

    def _in_column(self, row: int, field: str) -> str:
        return f"input {field!r} index {row}"

    def _in_matrix(self, row: int, field: str) -> str:
        return f"input {MATRIX_INPUT!r} index [{row}, {self.names.index(field)}] ({field})"

    @staticmethod
    def respond(inference: Inference, answer: dict[str, Any]) -> dict[str, Any]:
        """The inference response for the scorer's answer to the request's records."""
        name, _, version = answer["model_version"].partition(":")
        response: dict[str, Any] = {
            "model_name": name,
            "model_version": version,
            "outputs": [o.tensor(answer["results"]) for o in inference.outputs],
        }
        if inference.id is not None:
            response["id"] = inference.id
        if inference.parameters is not None:
            response["parameters"] = inference.parameters
        return response


def _whole(value: Any) -> Any:
    """A whole float as an int (FP64 carries int features); anything else unchanged, for
    the record model to accept or name."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def document(openapi_document: bytes, protocol: OpenInference | None) -> bytes:
    """BentoML's OpenAPI document with the protocol's routes, for the served model once
    it is known (its name, version and the spec's example as an inference request)."""
    if protocol is None:
        return inference_messages.document(openapi_document)
    example = inference_request(protocol.spec, [protocol.spec.example])
    return inference_messages.document(openapi_document, *protocol.served, example)
