"""Startup without a model, and the built bento served from outside the source tree."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from benchmarks.servers import BENTOML
from tests.cases import EXAMPLE, FRAUD
from tests.conftest import ROOT
from tests.server import Server

pytestmark = pytest.mark.slow


def test_missing_model_starts_unready_with_one_clear_line(tmp_path):
    empty_home = tmp_path / "empty_home"
    empty_home.mkdir()
    env = {"BENTOML_HOME": str(empty_home)}
    with Server.source(tmp_path, env=env, wait_ready=False) as srv:
        assert httpx.get(f"{srv.url}/livez").status_code == 200
        assert httpx.get(f"{srv.url}/readyz").status_code == 503
        response = httpx.post(f"{srv.url}/predict", json=EXAMPLE, timeout=30)
        assert response.status_code == 503
        assert "train it with `make train SPEC=<spec.yaml>`" in response.json()["detail"]
        log = srv.log()
    assert log.count("is not in the model store; train it with `make train") == 1
    assert "Traceback" not in log


def build_bento(env: dict[str, str] | None = None) -> str:
    """`make bento`'s command; returns the new bento's tag."""
    built = subprocess.run(
        [sys.executable, "-m", "deploy.bento"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        env={**os.environ, **(env or {})},
    )
    return built.stdout.strip().splitlines()[-1]


def test_built_bento_serves_outside_the_source_tree(trained_model, tmp_path):
    tag = build_bento()
    assert tag.startswith("riskserve:")
    listing = subprocess.run(
        [BENTOML, "get", tag, "-o", "json"], capture_output=True, text=True, check=True
    ).stdout
    assert str(trained_model.tag) in listing  # the model is packed into the bento

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with Server(tag, cwd=elsewhere) as srv:
        response = httpx.post(f"{srv.url}/predict", json=EXAMPLE, timeout=30)
        assert response.status_code == 200, response.text
        assert response.json()["model_version"] == str(trained_model.tag)
        assert 0 < response.json()["probability_of_default"] < 1
        batch = httpx.post(f"{srv.url}/predict_batch", json={"records": [EXAMPLE]}, timeout=30)
        assert batch.json()["results"][0]["probability_of_default"] == pytest.approx(
            response.json()["probability_of_default"]
        )


def test_bento_of_another_model_serves_it_by_its_pinned_version(fraud_model, tmp_path):
    tag = build_bento({"RISKSERVE_MODEL": "fraud_model"})
    listing = subprocess.run(
        [BENTOML, "get", tag, "-o", "json"], capture_output=True, text=True, check=True
    ).stdout
    assert str(fraud_model.tag) in listing and "credit_model" not in listing
    with Server(tag, cwd=tmp_path) as srv:  # no RISKSERVE_MODEL in the server's environment
        body = httpx.post(f"{srv.url}/predict", json=FRAUD.example, timeout=30).json()
    assert body["model_version"] == str(fraud_model.tag) and body["decision"] == "approve"
