"""Drift computed from the live audit log of a served model, end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from monitoring.scenario import SHIFTED, drifted_sample
from riskserve.specs import SPECS
from tests.conftest import ROOT
from tests.server import Server, fire

pytestmark = pytest.mark.slow
CREDIT = SPECS["credit_model"]


def _servable(n: int) -> list[dict]:
    """SPEC's drifted applicants that also pass the request rules (history <= age - 18)."""
    df = drifted_sample(4 * n, seed=5)
    df = df[df.credit_history_length <= df.age - 18].head(n)
    assert len(df) == n
    return [
        {k: (float(v) if k == "debt_to_income_ratio" else int(v)) for k, v in row.items()}
        for row in df.to_dict(orient="records")
    ]


def _drift(server: Server, out, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitoring.drift", "--out", str(out), *extra],
        cwd=ROOT, env=server.env, capture_output=True, text=True, timeout=300,
    )


def test_drift_from_the_audit_log_of_a_live_service(trained_model, tmp_path):
    records = _servable(2000)
    with Server.source(tmp_path) as srv:
        jobs = [("/predict", r, f"s{i}") for i, r in enumerate(records[:200])]
        jobs += [("/predict_batch", {"records": records[i : i + 600]}, f"b{i}")
                 for i in range(200, 2000, 600)]
        assert {status for status, _ in fire(srv.url, jobs, concurrency=8)} == {200}

        result = _drift(srv, tmp_path / "report")  # --current defaults to the audit log
        assert result.returncode == 1, result.stderr
        report = json.loads((tmp_path / "report" / "drift.json").read_text())
        assert report["n_current"] == 2000
        assert report["dataset_drift"] is True
        assert set(SHIFTED) <= set(report["drifted_features"])
        assert (tmp_path / "report" / "drift.html").stat().st_size > 10_000

        later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        empty = _drift(srv, tmp_path / "none", "--since", later)
        assert empty.returncode == 2
        assert "Traceback" not in empty.stderr and empty.stderr.strip()
