"""The drift report as files: drift.json for machines, drift.html for people.

Numeric features get two plots (both distributions, and both samples over the PSI
bins); categorical and boolean ones a bar per value (the unseen bucket included) of the
reference's and the current sample's share, and a table of those shares with the unseen
values by count. The HTML page is self-contained (inline CSS, plots as embedded PNGs)
so it opens from a mail attachment or an artifact store with no network. Both files are
replaced atomically, so a dashboard or a second run never reads half a report.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import json
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from riskserve import psi
from riskserve.files import write_atomically

REFERENCE_COLOR = "#4c72b0"
CURRENT_COLOR = "#dd8452"
# Integer features with at most this many distinct values are drawn value by value.
MAX_DISCRETE_VALUES = 30
# The label of a category's bucket for values its spec does not list.
UNSEEN = "(unseen)"
# Unseen values listed by name in the page; the JSON report has them all.
MAX_UNSEEN_SHOWN = 20

CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px;
       color: #222; line-height: 1.4; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; }
.verdict { padding: .8rem 1rem; border-radius: 6px; font-size: 1.15rem; margin: 1rem 0; }
.drift { background: #fde2e1; border-left: 6px solid #c0392b; }
.nodrift { background: #e3f4e4; border-left: 6px solid #2e7d32; }
table { border-collapse: collapse; margin: .5rem 0 1.5rem; }
th, td { padding: .35rem .8rem; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
table.features th:nth-child(-n+2), table.features td:nth-child(-n+2),
table.features th:nth-child(5), table.features td:nth-child(5) { text-align: left; }
th { background: #f3f3f3; }
.stable { color: #2e7d32; } .moderate { color: #b26a00; }
.significant { color: #c0392b; font-weight: 600; }
td.yes { color: #c0392b; font-weight: 700; } td.no { color: #2e7d32; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
dt { color: #666; } dd { margin: 0; }
figure { margin: 0 0 1.5rem; } figure img { max-width: 100%; }
figcaption { font-weight: 600; margin-bottom: .3rem; }
table.shares caption { text-align: left; color: #666; }
"""


def write_reports(
    out: Path,
    result: dict[str, Any],
    reference: dict[str, np.ndarray],
    current: dict[str, np.ndarray],
    bins: dict[str, dict[str, list[float]]],
) -> None:
    """Write OUT/drift.html, then OUT/drift.json (whose arrival marks a finished run)."""
    out.mkdir(parents=True, exist_ok=True)
    plots = {
        name: _category_plot(result["features"][name])
        if "frequencies" in result["features"][name]
        else _plot(reference[name], values, bins[name], result["features"][name])
        for name, values in current.items()
    }
    write_atomically(out / "drift.html", _html(result, plots))
    write_atomically(out / "drift.json", json.dumps(result, indent=2) + "\n")


def _number(value: float) -> str:
    """A value as an axis label: 13.3k for thousands, otherwise three digits."""
    return f"{value / 1000:.3g}k" if abs(value) >= 1000 else f"{value:.3g}"


def _bin_labels(edges: list[float]) -> list[str]:
    """Labels of the PSI bins (-inf, e1], (e1, e2], ..., (ek, inf), as intervals."""
    shown = [_number(e) for e in edges]
    inner = [f"({lo}, {hi}]" for lo, hi in itertools.pairwise(shown)]
    return [f"≤ {shown[0]}", *inner, f"> {shown[-1]}"]


def _distribution(ax: Any, reference: np.ndarray, current: np.ndarray) -> None:
    """Both samples' distributions: bars per value for small-count integers, else histograms."""
    both = np.concatenate([reference, current])
    distinct = np.unique(both)
    integers = bool(np.all(distinct == np.round(distinct)))
    if integers and distinct.size <= MAX_DISCRETE_VALUES:
        for offset, values, color in (
            (-0.2, reference, REFERENCE_COLOR),
            (0.2, current, CURRENT_COLOR),
        ):
            share = np.array([np.mean(values == v) for v in distinct])
            ax.bar(distinct + offset, share, width=0.4, color=color)
        ax.set_ylabel("share of rows")
        return
    # Clip the far tails (e.g. incomes) so the body of both distributions is visible.
    lo, hi = np.quantile(both, [0.005, 0.995])
    if integers:  # whole-number bins: arbitrary ones would alias into spikes and dips
        step = max(1, int(np.ceil((hi - lo + 1) / 60)))
        edges = np.arange(lo - 0.5, hi + step + 0.5, step)
    else:
        edges = np.linspace(lo, hi, 41)
    for values, color in ((reference, REFERENCE_COLOR), (current, CURRENT_COLOR)):
        ax.hist(
            values,
            bins=edges,
            density=True,
            histtype="stepfilled",
            alpha=0.45,
            color=color,
            edgecolor=color,
        )
    ax.set_ylabel("density")
    ax.set_yticks([])
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _number(v)))


def _plot(
    reference: np.ndarray,
    current: np.ndarray,
    bins: dict[str, list[float]],
    result: dict[str, Any],
) -> str:
    """Two panels as a base64 PNG: both distributions, and both samples over the PSI bins."""
    # Fixed margins: constrained layout would draw every figure twice.
    fig = Figure(figsize=(11, 3.6), dpi=90)
    fig.subplots_adjust(left=0.06, right=0.99, top=0.84, bottom=0.22, wspace=0.2)
    left, right = fig.subplots(1, 2, width_ratios=(1, 1.15))
    _distribution(left, reference, current)
    left.set_title("distribution", fontsize=11)

    edges = bins["edges"]
    x = np.arange(len(edges) + 1)
    right.bar(x - 0.2, bins["fractions"], width=0.4, color=REFERENCE_COLOR)
    right.bar(
        x + 0.2, psi.bin_fractions(current, np.asarray(edges)), width=0.4, color=CURRENT_COLOR
    )
    right.set_xticks(x, _bin_labels(edges), rotation=30, ha="right", fontsize=8)
    right.set_ylabel("share of rows")
    right.set_title(
        f"reference decile bins: PSI {result['psi']:.3f} ({result['psi_band']})", fontsize=11
    )
    handles = [Patch(color=REFERENCE_COLOR), Patch(color=CURRENT_COLOR)]
    fig.legend(handles, ["reference", "current"], loc="upper right", ncols=2, frameon=False)
    return png(fig)


def templates(folder: Path) -> jinja2.Environment:
    """Jinja2 templates in `folder` for HTML (autoescaped) and Markdown reports, with the
    `num` (significant digits, n/a for None) and `pct` filters."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = lambda v, digits=4: "n/a" if v is None else f"{v:.{digits}g}"
    env.filters["pct"] = lambda v: "n/a" if v is None else f"{100 * v:.1f}%"
    return env


def draw_calibration(
    ax: Any, curves: list[tuple[str, list[float], list[float], str]], title: str
) -> None:
    """Observed rate against mean predicted probability per score bin, a curve per
    (label, predicted, observed, colour), beside the diagonal; zoomed to the scores that
    occur, since risk scores often stay far below 1."""
    top = min(1.0, 1.1 * max(max(*x, *y) for _, x, y, _ in curves))
    ax.plot([0, top], [0, top], color="#999", linestyle="--", linewidth=1, label="perfect")
    for label, predicted, observed, color in curves:
        ax.plot(predicted, observed, "o-", color=color, label=label)
    ax.set(
        xlabel="mean predicted probability",
        ylabel="observed rate",
        title=title,
        xlim=(0, top),
        ylim=(0, top),
    )
    ax.legend(loc="upper left", frameon=False)


def png(fig: Figure) -> str:
    """A figure as base64 PNG, for an `<img src='data:image/png;base64,...'>`."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _shares(r: dict[str, Any]) -> tuple[list[str], list[float], list[float]]:
    """A categorical feature's values (and the unseen bucket), and both samples' shares."""
    rows = list(r["frequencies"])
    if "unseen" in r:
        rows.append({"value": UNSEEN, "reference": 0.0, "current": r["unseen"]["share"]})
    return (
        [row["value"] for row in rows],
        [row["reference"] for row in rows],
        [row["current"] for row in rows],
    )


def _category_plot(r: dict[str, Any]) -> str:
    """Bars of the reference's and the current sample's share of each value, as a PNG."""
    labels, reference, current = _shares(r)
    fig = Figure(figsize=(11, 3.6), dpi=90)
    fig.subplots_adjust(left=0.06, right=0.99, top=0.84, bottom=0.22)
    ax = fig.subplots()
    x = np.arange(len(labels))
    ax.bar(x - 0.2, reference, width=0.4, color=REFERENCE_COLOR)
    ax.bar(x + 0.2, current, width=0.4, color=CURRENT_COLOR)
    ax.set_xticks(
        x,
        labels,
        rotation=30 if len(labels) > 8 else 0,
        ha="right" if len(labels) > 8 else "center",
        fontsize=9,
    )
    ax.set_ylabel("share of rows")
    ax.set_title(
        f"share per value: PSI {r['psi']:.3f} ({r['psi_band']}), "
        f"total variation distance {r['tvd']:.3f}",
        fontsize=11,
    )
    handles = [Patch(color=REFERENCE_COLOR), Patch(color=CURRENT_COLOR)]
    fig.legend(handles, ["reference", "current"], loc="upper right", ncols=2, frameon=False)
    return png(fig)


def _category_table(name: str, r: dict[str, Any]) -> str:
    """A categorical feature's shares per value, and the unseen values by count."""
    esc = html.escape
    labels, reference, current = _shares(r)
    rows = "".join(
        f"<tr><td>{esc(label)}</td><td>{ref:.1%}</td><td>{cur:.1%}</td>"
        f"<td>{cur - ref:+.1%}</td></tr>"
        for label, ref, cur in zip(labels, reference, current, strict=True)
    )
    unseen = r.get("unseen", {}).get("values") or {}
    listed = ", ".join(f"{esc(v)} ({n:,})" for v, n in list(unseen.items())[:MAX_UNSEEN_SHOWN])
    more = len(unseen) - MAX_UNSEEN_SHOWN
    if more > 0:
        listed += f", and {more:,} more"
    return (
        f"<table class='shares'><caption>{esc(name)}</caption><thead><tr><th>value</th>"
        f"<th>reference</th><th>current</th><th>change</th></tr></thead><tbody>{rows}"
        "</tbody></table>" + (f"<p>Unseen values of {esc(name)}: {listed}</p>" if listed else "")
    )


def _caption(name: str, r: dict[str, Any]) -> str:
    """A figure's caption: the feature and its verdict."""
    verdict = "drift" if r["drift"] else "no drift"
    return f"{name}: {verdict} ({r['test']} {r['statistic']:.3f})"


def _row(name: str, r: dict[str, Any]) -> str:
    """One feature's table row."""
    p_value = "n/a" if r["p_value"] is None else f"{r['p_value']:.3g}"
    drift = "yes" if r["drift"] else "no"
    return (
        f"<tr><td>{html.escape(name)}</td><td>{r['kind']}</td><td>{r['psi']:.3f}</td>"
        f"<td class='{r['psi_band']}'>{r['psi_band']}</td><td>{r['test']}</td>"
        f"<td>{r['statistic']:.3f}</td><td>{p_value}</td>"
        f"<td class='{drift}'>{drift}</td></tr>"
    )


def _html(result: dict[str, Any], plots: dict[str, str]) -> str:
    """The whole page."""
    esc = html.escape
    drifted = result["drifted_features"]
    if drifted:
        verdict = (
            f"<div class='verdict drift'><b>Drift detected</b> in {len(drifted)} of "
            f"{len(result['features'])} features: {esc(', '.join(drifted))}</div>"
        )
    else:
        verdict = (
            f"<div class='verdict nodrift'><b>No drift</b> in the "
            f"{len(result['features'])} features compared</div>"
        )
    facts = {
        "model": result["model_version"],
        "current sample": result["current_source"],
        "time window": result["window"] or "all records",
        "rows": f"{result['n_current']:,} current vs {result['n_reference']:,} reference",
        "rule": result["rule"],
        "generated": result["generated_at"],
    }
    facts_html = "".join(f"<dt>{k}</dt><dd>{esc(str(v))}</dd>" for k, v in facts.items())
    rows = "".join(_row(name, r) for name, r in result["features"].items())
    notes = "".join(f"<li>{esc(n)}</li>" for n in result["notes"])
    figures = "".join(
        f"<figure><figcaption>{esc(_caption(name, result['features'][name]))}</figcaption>"
        f"<img alt='{esc(name)}: reference vs current' src='data:image/png;base64,{png}'>"
        + (
            _category_table(name, result["features"][name])
            if "frequencies" in result["features"][name]
            else ""
        )
        + "</figure>"
        for name, png in plots.items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Drift report: {esc(result["model_version"])}</title>
<style>{CSS}</style></head><body>
<h1>Drift report</h1>
{verdict}
<dl>{facts_html}</dl>
<h2>Features</h2>
<table class='features'><thead><tr><th>feature</th><th>kind</th><th>PSI</th>
<th>PSI band</th><th>test</th><th>statistic</th><th>p-value</th><th>drift</th></tr></thead>
<tbody>{rows}</tbody></table>
{f"<h2>Notes</h2><ul>{notes}</ul>" if notes else ""}
<h2>Distributions: reference (blue) vs current (orange)</h2>
{figures}
</body></html>
"""
