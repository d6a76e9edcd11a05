"""The training run: data -> fit -> evaluate -> ONNX -> parity gate -> model store."""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import bentoml
import joblib

from riskserve.backends import ONNX_FILE, PIPELINE_FILE, OnnxBackend, SklearnBackend, max_abs_diff
from riskserve.model_entry import (
    SPEC_FILE,
    write_drift_reference,
    write_reference,
    write_reference_probabilities,
)
from training.data import SPLIT_RANDOM_STATE, SPLIT_TEST_SIZE, data_hash, split
from training.evaluate import evaluate
from training.pipeline import export_onnx
from training.recipes import Recipe

VERSIONED_LIBRARIES = (
    "bentoml", "numpy", "onnx", "onnxruntime", "pandas", "scikit-learn", "skl2onnx"
)


class ParityError(RuntimeError):
    """The exported ONNX graph does not reproduce the pipeline's probabilities."""


def train(
    recipe: Recipe,
    n_samples: int,
    seed: int,
    threshold: float,
    tolerance: float,
    log: Callable[[str], None] = print,
) -> bentoml.Model:
    """Train one model version and save it as a new model-store entry; return the entry."""
    spec = recipe.spec
    started = time.perf_counter()

    def step(message: str) -> None:
        log(f"[{time.perf_counter() - started:6.1f}s] {message}")

    df = recipe.generate(n_samples, seed)
    x_train, x_test, y_train, y_test = split(df, spec)
    step(f"generated {len(df)} rows (seed {seed}): {len(x_train)} train, {len(x_test)} test")

    pipeline = recipe.build_pipeline().fit(x_train, y_train)
    step("fitted " + " -> ".join(type(s).__name__ for _, s in pipeline.steps))

    metrics = evaluate(pipeline.predict_proba(x_test)[:, 1], y_test, threshold)
    step(f"test ROC AUC {metrics['roc_auc']:.4f}")

    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp)
        joblib.dump(pipeline, staging / PIPELINE_FILE)
        (staging / ONNX_FILE).write_bytes(export_onnx(pipeline, len(spec.features)))
        (staging / SPEC_FILE).write_text(json.dumps(spec.to_json(), indent=2))
        write_reference(staging, spec, x_train)
        write_reference_probabilities(staging, pipeline.predict_proba(x_train)[:, 1])
        write_drift_reference(staging, spec, x_train)
        parity = max_abs_diff(OnnxBackend(staging), SklearnBackend(staging), x_test)
        step(f"exported ONNX; max |p_onnx - p_sklearn| on the test split = {parity:.3g}")
        if not parity <= tolerance:
            raise ParityError(
                f"ONNX parity gate failed: max |dp| = {parity:.3g} > {tolerance:g} "
                f"over {len(x_test)} test rows"
            )

        metadata = {
            "metrics": metrics,
            "parity_max_abs_diff": parity,
            "parity_rows": len(x_test),
            "data_hash": data_hash(df),
            "n_samples": n_samples,
            "seed": seed,
            "training_params": {
                **recipe.params,
                "test_size": SPLIT_TEST_SIZE,
                "split_random_state": SPLIT_RANDOM_STATE,
            },
            "library_versions": {
                lib: importlib.metadata.version(lib) for lib in VERSIONED_LIBRARIES
            },
        }
        labels = {"model": spec.name, "seed": str(seed), "n_samples": str(n_samples)}
        with bentoml.models.create(spec.name, labels=labels, metadata=metadata) as entry:
            for item in staging.iterdir():
                shutil.copy2(item, entry.path_of(item.name))
    # The object `create` returned points at its deleted staging folder: re-read it.
    stored = bentoml.models.get(entry.tag)
    step(f"saved {stored.tag} at {stored.path}")
    return stored
