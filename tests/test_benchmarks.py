"""The benchmark harness's own logic: request bodies, wrk parsing, ratios and targets.

No load is generated here; `make bench` and `make bench-inference` do that.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import payloads
from benchmarks.loadgen import parse_wrk
from benchmarks.report import MISS, PASS, UNMEASURED, Target, evaluate_targets
from riskserve.specs.credit import CREDIT

ROOT = Path(__file__).resolve().parent.parent
Application = CREDIT.request_model()

# Locust patches the standard library with gevent when imported, so its file is
# exercised in a child process that records the requests instead of sending them.
RECORD_LOCUST_TASKS = """
import json
from locust.env import Environment
from benchmarks import locustfile

class Response:
    status_code = 200
    def __enter__(self): return self
    def __exit__(self, *exc): return False

class Recorder:
    def __init__(self): self.calls = []
    def post(self, path, json=None, **kwargs):
        self.calls.append([path, json])
        return Response()

locustfile.RiskUser.host = "http://127.0.0.1:9"  # never contacted
user = locustfile.RiskUser(Environment(user_classes=[locustfile.RiskUser]))
user.client = Recorder()
user.on_start()
for name in ("predict_example", "predict_random", "predict_batch"):
    getattr(user, name)()
print(json.dumps(user.client.calls))
"""


def test_locustfile_tasks_build_valid_requests() -> None:
    done = subprocess.run([sys.executable, "-c", RECORD_LOCUST_TASKS], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    calls = json.loads(done.stdout.strip().splitlines()[-1])
    assert [path for path, _ in calls] == ["/predict", "/predict", "/predict_batch"]
    Application.model_validate(calls[0][1])
    Application.model_validate(calls[1][1])
    assert len(calls[2][1]["records"]) == 100
    for record in calls[2][1]["records"]:
        Application.model_validate(record)


def test_random_records_are_valid_and_seeded() -> None:
    records = payloads.random_records(2000, seed=3)
    for record in records:
        Application.model_validate(record)
    assert records == payloads.random_records(2000, seed=3)
    assert payloads.feature_matrix(records[:2]).shape == (2, len(CREDIT.features))


WRK_OUTPUT = """Running 10s test @ http://127.0.0.1:3000/predict
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     9.78ms    2.10ms  40.12ms   90.00%
  16000 requests in 10.00s, 4.80MB read
  Non-2xx or 3xx responses: 3
Requests/sec:   1600.00
Transfer/sec:    491.52KB
WRK_JSON {"requests": 16000, "duration_us": 10000000, "bytes": 5033164, "errors": \
{"connect": 0, "read": 1, "write": 0, "status": 3, "timeout": 0}, "latency_us": \
{"p50": 9500, "p90": 11000, "p99": 20250, "p999": 35000, "max": 40120, "mean": 9780.0}}
"""


def test_parse_wrk_summary_line() -> None:
    figures = parse_wrk(WRK_OUTPUT)
    assert figures["requests"] == 16000
    assert figures["rps"] == 1600.0
    assert figures["latency_ms"]["p50"] == 9.5
    assert figures["latency_ms"]["p99"] == 20.25
    assert figures["errors"] == {"connect": 0, "read": 1, "write": 0, "status": 3,
                                 "timeout": 0, "total": 4}


def test_parse_wrk_without_summary_fails() -> None:
    with pytest.raises(ValueError, match="WRK_JSON"):
        parse_wrk("Requests/sec: 10\n")


def test_target_check_says_by_how_much() -> None:
    at_least = Target("throughput", 3, True, "x")
    assert at_least.check(3.0)["status"] == PASS
    missed = at_least.check(2.4)
    assert missed["status"] == MISS
    assert missed["shortfall"] == "80% of the target (1.25x short)"
    at_most = Target("p99", 25, False, " ms")
    assert at_most.check(50.0)["shortfall"] == "2.00x the limit (+25 ms)"
    assert Target("errors", 0, False).check(2)["shortfall"] == "+2 over"
    assert at_most.check(None)["status"] == UNMEASURED


def _point(scenario: str, connections: int, rps: float, p50: float, p99: float,
           rows: int = 1, errors: int = 0, rss: float = 100.0) -> dict:
    return {
        "scenario": scenario, "connections": connections, "rows": rows, "rps": rps,
        "rows_per_s": rps * rows, "latency_ms": {"p50": p50, "p90": p99, "p99": p99},
        "errors": {"total": errors},
        "resources": {"processes": {"CreditAPI": {"cpu_s": 1.0, "rss_peak_mb": rss}}},
    }


def test_ratios_and_targets_from_one_run() -> None:
    results = {
        "runs": [
            {"name": "fastapi baseline", "baseline": True, "points": [
                _point("predict", 1, 300, 3.0, 5.0), _point("predict", 16, 400, 40, 80),
                _point("predict", 64, 400, 160, 300),
            ]},
            {"name": "bentoml onnx", "default": True, "points": [
                _point("predict", 1, 900, 1.0, 2.0), _point("predict", 16, 1000, 15, 30),
                _point("predict", 64, 1000, 60, 200, rss=320.0),
                _point("batch1000", 1, 200, 5, 9, rows=1000),
                _point("batch1000", 16, 150, 100, 200, rows=1000),
            ]},
        ],
        "inference": {"single_row": {"speedup_vs_dataframe": 120.0},
                      "parity_max_abs_diff": 3e-7},
        "make_serve_startup": {"runs_s": [4.0, 6.0, 4.5], "median_s": 4.5},
    }
    targets = {t["target"]: t for t in evaluate_targets(results)}
    throughput = targets["single /predict req/s at 16 connections ÷ baseline"]
    assert (throughput["value"], throughput["status"]) == (2.5, MISS)
    assert targets["p50 at 1 connection"]["status"] == PASS
    assert targets["p99 at 16 connections"]["shortfall"] == "1.20x the limit (+5 ms)"
    tail = targets["p99 ÷ p50 at 64 connections"]
    assert (tail["value"], tail["status"]) == (3.333, MISS)
    batch = targets["/predict_batch 1,000 records, rows/s (best concurrency)"]
    assert (batch["value"], batch["detail"]) == (200_000, "best at 1 conn.")
    assert targets["batch rows/s ÷ single-record rows/s (best of each)"]["value"] == 200.0
    assert targets["RSS per process, peak under load"]["status"] == MISS
    assert targets["`make serve` to /readyz 200 (median)"]["status"] == PASS
    vs = results["runs"][1]["points"][1]["vs_baseline"]
    assert vs == {"rps": 2.5, "p50": 0.375, "p99": 0.375, "rows_per_s_vs_single": 2.5}
