"""`make bench-batch`: where a 1,000-record /predict_batch spends its server CPU, per model.

Two views of one request. Live: the service as configured (pinned to CPU 0) serving each
model in turn while wrk (CPU 1) sends 1,000-record batches, py-spy charging each sample
to a stage of the scoring path. Alone: each stage's own function called in-process on
the same body, its CPU time measured; that also splits JSON parsing from validation. The
batches are valid, so the service checks them column-wise (riskserve.columns); Pydantic's
figure alone is what that replaced. Knobs: BENCH_PROFILE_SECONDS (10),
BENCH_PROFILE_CONNECTIONS (16).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from benchmarks import http_bench
from benchmarks.inference import time_call
from benchmarks.loadgen import run_wrk
from benchmarks.meta import describe_run
from benchmarks.profiling import profile_predict
from benchmarks.servers import SERVER_CPU, Server, free_port, pinned, serve_argv
from riskserve.audit import AuditLog
from riskserve.backends import OnnxBackend
from riskserve.contract import Contract
from riskserve.decisions import Policy
from riskserve.files import write_atomically
from riskserve.model_entry import served_explainer
from riskserve.scores import score_rows
from riskserve.settings import MODEL_ENV, load_settings

MODELS = ("credit_model", "fraud_model")
SCENARIO = "batch1000"
HTTP = "riskserve/http_layer.py"
STAGES = (
    ("read body", (("_read_body", HTTP),)),
    ("JSON parse + column check + matrix", (("rows", "riskserve/columns.py"),)),
    # Pydantic: batches the column check passes on (none in this benchmark's bodies).
    ("JSON parse + Pydantic validation", (("_validate", "riskserve/contract.py"),)),
    ("feature matrix", (("to_matrix", "riskserve/spec.py"),)),
    ("ONNX Runtime", (("predict_proba", "riskserve/backends.py"),)),
    ("decisions", (("classify", "riskserve/decisions.py"), ("answers", "riskserve/scores.py"))),
    ("reason codes", (("reasons", "riskserve/scores.py"),)),
    ("audit write", (("write", "riskserve/audit.py"),)),
    ("live metrics", (("observe", "riskserve/live_metrics.py"),)),
    ("request log", (("_log", HTTP),)),
    ("scoring glue", (("score", "riskserve/scoring.py"), ("_score", HTTP))),
    ("answer: orjson serialisation, send", (("__call__", HTTP), ("_respond", HTTP))),
)


def cpu_time(fn: Callable[[], object]) -> float:
    """Median µs of CPU per call (other work on the core does not count)."""
    return time_call(fn, time.process_time)


def time_stages(model: http_bench.Model, body: bytes, audit_folder: Path) -> dict[str, float]:
    """µs of each stage's own call on one 1,000-record body, as the service makes them."""
    settings = load_settings()
    policy = Policy(model.spec, settings.cutoffs.get(model.spec.name))
    contract = Contract.build(model.spec, policy, settings.max_batch_records)
    backend = OnnxBackend(model.folder)
    audit = AuditLog(audit_folder, model.spec, 1 << 40, policy.cutoffs)
    rows = contract.many(body)
    features = rows.matrix
    probabilities = backend.predict_proba(features)
    scores = score_rows(policy, probabilities)
    decisions, scored = scores.answers(), scores.scored
    explainer = served_explainer(model.folder, model.spec, model.tag, settings.reasons)[0]

    def write_audit() -> None:
        audit.write(
            request_id="profile",
            model_version=model.tag,
            endpoint="predict_batch",
            records=rows.records,
            probabilities=scored.tolist(),
            decisions=decisions,
            latency_ms=1.0,
            role="champion",
        )

    answer = {"results": decisions, "model_version": model.tag, "latency_ms": 1.0}
    try:
        return {
            "JSON parse alone (orjson.loads)": cpu_time(lambda: orjson.loads(body)),
            "JSON parse + column check + matrix": cpu_time(lambda: contract.many(body)),
            "JSON parse + Pydantic validation": cpu_time(
                lambda: contract.batch.model_validate_json(body)
            ),
            "ONNX Runtime": cpu_time(lambda: backend.predict_proba(features)),
            "decisions": cpu_time(lambda: score_rows(policy, probabilities).answers()),
            **(
                {
                    f"reason codes ({settings.reasons})": cpu_time(
                        lambda: scores.reasons(
                            explainer, features, settings.reasons, settings.max_reasons
                        )
                    )
                }
                if explainer
                else {}
            ),
            "audit write": cpu_time(write_audit),
            "answer: orjson serialisation": cpu_time(lambda: orjson.dumps(answer)),
        }
    finally:
        audit.close()


def profile_live(model: http_bench.Model, body: Path, knobs: dict[str, int]) -> dict[str, Any]:
    """py-spy on the service serving `model` while wrk sends `body` to /predict_batch."""
    port = free_port()
    folder = http_bench.WORK / "batch-profile" / model.name
    env = {**os.environ, MODEL_ENV: model.tag}
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "server.log"
    with Server(
        pinned(SERVER_CPU, serve_argv(port)), port, "/readyz", env, http_bench.ROOT, log
    ) as server:
        url = server.url + "/predict_batch"
        run_wrk(url, body, knobs["connections"], 2)  # warm-up
        return profile_predict(
            server, body, knobs["connections"], knobs["seconds"], folder, "/predict_batch", STAGES
        )


def markdown(results: dict[str, Any]) -> str:
    """batch_profile.md: per model, the live stage breakdown and the stages alone."""
    lines = [
        "# Where a 1,000-record /predict_batch spends its server CPU",
        "",
        f"Run {results['meta']['date']}, commit {results['meta']['code']['commit']}, "
        f"{results['meta']['machine']['cpu']}; load average {results['load_average']}. "
        "Live: " + results["method"] + ". Alone: each stage's function called in-process on "
        "the same body (median CPU µs of repeated calls).",
        "",
    ]
    for name, model in results["models"].items():
        lines += [f"## {name}", ""]
        for proc, figures in model["live"]["processes"].items():
            if "stages" not in figures:
                continue
            lines += [
                f"Live, {proc}: {figures['cpu_us_per_request']:,.0f} µs CPU per request "
                f"({model['live']['load']['rps']} req/s).",
                "",
                "| stage | share | µs per request |",
                "|---|---|---|",
                *(
                    f"| {s['name']} | {s['share']:.1%} | {s['us_per_request']:,.0f} |"
                    for s in figures["stages"]
                ),
                "",
            ]
        lines += ["| stage alone | µs |", "|---|---|"]
        lines += [f"| {stage} | {us:,.0f} |" for stage, us in model["alone"].items()]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    """Profile each model's 1,000-record batch; write batch_profile.{json,md}."""
    os.environ.setdefault("BENTOML_HOME", str(http_bench.ROOT / "models_store"))
    os.sched_setaffinity(0, {SERVER_CPU})  # stages alone are timed on the server's core
    knobs = {
        "seconds": int(os.environ.get("BENCH_PROFILE_SECONDS", 10)),
        "connections": int(os.environ.get("BENCH_PROFILE_CONNECTIONS", 16)),
    }
    models: dict[str, Any] = {}
    method = ""
    for name in MODELS:
        model = http_bench.Model.from_store(name)
        bodies = http_bench.write_bodies(model, http_bench.WORK / model.name)
        print(f"== {model.tag}", flush=True)
        with tempfile.TemporaryDirectory() as audit_folder:
            alone = time_stages(model, bodies[SCENARIO].read_bytes(), Path(audit_folder))
        live = profile_live(model, bodies[SCENARIO], knobs)
        method = live["method"]
        models[model.tag] = {"alone": alone, "live": live}
    results = {
        "meta": describe_run(http_bench.ROOT, "make bench-batch", knobs),
        "method": method,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "models": models,
    }
    write_atomically(
        http_bench.RESULTS / "batch_profile.json", json.dumps(results, indent=2) + "\n"
    )
    write_atomically(http_bench.RESULTS / "batch_profile.md", markdown(results))
    print(f"wrote {http_bench.RESULTS / 'batch_profile.md'}")


if __name__ == "__main__":
    main()
