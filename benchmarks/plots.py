"""PNG charts of the benchmark results (matplotlib, no display needed)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from riskserve.files import write_atomically

DPI = 90


def _save(fig: Any, path: Path) -> str:
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    plt.close(fig)
    write_atomically(path, buffer.getvalue())
    return path.name


def _grouped_bars(
    ax: Any, runs: list[dict[str, Any]], scenario: str, value: Any, connections: list[int]
) -> None:
    """One bar group per connection count, one bar per server."""
    width = 0.8 / max(len(runs), 1)
    for i, run in enumerate(runs):
        points = {p["connections"]: p for p in run["points"] if p["scenario"] == scenario}
        xs = [j + i * width for j, c in enumerate(connections) if c in points]
        ys = [value(points[c]) for c in connections if c in points]
        ax.bar(xs, ys, width, label=run["name"])
    ax.set_xticks([j + width * (len(runs) - 1) / 2 for j in range(len(connections))])
    ax.set_xticklabels([f"{c} conn" for c in connections])


def plot_http(results: dict[str, Any], folder: Path) -> list[str]:
    """Single-record throughput and latency, and rows/s per request size; file names."""
    runs = [r for r in results["runs"] if r["points"]]
    connections = sorted({p["connections"] for r in runs for p in r["points"]})
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    _grouped_bars(left, runs, "predict", lambda p: p["rps"], connections)
    left.set_yscale("log")  # the floor is ~100x the tutorial's
    left.set_title("/predict throughput (log scale)")
    left.set_ylabel("requests / s")
    _grouped_bars(right, runs, "predict", lambda p: p["latency_ms"]["p99"], connections)
    right.set_yscale("log")
    right.set_title("/predict p99 latency (log scale)")
    right.set_ylabel("ms")
    left.legend(fontsize=8)
    names = [_save(fig, folder / "http_predict.png")]

    scenarios = ["predict", "batch100", "batch1000"]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 0.8 / max(len(runs), 1)
    for i, run in enumerate(runs):
        best = {
            s: max((p["rows_per_s"] for p in run["points"] if p["scenario"] == s), default=0)
            for s in scenarios
        }
        ax.bar(
            [j + i * width for j in range(len(scenarios))],
            [best[s] for s in scenarios],
            width,
            label=run["name"],
        )
    ax.set_xticks([j + width * (len(runs) - 1) / 2 for j in range(len(scenarios))])
    ax.set_xticklabels(["/predict (1 row)", "batch of 100", "batch of 1,000"])
    ax.set_yscale("log")
    ax.set_ylabel("rows / s (best concurrency, log scale)")
    ax.set_title("Records scored per second")
    ax.legend(fontsize=8)
    names.append(_save(fig, folder / "http_rows.png"))
    return names


def plot_inference(batches: list[dict[str, Any]], dataframe_us: float, folder: Path) -> str:
    """µs per call against batch size for both backends; the file name."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    sizes = [b["batch"] for b in batches]
    for key, label in (("onnx_us", "ONNX Runtime"), ("sklearn_us", "scikit-learn (ndarray)")):
        ax.plot(sizes, [b[key] for b in batches], marker="o", label=label)
    ax.scatter(
        [1], [dataframe_us], color="black", zorder=3, label="scikit-learn, one-row DataFrame"
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("rows per call")
    ax.set_ylabel("µs per call")
    ax.set_title("In-process scoring time")
    ax.legend(fontsize=8)
    return _save(fig, folder / "inference.png")
