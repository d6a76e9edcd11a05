"""Reference servers measured beside riskserve in `make bench`: tuned MLServer and the floor.

MLServer 1.7.1's scikit-learn runtime serves the model entry's own fitted pipeline
(`pipeline.joblib`) in process (`parallel_workers: 0`, `debug: false`), decoding requests
with its NumPy codec; it runs from its own environment (`requirements/mlserver.txt`,
installed by `make bench` into build/mlserver-venv). Its clients send what the pipeline
takes, the encoded float64 feature matrix (categories as codes, booleans as 0/1), as one
[N, n_features] FP64 tensor of the Open Inference Protocol, and get `predict_proba` back:
no validation rules, decisions or audit. The floor (`benchmarks/floor_app.py`) is
uvicorn + httptools + uvloop parsing the JSON body and sending a fixed answer.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import payloads
from benchmarks.floor_app import READY_PATH as FLOOR_READY_PATH
from benchmarks.servers import SERVER_CPU, Server, free_port, pinned, uvicorn_argv
from riskserve.backends import PIPELINE_FILE
from riskserve.settings import PROJECT_ROOT
from riskserve.spec import ModelSpec

MLSERVER, FLOOR = "mlserver", "floor"
MLSERVER_VENV = PROJECT_ROOT / "build" / "mlserver-venv"
MLSERVER_PACKAGES = ("mlserver", "mlserver-sklearn", "scikit-learn", "uvloop")
MLSERVER_RUNTIME = "mlserver_sklearn.SKLearnModel"
# The tuning of the reference figures: inference in the server process (no pool
# of workers and no hop to it), and no debug logging per request.
MLSERVER_SETTINGS = {"debug": False, "parallel_workers": 0}
INPUT_NAME = "features"


def infer_path(model_name: str) -> str:
    """MLServer's inference route for a model (Open Inference Protocol v2)."""
    return f"/v2/models/{model_name}/infer"


def infer_body(spec: ModelSpec, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """An inference request carrying `records` as MLServer's clients would send them: the
    matrix the pipeline takes, one FP64 tensor, decoded by the NumPy codec."""
    matrix = payloads.feature_matrix(spec, records)
    return {
        "inputs": [
            {
                "name": INPUT_NAME,
                "shape": list(matrix.shape),
                "datatype": "FP64",
                "parameters": {"content_type": "np"},
                "data": matrix.ravel().tolist(),
            }
        ]
    }


def model_settings(model_name: str, pipeline: Path) -> dict[str, Any]:
    """model-settings.json: the scikit-learn runtime on `pipeline`, answering
    predict_proba through the NumPy codec."""
    return {
        "name": model_name,
        "implementation": MLSERVER_RUNTIME,
        "parameters": {
            "uri": str(pipeline),
            "content_type": "np",
            "extra": {"predict_fn": "predict_proba"},
        },
    }


def server_settings(http_port: int, grpc_port: int, metrics_port: int) -> dict[str, Any]:
    """settings.json: the tuning, on loopback ports of its own."""
    return {
        **MLSERVER_SETTINGS,
        "host": "127.0.0.1",
        "http_port": http_port,
        "grpc_port": grpc_port,
        "metrics_port": metrics_port,
    }


def write_repository(folder: Path, model_name: str, entry: Path, http_port: int) -> Path:
    """An MLServer model repository serving the entry's pipeline; its folder."""
    model_folder = folder / model_name
    model_folder.mkdir(parents=True, exist_ok=True)
    settings = server_settings(http_port, free_port(), free_port())
    (folder / "settings.json").write_text(json.dumps(settings, indent=2))
    config = model_settings(model_name, entry / PIPELINE_FILE)
    (model_folder / "model-settings.json").write_text(json.dumps(config, indent=2))
    return folder


def mlserver_bin() -> Path:
    """The `mlserver` command of its own environment."""
    return MLSERVER_VENV / "bin" / "mlserver"


def floor_argv(port: int) -> list[str]:
    """The floor app under uvicorn: one worker, httptools, uvloop, no access log."""
    fast = ("--http", "httptools", "--loop", "uvloop", "--lifespan", "off", "--no-access-log")
    return uvicorn_argv("benchmarks.floor_app:app", port, *fast)


def server(
    reference: str, model_name: str, entry: Path, env: dict[str, str], work: Path, log: Path
) -> Server:
    """The reference server, pinned to the server core on a free port."""
    port = free_port()
    if reference == FLOOR:
        return Server(
            pinned(SERVER_CPU, floor_argv(port)), port, FLOOR_READY_PATH, env, PROJECT_ROOT, log
        )
    if not mlserver_bin().exists():
        raise RuntimeError(
            f"MLServer is not installed in {MLSERVER_VENV}: `make bench` installs it"
        )
    folder = write_repository(work / "mlserver" / model_name, model_name, entry, port)
    argv = pinned(SERVER_CPU, [str(mlserver_bin()), "start", str(folder)])
    return Server(argv, port, f"/v2/models/{model_name}/ready", env, folder, log)


def mlserver_versions() -> dict[str, str]:
    """Versions in MLServer's own environment (empty when it is not installed)."""
    python = MLSERVER_VENV / "bin" / "python"
    if not python.exists():
        return {}
    code = (
        "import importlib.metadata as m, json, sys; "
        "print(json.dumps({p: m.version(p) for p in sys.argv[1:]}))"
    )
    done = subprocess.run(
        [str(python), "-c", code, *MLSERVER_PACKAGES], capture_output=True, text=True
    )
    if done.returncode != 0:
        return {}
    return {f"{name} (MLServer env)": v for name, v in json.loads(done.stdout).items()}
