"""The shipped Grafana dashboard and Prometheus alerts refer to metrics the service exports."""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest
import yaml

from tests.conftest import ROOT
from tests.server import fire
from tests.test_http import valid_records

pytestmark = pytest.mark.slow

ALERTS = ROOT / "deploy" / "prometheus" / "riskserve-alerts.yaml"
DASHBOARD = ROOT / "deploy" / "grafana" / "riskserve-dashboard.json"
METRIC = re.compile(r"\b((?:riskserve|bentoml)_[a-z_]+)")


def _alert_rules() -> list[dict]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _dashboard_exprs() -> list[str]:
    return [t["expr"] for p in json.loads(DASHBOARD.read_text())["panels"] for t in p["targets"]]


def test_alert_rules_are_complete():
    rules = _alert_rules()
    names = {r["alert"] for r in rules}
    assert {"RiskserveFeatureDriftSignificant", "RiskserveServerErrors"} <= names
    for rule in rules:
        assert rule["expr"] and rule["for"]
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]


def test_dashboard_panels_have_unique_ids_and_queries():
    panels = json.loads(DASHBOARD.read_text())["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    assert all(p["targets"] for p in panels)


def _exported(server, runner_server) -> set[str]:
    # Live PSI is published once the window holds min_rows and the interval has passed.
    records = valid_records(600, seed=31)
    fire(server.url, [("/predict_batch", {"records": records}, "fill")])
    deadline = time.monotonic() + 30
    text = ""
    while "riskserve_feature_psi{" not in text and time.monotonic() < deadline:
        fire(server.url, [("/predict", records[0], "tick")])
        text = httpx.get(f"{server.url}/metrics").text
        time.sleep(0.5)
    fire(runner_server.url, [("/predict", records[0], "runner")])
    text += httpx.get(f"{runner_server.url}/metrics").text
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}


def test_every_referenced_metric_is_exported(server, runner_server):
    exported = _exported(server, runner_server)
    referenced = {
        name
        for expr in [r["expr"] for r in _alert_rules()] + _dashboard_exprs()
        for name in METRIC.findall(expr)
    }
    assert referenced, "no metric names found"
    assert referenced <= exported, f"not exported: {sorted(referenced - exported)}"
