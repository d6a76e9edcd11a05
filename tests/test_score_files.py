"""Scoring files: the API's answers row for row, rejects with the rule, manifest, statuses."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import types
from pathlib import Path

import pandas as pd
import pyarrow.csv as pa_csv
import pytest

from benchmarks.portfolio import KEY, portfolio_chunk
from riskserve.audit import AuditLog
from riskserve.batch import find_model
from riskserve.contract import record_model
from riskserve.model_entry import load_model
from riskserve.score_files import main
from riskserve.scoring import LocalModel, Scorer
from riskserve.settings import load_settings
from tests.cases import CREDIT

STORE = Path(os.environ["BENTOML_HOME"]) / "models"


@pytest.fixture(scope="module")
def portfolio(trained_model, tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """2,000 applicants (every 100th with age 17) as Parquet."""
    frame = portfolio_chunk(CREDIT, 2000, seed=5, first_id=10_000, bad_every=100)
    path = tmp_path_factory.mktemp("portfolio") / "applicants.parquet"
    frame.to_parquet(path)
    return path, frame


def score(source: Path, output: Path, *args: str) -> int:
    return main(["--input", str(source), "--output", str(output), "--store", str(STORE), *args])


def rejects_of(output: Path) -> pd.DataFrame:
    return pa_csv.read_csv(output.with_name(f"{output.stem}.rejects.csv")).to_pandas()


def api_answers(trained_model, records: list[dict]) -> dict:
    """What `/predict_batch` answers, from the API's own scorer (in this process)."""
    settings = load_settings()
    loaded = load_model(trained_model, str(trained_model.tag), "onnx", settings.parity_tolerance)
    model = find_model(str(trained_model.tag), STORE, settings)
    audit = AuditLog(Path(os.environ["BENTOML_HOME"]) / "audit", CREDIT, 1 << 30, {})
    metrics = types.SimpleNamespace(observe=lambda *_: None)
    scorer = Scorer(
        CREDIT,
        model.policy,
        settings,
        LocalModel(loaded, ""),
        audit,
        metrics,
        explainer=model.explainer,
    )
    valid = [record_model(CREDIT).model_validate(r) for r in records]
    return asyncio.run(scorer.score("predict_batch", valid, "test", 0.0))


def test_scored_rows_are_the_apis_answers_and_rejects_name_the_rule(
    portfolio, trained_model, tmp_path, capsys
):
    source, frame = portfolio
    output = tmp_path / "scores.parquet"
    assert score(source, output, "--key", KEY) == 1  # some rows were rejected
    scored = pd.read_parquet(output)
    bad = frame[frame.age == 17]
    assert len(scored) == len(frame) - len(bad) and set(scored[KEY]).isdisjoint(bad[KEY])
    assert list(scored.columns) == [
        KEY,
        "prediction",
        "probability_of_default",
        "risk_category",
        "reasons",
        "model_version",
    ]
    good = frame[frame.age != 17]
    api = api_answers(trained_model, good[CREDIT.feature_names].to_dict(orient="records"))
    scored["reasons"] = scored.reasons.map(json.loads)
    assert scored.drop(columns=[KEY, "model_version"]).to_dict(orient="records") == api["results"]
    assert scored.reasons.map(len).gt(0).sum() == (scored.risk_category != "Low").sum() > 0
    assert set(scored.model_version) == {api["model_version"]}
    rejects = rejects_of(output)
    assert rejects[KEY].unique().tolist() == bad[KEY].tolist()
    # Age 17 breaks its bound and, with any history, the cross-field rule: one line each.
    assert set(zip(rejects.field, rejects.rule, strict=True)) == {
        ("age", "18 <= age <= 120"),
        ("credit_history_length", "credit_history_length <= age - 18"),
    }
    assert "scored 1,980 of 2,000 rows (20 rejected)" in capsys.readouterr().out


def test_manifest_records_the_run(portfolio, trained_model, tmp_path):
    source, _ = portfolio
    output = tmp_path / "scores.parquet"
    score(source, output, "--key", KEY)
    manifest = json.loads(output.with_name("scores.manifest.json").read_text())
    assert manifest["input"]["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert manifest["input"]["bytes"] == source.stat().st_size
    assert manifest["rows"] == {"read": 2000, "scored": 1980, "rejected": 20}
    assert manifest["model"] == str(trained_model.tag)
    assert manifest["decision"]["cutoffs"] == {"threshold": 0.5, "Low": 0.3, "Medium": 0.6}
    assert manifest["duration_s"] > 0 and manifest["started"].endswith("+00:00")
    assert manifest["exit_status"] == 1 and manifest["key"] == KEY


def test_chunks_formats_and_folders_give_the_same_rows(portfolio, tmp_path):
    source, frame = portfolio
    whole = tmp_path / "whole.parquet"
    score(source, whole)
    folder = tmp_path / "in"
    folder.mkdir()
    frame.iloc[:700].to_csv(folder / "part-1.csv", index=False)
    frame.iloc[700:].to_csv(folder / "part-2.csv", index=False)
    parts = tmp_path / "parts.parquet"
    assert score(folder, parts, "--chunk-rows", "333") == 1
    pd.testing.assert_frame_equal(pd.read_parquet(parts), pd.read_parquet(whole))
    assert rejects_of(parts).equals(rejects_of(whole))
    assert rejects_of(whole)["row"].unique().tolist() == list(range(99, 2000, 100))


def test_all_rows_valid_is_status_0_with_an_empty_rejects_file(portfolio, tmp_path):
    _, frame = portfolio
    clean = tmp_path / "clean.parquet"
    frame[frame.age != 17].to_parquet(clean)
    output = tmp_path / "scores.parquet"
    assert score(clean, output) == 0
    assert rejects_of(output).empty and len(pd.read_parquet(output)) == 1980


def test_text_in_number_columns_is_rejected_not_fatal(portfolio, tmp_path):
    _, frame = portfolio
    text = frame.head(10).astype({"loan_amount": object})
    text.loc[text.index[3], "loan_amount"] = "lots"
    path = tmp_path / "text.csv"
    text.to_csv(path, index=False)
    output = tmp_path / "scores.parquet"
    assert score(path, output, "--key", KEY) == 1
    (reject,) = rejects_of(output).to_dict(orient="records")
    assert reject["field"] == "loan_amount" and "number" in reject["rule"]


@pytest.mark.parametrize(
    ("make_input", "args", "message"),
    [
        (lambda d: d / "missing.parquet", [], "no such file"),
        (lambda d: _write(d / "notes.txt", "x"), [], ".csv or .parquet"),
        (lambda d: _write(d / "few.csv", "age,loan_amount\n30,100\n"), [], "no column"),
        (lambda d: _write(d / "broken.parquet", "not parquet"), [], "cannot read"),
        (lambda d: _write(d / "ok.csv", "age\n1\n"), ["--model", "nope"], "not in the model"),
    ],
)
def test_bad_input_is_status_2_in_one_line_and_keeps_old_outputs(
    trained_model, tmp_path, capsys, make_input, args, message
):
    output = tmp_path / "scores.parquet"
    output.write_bytes(b"previous run")
    assert score(make_input(tmp_path), output, *args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert output.read_bytes() == b"previous run"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_fault_of_the_job_is_status_3_with_its_traceback(
    portfolio, tmp_path, capsys, monkeypatch
):
    def broken(*_):
        raise RuntimeError("a bug")

    monkeypatch.setattr("riskserve.score_files.score_frame", broken)
    assert score(portfolio[0], tmp_path / "scores.parquet") == 3
    assert "Traceback" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # neither outputs nor temporary files
