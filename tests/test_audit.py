"""The audit log: one line per scored record, redaction, rotation, refusal when unwritable."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from riskserve.audit import AUDIT_KEY_ENV, AuditLog, AuditUnavailable
from tests.cases import CREDIT, EXAMPLE, record

CUTOFFS = {"threshold": 0.5, "Low": 0.3, "Medium": 0.6}


def _write(log: AuditLog, records: list[dict], request_id: str = "r1") -> None:
    log.write(
        request_id=request_id,
        model_version="credit_model:v1",
        endpoint="predict_batch",
        records=records,
        probabilities=[0.1] * len(records),
        decisions=[{"prediction": 0, "probability_of_default": 0.1, "risk_category": "Low"}]
        * len(records),
        latency_ms=1.5,
        role="champion",
    )


def _lines(folder: Path) -> list[dict]:
    return [
        orjson.loads(line)
        for path in sorted(folder.iterdir())
        for line in path.read_bytes().splitlines()
    ]


def test_one_line_per_record_with_everything_needed(tmp_path):
    log = AuditLog(tmp_path, CREDIT, max_bytes=10**6, cutoffs=CUTOFFS)
    _write(log, [EXAMPLE, record(age=50)])
    log.close()
    first, second = _lines(tmp_path)
    assert first["features"] == EXAMPLE and second["features"]["age"] == 50
    assert (first["index"], second["index"]) == (0, 1)
    assert first["request_id"] == "r1" and first["model_version"] == "credit_model:v1"
    assert first["probability"] == 0.1 and first["decision"]["risk_category"] == "Low"
    assert first["latency_ms"] == 1.5 and first["timestamp"].endswith("+00:00")
    assert first["cutoffs"] == CUTOFFS
    assert first["role"] == "champion" and first["challenger"] is None


def test_rotates_by_size_and_keeps_every_line(tmp_path):
    log = AuditLog(tmp_path, CREDIT, max_bytes=2000, cutoffs=CUTOFFS)
    for i in range(20):
        _write(log, [EXAMPLE], request_id=f"r{i}")
    log.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) > 3 and all(n.startswith(log.path.name) for n in names)
    assert sorted(line["request_id"] for line in _lines(tmp_path)) == sorted(
        f"r{i}" for i in range(20)
    )


def test_reopening_continues_the_rotation_count(tmp_path):
    log = AuditLog(tmp_path, CREDIT, max_bytes=500, cutoffs=CUTOFFS)
    _write(log, [EXAMPLE])
    log.close()
    again = AuditLog(tmp_path, CREDIT, max_bytes=500, cutoffs=CUTOFFS)
    _write(again, [EXAMPLE])
    again.close()
    assert len(_lines(tmp_path)) == 2  # the second rotation did not overwrite the first


@pytest.mark.parametrize("key", ["", "s3cret"])
def test_sensitive_features_are_hashed(tmp_path, monkeypatch, key):
    monkeypatch.setenv(AUDIT_KEY_ENV, key)
    income = next(f for f in CREDIT.features if f.name == "annual_income")
    features = tuple(
        f.model_copy(update={"sensitive": True}) if f is income else f for f in CREDIT.features
    )
    spec = CREDIT.model_copy(update={"features": features})
    log = AuditLog(tmp_path, spec, max_bytes=10**6, cutoffs=CUTOFFS)
    _write(log, [EXAMPLE, EXAMPLE, record(annual_income=1)])
    log.close()
    a, b, c = (line["features"] for line in _lines(tmp_path))
    assert a["annual_income"].startswith("sha256:") and "55000" not in a["annual_income"]
    assert a["annual_income"] == b["annual_income"] != c["annual_income"]  # joinable
    assert a["age"] == EXAMPLE["age"]


def test_keyed_and_plain_hashes_differ(tmp_path, monkeypatch):
    log = AuditLog(tmp_path, CREDIT, max_bytes=10**6, cutoffs=CUTOFFS)
    plain = log._redact(55000)
    monkeypatch.setenv(AUDIT_KEY_ENV, "k")
    assert AuditLog(tmp_path, CREDIT, max_bytes=10**6, cutoffs=CUTOFFS)._redact(55000) != plain


def test_unwritable_folder_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(AuditUnavailable, match="not writable"):
        AuditLog(blocker / "audit", CREDIT, max_bytes=1000, cutoffs=CUTOFFS)


def test_lines_reach_the_file_without_close(tmp_path):
    # Written with os.write: a process killed after answering has already handed the
    # bytes to the OS, so nothing answered sits in a Python buffer.
    log = AuditLog(tmp_path, CREDIT, max_bytes=10**6, cutoffs=CUTOFFS)
    _write(log, [EXAMPLE])
    assert os.path.getsize(log.path) > 0
    assert len(_lines(tmp_path)) == 1
