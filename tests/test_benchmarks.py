"""The benchmark harness's own logic: request bodies, the baseline app, wrk and server
command lines, the benchmark plan, ratios, targets and the report.

No load is generated here; `make bench` and `make bench-inference` do that.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml
from fastapi.testclient import TestClient

from benchmarks import batch_profile, floor_app, http_bench, payloads, references, report
from benchmarks.baseline_app import create_app, tutorial_frame
from benchmarks.loadgen import LUA_SCRIPT, parse_wrk, wrk_argv
from benchmarks.profiling import OUTSIDE, stage_breakdown
from benchmarks.report import (
    MISS,
    PASS,
    UNMEASURED,
    Target,
    compare_models,
    evaluate_targets,
    write_report,
)
from benchmarks.servers import LOAD_CPU, serve_argv
from riskserve.backends import PIPELINE_FILE, OnnxBackend, SklearnBackend
from riskserve.contract import Contract, record_model
from riskserve.decisions import Policy
from riskserve.files import write_atomically
from riskserve.inference_protocol import OpenInference
from riskserve.model_entry import read_reference, read_spec
from riskserve.scores import score_rows
from riskserve.settings import PROJECT_ROOT
from tests.conftest import CREDIT, FRAUD

MODELS = ["trained_model", "fraud_model"]  # conftest fixtures: credit, fraud


@pytest.fixture(params=MODELS)
def entry(request) -> Path:
    """A trained model-store entry folder of each model."""
    return Path(request.getfixturevalue(request.param).path)


# Locust patches the standard library with gevent when imported, so its file is
# exercised in a child process that records the requests instead of sending them (and
# answers /model_info with the entry's tag and spec, as the service does).
RECORD_LOCUST_TASKS = """
import json, sys
from locust.env import Environment
from benchmarks import locustfile

MODEL_INFO = sys.argv[1]

class Response:
    status_code = 200
    text = MODEL_INFO
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
for name in ("predict_example", "predict_random", "predict_random", "predict_batch"):
    getattr(user, name)()
print(json.dumps(user.client.calls))
"""


def test_locustfile_tasks_build_valid_requests_for_the_served_model(entry) -> None:
    spec = read_spec(entry)
    info = json.dumps({"tag": f"{entry.parent.name}:{entry.name}", "spec": spec.to_json()})
    done = subprocess.run(
        [sys.executable, "-c", RECORD_LOCUST_TASKS, info],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "LOCUST_BATCH_SIZE": "50"},
    )
    assert done.returncode == 0, done.stderr
    calls = json.loads(done.stdout.strip().splitlines()[-1])
    paths = [path for path, _ in calls]
    assert paths == ["/model_info", "/predict", "/predict", "/predict", "/predict_batch"]
    record = record_model(spec)
    assert calls[1][1] == dict(spec.example)
    for _, body in calls[2:4]:
        record.model_validate(body)
    assert calls[2][1] != calls[3][1]
    assert len(calls[4][1]["records"]) == 50
    for body in calls[4][1]["records"]:
        record.model_validate(body)


def test_random_records_are_valid_seeded_and_typed(entry) -> None:
    spec = read_spec(entry)
    source = payloads.RecordSource.from_entry(entry)
    records = source.records(2000, seed=3)
    record = record_model(spec)
    for r in records:
        record.model_validate(r)  # strict: ints are int, bools bool, categories str
    assert records == payloads.RecordSource.from_entry(entry).records(2000, seed=3)
    assert records != source.records(2000, seed=4)
    assert payloads.feature_matrix(spec, records[:2]).shape == (2, len(spec.features))
    for f in spec.features:
        values = {r[f.name] for r in records}
        assert len(values) > 1, f"{f.name} never varies"
        if f.kind == "category":
            assert values <= set(f.values or ())
        if f.kind == "int":
            assert all(type(v) is int for v in values)


def test_protocol_bodies_are_the_same_records_as_inference_requests(entry, tmp_path) -> None:
    spec = read_spec(entry)
    model = http_bench.Model(f"{spec.name}:v", entry, spec)
    bodies = http_bench.write_bodies(model, tmp_path, http_bench.PROTOCOL)
    protocol = OpenInference(spec, Contract.build(spec, Policy(spec), 1000), 1000, model.tag)
    for name, batch in http_bench.scenario_records(model).items():
        records = protocol.parse(bodies[name].read_bytes()).records
        assert [r.__dict__ for r in records] == batch


def test_fraud_records_carry_categories_and_bools(fraud_model) -> None:
    records = payloads.RecordSource.from_entry(Path(fraud_model.path)).records(500)
    assert {r["card_present"] for r in records} == {True, False}
    assert all(isinstance(r["merchant_category"], str) for r in records)
    assert len({r["merchant_category"] for r in records}) >= 3
    assert len(payloads.RecordSource.from_entry(Path(fraud_model.path)).records(7, seed=1)) == 7


def test_records_decode_the_reference_rows_exactly(entry) -> None:
    """Request form and back gives the stored matrix: the encoding is the service's."""
    spec = read_spec(entry)
    rows = read_reference(entry, spec)[:300]
    rows = rows[spec.admissible(rows)]
    assert len(rows) > 100
    np.testing.assert_array_equal(
        payloads.feature_matrix(spec, payloads.to_records(spec, rows)), rows
    )


def test_records_never_come_from_unservable_rows() -> None:
    unservable = np.array([[21, 40_000, 0.3, 29, 3, 0, 10_000]], dtype=np.float64)
    assert not CREDIT.admissible(unservable).any()  # history before age 18
    with pytest.raises(ValueError, match="no servable rows"):
        payloads.RecordSource(CREDIT, unservable[CREDIT.admissible(unservable)])


def test_example_is_the_specs() -> None:
    assert payloads.example(FRAUD) == dict(FRAUD.example)
    assert payloads.example(CREDIT) is not CREDIT.example  # a copy to change freely


def test_tutorial_frame_encodes_like_the_service(fraud_model) -> None:
    folder = Path(fraud_model.path)
    records = payloads.RecordSource.from_entry(folder).records(200)
    frame = tutorial_frame(FRAUD, records)
    assert list(frame.columns) == FRAUD.feature_names
    np.testing.assert_array_equal(
        frame.to_numpy(dtype=np.float64), payloads.feature_matrix(FRAUD, records)
    )


def test_baseline_app_scores_with_the_spec_pipeline_and_policy(entry) -> None:
    spec = read_spec(entry)
    client = TestClient(create_app(entry))
    records = payloads.RecordSource.from_entry(entry).records(40, seed=2)
    expected = score_rows(
        Policy(spec), SklearnBackend(entry).predict_proba(payloads.feature_matrix(spec, records))
    ).answers()
    reply = client.post("/predict_batch", json={"records": records})
    assert reply.status_code == 200, reply.text
    assert reply.json()["model_version"] == f"{spec.name}:{entry.name}"
    results = reply.json()["results"]
    assert [r[spec.decision.field] for r in results] == [e[spec.decision.field] for e in expected]
    probability = spec.response.probability
    np.testing.assert_allclose(
        [r[probability] for r in results], [e[probability] for e in expected], atol=1e-12
    )
    single = client.post("/predict", json=records[0])
    assert single.status_code == 200
    assert {k: v for k, v in single.json().items() if k != "model_version"} == results[0]
    broken = {**records[0]}
    broken.pop(spec.feature_names[-1])
    assert client.post("/predict", json=broken).status_code == 422
    assert client.post("/predict", json={**records[0], "extra": 1}).status_code == 422


def test_baseline_app_refuses_records_the_service_refuses(trained_model) -> None:
    client = TestClient(create_app(Path(trained_model.path)))
    example = dict(CREDIT.example)
    assert client.post("/predict", json=example).status_code == 200
    too_long = {**example, "age": 30, "credit_history_length": 13}  # > age - 18
    assert client.post("/predict", json=too_long).status_code == 422
    assert client.post("/predict", json={**example, "age": 35.5}).status_code == 422


def test_wrk_argv_is_one_pinned_command() -> None:
    argv = wrk_argv("http://127.0.0.1:3000/predict", Path("/tmp/b.json"), 16, 10)
    assert argv[:3] == ["taskset", "-c", str(LOAD_CPU)]
    assert argv[3] == "wrk"
    assert {"-t1", "-c16", "-d10s", str(LUA_SCRIPT)} <= set(argv)
    assert argv[-2:] == ["--", "/tmp/b.json"]
    paced = wrk_argv("http://127.0.0.1:3000/predict", Path("/tmp/b.json"), 16, 10, 12.5)
    assert paced == [*argv, "12.500"]


def test_serve_argv_uses_the_venv_bentoml() -> None:
    argv = serve_argv(4321)
    assert argv[0] == str(Path(sys.executable).with_name("bentoml"))
    assert argv[1:3] == ["serve", "service:RiskAPI"]
    assert argv[-4:] == ["--host", "127.0.0.1", "--port", "4321"]
    assert serve_argv(1, "service:RiskRunner")[2] == "service:RiskRunner"


def test_bench_plan_covers_every_variant_and_the_other_models() -> None:
    config = yaml.safe_load((PROJECT_ROOT / "configuration.yaml").read_text())
    assert "lean_http" not in config["riskserve"]
    credit = http_bench.Model("credit_model:a", Path("/x"), CREDIT)
    fraud = http_bench.Model("fraud_model:b", Path("/y"), FRAUD)
    variants = http_bench.plan(config, credit, [fraud])
    served = [v for v in variants if v.model == credit.tag]
    assert [v.name for v in served] == [
        "fastapi baseline",
        http_bench.MLSERVER_NAME,
        http_bench.FLOOR_NAME,
        "bentoml onnx/inprocess",
        "bentoml sklearn/inprocess",
        "bentoml onnx/runner",
        "bentoml sklearn/runner",
        "bentoml onnx/inprocess + shadow challenger",
        "bentoml onnx/inprocess V2",
    ]
    assert [v.reference for v in served[1:3]] == [references.MLSERVER, references.FLOOR]
    for v in served[:4]:
        assert (
            len(v.points((1, 16, 64))) == 10
        )  # 3 scenarios x 3 concurrencies + the adverse record at 16
    assert served[-2].overrides["challenger"] == {"model_tag": credit.tag, "mode": "shadow"}
    protocol = served[-1]
    assert protocol.points((1, 16, 64)) == [("predict", 1), ("predict", 16), ("batch1000", 16)]
    assert protocol.protocol and not protocol.overrides and not protocol.default
    assert http_bench.request_path(protocol, credit, http_bench.SCENARIOS["batch1000"]) == (
        "/v2/models/credit_model/infer"
    )
    others = [v for v in variants if v.model == fraud.tag]
    assert [(v.name, v.baseline, v.default) for v in others] == [
        ("fraud_model: fastapi baseline", True, False),
        ("fraud_model: bentoml onnx/inprocess", False, True),
    ]
    for v in others:
        assert v.points((1, 16, 64)) == [("predict", 16), ("batch1000", 16)]
        assert not v.overrides


def test_write_atomically_replaces_whole_files(tmp_path) -> None:
    path = tmp_path / "result.json"
    write_atomically(path, "old")
    write_atomically(path, "néw")
    assert path.read_text(encoding="utf-8") == "néw"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    write_atomically(path, b"\x00bytes", mode=0o600)
    assert path.read_bytes() == b"\x00bytes"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]
    with pytest.raises(FileNotFoundError):
        write_atomically(tmp_path / "missing" / "x", "text")


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
    assert figures["errors"] == {
        "connect": 0,
        "read": 1,
        "write": 0,
        "status": 3,
        "timeout": 0,
        "total": 4,
    }


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


def _point(
    scenario: str,
    connections: int,
    rps: float,
    p50: float,
    p99: float,
    rows: int = 1,
    errors: int = 0,
    rss: float = 100.0,
    cpu_ms: float = 1.0,
) -> dict:
    return {
        "scenario": scenario,
        "connections": connections,
        "rows": rows,
        "rps": rps,
        "rows_per_s": rps * rows,
        "latency_ms": {"p50": p50, "p90": p99, "p99": p99},
        "errors": {"total": errors},
        "cpu_ms_per_request": cpu_ms,
        "resources": {
            "processes": {"RiskAPI": {"cpu_s": 1.0, "rss_peak_mb": rss}},
            "rss_peak_mb": rss,
        },
    }


def _credit_runs() -> list[dict]:
    return [
        {
            "name": "fastapi baseline",
            "baseline": True,
            "points": [
                _point("predict", 1, 300, 3.0, 5.0),
                _point("predict", 16, 400, 40, 80),
                _point("predict", 64, 400, 160, 300),
            ],
        },
        {
            "name": "bentoml onnx",
            "default": True,
            "points": [
                _point("predict", 1, 900, 1.0, 2.0),
                _point("predict", 16, 1000, 15, 30),
                _point("predict", 64, 1000, 60, 200, rss=320.0),
                _point("batch1000", 1, 200, 5, 9, rows=1000),
                _point("batch1000", 16, 150, 100, 200, rows=1000),
            ],
        },
    ]


def test_ratios_and_targets_from_one_run() -> None:
    results = {
        "runs": _credit_runs(),
        "inference": {
            "single_row": {"speedup_vs_dataframe": 120.0},
            "parity_max_abs_diff": 3e-7,
        },
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


def _two_model_results() -> dict:
    """The served model's runs plus another model's, listed first (order must not matter)."""
    credit = [{**run, "model": "credit_model:a"} for run in _credit_runs()]
    fraud = [
        {
            "name": "fraud_model: fastapi baseline",
            "model": "fraud_model:b",
            "baseline": True,
            "points": [
                _point("predict", 16, 200, 70, 90),
                _point("batch1000", 16, 20, 700, 900, rows=1000),
            ],
        },
        {
            "name": "fraud_model: bentoml onnx",
            "model": "fraud_model:b",
            "default": True,
            "points": [
                _point("predict", 16, 800, 18, 40, rss=900.0),
                _point("batch1000", 16, 100, 150, 300, rows=1000),
            ],
        },
    ]
    return {"model": "credit_model:a", "other_models": ["fraud_model:b"], "runs": fraud + credit}


def test_other_models_compare_with_their_own_baseline_and_the_served_model() -> None:
    results = _two_model_results()
    targets = {t["target"]: t for t in evaluate_targets(results)}
    # Targets stay the served model's: its own baseline, its own RSS.
    assert targets["single /predict req/s at 16 connections ÷ baseline"]["value"] == 2.5
    assert targets["RSS per process, peak under load"]["value"] == 320.0
    compared = compare_models(results)
    assert [(c["scenario"], c["connections"]) for c in compared] == [
        ("predict", 16),
        ("batch1000", 16),
    ]
    single, batch = compared
    assert (single["vs_baseline"], single["vs_served"], single["served_vs_baseline"]) == (
        4.0,
        0.8,
        2.5,
    )
    assert (batch["rows_per_s"], batch["served_rows_per_s"]) == (100_000, 150_000)
    assert (batch["vs_served"], batch["vs_baseline"]) == (0.667, 5.0)


def test_report_shows_the_other_models_and_the_dropped_variant(tmp_path) -> None:
    results = _two_model_results()
    protocol = {
        "name": "bentoml onnx V2",
        "model": "credit_model:a",
        "points": [
            _point("predict", 16, 900, 15, 30),
            _point("batch1000", 16, 90, 170, 340, rows=1000),
        ],
    }
    results["runs"].append(protocol)
    results.update(
        meta={
            "date": "today",
            "command": "make bench",
            "knobs": {"seconds": 2, "warmup": 1, "connections": [1, 16, 64]},
            "machine": {"cpu": "cpu", "cores": 2, "memory_gib": 1, "kernel": "k", "python": "3"},
            "code": {"commit": "abc", "sha256": {"service.py": "f00"}, "uncommitted_changes": []},
            "versions": {"bentoml": "1.4.39"},
        },
        notes=list(http_bench.NOTES),
        wall_seconds=1.0,
        make_serve_startup={},
        inference=None,
    )
    results["targets"] = evaluate_targets(results)
    write_report(results, tmp_path)
    text = (tmp_path / "http.md").read_text()
    assert "`lean_http=false` variant" in text
    assert "## Other models beside the served one" in text
    assert "| fraud_model:b | batch1000 | 16 | 100 | 100,000 |" in text
    assert "Served model: `credit_model:a`" in text
    assert "| bentoml onnx V2 | batch1000 | 16 | 90 | 90,000 |" in text
    assert {p.name for p in tmp_path.glob("*.png")} == {"http_predict.png", "http_rows.png"}


def _floor_post(path: str, content: bytes) -> httpx.Response:
    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=floor_app.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://floor") as client:
            if path == floor_app.READY_PATH or not content:
                return await client.get(path)
            return await client.post(path, content=content)

    return asyncio.run(post())


def test_floor_app_parses_the_body_and_answers_a_constant() -> None:
    body = json.dumps({"records": [dict(CREDIT.example)] * 3}).encode()
    for path in ("/predict", "/predict_batch"):
        reply = _floor_post(path, body)
        assert (reply.status_code, reply.content) == (200, floor_app.ANSWER)
        assert reply.headers["content-length"] == str(len(floor_app.ANSWER))
    bad = _floor_post("/predict", b'{"age": ')
    assert (bad.status_code, bad.json()) == (400, {"error": "invalid JSON"})
    assert _floor_post(floor_app.READY_PATH, b"").status_code == 200
    assert _floor_post("/elsewhere", b"").status_code == 404


def test_floor_app_reads_a_body_sent_in_chunks() -> None:
    messages = [
        {"type": "http.request", "body": b'{"a": [1,', "more_body": True},
        {"type": "http.request", "body": b" 2]}", "more_body": False},
    ]
    sent: list[dict] = []

    async def receive() -> dict:
        return messages.pop(0)

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/predict"}
    asyncio.run(floor_app.app(scope, receive, send))
    assert sent[0]["status"] == 200 and sent[1]["body"] == floor_app.ANSWER
    assert not messages


def test_floor_runs_on_uvicorn_with_httptools_and_uvloop() -> None:
    argv = references.floor_argv(4321)
    assert argv[:4] == [sys.executable, "-m", "uvicorn", "benchmarks.floor_app:app"]
    assert " ".join(argv).endswith(
        "--port 4321 --workers 1 --http httptools --loop uvloop --lifespan off --no-access-log"
    )


def test_mlserver_body_is_the_pipelines_matrix_as_one_fp64_tensor(fraud_model) -> None:
    records = payloads.RecordSource.from_entry(Path(fraud_model.path)).records(25, seed=5)
    body = references.infer_body(FRAUD, records)
    (tensor,) = body["inputs"]
    assert tensor["shape"] == [25, len(FRAUD.features)]
    assert (tensor["datatype"], tensor["parameters"]) == ("FP64", {"content_type": "np"})
    matrix = np.array(tensor["data"], dtype=np.float64).reshape(tensor["shape"])
    np.testing.assert_array_equal(matrix, payloads.feature_matrix(FRAUD, records))
    categories = FRAUD.feature_names.index("merchant_category")
    assert set(matrix[:, categories]) <= set(range(len(FRAUD.feature("merchant_category").values)))
    assert json.loads(json.dumps(body)) == body  # plain JSON, no NumPy scalars
    assert references.infer_path("fraud_model") == "/v2/models/fraud_model/infer"


def test_mlserver_repository_serves_the_entry_pipeline_tuned(trained_model, tmp_path) -> None:
    entry = Path(trained_model.path)
    folder = references.write_repository(tmp_path, "credit_model", entry, 4321)
    settings = json.loads((folder / "settings.json").read_text())
    assert (settings["parallel_workers"], settings["debug"]) == (0, False)
    assert (settings["host"], settings["http_port"]) == ("127.0.0.1", 4321)
    assert len({settings["http_port"], settings["grpc_port"], settings["metrics_port"]}) == 3
    model = json.loads((folder / "credit_model" / "model-settings.json").read_text())
    assert model["name"] == "credit_model"
    assert model["implementation"] == "mlserver_sklearn.SKLearnModel"
    assert model["parameters"]["content_type"] == "np"
    assert model["parameters"]["extra"] == {"predict_fn": "predict_proba"}
    assert Path(model["parameters"]["uri"]) == entry / PIPELINE_FILE
    assert Path(model["parameters"]["uri"]).is_file()


def test_mlserver_requirements_pin_its_own_closure() -> None:
    wanted = (PROJECT_ROOT / "requirements" / "mlserver.in").read_text()
    for pin in ("mlserver==1.7.1", "mlserver-sklearn==1.7.1", "uvloop==0.21.0", "skl2onnx=="):
        assert pin in wanted
    locked = (PROJECT_ROOT / "requirements" / "mlserver.txt").read_text().splitlines()
    pins = [line for line in locked if line and not line.startswith("#")]
    assert all("==" in line for line in pins)
    assert {"mlserver==1.7.1", "uvloop==0.21.0", "scikit-learn==1.9.1"} <= set(pins)


def test_every_server_gets_the_same_records(trained_model, tmp_path) -> None:
    entry = Path(trained_model.path)
    model = http_bench.Model(f"credit_model:{entry.name}", entry, CREDIT)
    ours = http_bench.write_bodies(model, tmp_path / "ours")
    theirs = http_bench.write_bodies(model, tmp_path / "mlserver", references.MLSERVER)
    assert json.loads(ours["predict"].read_text()) == dict(CREDIT.example)
    for name, scenario in http_bench.SCENARIOS.items():
        body = json.loads(theirs[name].read_text())
        records = json.loads(ours[name].read_text())
        records = records.get("records", [records])
        assert len(records) == scenario.rows
        assert body == references.infer_body(CREDIT, records)
    # The adverse scenario's record gets a decision that carries reason codes.
    adverse = json.loads(ours["predict_adverse"].read_text())
    scores = score_rows(
        Policy(CREDIT),
        OnnxBackend(entry).predict_proba(payloads.feature_matrix(CREDIT, [adverse])),
    )
    assert scores.label_index[0] != 0
    mlserver = http_bench.Variant("m", {}, reference=references.MLSERVER)
    floor = http_bench.Variant("f", {}, reference=references.FLOOR)
    batch = http_bench.SCENARIOS["batch1000"]
    assert http_bench.request_path(mlserver, model, batch) == "/v2/models/credit_model/infer"
    assert http_bench.request_path(floor, model, batch) == "/predict_batch"


def _with_references(results: dict) -> dict:
    """`_two_model_results` plus tuned MLServer's and the floor's runs of credit."""
    results["runs"] += [
        {
            "name": "mlserver",
            "model": "credit_model:a",
            "reference": references.MLSERVER,
            "points": [
                _point("predict", 16, 250, 50, 90, cpu_ms=0.5),
                _point("predict", 64, 250, 200, 3000),
                _point("batch1000", 1, 60, 15, 20, rows=1000),
                _point("batch1000", 16, 100, 150, 250, rows=1000, cpu_ms=2.0),
            ],
        },
        {
            "name": "floor",
            "model": "credit_model:a",
            "reference": references.FLOOR,
            "points": [_point("predict", 16, 20_000, 0.7, 1.5)],
        },
    ]
    results["runs"][3]["startup_s"] = 3.5  # credit's default service
    return results


def test_issue13_targets_compare_with_mlserver_and_between_models() -> None:
    results = _with_references(_two_model_results())
    targets = {t["target"]: t for t in evaluate_targets(results)}
    batch = targets["1,000-record batch rows/s ÷ tuned MLServer's (best of each)"]
    # Best of each: credit 200,000 rows/s at 1 conn., MLServer 100,000 at 16.
    assert (batch["value"], batch["status"], batch["issue"]) == (2.0, PASS, "13")
    assert batch["detail"] == (
        "200,000 rows/s (1 conn.) vs 100,000 (16 conn.); by server CPU per request 2.0x"
    )
    single = targets["/predict req/s at 16 connections ÷ tuned MLServer (default configuration)"]
    assert (single["value"], single["status"]) == (4.0, MISS)
    assert single["detail"] == "1000 vs 250 req/s; by server CPU per request 0.5x"
    fraud_batch = targets["fraud_model 1,000-record batch rows/s ÷ credit_model's, 16 conn."]
    assert (fraud_batch["value"], fraud_batch["status"]) == (0.667, MISS)
    fraud_single = targets["fraud_model /predict req/s ÷ credit_model's, 16 conn."]
    assert (fraud_single["value"], fraud_single["status"]) == (0.8, PASS)
    alone = targets["`bentoml serve` alone to /readyz 200"]
    assert (alone["value"], alone["status"]) == (3.5, MISS)
    point = results["runs"][3]["points"][1]  # credit's default at 16 conn.
    assert (point["vs_mlserver"], point["vs_floor"]) == (4.0, 0.05)
    assert results["runs"][3]["points"][0]["vs_floor"] is None  # the floor ran no 1 conn.


def test_each_named_variant_gets_its_own_mlserver_target(monkeypatch) -> None:
    results = _with_references(_two_model_results())
    reasons = {**results["runs"][3], "name": "reasons on", "default": False}
    results["runs"].append(reasons)
    monkeypatch.setattr(
        report,
        "SINGLE_VS_MLSERVER_VARIANTS",
        {"reasons on": "reasons on", "shadow": "with a shadow challenger"},
    )
    targets = {t["target"]: t for t in evaluate_targets(results)}
    assert targets["/predict req/s at 16 connections ÷ tuned MLServer (reasons on)"]["value"] == 4.0
    shadow = targets["/predict req/s at 16 connections ÷ tuned MLServer (with a shadow challenger)"]
    assert shadow["status"] == UNMEASURED


def test_headline_gives_riskserve_over_each_reference(tmp_path) -> None:
    results = _with_references(_two_model_results())
    evaluate_targets(results)
    rows = {(h["scenario"], h["connections"]): h for h in report.headline(results)}
    single = rows["predict", 16]
    assert (single["riskserve"], single["tutorial"], single["mlserver"], single["floor"]) == (
        1000,
        400,
        250,
        20_000,
    )
    assert (single["vs_tutorial"], single["vs_mlserver"], single["vs_floor"]) == (2.5, 4.0, 0.05)
    assert rows["batch1000", 1]["mlserver"] == 60_000
    assert rows["predict", 1]["floor"] is None
    lines = report.headline_table(results)
    assert single["cpu_vs_mlserver"] == 0.5  # MLServer took half riskserve's CPU per request
    assert (single["cpu_vs_tutorial"], single["cpu_vs_floor"]) == (1.0, 1.0)
    assert "| predict | 16 | 1,000 | 400 | 250 | 20,000 | 2.5 | 4 | 0.05 | 1 | 0.5 | 1 |" in lines


def test_batch_profile_charges_each_sample_to_its_innermost_stage() -> None:
    http = "(/srv/riskserve/http_layer.py:90)"
    outer = ["main (/x/uvicorn/server.py:1)", f"ScoringHTTP.__call__ {http}"]
    stacks = [
        (
            [
                *outer,
                f"ScoringHTTP._score {http}",
                "Contract.many (/srv/riskserve/contract.py:2)",
                "_validate (/srv/riskserve/contract.py:3)",
            ],
            6,
        ),
        (
            [
                *outer,
                f"ScoringHTTP._score {http}",
                "Scorer.score (/srv/riskserve/scoring.py:4)",
                "AuditLog.write (/srv/riskserve/audit.py:5)",
                "dumps (/x/json/__init__.py:6)",
            ],
            3,
        ),
        ([*outer, f"ScoringHTTP._score {http}", "Scorer.score (/srv/riskserve/scoring.py:7)"], 2),
        (outer, 4),  # orjson.dumps(payload) is C: the sample stops in __call__
        (["main (/x/uvicorn/server.py:1)", "data_received (/x/uvicorn/h.py:8)"], 5),
    ]
    stages = {s["name"]: s for s in stage_breakdown(stacks, 2000.0, batch_profile.STAGES)}
    assert stages["JSON parse + Pydantic validation"] == {
        "name": "JSON parse + Pydantic validation",
        "share": 0.3,
        "us_per_request": 600.0,
    }
    assert stages["audit write"]["share"] == 0.15
    assert stages["scoring glue"]["share"] == 0.1  # Scorer.score, not ScoringHTTP._score's
    assert stages["answer: orjson serialisation, send"]["share"] == 0.2
    assert stages[OUTSIDE]["us_per_request"] == 500.0
    assert sum(s["share"] for s in stages.values()) == pytest.approx(1.0)


def test_the_adverse_record_is_measured_at_16_connections_by_every_variant() -> None:
    default = http_bench.Variant("d", {}, default=True)
    shadow = http_bench.Variant("s", {"challenger": {}})
    for variant in (default, shadow):
        points = variant.points((1, 16, 64))
        assert [p for p in points if p[0] == "predict_adverse"] == [("predict_adverse", 16)]
    assert ("predict", 64) in default.points((1, 16, 64)) and ("batch100", 1) in default.points(
        (1, 16, 64)
    )


def test_a_variant_starts_without_the_audit_logs_of_an_earlier_run(tmp_path) -> None:
    variant = http_bench.Variant("bentoml onnx/inprocess", {}, default=True)
    old = tmp_path / "logs" / http_bench.slug(variant.name) / "audit" / "audit-old.jsonl"
    old.parent.mkdir(parents=True)
    old.write_text("{}\n")
    config = yaml.safe_load(http_bench.write_config(variant, tmp_path).read_text())
    assert config["riskserve"]["log_dir"] == str(old.parent.parent)
    assert not old.exists()
