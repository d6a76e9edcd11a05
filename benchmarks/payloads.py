"""Request bodies for load tests, derived from the model's spec: its example, and seeded
random valid records.

Random records are rows of the model entry's stored reference sample (the training
features) restricted to the servable ones, those a request could carry (every bound and
cross-field rule of the spec holds), decoded to request form: ints as int, bools as bool,
categories as their strings. So a load test sends records like the ones the model was
trained on, of any model (credit, fraud, iris, ...), and measures scoring, not 400s.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from riskserve.backends import OnnxBackend
from riskserve.contract import record_model
from riskserve.decisions import Policy
from riskserve.model_entry import read_spec, reference_rows
from riskserve.scores import score_rows
from riskserve.spec import ModelSpec


def entry_folder(tag: str) -> Path:
    """The model-store folder of `tag` (`name`, `name:latest` or `name:version`).

    BentoML reads BENTOML_HOME when first imported: set it before calling this."""
    import bentoml

    return Path(bentoml.models.get(tag).path)


def example(spec: ModelSpec) -> dict[str, Any]:
    """The spec's example record (a /predict body)."""
    return dict(spec.example)


def to_records(spec: ModelSpec, rows: np.ndarray) -> list[dict[str, Any]]:
    """Feature-matrix rows as request records (JSON-ready Python values)."""
    columns = []
    for feature, codes in zip(spec.features, rows.T, strict=True):
        values = spec.decode(feature.name, codes)
        if feature.kind == "int":
            values = np.rint(values).astype(np.int64)
        columns.append(values.tolist())
    names = spec.feature_names
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def adverse_records(folder: Path, spec: ModelSpec) -> list[dict[str, Any]]:
    """The entry's servable reference records the model does not put in its best band
    (those answered with reason codes), riskiest first, in request form."""
    rows = reference_rows(folder, spec, "servable")
    policy = Policy(spec)
    scores = score_rows(policy, OnnxBackend(folder).predict_proba(rows))
    adverse = np.flatnonzero(scores.adverse)
    return to_records(spec, rows[adverse[np.argsort(-scores.scored[adverse])]])


def adverse_example(folder: Path, spec: ModelSpec) -> dict[str, Any] | None:
    """The riskiest servable record (a /predict answered with reason codes), or None
    for a model that gives no reasons (multiclass) or has no adverse record."""
    riskiest = adverse_records(folder, spec)[:1] if spec.task == "binary" else []
    return riskiest[0] if riskiest else None


class RecordSource:
    """The servable reference records of one model entry, to draw request records from."""

    def __init__(self, spec: ModelSpec, rows: np.ndarray) -> None:
        if not len(rows):
            raise ValueError(f"{spec.name}: the reference sample has no servable rows")
        self.spec = spec
        self.pool = to_records(spec, rows)

    @classmethod
    def from_entry(cls, folder: Path, spec: ModelSpec | None = None) -> RecordSource:
        """From a model-store entry folder (its own spec unless one is given)."""
        spec = spec or read_spec(folder)
        return cls(spec, reference_rows(folder, spec, "servable"))

    def record(self, rng: random.Random) -> dict[str, Any]:
        """One record, drawn with `rng`."""
        return dict(rng.choice(self.pool))

    def records(self, n: int, seed: int = 0) -> list[dict[str, Any]]:
        """`n` records, the same ones for the same seed (drawn with replacement)."""
        rng = random.Random(seed)
        return [self.record(rng) for _ in range(n)]


def feature_matrix(spec: ModelSpec, records: Sequence[dict[str, Any]]) -> np.ndarray:
    """Records as the float64 matrix the backends score, exactly as the service builds it:
    validated by the spec's record model, then `spec.to_matrix`."""
    model = record_model(spec)
    return spec.to_matrix([model.model_validate(r) for r in records])


def write_body(folder: Path, name: str, body: Any) -> Path:
    """Write a JSON request body to `folder/name.json` (wrk reads bodies from files)."""
    path = folder / f"{name}.json"
    path.write_text(json.dumps(body))
    return path
