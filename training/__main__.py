"""`python -m training`: train a model version into the BentoML model store."""

from __future__ import annotations

import argparse
import sys

from riskserve.settings import load_settings
from training.recipes import RECIPES
from training.train import ParityError, train


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, train, and print the new tag."""
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    parser.add_argument("--model", choices=sorted(RECIPES), default="credit_model")
    parser.add_argument("--n-samples", type=int, default=5000, help="rows to generate")
    parser.add_argument("--seed", type=int, default=42, help="NumPy seed of the data")
    parser.add_argument(
        "--if-missing",
        action="store_true",
        help="do nothing if the store already has a version of the model",
    )
    args = parser.parse_args(argv)
    if args.n_samples < 100:
        parser.error("--n-samples must be at least 100")

    import bentoml
    from bentoml.exceptions import NotFound

    if args.if_missing:
        try:
            print(f"model store already has {bentoml.models.get(args.model).tag}")
            return 0
        except NotFound:
            pass
    settings = load_settings()
    try:
        stored = train(
            RECIPES[args.model],
            args.n_samples,
            args.seed,
            threshold=settings.decision_threshold,
            tolerance=settings.parity_tolerance,
        )
    except ParityError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(stored.tag)
    return 0


if __name__ == "__main__":
    sys.exit(main())
