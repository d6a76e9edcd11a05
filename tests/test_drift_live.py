"""Drift computed from the live audit log of a served model, end to end."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx
import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitoring.scenario import SHIFTED, drifted_sample, no_drift_sample
from tests.conftest import CREDIT, ROOT
from tests.server import Server, fire
from training.generators import MERCHANTS, fraud

pytestmark = pytest.mark.slow


def _requests(frame: pd.DataFrame, n: int) -> list[dict]:
    """The first `n` rows that pass the request rules, as JSON-native records."""
    frame = frame[CREDIT.admissible(frame.to_numpy(float))].head(n)
    assert len(frame) == n
    return json.loads(frame.to_json(orient="records"))


def _drift(server: Server, out, *extra: str) -> subprocess.CompletedProcess[str]:
    # No --model-tag and no --current: the server's configuration (and RISKSERVE_MODEL)
    # name the model and the log folder.
    return subprocess.run(
        [sys.executable, "-m", "monitoring.drift", "--out", str(out), *extra],
        cwd=ROOT,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _send(server: Server, records: list[dict], prefix: str) -> None:
    jobs = [("/predict", r, f"{prefix}s{i}") for i, r in enumerate(records[:200])]
    jobs += [
        ("/predict_batch", {"records": records[i : i + 600]}, f"{prefix}b{i}")
        for i in range(200, len(records), 600)
    ]
    assert {status for status, _ in fire(server.url, jobs, concurrency=8)} == {200}


def _report(out) -> dict:
    return json.loads((out / "drift.json").read_text())


def test_drift_from_the_audit_log_of_a_live_service(trained_model, tmp_path):
    with Server.source(tmp_path) as srv:
        _send(srv, _requests(no_drift_sample(6000, 77), 2000), "ordinary-")
        switch = datetime.now(UTC).isoformat()
        _send(srv, _requests(drifted_sample(8000, 5), 2000), "drifted-")

        ordinary = _drift(srv, tmp_path / "ordinary", "--until", switch)
        assert ordinary.returncode == 0, ordinary.stdout + ordinary.stderr
        report = _report(tmp_path / "ordinary")
        assert report["n_current"] == 2000 and report["drifted_features"] == []
        assert report["reference_population"] == "servable"

        result = _drift(srv, tmp_path / "report", "--since", switch)
        assert result.returncode == 1, result.stderr
        report = _report(tmp_path / "report")
        assert report["n_current"] == 2000
        assert report["dataset_drift"] is True
        assert set(SHIFTED) <= set(report["drifted_features"])
        assert (tmp_path / "report" / "drift.html").stat().st_size > 10_000

        later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        empty = _drift(srv, tmp_path / "none", "--since", later)
        assert empty.returncode == 2
        assert "Traceback" not in empty.stderr and empty.stderr.strip()


def _transactions(n: int, seed: int, online_share: float | None = None) -> list[dict]:
    """Fraud requests from the training generator; optionally re-drawn merchant shares."""
    frame = fraud(n, seed).drop(columns="is_fraud")
    if online_share is not None:
        rng = np.random.default_rng([seed, 1])
        rest = (1 - online_share) / (len(MERCHANTS) - 1)
        shares = [online_share if m == "online" else rest for m in MERCHANTS]
        frame["merchant_category"] = rng.choice(MERCHANTS, n, p=shares)
    return json.loads(frame.to_json(orient="records"))


def test_category_drift_from_the_audit_log_of_a_live_fraud_service(fraud_server, tmp_path):
    start = datetime.now(UTC).isoformat()
    _send(fraud_server, _transactions(1500, 11), "fraud-ordinary-")
    switch = datetime.now(UTC).isoformat()
    _send(fraud_server, _transactions(1500, 12, online_share=0.6), "fraud-drifted-")

    ordinary = _drift(fraud_server, tmp_path / "ordinary", "--since", start, "--until", switch)
    assert ordinary.returncode == 0, ordinary.stdout + ordinary.stderr
    report = _report(tmp_path / "ordinary")
    assert report["model_version"].startswith("fraud_model:")
    assert report["n_current"] == 1500 and report["drifted_features"] == []
    assert report["notes"] == []  # every feature compared, the category and the bool too
    kinds = {name: r["kind"] for name, r in report["features"].items()}
    assert kinds["merchant_category"] == "category" and kinds["card_present"] == "bool"

    drifted = _drift(fraud_server, tmp_path / "drifted", "--since", switch)
    assert drifted.returncode == 1, drifted.stdout + drifted.stderr
    report = _report(tmp_path / "drifted")
    assert report["n_current"] == 1500
    assert report["drifted_features"] == ["merchant_category"]
    merchant = report["features"]["merchant_category"]
    online = next(row for row in merchant["frequencies"] if row["value"] == "online")
    assert online["reference"] == pytest.approx(0.25, abs=0.02)
    assert online["current"] == pytest.approx(0.6, abs=0.04)
    # The API admits no value the spec does not list.
    assert merchant["unseen"] == {"count": 0, "share": 0.0, "p_value": 1.0}

    # The live gauges compare the same category frequencies (window: 500 ordinary rows
    # and the 1,500 drifted ones); they are refreshed every few seconds, on a request.
    psi = _live_psi(fraud_server, _transactions(1, 13, online_share=0.6)[0])
    assert psi["merchant_category"] > 0.25, psi
    assert psi["card_present"] < 0.1 and psi["transaction_amount"] < 0.1, psi


def _live_psi(server: Server, record: dict) -> dict[str, float]:
    """The server's riskserve_feature_psi gauges once they include the last requests."""
    deadline = time.monotonic() + 30
    psi: dict[str, float] = {}
    while time.monotonic() < deadline:
        assert {status for status, _ in fire(server.url, [("/predict", record, "tick")])} == {200}
        text = httpx.get(f"{server.url}/metrics").text
        psi = {
            sample.labels["feature"]: sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "riskserve_feature_psi"
        }
        if psi.get("merchant_category", 0) > 0.25:
            break
        time.sleep(1)
    return psi
