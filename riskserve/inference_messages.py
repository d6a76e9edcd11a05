"""The Open Inference Protocol's JSON messages, and their part of the OpenAPI document.

The request models check an inference request's envelope (its tensors' values are the
contract's business, see riskserve.inference_protocol); the response models are what the
OpenAPI document promises, and the schemathesis fuzz test holds the service to them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import GenerateJsonSchema, models_json_schema

Datatype = Literal[
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
]
# The protocol's parameter values: strings, numbers and booleans (an integer beyond 64 bits
# is taken as a number, so that an echoed parameter can always be written back as JSON).
Parameters = dict[str, str | bool | Annotated[int, Field(ge=-(2**63), le=2**63 - 1)] | float]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class RequestInput(_Message):
    """An input tensor: its name, shape, datatype and data in row-major order."""

    name: str
    shape: list[Annotated[int, Field(ge=0)]]
    datatype: Datatype
    parameters: Parameters | None = None
    data: list[Any]


class RequestOutput(_Message):
    """An output the client wants (all of them when the request names none)."""

    name: str
    parameters: Parameters | None = None


class InferenceRequest(_Message):
    """`POST /v2/models/{name}/infer`: one input per feature (or `features`), N rows."""

    id: str | None = None
    parameters: Parameters | None = None
    inputs: list[RequestInput] = Field(min_length=1)
    outputs: list[RequestOutput] | None = None


class ResponseOutput(RequestInput):
    """An output tensor (a tensor like an input): one value, or one row of class
    probabilities, per input row."""


class InferenceResponse(_Message):
    """The outputs, with the request's `id` and `parameters` echoed."""

    model_name: str
    model_version: str | None = None
    id: str | None = None
    parameters: Parameters | None = None
    outputs: list[ResponseOutput]


class MetadataTensor(_Message):
    """An input or output: name, datatype and shape (-1: any number of rows)."""

    name: str
    datatype: Datatype
    shape: list[int]


class ModelMetadataResponse(_Message):
    """The served model: store name, store version, runtime, inputs and outputs."""

    name: str
    versions: list[str]
    platform: str
    inputs: list[MetadataTensor]
    outputs: list[MetadataTensor]


class ServerMetadataResponse(_Message):
    """The server (riskserve is not a package of its own: `version` is BentoML's)."""

    name: str
    version: str
    extensions: list[str]


class ServerLiveResponse(_Message):
    """The process answers."""

    live: bool


class ServerReadyResponse(_Message):
    """The model is loaded and verified."""

    ready: bool


class ModelReadyResponse(_Message):
    """The named model is loaded and verified."""

    name: str
    ready: bool


class InferenceErrorResponse(_Message):
    """Every error on the protocol's routes: one readable message."""

    error: str


class _OpenAPI30(GenerateJsonSchema):
    """BentoML publishes OpenAPI 3.0, which marks optional values `nullable` rather than
    JSON Schema's `anyOf` with null."""

    def nullable_schema(self, schema: Any) -> dict[str, Any]:
        inner = self.generate_inner(schema["schema"])
        return (
            {"allOf": [inner], "nullable": True} if "$ref" in inner else {**inner, "nullable": True}
        )


TAG = "Open Inference Protocol"
_MODELS = (
    InferenceRequest,
    InferenceResponse,
    ModelMetadataResponse,
    ServerMetadataResponse,
    ServerLiveResponse,
    ServerReadyResponse,
    ModelReadyResponse,
    InferenceErrorResponse,
)


def _answer(description: str, model: type[BaseModel]) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"description": description, "content": {"application/json": {"schema": ref}}}


def _operation(
    summary: str,
    ok: type[BaseModel],
    errors: dict[int, str],
    body: type[BaseModel] | None = None,
    path: dict[str, str] | None = None,
    example: dict[str, Any] | None = None,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "tags": [TAG],
        "summary": summary,
        "responses": {
            "200": _answer("OK", ok),
            **{
                str(status): _answer(text, InferenceErrorResponse)
                for status, text in errors.items()
            },
        },
    }
    if path:  # each path parameter, and its one valid value when the model is known
        operation["parameters"] = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "string", **({"enum": [value]} if value else {})},
            }
            for name, value in path.items()
        ]
    if body is not None:
        media = {"schema": {"$ref": f"#/components/schemas/{body.__name__}"}}
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {**media, **({"example": example} if example else {})}},
        }
    return operation


def openapi(
    name: str = "", version: str = "", example: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The protocol's paths and component schemas for the OpenAPI document. With the
    served model's name and version, the path parameters take those only, and `example`
    (a valid inference request) goes with the inference request's schema: tensors cannot
    carry per-feature rules, so a request made up from the schema alone is refused."""
    _, schemas = models_json_schema(
        [(m, "validation") for m in _MODELS],
        ref_template="#/components/schemas/{model}",
        schema_generator=_OpenAPI30,
    )
    unavailable = {503: "Model not ready"}
    unknown = {404: "Not this server's model", **unavailable}
    infer_errors = {
        400: "Invalid tensors (input, index and rule)",
        **unknown,
        413: "Body too large",
        415: "Not JSON",
    }
    paths: dict[str, Any] = {
        "/v2": {"get": _operation("Server metadata", ServerMetadataResponse, {})},
        "/v2/health/live": {"get": _operation("Server live", ServerLiveResponse, {})},
        "/v2/health/ready": {"get": _operation("Server ready", ServerReadyResponse, unavailable)},
    }
    for prefix, path in (
        ("/v2/models/{name}", {"name": name}),
        ("/v2/models/{name}/versions/{version}", {"name": name, "version": version}),
    ):
        paths[prefix] = {
            "get": _operation("Model metadata", ModelMetadataResponse, unknown, path=path)
        }
        paths[f"{prefix}/ready"] = {
            "get": _operation("Model ready", ModelReadyResponse, unknown, path=path)
        }
        paths[f"{prefix}/infer"] = {
            "post": _operation(
                "Inference", InferenceResponse, infer_errors, InferenceRequest, path, example
            )
        }
    return paths, schemas["$defs"]


def document(
    openapi_document: bytes,
    name: str = "",
    version: str = "",
    example: dict[str, Any] | None = None,
) -> bytes:
    """BentoML's OpenAPI document with the protocol's routes added (see `openapi`)."""
    doc = orjson.loads(openapi_document)
    paths, schemas = openapi(name, version, example)
    doc["paths"].update(paths)
    doc.setdefault("components", {}).setdefault("schemas", {}).update(schemas)
    doc.setdefault("tags", []).append(
        {"name": TAG, "description": "KServe / Triton / MLServer clients (V2 REST)"}
    )
    return orjson.dumps(doc)
