"""`python -m training.draft`: draft a spec from a data file, to review, train and serve.

    python -m training.draft --data FILE --target COLUMN --name NAME --out SPEC.yaml
                             [--positive LABEL]

Each column but the target becomes a feature: whole numbers `int`, other numbers
`float`, true/false columns `bool`, everything else (strings) `category` listing the
values seen. Bounds are the range seen, rounded outwards, so every complete row of the
same file passes; the example is a real row of it. Columns that cannot inform a model
(empty, constant, an ID per row, dates, mostly empty) are left out with a note. The file
is written with comments, and `# REVIEW:` marks what a person should check before the
model goes to production. The draft loads with `riskserve.spec.load_spec` and trains
and serves as it stands.

Every problem a user can cause is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import shlex
import sys
import unicodedata
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import ValidationError

from riskserve.spec import MAX_EXACT_INT, Feature, SpecError, parse_spec
from training.data import DataError, read_table, target_labels

# Target codings whose adverse (positive) label is clear: one label of each set.
ADVERSE = frozenset(
    {
        "1",
        "1.0",
        "bad",
        "yes",
        "y",
        "true",
        "t",
        "default",
        "defaulted",
        "fraud",
        "fraudulent",
        "churn",
        "churned",
        "positive",
        "pos",
        "charged off",
        "delinquent",
        "high risk",
        "risky",
    }
)
BENIGN = frozenset(
    {
        "0",
        "0.0",
        "good",
        "no",
        "n",
        "false",
        "f",
        "no default",
        "non default",
        "not default",
        "nondefault",
        "not defaulted",
        "legit",
        "legitimate",
        "genuine",
        "not fraud",
        "no fraud",
        "no churn",
        "not churned",
        "negative",
        "neg",
        "fully paid",
        "paid",
        "low risk",
        "ok",
        "normal",
    }
)
# Positive labels that name no event: the probability is named after the target instead.
_GENERIC = frozenset({"1", "1.0", "yes", "y", "true", "t", "positive", "pos"})
MAX_CLASSES = 20
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
_TRAINING_PARAMS = "{n_estimators: 100, max_depth: 3, learning_rate: 0.1, random_state: 42}"


class DraftError(ValueError):
    """The file cannot be drafted into a spec; the message says why, on one line."""


# --- YAML scalars --------------------------------------------------------------------

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]")


def quote(text: str) -> str:
    """`text` as a double-quoted YAML scalar that loads back to exactly `text`.

    JSON's string syntax is a subset of YAML's double-quoted one; characters YAML reads
    as line breaks or refuses in a stream (C0/C1 controls, U+2028/9, BOM) are escaped
    too, so any value (spaces, `:`, `#`, quotes, `yes`, `on`, `<`, `>=`) stays a string.
    """
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(text, ensure_ascii=False))


def number(value: float | int) -> str:
    """A number as YAML 1.1 reads it back (PyYAML wants a dot in `1.0e-05`)."""
    if isinstance(value, bool | np.bool_):
        raise TypeError("not a number")
    if isinstance(value, int | np.integer):
        return str(int(value))
    text = repr(float(value))
    if "e" in text and "." not in text.split("e")[0]:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}.0e{exponent}"
    if "e" in text and text.split("e")[1][0] not in "+-":
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e+{exponent}"
    return text


def scalar(value: Any) -> str:
    """Any value of the draft (bool, number, text) as a YAML scalar."""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | float | np.integer | np.floating):
        return number(value)
    return quote(str(value))


def flow_list(values: list[Any]) -> str:
    return "[" + ", ".join(scalar(v) for v in values) + "]"


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


def _normal(label: str) -> str:
    return re.sub(r"[\s_\-]+", " ", label.strip().lower())


def infer_positive(labels: list[str]) -> str | None:
    """The adverse label of a common binary coding (1/0, bad/good, yes/no, ...), or None."""
    adverse = [label for label in labels if _normal(label) in ADVERSE]
    benign = [label for label in labels if _normal(label) in BENIGN]
    if len(adverse) == 1 and len(benign) == 1 and adverse != benign:
        return adverse[0]
    return None


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
        if protected := _PROTECTED.search(humanise(header)):
            feature.notes.append(_protected_note(protected.group()))
        return feature
    text = _text(present)
    values = sorted(text.unique())
    feature = Drafted(name, header, "category", values=values)
    if len(values) > MANY_VALUES:
        feature.notes.append(
            f"REVIEW: {len(values)} distinct values: a free-text or code column? A request "
            "with a value not listed here is refused."
        )
    if protected := _PROTECTED.search(humanise(header)):
        feature.notes.append(_protected_note(protected.group()))
    return feature


def _protected_note(word: str) -> str:
    return (
        f"REVIEW: may be a protected attribute ({word!r}): check that the law lets "
        "the model use it; `sensitive: true` hashes it in the audit log."
    )


# --- the target ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Target:
    task: str
    labels: list[str]
    counts: dict[str, int]
    positive: str | None = None
    inferred: bool = False


def draft_target(frame: pd.DataFrame, target: str, positive: str | None) -> Target:
    """Task, labels and positive label; every problem as a DraftError."""
    if target not in frame.columns:
        shown = ", ".join(map(repr, list(frame.columns)[:30]))
        raise DraftError(f"the data has no target column {target!r} (columns: {shown})")
    raw = frame[target]
    empty = int(raw.isna().sum())
    labels = target_labels(raw)
    counts = {str(k): int(v) for k, v in labels.value_counts().sort_index().items()}
    seen = sorted(counts)
    if len(seen) < 2:
        raise DraftError(
            f"the target {target!r} has only {len(seen)} value ({seen}): a model "
            "needs at least two classes"
        )
    if empty:
        raise DraftError(
            f"the target {target!r} is empty in {empty} of {len(frame)} rows: "
            "remove those rows or fill them in"
        )
    if len(seen) > MAX_CLASSES:
        raise DraftError(
            f"the target {target!r} has {len(seen)} distinct values (more than "
            f"{MAX_CLASSES}): riskserve serves classifiers; is it a number to "
            "predict rather than a class?"
        )
    rare = [label for label in seen if counts[label] < 2]
    if rare:
        raise DraftError(
            f"the target {target!r} has {rare[:5]} in a single row each: every "
            "class needs at least two rows to train and test on"
        )
    if len(seen) > 2:
        if positive is not None:
            raise DraftError(
                f"--positive is for binary targets; {target!r} has {len(seen)} "
                f"values: {', '.join(seen)}"
            )
        return Target("multiclass", seen, counts)
    if positive is not None:
        if positive not in seen:
            raise DraftError(
                f"positive label {positive!r} is not a value of the target "
                f"{target!r} (values: {', '.join(map(repr, seen))})"
            )
        return Target("binary", seen, counts, positive, inferred=False)
    inferred = infer_positive(seen)
    if inferred is None:
        raise DraftError(
            f"cannot tell which value of the target {target!r} is the adverse "
            f"(positive) one: {', '.join(map(repr, seen))}; pass --positive LABEL "
            "(make spec ... POSITIVE=<label>)"
        )
    return Target("binary", seen, counts, inferred, inferred=True)


# --- the draft ----------------------------------------------------------------------


@dataclasses.dataclass
class Draft:
    """The spec's text, and the notes printed for the person who asked for it."""

    text: str
    notes: list[str]
    features: list[Drafted]
    target: Target


def _response_names(target: str, t: Target) -> tuple[str, str]:
    """(probability field, decision field)."""
    if t.task == "multiclass":
        field = identifier(target)
        if field in ("probabilities", "model_version"):
            field = f"predicted_{field}"
        return "probabilities", field
    assert t.positive is not None
    label = identifier(t.positive)
    if _normal(t.positive) in _GENERIC or not label.isascii() or label.startswith("f_"):
        label = identifier(target)
    return f"probability_of_{label}", "risk_category"


def _cutoff(value: float) -> float:
    """A probability cut-off: two significant digits, strictly inside (0, 1)."""
    return min(max(round_outwards(value, up=False), 0.01), 0.99)


def _bands(base_rate: float) -> tuple[float, float]:
    low = _cutoff(base_rate)
    high = _cutoff(min(2 * base_rate, (1 + base_rate) / 2))
    if high <= low:
        high = min(round(low + 0.01, 2), 0.99)
        if high <= low:
            low = 0.98
    return low, high


def draft(
    frame: pd.DataFrame, target: str, name: str, source: Path, positive: str | None = None
) -> Draft:
    """The spec drafted from `frame` (the data file's table); see the module docstring."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise DraftError(
            f"--name {name!r}: a model name is lower-case letters, digits and "
            "underscores, starting with a letter (e.g. german_credit)"
        )
    if frame.columns.duplicated().any():
        twice = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
        raise DraftError(f"the data has columns named twice: {twice}")
    t = draft_target(frame, target, positive)
    rows = len(frame)
    notes: list[str] = []
    omitted: list[tuple[str, str]] = []
    taken = {target}
    features: list[Drafted] = []
    for header in frame.columns:
        if header == target:
            continue
        column = frame[header]
        why = left_out(str(header), column, rows)
        if why:
            omitted.append((str(header), why))
            notes.append(f"left out column {str(header)!r}: {why}")
            continue
        features.append(draft_column(str(header), column, unique_identifier(str(header), taken)))
    if not features:
        raise DraftError(
            f"no column of the data can be a feature ({len(omitted)} left out: "
            + "; ".join(f"{h!r} {why}" for h, why in omitted[:5])
            + ")"
        )
    kept = frame[[f.column for f in features]]
    complete = kept.notna().all(axis=1)
    incomplete = 1 - float(complete.mean())
    max_rejected = None
    if incomplete > 0:
        notes.append(
            f"{int((~complete).sum())} rows ({incomplete:.1%}) have an empty cell: "
            "training leaves them out"
        )
        if incomplete > 0.05:
            max_rejected = min(math.ceil(incomplete * 100 + 1) / 100, 1.0)
    index = int(np.flatnonzero(complete.to_numpy())[0])
    example = {f.name: f.value(frame[f.column].iloc[index]) for f in features}
    text = _emit(name, source, target, t, features, omitted, example, index, rows, max_rejected)
    _check(text, source)
    return Draft(text, notes, features, t)


def _emit(
    name: str,
    source: Path,
    target: str,
    t: Target,
    features: list[Drafted],
    omitted: list[tuple[str, str]],
    example: dict[str, Any],
    index: int,
    rows: int,
    max_rejected: float | None,
) -> str:
    probability, field = _response_names(target, t)
    title = name.replace("_", " ").title()
    out: list[str] = []
    add = out.append
    add(f"# Drafted by `python -m training.draft` from {source.name} ({rows} rows).")
    add("# Lines marked REVIEW need a person's judgement before production; the draft trains")
    add('# and serves as it stands. The schema of this file: README, "Spec files".')
    add(f"name: {name}")
    add(f"title: {quote(title)}")
    if t.task == "binary":
        what = f"Probability that {target} is {t.positive}"
    else:
        what = f"The {target} ({', '.join(t.labels)})"
    add("# REVIEW: say what the model predicts, for whom, and from what.")
    add(f"description: {quote(f'{what}, from the columns of {source.name}.')}")
    add("# REVIEW: who uses the score, for which decision, on which population.")
    add(f"intended_use: {quote(f'Drafted from {source.name}: to be written by the model owner.')}")
    add(f"out_of_scope: {quote('Requests outside the bounds and values below.')}")
    add(f"task: {t.task}")
    add(f"target: {quote(target)}")
    balance = ", ".join(f"{label}: {n}" for label, n in t.counts.items())
    if t.task == "binary":
        how = "inferred from the coding" if t.inferred else "given with --positive"
        add(f"# Rows per value: {balance}. The positive label is the adverse outcome")
        add(f"# the probability is of ({how}). REVIEW: is it the adverse one?")
        add(f"positive_label: {quote(str(t.positive))}")
    else:
        add(f"# Rows per class: {balance}.")
        add(f"classes: {flow_list(t.labels)}")
    add("# Features, in the file's column order. Kinds follow the data: whole numbers int,")
    add("# other numbers float, true/false bool, anything else a category listing every")
    add("# value seen (a request with another value is refused with the list).")
    add("# Bounds are the range seen in the data rounded outwards to two significant digits,")
    add("# so every row of this file passes: the model learnt nothing outside that range")
    add("# (trees carry their edge values on flat), so the draft refuses what it was not")
    add("# trained on. REVIEW: widen a bound where requests may legitimately go further.")
    add("# REVIEW: descriptions and reasons are drafted from the column headers; the reason")
    add("# is the adverse-action text shown when the feature pushes a score up.")
    for header, why in omitted:
        add(f"# Left out: {quote(header)}: {why}.")
    add("features:")
    for f in features:
        for note in f.notes:
            add(f"  # {note}")
        add(f"  - name: {f.name}")
        if f.column != f.name:
            add(f"    column: {quote(f.column)}")
        add(f"    kind: {f.kind}")
        add(f"    description: {quote(_description(f))}")
        if f.kind in ("int", "float"):
            seen = f"seen {number_text(f.lowest)} to {number_text(f.highest)}"
            add(f"    ge: {scalar(f.ge)}  # {seen}")
            add(f"    le: {scalar(f.le)}")
        if f.values is not None:
            add(f"    values: {flow_list(f.values)}")
        add(f"    reason: {quote(humanise(f.column))}")
    add(f"# Row {index + 1} of {source.name} (the first with every feature filled in).")
    add("example:")
    for key, value in example.items():
        add(f"  {key}: {scalar(value)}")
    add("response:")
    add(f"  probability: {probability}")
    add("decision:")
    if t.task == "multiclass":
        add("  # The most probable class.")
        add("  policy: argmax")
        add(f"  field: {field}")
    else:
        assert t.positive is not None
        base = t.counts[t.positive] / sum(t.counts.values())
        low, high = _bands(base)
        add(f"  # `prediction` is 1 ({t.positive}) at or above the threshold: more likely")
        add("  # adverse than not. The risk band compares the probability with the share of")
        add(f"  # {t.positive} in the data ({base:.1%}): Low below it, High from about twice it.")
        add("  # REVIEW: set the threshold and bands from the cost of a missed adverse case")
        add("  # against a wrongly refused good one; configuration.yaml's `cutoffs` can move")
        add("  # them later without retraining.")
        add("  policy: bands")
        add(f"  field: {field}")
        add("  threshold: 0.5")
        add("  levels:")
        add(f"    - {{label: Low, below: {number(low)}}}")
        add(f"    - {{label: Medium, below: {number(high)}}}")
        add("    - {label: High}")
    add("data:")
    add("  # The file this draft was made from; `make train DATA=<file>` trains on another.")
    add(f"  file: {quote(str(source.resolve()))}")
    add("training:")
    add(f"  params: {_TRAINING_PARAMS}")
    if max_rejected is not None:
        add("  # REVIEW: rows with an empty cell are left out of training; this lets it go on")
        add("  # with as many as this file has.")
        add(f"  max_rejected_fraction: {number(max_rejected)}")
    return "\n".join(out) + "\n"


def number_text(value: float | None) -> str:
    assert value is not None
    return f"{value:g}" if abs(value) < 1e15 else repr(value)


def _description(f: Drafted) -> str:
    phrase = humanise(f.column)
    if f.kind == "bool":
        return f"{phrase} (true or false)."
    if f.kind == "category":
        return f"{phrase} (one of {len(f.values or ())} values)."
    unit = "whole number" if f.kind == "int" else "number"
    return f"{phrase} ({unit})."


def _check(text: str, source: Path) -> None:
    """The draft must load as a spec: anything else is a bug of this module."""
    try:
        parse_spec(text, "draft")
        yaml.safe_load(text)
    except (SpecError, yaml.YAMLError) as exc:
        raise RuntimeError(f"the draft of {source} does not load back: {exc}") from exc


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, draft, write the spec, and say what to review."""
    parser = argparse.ArgumentParser(
        prog="python -m training.draft",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", type=Path, required=True, help="the data file (.csv, .parquet)")
    parser.add_argument("--target", required=True, help="the column to predict")
    parser.add_argument("--name", required=True, help="the model's store name (e.g. my_model)")
    parser.add_argument("--out", type=Path, required=True, help="the spec file to write")
    parser.add_argument("--positive", help="the adverse label of a binary target")
    args = parser.parse_args(argv)
    try:
        for flag in ("data", "target", "name", "out"):
            if not str(getattr(args, flag)).strip():
                raise DraftError(f"--{flag} is empty (make spec needs DATA, TARGET, NAME, OUT)")
        if args.out.exists():
            raise DraftError(
                f"{args.out} exists: delete it or choose another OUT, so a "
                "reviewed spec is never overwritten"
            )
        frame = read_table(args.data)
        result = draft(
            frame, args.target, args.name, args.data, args.positive if args.positive else None
        )
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(result.text, encoding="utf-8")
    except (DraftError, DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc.filename or args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug here: still one line, never a traceback
        print(
            f"error: drafting failed unexpectedly ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''})",
            file=sys.stderr,
        )
        return 1
    for note in result.notes:
        print(f"note: {note}")
    kinds = pd.Series([f.kind for f in result.features]).value_counts()
    t = result.target
    what = (
        f"binary, positive label {t.positive!r} ({'inferred' if t.inferred else 'given'})"
        if t.task == "binary"
        else f"multiclass, {len(t.labels)} classes"
    )
    print(
        f"wrote {args.out}: {len(result.features)} features "
        f"({', '.join(f'{n} {k}' for k, n in kinds.items())}); {what}"
    )
    reviews = result.text.count("REVIEW")
    train = shlex.join(["make", "train", f"SPEC={args.out}", f"DATA={args.data}"])
    print(
        f"review the {reviews} lines marked REVIEW, then: {train} && make serve MODEL={args.name}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
