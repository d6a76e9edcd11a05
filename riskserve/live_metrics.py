"""Service metrics for Prometheus: what the model decides, and how live inputs drift.

Created inside each worker, after BentoML has set `PROMETHEUS_MULTIPROC_DIR`, so the
values land in BentoML's multiprocess collection and `/metrics` on the API port
aggregates every worker (this is what the deprecated `bentoml.metrics` module does).
Live PSI is computed over a rolling window of recent requests against the reference
deciles stored with the model, so an alert can fire before the nightly drift report.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import numpy as np

from riskserve.psi import bin_fractions, psi

PROBABILITY_BUCKETS = tuple(round(0.05 * i, 2) for i in range(1, 21))
# The `role` label: the configured model, and the challenger scored beside it.
CHAMPION, CHALLENGER = "champion", "challenger"
# Why a challenger was switched off (the `reason` of riskserve_challenger_errors_total).
CHALLENGER_FAILURES = ("load", "error", "timeout")


def observe_many(histogram: Any, values: np.ndarray) -> None:
    """`histogram.observe(v)` for every value, with one increment per bucket.

    A batch of 1,000 records observed one by one costs ~2 ms (two multiprocess-file
    writes each); this does the same arithmetic as prometheus_client's `observe` (a
    value goes to the first bucket whose upper bound it does not exceed) on its
    per-bucket values, which a test checks against `observe` itself.
    """
    if len(values) == 1:  # one /predict: NumPy's set-up would cost 7x the observation
        histogram.observe(float(values[0]))
        return
    bounds = np.asarray(histogram._upper_bounds)
    counts = np.bincount(np.searchsorted(bounds, values, side="left"), minlength=len(bounds))
    histogram._sum.inc(float(np.sum(values)))
    for bucket, count in zip(histogram._buckets, counts.tolist(), strict=False):
        if count:
            bucket.inc(count)


class LiveMetrics:
    """Prometheus metrics of one API worker."""

    def __init__(
        self,
        model: str,
        decisions: tuple[str, ...],
        window: int,
        min_rows: int,
        interval_seconds: float,
        reference: dict[str, Any] | None,
        feature_names: list[str],
        roles: tuple[str, ...] = (CHAMPION,),
    ) -> None:
        import prometheus_client as prom  # after PROMETHEUS_MULTIPROC_DIR is set

        self.model = model
        histogram = prom.Histogram(
            "riskserve_probability",
            "Scored probability: of the positive class (binary), of the predicted class "
            "(multiclass), by the role of the model that scored it.",
            ["model", "role"],
            buckets=PROBABILITY_BUCKETS,
        )
        counter = prom.Counter(
            "riskserve_decisions",
            "Scored records by decision and by the role of the model that decided.",
            ["model", "role", "decision"],
        )
        self._probability = {role: histogram.labels(model, role) for role in roles}
        self._decisions = {
            role: {label: counter.labels(model, role, label) for label in decisions}
            for role in roles
        }
        errors = prom.Counter(
            "riskserve_challenger_errors",
            "Challenger failures, each of which switched it off until restart.",
            ["model", "reason"],
        )
        # Every reason exported from the start (at 0), so alerts see a counter that exists.
        self._challenger_errors = {r: errors.labels(model, r) for r in CHALLENGER_FAILURES}
        self._model_info = prom.Gauge(
            "riskserve_model_info",
            "1 for each model version (and backend) this worker serves, by role.",
            ["model", "model_version", "backend", "role"],
            multiprocess_mode="max",
        )
        self._psi = prom.Gauge(
            "riskserve_feature_psi",
            "PSI of each feature over the recent-request window vs the training reference.",
            ["model", "feature"],
            multiprocess_mode="max",
        )
        self._window_rows = prom.Gauge(
            "riskserve_feature_psi_window_rows",
            "Rows in the window the live PSI was computed on.",
            ["model"],
            multiprocess_mode="max",
        )
        self._features = feature_names
        self._reference = reference
        self._window = np.empty((window, len(feature_names)))
        self._filled = 0
        self._next = 0
        self._min_rows = min_rows
        self._interval = interval_seconds
        self._due = time.monotonic() + interval_seconds
        self._lock = threading.Lock()

    def serving(self, model_version: str, backend: str, role: str = CHAMPION) -> None:
        """Record which model version this worker serves in a role."""
        self._model_info.labels(self.model, model_version, backend, role).set(1)

    def challenger_failed(self, reason: str) -> None:
        """Count a challenger failure (one of CHALLENGER_FAILURES)."""
        self._challenger_errors[reason].inc()

    def count(self, probabilities: np.ndarray, labels: list[str], role: str) -> None:
        """Count one model's probabilities and decisions."""
        observe_many(self._probability[role], probabilities)
        decisions = self._decisions[role]
        for label, n in Counter(labels).items():
            decisions[label].inc(n)

    def observe(
        self,
        features: np.ndarray,
        probabilities: np.ndarray,
        labels: list[str],
        role: str = CHAMPION,
    ) -> None:
        """Count the answered decisions, keep the rows for live PSI, refresh PSI when due."""
        self.count(probabilities, labels, role)
        if self._reference is None:
            return
        with self._lock:
            self._remember(features)
            if self._filled >= self._min_rows and time.monotonic() >= self._due:
                self._due = time.monotonic() + self._interval
                self._publish_psi()

    def _remember(self, features: np.ndarray) -> None:
        size = len(self._window)
        rows = features[-size:]
        end = self._next + len(rows)
        if end <= size:
            self._window[self._next : end] = rows
        else:
            split = size - self._next
            self._window[self._next :] = rows[:split]
            self._window[: end - size] = rows[split:]
        self._next = end % size
        self._filled = min(size, self._filled + len(rows))

    def _publish_psi(self) -> None:
        assert self._reference is not None
        window = self._window[: self._filled]
        for i, name in enumerate(self._features):
            ref = self._reference[name]
            value = psi(np.asarray(ref["fractions"]), bin_fractions(window[:, i], ref["edges"]))
            self._psi.labels(self.model, name).set(value)
        self._window_rows.labels(self.model).set(self._filled)
