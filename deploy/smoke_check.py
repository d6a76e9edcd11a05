"""Smoke test and short load check of a running riskserve, for deploy gates.

    python3 deploy/smoke_check.py http://127.0.0.1:8080 [--load-seconds 30]

Waits for /readyz, scores the README's applicant on /predict and /predict_batch (both
must agree and give a probability in (0, 1)), then, with --load-seconds, sends /predict
from --concurrency threads until that time or --max-requests is used up, and fails on
any error or a p99 latency above --max-p99-ms. The API key, when the service needs one,
comes from RISKSERVE_SMOKE_API_KEY. Standard library only: CI runs it with the runner's
Python, without the project's environment. Exit status 0 means every check passed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request

# The README's example applicant.
APPLICANT = {
    "age": 35,
    "annual_income": 55000,
    "debt_to_income_ratio": 0.35,
    "credit_history_length": 12,
    "num_open_accounts": 5,
    "num_late_payments": 2,
    "loan_amount": 15000,
}


class CheckFailed(Exception):
    """A gate did not pass."""


def call(url: str, path: str, body: dict | None = None, timeout: float = 10) -> tuple[int, dict]:
    """(status, JSON answer) of a GET (no body) or a JSON POST; HTTP errors are answers."""
    headers = {"Content-Type": "application/json"}
    key = os.environ.get("RISKSERVE_SMOKE_API_KEY")
    if key:
        headers["X-API-Key"] = key
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url.rstrip("/") + path, data=data, headers=headers)
    try:
        # main() accepts only http:// and https:// URLs.
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # nosec B310
            status, raw = answer.status, answer.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw) if raw else {}
    except ValueError:
        return status, {"raw": raw[:200].decode(errors="replace")}


def wait_ready(url: str, seconds: float) -> None:
    """Until /readyz answers 200, at most `seconds`."""
    deadline = time.monotonic() + seconds
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            status, _ = call(url, "/readyz", timeout=5)
            if status == 200:
                return
            last = f"HTTP {status}"
        except OSError as error:
            last = str(error)
        time.sleep(2)
    raise CheckFailed(f"/readyz not ready after {seconds:.0f} s ({last})")


def smoke(url: str) -> dict:
    """/predict and /predict_batch answer, in range and consistently."""
    status, single = call(url, "/predict", APPLICANT)
    if status != 200:
        raise CheckFailed(f"/predict answered {status}: {single}")
    probability = single.get("probability_of_default")
    if not (isinstance(probability, float) and 0 < probability < 1):
        raise CheckFailed(f"/predict: probability_of_default out of (0, 1): {single}")
    if not single.get("model_version"):
        raise CheckFailed(f"/predict: no model_version: {single}")
    status, batch = call(url, "/predict_batch", {"records": [APPLICANT]})
    if status != 200:
        raise CheckFailed(f"/predict_batch answered {status}: {batch}")
    results = batch.get("results") or [{}]
    if results[0].get("probability_of_default") != probability:
        raise CheckFailed(f"/predict_batch disagrees with /predict: {batch} vs {single}")
    return single


def load(url: str, seconds: float, concurrency: int, max_requests: int) -> dict:
    """/predict from `concurrency` threads for at most `seconds` and `max_requests`."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    budget = [max_requests]
    deadline = time.monotonic() + seconds

    def worker() -> None:
        while time.monotonic() < deadline:
            with lock:
                if budget[0] <= 0:
                    return
                budget[0] -= 1
            started = time.perf_counter()
            try:
                status, answer = call(url, "/predict", APPLICANT)
                outcome = None if status == 200 else f"HTTP {status}: {answer}"
            except OSError as error:
                outcome = str(error)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                if outcome:
                    errors.append(outcome)

    started = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 30)
    wall = time.monotonic() - started
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("inf")
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "first_errors": errors[:3],
        "seconds": round(wall, 1),
        "requests_per_second": round(len(latencies) / wall, 1),
        "p50_ms": round(ordered[len(ordered) // 2] * 1000, 1) if ordered else None,
        "p99_ms": round(p99 * 1000, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--wait", type=float, default=180, help="seconds to wait for /readyz")
    parser.add_argument("--load-seconds", type=float, default=0, help="0: no load check")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-requests", type=int, default=20000)
    parser.add_argument("--max-p99-ms", type=float, default=500)
    args = parser.parse_args(argv)
    if not args.url.startswith(("http://", "https://")):
        parser.error("the URL must be http:// or https://")
    try:
        wait_ready(args.url, args.wait)
        answer = smoke(args.url)
        print(f"smoke: ok, {answer['model_version']} p={answer['probability_of_default']}")
        if args.load_seconds > 0:
            report = load(args.url, args.load_seconds, args.concurrency, args.max_requests)
            print("load:", json.dumps(report))
            if report["requests"] == 0 or report["errors"]:
                raise CheckFailed(f"load check: {report['errors']} errors of {report['requests']}")
            if report["p99_ms"] > args.max_p99_ms:
                raise CheckFailed(f"load check: p99 {report['p99_ms']} ms > {args.max_p99_ms} ms")
    except CheckFailed as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
