"""`python -m benchmarks.portfolio`: a synthetic credit portfolio as Parquet, of any size.

Applicants come from the credit generator (SPEC section 1), keeping the rows a request
could carry, so scoring speed is measured on rows that reach the model; every
`bad_every`-th row gets an age of 17, so a run also exercises the rejects file. Written a
chunk at a time (one row group each), so ten million rows need no more memory than one
chunk. Each row has an `application_id` key.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from riskserve.spec import ModelSpec
from training.generators import credit

KEY = "application_id"


def portfolio_chunk(
    spec: ModelSpec, rows: int, seed: int, first_id: int, bad_every: int
) -> pd.DataFrame:
    """`rows` servable applicants (ids from `first_id`), every `bad_every`-th one broken."""
    frames, have = [], 0
    while have < rows:
        frame = credit(2 * rows, seed + 7919 * len(frames))[spec.feature_names]
        frame = frame[spec.admissible(frame.to_numpy(dtype=np.float64))]
        frames.append(frame)
        have += len(frame)
    chunk = pd.concat(frames, ignore_index=True).head(rows)
    ids = np.arange(first_id, first_id + rows, dtype=np.int64)
    chunk.loc[ids % bad_every == bad_every - 1, "age"] = 17
    chunk.insert(0, KEY, ids)
    return chunk


def write_portfolio(
    spec: ModelSpec,
    path: Path,
    rows: int,
    seed: int = 42,
    chunk_rows: int = 1 << 20,
    bad_every: int = 10_000,
) -> None:
    """Write `rows` applicants to `path` (Parquet), a chunk at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    for n, first in enumerate(range(0, rows, chunk_rows)):
        chunk = portfolio_chunk(spec, min(chunk_rows, rows - first), seed + n, first, bad_every)
        table = pa.Table.from_pandas(chunk, preserve_index=False)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    if writer is not None:
        writer.close()


def main() -> None:
    """Parse the command line and write the file."""
    from training.__main__ import built_in_spec

    parser = argparse.ArgumentParser(prog="python -m benchmarks.portfolio", description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=Path("build/portfolio-10m.parquet"))
    args = parser.parse_args()
    write_portfolio(built_in_spec("credit_model"), args.out, args.rows, args.seed)
    print(f"wrote {args.rows:,} rows to {args.out} ({args.out.stat().st_size / 1e6:,.1f} MB)")


if __name__ == "__main__":
    main()
