"""`make bench`: every serving variant under wrk, against three references in the same run:
a tutorial-style FastAPI baseline, tuned MLServer and the bare ASGI floor
(`benchmarks.references`).

Each variant is the unchanged `service.py` started with a temporary copy of
`configuration.yaml` whose keys differ (backend, and layout when the file has that key),
so the harness measures whatever the service is at the time it runs. The served model
(configuration's `model_tag`, or RISKSERVE_MODEL) gets every figure; each other model of
OTHER_MODELS (fraud_model) gets /predict and a 1,000-record /predict_batch at 16
connections, served as configured and by its own baseline, in the same run. Request
bodies come from each model's spec (`benchmarks.payloads`). Knobs:
BENCH_SECONDS (whole seconds per point, default 10), BENCH_WARMUP (default 2), BENCH_CONNECTIONS
(default 1,16,64), BENCH_READY_RUNS (`make serve` start-up timings, default 3).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import yaml

from benchmarks import payloads, references
from benchmarks.baseline_app import MODEL_ENV as BASELINE_MODEL_ENV
from benchmarks.loadgen import run_wrk
from benchmarks.meta import describe_run
from benchmarks.report import compare_models, evaluate_targets, headline, write_report
from benchmarks.servers import (
    MB,
    SERVER_CPU,
    Server,
    TreeMonitor,
    free_port,
    pinned,
    role,
    serve_argv,
    uvicorn_argv,
)
from riskserve.files import write_atomically
from riskserve.inference_protocol import inference_request
from riskserve.model_entry import read_spec
from riskserve.settings import MODEL_ENV, PROJECT_ROOT, load_settings, write_derived_config
from riskserve.spec import ModelSpec

ROOT = PROJECT_ROOT
RESULTS = ROOT / "benchmarks" / "results"
WORK = ROOT / "build" / "bench"
# Models measured beside the served one (a few points each; `make bench` trains them).
OTHER_MODELS = ("fraud_model",)
OTHER_MODEL_POINTS = (("predict", 16), ("batch1000", 16))
# The reference rows beside the tutorial baseline (`benchmarks.references`).
MLSERVER_NAME = "mlserver 1.7.1 sklearn (tuned)"
FLOOR_NAME = "asgi floor"
NOTES = (
    "Since issue 9 the lean HTTP layer answers every scoring route (configuration's "
    "`lean_http` switch is gone), so the former `lean_http=false` variant (BentoML's own "
    "request pipeline) is no longer measured.",
)


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One kind of request: its endpoint and how many records each carries."""

    name: str
    path: str
    rows: int


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("predict", "/predict", 1),
        Scenario("batch100", "/predict_batch", 100),
        Scenario("batch1000", "/predict_batch", 1000),
        # /predict with the riskiest servable record: a decision that carries reason codes.
        Scenario("predict_adverse", "/predict", 1),
    )
}
# Scenarios measured at 16 connections only (every other one at every concurrency).
AT_16_ONLY = ("predict_adverse",)
# riskserve's own Open Inference Protocol route, fed the same records as /predict and a
# 1,000-record batch (as columns), on the served model as configured.
PROTOCOL = "v2"
PROTOCOL_POINTS = (("predict", 1), ("predict", 16), ("batch1000", 16))
# Variants other than the default configuration run the points that compare them:
# /predict at every concurrency, and the largest batch at this one.
BATCH_COMPARISON_CONNECTIONS = 16


@dataclasses.dataclass(frozen=True)
class Model:
    """A model under test: its store entry and spec."""

    tag: str  # concrete name:version
    folder: Path
    spec: ModelSpec

    @classmethod
    def from_store(cls, tag: str) -> Model:
        """The store entry of `tag` (BENTOML_HOME already settled)."""
        folder = payloads.entry_folder(tag)
        return cls(f"{folder.parent.name}:{folder.name}", folder, read_spec(folder))

    @property
    def name(self) -> str:
        """The model's store name."""
        return self.spec.name


@dataclasses.dataclass(frozen=True)
class Variant:
    """A server to measure: the baseline, or the service with configuration overrides."""

    name: str
    overrides: dict[str, Any]
    baseline: bool = False
    default: bool = False
    reference: str = ""  # references.MLSERVER or references.FLOOR
    protocol: bool = False  # riskserve answering the Open Inference Protocol route
    model: str = ""  # tag of the model served; "" until assigned in `plan`
    # The points to measure when not every scenario at every concurrency.
    only: tuple[tuple[str, int], ...] = ()

    def points(self, connections: tuple[int, ...]) -> list[tuple[str, int]]:
        """(scenario, connections) pairs to measure."""
        if self.only:
            return list(self.only)
        adverse = [(s, 16) for s in AT_16_ONLY]
        if self.baseline or self.default or self.reference:
            return [(s, c) for s in SCENARIOS if s not in AT_16_ONLY for c in connections] + adverse
        comparison = [("batch1000", BATCH_COMPARISON_CONNECTIONS)]
        return [("predict", c) for c in connections] + comparison + adverse


@dataclasses.dataclass(frozen=True)
class Knobs:
    """Durations and load levels, from the environment."""

    seconds: int
    warmup: int
    connections: tuple[int, ...]
    ready_runs: int

    @classmethod
    def from_env(cls) -> Knobs:
        """BENCH_* variables, or defaults that keep a full run under ten minutes."""
        return cls(
            seconds=int(os.environ.get("BENCH_SECONDS", 10)),
            warmup=int(os.environ.get("BENCH_WARMUP", 2)),
            connections=tuple(
                int(c) for c in os.environ.get("BENCH_CONNECTIONS", "1,16,64").split(",")
            ),
            ready_runs=int(os.environ.get("BENCH_READY_RUNS", 3)),
        )


def variants(config: dict[str, Any]) -> list[Variant]:
    """The baseline, the configuration as it is, the other backend, and when the file has
    that key, the other process layout with each backend."""
    section = config["riskserve"]
    backend, layout = section["backend"], section.get("layout")
    other = "sklearn" if backend == "onnx" else "onnx"
    layouts = [layout]
    if layout is not None:
        layouts.append("runner" if layout == "inprocess" else "inprocess")
    out = [Variant("fastapi baseline", {}, baseline=True)]
    for each_layout in layouts:
        for each_backend in (backend, other):
            overrides = {}
            if each_backend != backend:
                overrides["backend"] = each_backend
            if each_layout != layout:
                overrides["layout"] = each_layout
            name = f"bentoml {each_backend}" + (f"/{each_layout}" if each_layout else "")
            out.append(Variant(name, overrides, default=not overrides))
    return out


def plan(config: dict[str, Any], served: Model, others: list[Model]) -> list[Variant]:
    """Every variant for the served model, then each other model's baseline and default
    service at OTHER_MODEL_POINTS."""
    out = [dataclasses.replace(v, model=served.tag) for v in variants(config)]
    # What a shadow challenger costs: the served model scored a second time per request
    # (another version of a family has a graph of the same size).
    shadow = {"challenger": {"model_tag": served.tag, "mode": "shadow"}}
    out.append(Variant(f"{out[1].name} + shadow challenger", shadow, model=served.tag))
    default = out[1]
    out.append(
        dataclasses.replace(
            default, name=f"{default.name} V2", default=False, protocol=True, only=PROTOCOL_POINTS
        )
    )
    out[1:1] = [
        Variant(name, {}, reference=kind, model=served.tag)
        for kind, name in ((references.MLSERVER, MLSERVER_NAME), (references.FLOOR, FLOOR_NAME))
    ]
    for model in others:
        for variant in variants(config)[:2]:  # the baseline, the configuration as it is
            out.append(
                dataclasses.replace(
                    variant,
                    name=f"{model.name}: {variant.name}",
                    model=model.tag,
                    only=OTHER_MODEL_POINTS,
                )
            )
    return out


def write_config(variant: Variant, folder: Path) -> Path:
    """A copy of the configuration as it is now (the service may have changed since the run
    began) with the variant's keys changed and logs kept aside. The variant's logs of an
    earlier run are removed first: a run audits millions of records (GBs of lines)."""
    logs = folder / "logs" / slug(variant.name)
    shutil.rmtree(logs, ignore_errors=True)
    return write_derived_config(
        folder / f"configuration-{slug(variant.name)}.yaml", **variant.overrides, log_dir=str(logs)
    )


def read_config() -> dict[str, Any]:
    """The project's configuration.yaml."""
    return yaml.safe_load((ROOT / "configuration.yaml").read_text())


def slug(name: str) -> str:
    """A file-name-safe form of a variant name."""
    return "".join(c if c.isalnum() else "-" for c in name)


def server_for(variant: Variant, config_path: Path, model: Model, log: Path) -> Server:
    """The variant's server of `model`, pinned to the server core on a free port."""
    if variant.reference:
        return references.server(
            variant.reference, model.name, model.folder, dict(os.environ), WORK, log
        )
    port = free_port()
    if variant.baseline:
        argv = uvicorn_argv("benchmarks.baseline_app:create_app", port, "--factory")
        env = {
            **os.environ,
            "RISKSERVE_CONFIG": str(config_path),
            BASELINE_MODEL_ENV: str(model.folder),
        }
        ready = "/docs"
    else:
        argv = serve_argv(port)
        env = {**os.environ, "RISKSERVE_CONFIG": str(config_path), MODEL_ENV: model.tag}
        ready = "/readyz"
    return Server(pinned(SERVER_CPU, argv), port, ready, env, ROOT, log)


def idle_rss(server: Server) -> dict[str, float]:
    """RSS (MB) of each process of a server that just became ready."""
    out = {}
    for proc in server.processes():
        try:
            out[role(proc)] = round(proc.memory_info().rss / MB, 1)
        except psutil.Error:
            continue
    return out


def measure_point(
    server: Server, scenario: Scenario, body: Path, connections: int, knobs: Knobs, path: str
) -> dict[str, Any]:
    """Warm up, then load `path` with one scenario at one concurrency while watching the
    server."""
    url = server.url + path
    if knobs.warmup > 0:
        run_wrk(url, body, connections, knobs.warmup)
    with TreeMonitor(server.processes()) as monitor:
        figures = run_wrk(url, body, connections, knobs.seconds)
    resources = monitor.result()
    return {
        "scenario": scenario.name,
        "rows": scenario.rows,
        "connections": connections,
        **figures,
        "rows_per_s": round(figures["rps"] * scenario.rows, 1),
        "cpu_ms_per_request": round(1000 * resources["cpu_s"] / max(figures["requests"], 1), 3),
        "resources": resources,
        # Anything else running on the machine shows here (2 cores: above ~2 is contention).
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def scenario_records(model: Model) -> dict[str, list[dict[str, Any]]]:
    """Each scenario's records for `model`: /predict sends the spec's example (or, for
    predict_adverse, the riskiest servable record when the model explains decisions),
    /predict_batch seeded random valid records (`benchmarks.payloads`)."""
    source = payloads.RecordSource.from_entry(model.folder, model.spec)
    example = payloads.example(model.spec)
    single = {
        "predict": example,
        "predict_adverse": payloads.adverse_example(model.folder, model.spec) or example,
    }
    return {
        name: source.records(s.rows) if s.path == "/predict_batch" else [single[name]]
        for name, s in SCENARIOS.items()
    }


def write_bodies(model: Model, folder: Path, reference: str = "") -> dict[str, Path]:
    """Each scenario's request body for `model`, in riskserve's form (the floor's too), as
    MLServer's clients send the same records, or as riskserve's own Open Inference
    Protocol inputs (`reference` PROTOCOL: one input per feature)."""
    folder.mkdir(parents=True, exist_ok=True)
    bodies = {}
    for name, records in scenario_records(model).items():
        if reference == references.MLSERVER:
            body: Any = references.infer_body(model.spec, records)
        elif reference == PROTOCOL:
            body = inference_request(model.spec, records)
        else:
            body = records[0] if SCENARIOS[name].path == "/predict" else {"records": records}
        bodies[name] = payloads.write_body(folder, name, body)
    return bodies


def request_path(variant: Variant, model: Model, scenario: Scenario) -> str:
    """Where the variant's server takes the scenario's requests."""
    if variant.reference == references.MLSERVER or variant.protocol:
        return references.infer_path(model.name)
    return scenario.path


def run_variant(
    variant: Variant, model: Model, bodies: dict[str, Path], knobs: Knobs
) -> dict[str, Any]:
    """All points of one variant; a server that fails to start is recorded, not fatal."""
    config_path = write_config(variant, WORK)
    log = WORK / f"server-{slug(variant.name)}.log"
    result: dict[str, Any] = {
        "name": variant.name,
        "model": model.tag,
        "baseline": variant.baseline,
        "default": variant.default,
        "reference": variant.reference,
        "overrides": variant.overrides,
        "points": [],
    }
    print(f"== {variant.name} ({model.tag})", flush=True)
    try:
        with server_for(variant, config_path, model, log) as server:
            result["startup_s"] = round(server.startup_seconds, 2)
            result["idle_rss_mb"] = idle_rss(server)
            for name, connections in variant.points(knobs.connections):
                scenario = SCENARIOS[name]
                path = request_path(variant, model, scenario)
                point = measure_point(server, scenario, bodies[name], connections, knobs, path)
                print(
                    f"   {name:9} c={connections:<3} {point['rps']:9.1f} req/s  "
                    f"p50 {point['latency_ms']['p50']:8.2f} ms  "
                    f"p99 {point['latency_ms']['p99']:8.2f} ms  "
                    f"errors {point['errors']['total']}",
                    flush=True,
                )
                result["points"].append(point)
    except (RuntimeError, TimeoutError) as exc:
        result["error"] = str(exc)
        print(f"   failed: {exc}", flush=True)
    return result


def make_serve_ready_times(runs: int) -> dict[str, Any]:
    """Seconds from `make serve` (model already trained) to /readyz 200, server core only.

    The virtual environment counts as up to date (`make -o`): a reinstall is set-up,
    not start-up."""
    installed = Path(sys.executable).parent / ".installed"
    times = []
    for i in range(runs):
        port = free_port()
        argv = pinned(SERVER_CPU, ["make", "-s", "-o", str(installed), "serve", f"PORT={port}"])
        log = WORK / f"make-serve-{i}.log"
        with Server(argv, port, "/readyz", dict(os.environ), ROOT, log) as server:
            times.append(round(server.startup_seconds, 2))
    return {"runs_s": times, "median_s": sorted(times)[len(times) // 2] if times else None}


def main() -> None:
    """Run every variant, then write benchmarks/results/http.{json,md} and the plots."""
    os.environ.setdefault("BENTOML_HOME", str(ROOT / "models_store"))
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    from bentoml.exceptions import NotFound  # after BENTOML_HOME is settled

    knobs = Knobs.from_env()
    WORK.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    config = read_config()
    served = Model.from_store(load_settings().model_tag)
    others = []
    for name in OTHER_MODELS:
        if name == served.name:
            continue
        try:
            others.append(Model.from_store(name))
        except NotFound:
            sys.exit(
                f"{name} is not in the model store {os.environ['BENTOML_HOME']}: "
                f"`make bench` trains it (python -m training --model {name})"
            )
    models = {m.tag: m for m in (served, *others)}
    bodies = {(tag, ""): write_bodies(m, WORK / m.name) for tag, m in models.items()}
    mlserver = references.MLSERVER
    bodies[served.tag, mlserver] = write_bodies(served, WORK / served.name / mlserver, mlserver)
    bodies[served.tag, PROTOCOL] = write_bodies(served, WORK / served.name / PROTOCOL, PROTOCOL)
    started = time.time()
    runs = []
    for v in plan(config, served, others):
        body_form = mlserver if v.reference == mlserver else PROTOCOL if v.protocol else ""
        runs.append(run_variant(v, models[v.model], bodies[v.model, body_form], knobs))
    print("== make serve start-up", flush=True)
    startup = make_serve_ready_times(knobs.ready_runs)
    inference_file = RESULTS / "inference.json"
    meta = describe_run(ROOT, "make bench", dataclasses.asdict(knobs))
    meta["versions"].update(references.mlserver_versions())
    results = {
        "meta": meta,
        "model": served.tag,
        "other_models": [m.tag for m in others],
        "notes": list(NOTES),
        "layout_key_present": "layout" in config["riskserve"],
        "runs": runs,
        "make_serve_startup": startup,
        "inference": json.loads(inference_file.read_text()) if inference_file.exists() else None,
        "wall_seconds": round(time.time() - started, 1),
    }
    results["targets"] = evaluate_targets(results)
    results["models_compared"] = compare_models(results)
    results["headline"] = headline(results)
    write_atomically(RESULTS / "http.json", json.dumps(results, indent=2) + "\n")
    write_report(results, RESULTS)
    print(f"wrote {RESULTS / 'http.md'} in {results['wall_seconds']:.0f} s")


if __name__ == "__main__":
    main()
