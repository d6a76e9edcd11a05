"""Champion and challenger end to end: real servers, real HTTP, the audit log, the report."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import orjson
import pandas as pd
import pytest

from riskserve.backends import ONNX_FILE
from riskserve.inference_protocol import inference_request
from tests.cases import CREDIT, EXAMPLE
from tests.conftest import ROOT
from tests.server import Server, fire
from tests.test_http import valid_records

pytestmark = pytest.mark.slow
KEY = "X-Application-ID"


def post(server, path: str, **kwargs) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", timeout=30, **kwargs)


def test_shadow_answers_are_the_champions_and_every_line_has_both(
    trained_model, second_version, tmp_path
):
    first, second = str(trained_model.tag), str(second_version.tag)
    records = valid_records(200, seed=51)
    (tmp_path / "plain").mkdir()
    (tmp_path / "shadow").mkdir()
    shadow = {"model_tag": second, "mode": "shadow"}
    with (
        Server.source(tmp_path / "plain", model_tag=first) as plain,
        Server.source(tmp_path / "shadow", model_tag=first, challenger=shadow) as srv,
    ):
        for i, item in enumerate(records):
            headers = {"x-request-id": f"s{i}"}
            alone = post(plain, "/predict", json=item, headers=headers)
            beside = post(srv, "/predict", json=item, headers=headers)
            assert alone.status_code == beside.status_code == 200
            assert beside.content == alone.content  # byte for byte
        batch = {"records": records[:50]}
        alone = post(plain, "/predict_batch", json=batch).json()
        beside = post(srv, "/predict_batch", json=batch).json()
        assert beside["results"] == alone["results"]
        assert beside["model_version"] == first
        info = post(srv, "/model_info").json()["challenger"]
        srv.stop()
        audit = srv.audit_records()

    assert info["tag"] == second and info["mode"] == "shadow" and info["percent"] == 100
    assert info["state"] == "on" and info["problem"] is None
    assert len(audit) == len(records) + 50
    for line in audit:
        assert line["role"] == "champion" and line["model_version"] == first
        assert line["challenger"]["model_version"] == second
        assert 0 <= line["challenger"]["probability"] <= 1
        assert line["challenger"]["decision"]["risk_category"] in {"Low", "Medium", "High"}

    # The comparison report from that shadow run, with outcomes for the single records.
    outcomes = tmp_path / "outcomes.csv"
    pd.DataFrame(
        {
            "request_id": [f"s{i}" for i in range(len(records))],
            "outcome": [i % 5 == 0 for i in range(len(records))],
            "observed_at": "2026-12-01T00:00:00Z",
        }
    ).astype({"outcome": int}).to_csv(outcomes, index=False)
    out = tmp_path / "compare"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitoring.compare_models",
            "--audit",
            str(tmp_path / "shadow" / "logs"),
            "--outcomes",
            str(outcomes),
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = orjson.loads((out / "compare.json").read_bytes())
    assert report["champion"] == first and report["challenger"] == second
    assert report["overall"]["n"] == len(audit)
    assert report["outcomes"]["n"] == len(records)
    assert report["outcomes"]["champion"]["auc"] is not None
    assert "<h1>Champion vs challenger</h1>" in (out / "compare.html").read_text()


def test_split_sends_ten_percent_of_keys_and_each_key_always_to_the_same_model(
    trained_model, second_version, tmp_path
):
    first, second = str(trained_model.tag), str(second_version.tag)
    split = {"model_tag": second, "mode": "split", "percent": 10, "key_header": KEY}
    item = valid_records(1, seed=52)[0]
    jobs = [("/predict", item, f"a{i}", {KEY: f"APP-{i}"}) for i in range(10_000)]
    with Server.source(tmp_path, model_tag=first, challenger=split) as srv:
        answers = fire(srv.url, jobs, concurrency=16)
        again = fire(
            srv.url,
            [("/predict", item, f"b{i}", {KEY: f"APP-{i}"}) for i in range(2000)],
            concurrency=16,
        )
        v2 = [
            post(
                srv,
                "/v2/models/credit_model/infer",
                json=inference_request(CREDIT, [item]),
                headers={KEY: f"APP-{i}"},
            ).json()["model_version"]
            for i in range(40)
        ]
        srv.stop()
        audit = srv.audit_records()

    assert {status for status, _ in answers + again} == {200}
    versions = [body["model_version"] for _, body in answers]
    # The Open Inference Protocol's requests are routed by the same key.
    assert v2 == [v.partition(":")[2] for v in versions[:40]] and len(set(v2)) == 2
    share = Counter(versions)[second] / len(versions)
    assert 0.08 <= share <= 0.12, share
    assert set(versions) == {first, second}
    assert [body["model_version"] for _, body in again] == versions[:2000]
    roles = {line["request_id"]: (line["role"], line["model_version"]) for line in audit}
    for i, version in enumerate(versions):
        assert roles[f"a{i}"] == ("challenger" if version == second else "champion", version)


def test_corrupt_challenger_leaves_the_champion_serving_and_ready(
    trained_model, second_version, tmp_path
):
    home = tmp_path / "home"
    shutil.copytree(Path(trained_model.path).parent.parent.parent, home, symlinks=True)
    entry = home / "models" / "credit_model" / second_version.tag.version
    (entry / ONNX_FILE).write_bytes(b"not an onnx graph")
    first = str(trained_model.tag)
    shadow = {"model_tag": str(second_version.tag), "mode": "shadow"}
    env = {"BENTOML_HOME": str(home)}
    with Server.source(tmp_path, model_tag=first, challenger=shadow, env=env) as srv:
        assert httpx.get(f"{srv.url}/readyz").status_code == 200
        answer = post(srv, "/predict", json=EXAMPLE)
        assert answer.status_code == 200 and answer.json()["model_version"] == first
        info = post(srv, "/model_info").json()["challenger"]
        metrics = httpx.get(f"{srv.url}/metrics").text
        srv.stop()
        log, audit = srv.log(), srv.audit_records()
    assert info["state"] == "off" and "unreadable" in info["problem"]
    assert re.search(r'riskserve_challenger_errors_total\{[^}]*reason="load"\} 1\.0', metrics)
    assert log.count("switched off until restart") == 1 and "Traceback" not in log
    assert [line["challenger"] for line in audit] == [None]


def test_challenger_of_another_family_keeps_the_service_unready(
    trained_model, fraud_model, tmp_path
):
    fraud = {"model_tag": str(fraud_model.tag), "mode": "shadow"}
    with Server.source(
        tmp_path, model_tag=str(trained_model.tag), challenger=fraud, wait_ready=False
    ) as srv:
        time.sleep(2)
        assert httpx.get(f"{srv.url}/readyz").status_code == 503
        answer = post(srv, "/predict", json=EXAMPLE)
        assert srv.proc.poll() is None
        log = srv.log()
    assert answer.status_code == 503
    assert "is not a version of credit_model" in answer.json()["detail"]
    assert log.count("riskserve not ready") == 1 and "Traceback" not in log
