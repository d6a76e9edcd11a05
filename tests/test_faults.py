"""Faults: broken model files, a runner killed under load, SIGTERM under load."""

from __future__ import annotations

import shutil
import signal
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from riskserve.backends import ONNX_FILE
from tests.cases import EXAMPLE
from tests.server import Server, fire
from tests.test_http import valid_records

pytestmark = pytest.mark.slow


def test_corrupt_model_file_is_unready_not_a_crash_loop(trained_model, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(Path(trained_model.path).parent.parent.parent, home, symlinks=True)
    store_entry = home / "models" / "credit_model" / trained_model.tag.version
    (store_entry / ONNX_FILE).write_bytes(b"not an onnx graph")
    (home / "models" / "credit_model" / "latest").write_text(trained_model.tag.version)
    with Server.source(tmp_path, env={"BENTOML_HOME": str(home)}, wait_ready=False) as srv:
        time.sleep(3)  # long enough for a crash loop to show
        assert httpx.get(f"{srv.url}/livez").status_code == 200
        assert httpx.get(f"{srv.url}/readyz").status_code == 503
        response = httpx.post(f"{srv.url}/predict", json=EXAMPLE, timeout=30)
        assert response.status_code == 503
        assert "unreadable" in response.json()["detail"]
        assert httpx.get(f"{srv.url}/v2/health/live").status_code == 200
        for path in ("/v2/health/ready", "/v2/models/credit_model/ready"):
            unready = httpx.get(f"{srv.url}{path}")
            assert unready.status_code == 503 and "unreadable" in unready.json()["error"]
        assert srv.proc.poll() is None
        log = srv.log()
    assert log.count("riskserve not ready") == 1  # loaded once: no restarts
    assert "Traceback" not in log


def _answered_and_audited(answers, jobs, audit) -> int:
    """Every 200 answer has its audit line; returns how many there were."""
    audited = {line["request_id"] for line in audit}
    answered = [job[2] for job, (status, _) in zip(jobs, answers, strict=True) if status == 200]
    assert set(answered) <= audited
    return len(answered)


def _runner_pids(srv: Server) -> set[int]:
    return {
        p.pid
        for p in psutil.Process(srv.proc.pid).children(recursive=True)
        if "RiskRunner" in " ".join(p.cmdline())
    }


def test_runner_killed_under_load_recovers_by_itself(trained_model, tmp_path):
    jobs = [("/predict", r, f"k{i}") for i, r in enumerate(valid_records(1500, seed=41))]
    with Server.source(tmp_path, layout="runner") as srv:
        (victim,) = _runner_pids(srv)
        answers: list = []
        load = threading.Thread(target=lambda: answers.extend(fire(srv.url, jobs, 8)))
        load.start()
        time.sleep(1.5)
        psutil.Process(victim).send_signal(signal.SIGKILL)
        load.join(timeout=300)

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # the arbiter restarts the runner worker
            if httpx.post(f"{srv.url}/predict", json=EXAMPLE, timeout=30).status_code == 200:
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"no recovery within 90 s:\n{srv.log()[-3000:]}")
        assert _runner_pids(srv) - {victim}, "the runner was not restarted"
        srv.stop()
        audit = srv.audit_records()

    statuses = {status for status, _ in answers}
    assert statuses <= {200, 500, 503}, statuses
    for status, body in answers:
        if status != 200:
            assert body["error"], body  # a JSON error body, never a bare 5xx
    assert _answered_and_audited(answers, jobs, audit) > 0


def test_sigterm_under_load_finishes_what_it_answers(trained_model, tmp_path):
    jobs = [("/predict", r, f"t{i}") for i, r in enumerate(valid_records(4000, seed=43))]
    with Server.source(tmp_path) as srv:
        answers: list = []
        load = threading.Thread(target=lambda: answers.extend(fire(srv.url, jobs, 16)))
        load.start()
        time.sleep(1.5)
        srv.proc.send_signal(signal.SIGTERM)
        load.join(timeout=300)
        srv.proc.wait(timeout=60)
        audit = srv.audit_records()

    statuses = {status for status, _ in answers}
    assert statuses <= {200, 0}, statuses  # answered, or refused after shutdown: no 5xx
    answered = _answered_and_audited(answers, jobs, audit)
    assert answered > 0
    assert len(audit) == answered  # nothing audited that was not answered
