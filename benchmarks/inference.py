"""`make bench-inference`: ONNX Runtime vs scikit-learn in-process, then a /predict profile.

Both backends are the service's own classes loaded from the served store entry, timed on
one pinned core at 1 to 10,000 rows per call; the single-row comparison adds what a
tutorial does per request (scikit-learn on a one-row pandas DataFrame). Knobs:
BENCH_PROFILE_SECONDS (default 15), BENCH_PROFILE_CONNECTIONS (default 16).
"""

from __future__ import annotations

import json
import os
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from benchmarks import payloads
from benchmarks.baseline_app import tutorial_frame
from benchmarks.http_bench import RESULTS, ROOT, WORK
from benchmarks.loadgen import run_wrk
from benchmarks.meta import describe_run
from benchmarks.plots import plot_inference
from benchmarks.profiling import profile_predict
from benchmarks.servers import SERVER_CPU, Server, free_port, pinned, serve_argv
from riskserve.backends import PIPELINE_FILE, OnnxBackend, SklearnBackend
from riskserve.files import write_atomically
from riskserve.model_entry import read_spec
from riskserve.settings import load_settings
from riskserve.spec import ModelSpec

BATCH_SIZES = (1, 10, 100, 1_000, 10_000)
REPEATS = 7
SECONDS_PER_FIGURE = 0.7


def time_call(fn: Callable[[], object], clock: Callable[[], float] = time.perf_counter) -> float:
    """Median µs per call over REPEATS loops, each long enough to time reliably, by `clock`
    (`time.process_time` counts this process's CPU only, whatever else the core runs)."""
    fn()
    loops = 1
    while True:
        started = clock()
        for _ in range(loops):
            fn()
        if clock() - started >= SECONDS_PER_FIGURE / REPEATS:
            break
        loops *= 2
    samples = []
    for _ in range(REPEATS):
        started = clock()
        for _ in range(loops):
            fn()
        samples.append((clock() - started) / loops)
    return round(statistics.median(samples) * 1e6, 2)


def compare_backends(folder: Path, spec: ModelSpec) -> dict[str, Any]:
    """µs per call, rows/s, speed-up and parity per batch size, plus the one-row cases."""
    onnx, sklearn = OnnxBackend(folder), SklearnBackend(folder)
    records = payloads.RecordSource.from_entry(folder, spec).records(max(BATCH_SIZES), seed=1)
    features = payloads.feature_matrix(spec, records)
    batches = []
    for size in BATCH_SIZES:
        rows = features[:size]
        onnx_us = time_call(lambda rows=rows: onnx.predict_proba(rows))
        sklearn_us = time_call(lambda rows=rows: sklearn.predict_proba(rows))
        diff = float(np.max(np.abs(onnx.predict_proba(rows) - sklearn.predict_proba(rows))))
        batches.append(
            {
                "batch": size,
                "onnx_us": onnx_us,
                "sklearn_us": sklearn_us,
                "onnx_rows_per_s": round(size / onnx_us * 1e6),
                "sklearn_rows_per_s": round(size / sklearn_us * 1e6),
                "speedup": round(sklearn_us / onnx_us, 1),
                "max_abs_diff": diff,
            }
        )
    # The tutorial's request path: a DataFrame from the JSON record (encoded as the
    # pipeline expects, as the baseline app does), then the pipeline.
    pipeline = joblib.load(folder / PIPELINE_FILE)
    warnings.filterwarnings("ignore", message="X has feature names")
    record = payloads.example(spec)
    dataframe_us = time_call(lambda: pipeline.predict_proba(tutorial_frame(spec, [record])))
    one_row = payloads.feature_matrix(spec, [record])
    dataframe_p = pipeline.predict_proba(tutorial_frame(spec, [record]))[0]
    onnx_one = batches[0]["onnx_us"]
    return {
        "batches": batches,
        "single_row": {
            "onnx_us": onnx_one,
            "sklearn_ndarray_us": batches[0]["sklearn_us"],
            "sklearn_dataframe_us": dataframe_us,
            "speedup_vs_ndarray": round(batches[0]["sklearn_us"] / onnx_one, 1),
            "speedup_vs_dataframe": round(dataframe_us / onnx_one, 1),
            "max_abs_diff": float(np.max(np.abs(onnx.predict_proba(one_row)[0] - dataframe_p))),
        },
        "parity_max_abs_diff": max(b["max_abs_diff"] for b in batches),
    }


# The /predict bodies profiled: the spec's example (its best band: no reason codes) and,
# for binary models, the riskiest servable record (a decision with reason codes).
EXAMPLE, ADVERSE = "the spec's example", "an adverse record (reason codes)"


def run_profile(folder: Path, spec: ModelSpec, seconds: int, connections: int) -> dict[str, Any]:
    """Start the service as configured (pinned to the server core) and profile /predict
    with each body of `EXAMPLE` and `ADVERSE`."""
    work = WORK / "profile"
    work.mkdir(parents=True, exist_ok=True)
    records = {EXAMPLE: payloads.example(spec)}
    adverse = payloads.adverse_example(folder, spec)
    if adverse is not None:
        records[ADVERSE] = adverse
    port = free_port()
    argv = pinned(SERVER_CPU, serve_argv(port))
    profiles = {}
    with Server(argv, port, "/readyz", dict(os.environ), ROOT, work / "server.log") as server:
        for i, (name, record) in enumerate(records.items()):
            body = payloads.write_body(work, f"predict-{i}", record)
            run_wrk(server.url + "/predict", body, connections, 2)  # warm-up
            profiles[name] = profile_predict(server, body, connections, seconds, work)
    return profiles


def markdown(results: dict[str, Any], plot: str) -> str:
    """inference.md: the backend table, the single-row comparison and the profile."""
    meta, single = results["meta"], results["single_row"]
    lines = [
        "# riskserve in-process inference benchmark and /predict profile",
        "",
        f"Run {meta['date']} on {meta['machine']['cpu']}, {meta['machine']['cores']} cores; "
        f"command `{meta['command']}`; model `{results['model']}`; timing pinned to CPU "
        f"{SERVER_CPU}, median of {REPEATS} timed loops per figure. Versions: "
        + ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
        + ".",
        "",
        "| rows per call | ONNX µs | scikit-learn µs | ONNX rows/s | scikit-learn rows/s "
        "| speed-up | max abs diff |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {b['batch']:,} | {b['onnx_us']:,.1f} | {b['sklearn_us']:,.1f} | "
        f"{b['onnx_rows_per_s']:,} | {b['sklearn_rows_per_s']:,} | {b['speedup']}x | "
        f"{b['max_abs_diff']:.2g} |"
        for b in results["batches"]
    ]
    lines += [
        "",
        f"One row: ONNX Runtime {single['onnx_us']} µs; scikit-learn on a float64 array "
        f"{single['sklearn_ndarray_us']} µs ({single['speedup_vs_ndarray']}x); scikit-learn "
        f"on a one-row pandas DataFrame, as a tutorial does it, {single['sklearn_dataframe_us']}"
        f" µs ({single['speedup_vs_dataframe']}x slower than ONNX). Parity over all "
        f"{max(BATCH_SIZES):,} rows: max |Δp| = {results['parity_max_abs_diff']:.2g}.",
        "",
        f"![inference]({plot})",
        "",
        "## Where a /predict request's server time goes",
        "",
    ]
    for body, profile in results["profiles"].items():
        load = profile["load"]
        lines += [
            f"### /predict with {body}",
            "",
            f"Method: {profile['method']}. Load: {load['rps']} req/s, p50 "
            f"{load['latency_ms']['p50']} ms, p99 {load['latency_ms']['p99']} ms, "
            f"{load['errors']['total']} errors.",
            "",
        ]
        for name, proc in profile["processes"].items():
            if "error" in proc:
                lines += [f"#### {name}: py-spy failed: {proc['error']}", ""]
                continue
            lines += [
                f"#### {name}: {proc['cpu_us_per_request']} µs of CPU per request "
                f"({proc['samples']} samples)",
                "",
                "| component (innermost frame) | share | µs per request |",
                "|---|---|---|",
            ]
            lines += [
                f"| {c['name']} | {c['share']:.1%} | {c['us_per_request']} |"
                for c in proc["components"]
            ]
            lines += ["", "| function (inclusive) | share |", "|---|---|"]
            lines += [f"| `{f['name']}` | {f['share']:.1%} |" for f in proc["top_inclusive"]]
            lines += ["", "| function (self) | share |", "|---|---|"]
            lines += [f"| `{f['name']}` | {f['share']:.1%} |" for f in proc["top_self"]] + [""]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Time both backends, profile the live service, write inference.{json,md,png}."""
    os.environ.setdefault("BENTOML_HOME", str(ROOT / "models_store"))
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    folder = payloads.entry_folder(load_settings().model_tag)
    spec = read_spec(folder)
    tag = f"{folder.parent.name}:{folder.name}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    knobs = {
        "profile_seconds": int(os.environ.get("BENCH_PROFILE_SECONDS", 15)),
        "profile_connections": int(os.environ.get("BENCH_PROFILE_CONNECTIONS", 16)),
    }
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {SERVER_CPU})
    try:
        compared = compare_backends(folder, spec)
    finally:
        os.sched_setaffinity(0, allowed)
    for b in compared["batches"]:
        print(
            f"{b['batch']:>6} rows  onnx {b['onnx_us']:>10.1f} µs  sklearn "
            f"{b['sklearn_us']:>10.1f} µs  x{b['speedup']}",
            flush=True,
        )
    print(f"one-row DataFrame: {compared['single_row']['sklearn_dataframe_us']} µs", flush=True)
    results = {
        "meta": describe_run(ROOT, "make bench-inference", knobs),
        "model": tag,
        **compared,
        "profiles": run_profile(
            folder, spec, knobs["profile_seconds"], knobs["profile_connections"]
        ),
    }
    write_atomically(RESULTS / "inference.json", json.dumps(results, indent=2) + "\n")
    plot = plot_inference(
        results["batches"], results["single_row"]["sklearn_dataframe_us"], RESULTS
    )
    write_atomically(RESULTS / "inference.md", markdown(results, plot))
    print(f"wrote {RESULTS / 'inference.md'}")


if __name__ == "__main__":
    main()
