"""The feature spec: request rules, column order, and the JSON form stored with models."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from pydantic import ValidationError

from riskserve.spec import MAX_EXACT_INT, AtMostOtherMinus, Feature, ModelSpec
from riskserve.specs import SPECS, spec_for_tag
from tests.cases import BAD_RECORDS, EXAMPLE, record

CREDIT = SPECS["credit_model"]
Application = CREDIT.request_model()


def test_example_is_valid_and_kept_exactly():
    app = Application.model_validate(EXAMPLE)
    assert app.model_dump() == EXAMPLE


@pytest.mark.parametrize(("record", "field", "error_type"),
                         [c[1:] for c in BAD_RECORDS], ids=[c[0] for c in BAD_RECORDS])
def test_bad_record_names_field_and_rule(record, field, error_type):
    with pytest.raises(ValidationError) as info:
        Application.model_validate(record)
    errors = info.value.errors()
    assert [(e["loc"], e["type"]) for e in errors] == [((field,), error_type)]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_rejected(value):
    with pytest.raises(ValidationError) as info:
        Application.model_validate(record(debt_to_income_ratio=value))
    assert info.value.errors()[0]["type"] == "finite_number"


def test_boundaries_are_inclusive_where_the_spec_says():
    Application.model_validate(record(age=18, credit_history_length=0))
    Application.model_validate(record(age=120, credit_history_length=80))
    Application.model_validate(record(debt_to_income_ratio=0, num_open_accounts=0,
                                      num_late_payments=0))
    Application.model_validate(record(debt_to_income_ratio=10, num_open_accounts=100))
    Application.model_validate(record(age=30, credit_history_length=12))  # exactly age - 18
    Application.model_validate(record(annual_income=MAX_EXACT_INT))


def test_cross_field_error_says_the_rule():
    with pytest.raises(ValidationError) as info:
        Application.model_validate(record(age=30, credit_history_length=13))
    assert "credit_history_length <= age - 18" in info.value.errors()[0]["msg"]


def test_cross_field_rule_skipped_when_age_itself_is_invalid():
    with pytest.raises(ValidationError) as info:
        Application.model_validate(record(age=10, credit_history_length=5))
    assert [e["loc"] for e in info.value.errors()] == [("age",)]


def test_float_field_accepts_json_integers():
    assert Application.model_validate(record(debt_to_income_ratio=1)).debt_to_income_ratio == 1.0


def test_matrix_follows_spec_column_order():
    apps = [Application.model_validate(record(age=a)) for a in (30, 40)]
    matrix = CREDIT.to_matrix(apps)
    assert matrix.dtype == np.float64 and matrix.shape == (2, 7)
    assert matrix[:, 0].tolist() == [30, 40]
    assert matrix[0].tolist() == [float(record(age=30)[n]) for n in CREDIT.feature_names]


def test_schema_documents_rules_and_example():
    schema = Application.model_json_schema()
    assert schema["additionalProperties"] is False
    assert schema["example"] == EXAMPLE
    assert schema["properties"]["age"]["minimum"] == 18
    assert schema["properties"]["age"]["maximum"] == 120
    assert "credit_history_length <= age - 18" in schema["description"]
    assert set(schema["required"]) == set(CREDIT.feature_names)


def test_spec_json_round_trips():
    data = CREDIT.to_json()
    assert json.loads(json.dumps(data)) == data
    assert [f["name"] for f in data["features"]] == CREDIT.feature_names
    assert data["rules"] == ["credit_history_length <= age - 18"]


def test_spec_rejects_inconsistent_declarations():
    features = (Feature("a", "int", "A."), Feature("b", "int", "B."))
    with pytest.raises(ValueError, match="example keys"):
        ModelSpec("m", "M", features, "y", example={"a": 1})
    with pytest.raises(ValueError, match="unknown feature"):
        ModelSpec("m", "M", features, "y", example={"a": 1, "b": 2},
                  rules=(AtMostOtherMinus("a", "zz", 1),))
    with pytest.raises(ValueError, match="unknown kind"):
        Feature("c", "text", "C.")


def test_spec_for_tag():
    assert spec_for_tag("credit_model:abc123") is CREDIT
    assert spec_for_tag("credit_model") is CREDIT
    with pytest.raises(ValueError, match="unknown model"):
        spec_for_tag("nope:latest")


def test_admissible_agrees_with_request_validation():
    rng = np.random.default_rng(0)
    rows = np.column_stack([
        rng.integers(10, 130, 3000), rng.integers(-5, 100, 3000), rng.uniform(-1, 11, 3000),
        rng.integers(-5, 90, 3000), rng.integers(-5, 110, 3000), rng.integers(-2, 9, 3000),
        rng.integers(-5, 50, 3000),
    ]).astype(float)
    mask = CREDIT.admissible(rows)
    assert 0 < mask.sum() < len(rows)
    for row, ok in zip(rows, mask, strict=True):
        values = {n: (float(v) if f.kind == "float" else int(v))
                  for n, v, f in zip(CREDIT.feature_names, row, CREDIT.features, strict=True)}
        try:
            Application.model_validate(values)
            valid = True
        except ValidationError:
            valid = False
        assert valid == ok, values
