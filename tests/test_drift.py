"""Drift detection: SPEC section 4's scenario, the inputs, the reports and the exit status."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from monitoring.compare import compare
from monitoring.drift import main
from monitoring.scenario import SHIFTED, drifted_sample, no_drift_sample
from riskserve.model_entry import (
    DRIFT_REFERENCE_FILE,
    drift_profile,
    read_drift_reference,
    read_reference,
    reference_rows,
)
from riskserve.settings import PROJECT_ROOT
from tests.conftest import CREDIT

UNCHANGED = {"credit_history_length", "num_open_accounts"}
FEATURE_KEYS = {"kind", "psi", "psi_band", "test", "statistic", "p_value", "drift"}


@pytest.fixture(scope="module")
def stored(trained_model):
    """The trained entry's reference columns and its stored PSI bins."""
    folder = Path(trained_model.path)
    reference = dict(zip(CREDIT.feature_names, read_reference(folder, CREDIT).T, strict=True))
    return reference, read_drift_reference(folder, CREDIT, "training")


def _flagged(stored, frame: pd.DataFrame) -> tuple[set[str], dict]:
    reference, bins = stored
    results = compare(CREDIT, reference, {n: frame[n].to_numpy(float) for n in frame}, bins)
    return {name for name, r in results.items() if r["drift"]}, results


def test_training_stores_the_psi_bins(trained_model):
    folder = Path(trained_model.path)
    stored = json.loads((folder / DRIFT_REFERENCE_FILE).read_text())
    rows = read_reference(folder, CREDIT)
    assert stored["training"] == drift_profile(CREDIT, rows)
    assert stored["servable"] == drift_profile(CREDIT, rows[CREDIT.admissible(rows)])
    training = stored["training"]
    assert len(training["age"]["edges"]) == 9  # a continuous-enough feature keeps all deciles
    assert len(training["num_late_payments"]["edges"]) < 9  # Poisson counts repeat deciles


@pytest.mark.parametrize("population", ["training", "servable"])
def test_older_entries_derive_the_same_bins(trained_model, tmp_path, population):
    folder = tmp_path / "entry"
    shutil.copytree(trained_model.path, folder)
    expected = read_drift_reference(folder, CREDIT, population)
    (folder / DRIFT_REFERENCE_FILE).unlink()
    assert read_drift_reference(folder, CREDIT, population) == expected


def test_servable_reference_holds_only_rows_a_request_could_carry(trained_model):
    rows = reference_rows(Path(trained_model.path), CREDIT, "servable")
    history, age = (CREDIT.feature_names.index(n) for n in ("credit_history_length", "age"))
    assert 0 < len(rows) < len(read_reference(Path(trained_model.path), CREDIT))
    assert (rows[:, history] <= rows[:, age] - 18).all()


# 400 rows take the KS test, 5,000 the normalised Wasserstein distance.
@pytest.mark.parametrize(("rows", "test"), [(400, "ks"), (5000, "wasserstein_norm")])
def test_spec_scenario_flags_exactly_the_five_shifted_features(stored, rows, test):
    flagged, results = _flagged(stored, drifted_sample(rows, seed=7))
    assert flagged == set(SHIFTED)
    assert not flagged & UNCHANGED
    assert {r["test"] for r in results.values()} == {test}
    assert {name: results[name]["psi_band"] for name in UNCHANGED} == dict.fromkeys(
        UNCHANGED, "stable"
    )
    assert results["age"]["psi_band"] == results["loan_amount"]["psi_band"] == "significant"


@pytest.mark.parametrize("rows", [400, 5000])
def test_fresh_training_sample_flags_none(stored, rows):
    flagged, results = _flagged(stored, no_drift_sample(rows, seed=7))
    assert flagged == set()
    assert {r["psi_band"] for r in results.values()} == {"stable"}


def test_exit_status_through_the_command_line(trained_model, tmp_path):
    samples = {"drifted": drifted_sample(400, 7), "no_drift": no_drift_sample(400, 7)}
    for name, frame in samples.items():
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    cases = {1: "drifted.csv", 0: "no_drift.csv", 2: "missing.csv"}
    runs = {
        status: subprocess.Popen(
            [
                sys.executable,
                "-m",
                "monitoring.drift",
                "--model-tag",
                str(trained_model.tag),
                "--current",
                str(tmp_path / name),
                "--out",
                str(tmp_path / f"out{status}"),
            ],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for status, name in cases.items()
    }
    errors = {}
    for status, run in runs.items():
        _, errors[status] = run.communicate(timeout=120)
        assert run.returncode == status, errors[status]
    missing = f"drift: {tmp_path / 'missing.csv'}: no such file or directory"
    assert errors[2].splitlines() == [missing]
    assert json.loads((tmp_path / "out1" / "drift.json").read_text())["dataset_drift"] is True
    assert json.loads((tmp_path / "out0" / "drift.json").read_text())["dataset_drift"] is False
    assert not (tmp_path / "out2").exists()


def _audit_line(frame_row: dict, moment: datetime, tag: str, index: int) -> str:
    features = {**frame_row, "annual_income": "sha256:" + "ab" * 32}  # a hashed feature
    return json.dumps(
        {
            "timestamp": moment.isoformat(),
            "request_id": f"req-{index}",
            "model_version": tag,
            "endpoint": "predict",
            "features": features,
            "probability": 0.12,
            "decision": {"prediction": 0, "risk_category": "Low"},
            "latency_ms": 1.5,
        }
    )


def _servable(sample) -> pd.DataFrame:
    """1,500 rows of a scenario sample that the service would accept."""
    frame = sample(6000, 3)
    return frame[CREDIT.admissible(frame.to_numpy(float))].head(1500)


@pytest.fixture
def audit_log(trained_model, tmp_path) -> Path:
    """A log folder: 1,500 ordinary records from 10:00 (rotated file), 1,500 drifted from 12:00.

    Like a real audit log, it holds only records that pass the request rules.
    """
    audit = tmp_path / "logs" / "audit"
    audit.mkdir(parents=True)
    tag = str(trained_model.tag)
    for name, frame, start in (
        ("requests.jsonl.1", _servable(no_drift_sample), datetime(2026, 11, 21, 10, tzinfo=UTC)),
        ("requests.jsonl", _servable(drifted_sample), datetime(2026, 11, 21, 12, tzinfo=UTC)),
    ):
        rows = json.loads(frame.to_json(orient="records"))
        lines = [_audit_line(r, start + timedelta(seconds=i), tag, i) for i, r in enumerate(rows)]
        (audit / name).write_text("\n".join(lines) + "\n")
    (audit / "notes.txt").write_text("not an audit file\n")
    return audit.parent


@pytest.mark.parametrize(
    ("window", "status", "rows"),
    [
        ([], 1, 3000),
        (["--until", "2026-11-21T11:00:00+00:00"], 0, 1500),
        (["--since", "2026-11-21T13:00:00+01:00", "--until", "2026-11-21T12:04:59"], 1, 300),
    ],
)
def test_audit_log_in_a_time_window(trained_model, audit_log, tmp_path, window, status, rows):
    out = tmp_path / "report"
    args = ["--model-tag", str(trained_model.tag), "--current", str(audit_log), "--out", str(out)]
    assert main([*args, *window]) == status
    report = json.loads((out / "drift.json").read_text())
    assert report["n_current"] == rows
    assert "annual_income" not in report["features"]
    assert any(note.startswith("annual_income: hashed") for note in report["notes"])
    assert report["reference_population"] == "servable"
    if status:  # every shifted feature but the hashed one
        assert {f for f in SHIFTED if f != "annual_income"} <= set(report["drifted_features"])


def test_report_files(trained_model, tmp_path):
    current = tmp_path / "current.parquet"
    drifted_sample(1500, 5).to_parquet(current)
    out = tmp_path / "report"
    assert (
        main(["--model-tag", str(trained_model.tag), "--current", str(current), "--out", str(out)])
        == 1
    )
    report = json.loads((out / "drift.json").read_text())
    assert {"dataset_drift", "drifted_features", "n_reference", "n_current", "features"} <= set(
        report
    )
    assert (report["n_reference"], report["n_current"]) == (4000, 1500)
    assert list(report["features"]) == CREDIT.feature_names
    for name, result in report["features"].items():
        assert set(result) == FEATURE_KEYS
        assert result["kind"] == CREDIT.feature(name).kind
        assert result["p_value"] is None  # 1,500 rows: effect size, not a p-value
    page = (out / "drift.html").read_text()
    assert "Drift detected" in page
    assert page.count("data:image/png;base64,") == len(CREDIT.feature_names)
    assert "http://" not in page and "https://" not in page  # readable offline
    assert sorted(p.name for p in out.iterdir()) == ["drift.html", "drift.json"]


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    """Bad inputs, by case: extra arguments and the message the one stderr line contains."""
    good = no_drift_sample(50, 1)
    good.head(0).to_csv(tmp_path / "empty.csv", index=False)
    good.assign(zip_code=1).to_csv(tmp_path / "extra.csv", index=False)
    good.drop(columns="age").to_csv(tmp_path / "short.csv", index=False)
    good.astype({"age": object}).assign(age=["x", *good.age[1:]]).to_csv(
        tmp_path / "text.csv", index=False
    )
    (tmp_path / "sample.txt").write_text("age\n1\n")
    (tmp_path / "audit").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "audit-host-1.jsonl").write_text('{"timestamp": "2026-11-21"}\n{no')
    good.to_csv(tmp_path / "good.csv", index=False)
    return {
        "missing file": (["--current", str(tmp_path / "nope.csv")], "no such file"),
        "no rows": (["--current", str(tmp_path / "empty.csv")], "no rows"),
        "unknown column": (["--current", str(tmp_path / "extra.csv")], "unknown columns"),
        "missing column": (["--current", str(tmp_path / "short.csv")], "missing feature"),
        "non-numeric": (["--current", str(tmp_path / "text.csv")], "non-numeric value 'x'"),
        "format": (["--current", str(tmp_path / "sample.txt")], "expected a .csv"),
        "empty audit dir": (["--current", str(tmp_path / "audit")], "no audit log files"),
        "broken audit line": (
            ["--current", str(tmp_path / "broken")],
            "audit-host-1.jsonl:1: not an audit record",
        ),
        "bad time": (["--current", str(tmp_path), "--since", "yesterday"], "ISO-8601"),
        "window on a file": (
            ["--current", str(tmp_path / "good.csv"), "--until", "2026-11-21"],
            "only to an audit-log directory",
        ),
        "unknown model": (
            ["--current", str(tmp_path / "good.csv"), "--model-tag", "credit_model:nope"],
            "credit_model:nope",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing file",
        "no rows",
        "unknown column",
        "missing column",
        "non-numeric",
        "format",
        "empty audit dir",
        "broken audit line",
        "bad time",
        "window on a file",
        "unknown model",
    ],
)
def test_bad_input_is_one_line_and_status_2(trained_model, tmp_path, capsys, case):
    extra, message = _bad_inputs(tmp_path)[case]
    args = ["--model-tag", str(trained_model.tag), "--out", str(tmp_path / "out"), *extra]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "out").exists()
