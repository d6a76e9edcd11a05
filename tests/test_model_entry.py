"""Loading a store entry for serving: every failure is one clear line, never a crash."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from riskserve.backends import ONNX_FILE, PIPELINE_FILE
from riskserve.model_entry import (
    REFERENCE_FILE,
    REFERENCE_PROBABILITIES_FILE,
    SPEC_FILE,
    ModelUnavailable,
    declare_model,
    load_model,
)
from tests.cases import CREDIT


def _copy(trained_model, tmp_path: Path):
    """A stand-in store entry: the real files in a folder we may damage."""
    folder = tmp_path / "entry"
    shutil.copytree(trained_model.path, folder)
    return SimpleNamespace(path=str(folder), tag=trained_model.tag, info=trained_model.info)


def _load(stored, backend="onnx", tolerance=1e-4):
    return load_model(stored, "credit_model:latest", backend, tolerance)


@pytest.mark.parametrize("backend", ["onnx", "sklearn"])
def test_loads_verifies_and_describes(trained_model, backend):
    loaded = _load(trained_model, backend)
    assert loaded.tag == str(trained_model.tag)
    assert loaded.backend.name == backend
    assert loaded.info["parity"]["max_abs_diff"] <= 1e-4
    assert loaded.info["parity"]["rows"] == 4000
    assert loaded.info["spec"] == CREDIT.to_json() and loaded.spec == CREDIT
    assert loaded.info["metadata"]["metrics"]["roc_auc"] > 0.5


def test_missing_entry_says_how_to_train():
    hint = "not in the model store; train it with `make train SPEC=<spec.yaml>`"
    with pytest.raises(ModelUnavailable, match=hint):
        _load(None)


def test_declare_model_only_when_present(trained_model):
    assert declare_model(str(trained_model.tag)) is not None
    assert declare_model("credit_model:doesnotexist") is None


# Every file the served backend reads, by backend.
READ_BY = [
    (backend, name)
    for backend, model_file in (("onnx", ONNX_FILE), ("sklearn", PIPELINE_FILE))
    for name in (model_file, REFERENCE_FILE, REFERENCE_PROBABILITIES_FILE, SPEC_FILE)
]


@pytest.mark.parametrize(("backend", "damaged"), READ_BY)
def test_corrupt_file_is_one_line(trained_model, tmp_path, backend, damaged):
    stored = _copy(trained_model, tmp_path)
    (Path(stored.path) / damaged).write_bytes(b"\x00garbage\n")
    with pytest.raises(ModelUnavailable) as info:
        _load(stored, backend)
    assert "\n" not in str(info.value)
    assert "unreadable" in str(info.value) or "unusable spec.yaml" in str(info.value)


@pytest.mark.parametrize(("backend", "removed"), READ_BY)
def test_missing_file_is_one_line(trained_model, tmp_path, backend, removed):
    stored = _copy(trained_model, tmp_path)
    (Path(stored.path) / removed).unlink()
    with pytest.raises(ModelUnavailable, match=rf"(unreadable|unusable).*{removed}"):
        _load(stored, backend)


def test_onnx_serving_does_not_import_scikit_learn(trained_model):
    code = (
        "import sys, bentoml; from riskserve.model_entry import load_model;"
        f"load_model(bentoml.models.get('{trained_model.tag}'), 't', 'onnx', 1e-4);"
        "print(sorted(m for m in ('sklearn', 'scipy', 'skl2onnx') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_probabilities_the_pipeline_did_not_give_fail_the_check(trained_model, tmp_path):
    stored = _copy(trained_model, tmp_path)
    path = Path(stored.path) / REFERENCE_PROBABILITIES_FILE
    np.save(path, np.load(path) + 0.001)
    with pytest.raises(ModelUnavailable, match=r"onnx backend differs .* by 0\.001"):
        _load(stored)


def test_a_spec_that_no_longer_validates_is_refused_with_its_line(trained_model, tmp_path):
    stored = _copy(trained_model, tmp_path)
    spec_file = Path(stored.path) / SPEC_FILE
    spec_file.write_text(spec_file.read_text().replace("le: 120", "le: many"))
    with pytest.raises(
        ModelUnavailable,
        match=r"unusable spec.yaml \(.*spec.yaml:\d+: "
        r"features\[0\].le: Input should be a valid number",
    ):
        _load(stored)


def test_parity_failure_keeps_the_model_unready(trained_model):
    expected = r"differs from the training pipeline by [0-9.e-]+ on the reference sample"
    with pytest.raises(ModelUnavailable, match=expected):
        _load(trained_model, tolerance=1e-15)
