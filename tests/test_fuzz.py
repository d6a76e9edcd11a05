"""Fuzz the service's own OpenAPI document with schemathesis: no 5xx, no schema violation."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.fuzz]

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance"


def test_openapi_fuzzing_finds_no_server_error_or_schema_violation(server, tmp_path):
    result = subprocess.run(
        [
            SCHEMATHESIS,
            "run",
            f"{server.url}/docs.json",
            "--checks",
            CHECKS,
            "--max-examples",
            "300",
            "--seed",
            "42",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    summary = result.stdout[-3000:]
    assert result.returncode == 0, summary
    generated = int(re.search(r"(\d+) generated", summary).group(1))
    assert generated >= 1000, summary
    assert "No issues found" in summary
