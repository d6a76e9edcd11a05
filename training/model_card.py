"""The model card of a model version: JSON facts, then Markdown and one HTML page.

Written by training into the store entry (`model_card.json`, `.md`, `.html`), from the
spec (uses, features, reason texts), the data, the held-out split and the checks the
version passed. The HTML page is self-contained (plots as embedded PNGs) and is what
the service's `GET /model_card` answers. Templates are Jinja2 (`training/templates/`).
`python -m training.model_card --model <tag> --out <dir>` (`make model-card`) copies a
stored version's card out of the model store.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import accuracy_score, confusion_matrix, log_loss, roc_auc_score, roc_curve

from monitoring.report import CSS, draw_calibration, png, templates
from riskserve.decisions import Policy
from riskserve.model_entry import MODEL_CARD_HTML, MODEL_CARD_JSON, MODEL_CARD_MD, drift_profile
from riskserve.reasons import Explainer, reason_code, reason_text
from riskserve.scores import score_rows
from riskserve.spec import ModelSpec
from training.evaluate import positive_cut
from training.performance import binary_figures

TEMPLATES = Path(__file__).parent / "templates"
# A segment needs this many rows, and both classes, for its AUC to be reported.
MIN_SEGMENT_ROWS = 30
NEGATIVE_COLOR, POSITIVE_COLOR = "#4c72b0", "#dd8452"


def _features(spec: ModelSpec) -> list[dict[str, Any]]:
    return [
        {
            "name": f.name,
            "kind": f.kind,
            "description": f.description,
            "allowed": f.bounds_text or ", ".join(f.values or ()) or "true / false",
            "reason_code": reason_code(f.name),
            "reason": reason_text(spec, f.name),
            "sensitive": f.sensitive,
        }
        for f in spec.features
    ]


def _segment_labels(spec: ModelSpec, name: str, column: np.ndarray) -> tuple[np.ndarray, list]:
    """Each row's segment of `name` (a band between cut points, or its value), and the
    segments in order."""
    feature = spec.feature(name)
    if feature.segments:
        cuts = list(feature.segments)
        names = [f"< {cuts[0]:g}"] + [f"{a:g} to < {b:g}" for a, b in itertools.pairwise(cuts)]
        names.append(f">= {cuts[-1]:g}")
        return np.asarray(names, dtype=object)[np.searchsorted(cuts, column, side="right")], names
    order = list(feature.values) if feature.values else [False, True]
    return spec.decode(name, column), order


def _segments(
    spec: ModelSpec, policy: Policy, x: np.ndarray, p: np.ndarray, y: np.ndarray
) -> dict[str, list[dict[str, Any]]]:
    """Held-out performance per segment of each feature the spec marks as segmented."""
    labels = score_rows(policy, np.column_stack([1 - p, p])).labels
    best = np.asarray(labels) == policy.best
    table = {}
    for j, f in enumerate(spec.features):
        if f.segments is None:
            continue
        segment, order = _segment_labels(spec, f.name, x[:, j])
        rows = []
        for value in order:
            inside = segment == value
            n = int(inside.sum())
            if not n:
                continue
            scorable = n >= MIN_SEGMENT_ROWS and len(np.unique(y[inside])) == 2
            rows.append(
                {
                    "segment": str(value).lower() if f.kind == "bool" else str(value),
                    "rows": n,
                    "positive_rate": float(y[inside].mean()),
                    "predicted": float(p[inside].mean()),
                    "roc_auc": float(roc_auc_score(y[inside], p[inside])) if scorable else None,
                    "best_rate": float(best[inside].mean()),
                }
            )
        table[f.name] = rows
    return table


def _reason_table(
    spec: ModelSpec, policy: Policy, explainer: Explainer, x: np.ndarray, p: np.ndarray
) -> list[dict[str, Any]]:
    """Per feature: how often it is the first reason of a held-out adverse decision."""
    adverse = x[score_rows(policy, np.column_stack([1 - p, p])).adverse]
    phi = explainer.contributions(adverse) if len(adverse) else np.zeros((0, len(spec.features)))
    first = np.argmax(phi, axis=1)
    pushed = phi > 0
    return [
        {
            "code": reason_code(name),
            "feature": name,
            "text": reason_text(spec, name),
            "first_reason_share": float(np.mean((first == j) & pushed[:, j])) if len(phi) else 0.0,
            "mean_adverse_contribution": float(np.mean(np.clip(phi[:, j], 0, None)))
            if len(phi)
            else 0.0,
        }
        for j, name in enumerate(spec.feature_names)
    ]


def _plots(figures: dict[str, Any], p: np.ndarray, y: np.ndarray) -> dict[str, str]:
    """ROC curve, calibration and score distribution by class, as base64 PNGs."""
    plots = {}
    fig = Figure(figsize=(4.6, 4), dpi=90)
    ax = fig.subplots()
    fpr, tpr, _ = roc_curve(y, p)
    ax.plot(fpr, tpr, color=POSITIVE_COLOR, label=f"AUC {figures['roc_auc']:.3f}")
    ax.plot([0, 1], [0, 1], color="#999", linestyle="--", linewidth=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve")
    ax.legend(loc="lower right", frameon=False)
    fig.subplots_adjust(left=0.15, bottom=0.13, right=0.97, top=0.9)
    plots["roc"] = png(fig)

    fig = Figure(figsize=(4.6, 4), dpi=90)
    ax = fig.subplots()
    bins = [b for b in figures["calibration"] if b["rows"]]
    predicted, observed = [b["predicted"] for b in bins], [b["observed"] for b in bins]
    curve = ("score deciles", predicted, observed, POSITIVE_COLOR)
    draw_calibration(ax, [curve], "Calibration (held-out deciles)")
    fig.subplots_adjust(left=0.15, bottom=0.13, right=0.97, top=0.9)
    plots["calibration"] = png(fig)

    fig = Figure(figsize=(9.2, 3.4), dpi=90)
    ax = fig.subplots()
    edges = np.linspace(0, 1, 51)
    for outcome, color in ((0, NEGATIVE_COLOR), (1, POSITIVE_COLOR)):
        ax.hist(
            p[y == outcome],
            bins=edges,
            density=True,
            histtype="stepfilled",
            alpha=0.5,
            color=color,
            label=f"outcome {outcome}",
        )
    ax.set(
        xlabel="predicted probability",
        ylabel="density",
        title="Score distribution by outcome (held-out)",
    )
    ax.legend(frameon=False)
    fig.subplots_adjust(left=0.07, bottom=0.16, right=0.98, top=0.88)
    plots["scores"] = png(fig)
    return plots


def card_facts(
    spec: ModelSpec,
    policy: Policy,
    metadata: dict[str, Any],
    tag: str,
    x_train: np.ndarray,
    x_test: np.ndarray,
    p_test: np.ndarray,
    y_test: np.ndarray,
    explainer: Explainer | None,
) -> dict[str, Any]:
    """Everything the card says, as data (model_card.json); `p_test`: [rows, classes]."""
    facts: dict[str, Any] = {
        "model": {
            "tag": tag,
            "title": spec.title,
            "description": spec.description,
            "task": spec.task,
            "target": spec.target,
        },
        "intended_use": spec.intended_use,
        "out_of_scope": spec.out_of_scope,
        "data": {
            "source": metadata["data_source"],
            "hash": metadata["data_hash"],
            "rows": metadata["data_rows"],
            "rejected_rows": metadata["rejected_rows"],
            "class_balance": metadata["class_balance"],
            "train_rows": len(x_train),
            "test_rows": len(x_test),
        },
        "features": _features(spec),
        "decision": policy.describe(),
        "parity": {
            "max_abs_diff": metadata["parity_max_abs_diff"],
            "rows": metadata["parity_rows"],
        },
        "explanations": metadata.get("explanations"),
        "stability": drift_profile(spec, x_train),
        "library_versions": metadata["library_versions"],
        "training_params": metadata["training_params"],
    }
    if spec.task == "binary":
        p = p_test[:, 1]
        cut = positive_cut(policy)
        performance = binary_figures(p, y_test, policy)
        performance["cut"] = cut
        performance["confusion"] = confusion_matrix(y_test, p >= cut, labels=[0, 1]).tolist()
        facts["performance"] = performance
        facts["segments"] = _segments(spec, policy, x_test, p, y_test)
        facts["reason_codes"] = (
            _reason_table(spec, policy, explainer, x_test, p) if explainer else []
        )
    else:
        predicted = np.argmax(p_test, axis=1)
        facts["performance"] = {
            "rows": len(y_test),
            "roc_auc": float(roc_auc_score(y_test, p_test, multi_class="ovr")),
            "accuracy": float(accuracy_score(y_test, predicted)),
            "log_loss": float(log_loss(y_test, p_test, labels=list(range(p_test.shape[1])))),
            "confusion": confusion_matrix(y_test, predicted).tolist(),
        }
        facts["segments"], facts["reason_codes"] = {}, []
    facts["limitations"] = _limitations(spec, facts)
    return facts


def _limitations(spec: ModelSpec, facts: dict[str, Any]) -> list[str]:
    """Known limits, from the data and the method."""
    notes = []
    if facts["data"]["source"].startswith("generator"):
        notes.append(
            "Trained and evaluated on seeded synthetic data: the figures describe "
            "that process, not any real population."
        )
    notes.append(
        "Held-out figures come from a split of the training data; live performance "
        "is only known once outcomes arrive (make backtest)."
    )
    if spec.task == "binary":
        notes.append(
            "Reason contributions are in log-odds and path-dependent TreeSHAP: they "
            "follow the trees' training distribution, and correlated features share "
            "credit in ways that need not match causal effects."
        )
    else:
        notes.append("Multiclass answers carry no reason codes.")
    if facts["data"]["rejected_rows"]:
        notes.append(
            f"{facts['data']['rejected_rows']} data rows broke the spec and were left "
            "out of training (data_rejects.csv in the entry)."
        )
    if spec.out_of_scope:
        notes.append(f"Out of scope: {spec.out_of_scope}")
    return notes


def render(facts: dict[str, Any], plots: dict[str, str]) -> tuple[str, str]:
    """The card as (Markdown, HTML)."""
    env = templates(TEMPLATES)
    markdown = env.get_template("model_card.md.j2").render(card=facts)
    page = env.get_template("model_card.html.j2").render(card=facts, plots=plots, css=CSS)
    return markdown, page


def write_card(folder: Path, facts: dict[str, Any], p_test: np.ndarray, y_test: np.ndarray) -> None:
    """Write model_card.json, .md and .html into `folder` (a store entry)."""
    binary = facts["model"]["task"] == "binary"
    plots = _plots(facts["performance"], p_test[:, 1], y_test) if binary else {}
    markdown, page = render(facts, plots)
    (folder / MODEL_CARD_JSON).write_text(json.dumps(facts, indent=2) + "\n")
    (folder / MODEL_CARD_MD).write_text(markdown)
    (folder / MODEL_CARD_HTML).write_text(page)


CARD_FILES = (MODEL_CARD_HTML, MODEL_CARD_MD, MODEL_CARD_JSON)


def main(argv: list[str] | None = None) -> int:
    """Copy a stored model's card into a folder; 2 when the model or its card is missing."""
    parser = argparse.ArgumentParser(prog="python -m training.model_card", description=__doc__)
    parser.add_argument(
        "--model",
        help="store tag, or name for its newest version (default: the model configuration serves)",
    )
    parser.add_argument("--out", type=Path, required=True, help="folder to write the card to")
    args = parser.parse_args(argv)
    import bentoml
    from bentoml.exceptions import BentoMLException

    from riskserve.settings import load_settings

    args.model = args.model or load_settings().model_tag
    try:
        entry = bentoml.models.get(args.model)
    except BentoMLException as exc:
        print(f"model-card: model {args.model}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    missing = [name for name in CARD_FILES if not (Path(entry.path) / name).exists()]
    if missing:
        print(
            f"model-card: {entry.tag} has no {', '.join(missing)} (trained before model "
            "cards): retrain it with `make train`",
            file=sys.stderr,
        )
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for name in CARD_FILES:
        shutil.copyfile(Path(entry.path) / name, args.out / name)
    print(f"model card of {entry.tag}: {args.out / MODEL_CARD_HTML} (and .md, .json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
