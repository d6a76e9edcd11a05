"""The audit log: one JSON line per scored record, written before the answer is sent.

Why our own sink rather than `bentoml.monitor`: a decision must be on disk before the
client sees it, a batch of 1,000 records should cost one system call rather than 1,000
logging calls, and sensitive features must be hashed on the way out. Each process
appends to its own file with O_APPEND and unbuffered `os.write`, so nothing sits in a
Python buffer when the process is stopped or killed, and lines of concurrent workers
never interleave. Files rotate by size; rotated files are kept (retention is the
operator's decision, not the service's).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from riskserve.spec import ModelSpec

AUDIT_KEY_ENV = "RISKSERVE_AUDIT_KEY"


class AuditUnavailable(RuntimeError):
    """The audit folder cannot be written: scoring must not start unaudited."""


class AuditLog:
    """Appends audit records to `<folder>/audit-<host>-<pid>.jsonl`, rotating by size."""

    def __init__(
        self, folder: Path, spec: ModelSpec, max_bytes: int, cutoffs: dict[str, float]
    ) -> None:
        self.max_bytes = max_bytes
        self.cutoffs = cutoffs  # in force, on every line
        self._sensitive = frozenset(f.name for f in spec.features if f.sensitive)
        key = os.environ.get(AUDIT_KEY_ENV, "").encode()
        self._key = key or None
        self.path = folder / f"audit-{socket.gethostname()}-{os.getpid()}.jsonl"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        except OSError as exc:
            raise AuditUnavailable(f"audit log {self.path} is not writable ({exc})") from None
        self._size = os.fstat(self._fd).st_size
        self._rotations = len(list(folder.glob(self.path.name + ".*")))

    def _redact(self, value: Any) -> str:
        """A keyed (HMAC) or plain SHA-256 digest: joinable across records, not readable."""
        data = repr(value).encode()
        digest = (
            hmac.new(self._key, data, hashlib.sha256) if self._key else hashlib.sha256(data)
        ).hexdigest()
        return f"sha256:{digest[:32]}"

    def features(self, record: dict[str, Any]) -> dict[str, Any]:
        """The record as it may be stored: sensitive features hashed."""
        if not self._sensitive:
            return record
        return {k: (self._redact(v) if k in self._sensitive else v) for k, v in record.items()}

    def write(
        self,
        *,
        request_id: str,
        model_version: str,
        endpoint: str,
        records: Sequence[dict[str, Any]],
        probabilities: Sequence[float],
        decisions: Sequence[dict[str, Any]],
        latency_ms: float,
        role: str,
        challenger: Sequence[dict[str, Any] | None] | None = None,
    ) -> None:
        """Append one line per scored record; returns once the OS has the bytes.

        `model_version` and `role` name the model that decided (the answer's); a shadow
        challenger's score of each record goes under `challenger` (null when none).
        """
        # What every line of the batch shares is serialised once, as the head of an open
        # object; each record's own fields (a dict: easy to extend) close it.
        head = orjson.dumps(
            {
                "timestamp": datetime.now(UTC).isoformat(),
                "request_id": request_id,
                "model_version": model_version,
                "role": role,
                "endpoint": endpoint,
                "cutoffs": self.cutoffs,
                "latency_ms": latency_ms,
            }
        )[:-1]
        dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
        features = self.features if self._sensitive else None
        shadows = challenger or [None] * len(records)
        tails = [
            dumps(
                {
                    "index": i,
                    "features": features(record) if features else record,
                    "probability": p,
                    "decision": decision,
                    "challenger": shadow,
                },
                option=newline,
            )[1:]  # without its opening brace: `head,` + tail is one object
            for i, (record, p, decision, shadow) in enumerate(
                zip(records, probabilities, decisions, shadows, strict=True)
            )
        ]
        lines = head + b"," + (head + b",").join(tails)
        view = memoryview(lines)
        while view:  # a regular-file write may be partial only on error paths; be exact
            written = os.write(self._fd, view)
            view = view[written:]
        self._size += len(lines)
        if self._size >= self.max_bytes:
            self._rotate()

    def _rotate(self) -> None:
        os.close(self._fd)
        self._rotations += 1
        os.replace(self.path, f"{self.path}.{self._rotations}")
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._size = 0

    def close(self) -> None:
        """Flush to stable storage and close (at shutdown)."""
        os.fsync(self._fd)
        os.close(self._fd)
