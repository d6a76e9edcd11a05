"""The request timeout that replaces BentoML's: 504 when nothing was answered in time, no
limit once the answer has started, and no timer left behind by a finished request."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from riskserve import request_timeout
from riskserve.request_timeout import RequestTimeout


async def _fast(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def _slow(scope: Any, receive: Any, send: Any) -> None:
    await asyncio.sleep(5)


async def _slow_after_start(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await asyncio.sleep(0.3)
    await send({"type": "http.response.body", "body": b"late"})


async def _own_timeout(scope: Any, receive: Any, send: Any) -> None:
    raise TimeoutError("the app's own")


def _call(app: Any, timeout: float) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def run() -> list[Any]:
        scope = {"type": "http", "method": "GET", "path": "/", "headers": []}
        await RequestTimeout(app, timeout)(scope, receive, send)
        loop = asyncio.get_running_loop()
        return [h for h in loop._scheduled if not h.cancelled()]

    pending = asyncio.run(run())
    assert pending == [], "a finished request left a timer scheduled"
    return sent


def test_an_answer_in_time_passes_and_leaves_no_timer():
    sent = _call(_fast, 30)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[1]["body"] == b"ok"


def test_nothing_answered_in_time_gets_the_504_bentoml_gave():
    sent = _call(_slow, 0.05)
    assert sent[0]["status"] == 504
    assert json.loads(sent[1]["body"]) == {
        "error": "Not able to process the request in 0.05 seconds"
    }


def test_an_answer_that_has_started_is_not_cut():
    sent = _call(_slow_after_start, 0.05)
    assert sent[0]["status"] == 200 and sent[-1]["body"] == b"late"


def test_the_apps_own_timeout_error_is_not_a_504():
    with pytest.raises(TimeoutError, match="the app's own"):
        _call(_own_timeout, 30)


def test_bentoml_builds_it_in_place_of_its_own():
    import bentoml._internal.server.http.traffic as traffic

    original = traffic.TimeoutMiddleware
    try:
        request_timeout.install()
        assert traffic.TimeoutMiddleware is RequestTimeout
    finally:
        traffic.TimeoutMiddleware = original
