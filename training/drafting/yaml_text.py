"""The draft's YAML text: the spec file, with its comments and `# REVIEW:` marks.

Scalars are written so that they load back to exactly the value drafted.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from training.drafting.columns import Drafted, humanise
from training.drafting.target import Target, bands, response_names

_TRAINING_PARAMS = "{n_estimators: 100, max_depth: 3, learning_rate: 0.1, random_state: 42}"
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
    return text


def scalar(value: Any) -> str:
    """Any value of the draft (bool, number, text) as a YAML scalar."""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | float | np.integer | np.floating):
        return number(value)
    return quote(str(value))


def flow_list(values: list[Any]) -> str:
    """A list as a one-line YAML flow sequence: `[a, 1, true]`."""
    return "[" + ", ".join(scalar(v) for v in values) + "]"


def emit(
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
    """The spec file's text: every key, with comments on what was seen and to review."""
    probability, field = response_names(target, t)
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
            seen = f"seen {_number_text(f.lowest)} to {_number_text(f.highest)}"
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
        low, high = bands(base)
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


def _number_text(value: float | None) -> str:
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
