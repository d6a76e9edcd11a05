"""The estimator a spec trains, and its ONNX export."""

from __future__ import annotations

import numpy as np
from skl2onnx import to_onnx
from skl2onnx.common.data_types import DoubleTensorType
from skl2onnx.sklapi import CastTransformer
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from riskserve.backends import ONNX_INPUT, ONNX_PROBABILITIES
from riskserve.spec import ModelSpec


def build_pipeline(spec: ModelSpec) -> Pipeline:
    """Scale numbers, one-hot encode category codes, cast to float32, boost trees.

    The feature matrix carries one column per feature (categories as the index of
    their value), so the ONNX graph has a single float64 input whatever the kinds.
    Measured on the fraud model, that input scores one row in 7.0 µs and 1,000 in
    0.56 ms, against 9.5 µs and 0.61 ms for string inputs, one per column.
    Scaling happens in float64 and the explicit cast to float32 comes before the
    trees, exactly as in scikit-learn; without it, rows near a split threshold score
    differently (up to 0.04 in probability) in ONNX Runtime.
    """
    numeric = [i for i, f in enumerate(spec.features) if f.kind != "category"]
    categories = [i for i, f in enumerate(spec.features) if f.kind == "category"]
    parts = [("scale", StandardScaler(), numeric)] if numeric else []
    if categories:
        known = [
            np.arange(len(spec.features[i].values or ()), dtype=np.float64) for i in categories
        ]
        parts.append(("one_hot", OneHotEncoder(categories=known), categories))
    return Pipeline(
        [
            ("prepare", ColumnTransformer(parts, sparse_threshold=0)),
            ("cast", CastTransformer(dtype=np.float32)),
            ("model", GradientBoostingClassifier(**spec.training.params)),
        ]
    )


def export_onnx(pipeline: Pipeline, n_features: int) -> bytes:
    """The fitted pipeline as an ONNX graph: float64 [N, n_features] in, probabilities out."""
    onnx_model = to_onnx(
        pipeline,
        initial_types=[(ONNX_INPUT, DoubleTensorType([None, n_features]))],
        options={id(pipeline.steps[-1][1]): {"zipmap": False}},
    )
    outputs = [o.name for o in onnx_model.graph.output]
    if ONNX_PROBABILITIES not in outputs:
        raise RuntimeError(f"ONNX export has outputs {outputs}, not {ONNX_PROBABILITIES!r}")
    return onnx_model.SerializeToString()
