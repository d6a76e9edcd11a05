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
from tests.test_http import valid_records

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


def _send(server: Server, records: list[dict], prefix: str) -> None:
    jobs = [("/predict", r, f"{prefix}s{i}") for i, r in enumerate(records[:200])]
    jobs += [("/predict_batch", {"records": records[i : i + 600]}, f"{prefix}b{i}")
             for i in range(200, len(records), 600)]
    assert {status for status, _ in fire(server.url, jobs, concurrency=8)} == {200}


def test_drift_from_the_audit_log_of_a_live_service(trained_model, tmp_path):
    with Server.source(tmp_path) as srv:
        _send(srv, valid_records(2000, seed=77), "ordinary-")  # the training population
        switch = datetime.now(UTC).isoformat()
        _send(srv, _servable(2000), "drifted-")

        ordinary = _drift(srv, tmp_path / "ordinary", "--until", switch)
        assert ordinary.returncode == 0, ordinary.stdout + ordinary.stderr
        report = json.loads((tmp_path / "ordinary" / "drift.json").read_text())
        assert report["n_current"] == 2000 and report["drifted_features"] == []
        assert report["reference_population"] == "servable"

        result = _drift(srv, tmp_path / "report", "--since", switch)
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
