"""`python -m training.promote`: choose which model version production serves, or roll back.

The champion is what `configuration.yaml` names in `riskserve.model_tag`, pinned to a
version, so what is served, what `bentoml build` packs into an image and what the
repository records are one fact. Promotion rewrites only that line (comments survive)
and appends to a history beside the configuration file (`<name>.champions.json`: one
history per deployment, even when several share a model store), which is what rollback
walks back. A running service picks the change up at its next (rolling) restart.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from riskserve.files import write_atomically
from riskserve.settings import config_path, parse_settings

_MODEL_TAG_LINE = re.compile(r"^(?P<indent>\s+model_tag:\s*)(?P<tag>\S+)(?P<rest>.*)$", re.M)


class PromotionError(RuntimeError):
    """The promotion or rollback cannot be done; the message says why."""


def _history_path(config: Path) -> Path:
    return config.with_name(f"{config.stem}.champions.json")


def _history(config: Path) -> dict[str, list[dict[str, Any]]]:
    path = _history_path(config)
    return json.loads(path.read_text()) if path.exists() else {}


def _name(tag: str) -> str:
    """The model (store) name of a tag: `name` of `name:version`."""
    return tag.split(":", 1)[0]


def resolve(tag: str) -> str:
    """The concrete `name:version` of a tag in the model store."""
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        return str(bentoml.models.get(tag).tag)
    except NotFound:
        raise PromotionError(f"{tag} is not in the model store") from None


def set_model_tag(config: Path, tag: str) -> None:
    """Pin `model_tag` in a configuration file, keeping every other line and comment."""
    text = config.read_text()
    if len(_MODEL_TAG_LINE.findall(text)) != 1:
        raise PromotionError(f"{config}: expected exactly one `model_tag:` line")
    updated = _MODEL_TAG_LINE.sub(lambda m: f"{m['indent']}{tag}{m['rest']}", text)
    write_atomically(config, updated)
    parse_settings(config)  # still a valid configuration


def promote(tag: str, config: Path) -> str:
    """Make `tag` (resolved to its version) the served model; returns the concrete tag."""
    new = resolve(tag)
    current = parse_settings(config).model_tag
    if _name(new) != _name(current):
        raise PromotionError(f"{config} serves {current}, not a version of {tag.split(':')[0]}")
    history = _history(config)
    entries = history.setdefault(_name(new), [])
    if not entries:  # remember what was served before the first promotion
        entries.append({"tag": resolve(current), "at": None})
    entries.append({"tag": new, "at": datetime.now(UTC).isoformat(timespec="seconds")})
    set_model_tag(config, new)
    write_atomically(_history_path(config), json.dumps(history, indent=2))
    return new


def rollback(config: Path) -> str:
    """Serve the champion before the current one again; returns its tag."""
    name = _name(parse_settings(config).model_tag)
    history = _history(config)
    entries = history.get(name, [])
    if len(entries) < 2:
        raise PromotionError(f"no earlier champion of {name} to roll back to")
    entries.pop()
    previous = resolve(entries[-1]["tag"])
    set_model_tag(config, previous)
    write_atomically(_history_path(config), json.dumps(history, indent=2))
    return previous


def main(argv: list[str] | None = None) -> int:
    """Promote TAG, or --rollback; print the tag now configured."""
    parser = argparse.ArgumentParser(prog="python -m training.promote", description=__doc__)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("tag", nargs="?", help="model store tag to promote (name:version)")
    group.add_argument("--rollback", action="store_true", help="back to the previous champion")
    args = parser.parse_args(argv)
    config = config_path()
    try:
        tag = rollback(config) if args.rollback else promote(args.tag, config)
    except PromotionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{config}: model_tag = {tag} (restart the service to serve it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
