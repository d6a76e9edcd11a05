"""The Spark job (local mode) against the file scorer and the API, with a cut-off moved.

One Spark run on 100,000 applicants in two Parquet files, with configuration's credit
cut-offs changed: its output must equal the file scorer's row for row (scored rows and
rejects), a sample must equal what `/predict_batch` answers under the same configuration,
and the moved cut-offs must change decisions against the shipped configuration.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pandas as pd
import pyarrow.dataset as ds
import pytest

from benchmarks.portfolio import portfolio_chunk
from riskserve.score_files import main as score_files
from tests.cases import CREDIT
from tests.conftest import ROOT
from tests.server import Server, write_config

pytestmark = pytest.mark.slow

SPARK_PYTHON = ROOT / "build" / "spark" / "bin" / "python"  # `make spark`
STORE = Path(os.environ["BENTOML_HOME"]) / "models"
CUTOFFS = {"credit_model": {"threshold": 0.3, "Low": 0.1, "Medium": 0.2}}
ANSWER = ["prediction", "probability_of_default", "risk_category", "model_version"]


def run(python: Path, module: str, source: Path, output: Path, config: Path) -> int:
    """A batch job's command line in its own process, as `make score(-spark)` runs it."""
    env = {
        **os.environ,
        "RISKSERVE_CONFIG": str(config),
        "PYTHONPATH": str(ROOT),
        "PYSPARK_PYTHON": str(python),
    }
    argv = [python, "-m", module, "--input", source, "--output", output, "--store", STORE]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1), done.stderr[-3000:]
    return done.returncode


def rejects(path: Path) -> pd.DataFrame:
    """A rejects CSV file, or Spark's folder of them, sorted."""
    table = ds.dataset(path, format="csv").to_table().to_pandas()
    return table.sort_values(["row", "field"], ignore_index=True)


def test_spark_equals_the_file_scorer_and_the_api_under_moved_cutoffs(trained_model, tmp_path):
    if not SPARK_PYTHON.exists():
        pytest.skip("no Spark environment: `make spark` (make test creates it)")
    frame = portfolio_chunk(CREDIT, 100_000, seed=9, first_id=0, bad_every=1000)
    source = tmp_path / "portfolio"
    source.mkdir()
    frame.iloc[:60_000].to_parquet(source / "part-1.parquet")
    frame.iloc[60_000:].to_parquet(source / "part-2.parquet")
    config = write_config(tmp_path, cutoffs=CUTOFFS)

    spark_out, files_out = tmp_path / "spark.parquet", tmp_path / "files.parquet"
    assert run(SPARK_PYTHON, "riskserve.spark_job", source, spark_out, config) == 1
    assert run(Path(sys.executable), "riskserve.score_files", source, files_out, config) == 1
    by_spark = pd.read_parquet(spark_out).sort_values("row", ignore_index=True)
    by_files = pd.read_parquet(files_out)
    pd.testing.assert_frame_equal(by_spark, by_files)
    pd.testing.assert_frame_equal(
        rejects(tmp_path / "spark.rejects.csv"), rejects(tmp_path / "files.rejects.csv")
    )
    manifests = [
        json.loads((tmp_path / f"{n}.manifest.json").read_text()) for n in ("spark", "files")
    ]
    assert (
        manifests[0]["rows"]
        == manifests[1]["rows"]
        == {"read": 100_000, "scored": 99_900, "rejected": 100}
    )
    assert manifests[0]["decision"]["cutoffs"] == CUTOFFS["credit_model"]

    # The shipped cut-offs decide differently: the moved ones are in force everywhere.
    shipped = tmp_path / "shipped.parquet"
    assert (
        score_files(["--input", str(source), "--output", str(shipped), "--store", str(STORE)]) == 1
    )
    moved = pd.read_parquet(shipped).risk_category != by_files.risk_category
    assert moved.mean() > 0.2

    sample = by_spark.sample(1000, random_state=3)
    records = frame.iloc[sample.row][CREDIT.feature_names].to_dict(orient="records")
    (tmp_path / "server").mkdir()
    with Server.source(tmp_path / "server", cutoffs=CUTOFFS) as server:
        answer = httpx.post(f"{server.url}/predict_batch", json={"records": records}, timeout=60)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    api = pd.DataFrame(body["results"]).assign(model_version=body["model_version"])
    pd.testing.assert_frame_equal(api[ANSWER], sample[ANSWER].reset_index(drop=True))
