"""Training data: read it (a generator or the user's file), check it against the spec,
encode it, and split it.

Every problem a user can cause with their own file is a `DataError` with one line
saying what is wrong: the command prints it instead of a traceback.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from riskserve.spec import ModelSpec
from riskserve.tables import encode_frame
from training.errors import DataError
from training.generators import GENERATORS

READERS = {".csv": pd.read_csv, ".parquet": pd.read_parquet}


def read_table(path: Path) -> pd.DataFrame:
    """A CSV or Parquet file as a table (column types as the file gives them)."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise DataError(f"{path}: unknown file type {path.suffix!r}; use .csv or .parquet")
    try:
        frame = reader(path)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except Exception as exc:  # the readers' many parse errors: one line each
        raise DataError(f"{path}: cannot read it ({str(exc).splitlines()[0]})") from None
    if frame.empty:
        raise DataError(f"{path}: the file has no rows")
    return frame


def source_frame(
    spec: ModelSpec, data: Path | None, n_samples: int | None, seed: int | None
) -> tuple[pd.DataFrame, str]:
    """The raw training table and a description of where it came from."""
    if data is None and spec.data.file:
        data = Path(spec.data.file)
    if data is not None:
        return read_table(data), str(data)
    if spec.data.generator is None:
        raise DataError(f"spec {spec.name} names no data: pass DATA=<file.csv|file.parquet>")
    generate = GENERATORS.get(spec.data.generator)
    if generate is None:
        raise DataError(
            f"spec {spec.name}: unknown generator {spec.data.generator!r}; "
            f"known: {sorted(GENERATORS)}"
        )
    n = n_samples or spec.data.n_samples
    seed = spec.data.seed if seed is None else seed
    return generate(n, seed), f"generator {spec.data.generator} (n={n}, seed={seed})"


def target_labels(column: pd.Series) -> pd.Series:
    """Target values as text: whole-number floats as integers, so 1.0 and 1 agree."""
    values = column.dropna()
    if pd.api.types.is_float_dtype(values) and (values == values.round()).all():
        values = values.astype(np.int64)
    return values.astype(str).str.strip()


def encode_target(spec: ModelSpec, frame: pd.DataFrame) -> np.ndarray:
    """Class indices in model output order (binary: 1 = the positive label)."""
    if spec.target not in frame.columns:
        raise DataError(f"the data has no target column {spec.target!r}")
    labels = target_labels(frame[spec.target]).reindex(frame.index)
    seen = sorted(labels.dropna().unique())
    if len(seen) < 2:
        raise DataError(
            f"the target {spec.target!r} has only {seen or 'no'} value(s): "
            "a model needs at least two classes"
        )
    if labels.isna().any():
        raise DataError(f"the target {spec.target!r} is empty in {int(labels.isna().sum())} rows")
    if spec.task == "binary":
        positive = str(spec.positive_label)
        if positive not in seen:
            raise DataError(
                f"positive label {positive!r} is not in the target {spec.target!r} "
                f"(values: {seen[:10]})"
            )
        if len(seen) > 2:
            raise DataError(f"binary target {spec.target!r} has {len(seen)} values: {seen[:10]}")
        return (labels == positive).to_numpy().astype(np.int64)
    assert spec.classes is not None
    unknown = sorted(set(seen) - set(spec.classes))
    if unknown:
        raise DataError(f"target {spec.target!r} has values the spec's classes lack: {unknown}")
    return labels.map({c: i for i, c in enumerate(spec.classes)}).to_numpy().astype(np.int64)


@dataclasses.dataclass(frozen=True)
class Prepared:
    """Checked, encoded training data and the report on rows left out."""

    features: np.ndarray
    target: np.ndarray
    rows: int
    rejects: pd.DataFrame


def prepare(spec: ModelSpec, frame: pd.DataFrame) -> Prepared:
    """Check every row against the spec; stop when too many break it."""
    target = encode_target(spec, frame)
    for f in spec.features:
        column = frame.get(f.source_column)
        if column is not None and column.nunique(dropna=True) < 2:
            state = "empty" if column.notna().sum() == 0 else "constant"
            raise DataError(
                f"column {f.source_column!r} ({f.name}) is {state}: it cannot "
                "inform the model; remove it from the spec"
            )
    try:
        encoded = encode_frame(spec, frame, check_rules=False)
    except ValueError as exc:
        raise DataError(f"spec and data differ: {exc}") from None
    share = encoded.rejected_rows / len(frame)
    if share > spec.training.max_rejected_fraction:
        top = encoded.rejects.groupby(["field", "rule"]).size().nlargest(3)
        why = "; ".join(f"{field}: {rule} ({n} rows)" for (field, rule), n in top.items())
        raise DataError(
            f"{encoded.rejected_rows} of {len(frame)} rows ({share:.1%}) break the spec, more "
            f"than training.max_rejected_fraction ({spec.training.max_rejected_fraction:.0%}): "
            f"{why}"
        )
    if len(np.unique(target[encoded.accepted])) < 2:
        raise DataError("after rejecting rows, the target has a single class")
    return Prepared(encoded.matrix, target[encoded.accepted], len(frame), encoded.rejects)


def data_hash(df: pd.DataFrame) -> str:
    """SHA-256 of the dataset's values and columns: same data, same hash."""
    digest = hashlib.sha256(",".join(map(str, df.columns)).encode())
    digest.update(pd.util.hash_pandas_object(df, index=True).to_numpy().tobytes())
    return digest.hexdigest()


def split(spec: ModelSpec, data: Prepared) -> tuple[np.ndarray, ...]:
    """Stratified split into train/test features and targets (the spec's size and seed)."""
    return tuple(
        train_test_split(
            data.features,
            data.target,
            test_size=spec.training.test_size,
            stratify=data.target,
            random_state=spec.training.split_seed,
        )
    )
