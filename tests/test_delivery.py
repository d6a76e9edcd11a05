"""Delivery policy: what the workflows, the overlays, the SBOM and the scan settings promise.

The workflows run only on GitHub; these tests check here what can be checked offline:
pinned actions, least-privilege permissions, the gates between a commit and production,
the overlays rendered by a real kustomize and validated against Kubernetes' schemas, and
`make sbom`.
"""

from __future__ import annotations

import datetime
import http.server
import importlib.metadata
import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from deploy import render_manifests, smoke_check
from tests.commands import make
from tests.conftest import ROOT

GITHUB = ROOT / ".github"
WORKFLOWS = {p.name: p for p in sorted((GITHUB / "workflows").glob("*.yml"))}
ACTIONS = {p.parent.name: p for p in sorted((GITHUB / "actions").glob("*/action.yml"))}
DEPLOY_ACTION = "./.github/actions/deploy"
BIN = Path(sys.executable).parent
KUBERNETES_VERSION = kubernetes_validate.utils.latest_version()
FAKE_DIGEST = "sha256:" + "0123456789abcdef" * 4
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _jobs() -> dict[tuple[str, str], dict]:
    """Every job of every workflow, by (workflow file, job id)."""
    return {
        (name, job_id): job
        for name, path in WORKFLOWS.items()
        for job_id, job in _load(path)["jobs"].items()
    }


def _steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def _deploy_steps(job: dict) -> list[dict]:
    return [s for s in _steps(job) if s.get("uses") == DEPLOY_ACTION]


def _environment(job: dict) -> str | None:
    env = job.get("environment")
    return env.get("name") if isinstance(env, dict) else env


CI = _load(WORKFLOWS["ci.yml"])
CI_JOBS = CI["jobs"]


def _job_using_step(predicate) -> str:
    (job_id,) = [j for j, job in CI_JOBS.items() if any(predicate(s) for s in _steps(job))]
    return job_id


def _staging_and_production() -> tuple[str, str]:
    by_env = {}
    for job_id, job in CI_JOBS.items():
        for step in _deploy_steps(job):
            by_env[step["with"]["environment"]] = job_id
    return by_env["staging"], by_env["production"]


# --- the files are what GitHub and Dependabot accept ----------------------------------


@pytest.mark.parametrize(
    ("schema", "path"),
    [("vendor.github-workflows", p) for p in WORKFLOWS.values()]
    + [("vendor.github-actions", p) for p in ACTIONS.values()]
    + [("vendor.dependabot", GITHUB / "dependabot.yml")],
    ids=lambda v: v if isinstance(v, str) else v.relative_to(ROOT).as_posix(),
)
def test_matches_githubs_schema(schema, path):
    checked = subprocess.run(
        [BIN / "check-jsonschema", "--builtin-schema", schema, path],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


# --- supply chain of the workflows themselves ------------------------------------------


def _uses_lines() -> list[tuple[str, str]]:
    """(file, value) of every `uses:` line, the comment kept."""
    found = []
    for path in [*WORKFLOWS.values(), *ACTIONS.values()]:
        for line in path.read_text().splitlines():
            match = re.match(r"^\s*(?:-\s+)?uses:\s*(.+?)\s*$", line)
            if match:
                found.append((path.name, match.group(1)))
    return found


def _uses_parsed() -> list[str]:
    """Every `uses` value as YAML reads it (catches any the line scan would miss)."""
    values = []
    for path in WORKFLOWS.values():
        for job in _load(path)["jobs"].values():
            values += [job["uses"]] if "uses" in job else []
            values += [s["uses"] for s in _steps(job) if "uses" in s]
    for path in ACTIONS.values():
        values += [s["uses"] for s in _load(path)["runs"]["steps"] if "uses" in s]
    return values


def test_every_third_party_action_is_pinned_by_commit_sha():
    lines = _uses_lines()
    assert sorted(v.split(" #")[0] for _, v in lines) == sorted(_uses_parsed())
    third_party = [(f, v) for f, v in lines if not v.startswith("./")]
    assert third_party
    unpinned = [f"{f}: {v}" for f, v in third_party if not PINNED.match(v)]
    assert not unpinned, "pin by full commit SHA with `# vX.Y.Z`:\n" + "\n".join(unpinned)
    # One action, one pinned commit and version everywhere.
    versions: dict[str, set[str]] = {}
    for _, value in third_party:
        action, pin = value.split("@", 1)
        versions.setdefault(action, set()).add(pin)
    assert {a: v for a, v in versions.items() if len(v) > 1} == {}


def test_trivy_is_a_release_published_after_the_march_2026_compromise():
    trivy = [v for _, v in _uses_lines() if v.startswith("aquasecurity/trivy-action@")]
    assert trivy
    for value in trivy:
        assert value.split("# v")[1] not in {f"0.{n}.{p}" for n in range(35) for p in range(9)}
    # Trivy's own binary is pinned too, and never to the malicious 0.69.4-0.69.6.
    steps = [
        s
        for job in CI_JOBS.values()
        for s in _steps(job)
        if s.get("uses", "").startswith("aquasecurity/trivy-action@")
    ]
    versions = {s["with"]["version"] for s in steps}
    assert all(re.fullmatch(r"v\d+\.\d+\.\d+", v) for v in versions)
    assert not versions & {"v0.69.4", "v0.69.5", "v0.69.6"}


def test_every_job_declares_least_privilege_permissions():
    for path in WORKFLOWS.values():
        assert _load(path)["permissions"] == {}, f"{path.name}: no permission by default"
    for (name, job_id), job in _jobs().items():
        assert isinstance(job.get("permissions"), dict), f"{name}:{job_id} declares no permissions"
        assert set(job["permissions"].values()) <= {"read", "write", "none"}
        runs = "\n".join(s.get("run", "") for s in _steps(job))
        writes = {k for k, v in job["permissions"].items() if v == "write"}
        # Only signing needs GitHub's OIDC token; only pushing and signing write packages.
        assert ("id-token" in writes) == ("cosign sign" in runs), f"{name}:{job_id}"
        if "packages" in writes:
            assert "docker push" in runs or "cosign sign" in runs, f"{name}:{job_id}"
        assert writes <= {"packages", "id-token"}, f"{name}:{job_id}: {writes}"


# --- gates ----------------------------------------------------------------------------


def test_pip_audit_strict_runs_over_every_lock():
    job_id = _job_using_step(lambda s: "pip-audit" in s.get("run", ""))
    (step,) = [s for s in _steps(CI_JOBS[job_id]) if "pip-audit" in s.get("run", "")]
    run = step["run"]
    assert "--strict" in run.split()
    # A loop over the glob: every lock, present and future.
    assert re.search(r"for (\w+) in requirements/\*\.txt; do", run)
    assert '--requirement "$lock"' in run
    assert len(list((ROOT / "requirements").glob("*.txt"))) >= 3
    # The audit's failures fail the step (not only the last file's).
    assert "|| status=1" in run and 'exit "$status"' in run
    # pip-audit itself comes from the pinned delivery lock.
    installs = [s["run"] for s in _steps(CI_JOBS[job_id]) if "pip" in s.get("run", "")]
    assert any("-r requirements/delivery.txt" in r for r in installs)
    assert re.search(r"^pip_audit==", (ROOT / "requirements/delivery.txt").read_text(), re.M)
    # Nothing is published unless the audit passed.
    assert job_id in _needs_closure("sign")


def _needs_closure(job_id: str) -> set[str]:
    needs = CI_JOBS[job_id].get("needs", [])
    needs = [needs] if isinstance(needs, str) else needs
    return set(needs).union(*(_needs_closure(n) for n in needs)) if needs else set()


def test_trivy_fails_on_high_and_critical_with_the_reviewed_ignore_file():
    scans = [
        s
        for s in _steps(CI_JOBS["build"])
        if s.get("uses", "").startswith("aquasecurity/trivy-action@")
        and s["with"].get("exit-code") == "1"
    ]
    assert len(scans) == 1
    (scan,) = scans
    assert set(scan["with"]["severity"].split(",")) == {"HIGH", "CRITICAL"}
    assert scan["with"]["trivyignores"] == ".trivyignore.yaml"
    assert scan["with"].get("cache") is True  # the vulnerability database is cached
    build_steps = _steps(CI_JOBS["build"])
    push = next(i for i, s in enumerate(build_steps) if s.get("id") == "push")
    assert build_steps.index(scan) < push, "the scan gates the push"
    assert _ignore_file_problems(_load(ROOT / ".trivyignore.yaml")) == []


def _ignore_file_problems(doc: dict) -> list[str]:
    """Entries of a Trivy YAML ignore file without an id, a reason or an expiry date."""
    problems = []
    if not isinstance(doc, dict) or not isinstance(doc.get("vulnerabilities"), list):
        return ["no `vulnerabilities:` list"]
    limit = datetime.date.today() + datetime.timedelta(days=92)
    for kind in ("vulnerabilities", "misconfigurations", "secrets", "licenses"):
        for entry in doc.get(kind) or []:
            ident = entry.get("id", "?")
            if not entry.get("id"):
                problems.append(f"{kind}: an entry without id")
            if len(str(entry.get("statement", "")).strip()) < 20:
                problems.append(f"{ident}: no reason (`statement`)")
            expiry = entry.get("expired_at")
            if not isinstance(expiry, datetime.date) or expiry > limit:
                problems.append(f"{ident}: `expired_at` missing or more than 90 days out")
    return problems


def test_the_ignore_file_check_rejects_unreviewed_entries():
    bad = {
        "vulnerabilities": [
            {"id": "CVE-2026-1"},
            {
                "id": "CVE-2026-2",
                "statement": "not reachable from riskserve",
                "expired_at": datetime.date(2999, 1, 1),
            },
        ]
    }
    assert len(_ignore_file_problems(bad)) == 3
    assert _ignore_file_problems({}) == ["no `vulnerabilities:` list"]


def test_the_pushed_digest_is_signed_and_its_sbom_attested():
    build, sign = CI_JOBS["build"], CI_JOBS["sign"]
    assert build["outputs"]["digest"] == "${{ steps.push.outputs.digest }}"
    assert sign["needs"] == "build"
    assert sign["env"]["DIGEST"] == "${{ needs.build.outputs.digest }}"
    assert sign["outputs"]["digest"] == "${{ needs.build.outputs.digest }}"
    runs = [s.get("run", "") for s in _steps(sign)]
    assert any(r.startswith('cosign sign --yes "$IMAGE"') for r in runs)
    assert any("cosign attest --yes --type cyclonedx" in r for r in runs)
    ref = next(s for s in _steps(sign) if s.get("id") == "ref")["run"]
    assert "riskserve@$DIGEST" in ref  # by digest, never by tag
    assert any(s.get("uses", "").startswith("actions/upload-artifact@") for s in _steps(sign))


def test_every_deploy_goes_through_the_verifying_action():
    # No workflow talks to a cluster except through the deploy action.
    for path in WORKFLOWS.values():
        assert "kubectl apply" not in path.read_text(), path.name
    steps = _load(ACTIONS["deploy"])["runs"]["steps"]
    runs = [s.get("run", "") for s in steps]
    verify = next(i for i, r in enumerate(runs) if "cosign verify " in r)
    apply = next(i for i, r in enumerate(runs) if "kubectl apply" in r)
    smoke = next(i for i, r in enumerate(runs) if "deploy/smoke_check.py" in r)
    assert verify < apply < smoke
    assert "cosign verify-attestation --type cyclonedx" in runs[verify]
    assert "/.github/workflows/ci.yml@refs/heads/main" in runs[verify]
    assert "https://token.actions.githubusercontent.com" in runs[verify]
    # What is applied is rendered with the image the verify step checked, by digest.
    assert steps[apply]["env"]["IMAGE"] == "${{ steps.verify.outputs.image }}"
    assert "deploy/render_manifests.py" in runs[apply]
    assert "riskserve@$DIGEST" in runs[verify]


@pytest.mark.parametrize("key", sorted(_jobs(), key=str), ids=lambda k: f"{k[0]}:{k[1]}")
def test_a_deploy_job_runs_in_the_environment_it_deploys_to(key):
    job = _jobs()[key]
    for step in _deploy_steps(job):
        assert _environment(job) == step["with"]["environment"], "the environment's rules apply"
        assert step["with"]["kubeconfig"] == "${{ secrets.KUBECONFIG }}"  # the environment's
        assert _steps(job)[0]["uses"].startswith("actions/checkout@")


def test_production_deploys_the_digest_staging_verified():
    staging, production = _staging_and_production()
    assert _environment(CI_JOBS[staging]) == "staging"
    assert _environment(CI_JOBS[production]) == "production"
    assert CI_JOBS[production]["needs"] == staging
    (prod_deploy,) = _deploy_steps(CI_JOBS[production])
    assert prod_deploy["with"]["digest"] == f"${{{{ needs.{staging}.outputs.digest }}}}"
    # Staging's digest output is the one its deploy action verified and checked...
    out = re.fullmatch(
        r"\$\{\{ steps\.(\w+)\.outputs\.digest \}\}", CI_JOBS[staging]["outputs"]["digest"]
    )
    assert out
    (stage_deploy,) = _deploy_steps(CI_JOBS[staging])
    handoff = next(s for s in _steps(CI_JOBS[staging]) if s.get("id") == out.group(1))
    assert handoff["env"]["IMAGE"] == f"${{{{ steps.{stage_deploy['id']}.outputs.image }}}}"
    steps = _steps(CI_JOBS[staging])
    assert steps.index(stage_deploy) < steps.index(handoff)
    # ...with a load check, and that digest is the one the sign job signed.
    assert int(stage_deploy["with"]["load-seconds"]) > 0
    assert stage_deploy["with"]["digest"] == "${{ needs.sign.outputs.digest }}"
    assert "sign" in _needs_closure(staging)
    # Production never builds or pushes: it only deploys.
    text = yaml.safe_dump(CI_JOBS[production])
    for forbidden in ("make image", "docker build", "docker push", "bentoml build"):
        assert forbidden not in text
    # Deploys happen only from main.
    assert "refs/heads/main" in CI_JOBS["sign"]["if"]


def test_rollback_redeploys_a_signed_previous_digest_in_its_environment():
    rollback = _load(WORKFLOWS["rollback.yml"])
    assert set(rollback[True]) == {"workflow_dispatch"}  # manual only (YAML reads `on` as True)
    inputs = rollback[True]["workflow_dispatch"]["inputs"]
    assert set(inputs["environment"]["options"]) == set(render_manifests.environments())
    (job,) = rollback["jobs"].values()
    assert _environment(job) == "${{ inputs.environment }}"
    (step,) = _deploy_steps(job)
    assert step["with"]["environment"] == "${{ inputs.environment }}"
    target = next(s for s in _steps(job) if s.get("id") == "target")
    assert "riskserve\\.io/previous-image" in target["run"]
    assert step["with"]["digest"] == "${{ steps.target.outputs.digest }}"
    # The deploy action records what each deploy replaced under that annotation.
    assert "riskserve.io/previous-image=$previous" in ACTIONS["deploy"].read_text()
    # Same queue as the deploy jobs of that environment.
    _, production = _staging_and_production()
    assert job["concurrency"]["group"] == "deploy-${{ inputs.environment }}"
    assert CI_JOBS[production]["concurrency"]["group"] == "deploy-production"


def test_dependabot_covers_pip_actions_and_the_docker_base():
    updates = _load(GITHUB / "dependabot.yml")["updates"]
    by_ecosystem = {u["package-ecosystem"]: u for u in updates}
    assert set(by_ecosystem) == {"pip", "github-actions", "docker"}
    pip_dir = ROOT / by_ecosystem["pip"]["directory"].lstrip("/")
    assert sorted(p.name for p in pip_dir.glob("*.in")) == [
        "delivery.in",
        "dev.in",
        "mlserver.in",
        "serve.in",
        "spark.in",
    ]
    actions = by_ecosystem["github-actions"]["directories"]
    assert "/" in actions
    assert {f"/.github/actions/{name}" for name in ACTIONS} <= set(actions)
    docker_dir = ROOT / by_ecosystem["docker"]["directory"].lstrip("/")
    assert (docker_dir / "Dockerfile").is_file()


def test_the_declared_base_image_is_the_one_bentoml_builds_from():
    from bentoml._internal.container.frontend.dockerfile import CONTAINER_METADATA

    docker = _load(ROOT / "bentofile.yaml")["docker"]
    distro = docker.get("distro", "debian")
    expected = CONTAINER_METADATA[distro]["python"]["image"].format(
        spec_version=docker["python_version"]
    )
    (line,) = [
        x
        for x in (ROOT / "deploy/base-image/Dockerfile").read_text().splitlines()
        if x.startswith("FROM ")
    ]
    assert line.split()[1] == expected


# --- the overlays ---------------------------------------------------------------------


def _render(environment: str) -> list[dict]:
    image = f"ghcr.io/acme/riskserve@{FAKE_DIGEST}"
    return [d for d in yaml.safe_load_all(render_manifests.render(environment, image)) if d]


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_overlay_renders_with_kustomize_and_validates(environment):
    assert environment in render_manifests.environments()
    docs = _render(environment)
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        assert doc["metadata"]["namespace"] == f"riskserve-{environment}"
        assert doc["metadata"]["labels"]["riskserve.io/environment"] == environment
    by_kind = {d["kind"]: d for d in docs}
    assert {"Deployment", "Service", "ConfigMap", "HorizontalPodAutoscaler"} <= set(by_kind)
    pod = by_kind["Deployment"]["spec"]["template"]
    assert pod["metadata"]["labels"]["riskserve.io/environment"] == environment
    (container,) = pod["spec"]["containers"]
    assert container["image"] == f"ghcr.io/acme/riskserve@{FAKE_DIGEST}"
    # The settings are the base's ConfigMap, which configuration.yaml generates.
    base = _load(ROOT / "deploy/k8s/configmap.yaml")
    assert by_kind["ConfigMap"]["data"] == base["data"]
    hpa = by_kind["HorizontalPodAutoscaler"]["spec"]
    assert hpa["minReplicas"] <= hpa["maxReplicas"]
    if environment == "production":
        assert hpa["minReplicas"] >= 2
        assert (
            by_kind["PodDisruptionBudget"]["spec"]["selector"]
            == (by_kind["Deployment"]["spec"]["selector"])
        )


@pytest.mark.parametrize(
    "image",
    [
        "ghcr.io/acme/riskserve:latest",
        "ghcr.io/acme/riskserve",
        "ghcr.io/acme/riskserve@sha256:abc",
    ],
)
def test_render_refuses_anything_but_a_digest(image):
    with pytest.raises(SystemExit, match="by digest"):
        render_manifests.render("staging", image)


def test_render_refuses_an_unknown_environment():
    with pytest.raises(SystemExit, match="unknown environment"):
        render_manifests.render("qa", f"ghcr.io/acme/riskserve@{FAKE_DIGEST}")


# --- the smoke test and load check ----------------------------------------------------


class _Stub(http.server.BaseHTTPRequestHandler):
    """A riskserve look-alike; `mode` makes it misbehave."""

    mode = "ok"
    calls = 0

    def _reply(self, status: int, body: dict) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self):
        self._reply(200, {"status": "ready"})

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).calls += 1
        if self.mode == "errors" and self.calls > 5:
            return self._reply(500, {"error": "boom"})
        if self.path == "/predict":
            return self._reply(
                200,
                {
                    "prediction": 0,
                    "probability_of_default": 0.05,
                    "risk_category": "Low",
                    "model_version": "m:1",
                },
            )
        p = 0.06 if self.mode == "disagree" else 0.05
        return self._reply(200, {"results": [{"probability_of_default": p}]})

    def log_message(self, *args):
        pass


@pytest.mark.parametrize(
    ("mode", "load_seconds", "status"),
    [
        ("ok", "1", 0),
        ("disagree", "0", 1),
        ("errors", "1", 1),
    ],
)
def test_smoke_check_passes_a_good_service_and_fails_a_bad_one(mode, load_seconds, status):
    handler = type("Handler", (_Stub,), {"mode": mode, "calls": 0})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        args = [
            url,
            "--wait",
            "5",
            "--load-seconds",
            load_seconds,
            "--concurrency",
            "2",
            "--max-requests",
            "200",
        ]
        assert smoke_check.main(args) == status
    finally:
        server.shutdown()
        server.server_close()


# --- make sbom ------------------------------------------------------------------------


def _lock(path: Path) -> dict[str, str]:
    """name (normalized) -> version of a pinned requirements file."""
    pins = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def _declares_licence(meta) -> bool:
    return bool(
        meta.get("License-Expression")
        or (meta.get("License") or "").strip()
        or any(c.startswith("License ::") for c in meta.get_all("Classifier") or [])
    )


def _sbom_problems(bom: dict, lock: dict[str, str], declared: set[str]) -> list[str]:
    """Packages of the lock missing from the SBOM, at another version, or without the
    licence their metadata declares."""
    if bom.get("bomFormat") != "CycloneDX":
        return ["not a CycloneDX document"]
    components = {re.sub(r"[-_.]+", "-", c["name"]).lower(): c for c in bom["components"]}
    problems = []
    for name, version in lock.items():
        component = components.get(name)
        if component is None:
            problems.append(f"{name}: missing")
        elif component.get("version") != version:
            problems.append(f"{name}: {component.get('version')} instead of {version}")
        elif name in declared and not component.get("licenses"):
            problems.append(f"{name}: no licence")
        elif not component.get("purl", "").startswith(f"pkg:pypi/{name}@{version}"):
            problems.append(f"{name}: purl {component.get('purl')}")
    return problems


@pytest.mark.slow
def test_make_sbom_lists_every_serving_package_with_version_and_licence(tmp_path):
    out = tmp_path / "serve.cdx.json"
    made = make("sbom", timeout=600, SBOM=str(out))
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
    bom = json.loads(out.read_text())
    lock = _lock(ROOT / "requirements/serve.txt")
    site = next((ROOT / "build/sbom/serve-env/lib").glob("python3*/site-packages"))
    declared = {
        re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower()
        for d in importlib.metadata.distributions(path=[str(site)])
        if _declares_licence(d.metadata)
    }
    assert len(lock) > 50 and len(declared) > 50
    assert _sbom_problems(bom, lock, declared) == []
    assert bom["metadata"]["component"]["name"] == "riskserve"
    # The check can fail: a package dropped, a version changed, a licence lost.
    name = sorted(declared & set(lock))[0]
    broken = json.loads(out.read_text())
    broken["components"] = [
        c for c in broken["components"] if re.sub(r"[-_.]+", "-", c["name"]).lower() != name
    ]
    assert _sbom_problems(broken, lock, declared) == [f"{name}: missing"]
    for component in broken["components"]:
        component.pop("licenses", None)
    assert any("no licence" in p for p in _sbom_problems(broken, lock, declared))
