"""What reason codes cost (part of `make bench`; alone: `make bench-reasons`).

The served credit model under wrk with adverse records only (every answer explained),
with `reasons: adverse` (as shipped) and `reasons: never`: single /predict p50 at one
connection, 1,000-record /predict_batch rows/s at one connection, and the API process's
peak RSS. Writes benchmarks/results/reasons.{json,md}. BENCH_SECONDS (default 10) and
BENCH_WARMUP (default 2) as for the rest of `make bench`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.loadgen import run_wrk
from benchmarks.servers import SERVER_CPU, Server, TreeMonitor, free_port, pinned, serve_argv
from riskserve.decisions import Policy
from riskserve.files import write_atomically
from riskserve.scores import score_rows
from riskserve.settings import PROJECT_ROOT, load_settings, write_derived_config

RESULTS = PROJECT_ROOT / "benchmarks" / "results"
WORK = PROJECT_ROOT / "build" / "bench-reasons"
BATCH = 1000


def adverse_records(tag: str) -> list[dict[str, Any]]:
    """The stored reference sample's servable records the model does not put in its best
    band, riskiest first, in request form."""
    import bentoml

    from riskserve.backends import OnnxBackend
    from riskserve.model_entry import read_spec, reference_rows

    folder = Path(bentoml.models.get(tag).path)
    spec = read_spec(folder)
    rows = reference_rows(folder, spec, "servable")
    policy = Policy(spec)
    scores = score_rows(policy, OnnxBackend(folder).predict_proba(rows))
    labels, scored = scores.labels, scores.scored
    columns = {n: spec.decode(n, rows[:, j]) for j, n in enumerate(spec.feature_names)}

    def value(name: str, v: Any) -> Any:
        return int(v) if spec.feature(name).kind == "int" else getattr(v, "item", lambda: v)()

    return [
        {name: value(name, column[i]) for name, column in columns.items()}
        for i in np.argsort(-scored)
        if labels[i] != policy.best
    ]


def measure(mode: str, bodies: dict[str, Path], seconds: int, warmup: int) -> dict[str, Any]:
    """Single p50 and batch rows/s at one connection, and the API's peak RSS."""
    config = write_derived_config(
        WORK / f"configuration-{mode}.yaml", reasons=mode, log_dir=str(WORK / "logs" / mode)
    )
    port = free_port()
    env = {**os.environ, "RISKSERVE_CONFIG": str(config)}
    argv = pinned(SERVER_CPU, serve_argv(port))
    figures: dict[str, Any] = {"reasons": mode}
    with Server(argv, port, "/readyz", env, PROJECT_ROOT, WORK / f"server-{mode}.log") as srv:
        with TreeMonitor(srv.processes()) as monitor:
            for name, path in (("predict", "/predict"), ("batch", "/predict_batch")):
                if warmup:
                    run_wrk(srv.url + path, bodies[name], 1, warmup)
                figures[name] = run_wrk(srv.url + path, bodies[name], 1, seconds)
        processes = monitor.result()["processes"]
    figures["predict_p50_ms"] = figures["predict"]["latency_ms"]["p50"]
    figures["batch_rows_per_s"] = round(figures["batch"]["rps"] * BATCH, 1)
    figures["api_rss_peak_mb"] = max(
        p["rss_peak_mb"] for name, p in processes.items() if "RiskAPI" in name
    )
    return figures


def main() -> None:
    """Measure both modes, write the results, print the comparison."""
    os.environ.setdefault("BENTOML_HOME", str(PROJECT_ROOT / "models_store"))
    seconds = int(os.environ.get("BENCH_SECONDS", 10))
    warmup = int(os.environ.get("BENCH_WARMUP", 2))
    WORK.mkdir(parents=True, exist_ok=True)
    records = adverse_records(load_settings().model_tag)
    batch = [records[i % len(records)] for i in range(BATCH)]
    bodies = {"predict": WORK / "predict.json", "batch": WORK / "batch.json"}
    bodies["predict"].write_text(json.dumps(records[0]))
    bodies["batch"].write_text(json.dumps({"records": batch}))
    runs = [measure(mode, bodies, seconds, warmup) for mode in ("adverse", "never")]
    result = {"seconds": seconds, "adverse_records": len(records), "runs": runs}
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_atomically(RESULTS / "reasons.json", json.dumps(result, indent=2) + "\n")
    lines = [
        "# Reason codes: what they cost",
        "",
        f"Credit model, adverse records only (every answer explained), one connection, "
        f"{seconds} s per point.",
        "",
        "| reasons | /predict p50 (ms) | 1,000-record batch (rows/s) | API peak RSS (MB) |",
        "|---|---|---|---|",
        *(
            f"| {r['reasons']} | {r['predict_p50_ms']:.3f} | {r['batch_rows_per_s']:,.0f} | "
            f"{r['api_rss_peak_mb']:.1f} |"
            for r in runs
        ),
        "",
    ]
    write_atomically(RESULTS / "reasons.md", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
