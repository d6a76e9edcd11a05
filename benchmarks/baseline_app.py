"""The comparison point: scoring the way a FastAPI tutorial writes it.

Same request schema and rules as the service (the spec's Pydantic model), the fitted
scikit-learn pipeline loaded with joblib, and a pandas DataFrame built per request.
Run with `RISKSERVE_BASELINE_PIPELINE=/abs/pipeline.joblib uvicorn
benchmarks.baseline_app:app --workers 1`.
"""

from __future__ import annotations

import os
import warnings
from typing import Annotated

import joblib
import pandas as pd
from fastapi import FastAPI
from pydantic import BaseModel, Field

from riskserve.settings import load_settings
from riskserve.specs.credit import CREDIT

settings = load_settings()
Application = CREDIT.request_model()
pipeline = joblib.load(os.environ["RISKSERVE_BASELINE_PIPELINE"])
# Our pipeline was fitted on an array; a tutorial's is fitted on a DataFrame and never
# warns, so the per-request warning is not part of the cost being compared.
warnings.filterwarnings("ignore", message="X has feature names")
app = FastAPI(title="credit scoring (tutorial-style baseline)")


class Batch(BaseModel):
    """Up to `max_batch_records` applications."""

    records: Annotated[
        list[Application],  # type: ignore[valid-type]
        Field(min_length=1, max_length=settings.max_batch_records),
    ]


def _score(probability: float) -> dict[str, object]:
    bands = settings.risk_bands
    return {
        "prediction": int(probability >= settings.decision_threshold),
        "probability_of_default": probability,
        "risk_category": "Low" if probability < bands.low_below
        else "Medium" if probability < bands.medium_below else "High",
    }


@app.post("/predict")
def predict(application: Application) -> dict[str, object]:  # type: ignore[valid-type]
    """Score one application."""
    frame = pd.DataFrame([application.model_dump()])
    return _score(float(pipeline.predict_proba(frame)[0, 1]))


@app.post("/predict_batch")
def predict_batch(batch: Batch) -> dict[str, object]:
    """Score a batch, in order."""
    frame = pd.DataFrame([record.model_dump() for record in batch.records])
    return {"results": [_score(p) for p in pipeline.predict_proba(frame)[:, 1].tolist()]}
