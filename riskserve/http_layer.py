"""The HTTP layer: request ids, request logs and the scoring routes, in raw ASGI.

BentoML's per-request pipeline (routing, request context, IO descriptors, thread
hand-offs) costs more than scoring a record with ONNX Runtime. This middleware answers
`POST /predict`, `/predict_batch` and `/model_info` itself, in every layout, with the
contract's validator and the one `Scorer`, and `GET /model_card` (the served model's
card from its store entry); BentoML's typed methods declare those routes
(OpenAPI, clients) and serve everything else. For every request it assigns
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
from riskserve.scoring import ENDPOINTS, Scorer

logger = logging.getLogger("riskserve.http")

ASGIApp = Callable[..., Awaitable[None]]
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")
_JSON = b"application/json"
_HTML = b"text/html; charset=utf-8"


class ScorerSlot:
    """Filled by the API service once its scorer exists (middleware is built before it)."""

    scorer: Scorer | None = None
    contract: Contract | None = None
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
        try:
            self.guard.check(scope)
            if scope["path"] in self._routes and scope["method"] != "POST":
                raise ErrorResponse(
                    405, {"error": "method not allowed", "detail": "use POST"}, {"Allow": "POST"}
                )
        except ErrorResponse as refused:
            self._log(scope, refused.status, started)
            body = orjson.dumps(refused.body)
            return await _respond(send, refused.status, body, request_id, refused.headers)
        endpoint = self._routes.get(scope["path"]) if scope["method"] == "POST" else None
        if scope["path"] == "/model_card" and scope["method"] == "GET":
            status, body, kind = self._model_card()
            self._log(scope, status, started)
            await _respond(send, status, body, request_id, content_type=kind)
        elif endpoint is None:
            status = await self._pass_through(scope, receive, send, request_id)
            self._log(scope, status, started)
        else:
            # Logged (like audited) before the answer leaves, so no answer goes unrecorded.
            status, payload, records = await self._score(endpoint, scope, receive, started)
            version = payload.get("model_version") or payload.get("tag")
            self._log(scope, status, started, records, version)
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

    async def _pass_through(self, scope: Any, receive: Any, send: Any, request_id: bytes) -> int:
        status = 500

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id)]
            await send(message)

        await self.app(scope, receive, send_with_id)
        return status

    async def _score(
        self, endpoint: str, scope: Any, receive: Any, started: float
    ) -> tuple[int, dict[str, Any], int | None]:
        scorer, contract = self.slot.scorer, self.slot.contract
        try:
            if scorer is None or contract is None:
                detail = self.slot.problem or "service starting; retry shortly"
                raise ErrorResponse(503, {"error": "model not ready", "detail": detail})
            if endpoint == "model_info":  # takes no input: any body is ignored
                return 200, await scorer.describe(), None
            _check_content_type(scope)
            body = await _read_body(scope, receive, self.max_body_bytes)
            records = contract.one(body) if endpoint == "predict" else contract.many(body)
            request_id = scope["state"]["request_id"]
            key = _header(scope, scorer.routing_header) if scorer.routing_header else None
            answer = await scorer.score(endpoint, records, request_id, started, key)
            return 200, answer, len(records)
        except ErrorResponse as exc:
            return exc.status, exc.body, None
        except Exception:
            logger.exception("scoring failed", extra={"request_id": scope["state"]["request_id"]})
            return 500, {"error": "internal error", "detail": "see the server log"}, None


def _outcome(status: int) -> str:
    if status < 400:
        return "ok"
    if status == 503:
        return "unavailable"
    return "rejected" if status < 500 else "error"


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
