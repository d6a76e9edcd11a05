"""`python -m deploy.bento`: build the bento of the model being served, pinned by version.

The bento is built from a staged copy of the project's serving files whose
`configuration.yaml` names the exact model version (the configured `model_tag`, or
`$RISKSERVE_MODEL`, resolved in the store), so a bento of `fraud_model` serves
`fraud_model` wherever it runs, without any environment variable. Prints the bento tag.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from benchmarks.servers import BENTOML
from riskserve.settings import CONFIG_ENV, MODEL_ENV, PROJECT_ROOT, load_settings
from training.promote import PromotionError, resolve, set_model_tag


def stage(folder: Path, tag: str) -> None:
    """Copy what bentofile.yaml packs (and the files it names) into `folder`."""
    bentofile = yaml.safe_load((PROJECT_ROOT / "bentofile.yaml").read_text())
    names = {
        "bentofile.yaml",
        bentofile["python"]["requirements_txt"],
        bentofile["docker"]["setup_script"],
    }
    for pattern in bentofile["include"]:
        names.update(str(p.relative_to(PROJECT_ROOT)) for p in PROJECT_ROOT.glob(pattern))
    for name in sorted(names):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT_ROOT / name, folder / name)
    set_model_tag(folder / "configuration.yaml", tag)


def main() -> int:
    """Stage, pin the model, build; print the bento tag."""
    try:
        tag = resolve(load_settings().model_tag)
    except PromotionError as exc:
        print(f"error: {exc}; train it first (make train)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="riskserve-bento-") as tmp:
        stage(Path(tmp), tag)
        # The staged configuration is the one packed and served: no override from here.
        env = {k: v for k, v in os.environ.items() if k not in (MODEL_ENV, CONFIG_ENV)}
        built = subprocess.run(
            [BENTOML, "build", "--output", "tag", "."],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    if built.returncode != 0:
        print(built.stdout + built.stderr, file=sys.stderr)
        return built.returncode
    bento = built.stdout.strip().splitlines()[-1].removeprefix("__tag__:")
    print(f"built {bento} serving {tag}", file=sys.stderr)
    print(bento)
    return 0


if __name__ == "__main__":
    sys.exit(main())
