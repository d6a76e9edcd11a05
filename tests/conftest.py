"""Shared fixtures: a private BentoML home with a trained model, and live servers."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

# BentoML reads its home when first imported: point it at a private store before then,
# so the suite never touches the developer's models_store/.
_HOME = Path(tempfile.mkdtemp(prefix="riskserve-test-home-"))
os.environ["BENTOML_HOME"] = str(_HOME)
os.environ["BENTOML_DO_NOT_TRACK"] = "true"

import pytest  # noqa: E402

from riskserve.settings import load_settings  # noqa: E402
from riskserve.specs import SPECS  # noqa: E402
from tests.server import Server  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CREDIT = SPECS["credit_model"]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def trained_model():
    """The credit model trained once into the private store (default size and seed)."""
    from training.recipes import RECIPES
    from training.train import train

    settings = load_settings()
    return train(
        RECIPES["credit_model"],
        5000,
        42,
        threshold=settings.decision_threshold,
        tolerance=settings.parity_tolerance,
        log=lambda _: None,
    )


@pytest.fixture(scope="session")
def server(trained_model, tmp_path_factory) -> Iterator[Server]:
    """A real `bentoml serve` of the source tree (shipped settings) on 127.0.0.1."""
    with Server.source(tmp_path_factory.mktemp("server")) as srv:
        yield srv


@pytest.fixture(scope="session")
def runner_server(trained_model, tmp_path_factory) -> Iterator[Server]:
    """The same service with scoring in the runner behind adaptive batching."""
    with Server.source(tmp_path_factory.mktemp("runner_server"), layout="runner") as srv:
        yield srv


@pytest.fixture(scope="session")
def bentoml_path_server(trained_model, tmp_path_factory) -> Iterator[Server]:
    """The same service answering through BentoML's own request pipeline."""
    with Server.source(tmp_path_factory.mktemp("bentoml_path"), lean_http=False) as srv:
        yield srv
