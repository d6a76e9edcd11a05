"""Failures that become a JSON answer with a chosen status, never a traceback."""

from __future__ import annotations

from typing import Any


class ErrorResponse(Exception):
    """Answer the request with `status` and the JSON object `body`."""

    def __init__(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(body.get("error"))
        self.status = status
        self.body = body
        self.headers = headers or {}
