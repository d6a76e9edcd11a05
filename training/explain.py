"""Training-time explanations: shap's TreeExplainer on the fitted trees, stored so the
service reproduces them exactly (see `riskserve.reasons`)."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import numpy as np
from sklearn.pipeline import Pipeline

from riskserve.reasons import EXPLAINER_FILE, TREE_ARRAYS, Explainer
from riskserve.spec import ModelSpec

# Reference rows whose contributions are stored and re-checked when a service starts.
CHECK_ROWS = 1000


class ExplanationError(RuntimeError):
    """The served computation does not reproduce shap's TreeExplainer output."""


def _column_map(pipeline: Pipeline, spec: ModelSpec) -> dict[str, np.ndarray]:
    """Per transformed column: its input feature, and its scaling or one-hot code."""
    source, mean, scale, code = [], [], [], []
    for name, step, columns in pipeline.named_steps["prepare"].transformers_:
        if name == "scale":
            source += list(columns)
            mean += list(step.mean_)
            scale += list(step.scale_)
            code += [np.nan] * len(columns)
        elif name == "one_hot":
            for column, values in zip(columns, step.categories_, strict=True):
                source += [column] * len(values)
                mean += [np.nan] * len(values)
                scale += [np.nan] * len(values)
                code += list(values)
        elif name != "remainder":
            raise ExplanationError(f"unknown pipeline step {name!r}: cannot map its columns")
    return {
        "source": np.array(source),
        "mean": np.array(mean),
        "scale": np.array(scale),
        "code": np.array(code),
    }


def write_explainer(
    folder: Path, spec: ModelSpec, pipeline: Pipeline, reference: np.ndarray
) -> dict[str, float]:
    """Store the explainer of a binary model and return its additivity on the reference.

    Fails unless the served computation gives exactly TreeExplainer's contributions.
    """
    import shap

    model = shap.TreeExplainer(pipeline.named_steps["model"])
    ensemble = model.model
    arrays = {name: getattr(ensemble, name) for name in TREE_ARRAYS}
    rows = reference[:CHECK_ROWS]
    transformed = pipeline[:-1].transform(rows)
    per_column = model.shap_values(transformed)
    columns = _column_map(pipeline, spec)
    summed = np.zeros((len(rows), len(spec.features)))
    np.add.at(summed.T, columns["source"], per_column.T)
    arrays.update(
        columns,
        max_depth=np.array(ensemble.max_depth),
        base_offset=np.asarray(ensemble.base_offset, dtype=np.float64),
        expected_value=np.array(float(np.ravel(model.expected_value)[0])),
        check_rows=np.array(len(rows)),
        check_contributions=summed,
        shap_version=np.array(importlib.metadata.version("shap")),
    )
    np.savez(folder / EXPLAINER_FILE, **arrays)
    served = Explainer(spec, arrays).contributions(rows)
    reproduced = float(np.max(np.abs(served - summed)))
    if reproduced > 1e-12:
        raise ExplanationError(
            f"served contributions differ from TreeExplainer's by {reproduced:.3g}"
        )
    margin = pipeline.decision_function(rows)
    additivity = float(np.max(np.abs(arrays["expected_value"] + summed.sum(axis=1) - margin)))
    return {
        "additivity_max_abs_error": additivity,
        "rows": len(rows),
        "max_abs_diff_served_vs_treeexplainer": reproduced,
    }
