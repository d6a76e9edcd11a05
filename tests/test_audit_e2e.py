"""Nothing answered is lost: thousands of concurrent requests, SIGTERM, then the audit log."""

from __future__ import annotations

import httpx
import pytest

from tests.cases import EXAMPLE
from tests.server import Server, fire
from tests.test_http import valid_records

pytestmark = pytest.mark.slow

SINGLES, BATCHES, BATCH_SIZE = 2000, 20, 100


def _jobs(records: list[dict]) -> list[tuple[str, str, list[dict], object]]:
    """(request id, path, records sent, body): singles first, then batches."""
    jobs = [(f"s{i}", "/predict", [r], r) for i, r in enumerate(records[:SINGLES])]
    for b in range(BATCHES):
        chunk = records[SINGLES + b * BATCH_SIZE : SINGLES + (b + 1) * BATCH_SIZE]
        jobs.append((f"b{b}", "/predict_batch", chunk, {"records": chunk}))
    return jobs


@pytest.mark.parametrize("layout", ["inprocess", "runner"])
def test_every_answered_record_is_audited_exactly_once(trained_model, tmp_path, layout):
    records = valid_records(SINGLES + BATCHES * BATCH_SIZE, seed=99)
    with Server.source(tmp_path, layout=layout) as srv:
        jobs = _jobs(records)
        answers = fire(srv.url, [(path, body, rid) for rid, path, _, body in jobs])
        srv.stop()  # SIGTERM, then the audit files are read
        audit = srv.audit_records()

    assert {status for status, _ in answers} == {200}
    by_key = {}
    for line in audit:
        key = (line["request_id"], line["index"])
        assert key not in by_key, f"audited twice: {key}"
        by_key[key] = line
    assert len(by_key) == SINGLES + BATCHES * BATCH_SIZE

    for (rid, _, sent, _), (_, body) in zip(jobs, answers, strict=True):
        scored = [body] if rid.startswith("s") else body["results"]
        for index, (features, answer) in enumerate(zip(sent, scored, strict=True)):
            line = by_key[(rid, index)]
            assert line["features"] == features
            assert line["probability"] == answer["probability_of_default"]
            assert line["decision"]["risk_category"] == answer["risk_category"]
            assert line["decision"]["prediction"] == answer["prediction"]
            assert line["model_version"] == str(trained_model.tag)
            assert line["endpoint"] == ("predict" if rid.startswith("s") else "predict_batch")


def test_unwritable_audit_folder_keeps_the_service_unready(trained_model, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with Server.source(tmp_path, log_dir=str(blocker), wait_ready=False) as srv:
        assert httpx.get(f"{srv.url}/readyz").status_code == 503
        response = httpx.post(f"{srv.url}/predict", json=EXAMPLE, timeout=30)
        assert response.status_code == 503
        log = srv.log()
    assert "audit log" in log and "not writable" in log
    assert "Traceback" not in log
