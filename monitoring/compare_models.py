"""`python -m monitoring.compare_models`: champion vs challenger, from a shadow run's audit log.

Every audit line of a shadow challenger holds both models' probability and decision of
the same record, so the comparison needs no replay: the decision swap matrix, how the
scores agree (correlation, PSI between the two distributions, |Δp|), the approval rate
of each, the same per segment of each feature, and, given observed outcomes, each
model's AUC, KS and calibration. Writes OUT/compare.json and OUT/compare.html. Exit
status: 0 written, 2 bad input (one line on stderr), 3 the comparison itself failed.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from monitoring.current import BadInput, audit_files, audit_records, exit_status, first_line
from riskserve import psi

# Quantile cut points of a numeric feature's segments (quartiles).
SEGMENT_QUANTILES = (0.25, 0.5, 0.75)
CALIBRATION_BINS = 10


def _pair(record: dict[str, Any]) -> dict[str, Any] | None:
    """One record's champion and challenger scores, or None without a challenger score."""
    shadow = record.get("challenger")
    if not shadow:
        return None
    return {
        "request_id": record["request_id"],
        "index": record["index"],
        "features": record["features"],
        "champion": record["model_version"],
        "challenger": shadow["model_version"],
        "p_champion": record["probability"],
        "p_challenger": shadow["probability"],
        "d_champion": record["decision"],
        "d_challenger": shadow["decision"],
    }


def read_pairs(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """Audit lines that carry a challenger score, as one row per record, and notes.

    Lines of the most frequent (champion, challenger) pair of versions are kept; others
    (an earlier experiment in the same folder) are counted in the notes.
    """
    folder, files = audit_files(path)
    scored = list(audit_records(files, _pair, "with request_id, index, features, probability"))
    rows = [row for row in scored if row is not None]
    without = len(scored) - len(rows)
    if not rows:
        raise BadInput(f"{folder}: no audit line has a challenger score (run one in shadow mode)")
    frame = pd.DataFrame(rows)
    pairs = Counter(zip(frame["champion"], frame["challenger"], strict=True))
    (champion, challenger), _ = pairs.most_common(1)[0]
    notes = [f"{folder}: {len(files)} files, {without:,} lines without a challenger score"]
    notes += [
        f"{n:,} lines of {a} vs {b} left out"
        for (a, b), n in pairs.items()
        if (a, b) != (champion, challenger)
    ]
    keep = (frame["champion"] == champion) & (frame["challenger"] == challenger)
    return frame[keep].reset_index(drop=True), notes


def read_outcomes(path: Path) -> pd.DataFrame:
    """Observed outcomes: `request_id`, `outcome` (0/1), optional `index` and `observed_at`.

    `index` is the record's position in a batch request (0 for /predict, the default).
    """
    try:
        frame = pd.read_parquet(path) if path.suffix in (".parquet", ".pq") else pd.read_csv(path)
    except Exception as exc:  # pandas and pyarrow raise many types for a broken file
        raise BadInput(f"{path}: unreadable ({first_line(exc)})") from None
    missing = {"request_id", "outcome"} - set(frame.columns)
    if missing:
        raise BadInput(f"{path}: missing columns {sorted(missing)}")
    if not frame["outcome"].isin([0, 1]).all():
        raise BadInput(f"{path}: outcome must be 0 or 1")
    if "index" not in frame.columns:
        frame["index"] = 0
    frame["request_id"] = frame["request_id"].astype(str)
    return frame[["request_id", "index", "outcome"]].drop_duplicates(["request_id", "index"])


def agreement(
    p_a: np.ndarray, p_b: np.ndarray, d_a: list[str], d_b: list[str], labels: list[str]
) -> dict[str, Any]:
    """How two models' scores and decisions of the same records agree (a: champion)."""
    from scipy import stats

    counts = np.zeros((len(labels), len(labels)), dtype=int)
    position = {label: i for i, label in enumerate(labels)}
    for a, b in zip(d_a, d_b, strict=True):
        counts[position[a], position[b]] += 1
    n = len(p_a)
    delta = np.abs(p_b - p_a)
    varied = n > 2 and np.ptp(p_a) > 0 and np.ptp(p_b) > 0
    edges = psi.decile_edges(p_a)
    approve = labels[0]
    rate_a = sum(d == approve for d in d_a) / n
    rate_b = sum(d == approve for d in d_b) / n
    return {
        "n": n,
        "swap_matrix": {
            "labels": labels,
            "counts": counts.tolist(),
            "rates": (counts / n).tolist(),
        },
        "swap_rate": float(1 - np.trace(counts) / n),
        "pearson": float(stats.pearsonr(p_a, p_b)[0]) if varied else None,
        "spearman": float(stats.spearmanr(p_a, p_b)[0]) if varied else None,
        "psi": psi.psi(psi.bin_fractions(p_a, edges), psi.bin_fractions(p_b, edges)),
        "mean_abs_delta": float(delta.mean()),
        "p99_abs_delta": float(np.quantile(delta, 0.99)),
        "approval_label": approve,
        "approval_rate": {"champion": rate_a, "challenger": rate_b},
        "approval_rate_difference": rate_b - rate_a,
    }


def segments(frame: pd.DataFrame, features: list[str]) -> dict[str, list[tuple[str, Any]]]:
    """Per feature, (segment name, row mask): quartiles of numbers, values of the rest.

    Hashed (sensitive) features have no meaningful order and are left out.
    """
    out = {}
    for name in features:
        column = frame["features"].map(lambda f, n=name: f.get(n))
        if column.map(lambda v: isinstance(v, str) and v.startswith("sha256:")).any():
            continue
        if column.map(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)).all():
            values = column.astype(float).to_numpy()
            cuts = np.unique(np.quantile(values, SEGMENT_QUANTILES))
            bins = np.searchsorted(cuts, values, side="left")
            inner = [f"({a:g}, {b:g}]" for a, b in itertools.pairwise(cuts)]
            bounds = [f"≤ {cuts[0]:g}", *inner, f"> {cuts[-1]:g}"]
            out[name] = [(bounds[i], bins == i) for i in range(len(bounds)) if (bins == i).any()]
        else:
            out[name] = [(str(v), (column == v).to_numpy()) for v in sorted(set(column), key=str)]
    return out


def quality(outcome: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """One model's AUC, KS, Brier score and calibration (mean score vs outcome per decile)."""
    from scipy import stats
    from sklearn.metrics import brier_score_loss, roc_auc_score

    both = len(set(outcome.tolist())) == 2
    edges = np.unique(np.quantile(p, np.linspace(0, 1, CALIBRATION_BINS + 1)[1:-1]))
    bins = np.searchsorted(edges, p, side="left")
    calibration = [
        {
            "mean_probability": float(p[bins == i].mean()),
            "observed_rate": float(outcome[bins == i].mean()),
            "n": int((bins == i).sum()),
        }
        for i in range(len(edges) + 1)
        if (bins == i).any()
    ]
    return {
        "auc": float(roc_auc_score(outcome, p)) if both else None,
        "ks": float(stats.ks_2samp(p[outcome == 1], p[outcome == 0]).statistic) if both else None,
        "brier": float(brier_score_loss(outcome, p)),
        "calibration": calibration,
    }


def compare(pairs: pd.DataFrame, spec: Any, outcomes: pd.DataFrame | None) -> dict[str, Any]:
    """The whole comparison (see the module docstring) as JSON-ready data."""
    field, labels = spec.decision.field, list(_labels(spec))

    def summary(rows: pd.DataFrame) -> dict[str, Any]:
        return agreement(
            rows["p_champion"].to_numpy(float),
            rows["p_challenger"].to_numpy(float),
            [d[field] for d in rows["d_champion"]],
            [d[field] for d in rows["d_challenger"]],
            labels,
        )

    result: dict[str, Any] = {
        "champion": pairs["champion"].iloc[0],
        "challenger": pairs["challenger"].iloc[0],
        "overall": summary(pairs),
        "segments": {
            name: [{"segment": label, **summary(pairs[mask])} for label, mask in parts]
            for name, parts in segments(pairs, spec.feature_names).items()
        },
        "outcomes": None,
    }
    if outcomes is not None:
        joined = pairs.merge(outcomes, on=["request_id", "index"], how="inner")
        if joined.empty:
            raise BadInput("no outcome matches an audited record (request_id, index)")
        y = joined["outcome"].to_numpy(int)
        result["outcomes"] = {
            "n": len(joined),
            "positive_rate": float(y.mean()),
            "champion": quality(y, joined["p_champion"].to_numpy(float)),
            "challenger": quality(y, joined["p_challenger"].to_numpy(float)),
        }
    return result


def _labels(spec: Any) -> tuple[str, ...]:
    """Decision labels, least risky first (the approval label)."""
    if spec.decision.policy == "argmax":
        return spec.labels
    return tuple(level.label for level in spec.decision.levels)


def run(args: argparse.Namespace) -> int:
    """Read the audit log (and outcomes), compare, write both reports."""
    if args.audit is None:
        from riskserve.settings import load_settings

        args.audit = load_settings().audit_dir
    pairs, notes = read_pairs(args.audit)
    outcomes = read_outcomes(args.outcomes) if args.outcomes else None
    import bentoml
    from bentoml.exceptions import NotFound

    from monitoring.compare_report import write_reports
    from riskserve.model_entry import read_spec

    tag = pairs["champion"].iloc[0]
    try:
        spec = read_spec(Path(bentoml.models.get(tag).path))
    except NotFound:
        raise BadInput(f"model {tag} is not in the model store") from None
    if outcomes is not None and spec.task != "binary":
        raise BadInput("outcomes are compared for binary models only")
    result = compare(pairs, spec, outcomes)
    result.update(
        source=str(args.audit),
        outcomes_file=args.outcomes and str(args.outcomes),
        notes=notes,
        generated_at=datetime.now(UTC).isoformat(),
    )
    try:
        write_reports(args.out, result, pairs)
    except OSError as exc:
        raise BadInput(f"{args.out}: cannot write the reports ({exc.strerror or exc})") from None
    overall = result["overall"]
    print(
        f"{overall['n']:,} records: {overall['swap_rate']:.1%} decisions swapped, "
        f"PSI {overall['psi']:.3f}; reports in {args.out}/compare.json and compare.html"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m monitoring.compare_models", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--audit", type=Path, help="audit-log folder (default: the service's, from configuration)"
    )
    parser.add_argument(
        "--outcomes", type=Path, help="CSV or Parquet of request_id, outcome[, index, observed_at]"
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for the reports")
    args = parser.parse_args(argv)
    return exit_status("compare", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
