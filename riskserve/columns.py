"""Batches checked a column at a time: the fast path of `riskserve.contract`'s validator.

Pydantic parses and checks a 1,000-record batch field by field in 1.3-2 ms; most batches
are valid, and for them one `orjson.loads` and a strict type test per column, then the
spec's own vectorised bounds and rules (`ModelSpec.admissible`) on the feature matrix,
take 0.6-0.8 ms, the matrix included. The check is conservative: anything it is not sure
of (a wrong type, a missing or unknown field, a broken bound or rule, an integer of 2**53
or more) returns None, and the contract validates the body with Pydantic, which accepts
it or builds the same 400 body as ever. So this module never words an error and never
accepts a row the Pydantic model refuses (tests/test_batch_parity.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

import numpy as np
import orjson

from riskserve.spec import MAX_EXACT_INT, NUMERIC_KINDS, ModelSpec

# The JSON types (as orjson returns them) each kind of feature accepts in strict mode.
_TYPES = {"int": {int}, "float": {int, float}, "bool": {bool}, "category": {str}}


@dataclasses.dataclass(frozen=True)
class Rows:
    """Validated records: their fields (as the audit stores them) and the feature matrix."""

    records: list[dict[str, Any]]
    matrix: np.ndarray  # float64 [records, features], ModelSpec.to_matrix's encoding

    def __len__(self) -> int:
        return len(self.records)

    @classmethod
    def of(cls, spec: ModelSpec, models: Sequence[Any]) -> Rows:
        """Rows of records a Pydantic model validated."""
        return cls([m.__dict__ for m in models], spec.to_matrix(models))


class ColumnCheck:
    """Validates `{"records": [...]}` bodies column-wise for one spec (see the module)."""

    def __init__(self, spec: ModelSpec, max_records: int) -> None:
        self.spec, self.max_records = spec, max_records
        self._width = len(spec.features)
        # Per feature, a record's value; KeyError when it is missing.
        self._getters = [itemgetter(name) for name in spec.feature_names]
        self._numeric = np.array([f.kind in NUMERIC_KINDS for f in spec.features])

    def rows(self, body: bytes) -> Rows | None:
        """The body's records checked and encoded, or None if anything may be wrong."""
        try:
            records = _records(orjson.loads(body), self.max_records)
        except orjson.JSONDecodeError:
            return None
        if records is None or set(map(len, records)) != {self._width}:
            return None
        try:  # every field present and, by the length check, nothing else
            columns = [list(map(get, records)) for get in self._getters]
        except KeyError:
            return None
        matrix = np.empty((len(records), self._width))
        whole_floats = []  # float fields sent as JSON integers in some records
        for j, (column, f, coder) in enumerate(
            zip(columns, self.spec.features, self.spec.coders, strict=True)
        ):
            kinds = set(map(type, column))
            if not kinds <= _TYPES[f.kind]:
                return None
            if f.kind == "float" and int in kinds:
                whole_floats.append(f.name)
            try:
                matrix[:, j] = list(map(coder.__getitem__, column)) if coder else column
            except (KeyError, OverflowError):  # not an allowed value; an int beyond float64
                return None
        # Beyond 2**53 float64 rounds integers, so its bound checks could differ from
        # Pydantic's exact ones: such batches go to Pydantic.
        exact = (np.abs(matrix[:, self._numeric]) < MAX_EXACT_INT).all()
        if not exact or not self.spec.admissible(matrix).all():
            return None
        # As Pydantic returns them: the audit stores (and hashes) the validated value.
        for name in whole_floats:
            for record in records:
                record[name] = float(record[name])
        return Rows(records, matrix)


def _records(parsed: Any, max_records: int) -> list[dict[str, Any]] | None:
    """The `records` list of a well-formed batch of dicts, or None."""
    if type(parsed) is not dict or parsed.keys() != {"records"}:
        return None
    records = parsed["records"]
    if type(records) is not list or not 0 < len(records) <= max_records:
        return None
    return records if set(map(type, records)) == {dict} else None
