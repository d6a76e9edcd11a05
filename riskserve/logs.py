"""Logging policy: JSON lines for riskserve's own logs; expected failures without tracebacks."""

from __future__ import annotations

import logging
import sys

from bentoml.exceptions import BentoMLException, ServiceUnavailable
from pydantic import ValidationError
from pythonjsonlogger.orjson import OrjsonFormatter

# BentoML logs every failed request here with the full traceback, bad input included.
BENTOML_HTTP_LOGGER = "bentoml._internal.server.http_app"
APP_LOGGER = "riskserve"


def _is_expected(exc: BaseException | None) -> bool:
    """Bad input (4xx) and a model not ready (503, already explained once at startup)."""
    if isinstance(exc, (ValidationError, ServiceUnavailable)):
        return True
    return isinstance(exc, BentoMLException) and exc.error_code.value < 500


class ClientErrorFilter(logging.Filter):
    """Turns BentoML's ERROR-with-traceback for an expected failure into one INFO line."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if _is_expected(exc):
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg = f"{record.msg}: rejected ({type(exc).__name__})"
        return True


def configure_logging() -> None:
    """Once per process: JSON lines on stderr for `riskserve.*`, quiet client errors."""
    target = logging.getLogger(BENTOML_HTTP_LOGGER)
    if not any(isinstance(f, ClientErrorFilter) for f in target.filters):
        target.addFilter(ClientErrorFilter())
    app = logging.getLogger(APP_LOGGER)
    if app.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        OrjsonFormatter(
            "{levelname}{name}{message}",
            style="{",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp=True,
        )
    )
    app.addHandler(handler)
    app.setLevel(logging.INFO)
    app.propagate = False
