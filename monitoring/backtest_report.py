"""The backtest as files: backtest.json for machines, backtest.html (self-contained, plots
embedded) for people; both replaced atomically, the JSON last."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from monitoring.report import (
    CSS,
    CURRENT_COLOR,
    REFERENCE_COLOR,
    draw_calibration,
    png,
    templates,
)
from riskserve.files import write_atomically

TEMPLATES = Path(__file__).parent / "templates"


def _calibration_plot(result: dict[str, Any]) -> str:
    """Predicted vs observed rate per score decile: held out at training, and live."""
    fig = Figure(figsize=(5.2, 4.2), dpi=90)
    ax = fig.subplots()
    curves = []
    for name, figures, color in (
        ("held out (model card)", result["training"], REFERENCE_COLOR),
        ("outcomes", result["overall"], CURRENT_COLOR),
    ):
        bins = [b for b in figures["calibration"] if b["rows"]]
        curves.append((name, [b["predicted"] for b in bins], [b["observed"] for b in bins], color))
    draw_calibration(ax, curves, "Calibration by the card's score deciles")
    fig.subplots_adjust(left=0.14, bottom=0.12, right=0.97, top=0.9)
    return png(fig)


def _auc_plot(result: dict[str, Any]) -> str:
    """ROC AUC per month of decision, with the card's figure and the alert floor."""
    fig = Figure(figsize=(5.2, 4.2), dpi=90)
    ax = fig.subplots()
    months = list(result["months"])
    aucs = [result["months"][m]["roc_auc"] for m in months]
    ax.plot(
        months,
        [a if a is not None else float("nan") for a in aucs],
        "o-",
        color=CURRENT_COLOR,
        label="outcomes",
    )
    card = result["training"]["roc_auc"]
    ax.axhline(card, color=REFERENCE_COLOR, label="model card")
    ax.axhline(
        card - result["limits"]["max_auc_drop"],
        color="#c0392b",
        linestyle="--",
        label="alert below",
    )
    ax.set(ylabel="ROC AUC", title="ROC AUC by month of decision")
    ax.tick_params(axis="x", rotation=30)
    ax.legend(loc="lower left", frameon=False)
    fig.subplots_adjust(left=0.14, bottom=0.18, right=0.97, top=0.9)
    return png(fig)


def write_reports(out: Path, result: dict[str, Any]) -> None:
    """Write OUT/backtest.html, then OUT/backtest.json (whose arrival marks a finished run)."""
    out.mkdir(parents=True, exist_ok=True)
    plots = {"calibration": _calibration_plot(result), "auc": _auc_plot(result)}
    page = (
        templates(TEMPLATES).get_template("backtest.html.j2").render(r=result, plots=plots, css=CSS)
    )
    write_atomically(out / "backtest.html", page)
    write_atomically(out / "backtest.json", json.dumps(result, indent=2) + "\n")
