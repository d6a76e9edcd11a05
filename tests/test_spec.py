"""The feature spec: request rules, column order, and the JSON form stored with models."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import yaml
from pydantic import ValidationError

from riskserve.contract import record_model
from riskserve.settings import PROJECT_ROOT as ROOT
from riskserve.spec import MAX_EXACT_INT, SpecError, load_spec, parse_spec
from tests.cases import BAD_RECORDS, CREDIT, EXAMPLE, FRAUD, IRIS, record

Application = record_model(CREDIT)


def test_example_is_valid_and_kept_exactly():
    app = Application.model_validate(EXAMPLE)
    assert app.model_dump() == EXAMPLE


@pytest.mark.parametrize(
    ("record", "field", "error_type"), [c[1:] for c in BAD_RECORDS], ids=[c[0] for c in BAD_RECORDS]
)
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
    Application.model_validate(
        record(debt_to_income_ratio=0, num_open_accounts=0, num_late_payments=0)
    )
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
    assert parse_spec(CREDIT.to_yaml()) == CREDIT


def _broken(change: str, to: str) -> str:
    text = (ROOT / "specs" / "credit.yaml").read_text()
    assert change in text
    return text.replace(change, to, 1)


@pytest.mark.parametrize(
    ("change", "to", "where"),
    [
        ("    le: 120\n", "    le: lots\n", ":20: features[0].le: Input should be a valid number"),
        ('op: "<="', 'op: "=<"', ":58: rules[0].op: Input should be '<', '<=', '>' or '>='"),
        ("right: age", "right: zip", ":58: rules[0].right: 'zip' is not a numeric feature"),
        (
            "segments: [25, 35, 50, 65]",
            "segments: [35, 25]",
            ":22: features[0].segments: segments: increasing cut points of a number",
        ),
        (
            "segments: [25, 35, 50, 65]",
            "segments: []",
            ":22: features[0].segments: segments: increasing cut points of a number",
        ),
        ("  age: 35\n", "  age: 15\n", "example.age: example breaks the spec"),
        ("task: binary", "task: ternary", "task: Input should be 'binary' or 'multiclass'"),
        ("positive_label: 1\n", "", "positive_label: a binary model names its positive"),
        (
            "    - {label: Medium, below: 0.6}",
            "    - {label: Medium, below: 0.2}",
            "decision.levels: `below` must increase",
        ),
        ("  - name: loan_amount", "  - name: loan amount", "features[6].name: must start with"),
        ("    kind: float", "    kind: text", "features[2].kind: Input should be"),
        ("    gt: 0\n", "    gt: 0\n    values: [a, b]\n", "category features (and only they)"),
    ],
)
def test_spec_file_errors_name_line_and_key(change, to, where):
    with pytest.raises(SpecError) as info:
        parse_spec(_broken(change, to), "credit.yaml")
    assert where in str(info.value)
    assert str(info.value).startswith("credit.yaml:")


def test_spec_file_that_is_not_yaml_or_not_a_mapping(tmp_path):
    with pytest.raises(SpecError, match=r"x.yaml:3: not valid YAML"):
        parse_spec("name: a\ntitle: [b\n", "x.yaml")
    with pytest.raises(SpecError, match="a spec is a YAML mapping"):
        parse_spec("- a\n- b\n", "x.yaml")
    with pytest.raises(SpecError, match="cannot read the spec"):
        load_spec(tmp_path / "absent.yaml")


def test_built_in_specs_load_with_their_kinds():
    assert [f.kind for f in FRAUD.features] == ["float", "category", "bool", "int", "float"]
    assert FRAUD.decision.policy == "cutoffs" and FRAUD.response.probability == "fraud_probability"
    assert IRIS.task == "multiclass" and IRIS.labels == ("setosa", "versicolor", "virginica")
    assert IRIS.feature("sepal_length").source_column == "sepal length (cm)"


def test_category_values_may_hold_any_characters():
    values = ["< 0 DM", "0 <= ... < 200 DM", ">= 200 DM / salary: 1 year", 'say "yes", or no']
    data = FRAUD.to_json()
    data["features"][1]["values"] = [*values, *data["features"][1]["values"]]
    spec = parse_spec(yaml.safe_dump(data))
    assert spec.feature("merchant_category").values[:4] == tuple(values)
    model = record_model(spec)
    for value in values:
        assert model.model_validate({**FRAUD.example, "merchant_category": value})
    with pytest.raises(ValidationError) as info:
        model.model_validate({**FRAUD.example, "merchant_category": "shoes"})
    assert "'< 0 DM'" in info.value.errors()[0]["msg"]


def test_fraud_matrix_codes_categories_and_booleans():
    model = record_model(FRAUD)
    rows = [
        model.model_validate({**FRAUD.example, "merchant_category": c, "card_present": b})
        for c, b in (("online", False), ("grocery", True))
    ]
    matrix = FRAUD.to_matrix(rows)
    assert matrix[:, 1].tolist() == [3.0, 0.0] and matrix[:, 2].tolist() == [0.0, 1.0]
    assert FRAUD.decode("merchant_category", matrix[:, 1]).tolist() == ["online", "grocery"]


def test_bool_is_strict():
    model = record_model(FRAUD)
    for value in (1, "true", None):
        with pytest.raises(ValidationError):
            model.model_validate({**FRAUD.example, "card_present": value})


def test_admissible_agrees_with_request_validation():
    rng = np.random.default_rng(0)
    rows = np.column_stack(
        [
            rng.integers(10, 130, 3000),
            rng.integers(-5, 100, 3000),
            rng.uniform(-1, 11, 3000),
            rng.integers(-5, 90, 3000),
            rng.integers(-5, 110, 3000),
            rng.integers(-2, 9, 3000),
            rng.integers(-5, 50, 3000),
        ]
    ).astype(float)
    mask = CREDIT.admissible(rows)
    assert 0 < mask.sum() < len(rows)
    for row, ok in zip(rows, mask, strict=True):
        values = {
            n: (float(v) if f.kind == "float" else int(v))
            for n, v, f in zip(CREDIT.feature_names, row, CREDIT.features, strict=True)
        }
        try:
            Application.model_validate(values)
            valid = True
        except ValidationError:
            valid = False
        assert valid == ok, values
