"""Running several replicas of the service on one host."""

from __future__ import annotations

from pathlib import Path


def replica_home(shared: Path, home: Path) -> Path:
    """A BentoML home of one replica's own that sees the shared models and bentos.

    Every `bentoml serve` empties `<home>/prometheus_multiproc_dir` when it starts, so
    replicas sharing a home would erase each other's metrics.
    """
    home.mkdir(parents=True, exist_ok=True)
    for name in ("models", "bentos"):
        (shared / name).mkdir(parents=True, exist_ok=True)
        link = home / name
        if not link.exists():
            link.symlink_to(shared / name)
    return home
