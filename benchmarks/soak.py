"""`make soak`: a bounded soak of single /predict at about 80% of measured capacity.

Capacity is measured first (closed loop, 16 connections). The soak then runs wrk in
consecutive windows with a per-request pause sized for the target rate (corrected
window by window, since the pause plus the latency sets the pace), and after each
window records its rate, p50/p99, errors and every server process's RSS. The report
gives errors in total, p99 over time and RSS growth per process from the first window
to the last (the first window is the warmed-up baseline).
Tune with SOAK_SECONDS (default 600), SOAK_WINDOW (30) and SOAK_LOAD (0.8).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.loadgen import run_wrk
from benchmarks.payloads import entry_folder, example, write_body
from benchmarks.servers import (
    LOAD_CPU,
    MB,
    SERVER_CPU,
    Server,
    free_port,
    pinned,
    role,
    serve_argv,
)
from riskserve.files import write_atomically
from riskserve.model_entry import read_spec
from riskserve.settings import PROJECT_ROOT, load_settings, write_derived_config

ROOT = PROJECT_ROOT
RESULTS = ROOT / "benchmarks" / "results"
CONNECTIONS = 16


def _rss_by_role(server: Server) -> dict[str, float]:
    return {role(p): round(p.memory_info().rss / MB, 1) for p in server.processes()}


def soak(total_s: int, window_s: int, load: float, workdir: Path) -> dict[str, Any]:
    """Run the soak and return its figures."""
    config_path = write_derived_config(
        workdir / "configuration.yaml", log_dir=str(workdir / "logs")
    )
    # The served model (configuration's, or RISKSERVE_MODEL's) and its spec's example.
    spec = read_spec(entry_folder(load_settings().model_tag))
    body = write_body(workdir, "predict", example(spec))
    port = free_port()
    env = {**os.environ, "RISKSERVE_CONFIG": str(config_path)}
    with Server(
        pinned(SERVER_CPU, serve_argv(port)), port, "/readyz", env, ROOT, workdir / "server.log"
    ) as server:
        url = f"{server.url}/predict"
        run_wrk(url, body, CONNECTIONS, 5)  # warm-up
        capacity = run_wrk(url, body, CONNECTIONS, 10)["rps"]
        target = load * capacity
        pause_ms = 1000 * CONNECTIONS / target
        windows = []
        for index in range(max(1, total_s // window_s)):
            figures = run_wrk(url, body, CONNECTIONS, window_s, pause_ms)
            windows.append(
                {
                    "window": index,
                    "target_rps": round(target, 1),
                    **figures,
                    "rss_mb": _rss_by_role(server),
                }
            )
            # The pace is pause + latency: scale the pause toward the target rate.
            pause_ms *= min(2.0, max(0.5, figures["rps"] / target))
        audit_bytes = sum(p.stat().st_size for p in (workdir / "logs").rglob("audit-*"))
    first, last = windows[0]["rss_mb"], windows[-1]["rss_mb"]
    growth = {
        name: round(100 * (last[name] - first[name]) / first[name], 2)
        for name in first
        if name in last and first[name]
    }
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": spec.name,
        "seconds": total_s,
        "window_seconds": window_s,
        "connections": CONNECTIONS,
        "capacity_rps": capacity,
        "target_rps": round(target, 1),
        "achieved_rps": round(
            sum(w["requests"] for w in windows) / sum(w["seconds"] for w in windows), 1
        ),
        "requests": sum(w["requests"] for w in windows),
        "errors": sum(w["errors"]["total"] for w in windows),
        "p99_ms_by_window": [w["latency_ms"]["p99"] for w in windows],
        "rss_growth_pct": growth,
        "audit_log_mb": round(audit_bytes / MB, 1),
        "windows": windows,
    }


def markdown(result: dict[str, Any]) -> str:
    """The soak report."""
    lines = [
        "# Soak: single /predict at ~80% of capacity",
        "",
        f"{result['date']}; model {result.get('model', 'credit_model')}; "
        f"{result['seconds']} s in {result['window_seconds']} s windows, "
        f"{result['connections']} connections, server on CPU {SERVER_CPU}, wrk on CPU {LOAD_CPU}.",
        "",
        f"- capacity {result['capacity_rps']} req/s; target {result['target_rps']} req/s; "
        f"achieved {result['achieved_rps']} req/s",
        f"- requests {result['requests']}, errors **{result['errors']}** (target 0)",
        "- RSS growth first to last window: "
        + ", ".join(f"{k} **{v}%**" for k, v in result["rss_growth_pct"].items())
        + " (target < 5%)",
        f"- audit log written: {result['audit_log_mb']} MB",
        "",
        "| window | req/s | p50 ms | p99 ms | errors | RSS MB by process |",
        "|---|---|---|---|---|---|",
    ]
    for w in result["windows"]:
        rss = ", ".join(f"{k} {v}" for k, v in w["rss_mb"].items())
        lines.append(
            f"| {w['window']} | {w['rps']} | {w['latency_ms']['p50']} | "
            f"{w['latency_ms']['p99']} | {w['errors']['total']} | {rss} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    """Soak, then write benchmarks/results/soak.{json,md}."""
    os.environ.setdefault("BENTOML_HOME", str(ROOT / "models_store"))
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    total = int(os.environ.get("SOAK_SECONDS", "600"))
    window = int(os.environ.get("SOAK_WINDOW", "30"))
    load = float(os.environ.get("SOAK_LOAD", "0.8"))
    workdir = Path(tempfile.mkdtemp(prefix="riskserve-soak-"))
    try:
        result = soak(total, window, load, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_atomically(RESULTS / "soak.json", json.dumps(result, indent=2) + "\n")
    write_atomically(RESULTS / "soak.md", markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
