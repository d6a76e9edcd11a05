"""Servers under test: started pinned to one core, timed to readiness, watched by psutil.

The server and the load generator run on different cores, so the load generator's own
CPU never competes with the server it measures.
"""

from __future__ import annotations

import contextlib
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil

SERVER_CPU = 0
LOAD_CPU = 1
MB = 1024 * 1024
# The virtual environment's own `bentoml`, whatever PATH holds.
BENTOML = str(Path(sys.executable).with_name("bentoml"))
SERVICE = "service:RiskAPI"


def serve_argv(port: int, target: str = SERVICE) -> list[str]:
    """`bentoml serve` of `target` on 127.0.0.1:`port` (the service's model comes from
    its configuration, or RISKSERVE_MODEL in the server's environment)."""
    return [BENTOML, "serve", target, "--host", "127.0.0.1", "--port", str(port)]


def pinned(cpu: int, argv: list[str]) -> list[str]:
    """`argv` run on one CPU (children inherit the affinity)."""
    return ["taskset", "-c", str(cpu), *argv]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """The status of a GET, or None if nothing answers."""
    try:
        # Only ever our own http://127.0.0.1:<port> probe URLs, hence the B310 waiver.
        with urllib.request.urlopen(url, timeout=timeout) as response:  # nosec B310
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def role(proc: psutil.Process) -> str:
    """A stable name for a process of a server: its BentoML service, or what it runs."""
    try:
        cmdline = " ".join(proc.cmdline())
    except psutil.Error:
        return f"pid{proc.pid}"
    service = re.search(r"--service-name (\S+)", cmdline)
    if service:
        return service.group(1)
    if "bentoml serve" in cmdline:
        return "arbiter"
    if "uvicorn" in cmdline:
        return "uvicorn"
    return proc.name()


class Server:
    """One server process tree; `with` starts it, waits for `ready_path` 200, stops it."""

    def __init__(self, argv: list[str], port: int, ready_path: str, env: dict[str, str],
                 cwd: Path, log_path: Path, timeout: float = 120) -> None:
        self.argv, self.port, self.ready_path = argv, port, ready_path
        self.env, self.cwd, self.log_path, self.timeout = env, cwd, log_path, timeout
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_seconds = float("nan")

    def __enter__(self) -> Server:
        started = time.monotonic()
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                self.argv, cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            self._wait_ready(started)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wait_ready(self, started: float) -> None:
        assert self.proc is not None
        while time.monotonic() - started < self.timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.argv[0]} exited {self.proc.returncode}; see {self.log_path}"
                )
            if http_status(self.url + self.ready_path) == 200:
                return
            time.sleep(0.05)
        raise TimeoutError(f"not ready within {self.timeout}s; see {self.log_path}")

    def processes(self) -> list[psutil.Process]:
        """The started process and all its descendants."""
        assert self.proc is not None
        try:
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        """SIGTERM the started process (BentoML's arbiter stops its workers), then kill
        whatever of its tree is left."""
        if self.proc is None or self.proc.poll() is not None:
            return
        family = self.processes()[1:]
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for child in family:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()


class TreeMonitor:
    """CPU seconds and peak RSS of each process of a server while a block runs."""

    def __init__(self, processes: list[psutil.Process], interval: float = 0.2) -> None:
        self.processes = processes
        self.interval = interval
        self.rss_peak: dict[int, int] = {}
        self.total_rss_peak = 0
        self._cpu_start: dict[int, float] = {}
        self._cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @staticmethod
    def _cpu_seconds(proc: psutil.Process) -> float:
        times = proc.cpu_times()
        return times.user + times.system

    def _sample(self) -> None:
        while not self._stop.is_set():
            total = 0
            for proc in self.processes:
                with contextlib.suppress(psutil.Error):
                    rss = proc.memory_info().rss
                    self.rss_peak[proc.pid] = max(self.rss_peak.get(proc.pid, 0), rss)
                    total += rss
            self.total_rss_peak = max(self.total_rss_peak, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeMonitor:
        for proc in self.processes:
            with contextlib.suppress(psutil.Error):
                self._cpu_start[proc.pid] = self._cpu_seconds(proc)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for proc in self.processes:
            with contextlib.suppress(psutil.Error):
                self._cpu[proc.pid] = self._cpu_seconds(proc) - self._cpu_start[proc.pid]

    def result(self) -> dict[str, Any]:
        """Per role: CPU seconds and peak RSS (MB); and the totals over the tree."""
        per_role: dict[str, dict[str, float]] = {}
        for proc in self.processes:
            name = role(proc)
            if name in per_role:  # several workers of one service
                name = f"{name}[{proc.pid}]"
            per_role[name] = {
                "cpu_s": round(self._cpu.get(proc.pid, 0.0), 3),
                "rss_peak_mb": round(self.rss_peak.get(proc.pid, 0) / MB, 1),
            }
        return {
            "processes": per_role,
            "cpu_s": round(sum(self._cpu.values()), 3),
            "rss_peak_mb": round(self.total_rss_peak / MB, 1),
        }
