"""The training run: data -> checks -> fit -> evaluate -> ONNX -> parity gate ->
explainer -> store, with the model card."""

from __future__ import annotations

import importlib.metadata
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import bentoml
import joblib
import numpy as np

from riskserve.backends import ONNX_FILE, PIPELINE_FILE, OnnxBackend, SklearnBackend, max_abs_diff
from riskserve.decisions import Policy
from riskserve.model_entry import (
    REJECTS_FILE,
    SPEC_FILE,
    write_drift_reference,
    write_reference,
    write_reference_probabilities,
)
from riskserve.reasons import EXPLAINER_FILE, Explainer
from riskserve.spec import ModelSpec
from training.data import data_hash, prepare, source_frame, split
from training.errors import ParityError
from training.evaluate import evaluate
from training.explain import write_explainer
from training.model_card import card_facts, write_card
from training.pipeline import build_pipeline, export_onnx

VERSIONED_LIBRARIES = (
    "bentoml",
    "numpy",
    "onnx",
    "onnxruntime",
    "pandas",
    "scikit-learn",
    "shap",
    "skl2onnx",
)


def train(
    spec: ModelSpec,
    tolerance: float,
    data: Path | None = None,
    n_samples: int | None = None,
    seed: int | None = None,
    log: Callable[[str], None] = print,
) -> bentoml.Model:
    """Train one model version of `spec` and save it as a new model-store entry."""
    started = time.perf_counter()

    def step(message: str) -> None:
        log(f"[{time.perf_counter() - started:6.1f}s] {message}")

    frame, source = source_frame(spec, data, n_samples, seed)
    prepared = prepare(spec, frame)
    x_train, x_test, y_train, y_test = split(spec, prepared)
    step(
        f"read {prepared.rows} rows from {source}; {len(prepared.rejects.row.unique())} "
        f"rejected; {len(x_train)} train, {len(x_test)} test"
    )

    pipeline = build_pipeline(spec).fit(x_train, y_train)
    step("fitted " + " -> ".join(type(s).__name__ for _, s in pipeline.steps))

    policy = Policy(spec)
    p_test = pipeline.predict_proba(x_test)
    metrics = evaluate(p_test, y_test, policy)
    step(f"test ROC AUC {metrics['roc_auc']:.4f}, accuracy {metrics['accuracy']:.4f}")

    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp)
        joblib.dump(pipeline, staging / PIPELINE_FILE)
        (staging / ONNX_FILE).write_bytes(export_onnx(pipeline, len(spec.features)))
        (staging / SPEC_FILE).write_text(spec.to_yaml())
        prepared.rejects.to_csv(staging / REJECTS_FILE, index=False)
        write_reference(staging, spec, x_train)
        write_reference_probabilities(staging, pipeline.predict_proba(x_train))
        write_drift_reference(staging, spec, x_train)
        parity = max_abs_diff(OnnxBackend(staging), SklearnBackend(staging), x_test)
        step(f"exported ONNX; max |p_onnx - p_sklearn| on the test split = {parity:.3g}")
        if not parity <= tolerance:
            raise ParityError(
                f"ONNX parity gate failed: max |dp| = {parity:.3g} > {tolerance:g} "
                f"over {len(x_test)} test rows"
            )
        explainer = explanations = None
        if spec.task == "binary":
            explanations = write_explainer(staging, spec, pipeline, x_train)
            with np.load(staging / EXPLAINER_FILE) as arrays:
                explainer = Explainer(spec, dict(arrays))
            step(
                f"stored the TreeSHAP explainer; additivity error "
                f"{explanations['additivity_max_abs_error']:.2g} on {explanations['rows']} rows"
            )

        metadata = {
            "metrics": metrics,
            "parity_max_abs_diff": parity,
            "parity_rows": len(x_test),
            "data_source": source,
            "data_hash": data_hash(frame),
            "data_rows": prepared.rows,
            "rejected_rows": int(prepared.rejects.row.nunique()),
            "class_balance": {
                label: int((prepared.target == i).sum()) for i, label in enumerate(spec.labels)
            },
            "training_params": {
                **spec.training.params,
                "test_size": spec.training.test_size,
                "split_seed": spec.training.split_seed,
            },
            "library_versions": {
                lib: importlib.metadata.version(lib) for lib in VERSIONED_LIBRARIES
            },
        }
        if explanations is not None:
            metadata["explanations"] = explanations
        labels = {"model": spec.name, "task": spec.task}
        with bentoml.models.create(spec.name, labels=labels, metadata=metadata) as entry:
            for item in staging.iterdir():
                shutil.copy2(item, entry.path_of(item.name))
            facts = card_facts(
                spec, policy, metadata, str(entry.tag), x_train, x_test, p_test, y_test, explainer
            )
            write_card(Path(entry.path), facts, p_test, y_test)
    # The object `create` returned points at its deleted staging folder: re-read it.
    stored = bentoml.models.get(entry.tag)
    step(f"saved {stored.tag} at {stored.path}")
    return stored
