"""configuration.yaml: validation, the served model and BentoML's per-service section."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from riskserve.settings import MODEL_ENV, config_path, load_settings, parse_settings


def test_shipped_configuration_is_valid():
    settings = load_settings()
    assert settings.model_tag == "credit_model:latest"
    assert settings.backend == "onnx"
    assert settings.log_dir.is_absolute()
    runner = settings.service_config("RiskRunner")
    assert runner["runner_connection"]["max_requests"] >= 10**6


def _write(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load(config_path().read_text())
    mutate(data)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_unknown_key_is_an_error(tmp_path):
    path = _write(tmp_path, lambda d: d["riskserve"].update(modle_tag="x"))
    with pytest.raises(ValidationError, match="modle_tag"):
        parse_settings(path)


def test_missing_key_is_an_error(tmp_path):
    path = _write(tmp_path, lambda d: d["riskserve"].pop("backend"))
    with pytest.raises(ValidationError, match="backend"):
        parse_settings(path)


def test_unknown_backend_is_an_error(tmp_path):
    path = _write(tmp_path, lambda d: d["riskserve"].update(backend="tensorrt"))
    with pytest.raises(ValidationError, match="backend"):
        parse_settings(path)


def test_relative_log_dir_resolves_against_the_file(tmp_path):
    path = _write(tmp_path, lambda d: d["riskserve"].update(log_dir="here"))
    assert parse_settings(path).log_dir == tmp_path / "here"


@pytest.mark.parametrize(
    ("value", "tag"), [("fraud_model", "fraud_model:latest"), ("iris_model:abc", "iris_model:abc")]
)
def test_model_env_selects_the_served_model(monkeypatch, value, tag):
    monkeypatch.setenv(MODEL_ENV, value)
    load_settings.cache_clear()
    try:
        assert load_settings().model_tag == tag
    finally:
        monkeypatch.delenv(MODEL_ENV)
        load_settings.cache_clear()
    assert load_settings().model_tag == "credit_model:latest"
