"""The current sample a drift check compares: a CSV or Parquet file, or the audit log.

Every problem with the input becomes a `BadInput` whose message is the one line the
command prints before exiting with status 2, so a scheduler's log says what to fix.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import orjson
import pandas as pd

from riskserve.spec import NUMERIC_KINDS, ModelSpec
from riskserve.tables import encode_column

AUDIT_SUBDIR = "audit"
# Live files and their rotated predecessors: requests.jsonl, requests.jsonl.1, ...
_AUDIT_NAME = re.compile(r".+\.jsonl(\.\d+)?$")
# How the audit log writes a sensitive feature's value (`riskserve.audit`).
_DIGEST = r"sha256:[0-9a-f]+"


T = TypeVar("T")


class BadInput(ValueError):
    """The current sample or the command line cannot be used; the message says why."""


@dataclasses.dataclass(frozen=True)
class Window:
    """An optional [since, until] time window over audit records (UTC, inclusive)."""

    since: datetime | None = None
    until: datetime | None = None

    def __bool__(self) -> bool:
        return self.since is not None or self.until is not None

    def describe(self) -> str:
        """The window as the report prints it."""
        since = self.since.isoformat() if self.since else "the start"
        until = self.until.isoformat() if self.until else "the end"
        return f"from {since} to {until}"


def parse_time(option: str, text: str | None) -> datetime | None:
    """An ISO-8601 time from the command line; one without an offset is taken as UTC."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadInput(
            f"{option}: {text!r} is not an ISO-8601 time (e.g. 2026-11-21T13:40:00+00:00)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclasses.dataclass
class Current:
    """The current feature values, with notes on anything left out."""

    frame: pd.DataFrame
    source: str
    notes: list[str]
    # Per category feature, the values the spec does not list and how often each came.
    unseen: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    # Read from the audit log: records the service accepted, so every request rule holds.
    servable_only: bool = False


def load_current(path: Path, spec: ModelSpec, window: Window) -> Current:
    """Read `path` (CSV, Parquet, or an audit-log folder) into the spec's feature columns.

    A data file holds each feature in its data-file column (`Feature.source_column`), an
    audit record under the feature's name; either way the frame's columns are the names.
    """
    if not path.exists():
        raise BadInput(f"{path}: no such file or directory")
    if path.is_dir():
        frame, source = _read_audit(path, window)
        columns = spec.feature_names
    elif window:
        raise BadInput("--since/--until apply only to an audit-log directory")
    else:
        frame, source = read_table(path), str(path)
        columns = [f.source_column for f in spec.features]
    if frame.empty:
        within = f" {window.describe()}" if window else ""
        raise BadInput(f"{source}: no rows{within}")
    unknown = sorted(set(map(str, frame.columns)) - set(columns) - {spec.target})
    if unknown:
        raise BadInput(f"{source}: unknown columns {unknown}; expected {columns}")
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise BadInput(f"{source}: missing feature columns {missing}")
    frame = frame[columns].set_axis(spec.feature_names, axis=1)
    return Current(frame, source, [], servable_only=path.is_dir())


def read_table(path: Path) -> pd.DataFrame:
    """A CSV or Parquet file, by extension."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(path)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
    except Exception as exc:  # pandas and pyarrow raise many types for a broken file
        raise BadInput(f"{path}: unreadable ({first_line(exc)})") from None
    raise BadInput(f"{path}: expected a .csv or .parquet file, or an audit-log directory")


def audit_files(path: Path) -> tuple[Path, list[Path]]:
    """The audit folder (`path`, or `path`/audit) and its live and rotated files."""
    if not path.is_dir():
        raise BadInput(f"{path}: not a directory")
    folder = path / AUDIT_SUBDIR if (path / AUDIT_SUBDIR).is_dir() else path
    files = sorted(p for p in folder.iterdir() if p.is_file() and _AUDIT_NAME.match(p.name))
    if not files:
        raise BadInput(f"{folder}: no audit log files (*.jsonl, *.jsonl.N)")
    return folder, files


def audit_records(
    files: list[Path], extract: Callable[[dict[str, Any]], T], expected: str
) -> Iterator[T]:
    """`extract` of every audit record in `files`. A line that is not JSON, or that
    `extract` cannot read (ValueError, KeyError, TypeError, AttributeError), is bad input
    naming the file, the line and what was `expected`."""
    for file in files:
        with file.open("rb") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    value = extract(orjson.loads(line))
                except (ValueError, KeyError, TypeError, AttributeError):
                    raise BadInput(f"{file}:{number}: not an audit record {expected}") from None
                yield value


def _stamp_and_features(record: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    features = record["features"]
    if not isinstance(features, dict):
        raise TypeError("features is not an object")
    return record["timestamp"], features


def _read_audit(path: Path, window: Window) -> tuple[pd.DataFrame, str]:
    """Features of every audit record in `path` (or `path`/audit) within the window."""
    folder, files = audit_files(path)
    stamps: list[str] = []
    rows: list[dict] = []
    expected = "(a JSON object with 'timestamp' and 'features')"
    for stamp, features in audit_records(files, _stamp_and_features, expected):
        stamps.append(stamp)
        rows.append(features)
    frame = pd.DataFrame(rows)
    if window:
        try:
            times = pd.to_datetime(pd.Series(stamps), utc=True, format="ISO8601")
        except ValueError as exc:
            raise BadInput(f"{folder}: bad audit timestamp ({first_line(exc)})") from None
        keep = pd.Series(True, index=times.index)
        if window.since:
            keep &= times >= window.since
        if window.until:
            keep &= times <= window.until
        frame = frame[keep.to_numpy()].reset_index(drop=True)
    return frame, f"{folder} ({len(files)} files)"


def _hashed(values: pd.Series) -> bool:
    """Whether every value is an audit-log digest (a sensitive feature, `sha256:...`)."""
    text = values.astype("string")
    return bool(text.str.fullmatch(_DIGEST).all())


def feature_columns(current: Current, spec: ModelSpec) -> dict[str, np.ndarray]:
    """Every comparable feature's values as feature-matrix codes, empty values left out.

    Numbers as numbers, booleans as 0/1, categories as the index of their value in the
    spec (`riskserve.tables.encode_column`); a category value the spec does not list is
    coded len(values), the unseen bucket, and tallied in `current.unseen`. A feature
    whose values are all hashed or redacted (the audit log's sensitive ones) is left
    out with a note; any other value that is not of the feature's kind is bad input.
    """
    columns = {}
    for f in spec.features:
        raw = current.frame[f.name]
        present = raw.notna().to_numpy()
        values = raw[present]
        if values.empty:
            current.notes.append(f"{f.name}: no values, not compared")
            continue
        if _hashed(values):
            current.notes.append(f"{f.name}: hashed (a sensitive feature), not compared")
            continue
        codes, _ = encode_column(values, f)  # bounds and rules: drift evidence, not errors
        bad = ~np.isfinite(codes)
        if f.kind == "category":
            assert f.values is not None
            if bad.any():
                text = values[bad].astype("string").str.strip()
                current.unseen[f.name] = {str(k): int(n) for k, n in text.value_counts().items()}
            codes[bad] = len(f.values)
        elif bad.all() and f.kind in NUMERIC_KINDS:
            current.notes.append(f"{f.name}: not numeric (hashed or redacted), not compared")
            continue
        elif bad.any():
            kind = "numeric" if f.kind in NUMERIC_KINDS else "true/false"
            raise BadInput(
                f"{current.source}: {f.name} has a non-{kind} value {values[bad].iloc[0]!r}"
            )
        if not present.all():
            current.notes.append(f"{f.name}: {int((~present).sum())} empty values ignored")
        columns[f.name] = codes
    if not columns:
        raise BadInput(f"{current.source}: no feature to compare")
    return columns


def exit_status(command: str, run: Callable[[], int]) -> int:
    """A monitoring command's exit status: `run`'s own, 2 for bad input (one line on
    stderr), 3 if it crashed (traceback). Never 1 on a crash: a scheduler would read it
    as the command's finding (drift)."""
    try:
        return run()
    except BadInput as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return 2
    except Exception:
        traceback.print_exc()
        return 3


def first_line(exc: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    return f"{type(exc).__name__}: {exc}".splitlines()[0]
