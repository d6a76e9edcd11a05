"""`python -m monitoring.backtest`: outcomes joined to the audit log, against the model card.

Outcomes (`request_id, outcome[, observed_at]`, CSV or Parquet) arrive months after the
decisions. They are joined to the audit log by request id; records of the model version
under test are scored overall and per month of decision (ROC AUC, KS, Brier, calibration
per decile of the model card's held-out scores and per decision band, approval and bad
rates per band), each beside the card's held-out figure. Nothing is dropped silently:
outcomes with no decision, request ids with several outcomes or several audit records (a
batch, a retried request), decisions still awaiting an outcome and decisions of other
versions are counted and reported, and only unambiguous pairs are scored.

Writes OUT/backtest.json and OUT/backtest.html. Exit status: 0 no alert, 1 alert (AUC
more than `backtest.max_auc_drop` below the card's, or calibration error above
`backtest.max_calibration_error`), 2 bad input (one line on stderr), 3 the check failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from monitoring.current import BadInput, audit_files, audit_records, first_line, read_table

_OUTCOMES = {"1": 1, "0": 0, "true": 1, "false": 0, "1.0": 1, "0.0": 0}


def read_outcomes(path: Path) -> pd.DataFrame:
    """Outcomes as `request_id` (text), `outcome` (0/1) and `observed_at` (UTC or NaT)."""
    if not path.is_file():
        raise BadInput(f"{path}: no such file")
    frame = read_table(path)
    missing = [c for c in ("request_id", "outcome") if c not in frame.columns]
    if missing:
        raise BadInput(
            f"{path}: missing columns {missing}; expected request_id, outcome[, observed_at]"
        )
    if frame.empty:
        raise BadInput(f"{path}: no outcomes")
    coded = frame["outcome"].astype("string").str.strip().str.lower().map(_OUTCOMES)
    if coded.isna().any():
        bad = frame["outcome"][coded.isna()].iloc[0]
        raise BadInput(f"{path}: outcome must be 0/1 or true/false (got {bad!r})")
    observed = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]")
    if "observed_at" in frame.columns:
        try:
            observed = pd.to_datetime(frame["observed_at"], utc=True, format="ISO8601")
        except (ValueError, TypeError) as exc:
            raise BadInput(f"{path}: bad observed_at ({first_line(exc)})") from None
    return pd.DataFrame(
        {
            "request_id": frame["request_id"].astype(str),
            "outcome": coded.astype(np.int64),
            "observed_at": observed,
        }
    )


def read_decisions(path: Path, field: str) -> tuple[pd.DataFrame, str]:
    """Every audit record's request id, time, model version, probability and label."""
    folder, files = audit_files(path)
    expected = f"of this model (request_id, timestamp, probability, decision.{field})"
    rows = list(
        audit_records(
            files,
            lambda r: (
                r["request_id"],
                r["timestamp"],
                r["model_version"],
                float(r["probability"]),
                r["decision"][field],
            ),
            expected,
        )
    )
    frame = pd.DataFrame(
        rows, columns=["request_id", "decided_at", "model_version", "probability", "label"]
    )
    frame["decided_at"] = pd.to_datetime(frame["decided_at"], utc=True, format="ISO8601")
    return frame, f"{folder} ({len(files)} files)"


def join(
    decisions: pd.DataFrame, outcomes: pd.DataFrame, tag: str
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Unambiguous (decision, outcome) pairs of `tag`, and the count of everything else."""
    outcome_ids = outcomes["request_id"].value_counts()
    audit_ids = decisions["request_id"].value_counts()
    twice_outcomes = set(outcome_ids[outcome_ids > 1].index)
    twice_audited = set(audit_ids[audit_ids > 1].index)
    ours = decisions["model_version"] == tag
    single = outcomes[~outcomes["request_id"].isin(twice_outcomes)]
    pairs = decisions[ours & ~decisions["request_id"].isin(twice_audited)].merge(
        single, on="request_id", how="inner", validate="one_to_one"
    )
    counts = {
        "outcomes": len(outcomes),
        "audit_records": len(decisions),
        "matched": len(pairs),
        "unmatched_outcomes": int((~outcomes["request_id"].isin(audit_ids.index)).sum()),
        "duplicate_outcome_ids": len(twice_outcomes),
        "outcomes_of_duplicate_ids": int(outcomes["request_id"].isin(twice_outcomes).sum()),
        "duplicate_audit_ids": len(twice_audited),
        "outcomes_of_other_versions": int(
            outcomes["request_id"].isin(decisions.loc[~ours, "request_id"]).sum()
        ),
        "decisions_awaiting_outcome": int(
            (ours & ~decisions["request_id"].isin(outcomes["request_id"])).sum()
        ),
    }
    return pairs, counts


def _figures(pairs: pd.DataFrame, policy: Any, edges: list[float]) -> dict[str, Any]:
    from training.performance import binary_figures

    return binary_figures(
        pairs["probability"].to_numpy(),
        pairs["outcome"].to_numpy(),
        policy,
        edges,
        pairs["label"].tolist(),
    )


def backtest(
    pairs: pd.DataFrame, counts: dict[str, int], card: dict[str, Any], policy: Any, limits: Any
) -> dict[str, Any]:
    """Figures overall and per month beside the card's, and the verdict."""
    training = card["performance"]
    edges = training["calibration_edges"]
    overall = _figures(pairs, policy, edges)
    months = {
        str(month): _figures(group, policy, edges)
        for month, group in pairs.groupby(pairs["decided_at"].dt.strftime("%Y-%m"))
    }
    alerts = []
    floor = training["roc_auc"] - limits.max_auc_drop
    if overall["roc_auc"] < floor:  # run() scores only samples with both outcomes
        alerts.append(
            f"ROC AUC {overall['roc_auc']:.4f} is below {floor:.4f} (the card's "
            f"{training['roc_auc']:.4f} - {limits.max_auc_drop})"
        )
    if overall["calibration_error"] > limits.max_calibration_error:
        alerts.append(
            f"calibration error {overall['calibration_error']:.4f} is above "
            f"{limits.max_calibration_error}"
        )
    lag = (pairs["observed_at"] - pairs["decided_at"]).dt.total_seconds() / 86400
    return {
        "alert": bool(alerts),
        "alerts": alerts,
        "limits": {
            "max_auc_drop": limits.max_auc_drop,
            "max_calibration_error": limits.max_calibration_error,
        },
        "counts": counts,
        "median_days_to_outcome": None if lag.isna().all() else float(lag.median()),
        "overall": overall,
        "months": months,
        "training": training,
    }


def run(args: argparse.Namespace) -> int:
    """Read, join, score, write both reports; the exit status."""
    import bentoml
    from bentoml.exceptions import BentoMLException

    from monitoring.backtest_report import write_reports
    from riskserve.decisions import Policy
    from riskserve.model_entry import MODEL_CARD_JSON, read_spec
    from riskserve.settings import load_settings

    settings = load_settings()
    outcomes = read_outcomes(args.outcomes)
    tag = args.model_tag or settings.model_tag
    try:
        entry = bentoml.models.get(tag)
    except BentoMLException as exc:
        raise BadInput(f"model {tag}: {first_line(exc)}") from None
    spec = read_spec(Path(entry.path))
    if spec.task != "binary":
        raise BadInput(f"model {entry.tag}: backtesting covers binary models")
    card_path = Path(entry.path) / MODEL_CARD_JSON
    if not card_path.exists():
        raise BadInput(f"model {entry.tag}: no {MODEL_CARD_JSON} (trained before model cards)")
    policy = Policy(spec)
    decisions, source = read_decisions(args.audit or settings.audit_dir, policy.field)
    pairs, counts = join(decisions, outcomes, str(entry.tag))
    if pairs.empty or pairs["outcome"].nunique() < 2:
        raise BadInput(
            f"{args.outcomes}: {counts['matched']} outcomes match decisions of "
            f"{entry.tag} ({counts}); need both outcomes among them"
        )
    result = backtest(pairs, counts, json.loads(card_path.read_text()), policy, settings.backtest)
    result.update(
        model_version=str(entry.tag),
        outcomes_source=str(args.outcomes),
        audit_source=source,
        decision_field=policy.field,
        generated_at=datetime.now(UTC).isoformat(),
    )
    try:
        write_reports(args.out, result)
    except OSError as exc:
        raise BadInput(f"{args.out}: cannot write the reports ({exc.strerror or exc})") from None
    verdict = "ALERT: " + "; ".join(result["alerts"]) if result["alert"] else "no alert"
    print(
        f"{verdict}; {counts['matched']} outcomes scored; reports in {args.out}/"
        "backtest.json and backtest.html"
    )
    return 1 if result["alert"] else 0


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m monitoring.backtest",
        description="Outcomes against the decisions that met them.",
    )
    parser.add_argument(
        "--outcomes",
        type=Path,
        required=True,
        help="CSV or Parquet: request_id, outcome[, observed_at]",
    )
    parser.add_argument(
        "--audit", type=Path, help="audit-log folder (default: the service's, from configuration)"
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for the reports")
    parser.add_argument("--model-tag", help="model store tag (default: configuration's)")
    args = parser.parse_args(argv)
    try:
        return run(args)
    except BadInput as exc:
        print(f"backtest: {exc}", file=sys.stderr)
        return 2
    except Exception:
        traceback.print_exc()  # never 1: a scheduler would read it as an alert
        return 3


if __name__ == "__main__":
    sys.exit(main())
