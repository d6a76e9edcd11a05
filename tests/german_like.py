"""A German-credit-like data file, as a new user would bring it (never committed).

Shaped like the UCI Statlog German credit data: 1,000 applicants, 20 columns with the
data set's human-readable headers (spaces, parentheses, slashes), string-coded
categories with its awkward values ("... < 0 DM", "0 <= ... < 200 DM", commas, quotes,
raw codes like "A14"), and the target `class` of good/bad (about 30% bad), correlated
with the checking account, duration, history, amount, savings and age.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

TARGET = "class"
CHECKING = (
    "... < 0 DM",
    "0 <= ... < 200 DM",
    "... >= 200 DM / salary assignments for at least 1 year",
    "A14",  # "no checking account", left as the raw code
)
HISTORY = (
    "no credits taken/ all credits paid back duly",
    "all credits at this bank paid back duly",
    "existing credits paid back duly till now",
    "delay in paying off in the past",
    "critical account/ other credits existing (not at this bank)",
)
PURPOSE = (
    "car (new)",
    "car (used)",
    "furniture/equipment",
    "radio/television",
    "domestic appliances",
    "repairs",
    "education",
    "retraining",
    "business",
    'others: "misc", e.g. holidays',
)
SAVINGS = (
    "... < 100 DM",
    "100 <= ... < 500 DM",
    "500 <= ... < 1000 DM",
    "... >= 1000 DM",
    "unknown/ no savings account",
)
EMPLOYMENT = (
    "unemployed",
    "... < 1 year",
    "1 <= ... < 4 years",
    "4 <= ... < 7 years",
    "... >= 7 years",
)
PERSONAL = (
    "male : divorced/separated",
    "female : divorced/separated/married",
    "male : single",
    "male : married/widowed",
)
DEBTORS = ("none", "co-applicant", "guarantor")
PROPERTY = (
    "real estate",
    "building society savings agreement/ life insurance",
    "car or other, not in attribute 6",
    "unknown / no property",
)
PLANS = ("bank", "stores", "none")
HOUSING = ("rent", "own", "for free")
JOB = (
    "unemployed/ unskilled - non-resident",
    "unskilled - resident",
    "skilled employee / official",
    "management/ self-employed/ highly qualified employee/ officer",
)
TELEPHONE = ("none", "yes, registered under the customer's name")


def german_credit(n: int = 1000, seed: int = 0) -> pd.DataFrame:
    """The table: 20 feature columns and `class` (good/bad)."""
    rng = np.random.default_rng(seed)

    def pick(values: tuple[str, ...], p: list[float]) -> np.ndarray:
        return rng.choice(len(values), n, p=p)

    checking = pick(CHECKING, [0.27, 0.27, 0.06, 0.40])
    history = pick(HISTORY, [0.04, 0.05, 0.53, 0.09, 0.29])
    purpose = pick(PURPOSE, [0.23, 0.10, 0.18, 0.28, 0.01, 0.02, 0.05, 0.01, 0.10, 0.02])
    savings = pick(SAVINGS, [0.60, 0.10, 0.06, 0.05, 0.19])
    employment = pick(EMPLOYMENT, [0.06, 0.17, 0.34, 0.17, 0.26])
    duration = np.clip(np.round(rng.gamma(3.0, 7.0, n) / 3) * 3, 4, 72).astype(np.int64)
    amount = np.clip(np.round(rng.lognormal(7.8, 0.75, n)), 250, 18424).astype(np.int64)
    age = np.clip(np.round(19 + rng.gamma(2.2, 7.5, n)), 19, 75).astype(np.int64)
    foreign = np.where(rng.random(n) < 0.963, "yes", "no")
    logit = (
        -1.1
        + np.array([1.0, 0.5, -0.3, -1.2])[checking]
        + np.array([0.9, 0.8, 0.0, 0.4, -0.7])[history]
        + np.array([-0.1, -0.7, 0.0, -0.3, 0.2, 0.3, 0.5, -0.4, 0.2, 0.0])[purpose]
        + np.array([0.3, 0.1, -0.3, -0.6, -0.5])[savings]
        + 0.035 * (duration - 20)
        + 0.00006 * (amount - 3000)
        - 0.015 * (age - 35)
        + 0.4 * (foreign == "yes")
    )
    bad = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {
            "Status of existing checking account": np.asarray(CHECKING)[checking],
            "Duration in month": duration,
            "Credit history": np.asarray(HISTORY)[history],
            "Purpose": np.asarray(PURPOSE)[purpose],
            "Credit amount": amount,
            "Savings account/bonds": np.asarray(SAVINGS)[savings],
            "Present employment since": np.asarray(EMPLOYMENT)[employment],
            "Installment rate in percentage of disposable income": rng.integers(1, 5, n),
            "Personal status and sex": np.asarray(PERSONAL)[
                pick(PERSONAL, [0.05, 0.31, 0.55, 0.09])
            ],
            "Other debtors / guarantors": np.asarray(DEBTORS)[pick(DEBTORS, [0.91, 0.04, 0.05])],
            "Present residence since": rng.integers(1, 5, n),
            "Property": np.asarray(PROPERTY)[pick(PROPERTY, [0.28, 0.23, 0.33, 0.16])],
            "Age in years": age,
            "Other installment plans": np.asarray(PLANS)[pick(PLANS, [0.14, 0.05, 0.81])],
            "Housing": np.asarray(HOUSING)[pick(HOUSING, [0.18, 0.71, 0.11])],
            "Number of existing credits at this bank": rng.choice(
                [1, 2, 3, 4], n, p=[0.63, 0.33, 0.03, 0.01]
            ),
            "Job": np.asarray(JOB)[pick(JOB, [0.02, 0.20, 0.63, 0.15])],
            "Number of people being liable to provide maintenance for": rng.choice(
                [1, 2], n, p=[0.85, 0.15]
            ),
            "Telephone": np.asarray(TELEPHONE)[pick(TELEPHONE, [0.6, 0.4])],
            "foreign worker": foreign,
            TARGET: np.where(bad, "bad", "good"),
        }
    )


def write_csv(path: Path, n: int = 1000, seed: int = 0) -> Path:
    """The table as a CSV file (quoted where a value holds a comma or a quote)."""
    german_credit(n, seed).to_csv(path, index=False)
    return path


if __name__ == "__main__":
    import sys

    print(write_csv(Path(sys.argv[1] if len(sys.argv) > 1 else "german_like.csv")))
