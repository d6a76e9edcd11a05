"""`python -m training`: train a model version of a spec into the BentoML model store."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from riskserve.reasons import ExplainerError
from riskserve.settings import PROJECT_ROOT, load_settings
from riskserve.spec import ModelSpec, SpecError, load_spec
from training.errors import DataError, ParityError

BUILT_IN = PROJECT_ROOT / "specs"
DEFAULT_SPEC = BUILT_IN / "credit.yaml"


def built_in_spec(name: str) -> ModelSpec:
    """The spec in `specs/` whose model name is `name` (credit_model, fraud_model, ...)."""
    for path in sorted(BUILT_IN.glob("*.yaml")):
        spec = load_spec(path)
        if spec.name == name:
            return spec
    raise SpecError(f"no spec in {BUILT_IN} names {name!r}; pass its spec file with --spec")


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, train, and print the new tag."""
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--spec", type=Path, help=f"spec file (default: {DEFAULT_SPEC.name})")
    which.add_argument("--model", help="a built-in model by store name (e.g. fraud_model)")
    parser.add_argument("--data", type=Path, help="training data file (.csv or .parquet)")
    parser.add_argument("--n-samples", type=int, help="rows to generate (generated data)")
    parser.add_argument("--seed", type=int, help="seed of generated data")
    parser.add_argument(
        "--if-missing",
        action="store_true",
        help="do nothing if the store already has a version of the model",
    )
    args = parser.parse_args(argv)
    if args.n_samples is not None and args.n_samples < 100:
        parser.error("--n-samples must be at least 100")

    import bentoml
    from bentoml.exceptions import NotFound

    try:
        if args.spec or not (args.model or args.if_missing):
            spec = load_spec(args.spec or DEFAULT_SPEC)
            name = spec.name
        else:  # --model, or --if-missing alone: the model the service is configured to serve
            spec, name = None, args.model or load_settings().model_tag.split(":")[0]
        if args.if_missing:
            try:
                print(f"model store already has {bentoml.models.get(name).tag}")
                return 0
            except NotFound:
                pass
        spec = spec or built_in_spec(name)
        # Training's imports (scikit-learn, skl2onnx, pandas) take seconds: `make serve`
        # pays for them only when the store lacks the model.
        from training.train import train

        stored = train(spec, load_settings().parity_tolerance, args.data, args.n_samples, args.seed)
    except (SpecError, DataError, ExplainerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ParityError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(stored.tag)
    return 0


if __name__ == "__main__":
    sys.exit(main())
