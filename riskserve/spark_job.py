"""`python -m riskserve.spark_job` (or `spark-submit riskserve/spark_job.py`): the file
scorer's job on Spark.

The driver finds and verifies the model-store entry and ships its folder to every
executor (`SparkContext.addFile`); each executor's Python worker loads it once and
`mapInPandas` applies `riskserve.batch.score_frame` (the file scorer's, and so the API's,
checks, model and decisions) to each Arrow batch. Arguments, manifest and exit statuses
are the file scorer's; the scored rows (Parquet) and the rejects (CSV with a header) are
Spark's folders of part files at the same paths.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from pyspark import SparkFiles, StorageLevel
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from riskserve.batch import REJECT_COLUMNS, ROW, VERSION, BatchModel, answer_dtypes, score_frame
from riskserve.score_files import BadInput, Outputs, digest, input_files, run_job
from riskserve.settings import Settings, load_settings

_SPARK_TYPES = {"f": T.DoubleType(), "i": T.LongType(), "O": T.StringType()}
# Per Python worker (Spark reuses them across tasks): the model, loaded on first use.
_LOADED: dict[str, BatchModel] = {}


def _worker_model(folder_name: str, tag: str, settings: Settings) -> BatchModel:
    if tag not in _LOADED:
        _LOADED[tag] = BatchModel.load(Path(SparkFiles.get(folder_name)), tag, settings)
    return _LOADED[tag]


def _read(spark: SparkSession, files: list[Path], kind: str, key: str | None) -> DataFrame:
    """The input, with the row id column: the key, or the row's position in the input.

    Positions come from each Parquet file's own row index plus the rows of the files
    before it (in the file scorer's order), since Spark reads files in no fixed order.
    """
    paths = [str(f) for f in files]
    if kind == "csv":  # every column as text, as the file scorer reads them
        if key is None:
            raise BadInput("Spark has no row numbers for CSV input: pass --key <column>")
        return spark.read.option("header", True).csv(paths)
    frame = spark.read.parquet(*paths)
    if key is not None:
        return frame
    sizes = [pq.ParquetFile(f).metadata.num_rows for f in files]
    offsets = np.cumsum([0, *sizes[:-1]]).tolist()
    first_row = F.create_map(
        *[F.lit(v) for f, o in zip(files, offsets, strict=True) for v in (str(f.resolve()), o)]
    )
    # Spark names local files `file:/abs/path`.
    path = F.regexp_replace(F.col("_metadata.file_path"), "^file:(//)?", "")
    return frame.withColumn(ROW, first_row[path] + F.col("_metadata.row_index"))


def _replace(built: Path, target: Path) -> None:
    """Put a finished output folder in place of the previous output (file or folder)."""
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink(missing_ok=True)
    os.replace(built, target)


def score_on_spark(model: BatchModel, args: argparse.Namespace, outputs: Outputs) -> dict[str, Any]:
    """Score `args.input` with Spark into `outputs`; the counts for the manifest."""
    files, kind = input_files(args.input)
    id_name = args.key or ROW
    built = {
        path: path.with_name(f".{path.name}.{os.getpid()}.tmp")
        for path in (outputs.scored, outputs.rejects)
    }
    spark = (
        SparkSession.builder.appName(f"riskserve-score-{model.spec.name}")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(args.chunk_rows))
        .getOrCreate()
    )
    try:
        frame = _read(spark, files, kind, args.key)
        columns = [*model.input_columns, id_name]
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise BadInput(f"{args.input}: no column {', '.join(map(repr, missing))}")
        frame = frame.select(*columns)
        answers = list(answer_dtypes(model).items())
        schema = T.StructType(
            [
                T.StructField(id_name, frame.schema[id_name].dataType),
                *(T.StructField(name, _SPARK_TYPES[dtype.kind]) for name, dtype in answers),
                T.StructField(VERSION, T.StringType()),
                *(T.StructField(name, T.StringType()) for name in REJECT_COLUMNS),
            ]
        )
        spark.sparkContext.addFile(str(model.folder), recursive=True)
        folder_name, tag, settings = model.folder.name, model.tag, load_settings()

        def score_batches(chunks: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            worker_model = _worker_model(folder_name, tag, settings)
            for chunk in chunks:
                scored, rejected = score_frame(worker_model, chunk, id_name)
                out = pd.concat([scored, rejected], ignore_index=True)
                # pyspark 4.3 cannot convert pandas 3's Arrow-backed text columns: plain objects.
                text = [c for c in out.columns if pd.api.types.is_string_dtype(out[c])]
                yield out.astype(dict.fromkeys(text, object))

        result = frame.mapInPandas(score_batches, schema).persist(StorageLevel.MEMORY_AND_DISK)
        accepted = result.where(F.col("rule").isNull())
        accepted.select(id_name, *(n for n, _ in answers), VERSION).write.parquet(
            str(built[outputs.scored])
        )
        result.where(F.col("rule").isNotNull()).select(id_name, *REJECT_COLUMNS).write.option(
            "header", True
        ).csv(str(built[outputs.rejects]))
        read, scored = frame.count(), accepted.count()
        for target, path in built.items():
            _replace(path, target)
        master = spark.sparkContext.master
    except AnalysisException as exc:  # paths, formats, columns Spark cannot use
        raise BadInput(str(exc).splitlines()[0]) from None
    finally:
        spark.stop()
        for path in built.values():
            shutil.rmtree(path, ignore_errors=True)
    rows = {"read": read, "scored": scored, "rejected": read - scored}
    return {
        "rows": rows,
        "input": {"path": str(args.input), "format": kind, **digest(files)},
        "engine": f"spark {master}",
    }


def main(argv: list[str] | None = None) -> int:
    """`python -m riskserve.spark_job`; the exit status."""
    return run_job(argv, "python -m riskserve.spark_job", __doc__, score_on_spark)


if __name__ == "__main__":
    sys.exit(main())
