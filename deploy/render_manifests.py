"""The Kubernetes manifests of one environment, pinned to one image digest.

    python3 deploy/render_manifests.py staging ghcr.io/<owner>/riskserve@sha256:<digest>

prints what `kubectl apply -f -` should apply: the kustomize overlay deploy/overlays/<env>
(the base deploy/k8s in that environment's namespace) with the riskserve image replaced
by the given reference. Only references by digest are accepted, so what is deployed is
exactly what was built, scanned and signed. Rendering uses kustomize itself
(`kustomize build`, else `kubectl kustomize`); standard library only, so CI can run it
without the project's environment.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OVERLAYS = ROOT / "deploy" / "overlays"
BASE_KUSTOMIZATION = ROOT / "deploy" / "k8s" / "kustomization.yaml"
DIGEST_REF = re.compile(r"^[a-z0-9][a-z0-9._/-]*(:[0-9]+)?[a-z0-9._/-]*@sha256:[0-9a-f]{64}$")


def environments() -> list[str]:
    """The overlays: one folder per environment."""
    return sorted(p.parent.name for p in OVERLAYS.glob("*/kustomization.yaml"))


def base_image_name() -> str:
    """The image name the base's `images:` entry sets (what the overlay's image is called)."""
    text = BASE_KUSTOMIZATION.read_text()
    names = re.findall(r"^\s+newName:\s*(\S+)\s*$", text, flags=re.M)
    if len(names) != 1:
        raise SystemExit(f"{BASE_KUSTOMIZATION}: expected one images[].newName, got {names}")
    return names[0]


def kustomize_command() -> list[str]:
    """A real kustomize: the standalone binary when installed, else kubectl's built-in one."""
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    raise SystemExit("neither kustomize nor kubectl is installed")


def render(environment: str, image: str) -> str:
    """The overlay's manifests as YAML, its image replaced by `image` (name@sha256:...)."""
    if environment not in environments():
        raise SystemExit(f"unknown environment {environment!r}: one of {environments()}")
    if not DIGEST_REF.match(image):
        raise SystemExit(f"{image!r} is not an image reference by digest (name@sha256:<64 hex>)")
    name, digest = image.split("@", 1)
    with tempfile.TemporaryDirectory(prefix="riskserve-render-") as tmp:
        # A one-off kustomization on top of the overlay (kustomize takes only relative
        # paths); JSON is valid YAML.
        Path(tmp, "kustomization.yaml").write_text(
            json.dumps(
                {
                    "apiVersion": "kustomize.config.k8s.io/v1beta1",
                    "kind": "Kustomization",
                    "resources": [os.path.relpath(OVERLAYS / environment, tmp)],
                    "images": [{"name": base_image_name(), "newName": name, "digest": digest}],
                }
            )
        )
        rendered = subprocess.run(
            [*kustomize_command(), tmp], capture_output=True, text=True, check=False, timeout=120
        )
    if rendered.returncode != 0:
        raise SystemExit(f"kustomize failed:\n{rendered.stderr}")
    if f"image: {image}\n" not in rendered.stdout:
        raise SystemExit(f"the rendered manifests do not run {image}")
    return rendered.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("environment", help=f"one of {environments()}")
    parser.add_argument("image", help="the image by digest: <name>@sha256:<digest>")
    args = parser.parse_args()
    sys.stdout.write(render(args.environment, args.image))


if __name__ == "__main__":
    main()
