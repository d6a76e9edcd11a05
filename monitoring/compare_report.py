"""The champion/challenger comparison as files: compare.json and a self-contained page.

Same conventions as the drift report (monitoring.report): inline CSS and PNGs, files
replaced atomically, the JSON written last so its arrival marks a finished run.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from monitoring.report import CSS, CURRENT_COLOR, REFERENCE_COLOR, draw_calibration, png
from riskserve.files import write_atomically

# Points drawn in the score scatter (a sample of them beyond this).
MAX_SCATTER_POINTS = 20_000


def write_reports(out: Path, result: dict[str, Any], pairs: pd.DataFrame) -> None:
    """Write OUT/compare.html, then OUT/compare.json."""
    out.mkdir(parents=True, exist_ok=True)
    write_atomically(out / "compare.html", _html(result, _scores_plot(pairs), _extra_plot(result)))
    write_atomically(out / "compare.json", json.dumps(result, indent=2) + "\n")


def _scores_plot(pairs: pd.DataFrame) -> str:
    """Challenger vs champion score per record, and both score distributions."""
    a, b = pairs["p_champion"].to_numpy(float), pairs["p_challenger"].to_numpy(float)
    fig = Figure(figsize=(11, 4), dpi=90)
    fig.subplots_adjust(left=0.07, right=0.99, top=0.9, bottom=0.14, wspace=0.22)
    left, right = fig.subplots(1, 2)
    shown = np.random.default_rng(0).permutation(len(a))[:MAX_SCATTER_POINTS]
    left.scatter(a[shown], b[shown], s=4, alpha=0.3, color=REFERENCE_COLOR, linewidths=0)
    left.plot([0, 1], [0, 1], color="#888", linewidth=1, linestyle="--")
    left.set(
        xlim=(0, 1),
        ylim=(0, 1),
        xlabel="champion probability",
        ylabel="challenger probability",
        title="the same records, scored by both",
    )
    edges = np.linspace(0, 1, 41)
    for values, color, name in ((a, REFERENCE_COLOR, "champion"), (b, CURRENT_COLOR, "challenger")):
        right.hist(
            values,
            bins=edges,
            histtype="stepfilled",
            alpha=0.45,
            color=color,
            edgecolor=color,
            label=name,
        )
    right.set(xlabel="probability", ylabel="records", title="score distributions")
    right.legend(frameon=False)
    return png(fig)


def _extra_plot(result: dict[str, Any]) -> str:
    """The swap matrix as a heat map, and calibration curves when outcomes were given."""
    calibrated = result["outcomes"] is not None
    fig = Figure(figsize=(11 if calibrated else 5.5, 4), dpi=90)
    fig.subplots_adjust(left=0.12, right=0.98, top=0.9, bottom=0.14, wspace=0.3)
    axes = fig.subplots(1, 2 if calibrated else 1, squeeze=False)[0]
    swap = result["overall"]["swap_matrix"]
    rates, labels = np.array(swap["rates"]), swap["labels"]
    axes[0].imshow(rates, cmap="Blues", vmin=0, vmax=max(rates.max(), 1e-9))
    for (i, j), rate in np.ndenumerate(rates):
        axes[0].text(
            j,
            i,
            f"{swap['counts'][i][j]:,}\n{rate:.1%}",
            ha="center",
            va="center",
            color="white" if rate > rates.max() / 2 else "#222",
            fontsize=9,
        )
    ticks = range(len(labels))
    axes[0].set_xticks(ticks, labels)
    axes[0].set_yticks(ticks, labels)
    axes[0].set(xlabel="challenger decision", ylabel="champion decision", title="decision swaps")
    if calibrated:
        curves = [
            (
                role,
                [p["mean_probability"] for p in result["outcomes"][role]["calibration"]],
                [p["observed_rate"] for p in result["outcomes"][role]["calibration"]],
                color,
            )
            for role, color in (("champion", REFERENCE_COLOR), ("challenger", CURRENT_COLOR))
        ]
        draw_calibration(axes[1], curves, "calibration by score decile")
    return png(fig)


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "n/a" if value is None else format(value, spec)


def _summary_cells(s: dict[str, Any]) -> str:
    rate = s["approval_rate"]
    cells = (
        f"{s['n']:,}",
        _fmt(s["swap_rate"], ".1%"),
        _fmt(s["pearson"]),
        _fmt(s["spearman"]),
        _fmt(s["psi"]),
        _fmt(s["mean_abs_delta"], ".4f"),
        _fmt(s["p99_abs_delta"], ".4f"),
        _fmt(rate["champion"], ".1%"),
        _fmt(rate["challenger"], ".1%"),
        _fmt(s["approval_rate_difference"], "+.1%"),
    )
    return "".join(f"<td>{c}</td>" for c in cells)


def _summary_head(first: str, approve: str) -> str:
    names = (
        first,
        "records",
        "swapped",
        "Pearson",
        "Spearman",
        "PSI",
        "mean |Δp|",
        "p99 |Δp|",
        f"{approve}: champion",
        f"{approve}: challenger",
        "difference",
    )
    return "<tr>" + "".join(f"<th>{html.escape(n)}</th>" for n in names) + "</tr>"


def _outcomes_html(outcomes: dict[str, Any] | None) -> str:
    if outcomes is None:
        return "<p>No outcomes given (<code>OUTCOMES=&lt;file&gt;</code>).</p>"
    rows = "".join(
        f"<tr><td>{title}</td>"
        + "".join(
            f"<td>{_fmt(outcomes[role][name], '.4f')}</td>" for role in ("champion", "challenger")
        )
        + "</tr>"
        for name, title in (("auc", "ROC AUC"), ("ks", "KS"), ("brier", "Brier score"))
    )
    return (
        f"<p>{outcomes['n']:,} records with an outcome, {outcomes['positive_rate']:.1%} "
        "positive.</p><table><tr><th>measure</th><th>champion</th><th>challenger</th></tr>"
        f"{rows}</table>"
    )


def _html(result: dict[str, Any], scores_png: str, extra_png: str) -> str:
    """The whole page."""
    esc = html.escape
    overall = result["overall"]
    approve = overall["approval_label"]
    facts = {
        "champion": result["champion"],
        "challenger": result["challenger"],
        "audit log": result["source"],
        "generated": result["generated_at"],
    }
    facts_html = "".join(f"<dt>{k}</dt><dd>{esc(str(v))}</dd>" for k, v in facts.items())
    segment_rows = "".join(
        f"<tr><td>{esc(name)} {esc(s['segment'])}</td>{_summary_cells(s)}</tr>"
        for name, parts in result["segments"].items()
        for s in parts
    )
    notes = "".join(f"<li>{esc(n)}</li>" for n in result["notes"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Champion vs challenger: {esc(result["challenger"])}</title>
<style>{CSS} td:first-child {{ white-space: nowrap; }}
table.segments {{ font-size: .8rem; }}</style></head><body>
<h1>Champion vs challenger</h1>
<div class="verdict nodrift"><b>{overall["swap_rate"]:.1%}</b> of {overall["n"]:,} decisions
would change; {esc(approve)} rate {overall["approval_rate"]["champion"]:.1%} →
{overall["approval_rate"]["challenger"]:.1%}; score PSI {overall["psi"]:.3f}</div>
<dl>{facts_html}</dl>
<h2>Overall</h2>
<table>{_summary_head("", approve)}<tr><td>all</td>{_summary_cells(overall)}</tr></table>
<figure><img alt="challenger vs champion scores" src="data:image/png;base64,{scores_png}">
</figure>
<h2>Decision swaps and outcomes</h2>
{_outcomes_html(result["outcomes"])}
<figure><img alt="swap matrix and calibration" src="data:image/png;base64,{extra_png}">
</figure>
<h2>By segment</h2>
<table class="segments">{_summary_head("segment", approve)}{segment_rows}</table>
<h2>Notes</h2><ul>{notes}</ul>
</body></html>
"""
