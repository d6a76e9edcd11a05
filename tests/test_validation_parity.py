"""The API's request models and the file scorer's column checks accept the same rows.

Random records of credit and fraud near every bound, with wrong kinds, unknown
categories, missing values and broken cross-field rules, checked both ways: by the
Pydantic model a request is validated with (`riskserve.contract.record_model`) and, as
a table whose columns hold the same values, by `riskserve.tables.encode_frame`. Both
must accept exactly the same rows and encode them to the same feature matrix.
"""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from riskserve.contract import record_model
from riskserve.spec import Feature, ModelSpec
from riskserve.tables import encode_frame
from tests.cases import CREDIT, FRAUD

ROWS = 3000


def _number(f: Feature, rng: random.Random) -> Any:
    """A value of a numeric feature: mostly near a bound, sometimes not a valid number."""
    low = f.ge if f.ge is not None else f.gt if f.gt is not None else -100.0
    high = f.le if f.le is not None else low + 1000
    if rng.random() < 0.9:  # valid, the bounds themselves included
        value = rng.choice([low, high, rng.uniform(low, high)])
        if f.gt is not None and value == f.gt:
            value = f.gt + 1
    else:  # just outside a bound, missing, not finite, or (int) a fraction
        value = rng.choice([low - 1, high + 1, None, math.inf, -math.inf, math.nan, low + 0.5])
        if value is None or not math.isfinite(value) or value == low + 0.5:
            return value
    return round(value) if f.kind == "int" else float(value)


def _value(f: Feature, rng: random.Random) -> Any:
    if f.kind == "category":
        assert f.values is not None
        return rng.choice([*f.values, "unknown", None] if rng.random() < 0.3 else f.values)
    if f.kind == "bool":
        return rng.choice([True, False, None] if rng.random() < 0.2 else [True, False])
    return _number(f, rng)


def _records(spec: ModelSpec, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [{f.name: _value(f, rng) for f in spec.features} for _ in range(ROWS)]


def _table(spec: ModelSpec, records: list[dict[str, Any]]) -> pd.DataFrame:
    """The records as a data file holds them: a column per feature, missing as empty."""
    columns = {}
    for f in spec.features:
        values = [r[f.name] for r in records]
        kind = {"int": "float64", "float": "float64"}.get(f.kind, "object")
        columns[f.source_column] = pd.Series(
            [np.nan if v is None else v for v in values] if kind == "float64" else values,
            dtype=kind,
        )
    return pd.DataFrame(columns)


@pytest.mark.parametrize(("spec", "seed"), [(CREDIT, 1), (CREDIT, 2), (FRAUD, 3), (FRAUD, 4)])
def test_api_and_file_checks_accept_the_same_rows(spec, seed):
    records = _records(spec, seed)
    model = record_model(spec)
    accepted_by_api, valid = [], []
    for record in records:
        try:
            valid.append(model.model_validate(record))
        except ValidationError:
            accepted_by_api.append(False)
        else:
            accepted_by_api.append(True)
    encoded = encode_frame(spec, _table(spec, records))
    assert encoded.accepted.tolist() == accepted_by_api
    assert 0.1 < np.mean(accepted_by_api) < 0.9  # both kinds of row were tried
    np.testing.assert_array_equal(encoded.matrix, spec.to_matrix(valid))
