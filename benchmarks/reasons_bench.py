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

from benchmarks.loadgen import run_wrk
from benchmarks.payloads import adverse_records
from benchmarks.servers import SERVER_CPU, Server, TreeMonitor, free_port, pinned, serve_argv
from riskserve.files import write_atomically
from riskserve.model_entry import read_spec
from riskserve.settings import PROJECT_ROOT, load_settings, write_derived_config

RESULTS = PROJECT_ROOT / "benchmarks" / "results"
WORK = PROJECT_ROOT / "build" / "bench-reasons"
BATCH = 1000


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
    import bentoml

    folder = Path(bentoml.models.get(load_settings().model_tag).path)
    records = adverse_records(folder, read_spec(folder))
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
