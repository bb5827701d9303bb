"""Chart values of the Helm install, checked against Istio 1.30.3's own charts.

Two checks, both able to fail (see the last tests):
- the gateway chart ships a values.schema.json: every gateway release's values validate against it;
- every chart's values.yaml lists its settings (under `_internal_defaults_do_not_set`): every key
  path the program sets is one of them, or an input of the chart's profile template
  (`profile`), or lies below a mapping whose keys are the user's data rather than settings: one
  values.yaml leaves empty (`env: {}`, `service.annotations: {}`), or one the chart documents as
  free-form (FREE_FORM). Lists (ports) are the chart's data too: their items are not settings.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any, Iterator

import jsonschema
import pytest
import yaml

from builders.helm_values import (
    base_release, chart_arguments, cni_release, control_plane_gateway_release, istiod_release, tenant_gateway_release,
)
from builders.tenant import gateway_service_values
from render.engine import PROJECT_ROOT
from tenants.install import ChartSource, Installation
from tenants.loader import parse_tenants
from tenants.model import InstallMethod, TenantsFile
from tests.support import charts, plain, reference

CHARTS = ("base", "cni", "istiod", "gateway")
# Mappings the charts document as free-form (their keys are labels, or Istio's MeshConfig).
FREE_FORM = {"gateway": {("labels",)}, "istiod": {("meshConfig",)}}
INSTALL = Installation(InstallMethod.HELM, "1.30.3", "registry.example.com/istio", ChartSource("1.30.3", directory="charts"))

VARIANTS = """
controlPlane: {namespace: mesh-system, profile: stable, replicas: {pilot: 2, ingressGateway: 7}}
observability: {oidc: {issuer: 'https://login.example.com', clientId: addons, clientSecret: addons-oidc}, credentialName: obs-tls, addons: {kiali: true, grafana: false, prometheus: false, tracing: false}}
tenants:
  - name: plain
  - name: internal
    namespace: team-internal
    gateway:
      name: edge
      labels: {gw: internal}
      replicas: 3
      service: {type: LoadBalancer, annotations: {service.beta.kubernetes.io/aws-load-balancer-internal: "true"}}
      servers:
        - {port: 443, protocol: HTTPS, hosts: [a.example.com], tls: {mode: SIMPLE, credentialName: a-tls}}
        - {port: 8080, protocol: HTTP, hosts: [a.example.com]}
  - name: nodeport
    gateway:
      service: {type: NodePort}
  - name: cluster-only
    gateway:
      service: {type: ClusterIP}
"""


@functools.lru_cache(maxsize=None)
def _values_yaml(chart: str) -> dict:
    return yaml.safe_load(reference("istio", "1.30.3", "charts", chart, "values.yaml").read_text())["_internal_defaults_do_not_set"]


@functools.lru_cache(maxsize=None)
def _profile_inputs(chart: str) -> frozenset[str]:
    """The top-level values the chart's profile template reads besides values.yaml's."""
    template = reference("istio", "1.30.3", "charts", chart, "templates", "zzz_profile.yaml").read_text()
    return frozenset(re.findall(r"\(\$\.Values\)\.(\w+)", template) + re.findall(r"\.Values\.(compatibilityVersion)", template))


@functools.lru_cache(maxsize=None)
def _gateway_schema() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(reference("istio", "1.30.3", "charts", "gateway", "values.schema.json").read_text()))


def unknown_keys(chart: str, values: dict) -> list[str]:
    """Every key path of `values` that is not a setting of the chart (see the module's rule)."""
    free = FREE_FORM.get(chart, set())

    def walk(value: Any, default: Any, path: tuple) -> Iterator[str]:
        if path in free or not isinstance(value, dict):
            return
        if not isinstance(default, dict):
            yield f"{'.'.join(path)}: a mapping where values.yaml has {default!r}"
            return
        if not default and path:
            return  # left empty in values.yaml: the keys are the user's
        for key, item in value.items():
            if key in default:
                yield from walk(item, default[key], path + (key,))
            elif not path and key in _profile_inputs(chart):
                continue
            else:
                yield ".".join(path + (key,))

    return list(walk(values, _values_yaml(chart), ()))


def schema_errors(values: dict) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in _gateway_schema().iter_errors(values)]


def _releases(config: TenantsFile, install: Installation = INSTALL):
    cp = config.control_plane
    yield base_release(cp, install)
    yield cni_release(cp, install)
    yield istiod_release(cp, install)
    yield control_plane_gateway_release(cp, config.observability)
    for tenant in config.tenants:
        if not tenant.uses_gateway_api:  # Istio deploys those itself
            yield tenant_gateway_release(tenant, cp)


def _files() -> dict[str, TenantsFile]:
    files = {name: (PROJECT_ROOT / "tenants" / f"{name}.yaml").read_text() for name in ("dev", "prod", "classic")}
    files["variants"] = VARIANTS
    return {name: parse_tenants(text, name) for name, text in files.items()}


FILES = _files()


@pytest.mark.parametrize("name", sorted(FILES))
def test_every_value_set_is_a_setting_of_its_chart(name):
    problems = {f"{r.chart} {r.namespace}/{r.name}": unknown_keys(r.chart, r.values) for r in _releases(FILES[name])}
    assert {release: keys for release, keys in problems.items() if keys} == {}


@pytest.mark.parametrize("name", sorted(FILES))
def test_gateway_values_validate_against_the_charts_schema(name):
    gateways = [r for r in _releases(FILES[name]) if r.chart == "gateway"]
    assert len(gateways) == len([t for t in FILES[name].tenants if not t.uses_gateway_api]) + 1
    problems = {f"{r.namespace}/{r.name}": schema_errors(r.values) for r in gateways}
    assert {release: errors for release, errors in problems.items() if errors} == {}


def test_the_program_registers_these_values(dev_run):
    """What the components register is what the builders return, for every chart of the dev stack."""
    registered = {(c.inputs["name"], c.inputs["namespace"]): plain(c.inputs["values"]) for c in charts(dev_run)}
    install = Installation(InstallMethod.HELM, "1.30.3", "docker.io/istio", ChartSource("1.30.3", repository="x"))
    assert registered == {(r.name, r.namespace): r.values for r in _releases(FILES["dev"], install)}


# --- What each release says -------------------------------------------------------------------


def test_istiod_scopes_gateways_uses_cni_and_runs_the_chosen_images():
    config = FILES["variants"]
    istiod = istiod_release(config.control_plane, INSTALL)
    assert (istiod.chart, istiod.name, istiod.namespace) == ("istiod", "istiod", "mesh-system")
    values = istiod.values
    # Gateways scoped to their namespace; no debug endpoints over plain HTTP (the operator path's settings).
    assert values["env"] == {"PILOT_SCOPE_GATEWAY_TO_NAMESPACE": "true", "ENABLE_DEBUG_ON_HTTP": "false", "PILOT_JWT_ENABLE_REMOTE_JWKS": "envoy"}
    assert values["cni"] == {"enabled": True}
    assert values["meshConfig"] == {
        "ingressControllerMode": "OFF",
        "defaultVirtualServiceExportTo": ["."],
        "defaultDestinationRuleExportTo": ["."],
        "defaultServiceExportTo": ["."],
        "outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"},
    }
    assert values["global"] == {"hub": "registry.example.com/istio", "tag": "1.30.3", "istioNamespace": "mesh-system"}
    assert (values["profile"], values["replicaCount"], values["autoscaleMin"], values["autoscaleMax"]) == ("stable", 2, 2, 5)


def test_istiods_service_skips_the_providers_endpoint_settling():
    """istiod is awaited on its Deployment; its Service would add the provider's 10 s settle before
    every gateway chart. Every istiod release (the platform's, each mesh revision's) carries it."""
    config = FILES["variants"]
    assert istiod_release(config.control_plane, INSTALL).values["serviceAnnotations"] == {"pulumi.com/skipAwait": "true"}
    # Nothing else of istiod skips the await: the chart's objects are awaited as the provider does.
    assert [k for k, v in istiod_release(config.control_plane, INSTALL).values.items() if "skipAwait" in str(v)] == ["serviceAnnotations"]


def test_every_gateway_pod_passes_the_restricted_pod_security_level():
    """The chart's pod securityContext replaces its own default, so ours keeps the low-ports sysctl."""
    config = FILES["variants"]
    releases = [r for r in _releases(config) if r.chart == "gateway"]
    assert len(releases) == len(config.tenants) + 1
    for release in releases:
        assert release.values["securityContext"] == {
            "runAsUser": 1337, "runAsGroup": 1337, "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"},
            "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}],
        }
        assert "containerSecurityContext" not in release.values  # the chart's: no privileges, all capabilities dropped


def test_istiod_deploys_gateway_api_gateways_that_pass_restricted():
    values = istiod_release(FILES["dev"].control_plane, INSTALL).values
    overlay = values["gatewayClasses"]["istio"]["deployment"]
    assert overlay == {"spec": {"template": {"spec": {"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}}}}}


def test_the_default_profile_is_no_profile():
    # The charts ship no profile-default.yaml: naming it would fail the chart's own profile template.
    config = FILES["prod"]
    assert config.control_plane.profile == "default"
    for release in _releases(config):
        assert "profile" not in release.values, release.name
    assert not reference("istio", "1.30.3", "charts", "istiod", "files").joinpath("profile-default.yaml").exists()


def test_base_and_cni_follow_the_control_plane():
    cp = FILES["variants"].control_plane
    assert base_release(cp, INSTALL).values == {"profile": "stable", "global": {"istioNamespace": "mesh-system"}}
    assert cni_release(cp, INSTALL).values == {"profile": "stable", "global": {"hub": "registry.example.com/istio", "tag": "1.30.3"}}
    assert {base_release(cp, INSTALL).namespace, cni_release(cp, INSTALL).namespace} == {"mesh-system"}


def test_tenant_gateways_carry_their_labels_service_and_replicas():
    config = FILES["variants"]
    tenants = {t.name: t for t in config.tenants}
    edge = tenant_gateway_release(tenants["internal"], config.control_plane)
    assert (edge.chart, edge.name, edge.namespace) == ("gateway", "edge", "team-internal")
    assert edge.values["labels"] == {"gw": "internal", "istio-multitenancy.io/tenant": "internal"}
    assert {k: v for k, v in edge.values["service"].items() if k != "annotations"} == {
        k: v for k, v in gateway_service_values(tenants["internal"]).items() if k != "annotations"
    }
    # The file's annotations, and what the provider waits for on a LoadBalancer: its address.
    assert edge.values["service"]["annotations"] == {
        "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
        "pulumi.com/waitFor": "jsonpath={.status.loadBalancer.ingress}",
    }
    assert [p["port"] for p in edge.values["service"]["ports"]] == [15021, 443, 8080]
    assert edge.values["autoscaling"] == {"enabled": True, "minReplicas": 3, "maxReplicas": 5}
    plain_gateway = tenant_gateway_release(tenants["plain"], config.control_plane)
    assert "autoscaling" not in plain_gateway.values and "replicaCount" not in plain_gateway.values
    others = {n: tenant_gateway_release(tenants[n], config.control_plane).values["service"] for n in ("nodeport", "cluster-only")}
    assert {s["type"] for s in others.values()} == {"NodePort", "ClusterIP"}
    # Without a load balancer there is nothing to wait for on the Service (the Deployment is awaited).
    assert all(s["annotations"] == {"pulumi.com/skipAwait": "true"} for s in others.values()), others


def test_a_gateway_service_skips_the_providers_ten_second_endpoint_settling():
    """pulumi-kubernetes's own Service await pauses 10 s after each change of the endpoints, on the
    path of every gateway; a `pulumi.com/waitFor` or `skipAwait` annotation replaces it (its
    pkg/metadata ReadyCondition), and the Deployment keeps the provider's readiness await."""
    config = FILES["variants"]
    gateway = control_plane_gateway_release(config.control_plane, config.observability)
    assert gateway.values["service"]["annotations"] == {"pulumi.com/waitFor": "jsonpath={.status.loadBalancer.ingress}"}
    for tenant in config.tenants:
        annotations = tenant_gateway_release(tenant, config.control_plane).values["service"]["annotations"]
        assert ("pulumi.com/waitFor" in annotations) != ("pulumi.com/skipAwait" in annotations), (tenant.name, annotations)
    # The file's own annotation for the provider wins over the default.
    own = FILES["variants"].tenants[0].model_copy(deep=True)
    own.gateway.service.annotations["pulumi.com/waitFor"] = "jsonpath={.spec.clusterIP}"
    assert tenant_gateway_release(own, config.control_plane).values["service"]["annotations"]["pulumi.com/waitFor"] == "jsonpath={.spec.clusterIP}"


def test_the_control_plane_gateway_is_labelled_as_istio_labels_it_and_serves_the_observability_port():
    config = FILES["variants"]
    gateway = control_plane_gateway_release(config.control_plane, config.observability)
    assert (gateway.name, gateway.namespace) == ("istio-ingressgateway", "mesh-system")
    assert gateway.values["labels"] == {"app": "istio-ingressgateway", "istio": "ingressgateway"}
    assert [p["port"] for p in gateway.values["service"]["ports"]] == [15021, 443]  # the add-ons: HTTPS only
    assert gateway.values["autoscaling"]["minReplicas"] == 7 == gateway.values["replicaCount"]


# --- Where the charts come from ----------------------------------------------------------------


@pytest.mark.parametrize(
    "source, expected",
    [
        (ChartSource("1.30.3", repository="https://blob.istio.io/istio-release/charts"),
         {"chart": "istiod", "version": "1.30.3", "repository_opts": {"repo": "https://blob.istio.io/istio-release/charts"}}),
        (ChartSource("1.30.5", repository="oci://ghcr.io/istio/release/charts"),
         {"chart": "oci://ghcr.io/istio/release/charts/istiod", "version": "1.30.5"}),
        (ChartSource("1.30.3", directory="../shared/reference/istio/1.30.3/charts/"),
         {"chart": "../shared/reference/istio/1.30.3/charts/istiod"}),
    ],
    ids=["repository", "oci", "directory"],
)
def test_chart_arguments(source, expected):
    release = istiod_release(FILES["dev"].control_plane, INSTALL)
    arguments = chart_arguments(source, release)
    assert arguments == {**expected, "name": "istiod", "namespace": "istio-system", "values": release.values, "resource_prefix": ""}


def test_a_stack_can_point_the_charts_at_a_directory(tmp_path):
    from render.engine import run_program

    directory = str(reference("istio", "1.30.3", "charts"))
    (tmp_path / "Pulumi.local.yaml").write_text(
        f"config:\n  istio-multitenancy:tenantsFile: tenants/dev.yaml\n  istio-multitenancy:chartDirectory: {directory}\n"
    )
    for name in ("__main__.py", "tenants", "builders", "components"):
        (tmp_path / name).symlink_to(PROJECT_ROOT / name)
    program = run_program("local", root=tmp_path)
    assert {c.inputs["chart"] for c in charts(program)} == {f"{directory}/{c}" for c in CHARTS}
    # A local chart is the one in the directory: no version or repository to resolve.
    assert all("version" not in c.inputs and "repositoryOpts" not in c.inputs for c in charts(program))


# --- The checks themselves can fail ------------------------------------------------------------


def test_the_key_check_finds_a_misspelt_setting():
    values = {"autoscaling": {"minReplica": 2}, "service": {"annotations": {"any": "thing"}}, "labels": {"free": "form"}}
    assert unknown_keys("gateway", values) == ["autoscaling.minReplica"]
    assert unknown_keys("istiod", {"pilot": {"env": {}}}) == ["pilot"]
    assert unknown_keys("istiod", {"profile": "demo", "global": {"hub": {"nested": 1}}}) == ["global.hub: a mapping where values.yaml has 'registry.istio.io/testing'"]


def test_the_schema_check_finds_a_wrong_type():
    assert schema_errors({"replicaCount": "3", "service": {"type": 1}}) != []
    assert any("nmae" in e for e in schema_errors({"nmae": "x"}))
