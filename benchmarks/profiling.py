"""Where a /predict request's server time goes: py-spy sampling a live server under load.

The service runs as `bentoml serve` would run it in production (own processes, real
sockets, the hop to the runner when the layout has one), driven by wrk; py-spy samples
every worker from the other core without pausing it. Each sample is charged to the
innermost frame that belongs to a known component, and the shares are scaled by the
worker's measured CPU time per request.
"""

from __future__ import annotations

import collections
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

from benchmarks.loadgen import run_wrk
from benchmarks.servers import LOAD_CPU, Server, TreeMonitor, pinned, role

PY_SPY = str(Path(sys.executable).with_name("py-spy"))
SAMPLE_RATE = 250
# (component, path fragments); a frame belongs to the first component that matches.
COMPONENTS = (
    ("ONNX Runtime", ("onnxruntime/",)),
    ("scikit-learn", ("sklearn/",)),
    ("numpy", ("numpy/",)),
    ("pydantic (validation, serialisation)", ("pydantic/", "pydantic_core/")),
    ("JSON encode/decode", ("json/", "orjson")),
    ("logging", ("logging/",)),
    ("Prometheus metrics", ("prometheus_client/",)),
    ("OpenTelemetry tracing", ("opentelemetry/",)),
    (
        "hop to the runner (client side)",
        ("_bentoml_impl/client/", "httpx/", "httpcore/", "aiohttp/"),
    ),
    ("HTTP server (uvicorn, h11, httptools)", ("uvicorn/", "h11/", "httptools")),
    ("BentoML request pipeline", ("bentoml/", "_bentoml_impl/", "_bentoml_sdk/")),
    ("Starlette", ("starlette/",)),
    ("riskserve code", ("riskserve/", "service.py")),
    ("asyncio event loop", ("asyncio/", "selectors.py", "uvloop")),
)
# Frames every sample passes through (process entry, server loop): no information.
SCAFFOLDING = (
    "click/",
    "runpy",
    "<module>",
    "_bentoml_impl/worker/service.py",
    "uvicorn/server.py",
    "uvicorn/_compat.py",
    "asyncio/",
)
TOP = 15
# Named stages of a request: (stage, ((function, path fragment), ...)); a stack belongs to
# the stage of its innermost frame that names one, else to OUTSIDE.
Stages = tuple[tuple[str, tuple[tuple[str, str], ...]], ...]
OUTSIDE = "outside riskserve (HTTP server, event loop)"


def component(frame: str) -> str | None:
    """The component a py-spy frame (`func (path:line)`) belongs to, if any."""
    for name, fragments in COMPONENTS:
        if any(fragment in frame for fragment in fragments):
            return name
    return None


def parse_collapsed(text: str) -> list[tuple[list[str], int]]:
    """py-spy's raw output: (frames root-first, sample count) per distinct stack."""
    stacks = []
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def _frame_name(frame: str) -> str:
    """`func (path)`: no line number (one function is one entry), path from its package."""
    if not (frame.endswith(")") and ":" in frame):
        return frame
    func, _, path = frame.rsplit(":", 1)[0].partition(" (")
    for root in (
        "site-packages/",
        f"{sysconfig.get_paths()['stdlib']}/",
        f"{Path(__file__).resolve().parent.parent}/",
    ):
        path = path.split(root, 1)[-1]
    return f"{func} ({path})"


def summarize(stacks: list[tuple[list[str], int]], us_per_request: float) -> dict[str, Any]:
    """Shares (and µs per request) by component, and the functions that take the most."""
    total = sum(count for _, count in stacks) or 1
    by_component: collections.Counter[str] = collections.Counter()
    self_time: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    for frames, count in stacks:
        owner = next((c for c in map(component, reversed(frames)) if c), "other")
        by_component[owner] += count
        self_time[_frame_name(frames[-1])] += count
        for name in {_frame_name(f) for f in frames if not any(part in f for part in SCAFFOLDING)}:
            inclusive[name] += count

    def rows(counter: collections.Counter[str], n: int) -> list[dict[str, Any]]:
        return [
            {
                "name": name,
                "share": round(count / total, 4),
                "us_per_request": round(us_per_request * count / total, 1),
            }
            for name, count in counter.most_common(n)
        ]

    return {
        "samples": total,
        "components": rows(by_component, len(by_component)),
        "top_self": rows(self_time, TOP),
        "top_inclusive": rows(inclusive, TOP),
    }


def stage_of(frames: list[str], stages: Stages) -> str:
    """The stage of a stack: the first stage named by a frame, innermost frame first
    (a function matches by name or qualified name: `write` or `AuditLog.write`)."""
    for frame in reversed(frames):
        qualname = frame.split(" (", 1)[0]
        for name, functions in stages:
            for func, path in functions:
                if path in frame and (qualname == func or qualname.endswith(f".{func}")):
                    return name
    return OUTSIDE


def stage_breakdown(
    stacks: list[tuple[list[str], int]], us_per_request: float, stages: Stages
) -> list[dict[str, Any]]:
    """Share and µs per request of each stage, largest first."""
    total = sum(count for _, count in stacks) or 1
    counts: collections.Counter[str] = collections.Counter()
    for frames, count in stacks:
        counts[stage_of(frames, stages)] += count
    return [
        {
            "name": name,
            "share": round(count / total, 4),
            "us_per_request": round(us_per_request * count / total, 1),
        }
        for name, count in counts.most_common()
    ]


def profile_predict(
    server: Server,
    body: Path,
    connections: int,
    seconds: int,
    folder: Path,
    path: str = "/predict",
    stages: Stages = (),
) -> dict[str, Any]:
    """Sample every worker of a ready server while wrk loads `path`; with `stages`, also
    each stage's share (`stage_breakdown`)."""
    workers = [p for p in server.processes()[1:] if role(p) != "arbiter"] or server.processes()
    spies = {}
    for proc in workers:
        out = folder / f"py-spy-{role(proc)}.txt"
        argv = pinned(
            LOAD_CPU,
            [
                PY_SPY,
                "record",
                "--pid",
                str(proc.pid),
                "--rate",
                str(SAMPLE_RATE),
                "--duration",
                str(seconds),
                "--nonblocking",
                "--full-filenames",
                "--format",
                "raw",
                "--output",
                str(out),
            ],
        )
        spies[role(proc)] = (
            subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE),
            out,
        )
    with TreeMonitor(server.processes()) as monitor:
        load = run_wrk(server.url + path, body, connections, seconds)
    per_process = {}
    resources = monitor.result()["processes"]
    for name, (spy, out) in spies.items():
        _, err = spy.communicate(timeout=seconds + 60)
        if spy.returncode != 0 or not out.exists():
            per_process[name] = {"error": err.decode(errors="replace").strip()[-500:]}
            continue
        cpu_s = resources.get(name, {}).get("cpu_s", 0.0)
        us = 1e6 * cpu_s / max(load["requests"], 1)
        stacks = parse_collapsed(out.read_text())
        per_process[name] = {"cpu_us_per_request": round(us, 1), **summarize(stacks, us)}
        if stages:
            per_process[name]["stages"] = stage_breakdown(stacks, us, stages)
    return {
        "method": f"py-spy record --nonblocking at {SAMPLE_RATE} Hz on each worker of "
        f"`bentoml serve` (CPU 0) while wrk (CPU 1) loads {path} with "
        f"{connections} connections for {seconds} s",
        "load": load,
        "processes": per_process,
    }
