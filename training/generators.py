"""Seeded data generators named by the built-in specs' `data.generator`.

Each returns a table shaped like a data file a user would bring: the spec's feature
columns and its target, so generated and real data take the same path through training.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd


def credit(n_samples: int, seed: int) -> pd.DataFrame:
    """Credit applicants and their default outcome, as SPEC section 1 defines them."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "age": rng.integers(21, 70, n_samples),
            "annual_income": rng.lognormal(10.5, 0.8, n_samples).astype(np.int64),
            "debt_to_income_ratio": np.round(rng.uniform(0, 1.5, n_samples), 3),
            "credit_history_length": rng.integers(0, 30, n_samples),
            "num_open_accounts": rng.integers(1, 20, n_samples),
            "num_late_payments": rng.poisson(1.5, n_samples),
            "loan_amount": rng.integers(1000, 50000, n_samples),
        }
    )
    p = np.clip(
        0.15 * df.debt_to_income_ratio
        + 0.1 * df.num_late_payments / 10
        - 0.05 * df.credit_history_length / 30
        + 0.05 * df.loan_amount / 50000
        - 0.05 * df.annual_income / df.annual_income.max(),
        0.05,
        0.95,
    )
    df["default"] = rng.binomial(1, p)
    return df


MERCHANTS = ("grocery", "electronics", "travel", "online", "fuel", "restaurant")
_MERCHANT_SHARE = (0.30, 0.08, 0.05, 0.25, 0.15, 0.17)
# Log-odds added per merchant category (SPEC section 2: online is riskiest).
_MERCHANT_RISK = (-0.5, 0.7, 0.4, 0.8, 0.2, -0.3)


def fraud(n_samples: int, seed: int) -> pd.DataFrame:
    """Card transactions; fraud is likelier for large, online, card-not-present, night ones."""
    rng = np.random.default_rng(seed)
    merchant = rng.choice(len(MERCHANTS), n_samples, p=_MERCHANT_SHARE)
    online = merchant == MERCHANTS.index("online")
    card_present = np.where(online, rng.random(n_samples) < 0.02, rng.random(n_samples) < 0.9)
    amount = np.round(rng.lognormal(np.log(60), 1.2, n_samples), 2) + 0.01
    hour = rng.integers(0, 24, n_samples)
    days = np.round(rng.exponential(2.0, n_samples), 2)
    logit = (
        -4.6
        + 0.8 * np.log(amount / 100)
        + 1.5 * ~card_present
        + 1.2 * (hour < 6)
        + np.asarray(_MERCHANT_RISK)[merchant]
        + 0.4 * (days > 30)
    )
    return pd.DataFrame(
        {
            "transaction_amount": amount,
            "merchant_category": np.asarray(MERCHANTS)[merchant],
            "card_present": card_present,
            "hour_of_day": hour,
            "days_since_last_transaction": days,
            "is_fraud": rng.binomial(1, 1 / (1 + np.exp(-logit))),
        }
    )


def iris(n_samples: int | None = None, seed: int | None = None) -> pd.DataFrame:
    """scikit-learn's bundled copy of Fisher's iris data, species as names (150 rows)."""
    from sklearn.datasets import load_iris

    data = load_iris(as_frame=True)
    frame = data.frame.drop(columns="target")
    frame["species"] = np.asarray(data.target_names)[data.target]
    return frame


GENERATORS: dict[str, Callable[..., pd.DataFrame]] = {
    "credit": credit,
    "fraud": fraud,
    "iris": iris,
}
