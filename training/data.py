"""Seeded synthetic datasets, the train/test split and the data fingerprint."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from riskserve.spec import ModelSpec

SPLIT_TEST_SIZE = 0.2
SPLIT_RANDOM_STATE = 42


def generate_credit(n_samples: int, seed: int) -> pd.DataFrame:
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


def data_hash(df: pd.DataFrame) -> str:
    """SHA-256 of the dataset's values and columns: same seed, same hash."""
    digest = hashlib.sha256(",".join(df.columns).encode())
    digest.update(pd.util.hash_pandas_object(df, index=True).to_numpy().tobytes())
    return digest.hexdigest()


def split(
    df: pd.DataFrame, spec: ModelSpec
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stratified 80/20 split into float64 matrices in spec column order, and targets."""
    features = df[spec.feature_names].to_numpy(dtype=np.float64)
    target = df[spec.target].to_numpy()
    return train_test_split(
        features,
        target,
        test_size=SPLIT_TEST_SIZE,
        stratify=target,
        random_state=SPLIT_RANDOM_STATE,
    )
