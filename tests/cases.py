"""Request cases shared by the unit and HTTP tests: each bad record and the error it earns."""

from __future__ import annotations

from typing import Any

from riskserve.settings import PROJECT_ROOT
from riskserve.spec import load_spec

CREDIT = load_spec(PROJECT_ROOT / "specs" / "credit.yaml")
FRAUD = load_spec(PROJECT_ROOT / "specs" / "fraud.yaml")
IRIS = load_spec(PROJECT_ROOT / "specs" / "iris.yaml")
EXAMPLE: dict[str, Any] = dict(CREDIT.example)

_MISSING = object()


def record(**changes: Any) -> dict[str, Any]:
    """The SPEC example with fields changed (or removed with the _MISSING marker)."""
    out = {**EXAMPLE, **changes}
    return {k: v for k, v in out.items() if v is not _MISSING}


# (id, record, field named in the error, Pydantic error type naming the rule)
BAD_RECORDS: list[tuple[str, dict[str, Any], str, str]] = [
    ("age below 18", record(age=17), "age", "greater_than_equal"),
    ("age above 120", record(age=121), "age", "less_than_equal"),
    ("age as float", record(age=35.5), "age", "int_type"),
    ("age as string", record(age="35"), "age", "int_type"),
    ("age as bool", record(age=True), "age", "int_type"),
    ("age missing", record(age=_MISSING), "age", "missing"),
    ("income zero", record(annual_income=0), "annual_income", "greater_than"),
    ("income negative", record(annual_income=-5), "annual_income", "greater_than"),
    ("income beyond float64", record(annual_income=10**30), "annual_income", "less_than_equal"),
    (
        "dti negative",
        record(debt_to_income_ratio=-0.1),
        "debt_to_income_ratio",
        "greater_than_equal",
    ),
    ("dti above 10", record(debt_to_income_ratio=10.5), "debt_to_income_ratio", "less_than_equal"),
    ("dti as string", record(debt_to_income_ratio="0.3"), "debt_to_income_ratio", "float_type"),
    (
        "history negative",
        record(credit_history_length=-1),
        "credit_history_length",
        "greater_than_equal",
    ),
    (
        "history above 80",
        record(age=120, credit_history_length=81),
        "credit_history_length",
        "less_than_equal",
    ),
    (
        "history beyond age - 18",
        record(age=30, credit_history_length=13),
        "credit_history_length",
        "cross_field",
    ),
    (
        "open accounts above 100",
        record(num_open_accounts=101),
        "num_open_accounts",
        "less_than_equal",
    ),
    (
        "late payments negative",
        record(num_late_payments=-1),
        "num_late_payments",
        "greater_than_equal",
    ),
    ("loan zero", record(loan_amount=0), "loan_amount", "greater_than"),
    ("loan null", record(loan_amount=None), "loan_amount", "int_type"),
    ("unknown field", record(zip_code="94110"), "zip_code", "extra_forbidden"),
]

# Bodies that are not valid JSON numbers at all (sent raw over HTTP).
NON_FINITE_BODIES: list[tuple[str, str, str]] = [
    (
        "NaN",
        '{"age": 35, "annual_income": 55000, "debt_to_income_ratio": NaN, '
        '"credit_history_length": 12, "num_open_accounts": 5, "num_late_payments": 2, '
        '"loan_amount": 15000}',
        "debt_to_income_ratio",
    ),
    (
        "Infinity",
        '{"age": 35, "annual_income": 55000, "debt_to_income_ratio": Infinity, '
        '"credit_history_length": 12, "num_open_accounts": 5, "num_late_payments": 2, '
        '"loan_amount": 15000}',
        "debt_to_income_ratio",
    ),
    (
        "-Infinity",
        '{"age": 35, "annual_income": 55000, "debt_to_income_ratio": -Infinity, '
        '"credit_history_length": 12, "num_open_accounts": 5, "num_late_payments": 2, '
        '"loan_amount": 15000}',
        "debt_to_income_ratio",
    ),
]
