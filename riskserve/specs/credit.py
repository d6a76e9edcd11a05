"""The credit-default model's inputs (SPEC section 1)."""

from riskserve.spec import AtMostOtherMinus, Feature, ModelSpec

CREDIT = ModelSpec(
    name="credit_model",
    title="Credit Application",
    target="default",
    features=(
        Feature("age", "int", "Applicant age in years.", ge=18, le=120),
        Feature("annual_income", "int", "Gross annual income in dollars.", gt=0),
        Feature(
            "debt_to_income_ratio", "float", "Monthly debt payments / monthly income.", ge=0, le=10
        ),
        Feature(
            "credit_history_length", "int", "Years since the first credit line.", ge=0, le=80
        ),
        Feature("num_open_accounts", "int", "Open credit accounts.", ge=0, le=100),
        Feature("num_late_payments", "int", "Late payments on record.", ge=0),
        Feature("loan_amount", "int", "Requested loan amount in dollars.", gt=0),
    ),
    rules=(AtMostOtherMinus("credit_history_length", "age", 18),),
    example={
        "age": 35,
        "annual_income": 55000,
        "debt_to_income_ratio": 0.35,
        "credit_history_length": 12,
        "num_open_accounts": 5,
        "num_late_payments": 2,
        "loan_amount": 15000,
    },
)
