"""deploy/k8s/configmap.yaml from configuration.yaml, the one source of riskserve's settings.

`python deploy/k8s_config.py` rewrites it; tests/test_deploy_files.py fails when it is stale.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGMAP = ROOT / "deploy" / "k8s" / "configmap.yaml"
# The ConfigMap is mounted read-only, so the logs (and the audit log) go to the pod's
# writable volume that deployment.yaml mounts here.
LOG_DIR = "/var/log/riskserve"
HEADER = """\
# Generated from configuration.yaml by `python deploy/k8s_config.py`: edit that file, not
# this one. Two keys differ: log_dir (the pod's writable log volume), and model_tag, which
# names the model's latest version: an image packs exactly one, the model promoted when it
# was built, so a promotion ships as a new image.
apiVersion: v1
kind: ConfigMap
metadata:
  name: riskserve-config
  labels:
    app.kubernetes.io/name: riskserve
data:
  configuration.yaml: |
"""


def render(config_text: str) -> str:
    """The ConfigMap manifest holding `config_text` with log_dir and model_tag replaced."""
    text = config_text
    for pattern, replacement in (
        (r"^(  log_dir:) .*$", rf"\1 {LOG_DIR}"),
        (r"^(  model_tag: [^:\s]+):\S+", r"\1:latest"),
    ):
        text, found = re.subn(pattern, replacement, text, flags=re.M)
        if found != 1:
            raise ValueError(f"configuration.yaml: expected exactly one {pattern!r} line")
    return HEADER + "".join(f"    {line}\n" if line else "\n" for line in text.splitlines())


if __name__ == "__main__":
    CONFIGMAP.write_text(render((ROOT / "configuration.yaml").read_text()))
    print(f"wrote {CONFIGMAP.relative_to(ROOT)}")
