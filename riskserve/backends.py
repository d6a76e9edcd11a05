"""Inference backends: interchangeable scorers of a float64 feature matrix.

Each takes the store entry's folder and answers `predict_proba(X)`: one probability per
class, in the spec's label order;
`configuration.yaml` picks one by name. The runner loads both to check their parity.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import joblib
import numpy as np
import onnxruntime as ort

PIPELINE_FILE = "pipeline.joblib"
ONNX_FILE = "model.onnx"
ONNX_INPUT = "features"
ONNX_PROBABILITIES = "probabilities"


class Backend(Protocol):
    """Scores rows of features (float64, spec column order) as class probabilities."""

    name: str

    def predict_proba(self, features: np.ndarray) -> np.ndarray: ...


class OnnxBackend:
    """ONNX Runtime on one thread: the inputs are small, and threads only add hand-offs."""

    name = "onnx"

    def __init__(self, folder: Path) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(folder / ONNX_FILE), options, providers=["CPUExecutionProvider"]
        )

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities [N, classes], as float64."""
        (probabilities,) = self._session.run([ONNX_PROBABILITIES], {ONNX_INPUT: features})
        return probabilities.astype(np.float64)


class SklearnBackend:
    """The fitted scikit-learn pipeline itself: the reference the ONNX graph must match."""

    name = "sklearn"

    def __init__(self, folder: Path) -> None:
        # The store entry is written by our own training; joblib is its pickle format.
        self._pipeline = joblib.load(folder / PIPELINE_FILE)

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities [N, classes], as float64."""
        return self._pipeline.predict_proba(features)


BACKENDS: dict[str, type[OnnxBackend] | type[SklearnBackend]] = {
    backend.name: backend for backend in (OnnxBackend, SklearnBackend)
}


def max_abs_diff(a: Backend, b: Backend, features: np.ndarray) -> float:
    """The largest probability difference between two backends over the same rows."""
    return float(np.max(np.abs(a.predict_proba(features) - b.predict_proba(features))))
