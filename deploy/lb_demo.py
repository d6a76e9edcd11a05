"""`make lb-demo`: replicas of the service behind nginx, all on 127.0.0.1.

What a load balancer in front of riskserve needs, shown on one host: each replica has
its own BentoML home (see `deploy.replicas`) and its own log folder (so its audit file
is its own), nginx spreads requests round-robin, takes a replica out when it stops
answering, and sends requests it could not deliver to the next one. A POST already sent
to a replica that dies is not retried (scoring it twice would audit it twice): it
fails with 502, and the client retries with the same X-Request-ID if it wants.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.servers import Server, free_port, http_status, serve_argv
from deploy.replicas import replica_home
from riskserve.settings import PROJECT_ROOT, load_settings, write_derived_config

NGINX_CONF = """
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {work}/nginx-access.log;
    client_body_temp_path {work}/client_body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    upstream riskserve {{
{servers}
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size {max_body};
        location / {{
            proxy_pass http://riskserve;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_next_upstream error timeout http_502 http_503;
            proxy_next_upstream_tries 2;
            proxy_connect_timeout 2s;
            error_page 502 504 = @unavailable;
        }}
        # nginx's own failures answer in JSON too, like every riskserve error.
        location @unavailable {{
            default_type application/json;
            return 502 '{{"error": "bad gateway", "detail": "no replica answered this request"}}';
        }}
    }}
}}
"""


class LoadBalancedService:
    """`replicas` servers of the source tree behind nginx; `with` starts and stops all."""

    def __init__(self, work: Path, replicas: int = 2, port: int | None = None) -> None:
        self.work, self.port = work, port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.replicas: list[Server] = []
        self.log_dirs: list[Path] = []
        self._count = replicas
        self._nginx: subprocess.Popen[bytes] | None = None

    def _start_replica(self, index: int, shared_home: Path) -> Server:
        folder = self.work / f"replica-{index}"
        folder.mkdir(parents=True, exist_ok=True)
        config = write_derived_config(folder / "configuration.yaml", log_dir=str(folder / "logs"))
        self.log_dirs.append(folder / "logs")
        env = {
            **os.environ,
            "RISKSERVE_CONFIG": str(config),
            "BENTOML_HOME": str(replica_home(shared_home, folder / "bentoml_home")),
        }
        port = free_port()
        log = folder / "server.log"
        return Server(serve_argv(port), port, "/readyz", env, PROJECT_ROOT, log).__enter__()

    def __enter__(self) -> LoadBalancedService:
        shared_home = Path(os.environ["BENTOML_HOME"])
        try:
            for index in range(self._count):
                self.replicas.append(self._start_replica(index, shared_home))
            servers = "\n".join(
                f"        server 127.0.0.1:{r.port} max_fails=1 fail_timeout=10s;"
                for r in self.replicas
            )
            conf = self.work / "nginx.conf"
            conf.write_text(
                NGINX_CONF.format(
                    work=self.work,
                    servers=servers,
                    port=self.port,
                    max_body=load_settings().max_body_bytes,
                )
            )
            self._nginx = subprocess.Popen(
                ["nginx", "-p", str(self.work), "-c", str(conf), "-g", "daemon off;"],
                stdout=subprocess.DEVNULL,
                stderr=(self.work / "nginx.out").open("wb"),
            )
            deadline = time.monotonic() + 30
            while http_status(f"{self.url}/readyz") != 200:
                if time.monotonic() > deadline or self._nginx.poll() is not None:
                    raise RuntimeError(f"nginx did not come up; see {self.work}/nginx.out")
                time.sleep(0.1)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._nginx is not None and self._nginx.poll() is None:
            self._nginx.send_signal(signal.SIGQUIT)  # graceful: finish what is in flight
            self._nginx.wait(timeout=30)
        for replica in self.replicas:
            replica.stop()


def main() -> None:
    """Serve two replicas behind nginx on 127.0.0.1:$PORT until interrupted."""
    if shutil.which("nginx") is None:
        sys.exit("nginx is missing: `make lb-demo` installs it (apt-get install nginx)")
    work = Path(tempfile.mkdtemp(prefix="riskserve-lb-"))
    with LoadBalancedService(work, port=int(os.environ.get("PORT", "8080"))) as service:
        print(f"nginx on {service.url} -> replicas " + ", ".join(r.url for r in service.replicas))
        print(f"audit logs: {', '.join(str(d / 'audit') for d in service.log_dirs)}")
        print("Ctrl-C stops everything")
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    main()
