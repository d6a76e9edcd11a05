"""riskserve's BentoML service: typed, validated, audited risk scoring.

`CreditAPI` is the HTTP front: validation, decisions, the audit log, probes and metrics.
Where probabilities come from is configuration's `layout`: `inprocess` scores inside the
API process (fastest for a model this cheap); `runner` sends them to `CreditRunner`,
whose batchable `score` merges concurrent single requests by adaptive micro-batching
(for expensive models). The request schema comes from the feature spec.
"""

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import bentoml
import numpy as np
import orjson
from pydantic import BaseModel, Field
from starlette.responses import Response

from riskserve.access import API_KEYS_ENV, AccessGuard, TokenBuckets, load_key_digests
from riskserve.audit import AuditLog, AuditUnavailable
from riskserve.errors import ErrorResponse
from riskserve.http_layer import ScorerSlot, ScoringHTTP
from riskserve.live_metrics import LiveMetrics
from riskserve.logs import configure_logging
from riskserve.model_entry import declare_model, load_or_explain, read_drift_reference
from riskserve.runtime import tune_gc
from riskserve.scoring import LocalModel, ModelSource, RunnerModel, Scorer
from riskserve.settings import load_settings
from riskserve.specs import spec_for_tag
from riskserve.validation import RecordValidator

configure_logging()
logger = logging.getLogger("riskserve")

settings = load_settings()
SPEC = spec_for_tag(settings.model_tag)
Application = SPEC.request_model()


class Score(BaseModel):
    """The model's decision on one application."""

    prediction: Literal[0, 1] = Field(
        description=f"1 if the applicant is predicted to default "
        f"(probability_of_default >= {settings.decision_threshold}), else 0."
    )
    probability_of_default: float = Field(ge=0, le=1)
    risk_category: Literal["Low", "Medium", "High"] = Field(
        description=f"Low if p < {settings.risk_bands.low_below}, Medium if p < "
        f"{settings.risk_bands.medium_below}, else High."
    )


class Prediction(Score):
    """A scored application and the model version that scored it."""

    model_version: str = Field(description="Model store tag of the model that scored it.")


class BatchPrediction(BaseModel):
    """Scores in request order, the model version and the server-side latency."""

    results: list[Score]
    model_version: str
    latency_ms: float = Field(description="Time spent in the service for this batch.")


@bentoml.service(**settings.service_config("CreditRunner"))
class CreditRunner:
    """Loads and verifies the model once, then scores feature matrices (layout: runner)."""

    model = declare_model(settings.model_tag)

    def __init__(self) -> None:
        self.loaded, self.problem = load_or_explain(self.model, settings, SPEC)

    def __is_ready__(self) -> bool:
        return self.loaded is not None

    @bentoml.api(
        batchable=True,
        max_batch_size=settings.batching.max_batch_size,
        max_latency_ms=settings.batching.max_latency_ms,
    )
    def score(self, features: np.ndarray) -> np.ndarray:
        """Probabilities for a micro-batch of rows merged from concurrent requests."""
        return self._backend().predict_proba(features)

    @bentoml.api
    def score_many(self, features: np.ndarray) -> np.ndarray:
        """Probabilities for a batch that arrived whole (no merging needed)."""
        return self._backend().predict_proba(features)

    @bentoml.api
    def info(self) -> dict[str, Any]:
        """What is loaded (tag, creation time, metrics, spec, backend, parity), or why not."""
        return self.loaded.info if self.loaded else {"problem": self.problem}

    def _backend(self) -> Any:
        if self.loaded is None:
            raise bentoml.exceptions.ServiceUnavailable(f"model not loaded: {self.problem}")
        return self.loaded.backend


scoring = ScorerSlot()


@bentoml.service(**settings.service_config("CreditAPI"))
class CreditAPI:
    """Credit-default scoring: one application or a batch, validated against the spec."""

    model = declare_model(settings.model_tag)
    if settings.layout == "runner":
        runner = bentoml.depends(CreditRunner)

    def __init__(self) -> None:
        self.problem = ""
        if not load_key_digests(settings.security.api_keys_file):
            logger.warning("authentication is off: no API keys configured (%s)", API_KEYS_ENV)
        source: ModelSource
        if settings.layout == "runner":
            source = RunnerModel(self.runner)
        else:
            loaded, self.problem = load_or_explain(self.model, settings, SPEC)
            source = LocalModel(loaded, self.problem)
        try:
            audit = AuditLog(settings.audit_dir, SPEC, settings.audit.max_bytes)
        except AuditUnavailable as exc:
            # Never serve decisions that cannot be audited: stay unready and say why.
            self.problem = f"{exc}; fix the folder's permissions or riskserve.log_dir"
            logger.error("riskserve not ready: %s", self.problem)
            return
        drift_reference = None
        if self.model is not None:
            try:
                drift_reference = read_drift_reference(Path(self.model.path), SPEC, "servable")
            except (OSError, ValueError, KeyError) as exc:
                logger.warning("live PSI off: unreadable drift reference (%s)", exc)
        metrics = LiveMetrics(
            SPEC.name,
            settings.live_psi.window,
            settings.live_psi.min_rows,
            settings.live_psi.interval_seconds,
            drift_reference,
            SPEC.feature_names,
        )
        if self.model is not None:
            metrics.serving(str(self.model.tag), settings.backend)
        scoring.scorer = Scorer(SPEC, settings, source, audit, metrics)
        scoring.validator = RecordValidator(SPEC, settings.max_batch_records)
        tune_gc()

    async def __is_ready__(self) -> bool:
        if scoring.scorer is None:
            return False
        return "problem" not in await scoring.scorer.source.info()

    @bentoml.on_shutdown
    def _flush_audit(self) -> None:
        if scoring.scorer is not None:
            scoring.scorer.audit.close()

    async def _reply(self, produce: Callable[[Scorer], Awaitable[dict[str, Any]]]) -> Response:
        """The JSON answer `produce` gives, or the error it raises (as the lean path does)."""
        try:
            if scoring.scorer is None:
                raise ErrorResponse(503, {"error": "model not ready", "detail": self.problem})
            payload, status = await produce(scoring.scorer), 200
        except ErrorResponse as exc:
            payload, status = exc.body, exc.status
        return Response(orjson.dumps(payload), status, media_type="application/json")

    async def _score(self, endpoint: str, records: list[Any], ctx: bentoml.Context) -> Response:
        state = ctx.request.state  # request id and start time, set by the HTTP layer
        return await self._reply(
            lambda scorer: scorer.score(endpoint, records, state.request_id, state.started)
        )

    @bentoml.api
    async def predict(self, application: Application, /, ctx: bentoml.Context) -> Prediction:  # type: ignore[valid-type]
        """Score one credit application."""
        return await self._score("predict", [application], ctx)

    @bentoml.api
    async def predict_batch(
        self,
        records: Annotated[
            list[Application],  # type: ignore[valid-type]
            Field(min_length=1, max_length=settings.max_batch_records),
        ],
        ctx: bentoml.Context,
    ) -> BatchPrediction:
        """Score up to `max_batch_records` applications in one call, in order."""
        return await self._score("predict_batch", records, ctx)

    @bentoml.api
    async def model_info(self) -> dict[str, Any]:
        """The served model (tag, creation time, metrics, feature spec, backend, parity)
        and the decision settings applied to its probabilities."""
        return await self._reply(lambda scorer: scorer.describe())


def _access_guard() -> AccessGuard:
    security = settings.security
    limit = security.rate_limit
    return AccessGuard(
        load_key_digests(security.api_keys_file),
        security.open_paths(),
        security.open_prefixes(),
        TokenBuckets(limit.requests_per_second, limit.burst) if limit else None,
    )


CreditAPI.add_asgi_middleware(
    ScoringHTTP,
    slot=scoring,
    guard=_access_guard(),
    max_body_bytes=settings.max_body_bytes,
    lean=settings.lean_http,
    log_every_request=settings.request_log == "all",
)
