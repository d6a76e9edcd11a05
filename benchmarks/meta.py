"""What a benchmark ran on: machine, date, package versions, code revision, command."""

from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from benchmarks.loadgen import wrk_version

PACKAGES = (
    "bentoml",
    "onnxruntime",
    "scikit-learn",
    "numpy",
    "pandas",
    "pydantic",
    "fastapi",
    "uvicorn",
    "uvloop",
    "httptools",
    "starlette",
    "py-spy",
)
# The files whose content decides what the service measured was.
SERVED_FILES = ("service.py", "configuration.yaml")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def memory_gib() -> float:
    """Total memory in GiB."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024**2, 1)
    return float("nan")


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    return done.stdout.strip()


def describe_run(root: Path, command: str, knobs: dict[str, Any]) -> dict[str, Any]:
    """Everything needed to read (and redo) a result: where, when, with what."""
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": command,
        "knobs": knobs,
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "memory_gib": memory_gib(),
            "kernel": platform.release(),
            "python": platform.python_version(),
        },
        "versions": {**{p: _version(p) for p in PACKAGES}, "wrk": wrk_version()},
        "code": {
            "commit": _git(root, "rev-parse", "--short", "HEAD"),
            "uncommitted_changes": _git(
                root, "status", "--porcelain", "--", *SERVED_FILES, "riskserve"
            ).splitlines(),
            "sha256": {
                name: hashlib.sha256((root / name).read_bytes()).hexdigest()[:12]
                for name in SERVED_FILES
            },
        },
    }
