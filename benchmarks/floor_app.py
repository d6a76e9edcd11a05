"""The floor: the least any JSON scoring server on this stack can cost per request.

A raw ASGI app under uvicorn with httptools and uvloop that reads the body, parses it
with orjson and sends a fixed answer: no validation, no model, no audit. Whatever a
scoring server spends above this is its own. Run with `uvicorn benchmarks.floor_app:app
--http httptools --loop uvloop --workers 1 --no-access-log`.
"""

from __future__ import annotations

from typing import Any

import orjson

READY_PATH = "/readyz"
ANSWER = orjson.dumps({"probability": 0.5, "decision": "fixed"})
BAD_JSON = orjson.dumps({"error": "invalid JSON"})
_HEADERS = [(b"content-type", b"application/json")]


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send(send: Any, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*_HEADERS, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """POST anywhere: parse the JSON body, answer ANSWER (400 if it is not JSON);
    GET READY_PATH: 200, for the harness's readiness probe."""
    if scope["type"] != "http":  # lifespan: nothing to set up
        return
    if scope["method"] != "POST":
        await _send(send, 200 if scope["path"] == READY_PATH else 404, b"{}")
        return
    try:
        orjson.loads(await _read_body(receive))
    except orjson.JSONDecodeError:
        await _send(send, 400, BAD_JSON)
        return
    await _send(send, 200, ANSWER)
