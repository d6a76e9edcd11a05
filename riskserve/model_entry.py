"""A trained model's store entry: what it holds, and loading it safely for serving.

Training writes one BentoML model-store entry per version holding the fitted pipeline,
the ONNX graph, the feature spec and a reference sample of the training features.
Loading never raises a traceback at the operator: every failure becomes a
`ModelUnavailable` with one line saying what is wrong and what to do.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from riskserve import psi
from riskserve.backends import BACKENDS, Backend
from riskserve.spec import ModelSpec

SPEC_FILE = "feature_spec.json"
REFERENCE_FILE = "reference.csv"
REFERENCE_PROBABILITIES_FILE = "reference_probabilities.npy"
# Per population and feature: PSI bin edges cut at the reference deciles, and the
# reference's fractions in those bins.
DRIFT_REFERENCE_FILE = "drift_reference.json"
# "training": every training row. "servable": the rows a request could carry (every
# bound and rule holds); the service only ever sees those, so live traffic and the
# audit log are compared with them.
POPULATIONS = ("training", "servable")
TRAIN_HINT = "train it with `make train` (or `python -m training`)"


class ModelUnavailable(RuntimeError):
    """The configured model cannot be served; the message says why in one line."""


@dataclasses.dataclass(frozen=True)
class LoadedModel:
    """A verified model ready to score, with what `model_info` reports about it."""

    tag: str
    backend: Backend
    info: dict[str, Any]


def write_reference(folder: Path, spec: ModelSpec, features: np.ndarray) -> None:
    """Store training features as CSV in spec column order (drift baseline, parity sample)."""
    np.savetxt(
        folder / REFERENCE_FILE,
        features,
        delimiter=",",
        header=",".join(spec.feature_names),
        comments="",
        fmt="%.10g",
    )


def read_reference(folder: Path, spec: ModelSpec) -> np.ndarray:
    """The stored reference sample, checked against the spec's columns."""
    path = folder / REFERENCE_FILE
    with path.open() as f:
        header = f.readline().strip().split(",")
    if header != spec.feature_names:
        raise ValueError(f"{REFERENCE_FILE} columns {header} differ from the spec")
    return np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)


def drift_profile(spec: ModelSpec, features: np.ndarray) -> dict[str, dict[str, list[float]]]:
    """Per feature, its reference decile `edges` and the reference's bin `fractions`."""
    profile = {}
    for name, column in zip(spec.feature_names, features.T, strict=True):
        edges = psi.decile_edges(column)
        fractions = psi.bin_fractions(column, edges)
        profile[name] = {"edges": edges.tolist(), "fractions": fractions.tolist()}
    return profile


def _population(spec: ModelSpec, features: np.ndarray, population: str) -> np.ndarray:
    if population not in POPULATIONS:
        raise ValueError(f"unknown reference population {population!r}; one of {POPULATIONS}")
    return features[spec.admissible(features)] if population == "servable" else features


def reference_rows(folder: Path, spec: ModelSpec, population: str) -> np.ndarray:
    """The stored reference sample, all of it or only its servable rows."""
    return _population(spec, read_reference(folder, spec), population)


def write_drift_reference(folder: Path, spec: ModelSpec, features: np.ndarray) -> None:
    """Fix the PSI bins at training time, so every later drift check uses the same ones."""
    profiles = {p: drift_profile(spec, _population(spec, features, p)) for p in POPULATIONS}
    (folder / DRIFT_REFERENCE_FILE).write_text(json.dumps(profiles))


def read_drift_reference(
    folder: Path, spec: ModelSpec, population: str
) -> dict[str, dict[str, list[float]]]:
    """The stored PSI bins of one population (derived likewise if the file is absent)."""
    path = folder / DRIFT_REFERENCE_FILE
    if not path.exists():
        return drift_profile(spec, reference_rows(folder, spec, population))
    profile = json.loads(path.read_text())[population]
    if list(profile) != spec.feature_names:
        raise ValueError(f"{DRIFT_REFERENCE_FILE} features {list(profile)} differ from the spec")
    return profile


def declare_model(tag: str) -> Any:
    """The class-scope `BentoModel` for `tag`, or None when the store lacks it.

    `bentoml serve` resolves every declared model before starting and exits if one is
    missing; declaring only a present model lets the service start unready instead and
    say how to train, which is what a readiness probe and an operator can act on.
    """
    import bentoml

    model = bentoml.models.BentoModel(tag)
    return model if model.stored is not None else None


def write_reference_probabilities(folder: Path, probabilities: np.ndarray) -> None:
    """The fitted pipeline's own probabilities for the reference sample, in row order."""
    np.save(folder / REFERENCE_PROBABILITIES_FILE, probabilities.astype(np.float64))


def load_model(
    stored: Any, tag: str, spec: ModelSpec, backend: str, tolerance: float
) -> LoadedModel:
    """Load a store entry (`bentoml.models.Model`, or None if absent) and verify it.

    The served backend must reproduce, within `tolerance`, the probabilities the fitted
    scikit-learn pipeline gave the reference sample at training time: for ONNX Runtime
    that is the parity check, done without importing scikit-learn (and its ~150 MB) into
    the serving process; for scikit-learn it catches a library that scores differently.
    """
    if stored is None:
        raise ModelUnavailable(f"model {tag} is not in the model store; {TRAIN_HINT}")
    folder = Path(stored.path)
    name = str(stored.tag)
    try:
        stored_spec = json.loads((folder / SPEC_FILE).read_text())
        if stored_spec != spec.to_json():
            raise ModelUnavailable(
                f"model {name} was trained with a different feature spec than this code "
                f"serves; {TRAIN_HINT}"
            )
        served = BACKENDS[backend](folder)
        reference = read_reference(folder, spec)
        expected = np.load(folder / REFERENCE_PROBABILITIES_FILE)
        parity = float(np.max(np.abs(served.predict_proba(reference) - expected)))
    except ModelUnavailable:
        raise
    except Exception as exc:  # any unreadable or corrupt file: report it, don't crash
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise ModelUnavailable(
            f"model {name} files are unreadable ({reason}); {TRAIN_HINT}"
        ) from None
    if not parity <= tolerance:
        raise ModelUnavailable(
            f"model {name}: the {backend} backend differs from the training pipeline by "
            f"{parity:.3g} on the reference sample (tolerance {tolerance:g}); retrain it"
        )
    info = {
        "tag": name,
        "created_at": stored.info.creation_time.isoformat(),
        "backend": backend,
        "parity": {"max_abs_diff": parity, "tolerance": tolerance, "rows": len(reference)},
        "metadata": dict(stored.info.metadata),
        "feature_spec": stored_spec,
    }
    return LoadedModel(tag=name, backend=served, info=info)


def load_or_explain(stored: Any, settings: Any, spec: ModelSpec) -> tuple[LoadedModel | None, str]:
    """`load_model` for a serving process: the model, or None and the logged reason."""
    logger = logging.getLogger("riskserve")
    try:
        loaded = load_model(
            stored, settings.model_tag, spec, settings.backend, settings.parity_tolerance
        )
    except ModelUnavailable as exc:
        logger.error("riskserve not ready: %s", exc)
        return None, str(exc)
    parity = loaded.info["parity"]["max_abs_diff"]
    logger.info("serving %s with %s (ONNX parity %.2g)", loaded.tag, settings.backend, parity)
    return loaded, ""
