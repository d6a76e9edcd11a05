"""Repository hygiene: no secrets committed."""

from __future__ import annotations

import re
import subprocess

from tests.conftest import ROOT

SECRET_PATTERNS = {
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abpors]-[A-Za-z0-9-]{10,}\b"),
    "assigned secret": re.compile(
        r"""(?i)\b(api[_-]?key|secret|password|token)\b\s*[:=]\s*["'][A-Za-z0-9+/_\-]{24,}["']"""
    ),
}


def test_no_secrets_in_tracked_files():
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert files, "not a git checkout"
    found = []
    for name in files:
        path = ROOT / name
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        text = path.read_text(errors="ignore")
        found += [f"{name}: {kind}" for kind, rx in SECRET_PATTERNS.items() if rx.search(text)]
    assert not found, found


def test_the_scan_catches_what_it_looks_for():
    # Assembled here, so that this file itself holds nothing the scan looks for.
    sample = 'API_KEY = "' + "A1b2C3d4" * 4 + '"\n-----BEGIN RSA ' + "PRIVATE KEY-----"
    assert SECRET_PATTERNS["assigned secret"].search(sample)
    assert SECRET_PATTERNS["private key"].search(sample)
