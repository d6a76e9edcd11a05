"""riskserve's BentoML service: typed, validated, adaptively batched risk scoring.

Two services: `CreditAPI` is the HTTP front (validation, responses, probes, metrics);
`CreditRunner` holds the model and scores. Concurrent single `/predict` requests are
merged by BentoML's adaptive batching into one call of `CreditRunner.score`.
The request schema comes from the feature spec; settings from `configuration.yaml`.
"""

import logging
import time
from typing import Annotated, Any, Literal

import bentoml
import numpy as np
from bentoml.exceptions import ServiceUnavailable
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse

from riskserve.logs import quiet_client_errors
from riskserve.model_entry import LoadedModel, ModelUnavailable, declare_model, load_model
from riskserve.settings import load_settings
from riskserve.specs import spec_for_tag

logger = logging.getLogger("bentoml.riskserve")
quiet_client_errors()

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


def _scores(probabilities: np.ndarray) -> list[dict[str, Any]]:
    """Decision fields for each probability, per the configured threshold and bands."""
    return [
        {
            "prediction": int(p >= settings.decision_threshold),
            "probability_of_default": p,
            "risk_category": settings.risk_bands.category(p),
        }
        for p in probabilities.tolist()
    ]


def _unavailable(info: dict[str, Any]) -> JSONResponse:
    """503 with the runner's one-line reason, e.g. how to train a missing model."""
    return JSONResponse({"error": "model not ready", "detail": info["problem"]}, 503)


@bentoml.service(**settings.service_config("CreditRunner"))
class CreditRunner:
    """Loads and verifies the model once, then scores feature matrices."""

    model = declare_model(settings.model_tag)

    def __init__(self) -> None:
        self.loaded: LoadedModel | None = None
        self.problem = ""
        try:
            self.loaded = load_model(
                self.model,
                settings.model_tag,
                SPEC,
                settings.backend,
                settings.parity_tolerance,
            )
        except ModelUnavailable as exc:
            self.problem = str(exc)
            logger.error("riskserve not ready: %s", exc)
        else:
            parity = self.loaded.info["parity"]["max_abs_diff"]
            logger.info(
                "serving %s with %s (ONNX parity %.2g)", self.loaded.tag, settings.backend, parity
            )

    def __is_ready__(self) -> bool:
        return self.loaded is not None

    def _model(self) -> LoadedModel:
        if self.loaded is None:
            raise ServiceUnavailable(f"model not loaded: {self.problem}")
        return self.loaded

    @bentoml.api(
        batchable=True,
        max_batch_size=settings.batching.max_batch_size,
        max_latency_ms=settings.batching.max_latency_ms,
    )
    def score(self, features: np.ndarray) -> np.ndarray:
        """Probabilities for a micro-batch of rows merged from concurrent requests."""
        return self._model().backend.predict_proba(features)

    @bentoml.api
    def score_many(self, features: np.ndarray) -> np.ndarray:
        """Probabilities for a batch that arrived whole (no merging needed)."""
        return self._model().backend.predict_proba(features)

    @bentoml.api
    def info(self) -> dict[str, Any]:
        """What is loaded (tag, creation time, metrics, spec, backend, parity), or why not."""
        return self.loaded.info if self.loaded else {"problem": self.problem}


@bentoml.service(**settings.service_config("CreditAPI"))
class CreditAPI:
    """Credit-default scoring: one application or a batch, validated against the spec."""

    runner = bentoml.depends(CreditRunner)

    def __init__(self) -> None:
        self._info: dict[str, Any] | None = None

    async def _model_info(self) -> dict[str, Any]:
        # The runner serves one model for its lifetime, so its info is kept once loaded.
        if self._info is not None:
            return self._info
        info = await self.runner.to_async.info()
        if "problem" not in info:
            self._info = info
        return info

    @bentoml.api
    async def predict(self, application: Application, /) -> Prediction:  # type: ignore[valid-type]
        """Score one credit application."""
        info = await self._model_info()
        if "problem" in info:
            return _unavailable(info)
        probabilities = await self.runner.to_async.score(SPEC.to_matrix([application]))
        return Prediction(**_scores(probabilities)[0], model_version=info["tag"])

    @bentoml.api
    async def predict_batch(
        self,
        records: Annotated[
            list[Application],  # type: ignore[valid-type]
            Field(min_length=1, max_length=settings.max_batch_records),
        ],
    ) -> BatchPrediction:
        """Score up to `max_batch_records` applications in one call, in order."""
        started = time.perf_counter()
        info = await self._model_info()
        if "problem" in info:
            return _unavailable(info)
        probabilities = await self.runner.to_async.score_many(SPEC.to_matrix(records))
        return BatchPrediction(
            results=_scores(probabilities),
            model_version=info["tag"],
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    @bentoml.api
    async def model_info(self) -> dict[str, Any]:
        """The served model (tag, creation time, metrics, feature spec, backend, parity)
        and the decision settings applied to its probabilities."""
        info = await self._model_info()
        if "problem" in info:
            return _unavailable(info)
        return {
            **info,
            "decision_threshold": settings.decision_threshold,
            "risk_bands": settings.risk_bands.model_dump(),
            "max_batch_records": settings.max_batch_records,
        }
