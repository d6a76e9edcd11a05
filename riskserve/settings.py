"""riskserve's runtime settings, read from `configuration.yaml`.

Every key is required and unknown keys are errors: the file is the one place defaults
live, and a typo fails at startup instead of being silently ignored. The `bentoml:`
section is BentoML's own per-service configuration; `service.py` hands it to the
`@bentoml.service` decorators, and BentoML's `BENTOML_CONFIG` file can still override it.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_ENV = "RISKSERVE_CONFIG"
# Serve another model than configuration's model_tag (`make serve MODEL=fraud_model`).
MODEL_ENV = "RISKSERVE_MODEL"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Batching(_Strict):
    """Adaptive micro-batching of single requests in the model runner."""

    max_batch_size: PositiveInt
    max_latency_ms: PositiveInt


class Audit(_Strict):
    """The audit log: `<log_dir>/audit/`, one file per process, rotated by size."""

    max_bytes: PositiveInt


class LivePSI(_Strict):
    """Per-feature PSI of recent requests, published as Prometheus gauges."""

    window: PositiveInt
    min_rows: PositiveInt
    interval_seconds: float = Field(gt=0)

    @model_validator(mode="after")
    def _fits(self) -> LivePSI:
        if self.min_rows > self.window:
            raise ValueError("live_psi.min_rows cannot exceed live_psi.window")
        return self


class RateLimit(_Strict):
    """Token bucket per API key, per process."""

    requests_per_second: float = Field(gt=0)
    burst: PositiveInt


class Backtest(_Strict):
    """When `make backtest` alerts (exit 1) on outcomes joined to the audit log."""

    max_auc_drop: float = Field(gt=0, lt=1)
    max_calibration_error: float = Field(gt=0, lt=1)


class Security(_Strict):
    """API keys and what stays open without one."""

    api_keys_file: Path | None
    protect_docs: bool
    protect_metrics: bool
    rate_limit: RateLimit | None

    def open_paths(self) -> set[str]:
        """Paths served without a key: the probes (riskserve's and the Open Inference
        Protocol's, which Kubernetes and KServe point at)."""
        paths = {"/livez", "/readyz", "/healthz", "/v2/health/live", "/v2/health/ready"}
        if not self.protect_docs:
            paths |= {"/", "/docs.json", "/schema.json", "/model_card"}
        if not self.protect_metrics:
            paths.add("/metrics")
        return paths

    def open_prefixes(self) -> tuple[str, ...]:
        """Path prefixes served without a key (Swagger UI's static files)."""
        return () if self.protect_docs else ("/static_content/", "/assets/")


class Challenger(_Strict):
    """A second model of the same family scored beside the champion (see the README)."""

    model_tag: str
    # shadow: scored and audited, never answered; split: answers its share of keys.
    mode: Literal["shadow", "split"]
    # Share of request keys routed to the challenger, in steps of 0.01.
    percent: float = Field(default=100, ge=0, le=100)
    # Header whose value is the routing key (e.g. X-Application-ID); None: the request id.
    key_header: str | None = None
    # A challenger call using more CPU time than this switches the challenger off.
    timeout_ms: float = Field(default=50, gt=0)


class Settings(_Strict):
    """The `riskserve:` section of `configuration.yaml`."""

    model_tag: str
    challenger: Challenger | None
    backend: Literal["onnx", "sklearn"]
    layout: Literal["inprocess", "runner"]
    # Per model name, cut-offs that replace the spec's (see riskserve.decisions).
    cutoffs: dict[str, dict[str, float]]
    # Reason codes on binary models' answers: on every decision but the best band
    # ("adverse"), on every one ("always"), or off ("never").
    reasons: Literal["adverse", "always", "never"]
    max_reasons: PositiveInt
    max_batch_records: PositiveInt
    max_body_bytes: PositiveInt
    batching: Batching
    parity_tolerance: float = Field(gt=0)
    log_dir: Path
    request_log: Literal["all", "errors"]
    audit: Audit
    live_psi: LivePSI
    backtest: Backtest
    security: Security
    bentoml: dict[str, dict[str, Any]]

    @property
    def audit_dir(self) -> Path:
        """Where the audit log files live (the drift job reads them from here)."""
        return self.log_dir / "audit"

    def service_config(self, service_name: str) -> dict[str, Any]:
        """BentoML's configuration for one service (`@bentoml.service(**...)`)."""
        return dict(self.bentoml.get(service_name, {}))


def config_path() -> Path:
    """`$RISKSERVE_CONFIG`, or `configuration.yaml` at the project (or bento) root."""
    return Path(os.environ.get(CONFIG_ENV) or PROJECT_ROOT / "configuration.yaml").resolve()


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def write_derived_config(target: Path, **riskserve: Any) -> Path:
    """Copy the active configuration to `target` with `riskserve:` keys changed.

    For replicas, tests and benchmarks that each need their own log folder or layout;
    nested keys merge (`security={"rate_limit": None}` keeps the other security keys).
    """
    data = yaml.safe_load(config_path().read_text())
    _merge(data["riskserve"], riskserve)
    target.write_text(yaml.safe_dump(data, sort_keys=False))
    parse_settings(target)  # refuse to hand out an invalid file
    return target


def parse_settings(path: Path) -> Settings:
    """Read and validate a configuration file; relative paths resolve against its folder."""
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict) or set(data) != {"riskserve", "bentoml"}:
        raise ValueError(f"{path}: expected exactly two sections, 'riskserve' and 'bentoml'")
    settings = Settings.model_validate({**data["riskserve"], "bentoml": data["bentoml"] or {}})
    if not settings.log_dir.is_absolute():
        settings = settings.model_copy(update={"log_dir": path.parent / settings.log_dir})
    keys_file = settings.security.api_keys_file
    if keys_file is not None and not keys_file.is_absolute():
        security = settings.security.model_copy(update={"api_keys_file": path.parent / keys_file})
        settings = settings.model_copy(update={"security": security})
    return settings


@functools.cache
def load_settings() -> Settings:
    """The process-wide settings (read once), with `$RISKSERVE_MODEL` applied."""
    settings = parse_settings(config_path())
    tag = os.environ.get(MODEL_ENV)
    if tag:
        settings = settings.model_copy(update={"model_tag": tag if ":" in tag else f"{tag}:latest"})
    return settings
