"""Live metrics in one process: decision counts and PSI over the rolling window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from prometheus_client import REGISTRY

from riskserve.live_metrics import LiveMetrics
from riskserve.model_entry import read_drift_reference, reference_rows
from tests.cases import CREDIT


def _value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"model": "credit_model", **labels})


@pytest.fixture(scope="module")
def metrics(trained_model) -> LiveMetrics:
    # Prometheus metrics can be registered once per process.
    reference = read_drift_reference(Path(trained_model.path), CREDIT, "servable")
    return LiveMetrics(
        "credit_model",
        ("Low", "Medium", "High"),
        window=1000,
        min_rows=500,
        interval_seconds=1e-9,
        reference=reference,
        feature_names=CREDIT.feature_names,
        roles=("champion", "challenger"),
    )


def _decisions(n: int) -> tuple[np.ndarray, list[str]]:
    """Probabilities and categories of n records scored 0.7 (High)."""
    return np.full(n, 0.7), ["High"] * n


def test_psi_stays_low_for_training_data_and_rises_under_drift(metrics, trained_model):
    rows = reference_rows(Path(trained_model.path), CREDIT, "servable")
    metrics.observe(rows[:400], *_decisions(400))
    assert _value("riskserve_feature_psi", feature="age") is None  # below min_rows
    metrics.observe(rows[400:1400], *_decisions(1000))
    assert _value("riskserve_feature_psi_window_rows") == 1000
    for name in CREDIT.feature_names:
        assert _value("riskserve_feature_psi", feature=name) < 0.1

    drifted = rows[:1000].copy()
    drifted[:, CREDIT.feature_names.index("loan_amount")] += 30000
    metrics.observe(drifted, *_decisions(1000))
    assert _value("riskserve_feature_psi", feature="loan_amount") > 0.25
    assert _value("riskserve_feature_psi", feature="age") < 0.1


def test_window_wraps_around(metrics, trained_model):
    rows = reference_rows(Path(trained_model.path), CREDIT, "servable")
    for start in range(0, 1500, 300):  # chunks that straddle the end of the ring
        metrics.observe(rows[start : start + 300], *_decisions(300))
    assert _value("riskserve_feature_psi_window_rows") == 1000
    assert _value("riskserve_feature_psi", feature="loan_amount") < 0.1


def test_decisions_and_probabilities_counted_by_role(metrics):
    def counts(role: str) -> tuple[float, float]:
        return (
            _value("riskserve_decisions_total", decision="High", role=role) or 0,
            _value("riskserve_probability_count", role=role) or 0,
        )

    before = counts("champion")
    shadow_before = counts("challenger")
    metrics.observe(np.zeros((3, 7)), *_decisions(3))
    assert counts("champion") == (before[0] + 3, before[1] + 3)
    metrics.count(*_decisions(2), role="challenger")
    assert counts("challenger") == (shadow_before[0] + 2, shadow_before[1] + 2)


def test_challenger_errors_exported_from_zero(metrics):
    assert _value("riskserve_challenger_errors_total", reason="timeout") == 0
    metrics.challenger_failed("timeout")
    assert _value("riskserve_challenger_errors_total", reason="timeout") == 1


def test_observe_many_matches_observe_one_by_one():
    from prometheus_client import CollectorRegistry, Histogram

    from riskserve.live_metrics import PROBABILITY_BUCKETS, observe_many

    registry = CollectorRegistry()
    one = Histogram("one", "d", buckets=PROBABILITY_BUCKETS, registry=registry)
    many = Histogram("many", "d", buckets=PROBABILITY_BUCKETS, registry=registry)
    values = np.concatenate(
        [np.random.default_rng(0).random(500), np.array(PROBABILITY_BUCKETS), [0.0, 1.0]]
    )  # edges included
    for v in values:
        one.observe(v)
    observe_many(many, values)

    def samples(name: str) -> list[tuple[str, dict, float]]:
        (metric,) = [m for m in registry.collect() if m.name == name]
        return [
            (s.name.removeprefix(name), s.labels, round(s.value, 9))
            for s in metric.samples
            if not s.name.endswith("_created")
        ]

    assert samples("one") == samples("many")
