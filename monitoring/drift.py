"""`python -m monitoring.drift`: compare a current sample with a model's training reference.

Works for any model in the store (`--model-tag`, default the configuration's model_tag,
which $RISKSERVE_MODEL overrides): the features, their kinds and category values come
from the spec stored with the model. Writes OUT/drift.json and OUT/drift.html; the rule
is `monitoring.compare`'s. Exit status: 0 no drift, 1 drift, 2 bad input (one line on
stderr), 3 the check itself failed (traceback on stderr). A bad time or a missing input
is found before the heavy imports, so it fails fast.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitoring.current import (
    BadInput,
    Window,
    exit_status,
    feature_columns,
    first_line,
    load_current,
    parse_time,
)

if TYPE_CHECKING:
    from riskserve.spec import ModelSpec


def _settings() -> Any:
    """The configuration, read only when a default is needed; a broken one is bad input."""
    from riskserve.settings import config_path, load_settings

    try:
        return load_settings()
    except Exception as exc:  # YAML, validation or file errors: all one line
        raise BadInput(f"configuration {config_path()}: {first_line(exc)}") from None


def _model(tag: str) -> tuple[Any, ModelSpec]:
    """The store entry of `tag` and the spec stored with it."""
    import bentoml
    from bentoml.exceptions import BentoMLException

    from riskserve.model_entry import SPEC_FILE, TRAIN_HINT, read_spec
    from riskserve.spec import SpecError

    try:
        model = bentoml.models.get(tag)
    except (BentoMLException, ValueError) as exc:  # not found, or not a tag at all
        reason = str(exc).splitlines()[0] if str(exc) else first_line(exc)
        raise BadInput(f"model {tag}: {reason}; {TRAIN_HINT}") from None
    try:
        return model, read_spec(Path(model.path))
    except SpecError as exc:
        raise BadInput(f"model {model.tag}: unusable {SPEC_FILE} ({first_line(exc)})") from None


def run(args: argparse.Namespace) -> int:
    """Read the current sample and the model's reference, compare, write both reports."""
    window = Window(parse_time("--since", args.since), parse_time("--until", args.until))
    if window.since and window.until and window.since > window.until:
        raise BadInput("--since is later than --until")
    path = args.current or _settings().log_dir
    if not path.exists():
        raise BadInput(f"{path}: no such file or directory")
    model, spec = _model(args.model_tag or _settings().model_tag)
    current = load_current(path, spec, window)
    values = feature_columns(current, spec)

    from monitoring.compare import RULE, compare, dataset_drift
    from monitoring.report import write_reports
    from riskserve.model_entry import read_drift_reference, reference_rows

    folder = Path(model.path)
    # Like with like: the audit log only holds requests that passed every rule.
    population = "servable" if current.servable_only else "training"
    try:
        rows = reference_rows(folder, spec, population)
        reference = dict(zip(spec.feature_names, rows.T, strict=True))
        bins = read_drift_reference(folder, spec, population)
    except (OSError, ValueError) as exc:
        raise BadInput(f"model {model.tag}: unreadable reference ({first_line(exc)})") from None

    features = compare(spec, reference, values, bins)
    for name, tally in current.unseen.items():
        features[name]["unseen"]["values"] = tally
    drifted = dataset_drift(features)
    result = {
        "dataset_drift": bool(drifted),
        "drifted_features": drifted,
        "n_reference": len(rows),
        "reference_population": population,
        "n_current": len(current.frame),
        "features": features,
        "model_version": str(model.tag),
        "current_source": current.source,
        "window": window.describe() if window else None,
        "notes": current.notes,
        "rule": RULE,
        "generated_at": datetime.now(UTC).isoformat(),
    }
    try:
        write_reports(args.out, result, reference, values, bins)
    except OSError as exc:
        raise BadInput(f"{args.out}: cannot write the reports ({exc.strerror or exc})") from None
    verdict = f"drift in {', '.join(drifted)}" if drifted else "no drift"
    print(f"{verdict}; reports in {args.out}/drift.json and drift.html")
    return 1 if drifted else 0


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m monitoring.drift",
        description="Drift of a current sample against a model's training reference.",
    )
    parser.add_argument(
        "--current",
        type=Path,
        help="a .csv or .parquet file, or an audit-log directory "
        "(default: the service's log_dir from configuration)",
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for the reports")
    parser.add_argument("--model-tag", help="model store tag (default: configuration's)")
    parser.add_argument("--since", help="audit records at or after this ISO-8601 time")
    parser.add_argument("--until", help="audit records at or before this ISO-8601 time")
    args = parser.parse_args(argv)
    return exit_status("drift", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
