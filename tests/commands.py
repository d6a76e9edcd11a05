"""Project commands run as a user types them: `make <target> VAR=value ...`."""

from __future__ import annotations

import os
import shutil
import subprocess

from riskserve.settings import PROJECT_ROOT

MAKE = shutil.which("make")
# Every target depends on the venv's marker; tests must never reinstall packages.
INSTALLED = PROJECT_ROOT / ".venv" / "bin" / ".installed"


def make(target: str, timeout: float = 300, **variables: str) -> subprocess.CompletedProcess:
    """`make <target> VAR=value ...` in the project, into the suite's private model store
    (a command-line variable overrides the Makefile's BENTOML_HOME). --no-print-directory:
    under `make test` this is a sub-make, whose "Leaving directory" line would otherwise
    follow the command's own output."""
    assert MAKE is not None
    argv = [MAKE, "--no-print-directory", "-o", str(INSTALLED), target]
    argv += [f"{k}={v}" for k, v in variables.items()]
    argv.append(f"BENTOML_HOME={os.environ['BENTOML_HOME']}")
    return subprocess.run(argv, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout)
