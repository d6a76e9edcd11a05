"""`python -m training.promote`: choose which model version production serves, or roll back.

The champion is what `configuration.yaml` names in `riskserve.model_tag`, pinned to a
version, so what is served, what `bentoml build` packs into an image and what the
repository records are one fact. Promotion rewrites only that line (comments survive)
and appends to a history beside the configuration file (`<name>.champions.json`: one
history per deployment, even when several share a model store), which is what rollback
walks back. A running service picks the change up at its next (rolling) restart.

With no tag, the configured challenger is promoted: `model_tag` becomes its version and
`challenger` becomes null (the history records where the champion came from). Rollback
restores the previous champion only, never a challenger: a rollback usually means the
new model was wrong, and putting it back in a split would send it traffic again.
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

# The riskserve section's own keys are indented by two spaces (the challenger's by more).
_MODEL_TAG_LINE = re.compile(r"^(?P<indent>  model_tag:[ \t]*)(?P<tag>\S+)(?P<rest>.*)$", re.M)
# The `challenger:` key with its value: the rest of the line and any deeper-indented lines.
_CHALLENGER_BLOCK = re.compile(r"^  challenger:.*\n(?:   +.*\n)*", re.M)


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


def clear_challenger(config: Path) -> None:
    """Set `challenger: null` in a configuration file, keeping every other line."""
    text = config.read_text()
    if len(_CHALLENGER_BLOCK.findall(text)) != 1:
        raise PromotionError(f"{config}: expected exactly one `challenger:` key")
    write_atomically(config, _CHALLENGER_BLOCK.sub("  challenger: null\n", text))
    parse_settings(config)


def promote(tag: str | None, config: Path) -> str:
    """Make `tag` (resolved to its version; None: the configured challenger) the served
    model; returns the concrete tag. Promoting the challenger's version clears it."""
    settings = parse_settings(config)
    challenger = settings.challenger
    wanted = tag or (challenger.model_tag if challenger else None)
    if wanted is None:
        raise PromotionError(f"{config} has no challenger to promote; name a TAG")
    new = resolve(wanted)
    current = settings.model_tag
    if _name(new) != _name(current):
        raise PromotionError(f"{config} serves {current}, not a version of {_name(new)}")
    if challenger and tag and challenger.model_tag not in (tag, new):
        challenger = None  # another version is promoted: the challenger stays configured
    history = _history(config)
    entries = history.setdefault(_name(new), [])
    if not entries:  # remember what was served before the first promotion
        entries.append({"tag": resolve(current), "at": None})
    entry: dict[str, Any] = {"tag": new, "at": datetime.now(UTC).isoformat(timespec="seconds")}
    if challenger:
        entry["from_challenger"] = challenger.model_dump()
    entries.append(entry)
    set_model_tag(config, new)
    if challenger:
        clear_challenger(config)
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
    """Promote TAG (or the challenger), or --rollback; print the tag now configured."""
    parser = argparse.ArgumentParser(prog="python -m training.promote", description=__doc__)
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "tag", nargs="?", help="model store tag to promote (name:version); none: the challenger"
    )
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
