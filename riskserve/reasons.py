"""Reason codes: exact TreeSHAP contributions of the served trees, ranked per record.

Training stores in the model entry (`explainer.npz`) the arrays shap's `TreeExplainer`
builds from the fitted gradient-boosted trees (its `TreeEnsemble`: children, features,
thresholds, leaf values, node weights, base offset), the pipeline's column transform
(scaling, one-hot codes) and the contributions `TreeExplainer.shap_values` gave a
reference sample. Serving runs the same computation, shap's own C extension
`dense_tree_shap` on the same arrays (path-dependent, raw output), without `import
shap`: that import pulls in numba and llvmlite and costs ~11 s and +262 MB of RSS here,
while the extension alone loads in ~30 ms and ~1 MB. Contributions are in log-odds (the
gradient-boosted model's raw score); one-hot columns are summed back to their feature.

Loading checks additivity on the reference sample: the expected value plus the
contributions equals the model's float64 log-odds (the scores the ONNX parity re-check
also holds the served backend to) within `ADDITIVITY_TOLERANCE`.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from riskserve.spec import ModelSpec

EXPLAINER_FILE = "explainer.npz"
ADDITIVITY_TOLERANCE = 1e-5
REASON_MODES = ("adverse", "always", "never")
# shap's TreeEnsemble arrays, passed to dense_tree_shap in this order (after max_depth).
TREE_ARRAYS = (
    "children_left",
    "children_right",
    "children_default",
    "features",
    "thresholds",
    "threshold_types",
    "values",
    "node_sample_weight",
)
# shap's codes (shap/explainers/_tree.py): path-dependent perturbation, identity output.
_TREE_PATH_DEPENDENT = 1
_IDENTITY = 0


class ExplainerError(ValueError):
    """Stored explainer data that cannot reproduce the model's explanations."""


def _tree_shap_extension() -> Any:
    """shap's compiled `_cext` module, loaded from the installed package without
    running `shap/__init__.py` (see the module docstring)."""
    spec = importlib.util.find_spec("shap")
    if spec is None or not spec.submodule_search_locations:
        raise ExplainerError("shap is not installed (requirements/serve.txt pins it)")
    folder = Path(next(iter(spec.submodule_search_locations)))
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = folder / f"_cext{suffix}"
        if path.exists():
            ext_spec = importlib.util.spec_from_file_location("shap._cext", path)
            assert ext_spec is not None and ext_spec.loader is not None
            module = importlib.util.module_from_spec(ext_spec)
            ext_spec.loader.exec_module(module)
            return module
    raise ExplainerError(f"shap's C extension _cext is missing from {folder}")


def reason_text(spec: ModelSpec, name: str) -> str:
    """The adverse-action text of a feature: its `reason`, else its description."""
    feature = spec.feature(name)
    return feature.reason or feature.description.rstrip(".")


def reason_code(name: str) -> str:
    """A feature's code: stable for as long as the feature keeps its name."""
    return name.upper()


class Explainer:
    """Per-feature TreeSHAP contributions (log-odds) of a binary gradient-boosted model."""

    def __init__(self, spec: ModelSpec, arrays: dict[str, np.ndarray]) -> None:
        self.spec = spec
        self._trees = [np.ascontiguousarray(arrays[name]) for name in TREE_ARRAYS]
        self._max_depth = int(arrays["max_depth"])
        self._base_offset = np.ascontiguousarray(arrays["base_offset"], dtype=np.float64)
        # Transformed column j is (x[:, source[j]] - mean[j]) / scale[j] when scaled, or
        # (x[:, source[j]] == code[j]) when one-hot (scale NaN), in the pipeline's order.
        self._source = arrays["source"].astype(np.int64)
        self._mean, self._scale, self._code = arrays["mean"], arrays["scale"], arrays["code"]
        self._scaled = np.isfinite(self._scale)
        # Sums transformed columns back to input features.
        self._to_features = np.zeros((len(self._source), len(spec.features)))
        self._to_features[np.arange(len(self._source)), self._source] = 1.0
        self._cext = _tree_shap_extension()
        self.expected_value = float(arrays["expected_value"])

    def transform(self, features: np.ndarray) -> np.ndarray:
        """The trees' input: the pipeline's scaling and one-hot encoding, cast to float32
        (as its CastTransformer does), for the float64 feature matrix."""
        columns = features[:, self._source]
        scaled = (columns - self._mean) / np.where(self._scaled, self._scale, 1.0)
        onehot = (columns == self._code).astype(np.float64)
        return np.where(self._scaled, scaled, onehot).astype(np.float32)

    def contributions(self, features: np.ndarray) -> np.ndarray:
        """TreeSHAP values per input feature [rows, features], in log-odds."""
        x = self.transform(features)
        phi = np.zeros((len(x), x.shape[1] + 1, 1))
        self._cext.dense_tree_shap(
            *self._trees,
            self._max_depth,
            x,
            np.isnan(x),
            None,
            None,
            None,
            self._trees[6].shape[0],
            self._base_offset,
            phi,
            _TREE_PATH_DEPENDENT,
            _IDENTITY,
            False,
        )
        return phi[:, :-1, 0] @ self._to_features

    def reasons(self, features: np.ndarray, limit: int) -> list[list[dict[str, Any]]]:
        """Per row, up to `limit` features that pushed it toward the adverse outcome,
        strongest first, as `{feature, code, text, contribution}`."""
        return [self._rank(row, limit) for row in self.contributions(features)]

    def _rank(self, contributions: np.ndarray, limit: int) -> list[dict[str, Any]]:
        order = np.argsort(-contributions, kind="stable")[:limit]
        names = self.spec.feature_names
        return [
            {
                "feature": names[i],
                "code": reason_code(names[i]),
                "text": reason_text(self.spec, names[i]),
                "contribution": float(contributions[i]),
            }
            for i in order.tolist()
            if contributions[i] > 0
        ]


def log_odds(probabilities: np.ndarray) -> np.ndarray:
    """The positive class's log-odds from [rows, 2] class probabilities."""
    p = probabilities[:, 1]
    return np.log(p) - np.log1p(-p)


def load_explainer(
    folder: Path, spec: ModelSpec, reference: np.ndarray, reference_probabilities: np.ndarray
) -> tuple[Explainer, dict[str, Any]]:
    """The entry's explainer, checked on the stored reference rows (see the module
    docstring); also what `/model_info` reports about it."""
    with np.load(folder / EXPLAINER_FILE) as stored:
        arrays = dict(stored)
    explainer = Explainer(spec, arrays)
    rows = int(arrays["check_rows"])
    phi = explainer.contributions(reference[:rows])
    target = log_odds(reference_probabilities[:rows])
    additivity = float(np.max(np.abs(explainer.expected_value + phi.sum(axis=1) - target)))
    reproduced = float(np.max(np.abs(phi - arrays["check_contributions"])))
    if not additivity <= ADDITIVITY_TOLERANCE:  # NaN fails too
        raise ExplainerError(
            f"expected value + contributions differ from the model's log-odds by "
            f"{additivity:.3g} on {rows} reference rows (tolerance {ADDITIVITY_TOLERANCE:g})"
        )
    if not reproduced <= ADDITIVITY_TOLERANCE:
        raise ExplainerError(
            f"contributions differ from training's TreeExplainer output by {reproduced:.3g}"
        )
    info = {
        "method": "shap TreeExplainer (tree_path_dependent), contributions in log-odds",
        "shap_version": str(arrays["shap_version"]),
        "expected_value": explainer.expected_value,
        "additivity": {
            "max_abs_error": additivity,
            "tolerance": ADDITIVITY_TOLERANCE,
            "rows": rows,
        },
        "max_abs_diff_from_training": reproduced,
    }
    return explainer, info
