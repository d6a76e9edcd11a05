"""The performance targets (issues 6 and 13) checked against measured figures, and the
HTTP benchmark's report.

Every comparison is a ratio within one run: to the FastAPI baseline of the same model, to
tuned MLServer and to the bare ASGI floor (`benchmarks.references`); a target that was
missed says by how much. Other models than the served one (fraud_model) are compared with
it point by point, also within the run.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from benchmarks.plots import plot_http
from benchmarks.references import FLOOR, MLSERVER
from riskserve.files import write_atomically

PASS, MISS, UNMEASURED = "PASS", "MISS", "NOT MEASURED"
# /predict ÷ tuned MLServer at 16 connections is a target of the default service and of
# each variant of it named here (run name: label), e.g. reasons on, a shadow challenger.
SINGLE_VS_MLSERVER_VARIANTS: dict[str, str] = {
    "bentoml onnx/inprocess + shadow challenger": "with a shadow challenger",
}


@dataclasses.dataclass(frozen=True)
class Target:
    """A bound on one figure: `value >= limit` if `at_least`, else `value <= limit`."""

    name: str
    limit: float
    at_least: bool
    unit: str = ""
    issue: str = "6"

    def _shortfall(self, value: float) -> str:
        if self.at_least:
            short = f" ({self.limit / value:.2f}x short)" if value > 0 else ""
            return f"{value / self.limit:.0%} of the target{short}"
        over = f"{value - self.limit:+.3g}{self.unit}"
        return f"{value / self.limit:.2f}x the limit ({over})" if self.limit else f"{over} over"

    def check(self, value: float | None, detail: str = "") -> dict[str, Any]:
        """PASS or MISS (saying by how much), or NOT MEASURED without a value."""
        row = {
            "target": self.name,
            "issue": self.issue,
            "limit": self.limit,
            "at_least": self.at_least,
            "unit": self.unit,
            "value": value,
            "detail": detail,
            "shortfall": "",
        }
        if value is None:
            return {**row, "status": UNMEASURED}
        passed = value >= self.limit if self.at_least else value <= self.limit
        if not passed:
            row["shortfall"] = self._shortfall(value)
        return {**row, "status": PASS if passed else MISS}


def model_of(results: dict[str, Any], run: dict[str, Any]) -> str | None:
    """The tag of the model a run served (the served model's when the run does not say)."""
    return run.get("model", results.get("model"))


def find_run(results: dict[str, Any], flag: str, model: str | None = None) -> dict[str, Any] | None:
    """The run marked `baseline` or `default`, or the reference run of that kind (MLSERVER,
    FLOOR), of `model` (default: the served model)."""
    model = model or results.get("model")
    return next(
        (
            r
            for r in results["runs"]
            if (r.get(flag) is True or r.get("reference") == flag) and model_of(results, r) == model
        ),
        None,
    )


def find_point(run: dict[str, Any] | None, scenario: str, connections: int) -> dict | None:
    """One measured point of a run."""
    if run is None:
        return None
    return next(
        (p for p in run["points"] if p["scenario"] == scenario and p["connections"] == connections),
        None,
    )


def peak_point(run: dict[str, Any] | None, scenario: str) -> dict | None:
    """The point of a scenario with the most rows/s over all concurrencies."""
    points = [p for p in (run or {}).get("points", []) if p["scenario"] == scenario]
    return max(points, key=lambda p: p["rows_per_s"], default=None)


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b, or None when either is missing or b is zero."""
    return None if a is None or not b else round(a / b, 3)


def add_ratios(results: dict[str, Any]) -> None:
    """Each point's req/s and latencies as ratios to its model's baseline's same point, and
    its req/s as ratios to MLServer's and the floor's."""
    for run in results["runs"]:
        model = model_of(results, run)
        baseline = find_run(results, "baseline", model)
        mlserver, floor = find_run(results, MLSERVER, model), find_run(results, FLOOR, model)
        for point in run["points"]:
            for key, reference in (("vs_mlserver", mlserver), ("vs_floor", floor)):
                same = find_point(reference, point["scenario"], point["connections"])
                point[key] = ratio(point["rps"], same and same["rps"])
            base = find_point(baseline, point["scenario"], point["connections"])
            single = find_point(baseline, "predict", point["connections"])
            point["vs_baseline"] = {
                "rps": ratio(point["rps"], base and base["rps"]),
                "p50": ratio(point["latency_ms"]["p50"], base and base["latency_ms"]["p50"]),
                "p99": ratio(point["latency_ms"]["p99"], base and base["latency_ms"]["p99"]),
                "rows_per_s_vs_single": ratio(point["rows_per_s"], single and single["rps"]),
            }


def _get(point: dict | None, *keys: str) -> Any:
    for key in keys:
        if point is None:
            return None
        point = point.get(key)
    return point


def _startup_detail(startup: dict[str, Any], default: dict[str, Any] | None) -> str:
    runs = ", ".join(f"{s} s" for s in startup.get("runs_s", [])) or startup.get("note", "")
    alone = (default or {}).get("startup_s")
    return f"runs: {runs}; `bentoml serve` alone: {alone} s" if alone else f"runs: {runs}"


def cpu_ratio(point: dict | None, reference: dict | None) -> float | None:
    """The reference's server CPU per request ÷ the point's: the req/s ratio each would
    reach on a core of its own, whatever else ran on the machine."""
    return ratio(_get(reference, "cpu_ms_per_request"), _get(point, "cpu_ms_per_request"))


def _vs_mlserver_single(
    results: dict[str, Any], run: dict[str, Any] | None, label: str, scenario: str = "predict"
) -> dict:
    point = find_point(run, scenario, 16)
    mlserver = find_point(find_run(results, MLSERVER), scenario, 16)
    detail = (
        f"{point['rps']} vs {mlserver['rps']} req/s; by server CPU per request "
        f"{cpu_ratio(point, mlserver)}x"
        if point and mlserver
        else ""
    )
    name = f"/predict req/s at 16 connections ÷ tuned MLServer ({label})"
    return Target(name, 5, True, "x", "13").check(_get(point, "vs_mlserver"), detail)


def _other_model_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each other model's single and 1,000-record paths within 25% of the served model's."""
    served = find_run(results, "default")
    name = str(results.get("model")).split(":")[0]
    out = []
    for tag in results.get("other_models", []):
        other = find_run(results, "default", tag)
        for scenario, what in (
            ("batch1000", "1,000-record batch rows/s"),
            ("predict", "/predict req/s"),
        ):
            mine, theirs = find_point(other, scenario, 16), find_point(served, scenario, 16)
            mine_rows, theirs_rows = _get(mine, "rows_per_s"), _get(theirs, "rows_per_s")
            detail = f"{mine_rows:,.0f} vs {theirs_rows:,.0f}" if mine and theirs else ""
            target = Target(
                f"{tag.split(':')[0]} {what} ÷ {name}'s, 16 conn.", 0.75, True, "x", "13"
            )
            out.append(target.check(ratio(mine_rows, theirs_rows), detail))
    return out


def issue13_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 13's targets against tuned MLServer and between models (ratios already added)."""
    default = find_run(results, "default")
    batch = peak_point(default, "batch1000")
    ml_batch = peak_point(find_run(results, MLSERVER), "batch1000")
    batch_detail = (
        f"{batch['rows_per_s']:,.0f} rows/s ({batch['connections']} conn.) vs "
        f"{ml_batch['rows_per_s']:,.0f} ({ml_batch['connections']} conn.); by server CPU "
        f"per request {cpu_ratio(batch, ml_batch)}x"
        if batch and ml_batch
        else ""
    )
    variants = [
        _vs_mlserver_single(results, run, f"{label}{suffix}", scenario)
        for name, label in SINGLE_VS_MLSERVER_VARIANTS.items()
        for run in [next((r for r in results["runs"] if r["name"] == name), None)]
        for scenario, suffix in (("predict", ""), ("predict_adverse", ", adverse record"))
    ]
    return [
        Target(
            "1,000-record batch rows/s ÷ tuned MLServer's (best of each)", 2, True, "x", "13"
        ).check(ratio(_get(batch, "rows_per_s"), _get(ml_batch, "rows_per_s")), batch_detail),
        _vs_mlserver_single(results, default, "default configuration"),
        _vs_mlserver_single(
            results, default, "default configuration, adverse record", "predict_adverse"
        ),
        *variants,
        *_other_model_targets(results),
        Target("`bentoml serve` alone to /readyz 200", 3, False, " s", "13").check(
            _get(default, "startup_s")
        ),
    ]


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target of issue 6 item 5 and issue 13, for the default configuration of this
    run."""
    add_ratios(results)
    default = find_run(results, "default")
    c1, c16, c64 = (find_point(default, "predict", c) for c in (1, 16, 64))
    batch, single = peak_point(default, "batch1000"), peak_point(default, "predict")
    inference = results.get("inference") or {}
    startup = results.get("make_serve_startup") or {}
    rss = [
        p["rss_peak_mb"]
        for point in (default or {}).get("points", [])
        for p in point["resources"]["processes"].values()
    ]
    p50_64, p99_64 = _get(c64, "latency_ms", "p50"), _get(c64, "latency_ms", "p99")
    return [
        Target("single /predict req/s at 16 connections ÷ baseline", 3, True, "x").check(
            _get(c16, "vs_baseline", "rps"), f"{_get(c16, 'rps')} req/s" if c16 else ""
        ),
        Target("errors in that run (non-2xx + socket)", 0, False).check(
            _get(c16, "errors", "total")
        ),
        Target("p50 at 1 connection", 2, False, " ms").check(_get(c1, "latency_ms", "p50")),
        Target("p99 at 16 connections", 25, False, " ms").check(_get(c16, "latency_ms", "p99")),
        Target("p99 ÷ p50 at 64 connections", 2.5, False, "x", "6, 13").check(
            ratio(p99_64, p50_64), f"p50 {p50_64} ms, p99 {p99_64} ms" if c64 else ""
        ),
        Target("/predict_batch 1,000 records, rows/s (best concurrency)", 250_000, True).check(
            _get(batch, "rows_per_s"), f"best at {batch['connections']} conn." if batch else ""
        ),
        Target("batch rows/s ÷ single-record rows/s (best of each)", 100, True, "x").check(
            ratio(_get(batch, "rows_per_s"), _get(single, "rows_per_s"))
        ),
        Target("ONNX one row vs scikit-learn on a one-row DataFrame", 50, True, "x").check(
            _get(inference, "single_row", "speedup_vs_dataframe")
        ),
        Target("parity max |Δp|, ONNX vs scikit-learn", 1e-4, False).check(
            inference.get("parity_max_abs_diff")
        ),
        Target("`make serve` to /readyz 200 (median)", 5, False, " s", "6, 13").check(
            startup.get("median_s"), _startup_detail(startup, default)
        ),
        Target("RSS per process, peak under load", 300, False, " MB").check(max(rss, default=None)),
        *issue13_targets(results),
    ]


def compare_models(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each other model's default-service points beside the served model's same points:
    req/s and rows/s, their ratio, and each one's ratio to its own baseline."""
    served = find_run(results, "default")
    rows = []
    for tag in results.get("other_models", []):
        other = find_run(results, "default", tag)
        for point in (other or {}).get("points", []):
            same = find_point(served, point["scenario"], point["connections"])
            rows.append(
                {
                    "model": tag,
                    "scenario": point["scenario"],
                    "connections": point["connections"],
                    "rps": point["rps"],
                    "rows_per_s": point["rows_per_s"],
                    "p99_ms": point["latency_ms"]["p99"],
                    "errors": point["errors"]["total"],
                    "served_rows_per_s": _get(same, "rows_per_s"),
                    "vs_served": ratio(point["rows_per_s"], _get(same, "rows_per_s")),
                    "vs_baseline": _get(point, "vs_baseline", "rps"),
                    "served_vs_baseline": _get(same, "vs_baseline", "rps"),
                }
            )
    return rows


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]


def targets_table(targets: list[dict[str, Any]]) -> list[str]:
    """Markdown rows: target, bound, measured value, PASS/MISS and the shortfall."""
    return _table(
        ["issue", "target", "bound", "measured", "status", "by how much / detail"],
        [
            [
                t["issue"],
                t["target"],
                ("≥ " if t["at_least"] else "≤ ") + _fmt(t["limit"]) + t["unit"],
                _fmt(t["value"]) + (t["unit"] if t["value"] is not None else ""),
                t["status"],
                "; ".join(x for x in (t["shortfall"], t["detail"]) if x),
            ]
            for t in targets
        ],
    )


def figures_table(results: dict[str, Any]) -> list[str]:
    """Markdown rows of every measured point."""
    rows = []
    for run in results["runs"]:
        for p in run["points"]:
            lat, vs = p["latency_ms"], p["vs_baseline"]
            rows.append(
                [
                    run["name"],
                    p["scenario"],
                    p["connections"],
                    p["rps"],
                    p["rows_per_s"],
                    lat["p50"],
                    lat["p90"],
                    lat["p99"],
                    p["errors"]["total"],
                    p["cpu_ms_per_request"],
                    p["resources"]["rss_peak_mb"],
                    vs["rps"],
                    p.get("vs_mlserver"),
                    p.get("vs_floor"),
                ]
            )
    return _table(
        [
            "server",
            "request",
            "conns",
            "req/s",
            "rows/s",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "errors",
            "server CPU ms/req",
            "RSS MB (all procs)",
            "req/s ÷ baseline",
            "÷ MLServer",
            "÷ floor",
        ],
        rows,
    )


def headline(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The default service's points beside the three references' same points: req/s
    (rows/s for batches) of each, and riskserve's ratio to each, by throughput and by
    server CPU per request (`cpu_ratio`)."""
    default = find_run(results, "default")
    references = {"tutorial": "baseline", "mlserver": MLSERVER, "floor": FLOOR}
    rows = []
    for point in (default or {}).get("points", []):
        row = {
            "scenario": point["scenario"],
            "connections": point["connections"],
            "riskserve": point["rows_per_s"],
        }
        for key, flag in references.items():
            same = find_point(find_run(results, flag), point["scenario"], point["connections"])
            row[key] = _get(same, "rows_per_s")
            row[f"vs_{key}"] = ratio(point["rows_per_s"], row[key])
            row[f"cpu_vs_{key}"] = cpu_ratio(point, same)
        rows.append(row)
    return rows


def headline_table(results: dict[str, Any]) -> list[str]:
    """Markdown rows of `headline`."""
    return _table(
        [
            "request",
            "conns",
            "riskserve rows/s",
            "tutorial",
            "MLServer",
            "floor",
            "÷ tutorial",
            "÷ MLServer",
            "÷ floor",
            "by CPU: ÷ tutorial",
            "÷ MLServer",
            "÷ floor",
        ],
        [
            [
                h["scenario"],
                h["connections"],
                h["riskserve"],
                h["tutorial"],
                h["mlserver"],
                h["floor"],
                h["vs_tutorial"],
                h["vs_mlserver"],
                h["vs_floor"],
                h["cpu_vs_tutorial"],
                h["cpu_vs_mlserver"],
                h["cpu_vs_floor"],
            ]
            for h in results.get("headline") or headline(results)
        ],
    )


def process_table(results: dict[str, Any]) -> list[str]:
    """Per-process RSS at idle and peak, and CPU seconds over all points, for each server."""
    rows = []
    for run in results["runs"]:
        for proc, idle in run.get("idle_rss_mb", {}).items():
            per_point = [p["resources"]["processes"].get(proc, {}) for p in run["points"]]
            rows.append(
                [
                    run["name"],
                    proc,
                    idle,
                    max((x.get("rss_peak_mb", 0) for x in per_point), default=None),
                    round(sum(x.get("cpu_s", 0) for x in per_point), 1),
                ]
            )
    return _table(["server", "process", "RSS idle MB", "RSS peak MB", "CPU s (all points)"], rows)


def models_table(results: dict[str, Any]) -> list[str]:
    """Markdown rows of `compare_models`."""
    served = str(results.get("model")).split(":")[0]
    return _table(
        [
            "model",
            "request",
            "conns",
            "req/s",
            "rows/s",
            "p99 ms",
            "errors",
            f"{served} rows/s",
            f"rows/s ÷ {served}",
            "req/s ÷ own baseline",
            f"{served} req/s ÷ its baseline",
        ],
        [
            [
                c["model"],
                c["scenario"],
                c["connections"],
                c["rps"],
                c["rows_per_s"],
                c["p99_ms"],
                c["errors"],
                c["served_rows_per_s"],
                c["vs_served"],
                c["vs_baseline"],
                c["served_vs_baseline"],
            ]
            for c in results.get("models_compared", [])
        ],
    )


def _load_note(results: dict[str, Any]) -> str:
    """The machine's 1-minute load average over the points: other work skews figures."""
    loads = [
        p["load_average_1m"] for r in results["runs"] for p in r["points"] if "load_average_1m" in p
    ]
    if not loads:
        return ""
    return (
        f"Load average (1 min) after each point: {min(loads):g} to {max(loads):g} on "
        f"{results['meta']['machine']['cores']} cores; above the core count, other work "
        f"on the machine was competing with the server and load generator."
    )


def _inference_source(results: dict[str, Any]) -> list[str]:
    """Where the in-process figures come from, and what the /predict profile blames."""
    inference = results.get("inference")
    if not inference:
        return ["The in-process targets need `make bench-inference` (not run yet)."]
    lines = [
        f"The ONNX speed-up and parity come from `make bench-inference` run "
        f"{inference['meta']['date']}, whose /predict profile (`inference.md`) shows "
        f"what limits a single request: on one core, req/s is at most 1,000,000 ÷ "
        f"the server CPU µs per request.",
        "",
    ]
    for body, profile in inference.get("profiles", {}).items():
        for name, proc in profile.get("processes", {}).items():
            if "components" in proc:
                top = ", ".join(
                    f"{c['name']} {c['us_per_request']:g} µs" for c in proc["components"][:6]
                )
                lines.append(
                    f"- {name}, /predict with {body}: {proc['cpu_us_per_request']:g} µs CPU "
                    f"per request; {top}"
                )
    return lines


def write_report(results: dict[str, Any], folder: Path) -> None:
    """http.md with the plots next to it."""
    meta, knobs = results["meta"], results["meta"]["knobs"]
    machine = meta["machine"]
    served = results.get("model")
    if "models_compared" not in results:
        results["models_compared"] = compare_models(results)
    runs = [r for r in results["runs"] if model_of(results, r) == served]
    plots = plot_http({**results, "runs": runs}, folder)
    lines = [
        "# riskserve HTTP benchmark",
        "",
        f"Run {meta['date']} on {machine['cpu']}, {machine['cores']} cores, "
        f"{machine['memory_gib']} GiB, Linux {machine['kernel']}, Python {machine['python']}.",
        f"Command: `{meta['command']}` (BENCH_SECONDS={knobs['seconds']}, "
        f"BENCH_WARMUP={knobs['warmup']}, BENCH_CONNECTIONS="
        f"{','.join(map(str, knobs['connections']))}); {results['wall_seconds']:.0f} s in all.",
        f"Code: commit {meta['code']['commit']}, service.py sha256 "
        f"{meta['code']['sha256']['service.py']}"
        + (
            f", uncommitted: {', '.join(meta['code']['uncommitted_changes'])}"
            if meta["code"]["uncommitted_changes"]
            else ""
        )
        + ".",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) + ".",
        "",
        "Each server runs pinned to CPU 0 and wrk (one thread, `benchmarks/post.lua`) to CPU 1; "
        "each point is a warm-up then a measured run at a fixed number of connections. "
        "/predict sends the model spec's example (decided in the best band: no reason "
        "codes), `predict_adverse` the riskiest servable record (answered with reason codes, "
        "16 connections only); /predict_batch sends seeded random valid records (servable "
        "rows of the model's stored reference sample; ~6% adverse, so explained). "
        "Errors are non-2xx replies plus socket errors and 10 s timeouts. CPU and RSS cover "
        "every process of the server (psutil). The baseline is `benchmarks/baseline_app.py` "
        "built from the same model's spec: FastAPI + uvicorn (one worker), the same Pydantic "
        "rules, scikit-learn on a per-request DataFrame, the same decision policy.",
        "",
        "Two more references run in the same harness (`benchmarks/references.py`). "
        "**Tuned MLServer** 1.7.1, scikit-learn runtime, in its own environment "
        "(`requirements/mlserver.txt`), serving the same fitted pipeline (`pipeline.joblib` "
        "of the model entry) in process (`parallel_workers: 0`, `debug: false`), NumPy codec, "
        "answering `predict_proba`. MLServer has no record schema, so its clients send what "
        "the pipeline takes: the same records as the other servers, encoded as the float64 "
        "feature matrix (categories as codes, booleans 0/1) in one [N, n_features] FP64 "
        "tensor of the Open Inference Protocol (`/v2/models/<name>/infer`); it validates "
        "nothing, makes no decision and writes no audit line, all of which riskserve does. "
        "**The floor** (`benchmarks/floor_app.py`): a raw ASGI app under uvicorn with "
        "httptools and uvloop that reads the body, parses it with orjson and sends a fixed "
        "answer; it receives riskserve's own request bodies.",
        "",
        f"Served model: `{served}`; every figure and target below is for it unless the row "
        "names another model.",
        "",
        *results.get("notes", []),
        "",
        _load_note(results),
        "",
        "## riskserve ÷ tutorial, ÷ MLServer, ÷ the floor",
        "",
        "The default configuration's figures beside each reference's same point (rows/s; "
        "for /predict that is req/s). The ratios *by CPU* divide the reference's server CPU "
        "per request by riskserve's: the throughput ratio each would reach on a core of its "
        "own, which other work on the machine skews much less than req/s.",
        "",
        *headline_table(results),
        "",
        "## Targets (issues 6 and 13)",
        "",
        *targets_table(results["targets"]),
        "",
        *_inference_source(results),
        "",
        *_models_section(results),
        "## All points",
        "",
        *figures_table(results),
        "",
        "## Processes",
        "",
        *process_table(results),
        "",
    ]
    for run in results["runs"]:
        if "error" in run:
            lines += [f"**{run['name']} did not run**: {run['error']}", ""]
    lines += [f"![{name}]({name})" for name in plots]
    write_atomically(folder / "http.md", "\n".join(lines) + "\n")


def _models_section(results: dict[str, Any]) -> list[str]:
    """The other models beside the served one, when the run measured any."""
    if not results.get("other_models"):
        return []
    return [
        "## Other models beside the served one (issue 9)",
        "",
        "Each model served as configured (its own RISKSERVE_MODEL server) and by its own "
        "spec-built baseline, at the same points and in the same run as the served model.",
        "",
        *models_table(results),
        "",
    ]
