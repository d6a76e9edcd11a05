"""The scoring path: validated records in, decisions out, every decision audited.

One `Scorer` answers every scoring route. Where the champion's probabilities come from
is a `ModelSource`: the model loaded in this process, or the runner service behind
BentoML's adaptive batching (configuration's `layout`). A configured challenger
(riskserve.challenger) scores in this process either way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel

from riskserve.audit import AuditLog
from riskserve.challenger import Challenger
from riskserve.columns import Rows
from riskserve.decisions import Policy
from riskserve.errors import ErrorResponse
from riskserve.live_metrics import CHALLENGER, CHAMPION, LiveMetrics
from riskserve.model_entry import LoadedModel
from riskserve.reasons import Explainer
from riskserve.scores import score_rows
from riskserve.settings import Settings
from riskserve.spec import ModelSpec

logger = logging.getLogger("riskserve")

ENDPOINTS = ("predict", "predict_batch")  # the scoring endpoints (audited)


class ModelSource(Protocol):
    """Where probabilities come from."""

    async def info(self) -> dict[str, Any]:
        """The served model's description, or `{"problem": why}` when there is none."""
        ...

    async def probabilities(self, features: np.ndarray, whole_batch: bool) -> np.ndarray:
        """Class probabilities [rows, classes] for the rows."""
        ...


class LocalModel:
    """The model in this process: no hop, no queue; best for models this cheap."""

    def __init__(self, loaded: LoadedModel | None, problem: str) -> None:
        self.loaded, self.problem = loaded, problem

    async def info(self) -> dict[str, Any]:
        return self.loaded.info if self.loaded else {"problem": self.problem}

    async def probabilities(self, features: np.ndarray, whole_batch: bool) -> np.ndarray:
        assert self.loaded is not None
        return self.loaded.backend.predict_proba(features)


class RunnerModel:
    """The runner service: concurrent single records are merged into micro-batches."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self._info: dict[str, Any] | None = None

    async def info(self) -> dict[str, Any]:
        # The runner serves one model for its lifetime, so its info is kept once loaded.
        if self._info is not None:
            return self._info
        info = await self.runner.to_async.info()
        if "problem" not in info:
            self._info = info
        return info

    async def probabilities(self, features: np.ndarray, whole_batch: bool) -> np.ndarray:
        # A batch that arrived whole skips the batching queue (which may split or shed it).
        method = self.runner.to_async.score_many if whole_batch else self.runner.to_async.score
        return np.asarray(await method(features))


class Scorer:
    """Scores validated records, builds the answer and audits it before it is sent."""

    def __init__(
        self,
        spec: ModelSpec,
        policy: Policy,
        settings: Settings,
        source: ModelSource,
        audit: AuditLog,
        metrics: LiveMetrics,
        challenger: Challenger | None = None,
        explainer: Explainer | None = None,
    ) -> None:
        self.spec, self.policy, self.settings, self.source = spec, policy, settings, source
        self.audit, self.metrics = audit, metrics
        self.challenger, self.explainer = challenger, explainer
        # The request header holding the routing key, lower case (None: the request id).
        self.routing_header = challenger.routing_header if challenger else None

    async def model_info(self) -> dict[str, Any]:
        """The served model's description, or a 503 saying why there is none."""
        info = await self.source.info()
        if "problem" in info:
            raise ErrorResponse(503, {"error": "model not ready", "detail": info["problem"]})
        return info

    async def describe(self) -> dict[str, Any]:
        """`model_info`: the served model and the decision settings applied to it."""
        settings = self.settings
        return {
            **await self.model_info(),
            "layout": settings.layout,
            "decision": self.policy.describe(),
            "max_batch_records": settings.max_batch_records,
            "challenger": self.challenger.describe() if self.challenger else None,
        }

    async def score(
        self,
        endpoint: str,
        records: Rows | Sequence[BaseModel],
        request_id: str,
        started: float,
        key: str | None = None,
    ) -> dict[str, Any]:
        """The answer for `endpoint` (one of ENDPOINTS, or another name for the batch form,
        e.g. the Open Inference Protocol's); audited before it returns.

        `key` routes the request to the champion or the challenger (default: the request
        id). In split mode a routed request is answered by the challenger, or by the
        champion if the challenger fails; in shadow mode the champion answers and the
        challenger's score rides along in the audit line. `records` are the contract's
        validated rows, or Pydantic records (BentoML's typed methods, in-process callers).
        """
        info = await self.model_info()
        rows = records if isinstance(records, Rows) else Rows.of(self.spec, records)
        features = rows.matrix
        challenger = self.challenger
        route = challenger.route(key or request_id) if challenger else None
        scores = challenger.score(features) if challenger and route == "split" else None
        if scores is None:
            probabilities = await self.source.probabilities(features, endpoint != "predict")
            scores, version, role = score_rows(self.policy, probabilities), info["tag"], CHAMPION
        else:
            version, role = challenger.tag, CHALLENGER
        shadow = challenger.score(features) if challenger and route == "shadow" else None
        decisions = scores.answers()
        explainer = self.explainer if role == CHAMPION else challenger.explainer
        if explainer is not None:
            settings = self.settings
            reasons = scores.reasons(explainer, features, settings.reasons, settings.max_reasons)
            for decision, row_reasons in zip(decisions, reasons, strict=True):
                decision["reasons"] = row_reasons
        latency_ms = (time.perf_counter() - started) * 1000
        self.audit.write(
            request_id=request_id,
            model_version=version,
            endpoint=endpoint,
            records=rows.records,
            probabilities=scores.scored.tolist(),
            decisions=decisions,
            latency_ms=latency_ms,
            role=role,
            challenger=challenger.audit_entries(shadow) if challenger and shadow else None,
        )
        self.metrics.observe(features, scores.scored, scores.labels, role)
        if shadow:
            self.metrics.count(shadow.scored, shadow.labels, CHALLENGER)
        if endpoint == "predict":
            return {**decisions[0], "model_version": version}
        return {"results": decisions, "model_version": version, "latency_ms": latency_ms}
