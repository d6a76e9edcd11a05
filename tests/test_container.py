"""The container image: built by `make image`, started, and answering as the source tree does.

Set RISKSERVE_IMAGE=<name:tag> to test an image built earlier (CI builds it in its own step).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.commands import make
from tests.conftest import ROOT
from tests.server import Server, free_port
from tests.test_deploy_files import CONTAINER, MANIFESTS
from tests.test_http import valid_records

pytestmark = [pytest.mark.slow, pytest.mark.container]

# A cold machine installs buildah, makes the base image and downloads every wheel.
BUILD_TIMEOUT = 1800
READY_TIMEOUT = 180
MODELS_STORE = ROOT / "models_store"
BENTO_PATH = "/home/bentoml/bento"


def _docker() -> bool:
    return (
        bool(shutil.which("docker"))
        and subprocess.run(["docker", "info"], capture_output=True, timeout=60).returncode == 0
    )


DOCKER = _docker()


def _labels(image: str) -> dict[str, str]:
    if DOCKER:
        out = subprocess.run(
            ["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", image],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return json.loads(out)
    out = subprocess.run(
        ["buildah", "inspect", "--type", "image", image], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out)["OCIv1"]["config"]["Labels"]


def _user(image: str) -> str:
    if DOCKER:
        cmd = ["docker", "image", "inspect", "--format", "{{.Config.User}}", image]
    else:
        cmd = ["buildah", "inspect", "--type", "image", "--format", "{{.OCIv1.Config.User}}", image]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()


class Container:
    """The image serving on 127.0.0.1:<port>: `docker run`, or `buildah run` as root."""

    def __init__(
        self, image: str, env: dict[str, str], volumes: dict[Path, str] | None = None
    ) -> None:
        self.image, self.env, self.volumes = image, env, volumes or {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.name = f"riskserve-test-{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = ROOT / "build" / f"{self.name}.log"

    def __enter__(self) -> Container:
        self.log_path.parent.mkdir(exist_ok=True)
        envs = [arg for k, v in self.env.items() for arg in ("--env", f"{k}={v}")]
        envs += [arg for h, c in self.volumes.items() for arg in ("--volume", f"{h}:{c}")]
        with self.log_path.open("wb") as log:
            if DOCKER:
                subprocess.run(
                    [
                        "docker",
                        "run",
                        "--detach",
                        "--name",
                        self.name,
                        *envs,
                        "--publish",
                        f"127.0.0.1:{self.port}:3000",
                        self.image,
                    ],
                    check=True,
                    stdout=subprocess.DEVNULL,
                )
            else:
                subprocess.run(
                    ["buildah", "from", "--name", self.name, self.image],
                    check=True,
                    stdout=subprocess.DEVNULL,
                )
                # chroot isolation shares the host's network: bind to loopback explicitly.
                self.proc = subprocess.Popen(
                    [
                        "buildah",
                        "run",
                        "--isolation",
                        "chroot",
                        "--network",
                        "host",
                        *envs,
                        "--env",
                        "BENTOML_HOST=127.0.0.1",
                        "--env",
                        f"BENTOML_PORT={self.port}",
                        self.name,
                        "--",
                        f"{BENTO_PATH}/env/docker/entrypoint.sh",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self) -> str:
        """What the container printed so far."""
        if DOCKER:
            done = subprocess.run(["docker", "logs", self.name], capture_output=True, text=True)
            return done.stdout + done.stderr
        return self.log_path.read_text(errors="replace")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"container exited {self.proc.returncode}:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            time.sleep(0.5)
        raise TimeoutError(f"container not ready within {READY_TIMEOUT}s:\n{self.log()}")

    def stop(self) -> bool:
        """SIGTERM the server as Kubernetes does; True if it exited by itself (within 30 s)."""
        if DOCKER:
            stopped = (
                subprocess.run(
                    ["docker", "stop", "--time", "30", self.name], capture_output=True
                ).returncode
                == 0
            )
            code = subprocess.run(
                ["docker", "inspect", "--format", "{{.State.ExitCode}}", self.name],
                capture_output=True,
                text=True,
            ).stdout.strip()
            subprocess.run(["docker", "rm", "--force", self.name], capture_output=True)
            return stopped and code not in ("", "137")
        graceful = False
        if self.proc is not None and self.proc.poll() is None:
            family = psutil.Process(self.proc.pid).children(recursive=True)
            # The entrypoint execs `bentoml serve`: the process Kubernetes would signal.
            arbiter = next((p for p in family if p.cmdline()[2:3] == ["serve"]), None)
            with contextlib.suppress(psutil.NoSuchProcess, AttributeError):
                arbiter.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            _, alive = psutil.wait_procs(family, timeout=5)
            graceful = arbiter is not None and not alive and self.proc.returncode == 0
            # BentoML's workers run in their own sessions: none may outlive the test.
            for process in alive:
                with contextlib.suppress(psutil.NoSuchProcess):
                    process.kill()
        subprocess.run(["buildah", "rm", self.name], capture_output=True)
        return graceful


def _remove_image(image: str) -> None:
    """Remove an image this suite built, under both its names."""
    tool = ["docker", "image", "rm"] if DOCKER else ["buildah", "rmi"]
    latest = image.rsplit(":", 1)[0] + ":latest"
    if _image_id(latest) == _image_id(image):
        subprocess.run([*tool, latest], capture_output=True)
    subprocess.run([*tool, image], capture_output=True)


def _image_id(image: str) -> str:
    cmd = (
        ["docker", "image", "inspect", "--format", "{{.Id}}", image]
        if DOCKER
        else ["buildah", "inspect", "--type", "image", "--format", "{{.FromImageID}}", image]
    )
    return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def built(trained_model) -> Iterator[tuple[str, Path]]:
    """The image and the model store holding its model: `$RISKSERVE_IMAGE` (built earlier
    by `make image` from models_store/), or `make image` on the suite's own store (that
    image is removed afterwards: its model was trained for the tests)."""
    if not DOCKER and os.geteuid() != 0:
        pytest.skip("needs a Docker daemon, or root for buildah")
    if os.environ.get("RISKSERVE_IMAGE"):
        yield os.environ["RISKSERVE_IMAGE"], MODELS_STORE
        return
    home = Path(os.environ["BENTOML_HOME"])
    done = make("image", timeout=BUILD_TIMEOUT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    image = done.stdout.strip().splitlines()[-1]
    yield image, home
    _remove_image(image)


@pytest.fixture(scope="module")
def image(built) -> str:
    return built[0]


@pytest.fixture(scope="module")
def api_key() -> str:
    return secrets.token_urlsafe(16)


@pytest.fixture(scope="module")
def pod_files(tmp_path_factory) -> dict[Path, str]:
    """What deploy/k8s mounts: the ConfigMap's configuration and a writable log volume."""
    config = tmp_path_factory.mktemp("configmap")
    config.chmod(0o755)  # a ConfigMap volume: readable by all, files 0644
    (config / "configuration.yaml").write_text(MANIFESTS["ConfigMap"]["data"]["configuration.yaml"])
    logs = tmp_path_factory.mktemp("logs")
    logs.chmod(0o777)  # an emptyDir: writable by the image's user
    mounts = {m["name"]: m["mountPath"] for m in CONTAINER["volumeMounts"]}
    return {config: mounts["config"], logs: mounts["logs"]}


@pytest.fixture(scope="module")
def container(image, api_key, pod_files) -> Iterator[Container]:
    """The image run as deploy/k8s/deployment.yaml runs it (settings, logs, API key)."""
    env = {e["name"]: e["value"] for e in CONTAINER["env"] if "value" in e}
    with Container(image, {**env, "RISKSERVE_API_KEYS": api_key}, pod_files) as running:
        yield running


@pytest.fixture(scope="module")
def source(built, api_key, tmp_path_factory) -> Iterator[Server]:
    """The source tree serving the image's model, read from the same model store."""
    image, store = built
    with pytest.MonkeyPatch.context() as patch:
        # Each server gets a home of its own that sees the models of $BENTOML_HOME.
        patch.setenv("BENTOML_HOME", str(store))
        server = Server.source(
            tmp_path_factory.mktemp("source"),
            env={"RISKSERVE_API_KEYS": api_key},
            model_tag=_labels(image)["riskserve.model"],
        )
    with server as srv:
        yield srv


def test_image_is_labelled_and_runs_as_a_user(image):
    labels = _labels(image)
    assert image.endswith(":" + labels["org.opencontainers.image.version"])
    assert labels["riskserve.model"].startswith("credit_model:")
    commit = labels["org.opencontainers.image.revision"].removesuffix("-dirty")
    assert len(commit) == 40
    known = subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=ROOT)
    assert known.returncode == 0, f"{commit} is not a commit of this repository"
    assert _user(image) not in ("", "root", "0")


def test_container_needs_the_api_key_it_was_given(container, api_key):
    record = valid_records(1, seed=3)[0]
    assert httpx.post(f"{container.url}/predict", json=record, timeout=30).status_code == 401
    answer = httpx.post(
        f"{container.url}/predict", json=record, timeout=30, headers={"X-API-Key": api_key}
    )
    assert answer.status_code == 200, answer.text


def test_container_answers_as_the_source_tree(container, source, image, api_key):
    headers = {"X-API-Key": api_key}
    records = valid_records(20, seed=11)
    for record in records[:5]:
        ours = httpx.post(f"{container.url}/predict", json=record, headers=headers, timeout=30)
        theirs = httpx.post(f"{source.url}/predict", json=record, headers=headers, timeout=30)
        assert ours.status_code == theirs.status_code == 200, ours.text
        assert ours.json() == theirs.json()
    assert ours.json()["model_version"] == _labels(image)["riskserve.model"]

    batch = {"records": records}
    ours = httpx.post(f"{container.url}/predict_batch", json=batch, headers=headers, timeout=30)
    theirs = httpx.post(f"{source.url}/predict_batch", json=batch, headers=headers, timeout=30)
    assert ours.status_code == theirs.status_code == 200, ours.text
    assert ours.json()["results"] == theirs.json()["results"]
    assert ours.json()["model_version"] == theirs.json()["model_version"]
    # The comparison covers more than one kind of answer.
    assert len({r["risk_category"] for r in ours.json()["results"]}) >= 2


def test_container_audits_into_the_pods_log_volume(container, pod_files):
    logs = next(host for host, path in pod_files.items() if path.startswith("/var/log"))
    assert list(logs.glob("audit/audit-*.jsonl")), container.log()[-3000:]


def test_container_exits_by_itself_on_sigterm(image, api_key):
    with Container(image, {"RISKSERVE_API_KEYS": api_key}) as running:
        assert httpx.get(f"{running.url}/livez", timeout=10).status_code == 200
        assert running.stop(), running.log()[-3000:]
