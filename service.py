"""riskserve's BentoML service: typed, validated, audited risk scoring for any spec.

`RiskAPI` is the HTTP front: validation, decisions, the audit log, probes and metrics.
The model it serves is configuration's `model_tag` (or `$RISKSERVE_MODEL`); its request
and response schemas come from the spec stored with that model. Where probabilities come
from is configuration's `layout`: `inprocess` scores inside the API process (fastest for
a model this cheap); `runner` sends them to `RiskRunner`, whose batchable `score` merges
concurrent single requests by adaptive micro-batching (for expensive models). A
configured challenger is loaded beside the champion in `RiskAPI` (riskserve.challenger).
"""

import logging
from pathlib import Path
from typing import Annotated, Any

import bentoml
import numpy as np
import orjson
from pydantic import Field
from starlette.responses import Response

from riskserve.access import API_KEYS_ENV, AccessGuard, TokenBuckets, load_key_digests
from riskserve.audit import AuditLog, AuditUnavailable
from riskserve.challenger import Challenger, FamilyMismatch, open_challenger
from riskserve.contract import Contract
from riskserve.decisions import Policy, PolicyError
from riskserve.errors import ErrorResponse
from riskserve.http_layer import ScorerSlot, ScoringHTTP
from riskserve.inference_protocol import OpenInference
from riskserve.live_metrics import CHALLENGER, CHAMPION, LiveMetrics
from riskserve.logs import configure_logging
from riskserve.model_entry import (
    MODEL_CARD_HTML,
    ModelUnavailable,
    declare_model,
    load_or_explain,
    read_drift_reference,
    read_spec,
    served_explainer,
)
from riskserve.reasons import Explainer
from riskserve.request_timeout import install as install_request_timeout
from riskserve.runtime import tune_gc
from riskserve.scoring import LocalModel, ModelSource, RunnerModel, Scorer
from riskserve.settings import load_settings
from riskserve.spec import SpecError

configure_logging()
install_request_timeout()  # before BentoML builds the services' middleware
logger = logging.getLogger("riskserve")

settings = load_settings()
MODEL = declare_model(settings.model_tag)
CHALLENGER_MODEL = declare_model(settings.challenger.model_tag) if settings.challenger else None


def _contract() -> tuple[Any, Policy | None, Contract, str]:
    """The served model's spec, decision policy and API contract, or why there are none."""
    if MODEL is None:
        return None, None, Contract.unavailable(settings.max_batch_records), ""
    try:
        spec = read_spec(Path(MODEL.stored.path))
    except SpecError as exc:
        return None, None, Contract.unavailable(settings.max_batch_records), str(exc)
    problem = ""
    try:
        policy = Policy(spec, settings.cutoffs.get(spec.name))
    except PolicyError as exc:
        problem, policy = f"configuration: {exc}", Policy(spec)
    contract = Contract.build(spec, policy, settings.max_batch_records, settings.reasons)
    return spec, policy, contract, problem


SPEC, POLICY, CONTRACT, SPEC_PROBLEM = _contract()


@bentoml.service(**settings.service_config("RiskRunner"))
class RiskRunner:
    """Loads and verifies the model once, then scores feature matrices (layout: runner)."""

    model = MODEL

    def __init__(self) -> None:
        self.loaded, self.problem = load_or_explain(self.model, settings)

    def __is_ready__(self) -> bool:
        return self.loaded is not None

    @bentoml.api(
        batchable=True,
        max_batch_size=settings.batching.max_batch_size,
        max_latency_ms=settings.batching.max_latency_ms,
    )
    def score(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities for a micro-batch of rows merged from concurrent requests."""
        return self._backend().predict_proba(features)

    @bentoml.api
    def score_many(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities for a batch that arrived whole (no merging needed)."""
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


@bentoml.service(**settings.service_config("RiskAPI"))
class RiskAPI:
    """Risk scoring: one record or a batch, validated against the served model's spec."""

    model = MODEL
    challenger_model = CHALLENGER_MODEL  # declared here so that `bentoml build` packs it
    if settings.layout == "runner":
        runner = bentoml.depends(RiskRunner)

    def __init__(self) -> None:
        self.problem = SPEC_PROBLEM
        if not load_key_digests(settings.security.api_keys_file):
            logger.warning("authentication is off: no API keys configured (%s)", API_KEYS_ENV)
        if self.problem or SPEC is None or POLICY is None:
            self.problem = self.problem or load_or_explain(self.model, settings)[1]
            if SPEC_PROBLEM:  # load_or_explain logs its own problems
                logger.error("riskserve not ready: %s", self.problem)
            scoring.problem = self.problem
            return
        source: ModelSource
        explainer: Explainer | None = None
        if settings.layout == "runner":
            source = RunnerModel(self.runner)
            try:
                folder, tag = Path(self.model.path), str(self.model.tag)
                explainer = served_explainer(folder, SPEC, tag, settings.reasons)[0]
            except ModelUnavailable as exc:
                self.problem = str(exc)
                logger.error("riskserve not ready: %s", self.problem)
                scoring.problem = self.problem
                return
        else:
            loaded, self.problem = load_or_explain(self.model, settings)
            source = LocalModel(loaded, self.problem)
            explainer = loaded.explainer if loaded else None
        try:
            audit = AuditLog(settings.audit_dir, SPEC, settings.audit.max_bytes, POLICY.cutoffs)
        except AuditUnavailable as exc:
            # Never serve decisions that cannot be audited: stay unready and say why.
            self.problem = f"{exc}; fix the folder's permissions or riskserve.log_dir"
            logger.error("riskserve not ready: %s", self.problem)
            scoring.problem = self.problem
            return
        try:
            drift_reference = read_drift_reference(Path(self.model.path), SPEC, "servable")
        except (OSError, ValueError, KeyError) as exc:
            drift_reference = None
            logger.warning("live PSI off: unreadable drift reference (%s)", exc)
        metrics = LiveMetrics(
            SPEC.name,
            POLICY.labels,
            settings.live_psi.window,
            settings.live_psi.min_rows,
            settings.live_psi.interval_seconds,
            drift_reference,
            SPEC.feature_names,
            (CHAMPION, CHALLENGER) if settings.challenger else (CHAMPION,),
        )
        metrics.serving(str(self.model.tag), settings.backend)
        challenger: Challenger | None = None
        if settings.challenger:
            try:
                challenger = open_challenger(settings, self.challenger_model, SPEC, metrics)
            except FamilyMismatch as exc:
                # A configuration error, like bad cut-offs: unready, so a rollout with it
                # never takes traffic (README, "Champion and challenger").
                self.problem = str(exc)
                logger.error("riskserve not ready: %s", self.problem)
                scoring.problem = self.problem
                return
        scoring.scorer = Scorer(
            SPEC, POLICY, settings, source, audit, metrics, challenger, explainer
        )
        scoring.model_card = Path(self.model.path) / MODEL_CARD_HTML
        scoring.contract = CONTRACT
        scoring.protocol = OpenInference(
            SPEC, CONTRACT, settings.max_batch_records, str(self.model.tag)
        )
        tune_gc()

    async def __is_ready__(self) -> bool:
        if scoring.scorer is None:
            return False
        return "problem" not in await scoring.scorer.source.info()

    @bentoml.on_shutdown
    def _flush_audit(self) -> None:
        if scoring.scorer is not None:
            scoring.scorer.audit.close()

    # The HTTP layer (riskserve.http_layer) answers these three routes in every layout,
    # with the same validator and scorer; the methods below declare them, so BentoML's
    # OpenAPI document and clients know their schemas, and serve in-process callers.

    async def _reply(self, endpoint: str, records: list[Any], ctx: bentoml.Context) -> Response:
        try:
            if scoring.scorer is None:
                raise ErrorResponse(503, {"error": "model not ready", "detail": self.problem})
            scorer, request = scoring.scorer, ctx.request
            header = scorer.routing_header
            key = request.headers.get(header) if header else None
            payload, status = (
                (
                    await scorer.describe()
                    if endpoint == "model_info"
                    else await scorer.score(
                        endpoint, records, request.state.request_id, request.state.started, key
                    )
                ),
                200,
            )
        except ErrorResponse as exc:
            payload, status = exc.body, exc.status
        return Response(orjson.dumps(payload), status, media_type="application/json")

    @bentoml.api
    async def predict(
        self,
        record: CONTRACT.record,  # type: ignore[valid-type]
        /,
        ctx: bentoml.Context,
    ) -> CONTRACT.prediction:  # type: ignore[valid-type]
        """Score one record of the served model's spec."""
        return await self._reply("predict", [record], ctx)

    @bentoml.api
    async def predict_batch(
        self,
        records: Annotated[
            list[CONTRACT.record],  # type: ignore[valid-type]
            Field(min_length=1, max_length=settings.max_batch_records),
        ],
        ctx: bentoml.Context,
    ) -> CONTRACT.batch_prediction:  # type: ignore[valid-type]
        """Score up to `max_batch_records` records in one call, in order."""
        return await self._reply("predict_batch", records, ctx)

    @bentoml.api
    async def model_info(self, ctx: bentoml.Context) -> dict[str, Any]:
        """The served model (tag, creation time, metrics, spec, backend, parity) and the
        decision policy with the cut-offs in force."""
        return await self._reply("model_info", [], ctx)


def _access_guard() -> AccessGuard:
    security = settings.security
    limit = security.rate_limit
    return AccessGuard(
        load_key_digests(security.api_keys_file),
        security.open_paths(),
        security.open_prefixes(),
        TokenBuckets(limit.requests_per_second, limit.burst) if limit else None,
    )


RiskAPI.add_asgi_middleware(
    ScoringHTTP,
    slot=scoring,
    guard=_access_guard(),
    max_body_bytes=settings.max_body_bytes,
    log_every_request=settings.request_log == "all",
)
