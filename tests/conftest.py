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

from riskserve.settings import PROJECT_ROOT, load_settings  # noqa: E402
from tests.cases import CREDIT, FRAUD, IRIS  # noqa: E402
from tests.server import Server  # noqa: E402

ROOT = PROJECT_ROOT


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_HOME, ignore_errors=True)


def _train(spec):
    from training.train import train

    return train(spec, load_settings().parity_tolerance, log=lambda _: None)


@pytest.fixture(scope="session")
def trained_model():
    """The credit model trained once into the private store (its spec's data)."""
    return _train(CREDIT)


def point_latest_at(entry) -> None:
    """Make `<name>:latest` the given version again after a test trained newer ones, so
    servers of the shipped configuration serve the same model whatever ran before."""
    (Path(entry.path).parent / "latest").write_text(entry.tag.version)


@pytest.fixture
def credit_latest_kept(trained_model) -> Iterator[None]:
    """For tests that train more credit versions: `credit_model:latest` stays the first."""
    yield
    point_latest_at(trained_model)


@pytest.fixture(scope="session")
def second_version(trained_model):
    """Another version of the credit model (other data), e.g. a challenger."""
    from training.train import train

    second = train(
        CREDIT, load_settings().parity_tolerance, n_samples=3000, seed=7, log=lambda _: None
    )
    point_latest_at(trained_model)
    return second


@pytest.fixture(scope="session")
def fraud_model():
    """The fraud model trained once into the private store."""
    return _train(FRAUD)


@pytest.fixture(scope="session")
def iris_model():
    """The iris model trained once into the private store."""
    return _train(IRIS)


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
def fraud_server(fraud_model, tmp_path_factory) -> Iterator[Server]:
    """A real `bentoml serve` of the fraud model."""
    env = {"RISKSERVE_MODEL": "fraud_model"}
    with Server.source(tmp_path_factory.mktemp("fraud_server"), env=env) as srv:
        yield srv


@pytest.fixture(scope="session")
def iris_server(iris_model, tmp_path_factory) -> Iterator[Server]:
    """A real `bentoml serve` of the iris model."""
    env = {"RISKSERVE_MODEL": "iris_model"}
    with Server.source(tmp_path_factory.mktemp("iris_server"), env=env) as srv:
        yield srv
