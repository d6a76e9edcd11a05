"""Loading a store entry for serving: every failure is one clear line, never a crash."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from riskserve.backends import ONNX_FILE, PIPELINE_FILE
from riskserve.model_entry import (
    REFERENCE_FILE,
    SPEC_FILE,
    ModelUnavailable,
    declare_model,
    load_model,
)
from riskserve.specs import SPECS

CREDIT = SPECS["credit_model"]


def _copy(trained_model, tmp_path: Path):
    """A stand-in store entry: the real files in a folder we may damage."""
    folder = tmp_path / "entry"
    shutil.copytree(trained_model.path, folder)
    return SimpleNamespace(path=str(folder), tag=trained_model.tag, info=trained_model.info)


def _load(stored, backend="onnx", tolerance=1e-4):
    return load_model(stored, "credit_model:latest", CREDIT, backend, tolerance)


@pytest.mark.parametrize("backend", ["onnx", "sklearn"])
def test_loads_verifies_and_describes(trained_model, backend):
    loaded = _load(trained_model, backend)
    assert loaded.tag == str(trained_model.tag)
    assert loaded.backend.name == backend
    assert loaded.info["parity"]["max_abs_diff"] <= 1e-4
    assert loaded.info["parity"]["rows"] == 4000
    assert loaded.info["feature_spec"] == CREDIT.to_json()
    assert loaded.info["metadata"]["metrics"]["roc_auc"] > 0.5


def test_missing_entry_says_how_to_train():
    hint = "not in the model store; train it with `make train`"
    with pytest.raises(ModelUnavailable, match=hint):
        _load(None)


def test_declare_model_only_when_present(trained_model):
    assert declare_model(str(trained_model.tag)) is not None
    assert declare_model("credit_model:doesnotexist") is None


@pytest.mark.parametrize("damaged", [ONNX_FILE, PIPELINE_FILE, REFERENCE_FILE, SPEC_FILE])
def test_corrupt_file_is_one_line(trained_model, tmp_path, damaged):
    stored = _copy(trained_model, tmp_path)
    (Path(stored.path) / damaged).write_bytes(b"\x00garbage\n")
    with pytest.raises(ModelUnavailable) as info:
        _load(stored)
    assert "\n" not in str(info.value)
    assert "unreadable" in str(info.value) or "different feature spec" in str(info.value)


@pytest.mark.parametrize("removed", [ONNX_FILE, PIPELINE_FILE, REFERENCE_FILE, SPEC_FILE])
def test_missing_file_is_one_line(trained_model, tmp_path, removed):
    stored = _copy(trained_model, tmp_path)
    (Path(stored.path) / removed).unlink()
    with pytest.raises(ModelUnavailable, match=rf"unreadable \(.*{removed}"):
        _load(stored)


def test_spec_drift_between_code_and_model_is_refused(trained_model, tmp_path):
    stored = _copy(trained_model, tmp_path)
    spec_file = Path(stored.path) / SPEC_FILE
    spec = json.loads(spec_file.read_text())
    spec["features"][0]["le"] = 99
    spec_file.write_text(json.dumps(spec))
    with pytest.raises(ModelUnavailable, match="different feature spec"):
        _load(stored)


def test_parity_failure_keeps_the_model_unready(trained_model):
    expected = r"differ by [0-9.e-]+ on the reference sample \(tolerance 1e-15\)"
    with pytest.raises(ModelUnavailable, match=expected):
        _load(trained_model, tolerance=1e-15)
