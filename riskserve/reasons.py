"""Reason codes: exact TreeSHAP contributions of the served trees, ranked per record.

Training runs shap's `TreeExplainer` (path-dependent) on the fitted gradient-boosted
trees and stores in the model entry (`explainer.npz`) the arrays it builds (its
`TreeEnsemble`: children, features, thresholds, leaf values, node weights, base offset),
the pipeline's column transform (scaling, one-hot codes) and the contributions it gave
a reference sample. Serving computes the same values from those arrays without shap
(`LeafTables`), and training stops unless they equal TreeExplainer's within 1e-12.
Contributions are in log-odds (the model's raw score); one-hot columns are summed back
to their feature.

Loading checks additivity on the reference sample: the expected value plus the
contributions equals the model's float64 log-odds (the scores the ONNX parity re-check
also holds the served backend to) within `ADDITIVITY_TOLERANCE`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from riskserve.spec import ModelSpec

EXPLAINER_FILE = "explainer.npz"
ADDITIVITY_TOLERANCE = 1e-5
REASON_MODES = ("adverse", "always", "never")
# shap's TreeEnsemble arrays, as training stores them.
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
# Largest lookup table served (float64 entries: 32 MB); see LeafTables.
MAX_TABLE_ENTRIES = 1 << 22
# Records explained per step of LeafTables.contributions: temporaries of ~2 MB (credit)
# that the allocator keeps; past a few MB each call pays fresh pages (3x slower here).
CHUNK_ROWS = 32


class ExplainerError(ValueError):
    """Stored explainer data that cannot reproduce the model's explanations."""


def _leaf_paths(
    left: np.ndarray, right: np.ndarray, weights: np.ndarray
) -> Iterator[tuple[int, int, tuple[tuple[int, bool, float], ...]]]:
    """Every leaf as (tree, node, path), the path's steps from the root being
    (node, went left, share of the node's training weight that went this way)."""
    for tree in range(len(left)):
        stack: list[tuple[int, tuple[tuple[int, bool, float], ...]]] = [(0, ())]
        while stack:
            node, path = stack.pop()
            if left[tree, node] < 0:
                yield tree, node, path
                continue
            for child, went_left in ((left[tree, node], True), (right[tree, node], False)):
                share = weights[tree, child] / weights[tree, node]
                stack.append((child, (*path, (node, went_left, share))))


def _leaf_shapley(value: np.ndarray, share: np.ndarray) -> np.ndarray:
    """Shapley values [leaves, 2**d, d] of leaves whose paths test d distinct features.

    Path-dependent TreeSHAP's game for one leaf of value v is
    v * prod_k (x satisfies the path's tests of feature k if k is known, else the share
    of training weight the path keeps at those tests). Only which features x satisfies
    matters, so each feature's Shapley value is tabulated per set of satisfied features
    (bit k of the mask: feature k satisfied). `share`: [leaves, d]."""
    d = share.shape[1]
    masks = np.arange(1 << d)
    bits = (masks[:, None] >> np.arange(d)) & 1
    size = bits.sum(axis=1)
    factorial = np.array([math.factorial(k) for k in range(d + 1)], dtype=np.float64)
    phi = np.zeros((len(value), 1 << d, d))
    for i in range(d):
        subsets = masks[bits[:, i] == 0]  # coalitions without feature i
        weight = factorial[size[subsets]] * factorial[d - 1 - size[subsets]] / factorial[d]
        unknown = bits[subsets] == 0
        unknown[:, i] = False
        coefficient = weight * np.prod(np.where(unknown, share[:, None, :], 1.0), axis=2)
        known = (subsets[None, :] & ~masks[:, None]) == 0  # coalition within the mask
        gain = bits[None, :, i] - share[:, i : i + 1]
        phi[:, :, i] = value[:, None] * gain * (coefficient @ known.T)
    return phi


class LeafTables:
    """Path-dependent TreeSHAP as table lookups (what shap's `tree_path_dependent`
    computes, to rounding).

    A tree's contributions are the sum over its leaves of each leaf's game (see
    `_leaf_shapley`), and a leaf's game depends on a record only through which of its
    path's tests the record passes: at most 2**depth cases. Loading tabulates every
    leaf's Shapley values for each case; a record then costs one comparison per split,
    one lookup per leaf and a sum, in NumPy, without shap (whose import pulls in numba
    and llvmlite: +300 MB in the image). Measured on the credit model (100 trees of
    depth 4): 1 record in ~31 µs, 50 in ~1 ms and 1,000 in ~19 ms, against ~58 µs, ~2.6 ms
    and ~50 ms for shap's C extension. Tables grow as 4**depth per tree, hence
    MAX_TABLE_ENTRIES.
    """

    def __init__(self, arrays: dict[str, np.ndarray], to_output: np.ndarray) -> None:
        """`to_output`: [trees' input columns, outputs], one 1 per row: the output each
        column adds to (one-hot columns add to their feature)."""
        left, right = arrays["children_left"], arrays["children_right"]
        weights, values = arrays["node_sample_weight"], arrays["values"]
        if values.ndim != 3 or values.shape[2] != 1:
            raise ExplainerError("reason codes need one raw score per tree (binary models)")
        if np.any(arrays["threshold_types"][left >= 0] != 0):
            raise ExplainerError("reason codes need `x <= threshold` splits (scikit-learn trees)")
        depth = max(int(arrays["max_depth"]), 1)
        paths = list(_leaf_paths(left, right, weights))
        entries = len(paths) * (1 << depth) * depth
        if entries > MAX_TABLE_ENTRIES:
            raise ExplainerError(
                f"reason codes for {len(paths)} leaves of depth up to {depth} need "
                f"{entries:,} table entries (at most {MAX_TABLE_ENTRIES:,}): train shallower "
                f"or fewer trees, or set `reasons: never`"
            )
        internal = np.flatnonzero(left.ravel() >= 0)
        position = np.zeros(left.size, np.intp)
        position[internal] = np.arange(len(internal))
        self._feature = arrays["features"].ravel()[internal]
        self._threshold = arrays["thresholds"].ravel()[internal]
        # Per leaf and path step: the index of "the record goes this way" in the
        # concatenated [goes left, goes right] decisions of every split.
        self._steps = np.zeros((len(paths), depth), np.intp)
        self._columns = np.zeros((len(paths), depth), np.intp)  # per distinct feature
        self._table = np.zeros((len(paths), 1 << depth, depth))
        self._weights = (1 << np.arange(depth)).astype(np.float32)
        self._base = np.arange(len(paths)) * (1 << depth)
        cases = np.arange(1 << depth)
        by_count: dict[int, list[tuple[int, np.ndarray, np.ndarray]]] = {}
        for leaf, (tree, node, path) in enumerate(paths):
            flat = [tree * left.shape[1] + step for step, _, _ in path]
            steps = position[flat] + np.where([went for _, went, _ in path], 0, len(internal))
            self._steps[leaf, : len(path)] = steps
            features = arrays["features"][tree, [step for step, _, _ in path]]
            distinct = list(dict.fromkeys(features.tolist()))
            self._columns[leaf, : len(distinct)] = distinct
            share = np.ones(len(distinct))
            tested = np.zeros(len(distinct), np.intp)  # bit mask of the steps per feature
            for j, (feature, (_, _, fraction)) in enumerate(zip(features, path, strict=True)):
                k = distinct.index(feature)
                share[k] *= fraction
                tested[k] |= 1 << j
            satisfied = (cases[:, None] & tested[None, :]) == tested[None, :]
            mask = satisfied.astype(np.intp) @ (1 << np.arange(len(distinct)))
            value = values[tree, node, 0]
            by_count.setdefault(len(distinct), []).append((leaf, mask, np.r_[value, share]))
        for count, leaves in by_count.items():
            if count == 0:  # a tree that is a single leaf explains nothing
                continue
            rows = np.array([leaf for leaf, _, _ in leaves])
            params = np.array([p for _, _, p in leaves])
            phi = _leaf_shapley(params[:, 0], params[:, 1:])
            masks = np.array([mask for _, mask, _ in leaves])
            self._table[rows, :, :count] = phi[np.arange(len(rows))[:, None], masks]
        self._table = self._table.reshape(-1, depth)
        # The output (input feature) each (leaf, distinct feature) entry adds to. The sum
        # is a `np.bincount`, which adds a record's entries one after another in the same
        # order whatever the batch (a matrix product may not), so a record gets the same
        # reasons bit for bit alone, in a batch, in a file or on Spark.
        output = to_output.argmax(axis=1)[self._columns].ravel()
        self._n_outputs = to_output.shape[1]
        # Per row of a chunk, the bin of each entry: row * outputs + its output.
        self._bins = (np.arange(CHUNK_ROWS)[:, None] * self._n_outputs + output).ravel()

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """TreeSHAP values [rows, outputs] of the trees' input rows `x`, a few rows at a
        time: the lookups of a whole batch would hold ~100 MB at once (1,000 credit
        records), and chunks of CHUNK_ROWS are also faster (20 against 28-60 ms)."""
        if len(x) <= CHUNK_ROWS:
            return self._contributions(x)
        return np.vstack(
            [self._contributions(x[i : i + CHUNK_ROWS]) for i in range(0, len(x), CHUNK_ROWS)]
        )

    def _contributions(self, x: np.ndarray) -> np.ndarray:
        goes_left = x[:, self._feature] <= self._threshold
        ways = np.concatenate([goes_left, ~goes_left], axis=1).view(np.uint8)
        case = np.take(ways, self._steps, axis=1).astype(np.float32) @ self._weights
        looked_up = np.take(self._table, self._base + case.astype(np.intp), axis=0)
        n, width = len(x), self._n_outputs
        bins = self._bins[: looked_up.size]
        return np.bincount(bins, looked_up.ravel(), n * width).reshape(n, width)


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
        # Transformed column j is (x[:, source[j]] - mean[j]) / scale[j] when scaled, or
        # (x[:, source[j]] == code[j]) when one-hot (scale NaN), in the pipeline's order.
        self._source = arrays["source"].astype(np.int64)
        self._mean, self._scale, self._code = arrays["mean"], arrays["scale"], arrays["code"]
        self._scaled = np.isfinite(self._scale)
        # Sums transformed columns back to input features.
        to_features = np.zeros((len(self._source), len(spec.features)))
        to_features[np.arange(len(self._source)), self._source] = 1.0
        self._tables = LeafTables(arrays, to_features)
        # Per feature, the fixed part of its reason: code and adverse-action text.
        self._labels = [
            {"code": reason_code(name), "text": reason_text(spec, name)}
            for name in spec.feature_names
        ]
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
        return self._tables.contributions(self.transform(features))

    def reasons(self, features: np.ndarray, limit: int) -> list[list[dict[str, Any]]]:
        """Per row, up to `limit` features that pushed it toward the adverse outcome,
        strongest first, as `{feature, code, text, contribution}`."""
        contributions = self.contributions(features)
        order = np.argsort(-contributions, axis=1, kind="stable")[:, :limit]
        top = np.take_along_axis(contributions, order, axis=1)
        names = self.spec.feature_names
        return [
            [
                {"feature": names[i], **self._labels[i], "contribution": value}
                for i, value in zip(row_order, row_top, strict=True)
                if value > 0
            ]
            for row_order, row_top in zip(order.tolist(), top.tolist(), strict=True)
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
