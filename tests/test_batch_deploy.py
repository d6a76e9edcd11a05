"""The scoring CronJob: valid for Kubernetes, and running the file scorer as the image
holds it, on the service's configuration and image."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import yaml

from riskserve.score_files import BAD_INPUT, REJECTED, arguments
from tests.test_container import BENTO_PATH
from tests.test_deploy_files import CONTAINER, K8S, KUBERNETES_VERSION, MANIFESTS

JOBS = K8S / "jobs"
KUSTOMIZATION = yaml.safe_load((JOBS / "kustomization.yaml").read_text())
(CRONJOB,) = [yaml.safe_load((JOBS / name).read_text()) for name in KUSTOMIZATION["resources"]]
JOB = CRONJOB["spec"]["jobTemplate"]["spec"]
POD = JOB["template"]["spec"]
(SCORE,) = POD["containers"]


def test_cronjob_matches_kubernetes_schema():
    kubernetes_validate.validate(CRONJOB, KUBERNETES_VERSION, strict=True)


def test_cronjob_runs_the_file_scorer_from_the_bento_on_its_volume():
    assert SCORE["command"] == ["python", "-m", "riskserve.score_files"]
    args = arguments("score", "").parse_args(SCORE["args"])
    assert SCORE["workingDir"] == f"{BENTO_PATH}/src"  # where the bento keeps riskserve/
    assert args.store == Path(BENTO_PATH) / "models"  # and the models it packs
    volumes = {v["name"]: v for v in POD["volumes"]}
    data = [m for m in SCORE["volumeMounts"] if "persistentVolumeClaim" in volumes[m["name"]]]
    assert len(data) == 1 and not data[0].get("readOnly")
    assert args.input.is_relative_to(data[0]["mountPath"])
    assert args.output.is_relative_to(data[0]["mountPath"])


def test_cronjob_shares_the_services_configuration_image_and_user():
    volumes = {v["name"]: v for v in POD["volumes"]}
    env = {e["name"]: e["value"] for e in SCORE["env"]}
    (config,) = [m for m in SCORE["volumeMounts"] if "configMap" in volumes[m["name"]]]
    assert (
        volumes[config["name"]]["configMap"]["name"] == MANIFESTS["ConfigMap"]["metadata"]["name"]
    )
    assert env["RISKSERVE_CONFIG"] == f"{config['mountPath']}/configuration.yaml"
    service = yaml.safe_load((K8S / "kustomization.yaml").read_text())["images"]
    assert SCORE["image"] == CONTAINER["image"] and KUSTOMIZATION["images"] == service
    deployment_pod = MANIFESTS["Deployment"]["spec"]["template"]["spec"]
    assert POD["securityContext"] == deployment_pod["securityContext"]


def test_rejected_rows_and_bad_input_are_not_retried():
    (rule,) = JOB["podFailurePolicy"]["rules"]
    assert rule["action"] == "FailJob" and POD["restartPolicy"] == "Never"
    assert rule["onExitCodes"] == {
        "containerName": SCORE["name"],
        "operator": "In",
        "values": [REJECTED, BAD_INPUT],
    }
