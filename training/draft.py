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
import math
import re
import shlex
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from riskserve.spec import SpecError, parse_spec
from training.data import read_table
from training.drafting import DraftError
from training.drafting.columns import Drafted, draft_column, left_out, unique_identifier
from training.drafting.target import Target, draft_target
from training.drafting.yaml_text import emit
from training.errors import DataError


@dataclasses.dataclass
class Draft:
    """The spec's text, and the notes printed for the person who asked for it."""

    text: str
    notes: list[str]
    features: list[Drafted]
    target: Target


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
    text = emit(name, source, target, t, features, omitted, example, index, rows, max_rejected)
    _check(text, source)
    return Draft(text, notes, features, t)


def _check(text: str, source: Path) -> None:
    """The draft must load as a spec: anything else is a bug of the drafting code."""
    try:
        parse_spec(text, "draft")
    except SpecError as exc:
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
        result = draft(frame, args.target, args.name, args.data, args.positive or None)
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
