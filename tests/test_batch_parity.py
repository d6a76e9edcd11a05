"""The column-wise batch check (`riskserve.columns`) and the Pydantic models agree.

Thousands of random and adversarial records of credit and fraud — type confusion (ints
as floats, bools or strings, and the reverse), bounds and just past them, the 2**53
ceiling, unknown categories, missing and unknown fields, broken cross-field rules — each
sent as a batch both ways. The fast check may only accept what Pydantic accepts, with
the same matrix and the same validated values; it may pass a valid record on to Pydantic
only when it holds an integer of 2**53 or more. A batch with any bad record earns
exactly Pydantic's 400 body.
"""

from __future__ import annotations

import json
import math
import random
from typing import Any

import numpy as np
import orjson
import pytest
from pydantic import ValidationError

from riskserve.columns import ColumnCheck
from riskserve.contract import Contract, validation_error_body
from riskserve.decisions import Policy
from riskserve.errors import ErrorResponse
from riskserve.spec import MAX_EXACT_INT, Feature, ModelSpec
from tests.cases import CREDIT, FRAUD

ROWS = 4000
MAX_RECORDS = 1000
_ODD = [None, "1", [], {}, True, False, 0, 1, 1.0, -0.0, 0.5, "", "grocery", 2**53, 2**64]


def _confused(f: Feature, valid: Any, rng: random.Random) -> Any:
    """A value of another JSON type that a lax check might take for this kind."""
    if f.kind == "int":
        return rng.choice([float(valid), valid + 0.5, str(valid), bool(valid % 2), None])
    if f.kind == "float":
        return rng.choice([int(valid), True, False, str(valid), None, [valid]])
    if f.kind == "bool":
        return rng.choice([int(valid), float(valid), str(valid).lower(), "true", None])
    assert f.values is not None
    return rng.choice([valid.upper(), f" {valid}", f.values.index(valid), None, "unknown"])


def _bounds(f: Feature, rng: random.Random) -> Any:
    """A number on or just past a bound, or at the edges of exact float64 integers."""
    edges = [b for b in (f.ge, f.gt, f.le, f.lt) if b is not None]
    edge = rng.choice(edges) if edges else 0.0
    step = 1 if f.kind == "int" else rng.choice([1e-9, 0.5, 1.0])
    value = rng.choice([edge, edge - step, edge + step])
    value = round(value) if f.kind == "int" else float(value)
    big = [MAX_EXACT_INT - 1, MAX_EXACT_INT, MAX_EXACT_INT + 1, -MAX_EXACT_INT, 10**30, 2**63]
    return rng.choice(big) if rng.random() < 0.2 else value


def _valid(f: Feature, rng: random.Random) -> Any:
    if f.kind == "category":
        assert f.values is not None
        return rng.choice(f.values)
    if f.kind == "bool":
        return rng.random() < 0.5
    low = f.ge if f.ge is not None else (f.gt + 1 if f.gt is not None else 0.0)
    high = f.le if f.le is not None else low + 10**6
    value = rng.uniform(low, high)
    if f.kind == "int":
        return math.floor(value)
    return rng.choice([value, float(round(value)), round(value)])  # ints are valid floats


def _record(spec: ModelSpec, rng: random.Random) -> dict[str, Any]:
    record = {f.name: _valid(f, rng) for f in spec.features}
    for _ in range(rng.choice([0, 0, 1, 1, 2])):
        f = rng.choice(spec.features)
        record[f.name] = rng.choice(
            [_confused(f, _valid(f, rng), rng), _bounds(f, rng), rng.choice(_ODD)]
            if f.kind in ("int", "float")
            else [_confused(f, _valid(f, rng), rng), rng.choice(_ODD)]
        )
    shape = rng.random()
    if shape < 0.03:
        record.pop(rng.choice(spec.feature_names))
    elif shape < 0.06:
        record[rng.choice(["extra", "records", "Age"])] = 1
    elif shape < 0.09:  # as many fields, one misnamed
        name = rng.choice(spec.feature_names)
        record[name.upper()] = record.pop(name)
    elif shape < 0.11:  # same fields, another order
        record = dict(rng.sample(list(record.items()), len(record)))
    return record


def _body(records: list[dict[str, Any]]) -> bytes:
    return json.dumps({"records": records}, allow_nan=False).encode()  # any size of int


def _pydantic(contract: Contract, body: bytes) -> list[Any] | None:
    try:
        return contract.batch.model_validate_json(body).records
    except ValidationError:
        return None


def _holds_big_int(record: dict[str, Any]) -> bool:
    return any(type(v) is int and abs(v) >= MAX_EXACT_INT for v in record.values())


@pytest.mark.parametrize(("spec", "seed"), [(CREDIT, 11), (CREDIT, 12), (FRAUD, 13), (FRAUD, 14)])
def test_fast_check_accepts_what_pydantic_accepts_with_the_same_matrix(spec, seed):
    rng = random.Random(seed)
    contract = Contract.build(spec, Policy(spec), MAX_RECORDS)
    check = ColumnCheck(spec, MAX_RECORDS)
    outcomes = {"both": 0, "neither": 0, "pydantic only": 0}
    for _ in range(ROWS):
        record = _record(spec, rng)
        body = _body([record])
        fast, models = check.rows(body), _pydantic(contract, body)
        if fast is None:
            outcome = "neither" if models is None else "pydantic only"
            # Passed on though valid: only for an integer float64 cannot hold exactly.
            assert models is None or _holds_big_int(record), record
        else:
            outcome = "both"
            assert models is not None, f"fast check accepted what Pydantic refuses: {record}"
            assert fast.records == [m.__dict__ for m in models]
            kinds = [type(v) for v in fast.records[0].values()]
            assert kinds == [type(models[0].__dict__[k]) for k in fast.records[0]], record
            np.testing.assert_array_equal(fast.matrix, spec.to_matrix(models))
        outcomes[outcome] += 1
    assert min(outcomes["both"], outcomes["neither"]) > ROWS // 10, outcomes


@pytest.mark.parametrize("spec", [CREDIT, FRAUD])
def test_a_batch_with_one_bad_record_earns_pydantics_error_body(spec):
    rng = random.Random(5)
    contract = Contract.build(spec, Policy(spec), MAX_RECORDS)
    candidates = ({f.name: _valid(f, rng) for f in spec.features} for _ in range(10**5))
    good = [r for r in candidates if _pydantic(contract, _body([r]))][:MAX_RECORDS]
    assert len(contract.many(orjson.dumps({"records": good}))) == MAX_RECORDS
    tried = 0
    while tried < 50:
        bad = _record(spec, rng)
        body = _body([*good[:500], bad, *good[501:]])
        try:
            expected = contract.batch.model_validate_json(body)
        except ValidationError as exc:
            tried += 1
            with pytest.raises(ErrorResponse) as refused:
                contract.many(body)
            assert refused.value.status == 400
            assert refused.value.body == validation_error_body(exc)
            assert refused.value.body["errors"][0]["loc"][:2] == ("records", 500)
        else:
            assert len(expected.records) == len(contract.many(body))


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b"{}",
        b'{"records": []}',
        b'{"records": {}}',
        b'{"records": [1]}',
        b'{"records": [null]}',
        b'{"records": [[]]}',
        b'{"records": "x"}',
        b'{"records": [{}], "extra": 1}',
        b'{"records": [{"age": NaN}]}',
        b'{"records": [{"age": 1e400}]}',
        b"not json",
    ],
)
def test_malformed_bodies_go_to_pydantic(body):
    check = ColumnCheck(CREDIT, MAX_RECORDS)
    assert check.rows(body) is None
    with pytest.raises(ErrorResponse) as refused:
        Contract.build(CREDIT, Policy(CREDIT), MAX_RECORDS).many(body)
    assert refused.value.status == 400


def test_too_many_records_go_to_pydantic():
    record = dict(CREDIT.example)
    body = orjson.dumps({"records": [record] * (MAX_RECORDS + 1)})
    assert ColumnCheck(CREDIT, MAX_RECORDS).rows(body) is None
    assert ColumnCheck(CREDIT, MAX_RECORDS + 1).rows(body) is not None


def test_duplicate_keys_mean_the_same_to_both():
    contract = Contract.build(CREDIT, Policy(CREDIT), MAX_RECORDS)
    text = orjson.dumps({"records": [dict(CREDIT.example)]}).decode()
    for age in ("17", "40"):  # a bad value overridden by a good one, and the reverse
        body = text.replace('"age":', f'"age":{age},"age":', 1).encode()
        fast, models = ColumnCheck(CREDIT, MAX_RECORDS).rows(body), _pydantic(contract, body)
        assert (fast is None) == (models is None)
        if fast is not None:
            assert fast.records == [m.__dict__ for m in models]


def test_valid_records_beyond_exact_floats_are_scored_through_pydantic():
    record = {**CREDIT.example, "annual_income": MAX_EXACT_INT}
    body = orjson.dumps({"records": [record]})
    assert ColumnCheck(CREDIT, MAX_RECORDS).rows(body) is None
    rows = Contract.build(CREDIT, Policy(CREDIT), MAX_RECORDS).many(body)
    assert rows.records[0]["annual_income"] == MAX_EXACT_INT
    assert rows.matrix[0, CREDIT.feature_names.index("annual_income")] == MAX_EXACT_INT
