"""Locust load test for a running riskserve, for your own capacity checks, of any model.

From the project root (so `riskserve` and `benchmarks` import), with the model store the
server was trained into (BENTOML_HOME, default `models_store/`):

    .venv/bin/python -m locust -f benchmarks/locustfile.py --host http://127.0.0.1:3000
    .venv/bin/python -m locust -f benchmarks/locustfile.py --host http://127.0.0.1:3000 \\
        --headless --users 16 --spawn-rate 16 --run-time 30s --tags single

The records follow the served model: each user asks the server's `/model_info` for the
model's tag and spec, and draws records from that model entry's reference sample in the
local store (`benchmarks.payloads`). LOCUST_API_KEY is sent as X-API-Key when the server
requires keys. Each simulated client sends requests back to back. Tasks and weights: the
spec's example on /predict (2), a random valid record on /predict (7), a /predict_batch
of LOCUST_BATCH_SIZE random valid records (1, default 100). Tags `single` and `batch`
select one kind.
"""

from __future__ import annotations

import functools
import json
import os
import random
from typing import Any

from locust import FastHttpUser, tag, task

from benchmarks import payloads
from riskserve.settings import PROJECT_ROOT
from riskserve.spec import parse_spec

BATCH_SIZE = int(os.environ.get("LOCUST_BATCH_SIZE", 100))
API_KEY = os.environ.get("LOCUST_API_KEY")
os.environ.setdefault("BENTOML_HOME", str(PROJECT_ROOT / "models_store"))


@functools.cache
def record_source(model_info: str) -> payloads.RecordSource:
    """The served model's records (one per process, whatever the number of users), from
    `/model_info`'s JSON: the spec the server serves, the reference of its store entry."""
    info = json.loads(model_info)
    spec = parse_spec(json.dumps(info["spec"]), f"/model_info of {info['tag']}")
    return payloads.RecordSource.from_entry(payloads.entry_folder(info["tag"]), spec)


class RiskUser(FastHttpUser):
    """One API client scoring records of the served model."""

    def on_start(self) -> None:
        """Learn the served model, then draw records of one's own."""
        self.headers = {"X-API-Key": API_KEY} if API_KEY else {}
        response = self.client.post("/model_info", json={}, headers=self.headers)
        if response.status_code != 200:
            raise RuntimeError(f"/model_info answered {response.status_code}: {response.text}")
        self.source = record_source(response.text)
        self.example = payloads.example(self.source.spec)
        self.rng = random.Random()

    @tag("single")
    @task(2)
    def predict_example(self) -> None:
        """The spec's example, always the same answer."""
        self._post("/predict", self.example)

    @tag("single")
    @task(7)
    def predict_random(self) -> None:
        """A different valid record each time."""
        self._post("/predict", self.source.record(self.rng))

    @tag("batch")
    @task(1)
    def predict_batch(self) -> None:
        """A batch of valid records."""
        records = [self.source.record(self.rng) for _ in range(BATCH_SIZE)]
        self._post("/predict_batch", {"records": records})

    def _post(self, path: str, body: dict[str, Any]) -> None:
        with self.client.post(
            path, json=body, headers=self.headers, catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:200]}")
