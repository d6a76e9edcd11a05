"""Outcome backtesting: simulated outcomes joined to an audit log of the credit model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest

from monitoring.backtest import main
from riskserve.decisions import Policy
from riskserve.model_entry import REFERENCE_PROBABILITIES_FILE
from riskserve.scores import score_rows
from tests.cases import CREDIT
from tests.commands import make

MONTHS = ("2026-01-15T10:00:00+00:00", "2026-02-15T10:00:00+00:00", "2026-03-15T10:00:00+00:00")


@pytest.fixture(scope="module")
def audit(trained_model, tmp_path_factory):
    """3,000 audited decisions of the credit model over three months, and their
    probabilities (the model's own, for the reference sample)."""
    p = np.load(Path(trained_model.path) / REFERENCE_PROBABILITIES_FILE)[:3000, 1]
    labels = score_rows(Policy(CREDIT), np.column_stack([1 - p, p])).labels
    folder = tmp_path_factory.mktemp("audit") / "audit"
    folder.mkdir()
    lines = [
        orjson.dumps(
            {
                "timestamp": MONTHS[i % 3],
                "request_id": f"r{i}",
                "model_version": str(trained_model.tag),
                "endpoint": "predict",
                "index": 0,
                "features": {},
                "probability": float(q),
                "decision": {"risk_category": label},
            }
        )
        for i, (q, label) in enumerate(zip(p, labels, strict=True))
    ]
    # A batch: one request id on two records, which an outcome cannot be joined to.
    lines += [
        orjson.dumps(
            {
                "timestamp": MONTHS[0],
                "request_id": "batch",
                "index": i,
                "model_version": str(trained_model.tag),
                "probability": 0.2,
                "decision": {"risk_category": "Low"},
            }
        )
        for i in range(2)
    ]
    (folder / "audit-host-1.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    return folder, p


def run(
    tmp_path: Path,
    trained_model,
    outcomes: pd.DataFrame,
    audit_folder: Path,
    name: str = "outcomes.csv",
) -> tuple[int, dict]:
    path = tmp_path / name
    if name.endswith(".parquet"):
        outcomes.to_parquet(path)
    else:
        outcomes.to_csv(path, index=False)
    out = tmp_path / "report"
    status = main(
        [
            "--outcomes",
            str(path),
            "--audit",
            str(audit_folder),
            "--out",
            str(out),
            "--model-tag",
            str(trained_model.tag),
        ]
    )
    report = out / "backtest.json"
    return status, json.loads(report.read_text()) if report.exists() else {}


def outcomes_for(p: np.ndarray, seed: int) -> pd.DataFrame:
    drawn = np.random.default_rng(seed).random(len(p)) < p
    return pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(len(p))],
            "outcome": drawn.astype(int),
            "observed_at": "2026-09-01T00:00:00+00:00",
        }
    )


def test_outcomes_from_the_models_own_probabilities_raise_no_alert(trained_model, audit, tmp_path):
    folder, p = audit
    outcomes = outcomes_for(p, seed=1)
    extra = pd.DataFrame(
        {
            "request_id": ["nobody", "r5", "batch"],
            "outcome": [1, 0, 1],
            "observed_at": "2026-09-01T00:00:00+00:00",
        }
    )
    status, report = run(
        tmp_path, trained_model, pd.concat([outcomes, extra]), folder, "outcomes.parquet"
    )
    assert status == 0, report.get("alerts")
    counts = report["counts"]
    assert counts["unmatched_outcomes"] == 1
    assert counts["duplicate_outcome_ids"] == 1 and counts["outcomes_of_duplicate_ids"] == 2
    assert counts["duplicate_audit_ids"] == 1
    assert counts["matched"] == 2999 and counts["decisions_awaiting_outcome"] == 0
    assert set(report["months"]) == {"2026-01", "2026-02", "2026-03"}
    assert sum(m["rows"] for m in report["months"].values()) == 2999
    assert report["overall"]["calibration_error"] < 0.03
    assert set(report["overall"]["bands"]) == {"Low", "Medium", "High"}
    assert report["training"]["roc_auc"] == pytest.approx(
        trained_model.info.metadata["metrics"]["roc_auc"]
    )
    assert report["median_days_to_outcome"] == pytest.approx(197 + 14 / 24)  # Feb 15 10:00 to Sep 1
    page = (tmp_path / "report" / "backtest.html").read_text()
    assert "No alert" in page and page.count("data:image/png;base64,") == 2


def test_outcomes_of_a_shifted_process_raise_the_alert(trained_model, audit, tmp_path):
    folder, p = audit
    worse = outcomes_for(np.clip(p * 2.5, 0, 1), seed=2)  # twice and a half the defaults
    status, report = run(tmp_path, trained_model, worse, folder)
    assert status == 1 and any("calibration error" in a for a in report["alerts"])
    unrelated = outcomes_for(np.full_like(p, p.mean()), seed=3)  # the score says nothing
    status, report = run(tmp_path, trained_model, unrelated, folder)
    assert status == 1 and any("ROC AUC" in a for a in report["alerts"])
    assert "Alert" in (tmp_path / "report" / "backtest.html").read_text()


@pytest.mark.parametrize(
    ("outcomes", "message"),
    [
        (pd.DataFrame({"id": ["r1"], "outcome": [1]}), "missing columns ['request_id']"),
        (pd.DataFrame({"request_id": ["r1", "r2"], "outcome": [1, "maybe"]}), "0/1"),
        (pd.DataFrame({"request_id": ["x1", "x2"], "outcome": [1, 0]}), "0 outcomes match"),
    ],
)
def test_bad_input_exits_2_with_one_line(trained_model, audit, tmp_path, capsys, outcomes, message):
    status, _ = run(tmp_path, trained_model, outcomes, audit[0])
    assert status == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_make_backtest_reports_the_commands_status(trained_model, audit, tmp_path):
    path = tmp_path / "outcomes.csv"
    outcomes_for(audit[1], seed=4).to_csv(path, index=False)
    result = make(
        "backtest",
        OUTCOMES=str(path),
        AUDIT=str(audit[0]),
        OUT=str(tmp_path / "out"),
        MODEL=str(trained_model.tag),
    )
    assert result.returncode == 0, result.stderr
    assert "no alert" in result.stdout and (tmp_path / "out" / "backtest.html").exists()
