"""configuration.yaml: validation, risk bands and BentoML's per-service section."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from pydantic import ValidationError

from riskserve.settings import RiskBands, config_path, load_settings, parse_settings


@pytest.mark.parametrize(("p", "category"), [
    (0.0, "Low"), (0.2999, "Low"), (0.3, "Medium"),
    (0.5999, "Medium"), (0.6, "High"), (1.0, "High"),
])
def test_risk_bands(p, category):
    assert RiskBands(low_below=0.3, medium_below=0.6).categories(np.array([p])) == [category]


def test_risk_bands_vectorised_in_order():
    bands = RiskBands(low_below=0.3, medium_below=0.6)
    assert bands.categories(np.array([0.9, 0.1, 0.45])) == ["High", "Low", "Medium"]


def test_risk_bands_must_be_ordered():
    with pytest.raises(ValidationError, match="low_below must be below"):
        RiskBands(low_below=0.6, medium_below=0.3)


def test_shipped_configuration_is_valid():
    settings = load_settings()
    assert settings.model_tag == "credit_model:latest"
    assert settings.backend == "onnx"
    assert settings.log_dir.is_absolute()
    runner = settings.service_config("CreditRunner")
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
