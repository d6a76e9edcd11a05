"""What training needs per model: its spec, data generator and estimator."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pandas as pd
from sklearn.pipeline import Pipeline

from riskserve.spec import ModelSpec
from riskserve.specs import SPECS
from training.data import generate_credit
from training.pipeline import CREDIT_GBM_PARAMS, build_credit_pipeline


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A model's spec with the seeded generator and unfitted pipeline that train it."""

    spec: ModelSpec
    generate: Callable[[int, int], pd.DataFrame]
    build_pipeline: Callable[[], Pipeline]
    params: dict[str, Any]


RECIPES: dict[str, Recipe] = {
    "credit_model": Recipe(
        SPECS["credit_model"], generate_credit, build_credit_pipeline, CREDIT_GBM_PARAMS
    ),
}
