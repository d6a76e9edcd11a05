"""The draft's features: which columns can be one, their names, kinds, bounds and values."""

from __future__ import annotations

import dataclasses
import math
import re
import unicodedata
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from riskserve.spec import MAX_EXACT_INT, Feature

# A column empty in more than this share of rows is left out (its rows would be lost).
MAX_MISSING_SHARE = 0.10
# More distinct values than this: the category is listed, with a note to review it.
MANY_VALUES = 50
_ID_HEADER = re.compile(r"(^|[\W_])(id|ids|index|idx|row|key|uuid|guid)$|^unnamed: ?\d+$", re.I)
# Columns that may hold protected attributes (fair-lending rules, audit-log hashing).
_PROTECTED = re.compile(
    r"\b(age|sex|gender|marital|personal status|race|ethnic\w*|religio\w*|nationality|"
    r"foreign\w*|citizen\w*|disab\w*|pregnan\w*|birth\w*)\b",
    re.I,
)


# --- names and texts ----------------------------------------------------------------


def identifier(header: str) -> str:
    """A column header as a field name: lower-case letters, digits and underscores."""
    text = unicodedata.normalize("NFKD", str(header)).encode("ascii", "ignore").decode()
    text = re.sub(r"[^0-9A-Za-z]+", "_", text).strip("_").lower() or "column"
    return text if text[0].isalpha() else f"f_{text}"


def _valid_name(name: str) -> bool:
    try:
        Feature(name=name, kind="int", description="-")
    except ValidationError:
        return False
    return True


def unique_identifier(header: str, taken: set[str]) -> str:
    """`identifier(header)`, made valid (not reserved) and unlike every name in `taken`."""
    base = identifier(header)
    if not _valid_name(base):
        base = f"{base}_value"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


def humanise(header: str) -> str:
    """A header as a phrase: separators to spaces, first letter capital."""
    text = re.sub(r"[_\s]+", " ", str(header)).strip()
    return text[:1].upper() + text[1:] if text else str(header)


# --- bounds --------------------------------------------------------------------------


def round_outwards(value: float, up: bool, digits: int = 2) -> float:
    """`value` rounded up (or down) to `digits` significant digits: 18424 -> 19000."""
    if value == 0 or not math.isfinite(value):
        return value
    exact = Decimal(repr(float(value)))
    step = Decimal(1).scaleb(exact.adjusted() - digits + 1)
    rounded = (exact / step).to_integral_value(ROUND_CEILING if up else ROUND_FLOOR) * step
    result = float(rounded)
    # Decimal to float may land a hair inside the value: never cut a seen value off.
    if (up and result < value) or (not up and result > value):
        return float(value)
    return result


# --- columns ---------------------------------------------------------------------------


@dataclasses.dataclass
class Drafted:
    """One feature of the draft and what the drafter noticed about it."""

    name: str
    column: str
    kind: str
    lowest: float | None = None
    highest: float | None = None
    ge: float | int | None = None
    le: float | int | None = None
    values: list[str] | None = None
    notes: list[str] = dataclasses.field(default_factory=list)

    def value(self, raw: Any) -> Any:
        """A cell of this column in request form (JSON-native, as the API takes it)."""
        if self.kind == "int":
            return int(raw)
        if self.kind == "float":
            return float(raw)
        if self.kind == "bool":
            return str(raw).strip().lower() in ("true", "1", "1.0")
        return str(raw).strip()


def _text(column: pd.Series) -> pd.Series:
    # The same conversion as riskserve.tables.encode_column, so the values listed are
    # exactly the ones the checks of training and serving compare against.
    return column.astype("string").str.strip()


def _is_bool_text(text: pd.Series) -> bool:
    seen = set(text.dropna().str.lower().unique())
    return len(seen) == 2 and seen <= {"true", "false"}


def _whole(values: pd.Series) -> bool:
    return bool((values == values.round()).all() and values.abs().max() <= MAX_EXACT_INT)


def left_out(header: str, column: pd.Series, rows: int) -> str | None:
    """Why a column cannot be a feature, or None when it can."""
    present = column.dropna()
    if present.empty:
        return "empty in every row"
    if present.nunique() < 2:
        return f"constant (every row holds {str(present.iloc[0])!r})"
    if pd.api.types.is_datetime64_any_dtype(column) or pd.api.types.is_timedelta64_dtype(column):
        return "dates and times are not a feature kind (derive a number from them)"
    if pd.api.types.is_complex_dtype(column):
        return "complex numbers are not a feature kind"
    missing = 1 - len(present) / rows
    if missing > MAX_MISSING_SHARE:
        return (
            f"empty in {missing:.0%} of the rows (more than {MAX_MISSING_SHARE:.0%}; "
            "its rows would be lost)"
        )
    unique_per_row = present.nunique() == rows
    if unique_per_row and not pd.api.types.is_numeric_dtype(column):
        return "an ID: a different text in every row"
    if unique_per_row and pd.api.types.is_integer_dtype(column):
        ordered = np.sort(present.to_numpy())
        if _ID_HEADER.search(str(header)) or bool((np.diff(ordered) == 1).all()):
            return "an ID: a different whole number in every row"
    return None


def draft_column(header: str, column: pd.Series, name: str) -> Drafted:
    """The feature a (kept) column becomes: kind, bounds or values, notes."""
    present = column.dropna()
    if pd.api.types.is_bool_dtype(column) or (
        not pd.api.types.is_numeric_dtype(column) and _is_bool_text(_text(present))
    ):
        return Drafted(name, header, "bool")
    if pd.api.types.is_numeric_dtype(column):
        values = present.astype(np.float64)
        kind = "int" if _whole(values) else "float"
        lo, hi = float(values.min()), float(values.max())
        ge, le = round_outwards(lo, up=False), round_outwards(hi, up=True)
        if kind == "int":
            ge, le = math.floor(ge), math.ceil(le)
        feature = Drafted(name, header, kind, lo, hi, ge, le)
    else:
        listed = sorted(_text(present).unique())
        feature = Drafted(name, header, "category", values=listed)
        if len(listed) > MANY_VALUES:
            feature.notes.append(
                f"REVIEW: {len(listed)} distinct values: a free-text or code column? A "
                "request with a value not listed here is refused."
            )
    if protected := _PROTECTED.search(humanise(header)):
        feature.notes.append(
            f"REVIEW: may be a protected attribute ({protected.group()!r}): check that the "
            "law lets the model use it; `sensitive: true` hashes it in the audit log."
        )
    return feature
