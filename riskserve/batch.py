"""Scoring tables in bulk: a verified model from its store entry, and one chunk of rows
checked, scored and decided.

The file scorer (`riskserve.score_files`) and the Spark job (`riskserve.spark_job`)
both call `score_frame` on pandas chunks. It checks rows with `riskserve.tables` (the
same spec the API's request models come from, a column at a time), scores them with
the backend the service would load, decides with `riskserve.scores.score_rows`, the
API's own step, and adds reason codes as configuration asks (`reasons`, `max_reasons`;
the API's explainer and rule); so a chunk gets the answers the API would give, row for
row (reasons as a JSON list per row).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import orjson
import pandas as pd

from riskserve.backends import Backend
from riskserve.decisions import Policy
from riskserve.model_entry import open_entry, served_explainer, store_entry
from riskserve.reasons import Explainer
from riskserve.scores import score_rows
from riskserve.settings import Settings
from riskserve.spec import ModelSpec
from riskserve.tables import encode_frame

ROW = "row"  # the id column when the input has no key: the row's 0-based input position
VERSION = "model_version"
REASONS = "reasons"
REJECT_COLUMNS = ("field", "rule")


@dataclasses.dataclass(frozen=True)
class BatchModel:
    """A model-store entry ready to score tables, with the cut-offs in force."""

    tag: str
    folder: Path
    spec: ModelSpec
    policy: Policy
    backend: Backend
    settings: Settings
    explainer: Explainer | None = None

    @classmethod
    def load(cls, folder: Path, tag: str, settings: Settings) -> BatchModel:
        """Open and verify an entry as the service would (backend, parity, cut-offs).

        Raises `ModelUnavailable` or `PolicyError` with one line saying why not.
        """
        spec, backend, _, _ = open_entry(folder, tag, settings.backend, settings.parity_tolerance)
        explainer = served_explainer(folder, spec, tag, settings.reasons)[0]
        policy = Policy(spec, settings.cutoffs.get(spec.name))
        return cls(tag, folder, spec, policy, backend, settings, explainer)

    @property
    def input_columns(self) -> list[str]:
        """The data-file columns the model reads."""
        return [f.source_column for f in self.spec.features]


def default_store() -> Path:
    """BentoML's model store: `$BENTOML_HOME/models` (BentoML's default home otherwise)."""
    home = os.environ.get("BENTOML_HOME") or Path.home() / "bentoml"
    return Path(home) / "models"


def find_model(tag: str, store: Path | None, settings: Settings) -> BatchModel:
    """`name[:version]` from `store` (default: BentoML's), loaded and verified."""
    folder, full_tag = store_entry(store or default_store(), tag)
    return BatchModel.load(folder, full_tag, settings)


def answer_dtypes(model: BatchModel) -> dict[str, np.dtype]:
    """The answer's columns in a scored table, and their types."""
    none = score_rows(model.policy, np.empty((0, len(model.spec.labels))))
    dtypes = {name: column.dtype for name, column in none.columns().items()}
    if model.explainer is not None:
        dtypes[REASONS] = np.dtype(object)
    return dtypes


def score_frame(
    model: BatchModel, frame: pd.DataFrame, id_name: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scored rows and rejected rows of a chunk whose `id_name` column identifies each row.

    Scored: the id, the answer's fields (as `/predict` names them) and the model version.
    Rejected: the id, the field and the rule it broke (a row per broken rule).
    """
    encoded = encode_frame(model.spec, frame)
    ids = frame[id_name].to_numpy()
    scores = score_rows(model.policy, model.backend.predict_proba(encoded.matrix))
    scored = pd.DataFrame({id_name: ids[encoded.accepted], **scores.columns()})
    if model.explainer is not None:
        settings = model.settings
        reasons = scores.reasons(
            model.explainer, encoded.matrix, settings.reasons, settings.max_reasons
        )
        scored[REASONS] = [orjson.dumps(r).decode() for r in reasons]
    scored[VERSION] = model.tag
    rejects = encoded.rejects
    rejected = pd.DataFrame(
        {
            id_name: ids[rejects["row"].to_numpy(dtype=np.int64)],
            **{c: rejects[c].astype(object) for c in REJECT_COLUMNS},
        }
    )
    return scored, rejected
