"""Model versions in production: promote a version, serve it, roll back."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import orjson
import pytest

from riskserve.settings import parse_settings
from tests.cases import EXAMPLE
from tests.conftest import ROOT
from tests.server import Server, write_config
from training.promote import PromotionError, main, promote, rollback

pytestmark = pytest.mark.slow


def _served_version(config) -> str:
    with Server("service:RiskAPI", ROOT, config=config) as srv:
        return httpx.post(f"{srv.url}/predict", json=EXAMPLE, timeout=30).json()["model_version"]


def test_promote_serve_and_roll_back(trained_model, second_version, tmp_path):
    config = write_config(tmp_path, model_tag="credit_model:latest")
    comments_before = [line for line in config.read_text().splitlines() if "#" in line]
    first, second = str(trained_model.tag), str(second_version.tag)

    assert promote(first, config) == first
    assert parse_settings(config).model_tag == first
    assert _served_version(config) == first

    assert promote(second, config) == second
    assert _served_version(config) == second

    assert rollback(config) == first
    assert _served_version(config) == first
    assert [line for line in config.read_text().splitlines() if "#" in line] == comments_before


def test_rollback_to_what_was_served_before_the_first_promotion(
    trained_model, second_version, tmp_path
):
    config = write_config(tmp_path, model_tag=str(second_version.tag))
    promote(str(trained_model.tag), config)
    assert rollback(config) == str(second_version.tag)


def test_unknown_tag_and_nothing_to_roll_back(tmp_path):
    config = write_config(tmp_path, model_tag="credit_model:latest")
    with pytest.raises(PromotionError, match="not in the model store"):
        promote("credit_model:doesnotexist", config)
    result = subprocess.run(
        [sys.executable, "-m", "training.promote", "--rollback"],
        cwd=ROOT,
        env={**os.environ, "RISKSERVE_CONFIG": str(config)},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "error: no earlier champion of credit_model to roll back to"


def test_promote_the_challenger_then_roll_back(
    trained_model, second_version, tmp_path, monkeypatch
):
    first, second = str(trained_model.tag), str(second_version.tag)
    challenger = {
        "model_tag": second,
        "mode": "split",
        "percent": 10,
        "key_header": "X-Application-ID",
    }
    config = write_config(tmp_path, model_tag=first, challenger=challenger)
    (tmp_path / "plain").mkdir()
    with pytest.raises(PromotionError, match="no challenger"):
        promote(None, write_config(tmp_path / "plain", model_tag=first))
    comments_before = [line for line in config.read_text().splitlines() if "#" in line]

    monkeypatch.setenv("RISKSERVE_CONFIG", str(config))
    assert main([]) == 0  # `make promote` with no TAG
    settings = parse_settings(config)
    assert settings.model_tag == second and settings.challenger is None
    assert [line for line in config.read_text().splitlines() if "#" in line] == comments_before
    history = orjson.loads(config.with_name("configuration.champions.json").read_bytes())
    assert history["credit_model"][-1]["from_challenger"]["mode"] == "split"

    assert main(["--rollback"]) == 0  # `make rollback`
    settings = parse_settings(config)
    assert settings.model_tag == first and settings.challenger is None  # not restored
