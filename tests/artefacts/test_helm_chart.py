"""The Helm chart in deploy/helm/sagemaker-training-exporter, rendered by Helm's own engine.

No helm binary is needed: helm-python-sdk binds libhelm_c, a C ABI over Helm v4's Go SDK
(helm.sh/helm/v4, linked in). `Chart.render()` is what `helm template` runs: the values are
coalesced with the chart's defaults and checked against values.schema.json
(chartutil.ToRenderValues), then the Go templates are rendered by helm.sh/helm/v4/pkg/engine,
with sprig, include/tpl/required/fail and .Files. Offline: no cluster, no network.

Each values set is rendered once per process (a cache). Every object is then checked by what would
consume it: the Kubernetes OpenAPI schemas (kubernetes-validate, strict), the real
prometheus-operator validators for the ServiceMonitor and PrometheusRule (tests/support/crds.py:
an npm package's, generated from prometheus-operator's API types; unknown fields refused as
`kubectl apply --validate=strict` would), the exporter's own flag, config-file and web-config
parsers, `helm lint --strict`; and against what it must agree with:
deploy/kubernetes/ (the same pod, probes, ports and security context) and alerts/*.rules.yml
(the chart's copy of the rule groups).
"""

from __future__ import annotations

import copy
import functools
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.support import crds
from tests.support.pki import make_cert

try:
    import helm_python as helm
except ImportError as exc:  # fail, never skip: the engine is part of the test extra
    raise ImportError(
        "helm-python-sdk is missing (Helm's template engine): pip install -e '.[test]'"
    ) from exc

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "sagemaker-training-exporter"
K8S = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.30.0"  # as tests/artefacts/test_deploy.py
RELEASE, NAMESPACE = "sagemaker-training-exporter", "monitoring"
CUSTOM_KINDS = frozenset({"ServiceMonitor", "PrometheusRule"})

Obj = dict[str, Any]


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _values_sets() -> dict[str, Obj]:
    all_toggles = _yaml(CHART / "ci" / "all-toggles-values.yaml")
    statefulset = copy.deepcopy(all_toggles)
    statefulset["workload"] = {"kind": "StatefulSet"}
    return {
        "default": {},
        "kustomize": _yaml(CHART / "ci" / "kustomize-values.yaml"),
        "all-toggles": all_toggles,
        "statefulset": statefulset,
    }


VALUES = _values_sets()


class Rendered:
    """One `helm template` of the chart: its objects by kind and its NOTES.txt."""

    def __init__(self, manifests: dict[str, str]) -> None:
        self.notes = ""
        self.objects: list[Obj] = []
        for path, text in sorted(manifests.items()):
            if path.endswith("NOTES.txt"):
                self.notes = text
                continue
            self.objects += [d for d in yaml.safe_load_all(text) if d]

    def kinds(self) -> list[str]:
        return sorted(o["kind"] for o in self.objects)

    def one(self, kind: str) -> Obj:
        (obj,) = [o for o in self.objects if o["kind"] == kind]
        return obj


# Rendered once per values set and process (a cache, not a module fixture: under xdist each
# worker that gets some of these tests renders what they use, ~10 ms a values set).
@functools.cache
def _chart() -> Any:
    return helm.Chart.load(CHART)


def _render(values: Obj) -> Rendered:
    return Rendered(_chart().render(values, name=RELEASE, namespace=NAMESPACE))


@functools.cache
def rendered(name: str) -> Rendered:
    return _render(VALUES[name])


# ---------------------------------------------------------------- the engine, lint


def test_the_engine_is_helm_v4() -> None:
    # the Go module version linked into libhelm_c, not a Python re-implementation
    assert re.fullmatch(r"v4\.\d+\.\d+", helm.helm_sdk_version()), helm.helm_sdk_version()


@pytest.mark.parametrize("name", ["default", "all-toggles"])
def test_helm_lint_strict_is_clean(name: str) -> None:
    report = helm.lint(CHART, VALUES[name], strict=True, kube_version=f"v{KUBERNETES_VERSION}")
    problems = [m for m in report["messages"] if m["severity"] >= 2]  # warnings and errors
    assert not problems and not report["errors"], report


def test_chart_version_follows_the_project() -> None:
    meta = _yaml(CHART / "Chart.yaml")
    project = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert project and meta["appVersion"] == project.group(1)


# ---------------------------------------------------------------- the values schema


def _schema() -> Obj:
    schema: Obj = json.loads((CHART / "values.schema.json").read_text())
    return schema


def test_values_files_match_the_values_schema() -> None:
    schema = _schema()
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["additionalProperties"] is False
    jsonschema.Draft7Validator.check_schema(schema)
    defaults = _yaml(CHART / "values.yaml")
    # the schema covers every top-level value, and no value it does not know (global: subchart)
    assert set(schema["properties"]) - {"global"} == set(defaults)
    for path in [CHART / "values.yaml", *sorted((CHART / "ci").glob("*.yaml"))]:
        jsonschema.Draft7Validator(schema).validate(_yaml(path))


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"replicas": "two"}, "/replicas"),
        ({"replica": 2}, "replica"),  # a typo of a top-level value
        ({"workload": {"kind": "DaemonSet"}}, "/workload/kind"),
        ({"serviceMonitor": {"interval": "30 seconds"}}, "/serviceMonitor/interval"),
        ({"extraArgs": ["region=us-west-2"]}, "/extraArgs/0"),
        ({"webConfig": {"http_server_config": {}}}, "http_server_config"),
    ],
    ids=["type", "unknown-top-level", "enum", "duration", "flag-form", "web-config-key"],
)
def test_the_engine_refuses_values_against_the_schema(values: Obj, where: str) -> None:
    with pytest.raises(helm.HelmValuesError, match=re.escape(where)):
        _chart().render(values, name=RELEASE, namespace=NAMESPACE)
    with pytest.raises(jsonschema.ValidationError):  # and the file itself says the same
        jsonschema.validate(_yaml(CHART / "values.yaml") | values, _schema())


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"config": {"retention": "1h"}}, "config.retention is overridden by the --retention"),
        ({"config": {"poll_interval": "1m"}}, "config.poll-interval is overridden"),
        (
            {"podDisruptionBudget": {"enabled": True, "minAvailable": 1, "maxUnavailable": 1}},
            "minAvailable or maxUnavailable, not both",
        ),
    ],
    ids=["config-vs-flag", "config-underscore-key", "pdb-both"],
)
def test_contradictory_values_fail_the_render(values: Obj, message: str) -> None:
    with pytest.raises(helm.HelmRenderError, match=re.escape(message)):
        _chart().render(values, name=RELEASE, namespace=NAMESPACE)


# ---------------------------------------------------------------- Kubernetes schemas


@pytest.mark.parametrize("name", list(VALUES))
def test_every_object_matches_the_kubernetes_schema(name: str) -> None:
    objects = [o for o in rendered(name).objects if o["kind"] not in CUSTOM_KINDS]
    assert objects
    for obj in objects:
        # strict: unknown fields are errors, as with `kubectl apply --validate=strict`
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


#: Each custom resource as rendered, and two edits of it the validators must refuse (so they are
#: not vacuous): a misspelt field (an unknown field: the strict check) and a malformed duration
#: (the schema's own pattern).
CRD_EDITS: dict[str, dict[str, tuple[str, str, Any]]] = {
    "ServiceMonitor": {
        "misspelt": ("/spec/endpoints/0", "scrapeTimout", "10s"),
        "invalid": ("/spec/endpoints/0", "interval", "30 seconds"),
    },
    "PrometheusRule": {
        "misspelt": ("/spec/groups/0/rules/0", "keepFiringFor", "10m"),
        "invalid": ("/spec/groups/0/rules/0", "for", "10 minutes"),
    },
}
CRD_VALUES = ("kustomize", "all-toggles", "statefulset")


def _edited(obj: Obj, where: str, field: str, value: Any) -> Obj:
    out = copy.deepcopy(obj)
    node: Any = out
    for part in where.strip("/").split("/"):
        node = node[int(part) if isinstance(node, list) else part]
    node[field] = value
    return out


@functools.cache
def _crd_problems() -> dict[tuple[str, str, str], list[str]]:
    """(values set, kind, "rendered" or an edit) -> what prometheus-operator's validators say.

    All in one node process (per xdist worker): its start-up is most of the cost."""
    cases: dict[tuple[str, str, str], Obj] = {}
    for name in CRD_VALUES:
        for kind, edits in CRD_EDITS.items():
            obj = rendered(name).one(kind)
            cases[name, kind, "rendered"] = obj
            for edit, (where, field, value) in edits.items():
                cases[name, kind, edit] = _edited(obj, where, field, value)
    return dict(zip(cases, crds.problems(list(cases.values())), strict=True))


@pytest.mark.parametrize("name", CRD_VALUES)
@pytest.mark.parametrize("kind", sorted(CUSTOM_KINDS))
def test_custom_resources_match_the_prometheus_operator_crds(name: str, kind: str) -> None:
    assert rendered(name).one(kind)["apiVersion"] == "monitoring.coreos.com/v1"
    said = _crd_problems()
    # strict: unknown fields are refused too, as `kubectl apply --validate=strict` would
    assert said[name, kind, "rendered"] == []
    where, field, _ = CRD_EDITS[kind]["misspelt"]
    assert said[name, kind, "misspelt"] == [f"{where}/{field} is not a field of the schema"]
    where, field, _ = CRD_EDITS[kind]["invalid"]
    (problem,) = said[name, kind, "invalid"]
    assert problem.startswith(f"{where}/{field} must match pattern"), problem


# ---------------------------------------------------------------- same as deploy/kubernetes


def _kustomize() -> dict[str, Obj]:
    docs = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            for doc in yaml.safe_load_all(path.read_text()):
                if doc:
                    docs[doc["kind"]] = doc
    return docs


def test_default_rendering_has_the_kustomize_objects() -> None:
    kustomize = sorted(_kustomize())
    # the prometheus-operator objects are opt-in (their CRDs may be absent), as in
    # prometheus-community's charts; ci/kustomize-values.yaml turns them on
    assert rendered("default").kinds() == sorted(set(kustomize) - CUSTOM_KINDS)
    assert rendered("kustomize").kinds() == kustomize


def test_the_pod_is_the_kustomize_pod() -> None:
    k = _kustomize()["Deployment"]
    for name in ("default", "kustomize"):
        c = rendered(name).one("Deployment")
        for field in ("replicas", "revisionHistoryLimit", "strategy"):
            assert c["spec"][field] == k["spec"][field], field
        kpod, cpod = k["spec"]["template"]["spec"], c["spec"]["template"]["spec"]
        for field in ("automountServiceAccountToken", "enableServiceLinks", "securityContext"):
            assert cpod[field] == kpod[field], field
        assert cpod["volumes"] == kpod["volumes"]
        (kc,), (cc,) = kpod["containers"], cpod["containers"]
        for field in (
            "name",
            "image",
            "imagePullPolicy",
            "args",
            "ports",
            "readinessProbe",
            "livenessProbe",
            "resources",
            "volumeMounts",
        ):
            assert cc[field] == kc[field], field
        # the chart repeats the pod's non-root user and seccomp profile on the container, so
        # loosening podSecurityContext alone does not loosen the container
        inherited = ("runAsNonRoot", "runAsUser", "runAsGroup", "seccompProfile")
        effective = {f: kpod["securityContext"][f] for f in inherited} | kc["securityContext"]
        assert cc["securityContext"] == effective
        sa = rendered(name).one("ServiceAccount")
        assert cpod["serviceAccountName"] == sa["metadata"]["name"]
        labels = c["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "sagemaker-training-exporter"


def test_service_and_monitors_are_the_kustomize_ones() -> None:
    k, r = _kustomize(), rendered("kustomize")
    service = r.one("Service")
    assert {f: service["spec"][f] for f in ("type", "ports")} == {
        f: k["Service"]["spec"][f] for f in ("type", "ports")
    }
    pod_labels = r.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert (
        r.one("ServiceAccount")["metadata"]["annotations"]
        == k["ServiceAccount"]["metadata"]["annotations"]
    )
    monitor = r.one("ServiceMonitor")
    assert monitor["spec"]["endpoints"] == k["ServiceMonitor"]["spec"]["endpoints"]
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    # kustomize's job label is its Service's name; the chart's, the Service label that
    # spec.jobLabel names. The shipped alerts select that job.
    job = service["metadata"]["labels"][monitor["spec"]["jobLabel"]]
    assert job == k["Service"]["metadata"]["name"] == "sagemaker-exporter"
    assert f'up{{job="{job}"}}' in (ROOT / "alerts" / "sagemaker-exporter.rules.yml").read_text()
    assert r.one("PrometheusRule")["spec"] == k["PrometheusRule"]["spec"]


# ---------------------------------------------------------------- the alert rules' copy


def test_the_charts_rule_files_are_alerts_verbatim() -> None:
    ours = {p.name: p.read_bytes() for p in (CHART / "files" / "alerts").glob("*")}
    theirs = {p.name: p.read_bytes() for p in (ROOT / "alerts").glob("*.rules.yml")}
    assert theirs, "alerts/*.rules.yml rule files are expected"
    stale = sorted(set(ours.items()) ^ set(theirs.items()))
    assert not stale, (
        f"{CHART.relative_to(ROOT)}/files/alerts/ differs from alerts/ in "
        f"{sorted({n for n, _ in stale})}: rm {CHART.relative_to(ROOT)}/files/alerts/* && "
        f"cp alerts/*.rules.yml {CHART.relative_to(ROOT)}/files/alerts/"
    )


def test_prometheusrule_holds_every_rule_group() -> None:
    expected = [
        g for p in sorted((ROOT / "alerts").glob("*.rules.yml")) for g in _yaml(p)["groups"]
    ]
    assert rendered("kustomize").one("PrometheusRule")["spec"]["groups"] == expected
    extra = VALUES["all-toggles"]["prometheusRule"]["additionalGroups"]
    assert rendered("all-toggles").one("PrometheusRule")["spec"]["groups"] == expected + extra


# ---------------------------------------------------------------- the exporter accepts it


def _container(r: Rendered) -> Obj:
    (workload,) = [o for o in r.objects if o["kind"] in ("Deployment", "StatefulSet")]
    (c,) = workload["spec"]["template"]["spec"]["containers"]
    container: Obj = c
    return container


def _payload(obj: Obj) -> dict[str, str]:
    """A ConfigMap's data or a Secret's stringData."""
    data: dict[str, str] = obj.get("data") or obj.get("stringData") or {}
    return data


def _file(r: Rendered, kind: str, tmp_path: Path) -> Path:
    ((key, text),) = _payload(r.one(kind)).items()
    path = tmp_path / key
    path.write_text(text)
    return path


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    crt, pem = tmp_path / "tls.crt", tmp_path / "tls.key"
    make_cert(crt, pem, RELEASE)
    return crt, pem


@pytest.mark.parametrize("name", list(VALUES))
def test_the_exporter_accepts_the_rendered_command_line(name: str, tmp_path: Path) -> None:
    from exporter.cli import load_settings

    r = rendered(name)
    args = list(_container(r)["args"])
    config_args = [a for a in args if a.startswith("--config=")]
    if name in ("all-toggles", "statefulset"):
        # the file the ConfigMap mounts, read by the exporter's own config loader
        (mounted,) = config_args
        args[args.index(mounted)] = f"--config={_file(r, 'ConfigMap', tmp_path)}"
    else:
        assert not config_args and not any(a.startswith("--web-config-file") for a in args)
    settings = load_settings(args, environ={})
    assert settings.listen_port == 9843 == _container(r)["ports"][0]["containerPort"]


def test_the_exporter_accepts_the_rendered_web_config(tmp_path: Path) -> None:
    from exporter.web.webconfig import server_options

    r = rendered("all-toggles")
    assert "--web-config-file=/etc/sagemaker-exporter/web/web.yml" in _container(r)["args"]
    web = yaml.safe_load(_file(r, "Secret", tmp_path).read_text())
    crt, key = _self_signed(tmp_path)
    web["tls_server_config"] |= {"cert_file": str(crt), "key_file": str(key)}
    (tmp_path / "web.yml").write_text(yaml.safe_dump(web))
    ssl_context, auth = server_options(str(tmp_path / "web.yml"))
    assert ssl_context is not None and auth is not None
    # TLS on: the kubelet probes over HTTPS, Prometheus scrapes over https
    assert _container(r)["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"
    assert r.one("ServiceMonitor")["spec"]["endpoints"][0]["scheme"] == "https"


def test_required_client_certificates_switch_the_probes_to_tcp() -> None:
    tls = {"cert_file": "tls.crt", "key_file": "tls.key", "client_ca_file": "ca.crt"}
    tls["client_auth_type"] = "RequireAndVerifyClientCert"
    c = _container(_render({"webConfig": {"tls_server_config": tls}}))
    for probe in ("readinessProbe", "livenessProbe"):
        assert c[probe]["tcpSocket"] == {"port": "metrics"} and "httpGet" not in c[probe]


def test_the_files_are_mounted_where_the_flags_point() -> None:
    r = rendered("all-toggles")
    pod = r.one("Deployment")["spec"]["template"]["spec"]
    mounts = {m["name"]: m["mountPath"] for m in _container(r)["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    flags = dict(a.split("=", 1) for a in _container(r)["args"] if "=" in a)
    for flag, volume, source in (
        ("--config", "config", ("configMap", "name", "ConfigMap")),
        ("--web-config-file", "web-config", ("secret", "secretName", "Secret")),
    ):
        assert Path(flags[flag]).parent == Path(mounts[volume])
        field, key, kind = source
        obj = r.one(kind)
        assert volumes[volume][field][key] == obj["metadata"]["name"]
        assert Path(flags[flag]).name in _payload(obj)


# ---------------------------------------------------------------- the StatefulSet hook


def test_statefulset_is_governed_by_a_headless_service() -> None:
    r = rendered("statefulset")
    assert "Deployment" not in r.kinds()
    sts, service = r.one("StatefulSet"), r.one("Service")
    assert sts["spec"]["serviceName"] == service["metadata"]["name"]
    assert service["spec"]["clusterIP"] == "None"
    assert "strategy" not in sts["spec"] and sts["spec"]["podManagementPolicy"] == "Parallel"
    # the same pod as the Deployment's
    assert _container(r) == _container(rendered("all-toggles"))


# ---------------------------------------------------------------- documentation


#: Values whose children are Kubernetes or prometheus-operator fields, documented as a whole.
PASS_THROUGH = frozenset(
    {
        "workload.deploymentStrategy",
        "workload.statefulSetUpdateStrategy",
        "serviceAccount.annotations",
        "podSecurityContext",
        "securityContext",
        "resources",
        "affinity",
        "nodeSelector",
        "config",
        "webConfig",
        "podAnnotations",
        "podLabels",
        "service.annotations",
        "service.labels",
        "serviceMonitor.labels",
        "serviceMonitor.tlsConfig",
        "serviceMonitor.basicAuth",
        "prometheusRule.labels",
    }
)


def _value_paths(values: Obj, prefix: str = "") -> list[str]:
    paths = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and path not in PASS_THROUGH:
            paths += _value_paths(value, f"{path}.")
        else:
            paths.append(path)
    return paths


def _values_table() -> str:
    """README.md's values table, made from values.yaml: each value's "# --" comment."""
    values = _yaml(CHART / "values.yaml")
    lines = (CHART / "values.yaml").read_text().splitlines()
    rows = ["| Key | Default | Description |", "| --- | --- | --- |"]
    for path in _value_paths(values):
        default, i = values, -1
        for depth, part in enumerate(path.split(".")):  # the key's line, under its parents
            default = default[part]
            key_re = re.compile(rf"{'  ' * depth}{re.escape(part)}:")
            i = next(n for n in range(i + 1, len(lines)) if key_re.match(lines[n]))
        j = i - 1
        while lines[j].lstrip().startswith("#") and not lines[j].lstrip().startswith("# --"):
            j -= 1
        assert lines[j].lstrip().startswith("# --"), f"values.yaml: {path} has no '# --' comment"
        text = " ".join(ln.strip().removeprefix("#").strip() for ln in lines[j:i])
        shown = json.dumps(default, separators=(", ", ": "))
        rows.append(f"| `{path}` | `{shown}` | {text.removeprefix('-- ')} |")
    return "\n".join(rows) + "\n"


def test_every_value_is_documented_in_values_yaml_and_the_readme() -> None:
    table = _values_table()
    assert table in (CHART / "README.md").read_text(), (
        "the chart README's values table is not the one values.yaml's comments make:\n" + table
    )


def test_notes_say_how_to_reach_the_metrics() -> None:
    assert "port-forward service/sagemaker-training-exporter 9843:9843" in (
        rendered("default").notes
    )
    assert "eks\\.amazonaws\\.com/role-arn" in rendered("default").notes  # IRSA not set yet
    assert "role-arn" not in rendered("kustomize").notes
