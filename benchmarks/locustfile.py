"""Locust load test for a running riskserve, for your own capacity checks.

From the project root (so `riskserve` and `benchmarks` import):

    .venv/bin/python -m locust -f benchmarks/locustfile.py --host http://127.0.0.1:3000
    .venv/bin/python -m locust -f benchmarks/locustfile.py --host http://127.0.0.1:3000 \\
        --headless --users 16 --spawn-rate 16 --run-time 30s --tags single

Each simulated client sends requests back to back. Tasks and weights: the SPEC example on
/predict (2), a random valid record on /predict (7), a /predict_batch of
LOCUST_BATCH_SIZE random valid records (1, default 100). Tags `single` and `batch`
select one kind.
"""

from __future__ import annotations

import os
import random
from typing import Any

from locust import FastHttpUser, tag, task

from benchmarks import payloads

BATCH_SIZE = int(os.environ.get("LOCUST_BATCH_SIZE", 100))


class RiskUser(FastHttpUser):
    """One API client scoring applications."""

    def on_start(self) -> None:
        """Each user draws its own records."""
        self.rng = random.Random()

    @tag("single")
    @task(2)
    def predict_example(self) -> None:
        """The SPEC example, always the same answer."""
        self._post("/predict", payloads.EXAMPLE)

    @tag("single")
    @task(7)
    def predict_random(self) -> None:
        """A different valid applicant each time."""
        self._post("/predict", payloads.random_record(self.rng))

    @tag("batch")
    @task(1)
    def predict_batch(self) -> None:
        """A batch of valid applicants."""
        records = [payloads.random_record(self.rng) for _ in range(BATCH_SIZE)]
        self._post("/predict_batch", {"records": records})

    def _post(self, path: str, body: dict[str, Any]) -> None:
        with self.client.post(path, json=body, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:200]}")
