"""Request bodies for load tests: the SPEC example and seeded random valid records.

The random records respect every rule of the credit request schema (including
`credit_history_length <= age - 18`), so a load test measures scoring, not 400s.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np

from riskserve.specs.credit import CREDIT

EXAMPLE: dict[str, Any] = dict(CREDIT.example)


def random_record(rng: random.Random) -> dict[str, Any]:
    """One valid credit application with plausible values."""
    age = rng.randint(18, 80)
    return {
        "age": age,
        "annual_income": rng.randint(12_000, 250_000),
        "debt_to_income_ratio": round(rng.uniform(0.0, 1.5), 4),
        "credit_history_length": rng.randint(0, min(80, age - 18)),
        "num_open_accounts": rng.randint(0, 25),
        "num_late_payments": rng.randint(0, 12),
        "loan_amount": rng.randint(1_000, 80_000),
    }


def random_records(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """`n` valid records, the same ones for the same seed."""
    rng = random.Random(seed)
    return [random_record(rng) for _ in range(n)]


def batch_body(n: int, seed: int = 0) -> dict[str, Any]:
    """A `/predict_batch` body of `n` random valid records."""
    return {"records": random_records(n, seed)}


def feature_matrix(records: list[dict[str, Any]]) -> np.ndarray:
    """Records as the float64 matrix the backends score, in spec column order."""
    names = CREDIT.feature_names
    return np.array([[r[name] for name in names] for r in records], dtype=np.float64)


def write_body(folder: Path, name: str, body: Any) -> Path:
    """Write a JSON request body to `folder/name.json` (wrk reads bodies from files)."""
    path = folder / f"{name}.json"
    path.write_text(json.dumps(body))
    return path
