"""The comparison point: scoring the way a FastAPI tutorial writes it, for any model.

Built from the served model's store entry: the same request rules as the service (the
spec's Pydantic record model), the fitted scikit-learn pipeline loaded with joblib, a
pandas DataFrame built per request with its columns encoded as the pipeline was fitted
(`ModelSpec.to_matrix`'s encoding: a category as the index of its value, a bool as 0/1)
and the service's decisions (`riskserve.decisions.Policy` with configuration's cut-offs).
Run with `RISKSERVE_BASELINE_MODEL=/abs/model-store/entry uvicorn --factory
benchmarks.baseline_app:create_app --workers 1`.

No `from __future__ import annotations` here: FastAPI reads the route signatures, whose
types are built at run time from the spec.
"""

import os
import warnings
from pathlib import Path
from typing import Annotated, Any

import joblib
import pandas as pd
from fastapi import FastAPI
from pydantic import BaseModel, Field

from riskserve.backends import PIPELINE_FILE
from riskserve.contract import record_model
from riskserve.decisions import Policy
from riskserve.model_entry import read_spec
from riskserve.scores import score_rows
from riskserve.settings import load_settings
from riskserve.spec import ModelSpec

MODEL_ENV = "RISKSERVE_BASELINE_MODEL"


def tutorial_frame(spec: ModelSpec, records: list[dict[str, Any]]) -> pd.DataFrame:
    """Records as a DataFrame in feature order, encoded as the pipeline expects."""
    frame = pd.DataFrame(records, columns=spec.feature_names)
    for feature in spec.features:
        if feature.kind == "category":
            codes = {value: code for code, value in enumerate(feature.values or ())}
            frame[feature.name] = frame[feature.name].map(codes)
        elif feature.kind == "bool":
            frame[feature.name] = frame[feature.name].astype(int)
    return frame


def create_app(folder: Path | None = None) -> FastAPI:
    """The baseline app of one model-store entry (default: `$RISKSERVE_BASELINE_MODEL`)."""
    folder = folder or Path(os.environ[MODEL_ENV])
    spec = read_spec(folder)
    settings = load_settings()
    record = record_model(spec)
    pipeline = joblib.load(folder / PIPELINE_FILE)
    policy = Policy(spec, settings.cutoffs.get(spec.name))
    version = f"{folder.parent.name}:{folder.name}"  # <home>/models/<name>/<version>
    # The pipeline was fitted on an array; a tutorial's is fitted on a DataFrame and never
    # warns, so the per-request warning is not part of the cost being compared.
    warnings.filterwarnings("ignore", message="X has feature names")
    app = FastAPI(title=f"{spec.title} scoring (tutorial-style baseline)")

    class Batch(BaseModel):
        """Up to `max_batch_records` records."""

        records: Annotated[
            list[record],  # type: ignore[valid-type]
            Field(min_length=1, max_length=settings.max_batch_records),
        ]

    def score(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        probabilities = pipeline.predict_proba(tutorial_frame(spec, records))
        return score_rows(policy, probabilities).answers()

    @app.post("/predict")
    def predict(body: record) -> dict[str, Any]:  # type: ignore[valid-type]
        """Score one record."""
        return {**score([body.model_dump()])[0], "model_version": version}

    @app.post("/predict_batch")
    def predict_batch(batch: Batch) -> dict[str, Any]:
        """Score a batch, in order."""
        results = score([r.model_dump() for r in batch.records])
        return {"results": results, "model_version": version}

    return app
