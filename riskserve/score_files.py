"""`python -m riskserve.score_files`: score a portfolio file (or a folder of them).

Reads CSV or Parquet in chunks with Arrow, so memory stays flat however large the
input; each chunk goes through `riskserve.batch.score_frame`, the checks, model and
decision step the API uses. Writes the scored rows (Parquet), the rejected rows with
the field and rule they broke (CSV), and a run manifest (JSON), each complete or not at
all. Exit status: 0 every row scored, 1 some rows rejected (see the rejects file),
2 bad input or usage (one line on stderr), 3 a fault of the job itself (a traceback).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import resource
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from riskserve.batch import ROW, VERSION, BatchModel, answer_dtypes, find_model, score_frame
from riskserve.decisions import PolicyError
from riskserve.files import write_atomically
from riskserve.model_entry import ModelUnavailable
from riskserve.settings import load_settings

FORMATS = {".csv": "csv", ".parquet": "parquet"}
# Rows per chunk: large enough that per-chunk overhead vanishes (ONNX Runtime, Arrow,
# pandas), small enough that a chunk's copies stay within tens of MB.
CHUNK_ROWS = 262_144
OK, REJECTED, BAD_INPUT, FAILED = 0, 1, 2, 3


class BadInput(ValueError):
    """Input or arguments the job cannot use; the message says why in one line."""


@dataclasses.dataclass(frozen=True)
class Outputs:
    """Where a run writes: the scored table and, beside it, its rejects and manifest."""

    scored: Path

    @property
    def rejects(self) -> Path:
        return self.scored.with_name(f"{self.scored.stem}.rejects.csv")

    @property
    def manifest(self) -> Path:
        return self.scored.with_name(f"{self.scored.stem}.manifest.json")


def input_files(path: Path) -> tuple[list[Path], str]:
    """The files to read in order (a folder's .csv/.parquet files by name) and their format."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in FORMATS and p.is_file())
    elif path.is_file():
        files = [path]
    else:
        raise BadInput(f"{path}: no such file or folder")
    kinds = {FORMATS.get(p.suffix.lower()) for p in files}
    if not files or None in kinds:
        raise BadInput(f"{path}: expected .csv or .parquet files")
    if len(kinds) > 1:
        raise BadInput(f"{path}: mixes CSV and Parquet files; score them separately")
    return files, kinds.pop()  # type: ignore[return-value]


def open_dataset(files: list[Path], kind: str, text_columns: list[str]) -> ds.Dataset:
    """The files as one Arrow dataset, in order.

    The CSV columns the job reads are read as text, so a malformed value becomes a
    rejected row (checked by `riskserve.tables`) instead of a parse error that stops the
    run.
    """
    fmt: Any = "parquet"
    if kind == "csv":
        convert = pa_csv.ConvertOptions(column_types=dict.fromkeys(text_columns, pa.string()))
        fmt = ds.CsvFileFormat(convert_options=convert)
    try:
        return ds.dataset([str(f) for f in files], format=fmt)
    except (pa.ArrowException, OSError) as exc:
        raise BadInput(f"cannot read the input ({str(exc).splitlines()[0]})") from None


def digest(files: list[Path]) -> dict[str, Any]:
    """Each file's size and SHA-256, and one SHA-256 for the whole input."""
    listed = []
    for path in files:
        sha = hashlib.sha256()
        with path.open("rb") as f:
            while block := f.read(1 << 20):
                sha.update(block)
        listed.append({"path": str(path), "bytes": path.stat().st_size, "sha256": sha.hexdigest()})
    whole = (
        listed[0]["sha256"]
        if len(listed) == 1
        else hashlib.sha256(
            "".join(f"{f['sha256']}  {f['path']}\n" for f in listed).encode()
        ).hexdigest()
    )
    return {"sha256": whole, "bytes": sum(f["bytes"] for f in listed), "files": listed}


class Progress:
    """A one-line progress report on stderr, only when stderr is a terminal."""

    def __init__(self, total: int | None) -> None:
        self.total, self.started = total, time.perf_counter()
        self.live = sys.stderr.isatty()

    def update(self, done: int) -> None:
        if not self.live:
            return
        share = f" ({done / self.total:.0%})" if self.total else ""
        total = f" of {self.total:,}" if self.total else ""
        rate = done / max(time.perf_counter() - self.started, 1e-9)
        print(
            f"\rscored {done:,}{total} rows{share}, {rate:,.0f} rows/s",
            end="",
            file=sys.stderr,
            flush=True,
        )

    def close(self) -> None:
        if self.live:
            print(file=sys.stderr)


def _schemas(model: BatchModel, id_name: str, id_type: pa.DataType) -> tuple[pa.Schema, ...]:
    answer = [
        pa.field(n, pa.string() if t.kind == "O" else pa.from_numpy_dtype(t))
        for n, t in answer_dtypes(model).items()
    ]
    scored = pa.schema([pa.field(id_name, id_type), *answer, pa.field(VERSION, pa.string())])
    rejects = pa.schema([pa.field(id_name, id_type), ("field", pa.string()), ("rule", pa.string())])
    return scored, rejects


def _frames(scanner: ds.Scanner, key: str | None) -> Iterator[pd.DataFrame]:
    """The input's chunks as pandas frames with their row id column."""
    offset = 0
    for batch in scanner.to_batches():
        frame = batch.to_pandas()
        if key is None:
            frame[ROW] = np.arange(offset, offset + len(frame), dtype=np.int64)
        offset += len(frame)
        yield frame


def score_files(
    model: BatchModel, source: Path, outputs: Outputs, key: str | None, chunk_rows: int
) -> dict[str, Any]:
    """Score `source` into `outputs`; the counts for the manifest.

    Each file is written under a temporary name beside its target and renamed once
    complete, so a failed run leaves the previous outputs (or none), never half of one.
    """
    files, kind = input_files(source)
    columns = model.input_columns + ([key] if key else [])
    dataset = open_dataset(files, kind, columns)
    missing = [c for c in columns if c not in dataset.schema.names]
    if missing:
        raise BadInput(f"{source}: no column {', '.join(map(repr, missing))}")
    id_name = key or ROW
    if key is None and ROW in model.input_columns:
        raise BadInput(f"the model reads a column named {ROW!r}: pass --key")
    id_type = dataset.schema.field(key).type if key else pa.int64()
    scored_schema, rejects_schema = _schemas(model, id_name, id_type)
    # No read-ahead and no pre-buffering of whole files: memory holds about one chunk.
    scanner = dataset.scanner(
        columns=columns,
        batch_size=chunk_rows,
        use_threads=False,
        batch_readahead=0,
        fragment_readahead=0,
        fragment_scan_options=ds.ParquetFragmentScanOptions(pre_buffer=False)
        if kind == "parquet"
        else None,
    )
    progress = Progress(dataset.count_rows() if kind == "parquet" else None)
    counts = {"read": 0, "scored": 0, "rejected": 0}
    temporary = {
        path: path.with_name(f".{path.name}.{os.getpid()}.tmp")
        for path in (outputs.scored, outputs.rejects)
    }
    try:
        with ExitStack() as stack:
            scored_out = stack.enter_context(
                pq.ParquetWriter(temporary[outputs.scored], scored_schema)
            )
            rejects_out = stack.enter_context(
                pa_csv.CSVWriter(temporary[outputs.rejects], rejects_schema)
            )
            for frame in _frames(scanner, key):
                scored, rejected = score_frame(model, frame, id_name)
                scored_out.write_table(
                    pa.Table.from_pandas(scored, scored_schema, preserve_index=False)
                )
                rejects_out.write_table(
                    pa.Table.from_pandas(rejected, rejects_schema, preserve_index=False)
                )
                counts["read"] += len(frame)
                counts["scored"] += len(scored)
                counts["rejected"] += len(frame) - len(scored)
                progress.update(counts["read"])
        for target, tmp in temporary.items():
            os.replace(tmp, target)
    except (pa.ArrowException, OSError) as exc:
        raise BadInput(f"cannot read {source} ({str(exc).splitlines()[0]})") from None
    finally:
        progress.close()
        for tmp in temporary.values():
            tmp.unlink(missing_ok=True)
    return {"rows": counts, "input": {"path": str(source), "format": kind, **digest(files)}}


Scorer = Callable[[BatchModel, argparse.Namespace, Outputs], dict[str, Any]]


def arguments(prog: str, doc: str) -> argparse.ArgumentParser:
    """The command line both batch jobs take."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0])
    parser.add_argument(
        "--input", type=Path, required=True, help="a .csv or .parquet file, or a folder of them"
    )
    parser.add_argument("--output", type=Path, required=True, help="the scored .parquet output")
    parser.add_argument("--model", help="name[:version] (default: configuration's model_tag)")
    parser.add_argument(
        "--store", type=Path, help="model store folder, or a bento's models/ (default: BentoML's)"
    )
    parser.add_argument("--key", help="the input's row id column (default: the row number)")
    parser.add_argument(
        "--chunk-rows", type=int, default=CHUNK_ROWS, help=f"rows per chunk ({CHUNK_ROWS:,})"
    )
    return parser


def run_job(argv: list[str] | None, prog: str, doc: str, scorer: Scorer) -> int:
    """The command line both batch jobs share: arguments, the model, the manifest, the
    closing line and the exit status; `scorer` does the scoring and returns its counts."""
    parser = arguments(prog, doc)
    args = parser.parse_args(argv)
    if args.chunk_rows < 1 or args.output.suffix.lower() != ".parquet":
        parser.error("--chunk-rows must be positive and --output end in .parquet")
    started, clock = datetime.now(UTC), time.perf_counter()
    outputs = Outputs(args.output)
    try:
        settings = load_settings()
        model = find_model(args.model or settings.model_tag, args.store, settings)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        run = scorer(model, args, outputs)
    except (BadInput, ModelUnavailable, PolicyError, OSError, ValueError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return BAD_INPUT
    except Exception:  # a fault, not the input's: whoever fixes it needs the traceback
        traceback.print_exc()
        return FAILED
    duration = time.perf_counter() - clock
    rows = run["rows"]
    status = REJECTED if rows["rejected"] else OK
    manifest = {
        "model": model.tag,
        "decision": model.policy.describe(),
        **run,
        "key": args.key or ROW,
        "outputs": {"scored": str(outputs.scored), "rejects": str(outputs.rejects)},
        "chunk_rows": args.chunk_rows,
        "started": started.isoformat(),
        "duration_s": round(duration, 3),
        "rows_per_s": round(rows["read"] / duration),
        "exit_status": status,
    }
    write_atomically(outputs.manifest, json.dumps(manifest, indent=2) + "\n")
    memory = f", peak RSS {run['peak_rss_mb']:,.0f} MB" if "peak_rss_mb" in run else ""
    print(
        f"scored {rows['scored']:,} of {rows['read']:,} rows ({rows['rejected']:,} rejected) "
        f"from {run['input']['bytes'] / 1e6:,.1f} MB in {duration:.1f} s: "
        f"{manifest['rows_per_s']:,} rows/s{memory}; "
        f"wrote {outputs.scored}, {outputs.rejects.name}, {outputs.manifest.name}"
    )
    return status


def _score_here(model: BatchModel, args: argparse.Namespace, outputs: Outputs) -> dict[str, Any]:
    run = score_files(model, args.input, outputs, args.key, args.chunk_rows)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {**run, "engine": "arrow, one process", "peak_rss_mb": round(peak, 1)}


def main(argv: list[str] | None = None) -> int:
    """`python -m riskserve.score_files`; the exit status."""
    return run_job(argv, "python -m riskserve.score_files", __doc__, _score_here)


if __name__ == "__main__":
    sys.exit(main())
