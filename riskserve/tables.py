"""Tables of records (data files, reference samples) checked and encoded column-wise.

The API validates JSON with the Pydantic models of `riskserve.contract`; data files
(training data, drift samples) are checked here against the same spec, a column at a
time, and turned into the same feature matrix (`ModelSpec.to_matrix`'s encoding).
A row that breaks the spec is reported with the field and the rule, never dropped
silently.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from riskserve.spec import NUMERIC_KINDS, Feature, ModelSpec

_BOOL_CODES = {"true": 1.0, "false": 0.0, "1": 1.0, "0": 0.0, "1.0": 1.0, "0.0": 0.0}


@dataclasses.dataclass(frozen=True)
class Encoded:
    """The feature matrix of the rows that hold to the spec, and why the others do not."""

    matrix: np.ndarray  # accepted rows only, feature order
    accepted: np.ndarray  # bool mask over the input rows
    rejects: pd.DataFrame  # columns: row (0-based input position), field, rule

    @property
    def rejected_rows(self) -> int:
        """How many input rows were rejected (a row may break several rules)."""
        return int((~self.accepted).sum())


def _numeric(column: pd.Series, f: Feature) -> tuple[np.ndarray, list[tuple[np.ndarray, str]]]:
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    finite = np.isfinite(values)
    problems = [(~finite, f"{f.name} must be a {'whole ' if f.kind == 'int' else ''}number")]
    with np.errstate(invalid="ignore"):
        if f.kind == "int":
            problems.append((finite & (values != np.round(values)), f"{f.name} must be an integer"))
        if f.bounds_text:
            ok = values <= f.upper
            for bound, compare in ((f.ge, np.greater_equal), (f.gt, np.greater), (f.lt, np.less)):
                if bound is not None:
                    ok &= compare(values, bound)
            problems.append((finite & ~ok, f.bounds_text))
    return values, problems


def encode_column(column: pd.Series, f: Feature) -> tuple[np.ndarray, list[tuple[np.ndarray, str]]]:
    """One data column as matrix values, and (row mask, rule) for each broken rule."""
    if f.kind in NUMERIC_KINDS:
        return _numeric(column, f)
    text = column.astype("string").str.strip()
    if f.kind == "bool":
        codes = text.str.lower().map(_BOOL_CODES).to_numpy(dtype=np.float64, na_value=np.nan)
        return codes, [(np.isnan(codes), f"{f.name} must be true or false")]
    assert f.values is not None
    codes = pd.Index(f.values).get_indexer(text).astype(np.float64)  # -1: not a value
    unknown = codes < 0
    codes[unknown] = np.nan
    shown = ", ".join(f.values[:20]) + (", ..." if len(f.values) > 20 else "")
    return codes, [(unknown, f"{f.name} must be one of: {shown}")]


def encode_frame(spec: ModelSpec, frame: pd.DataFrame, check_rules: bool = True) -> Encoded:
    """Check every row of `frame` (data-file columns) against the spec and encode it.

    `check_rules=False` keeps rows that break only a cross-field rule: request rules
    say what the service accepts, and training data may hold rows it would not (the
    drift reference separates them as the `servable` population).
    """
    missing = [f.source_column for f in spec.features if f.source_column not in frame.columns]
    if missing:
        raise ValueError(f"the data has no column {', '.join(map(repr, missing))}")
    matrix = np.empty((len(frame), len(spec.features)))
    failures: list[tuple[np.ndarray, str, str]] = []
    for j, f in enumerate(spec.features):
        matrix[:, j], problems = encode_column(frame[f.source_column], f)
        failures += [(mask, f.name, rule) for mask, rule in problems]
    if check_rules:
        names = spec.feature_names
        with np.errstate(invalid="ignore"):
            for rule in spec.rules:
                holds = rule.holds(
                    matrix[:, names.index(rule.left)], matrix[:, names.index(rule.right)]
                )
                failures.append((~holds & np.isfinite(matrix).all(axis=1), rule.left, rule.text))
    accepted = np.ones(len(frame), dtype=bool)
    parts = []
    for mask, field, rule in failures:
        rows = np.flatnonzero(mask)
        if len(rows):
            accepted[rows] = False
            parts.append(pd.DataFrame({"row": rows, "field": field, "rule": rule}))
    rejects = (
        pd.concat(parts, ignore_index=True).sort_values("row", kind="stable")
        if parts
        else pd.DataFrame({"row": pd.Series(dtype=np.int64), "field": [], "rule": []})
    )
    return Encoded(matrix[accepted], accepted, rejects.reset_index(drop=True))
