"""wrk as the load generator: one command per measured point, and its parsed summary.

`post.lua` makes wrk POST a body from a file and print one `WRK_JSON` line with the
counts and latency percentiles (microseconds); this module turns it into figures.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from benchmarks.servers import LOAD_CPU, pinned

LUA_SCRIPT = Path(__file__).with_name("post.lua")
MARKER = "WRK_JSON "
# A reply slower than this counts as a timeout error instead of a latency sample.
TIMEOUT_S = 10


def wrk_version() -> str:
    """wrk's version line, or 'missing'."""
    if shutil.which("wrk") is None:
        return "missing"
    out = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout
    return out.split(" Copyright")[0].strip()


def wrk_argv(
    url: str, body: Path, connections: int, seconds: int, pause_ms: float | None = None
) -> list[str]:
    """The one wrk command line: one thread (plenty for one server core) pinned to the load
    core, POSTing `body`; `pause_ms` before each request paces a connection (the soak)."""
    pace = [] if pause_ms is None else [f"{pause_ms:.3f}"]
    return pinned(
        LOAD_CPU,
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            f"{TIMEOUT_S}s",
            "-s",
            str(LUA_SCRIPT),
            url,
            "--",
            str(body),
            *pace,
        ],
    )


def parse_wrk(output: str) -> dict[str, Any]:
    """Figures from wrk's output: req/s, latency percentiles (ms), errors by kind."""
    lines = [line for line in output.splitlines() if line.startswith(MARKER)]
    if not lines:
        raise ValueError(f"no {MARKER.strip()} line in wrk output:\n{output}")
    raw = json.loads(lines[-1][len(MARKER) :])
    seconds = raw["duration_us"] / 1e6
    errors = dict(raw["errors"])
    errors["total"] = sum(errors.values())
    return {
        "requests": raw["requests"],
        "seconds": round(seconds, 3),
        "rps": round(raw["requests"] / seconds, 1),
        "latency_ms": {k: round(v / 1000, 3) for k, v in raw["latency_us"].items()},
        "errors": errors,
    }


def run_wrk(
    url: str, body: Path, connections: int, seconds: int, pause_ms: float | None = None
) -> dict[str, Any]:
    """Load `url` for `seconds` at `connections` (paced by `pause_ms`) and return the
    parsed figures."""
    argv = wrk_argv(url, body, connections, seconds, pause_ms)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)
