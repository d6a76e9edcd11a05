"""A trained model's store entry: what it holds, and loading it safely for serving.

Training writes one BentoML model-store entry per version holding the fitted pipeline,
the ONNX graph, the model's spec (the contract serving reads), a reference sample of the
training features, the report of data rows rejected at training time, the reason-code
explainer (`explainer.npz`) and the model card (`model_card.{html,md,json}`).
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
from riskserve.reasons import Explainer, load_explainer
from riskserve.spec import ModelSpec, SpecError, load_spec

SPEC_FILE = "spec.yaml"
REJECTS_FILE = "data_rejects.csv"
REFERENCE_FILE = "reference.csv"
REFERENCE_PROBABILITIES_FILE = "reference_probabilities.npy"
# Per population and feature: PSI bin edges cut at the reference deciles, and the
# reference's fractions in those bins.
DRIFT_REFERENCE_FILE = "drift_reference.json"
# "training": every training row. "servable": the rows a request could carry (every
# bound and rule holds); the service only ever sees those, so live traffic and the
# audit log are compared with them.
POPULATIONS = ("training", "servable")
# The model card, written at training time (training/model_card.py); /model_card serves
# the HTML page.
MODEL_CARD_HTML = "model_card.html"
MODEL_CARD_MD = "model_card.md"
MODEL_CARD_JSON = "model_card.json"
TRAIN_HINT = "train it with `make train SPEC=<spec.yaml>` (or `python -m training`)"


class ModelUnavailable(RuntimeError):
    """The configured model cannot be served; the message says why in one line."""


@dataclasses.dataclass(frozen=True)
class LoadedModel:
    """A verified model ready to score, with what `model_info` reports about it."""

    tag: str
    spec: ModelSpec
    backend: Backend
    info: dict[str, Any]
    # Reason codes (binary models, unless configuration's `reasons` is `never`).
    explainer: Explainer | None = None


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


def bin_edges(spec: ModelSpec, name: str, reference: np.ndarray) -> np.ndarray:
    """PSI bins of a feature: reference deciles for numbers, one bin per value otherwise.

    Categories are coded 0..k-1 in the matrix and booleans 0/1, so edges half-way
    between codes give each value its own bin.
    """
    feature = spec.feature(name)
    if feature.kind == "category":
        return np.arange(len(feature.values or ()) - 1) + 0.5
    if feature.kind == "bool":
        return np.array([0.5])
    return psi.decile_edges(reference)


def drift_profile(spec: ModelSpec, features: np.ndarray) -> dict[str, dict[str, list[float]]]:
    """Per feature, its reference bin `edges` and the reference's bin `fractions`."""
    profile = {}
    for name, column in zip(spec.feature_names, features.T, strict=True):
        edges = bin_edges(spec, name, column)
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
    """The fitted pipeline's own class probabilities for the reference sample, in row order."""
    np.save(folder / REFERENCE_PROBABILITIES_FILE, probabilities.astype(np.float64))


def read_spec(folder: Path) -> ModelSpec:
    """The spec stored with a model: the contract it was trained (and is served) with."""
    return load_spec(folder / SPEC_FILE)


def open_entry(
    folder: Path, name: str, backend: str, tolerance: float
) -> tuple[ModelSpec, Backend, float, int]:
    """An entry's spec and verified backend, its parity and the rows it was checked on.

    The backend must reproduce, within `tolerance`, the probabilities the fitted
    scikit-learn pipeline gave the reference sample at training time: for ONNX Runtime
    that is the parity check, done without importing scikit-learn (and its ~150 MB); for
    scikit-learn it catches a library that scores differently. Every failure is a
    `ModelUnavailable` naming the entry `name`.
    """
    try:
        spec = read_spec(folder)
        served = BACKENDS[backend](folder)
        reference = read_reference(folder, spec)
        expected = np.load(folder / REFERENCE_PROBABILITIES_FILE)
        parity = float(np.max(np.abs(served.predict_proba(reference) - expected)))
    except SpecError as exc:
        problems = str(exc).replace("\n", "; ")
        raise ModelUnavailable(
            f"model {name}: unusable {SPEC_FILE} ({problems}); {TRAIN_HINT}"
        ) from None
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
    return spec, served, parity, len(reference)


def served_explainer(
    folder: Path, spec: ModelSpec, name: str, reasons: str
) -> tuple[Explainer | None, dict[str, Any] | None]:
    """The reason-code explainer serving uses under configuration's `reasons` and its
    additivity check on the stored reference sample (`riskserve.reasons`): none when
    reasons are off or the model is not binary (multiclass models never carry reasons);
    a `ModelUnavailable` naming `name` if loading or the check fails."""
    if reasons == "never" or spec.task != "binary":
        return None, None
    try:
        reference = read_reference(folder, spec)
        expected = np.load(folder / REFERENCE_PROBABILITIES_FILE)
        return load_explainer(folder, spec, reference, expected)
    except (OSError, ValueError, KeyError) as exc:  # ExplainerError is a ValueError
        raise ModelUnavailable(
            f"model {name}: reason codes fail their startup check ({exc}); retrain it"
        ) from None


def load_model(
    stored: Any, tag: str, backend: str, tolerance: float, reasons: str = "adverse"
) -> LoadedModel:
    """Load a store entry (`bentoml.models.Model`, or None if absent) and verify it
    (`open_entry`), with its explainer under configuration's `reasons`
    (`served_explainer`)."""
    if stored is None:
        raise ModelUnavailable(f"model {tag} is not in the model store; {TRAIN_HINT}")
    name = str(stored.tag)
    spec, served, parity, rows = open_entry(Path(stored.path), name, backend, tolerance)
    explainer, explanations = served_explainer(Path(stored.path), spec, name, reasons)
    info = {
        "tag": name,
        "created_at": stored.info.creation_time.isoformat(),
        "backend": backend,
        "parity": {"max_abs_diff": parity, "tolerance": tolerance, "rows": rows},
        "metadata": dict(stored.info.metadata),
        "spec": spec.to_json(),
    }
    if explanations is not None:
        info["explanations"] = explanations
    return LoadedModel(tag=name, spec=spec, backend=served, info=info, explainer=explainer)


def load_or_explain(stored: Any, settings: Any) -> tuple[LoadedModel | None, str]:
    """`load_model` for a serving process: the model, or None and the logged reason."""
    logger = logging.getLogger("riskserve")
    try:
        loaded = load_model(
            stored,
            settings.model_tag,
            settings.backend,
            settings.parity_tolerance,
            settings.reasons,
        )
    except ModelUnavailable as exc:
        logger.error("riskserve not ready: %s", exc)
        return None, str(exc)
    parity = loaded.info["parity"]["max_abs_diff"]
    logger.info("serving %s with %s (ONNX parity %.2g)", loaded.tag, settings.backend, parity)
    return loaded, ""


def store_entry(store: Path, tag: str) -> tuple[Path, str]:
    """The folder and full tag of `name[:version]` in a model store, without BentoML.

    A store (BentoML's `$BENTOML_HOME/models`, or a bento's `models/`) holds
    `<name>/<version>/` folders and `<name>/latest` naming the newest; reading them
    directly keeps BentoML (and its start-up time) out of batch jobs.
    """
    name, _, version = tag.partition(":")
    if not version or version == "latest":
        latest = store / name / "latest"
        if not latest.is_file():
            raise ModelUnavailable(f"model {name} is not in the model store {store}; {TRAIN_HINT}")
        version = latest.read_text().strip()
    folder = store / name / version
    if not (folder / SPEC_FILE).is_file():
        raise ModelUnavailable(f"model {name}:{version} is not in the model store {store}")
    return folder, f"{name}:{version}"
