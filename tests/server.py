"""Run `bentoml serve` as a real subprocess on 127.0.0.1 and stop it cleanly."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml

from benchmarks import servers
from benchmarks.servers import free_port, serve_argv
from deploy.replicas import replica_home
from riskserve.settings import PROJECT_ROOT, write_derived_config


def fire(url: str, jobs: list[tuple[Any, ...]], concurrency: int = 32) -> list[tuple[int, Any]]:
    """POST every (path, JSON body, request id[, other headers]) with `concurrency`
    connections at once.

    aiohttp with a fixed set of workers: httpx's async pool slows to tens of requests
    per second when many requests wait for a connection. A request the server never
    answered (refused, reset) is recorded as status 0; every answer must be JSON.
    """
    results: list[tuple[int, Any]] = [(0, None)] * len(jobs)
    pending = list(enumerate(jobs))[::-1]

    async def run() -> None:
        timeout = aiohttp.ClientTimeout(total=120)
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(url, connector=connector, timeout=timeout) as session:

            async def worker() -> None:
                while pending:
                    i, (path, body, request_id, *extra) = pending.pop()
                    headers = {"x-request-id": request_id, **(extra[0] if extra else {})}
                    try:
                        async with session.post(path, json=body, headers=headers) as response:
                            results[i] = (response.status, await response.json())
                    except (TimeoutError, aiohttp.ClientConnectionError):
                        results[i] = (0, None)

            await asyncio.gather(*(worker() for _ in range(concurrency)))

    asyncio.run(run())
    return results


def write_config(folder: Path, **riskserve: Any) -> Path:
    """The shipped configuration with `riskserve:` keys changed; logs in `folder`."""
    return write_derived_config(
        folder / "configuration.yaml", **{"log_dir": str(folder / "logs"), **riskserve}
    )


class Server(servers.Server):
    """A `bentoml serve` of riskserve for tests, with its own BentoML home and logs.

    `wait_ready=False` returns as soon as /readyz answers at all (200 or 503), for
    tests of a service that must start but stay unready.
    """

    def __init__(
        self,
        target: str,
        cwd: Path,
        env: dict[str, str] | None = None,
        wait_ready: bool = True,
        timeout: float = 90,
        config: Path | None = None,
    ) -> None:
        port = free_port()
        full_env = {**os.environ, **(env or {})}
        if "BENTOML_HOME" not in (env or {}):
            home = Path(tempfile.mkdtemp(prefix="riskserve-server-home-"))
            full_env["BENTOML_HOME"] = str(replica_home(Path(os.environ["BENTOML_HOME"]), home))
        if config is not None:
            full_env["RISKSERVE_CONFIG"] = str(config)
        log_path = Path(tempfile.mkstemp(prefix="riskserve-serve-", suffix=".log")[1])
        argv = serve_argv(port, target)
        super().__init__(argv, port, "/readyz", full_env, cwd, log_path, timeout)
        self.wait_ready, self.config = wait_ready, config

    @classmethod
    def source(cls, folder: Path, **riskserve: Any) -> Server:
        """Serve the source tree with its own configuration and log folder in `folder`."""
        env = riskserve.pop("env", None)
        wait_ready = riskserve.pop("wait_ready", True)
        return cls(
            "service:RiskAPI",
            PROJECT_ROOT,
            env=env,
            wait_ready=wait_ready,
            config=write_config(folder, **riskserve),
        )

    def _wait_ready(self, started: float) -> None:
        if self.wait_ready:
            return super()._wait_ready(started)
        assert self.proc is not None
        while time.monotonic() - started < self.timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"bentoml serve exited {self.proc.returncode}:\n{self.log()}")
            if servers.http_status(f"{self.url}/readyz") is not None:
                return
            time.sleep(0.2)
        raise TimeoutError(f"/readyz silent for {self.timeout}s:\n{self.log()}")

    def log(self) -> str:
        """Everything the server printed so far."""
        return self.log_path.read_text(errors="replace")

    def json_logs(self) -> list[dict[str, Any]]:
        """riskserve's JSON log lines printed so far (split on newlines only: a JSON
        string may hold U+2028 and other characters `str.splitlines` breaks at)."""
        return [orjson.loads(line) for line in self.log().split("\n") if line.startswith("{")]

    def audit_records(self) -> list[dict[str, Any]]:
        """Every audit line the server's processes have written (rotated files included)."""
        assert self.config is not None, "audit records need a server started with a config"
        folder = Path(yaml.safe_load(self.config.read_text())["riskserve"]["log_dir"]) / "audit"
        return [
            orjson.loads(line)
            for path in sorted(folder.glob("audit-*.jsonl*"))
            for line in path.read_bytes().splitlines()
        ]
