"""The HTTP layer: request ids, request logs and the scoring routes, in raw ASGI.

BentoML's per-request pipeline (routing, request context, IO descriptors, thread
hand-offs) costs more than scoring a record with ONNX Runtime. This middleware answers
`POST /predict`, `/predict_batch` and `/model_info` itself, in every layout, with the
contract's validator and the one `Scorer`, and `GET /model_card` (the served model's
card from its store entry); BentoML's typed methods declare those routes (OpenAPI,
clients) and serve everything else. It also answers the Open Inference Protocol's `/v2`
routes (riskserve.inference_protocol), which BentoML cannot declare (GET routes, path
parameters), and adds them to BentoML's OpenAPI document. For every request it assigns
the request id (taken from `X-Request-ID` when well-formed), returns it in the response
headers, puts it in `scope["state"]` for the BentoML methods, and writes one JSON log line.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from riskserve.access import AccessGuard
from riskserve.contract import Contract
from riskserve.errors import ErrorResponse
from riskserve.inference_protocol import (
    ENDPOINT,
    OpenInference,
    Route,
    check_headers,
    document,
    error_body,
    match,
    owns,
    server_metadata,
)
from riskserve.scoring import ENDPOINTS, Scorer

logger = logging.getLogger("riskserve.http")

ASGIApp = Callable[..., Awaitable[None]]
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")
_JSON = b"application/json"
_HTML = b"text/html; charset=utf-8"
# A route's answer: body, records scored (scoring routes) and the model tag (logged).
Answer = tuple[dict[str, Any], int | None, str | None]


class ScorerSlot:
    """Filled by the API service once its scorer exists (middleware is built before it)."""

    scorer: Scorer | None = None
    contract: Contract | None = None
    protocol: OpenInference | None = None
    model_card: Path | None = None  # the served entry's HTML model card
    problem = ""  # why there is no scorer, when the service cannot serve


def request_id_of(scope: dict[str, Any]) -> bytes:
    """The caller's X-Request-ID if it is a safe token, else a new one."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            return value if _REQUEST_ID.fullmatch(value) else uuid.uuid4().hex.encode()
    return uuid.uuid4().hex.encode()


class ScoringHTTP:
    """ASGI middleware in front of the BentoML app (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        slot: ScorerSlot,
        guard: AccessGuard,
        max_body_bytes: int,
        log_every_request: bool,
    ) -> None:
        self.app, self.slot, self.guard = app, slot, guard
        self.max_body_bytes = max_body_bytes
        self.log_every_request = log_every_request
        self._routes = {f"/{name}": name for name in (*ENDPOINTS, "model_info")}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        request_id = request_id_of(scope)
        scope.setdefault("state", {}).update(request_id=request_id.decode(), started=started)
        protocol = owns(scope["path"])
        try:
            self.guard.check(scope)
            route = match(scope["path"]) if protocol else None
            allowed = route.method if route else "POST" if scope["path"] in self._routes else None
            if allowed is not None and scope["method"] != allowed:
                raise ErrorResponse(
                    405,
                    {"error": "method not allowed", "detail": f"use {allowed}"},
                    {"Allow": allowed},
                )
        except ErrorResponse as refused:
            self._log(scope, refused.status, started)
            body = orjson.dumps(error_body(refused.body) if protocol else refused.body)
            return await _respond(send, refused.status, body, request_id, refused.headers)
        if scope["path"] == "/model_card" and scope["method"] == "GET":
            status, body, kind = self._model_card()
            self._log(scope, status, started)
            return await _respond(send, status, body, request_id, content_type=kind)
        if route is not None:
            status, payload, records, tag = await self._answer(
                scope, self._protocol(route, scope, receive, started)
            )
            if status >= 400:
                payload = error_body(payload)
        elif scope["method"] == "POST" and scope["path"] in self._routes:
            endpoint = self._routes[scope["path"]]
            status, payload, records, tag = await self._answer(
                scope, self._score(endpoint, scope, receive, started)
            )
        else:
            documents = scope["path"] == "/docs.json"
            downstream = _documenting(send, self.slot.protocol) if documents else send
            return await self._pass_through(scope, receive, downstream, request_id, started)
        # Logged (like audited) before the answer leaves, so no answer goes unrecorded.
        self._log(scope, status, started, records, tag)
        await _respond(send, status, orjson.dumps(payload), request_id)

    def _log(
        self,
        scope: dict[str, Any],
        status: int,
        started: float,
        records: int | None = None,
        model_version: str | None = None,
    ) -> None:
        """One JSON line per request (per failed request with `request_log: errors`)."""
        if status < 400 and not self.log_every_request:
            return
        logger.log(
            logging.INFO if status < 500 else logging.ERROR,
            "request",
            extra={
                "request_id": scope["state"]["request_id"],
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "outcome": _outcome(status),
                "records": records,
                "model_version": model_version,
                "latency_ms": round((time.perf_counter() - started) * 1000, 3),
            },
        )

    def _model_card(self) -> tuple[int, bytes, bytes]:
        """The served model's HTML card, or a JSON 503 saying why there is none."""
        card = self.slot.model_card
        if self.slot.scorer is None or card is None:
            detail = self.slot.problem or "service starting; retry shortly"
        elif not card.exists():
            detail = f"{card.name} is missing from the model entry; retrain the model"
        else:
            return 200, card.read_bytes(), _HTML
        return 503, orjson.dumps({"error": "model card unavailable", "detail": detail}), _JSON

    async def _pass_through(
        self, scope: Any, receive: Any, send: Any, request_id: bytes, started: float
    ) -> None:
        """BentoML's answer with the request id, logged before its last part leaves (so a
        client that reads the log after the answer finds the line)."""
        status, logged = 500, False

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status, logged
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id)]
            elif not message.get("more_body", False) and not logged:
                logged = True
                self._log(scope, status, started)
            await send(message)

        await self.app(scope, receive, send_with_id)
        if not logged:  # the app sent no complete answer
            self._log(scope, status, started)

    async def _answer(
        self, scope: Any, work: Awaitable[Answer]
    ) -> tuple[int, dict[str, Any], int | None, str | None]:
        """Status, body, records scored and model tag of a route's work; every failure
        becomes a JSON answer, an unexpected one with its traceback in the log."""
        try:
            return 200, *await work
        except ErrorResponse as exc:
            return exc.status, exc.body, None, None
        except Exception:
            logger.exception("scoring failed", extra={"request_id": scope["state"]["request_id"]})
            return 500, {"error": "internal error", "detail": "see the server log"}, None, None

    def _ready(self) -> tuple[Scorer, Contract]:
        slot = self.slot
        if slot.scorer is None or slot.contract is None:
            detail = slot.problem or "service starting; retry shortly"
            raise ErrorResponse(503, {"error": "model not ready", "detail": detail})
        return slot.scorer, slot.contract

    async def _score(self, endpoint: str, scope: Any, receive: Any, started: float) -> Answer:
        scorer, contract = self._ready()
        if endpoint == "model_info":  # takes no input: any body is ignored
            info = await scorer.describe()
            return info, None, info["tag"]
        _check_content_type(scope)
        body = await _read_body(scope, receive, self.max_body_bytes)
        records = contract.one(body) if endpoint == "predict" else contract.many(body)
        request_id = scope["state"]["request_id"]
        answer = await scorer.score(endpoint, records, request_id, started, _key(scope, scorer))
        return answer, len(records), answer["model_version"]

    async def _protocol(self, route: Route, scope: Any, receive: Any, started: float) -> Answer:
        """An Open Inference Protocol route: health, metadata, readiness or inference."""
        if route.action == "server":
            return server_metadata(), None, None
        if route.action == "live":
            return {"live": True}, None, None
        scorer, _ = self._ready()
        protocol = self.slot.protocol
        if protocol is None:  # a scorer set up without it (the service always sets both)
            raise ErrorResponse(404, {"error": "the Open Inference Protocol is not served here"})
        info = await scorer.model_info()
        tag = info["tag"]
        if route.action == "ready":
            return {"ready": True}, None, tag
        if route.action == "model":
            return protocol.metadata(route, info), None, tag
        name, _ = protocol.check_model(route)
        if route.action == "model_ready":
            return {"name": name, "ready": True}, None, tag
        _check_content_type(scope)
        check_headers(scope["headers"])
        inference = protocol.parse(await _read_body(scope, receive, self.max_body_bytes))
        request_id = scope["state"]["request_id"]
        key = _key(scope, scorer)
        answer = await scorer.score(ENDPOINT, inference.records, request_id, started, key)
        return protocol.respond(inference, answer), len(inference.records), answer["model_version"]


def _outcome(status: int) -> str:
    if status < 400:
        return "ok"
    if status == 503:
        return "unavailable"
    return "rejected" if status < 500 else "error"


def _key(scope: dict[str, Any], scorer: Scorer) -> str | None:
    """The champion/challenger routing key: the configured request header, when there is one."""
    return _header(scope, scorer.routing_header) if scorer.routing_header else None


def _header(scope: dict[str, Any], name: str) -> str | None:
    """A request header's value (`name` in lower case), or None when it is absent."""
    wanted = name.encode()
    for key, value in scope["headers"]:
        if key == wanted:
            return value.decode("latin-1")
    return None


def _check_content_type(scope: dict[str, Any]) -> None:
    for name, value in scope["headers"]:
        if name == b"content-type":
            if value.split(b";")[0].strip().lower() != _JSON:
                detail = "send Content-Type: application/json"
                raise ErrorResponse(415, {"error": "unsupported media type", "detail": detail})
            return


def _documenting(send: Any, protocol: OpenInference | None) -> Any:
    """A `send` that adds the protocol's routes to BentoML's OpenAPI document."""
    start: dict[str, Any] | None = None
    chunks: list[bytes] = []

    async def send_document(message: dict[str, Any]) -> None:
        nonlocal start
        if message["type"] == "http.response.start" and message["status"] == 200:
            start = message
            return
        if start is None or message["type"] != "http.response.body":
            return await send(message)
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = document(b"".join(chunks), protocol)
        headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
        await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    return send_document


async def _read_body(scope: dict[str, Any], receive: Any, limit: int) -> bytes:
    """The request body, refusing (413) anything over `limit` bytes before reading it all."""
    too_large = ErrorResponse(
        413, {"error": "request body too large", "detail": f"at most {limit} bytes"}
    )
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise too_large
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ErrorResponse(400, {"error": "client disconnected", "detail": "no body"})
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(
    send: Any,
    status: int,
    body: bytes,
    request_id: bytes,
    headers: dict[str, str] | None = None,
    content_type: bytes = _JSON,
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", request_id),
                *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
