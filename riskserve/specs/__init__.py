"""The models riskserve knows, by store name."""

from __future__ import annotations

from riskserve.spec import ModelSpec
from riskserve.specs.credit import CREDIT

SPECS: dict[str, ModelSpec] = {spec.name: spec for spec in (CREDIT,)}


def spec_for_tag(tag: str) -> ModelSpec:
    """The spec of the model a store tag (`name` or `name:version`) refers to."""
    name = tag.split(":", 1)[0]
    try:
        return SPECS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known models: {sorted(SPECS)}") from None
