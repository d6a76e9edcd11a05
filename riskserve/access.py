"""Who may call the service, and how often: API keys and per-key rate limits.

Keys come from `RISKSERVE_API_KEYS` (comma-separated) and/or a file (one per line); only
their SHA-256 digests are kept, and a presented key is compared with every digest in
constant time. With no keys configured, authentication is off (said once at startup).

Rate limits apply per key, so only with authentication on (behind a load balancer every
client shares one address). They are token buckets kept in this process's memory: with
N worker processes or replicas a key gets up to N times its limit. A global limit needs
shared state (a gateway or load balancer in front, or a shared store such as Redis);
riskserve's
per-process limit is the backstop that protects each process from a runaway client.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from riskserve.errors import ErrorResponse

API_KEYS_ENV = "RISKSERVE_API_KEYS"
# Buckets of clients not seen for a while are dropped beyond this many.
MAX_TRACKED_CLIENTS = 10_000


def load_key_digests(keys_file: Path | None) -> list[bytes]:
    """SHA-256 digests of the configured keys (the keys themselves are not kept)."""
    keys = [k.strip() for k in os.environ.get(API_KEYS_ENV, "").split(",")]
    if keys_file is not None:
        keys += [line.strip() for line in keys_file.read_text().splitlines()]
    return [hashlib.sha256(k.encode()).digest() for k in keys if k and not k.startswith("#")]


def presented_key(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The key from `X-API-Key` or `Authorization: Bearer <key>`."""
    for name, value in headers:
        if name == b"x-api-key":
            return value.strip()
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return value[7:].strip()
    return None


class TokenBuckets:
    """`rate` requests per second per client, with bursts of up to `burst`."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: OrderedDict[bytes, tuple[float, float]] = OrderedDict()

    def retry_after(self, client: bytes, now: float | None = None) -> int:
        """0 if the request may go ahead (and spend a token), else seconds to wait."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.pop(client, (float(self.burst), now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        allowed = tokens >= 1
        self._buckets[client] = (tokens - 1 if allowed else tokens, now)
        if len(self._buckets) > MAX_TRACKED_CLIENTS:
            self._buckets.popitem(last=False)  # the least recently seen
        return 0 if allowed else max(1, math.ceil((1 - tokens) / self.rate))


class AccessGuard:
    """Authenticates and rate-limits a request before anything else looks at it."""

    def __init__(
        self,
        digests: list[bytes],
        open_paths: set[str],
        open_prefixes: tuple[str, ...],
        buckets: TokenBuckets | None,
    ) -> None:
        self.digests, self.buckets = digests, buckets
        self.open_paths, self.open_prefixes = open_paths, open_prefixes

    def _known_digest(self, key: bytes | None) -> bytes | None:
        """The key's digest if it is one of ours."""
        if key is None:
            return None
        digest = hashlib.sha256(key).digest()
        # Compare with every digest, so timing says nothing about which one (or none) matched.
        matches = [hmac.compare_digest(digest, known) for known in self.digests]
        return digest if any(matches) else None

    def check(self, scope: dict[str, Any]) -> None:
        """Raise the 401 or 429 answer for this request, if it gets one."""
        path = scope["path"]
        if not self.digests or path in self.open_paths or path.startswith(self.open_prefixes):
            return
        digest = self._known_digest(presented_key(scope["headers"]))
        if digest is None:
            raise ErrorResponse(
                401,
                {
                    "error": "unauthorized",
                    "detail": "send a valid API key as X-API-Key or Authorization: Bearer",
                },
                {"WWW-Authenticate": 'Bearer realm="riskserve"'},
            )
        if self.buckets is not None and scope["method"] == "POST":
            wait = self.buckets.retry_after(digest)
            if wait:
                raise ErrorResponse(
                    429,
                    {"error": "rate limit exceeded", "detail": f"retry after {wait} s"},
                    {"Retry-After": str(wait)},
                )
