"""`python -m monitoring.scenario`: SPEC section 4's drift scenario and a no-drift sample.

Both start from the training generator, so the features the scenario leaves unchanged
(credit history, open accounts) and the whole no-drift sample follow the training
distribution by construction; the scenario then redraws the five shifted features.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from riskserve.settings import PROJECT_ROOT
from riskserve.spec import load_spec
from training.generators import credit

CREDIT = load_spec(PROJECT_ROOT / "specs" / "credit.yaml")
SHIFTED = (
    "age",
    "annual_income",
    "debt_to_income_ratio",
    "num_late_payments",
    "loan_amount",
)


def no_drift_sample(n_samples: int, seed: int) -> pd.DataFrame:
    """A fresh draw from the training distribution (use a seed other than training's)."""
    return credit(n_samples, seed)[[f.source_column for f in CREDIT.features]]


def drifted_sample(n_samples: int, seed: int) -> pd.DataFrame:
    """Younger, richer, more indebted applicants with more late payments and larger loans."""
    df = no_drift_sample(n_samples, seed)
    rng = np.random.default_rng([seed, 1])  # independent of the base draw's stream
    shifted = {
        "age": rng.integers(18, 56, n_samples),
        "annual_income": rng.lognormal(10.8, 0.7, n_samples).astype(np.int64),
        "debt_to_income_ratio": np.round(rng.uniform(0.1, 1.8, n_samples), 3),
        "num_late_payments": rng.poisson(2.2, n_samples),
        "loan_amount": rng.integers(5000, 65001, n_samples),
    }
    return df.assign(**shifted)


def main(argv: list[str] | None = None) -> int:
    """Write drifted.csv and no_drift.csv (or .parquet) into the output folder."""
    parser = argparse.ArgumentParser(prog="python -m monitoring.scenario", description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="folder for the samples")
    parser.add_argument("--n-samples", type=int, default=5000, help="rows per sample")
    parser.add_argument("--seed", type=int, default=7, help="seed (training uses 42)")
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, make in (("drifted", drifted_sample), ("no_drift", no_drift_sample)):
        path = args.out / f"{name}.{args.format}"
        frame = make(args.n_samples, args.seed)
        if args.format == "csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)
        print(f"wrote {path} ({len(frame)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
