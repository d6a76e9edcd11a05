"""The challenger's pure parts: routing, the family check, isolation, the comparison."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pandas as pd
import pytest

from monitoring.compare_models import agreement, compare, read_outcomes, read_pairs
from riskserve.audit import AuditLog
from riskserve.challenger import ROUTING_BUCKETS, Challenger, bucket, family_mismatch
from riskserve.decisions import Policy
from riskserve.model_entry import LoadedModel
from riskserve.scores import score_rows
from riskserve.settings import Challenger as ChallengerConfig
from riskserve.settings import load_settings
from tests.cases import CREDIT, EXAMPLE, FRAUD, record

SETTINGS = load_settings()


def _settings(**challenger):
    config = {"model_tag": "credit_model:v2", "mode": "split", "percent": 10, **challenger}
    return SETTINGS.model_copy(update={"challenger": ChallengerConfig(**config)})


class FakeMetrics:
    """What the challenger tells the metrics, without a Prometheus registry."""

    def __init__(self):
        self.failures, self.served = [], []

    def challenger_failed(self, reason):
        self.failures.append(reason)

    def serving(self, version, backend, role):
        self.served.append((version, role))


@dataclasses.dataclass
class FakeBackend:
    name = "onnx"
    p: float = 0.2
    delay: float = 0.0
    fail: bool = False

    def predict_proba(self, features):
        busy_until = time.thread_time() + self.delay
        while time.thread_time() < busy_until:  # CPU, as a slow model spends it
            pass
        if self.fail:
            raise RuntimeError("the graph broke\nsecond line")
        return np.tile([1 - self.p, self.p], (len(features), 1))


def _challenger(backend, **config):
    loaded = LoadedModel("credit_model:v2", CREDIT, backend, {"parity": {"max_abs_diff": 0}})
    metrics = FakeMetrics()
    return Challenger(_settings(**config), loaded, metrics), metrics


def test_routing_hash_is_stable_and_splits_ten_percent_of_ten_thousand_keys():
    salt = b"credit_model:v2"
    keys = [f"APP-{i:06d}".encode() for i in range(10_000)]
    buckets = [bucket(k, salt) for k in keys]
    assert buckets == [bucket(k, salt) for k in keys]  # the same key, the same bucket
    assert all(0 <= b < ROUTING_BUCKETS for b in buckets)
    share = sum(b < 1000 for b in buckets) / len(keys)
    assert 0.08 <= share <= 0.12, share
    # A pinned value: the bucket may never change between releases (keys would move).
    assert bucket(b"APP-000001", salt) == 3652
    other = [bucket(k, b"credit_model:v3") for k in keys]
    assert other != buckets  # another experiment draws its own keys


def test_route_follows_percent_and_mode():
    split, _ = _challenger(FakeBackend(), percent=10)
    routed = [split.route(f"key-{i}") for i in range(5000)]
    assert set(routed) == {None, "split"}
    assert [split.route(f"key-{i}") for i in range(5000)] == routed
    shadow, _ = _challenger(FakeBackend(), mode="shadow", percent=100)
    assert all(shadow.route(f"key-{i}") == "shadow" for i in range(1000))
    none, _ = _challenger(FakeBackend(), percent=0)
    assert not any(none.route(f"key-{i}") for i in range(1000))


def test_family_mismatch_names_what_differs():
    assert family_mismatch(CREDIT, CREDIT) == ""
    reworded = CREDIT.model_copy(update={"description": "Another text."})
    assert family_mismatch(CREDIT, reworded) == ""
    assert family_mismatch(CREDIT, FRAUD) == "different name"
    renamed = FRAUD.model_copy(update={"name": "credit_model"})
    assert family_mismatch(CREDIT, renamed) == "different features"
    moved = CREDIT.decision.model_copy(update={"threshold": 0.4})
    assert family_mismatch(CREDIT, CREDIT.model_copy(update={"decision": moved})) == (
        "different answers"
    )


@pytest.mark.parametrize(
    ("backend", "reason"),
    [
        (FakeBackend(fail=True), "error"),
        (FakeBackend(delay=0.06), "timeout"),
    ],
)
def test_a_failing_challenger_is_switched_off_once_and_counted(backend, reason):
    challenger, metrics = _challenger(backend, mode="shadow", percent=100)
    assert challenger.score(np.zeros((1, 7))) is None
    assert metrics.failures == [reason]
    assert challenger.describe()["state"] == "off"
    assert challenger.problem.startswith(reason) and "\n" not in challenger.problem
    assert challenger.route("any") is None  # off until restart: never called again


def test_a_challenger_that_did_not_load_is_off_from_the_start():
    metrics = FakeMetrics()
    challenger = Challenger(_settings(), None, metrics, "model credit_model:v2 is not in the store")
    assert metrics.failures == ["load"] and challenger.route("k") is None
    assert challenger.describe()["problem"] == "load: model credit_model:v2 is not in the store"


def _shadow_log(tmp_path, n: int) -> None:
    """Audit lines as a shadow run writes them: the challenger scores a little higher."""
    policy = Policy(CREDIT)
    rng = np.random.default_rng(3)
    p = rng.uniform(0.01, 0.9, n)
    q = np.clip(p + rng.normal(0.03, 0.02, n), 0, 1)
    challenger, _ = _challenger(FakeBackend())
    log = AuditLog(tmp_path, CREDIT, 10**8, policy.cutoffs)
    for i in range(n):
        decided = score_rows(policy, np.array([[1 - p[i], p[i]]]))
        shadow = score_rows(policy, np.array([[1 - q[i], q[i]]]))
        log.write(
            request_id=f"r{i}",
            model_version="credit_model:v1",
            endpoint="predict",
            records=[record(age=20 + i % 60)],
            probabilities=decided.scored.tolist(),
            decisions=decided.answers(),
            latency_ms=0.1,
            role="champion",
            challenger=challenger.audit_entries(shadow),
        )
    log.close()


def test_comparison_metrics_from_a_shadow_audit_log(tmp_path):
    _shadow_log(tmp_path, 2000)
    pairs, notes = read_pairs(tmp_path)
    assert len(pairs) == 2000 and "0 lines without" in notes[0]
    outcomes_file = tmp_path / "outcomes.csv"
    y = (np.random.default_rng(5).uniform(size=2000) < pairs["p_champion"]).astype(int)
    pd.DataFrame(
        {"request_id": pairs["request_id"], "outcome": y, "observed_at": "2026-12-01"}
    ).to_csv(outcomes_file, index=False)
    result = compare(pairs, CREDIT, read_outcomes(outcomes_file))
    overall = result["overall"]
    assert overall["n"] == 2000 and overall["pearson"] > 0.99
    assert 0.02 < overall["mean_abs_delta"] < 0.05 < overall["p99_abs_delta"]
    counts = np.array(overall["swap_matrix"]["counts"])
    assert counts.sum() == 2000 and np.tril(counts, -1).sum() < 20  # scores only rose
    assert overall["swap_rate"] == pytest.approx(1 - np.trace(counts) / 2000)
    assert overall["approval_rate_difference"] < 0  # fewer Low decisions
    ages = result["segments"]["age"]
    assert sum(s["n"] for s in ages) == 2000 and len(ages) == 4
    assert result["outcomes"]["n"] == 2000
    assert result["outcomes"]["champion"]["auc"] > 0.7
    assert len(result["outcomes"]["challenger"]["calibration"]) == 10


def test_agreement_of_identical_models():
    p = np.linspace(0.01, 0.99, 101)
    labels = ["Low" if x < 0.3 else "Medium" if x < 0.6 else "High" for x in p]
    same = agreement(p, p, labels, labels, ["Low", "Medium", "High"])
    assert same["swap_rate"] == 0 and same["psi"] == 0 and same["p99_abs_delta"] == 0
    assert same["pearson"] == pytest.approx(1) and same["approval_rate_difference"] == 0


def test_unpaired_log_is_bad_input(tmp_path):
    from monitoring.current import BadInput

    log = AuditLog(tmp_path, CREDIT, 10**6, {})
    log.write(
        request_id="r",
        model_version="credit_model:v1",
        endpoint="predict",
        records=[EXAMPLE],
        probabilities=[0.1],
        decisions=[{"risk_category": "Low"}],
        latency_ms=0.1,
        role="champion",
    )
    with pytest.raises(BadInput, match="shadow mode"):
        read_pairs(tmp_path)
