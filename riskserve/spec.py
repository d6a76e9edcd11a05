"""Feature specs: the one declaration of a model's inputs.

A `ModelSpec` names each feature with its type, bounds and description, plus the
cross-field rules and an example record. Everything else derives from it: the
Pydantic request schema (and so the OpenAPI docs and the 4xx errors), the training
column order, the ONNX input signature and the features the drift job compares.
Data generators and estimators belong to `training/`, which imports specs from here.
"""

from __future__ import annotations

import dataclasses
import json
import math
import operator
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, create_model, field_validator
from pydantic_core import PydanticCustomError

# Integers are scored as float64; beyond 2**53 they stop being exact, and far beyond
# they overflow. An int feature without an upper bound gets this one.
MAX_EXACT_INT = 2**53

_PYTHON_TYPES = {"int": int, "float": float}


@dataclasses.dataclass(frozen=True)
class Feature:
    """One model input: its JSON type and the bounds a request must respect."""

    name: str
    kind: str  # "int" or "float"
    description: str
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    # Sensitive features are hashed in the audit log (and so left out of its drift input).
    sensitive: bool = False

    def __post_init__(self) -> None:
        if self.kind not in _PYTHON_TYPES:
            raise ValueError(f"feature {self.name}: unknown kind {self.kind!r}")

    @property
    def upper(self) -> float:
        """The inclusive upper bound requests are checked against."""
        if self.le is not None:
            return self.le
        return MAX_EXACT_INT if self.kind == "int" else float("inf")

    def field(self, example: Any) -> tuple[type, Any]:
        """The Pydantic field (type, FieldInfo) enforcing this feature's bounds."""
        le = self.upper if math.isfinite(self.upper) else None

        def openapi_30(schema: dict[str, Any]) -> None:
            # BentoML publishes OpenAPI 3.0: a singular `example`, and an exclusive bound
            # as `minimum` plus a boolean (Pydantic writes JSON Schema 2020-12's number).
            schema["example"] = example
            if "exclusiveMinimum" in schema:
                schema["minimum"], schema["exclusiveMinimum"] = schema["exclusiveMinimum"], True

        return _PYTHON_TYPES[self.kind], Field(
            ge=self.ge, gt=self.gt, le=le, description=self.description,
            json_schema_extra=openapi_30,
        )


@dataclasses.dataclass(frozen=True)
class AtMostOtherMinus:
    """Cross-field rule `field <= other - offset` (e.g. history cannot predate adulthood)."""

    field: str
    other: str
    offset: float

    @property
    def rule(self) -> str:
        """The rule as users read it in errors and docs."""
        return f"{self.field} <= {self.other} - {self.offset:g}"

    def validator(self) -> Any:
        """A Pydantic field validator reporting a violation under `self.field`."""

        def check(cls: type, value: Any, info: ValidationInfo) -> Any:
            other = info.data.get(self.other)
            if other is not None and value > other - self.offset:
                raise PydanticCustomError(
                    "cross_field",
                    "Input should satisfy {rule} (got {value} with {other_name}={other})",
                    {"rule": self.rule, "value": value, "other_name": self.other, "other": other},
                )
            return value

        return field_validator(self.field)(check)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A model's inputs and target: what the service accepts and training produces."""

    name: str
    title: str
    features: tuple[Feature, ...]
    target: str
    example: Mapping[str, Any]
    rules: tuple[AtMostOtherMinus, ...] = ()

    def __post_init__(self) -> None:
        names = self.feature_names
        if set(self.example) != set(names):
            raise ValueError(f"{self.name}: example keys must be exactly {names}")
        for rule in self.rules:
            if rule.field not in names or rule.other not in names:
                raise ValueError(f"{self.name}: rule {rule.rule} names an unknown feature")
            if names.index(rule.other) > names.index(rule.field):
                raise ValueError(f"{self.name}: rule {rule.rule} must follow {rule.other}")

    @property
    def feature_names(self) -> list[str]:
        """Feature names in training (and ONNX input) column order."""
        return [f.name for f in self.features]

    def request_model(self) -> type[BaseModel]:
        """The strict Pydantic model of one record: every field required, nothing extra."""
        fields = {f.name: f.field(self.example[f.name]) for f in self.features}
        validators = {f"rule_{i}": r.validator() for i, r in enumerate(self.rules)}
        return create_model(
            self.title.replace(" ", ""),
            __config__=ConfigDict(
                strict=True,
                extra="forbid",
                allow_inf_nan=False,
                json_schema_extra={"example": dict(self.example)},
            ),
            __doc__=f"One {self.title.lower()}. Cross-field rules: "
            + (", ".join(r.rule for r in self.rules) or "none")
            + ".",
            __validators__=validators,
            **fields,
        )

    def to_matrix(self, records: Sequence[BaseModel]) -> np.ndarray:
        """Validated records as a float64 matrix in feature order (the ONNX input)."""
        row = operator.attrgetter(*self.feature_names)
        return np.array([row(r) for r in records], dtype=np.float64).reshape(
            len(records), len(self.features)
        )

    def admissible(self, features: np.ndarray) -> np.ndarray:
        """Which rows (in feature order) a request could carry: every bound and rule holds.

        Training data need not respect the request rules (the synthetic credit data has
        applicants of 21 with 29 years of history); drift must be measured against the
        rows the service can actually receive.
        """
        ok = np.ones(len(features), dtype=bool)
        for column, f in zip(features.T, self.features, strict=True):
            ok &= column <= f.upper
            if f.ge is not None:
                ok &= column >= f.ge
            if f.gt is not None:
                ok &= column > f.gt
        names = self.feature_names
        for rule in self.rules:
            field, other = names.index(rule.field), names.index(rule.other)
            ok &= features[:, field] <= features[:, other] - rule.offset
        return ok

    def to_json(self) -> dict[str, Any]:
        """The spec as data, stored with each trained model and shown by `model_info`."""
        return {
            "name": self.name,
            "target": self.target,
            "features": [
                {k: v for k, v in dataclasses.asdict(f).items() if v is not None}
                for f in self.features
            ],
            "rules": [r.rule for r in self.rules],
            "example": dict(self.example),
        }

    def fingerprint(self) -> str:
        """A stable JSON text of the spec, to check a stored model against this code."""
        return json.dumps(self.to_json(), sort_keys=True)
