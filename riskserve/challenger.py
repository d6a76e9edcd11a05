"""The challenger: another version of the champion's model family, scored beside it.

It scores in the API process, in the same request, after the champion and before the
request's one audit write: ONNX Runtime scores a row in microseconds, so the answer is
not measurably delayed and every audit line carries both models (README, "Champion and
challenger"). Nothing it does can change a champion answer: a challenger that fails to
load, raises, or spends more than `timeout_ms` of CPU on a call is switched off for the
life of the process, logged once and counted, and the champion answers as if it were
not there.
A synchronous call cannot be abandoned half-way without a thread hand-off that costs
more than the call itself, so a slow call is detected when it returns, and is the last.

Routing: a request's key (the configured header, else the request id) is hashed with
keyed BLAKE2b (the key being the challenger's `model_tag`, so each experiment draws its
own share of keys) into a bucket 0..9999; buckets below `percent` * 100 go to the
challenger. The hash depends on nothing but the key and the configuration, so a key
meets the same model on every request, worker, replica and restart.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

import numpy as np

from riskserve.decisions import Policy
from riskserve.live_metrics import CHALLENGER, LiveMetrics
from riskserve.model_entry import LoadedModel, ModelUnavailable, load_model
from riskserve.reasons import Explainer
from riskserve.scores import Scores, score_rows
from riskserve.settings import Settings
from riskserve.spec import ModelSpec

logger = logging.getLogger("riskserve")

ROUTING_BUCKETS = 10_000
# The parts of a feature a request and the model's input depend on (not its wording).
_INPUT_KEYS = {"name", "kind", "ge", "gt", "le", "lt", "values"}


class FamilyMismatch(ValueError):
    """The challenger is not a version of the champion's model family."""


def bucket(key: bytes, salt: bytes) -> int:
    """The key's routing bucket, 0..9999, the same in every process and on every run."""
    digest = hashlib.blake2b(key, key=salt[:64], digest_size=8).digest()
    return int.from_bytes(digest, "big") % ROUTING_BUCKETS


def family_mismatch(champion: ModelSpec, challenger: ModelSpec) -> str:
    """What keeps `challenger` from standing in for `champion` ('' when nothing does).

    Same family: the same name, the same inputs and request rules (one request contract
    for both), and the same answers and decision policy with its cut-offs (one response
    contract, decisions comparable label for label, audit lines true for either).
    """

    def inputs(spec: ModelSpec) -> list[dict[str, Any]]:
        return [f.model_dump(include=_INPUT_KEYS) for f in spec.features]

    def answers(spec: ModelSpec) -> tuple[Any, ...]:
        return spec.task, spec.labels, spec.response, spec.decision

    for part, ours, theirs in (
        ("name", champion.name, challenger.name),
        ("features", inputs(champion), inputs(challenger)),
        ("rules", champion.rules, challenger.rules),
        ("answers", answers(champion), answers(challenger)),
    ):
        if ours != theirs:
            return f"different {part}"
    return ""


class Challenger:
    """The configured challenger in one process: on until it fails (module docstring)."""

    def __init__(
        self,
        settings: Settings,
        loaded: LoadedModel | None,
        metrics: LiveMetrics,
        problem: str = "",
    ) -> None:
        assert settings.challenger is not None
        self.config = settings.challenger
        self.loaded, self.metrics = loaded, metrics
        self.policy = (
            Policy(loaded.spec, settings.cutoffs.get(loaded.spec.name)) if loaded else None
        )
        self.routing_header = (self.config.key_header or "").lower() or None
        self._salt = self.config.model_tag.encode()
        self._below = round(self.config.percent * ROUTING_BUCKETS / 100)
        self.problem = ""
        if loaded is None:
            self.switch_off("load", problem)
        else:
            metrics.serving(loaded.tag, loaded.backend.name, CHALLENGER)

    @property
    def tag(self) -> str:
        """The challenger's concrete store tag (the configured one until it loads)."""
        return self.loaded.tag if self.loaded else self.config.model_tag

    @property
    def explainer(self) -> Explainer | None:
        """Its own reason-code explainer (loaded and checked like the champion's)."""
        return self.loaded.explainer if self.loaded else None

    def route(self, key: str) -> str | None:
        """The mode ("shadow" or "split") if this key goes to the challenger, else None."""
        if self.problem or bucket(key.encode(), self._salt) >= self._below:
            return None
        return self.config.mode

    def score(self, features: np.ndarray) -> Scores | None:
        """Its decisions on the rows, or None (and off) if it raised or was too slow."""
        assert self.loaded is not None and self.policy is not None
        # CPU time of this thread (ONNX Runtime scores on it with one intra-op thread):
        # wall time would also count moments the OS gave the core to other processes, and
        # switch a healthy challenger off on a saturated host.
        started = time.thread_time()
        try:
            scores = score_rows(self.policy, self.loaded.backend.predict_proba(features))
        except Exception as exc:  # whatever it raises, the champion's answer stands
            self.switch_off("error", f"{type(exc).__name__}: {exc}".splitlines()[0])
            return None
        took_ms = (time.thread_time() - started) * 1000
        if took_ms > self.config.timeout_ms:
            self.switch_off("timeout", f"a call took {took_ms:.1f} ms of CPU, over timeout_ms")
            return None
        return scores

    def switch_off(self, reason: str, detail: str) -> None:
        """Off until restart: logged once, counted in riskserve_challenger_errors_total."""
        if self.problem:  # a request routed before it went off (runner layout) failed too
            return
        self.problem = f"{reason}: {detail}"
        self.metrics.challenger_failed(reason)
        logger.error("challenger %s switched off until restart (%s)", self.tag, self.problem)

    def audit_entries(self, scores: Scores) -> list[dict[str, Any]]:
        """Per record, what the audit line keeps of a shadow score."""
        return [
            {"model_version": self.tag, "probability": p, "decision": d}
            for p, d in zip(scores.scored.tolist(), scores.answers(), strict=True)
        ]

    def describe(self) -> dict[str, Any]:
        """`/model_info`'s `challenger`: what is configured, and whether it is on."""
        config = self.config
        return {
            "tag": self.tag,
            "mode": config.mode,
            "percent": config.percent,
            "key_header": config.key_header,
            "timeout_ms": config.timeout_ms,
            "state": "off" if self.problem else "on",
            "problem": self.problem or None,
            "parity": self.loaded.info["parity"] if self.loaded else None,
            "explanations": self.loaded.info.get("explanations") if self.loaded else None,
        }


def open_challenger(
    settings: Settings, stored: Any, champion: ModelSpec, metrics: LiveMetrics
) -> Challenger:
    """Load and verify the configured challenger; one that cannot load comes back off.

    Raises FamilyMismatch for a model of another family: that is a configuration error,
    which keeps the service unready (README), not a fault to route around.
    """
    assert settings.challenger is not None
    tag = settings.challenger.model_tag
    try:
        loaded = load_model(
            stored, tag, settings.backend, settings.parity_tolerance, settings.reasons
        )
    except ModelUnavailable as exc:
        return Challenger(settings, None, metrics, str(exc))
    mismatch = family_mismatch(champion, loaded.spec)
    if mismatch:
        raise FamilyMismatch(
            f"configuration: challenger {loaded.tag} is not a version of {champion.name} "
            f"({mismatch}); name a {champion.name} version or set challenger: null"
        )
    return Challenger(settings, loaded, metrics)
