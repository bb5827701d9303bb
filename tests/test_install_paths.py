"""One tenants file, both install paths: the operator (Istio 1.23.6) and Helm (Istio 1.30.3).

What a tenant gets is decided in one place: namespaces, Gateways, routes and isolation objects come
out identical; only how Istio itself is installed differs (operator objects on one path, charts on
the other). And the Helm path's ordering on a first `pulumi up`.
"""

from __future__ import annotations

import copy

import pytest

from builders.admission import OPERATOR_SERVICE_ACCOUNT
from builders.tenant import gateway_service_ports
from render.engine import ProgramRun
from tenants.loader import parse_tenants
from tests.support import charts, chart, deployed_gateway, objects, of_kind, registration_of, run

# Every feature that shapes a tenant's objects on both paths: sharing, admins, quota, TLS with an
# issuer, custom labels and names, service settings, several servers.
TENANTS = """
controlPlane: {namespace: istio-system, profile: demo, replicas: {pilot: 2, ingressGateway: 2}}
observability: {oidc: {issuer: 'https://login.example.com', clientId: addons, clientSecret: addons-oidc}, credentialName: obs-tls, addons: {kiali: true}}
tenants:
  - name: shop-a
    admins: {users: [alice@example.com]}
    quota: {cpu: "8", memory: 16Gi, pods: 100}
    exports:
      - {service: api, to: [shop-b]}
    gateway:
      replicas: 2
      servers:
        - {port: 80, protocol: HTTP, hosts: [shop.example.com]}
        - {port: 443, protocol: HTTPS, hosts: [shop.example.com], tls: {mode: SIMPLE, credentialName: shop-tls, issuer: le}}
    routes:
      - {name: web, http: [{to: {service: web, port: 8080}}]}
  - name: shop-b
    namespace: b-prod
    imports:
      - {tenant: shop-a, service: api}
    gateway:
      name: b-edge
      labels: {gateway: shop-b}
      service: {type: NodePort}
  - name: internal
    gateway:
      service: {type: LoadBalancer, annotations: {networking.gke.io/load-balancer-type: Internal}}
      servers:
        - {port: 8080, protocol: HTTP, hosts: [internal.example.com]}
"""
# The Helm path also serves Gateway API tenants (the operator's Istio 1.23 does not).
HELM_TENANTS = TENANTS + """  - name: portal
    gateway:
      api: gateway-api
      servers:
        - {port: 80, protocol: HTTP, hosts: [portal.example.com]}
    routes:
      - {name: web, http: [{to: {service: web, port: 8080}}]}
"""
# What only the operator path has: the operator itself and its IstioOperators.
OPERATOR_ONLY = {"IstioOperator", "Deployment", "Service", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
PLATFORM_NAMESPACES = {"operator": {"istio-operator", "istio-system"}, "helm": {"istio-system"}}


@pytest.fixture(scope="module")
def paths(tmp_path_factory) -> dict[str, ProgramRun]:
    folder = tmp_path_factory.mktemp("paths")
    return {"operator": run("classic", TENANTS, folder), "helm": run("dev", TENANTS, folder)}


@pytest.fixture(scope="module")
def tenants():
    return parse_tenants(TENANTS, "tenants.yaml").tenants


def _key(obj: dict) -> tuple:
    return obj["apiVersion"], obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"]


def _shared(program: ProgramRun, method: str) -> dict[tuple, dict]:
    """Every object but the install's own."""
    out = {}
    for obj in objects(program):
        if obj["kind"] in OPERATOR_ONLY:
            continue
        own = PLATFORM_NAMESPACES[method] - {"istio-system"}
        if (obj["kind"] == "Namespace" and obj["metadata"]["name"] in own) or obj["metadata"].get("namespace") in own:
            continue
        # The platform gateway's opening names the pod ports, which each method's Service targets differently.
        if obj["kind"] == "NetworkPolicy" and obj["metadata"]["name"] == "ingress-gateway":
            continue
        if obj["kind"] == "ValidatingAdmissionPolicy":
            # The operator acts for the platform on its own path only (test_install_hardening checks it).
            obj = copy.deepcopy(obj)
            for condition in obj["spec"].get("matchConditions", []):
                condition["expression"] = condition["expression"].replace(f"'{OPERATOR_SERVICE_ACCOUNT}', ", "")
        out[_key(obj)] = obj
    return out


def test_the_platform_gateway_is_opened_on_the_pod_ports_each_method_targets(paths):
    def opened(program: ProgramRun) -> set[int]:
        (policy,) = [o for o in of_kind(objects(program), "NetworkPolicy") if o["metadata"]["name"] == "ingress-gateway"]
        anyone = [rule for rule in policy["spec"]["ingress"] if "from" not in rule]
        return {p["port"] for rule in anyone for p in rule["ports"]}

    # Helm: the observability server's 443 targets itself; the operator's profile maps 80 and 443 to 8080 and 8443.
    assert opened(paths["helm"]) == {15021, 443}
    assert opened(paths["operator"]) == {15021, 8080, 8443}


def test_the_same_namespaces_and_tenant_objects_on_both_paths(paths):
    operator, helm = _shared(paths["operator"], "operator"), _shared(paths["helm"], "helm")
    assert sorted(operator) == sorted(helm)
    assert operator == helm  # object for object, field for field
    kinds = {key[1] for key in helm}
    assert {"Namespace", "Gateway", "VirtualService", "PeerAuthentication", "AuthorizationPolicy", "Sidecar",
            "NetworkPolicy", "ResourceQuota", "LimitRange", "RoleBinding", "Certificate"} <= kinds


def test_the_same_pulumi_options_for_what_both_paths_share(paths):
    def options(program: ProgramRun, method: str) -> dict:
        shared = _shared(program, method)
        return {
            _key(r.inputs): (r.name, r.protect, r.retain_on_delete, r.parent.rsplit("::", 1)[-1])
            for r in program.registrations if r.is_kubernetes_object and _key(r.inputs) in shared
        }

    assert options(paths["operator"], "operator") == options(paths["helm"], "helm")


def test_operator_objects_only_on_the_operator_path_and_charts_only_on_helm(paths):
    operator_kinds = {o["kind"] for o in objects(paths["operator"])}
    helm_kinds = {o["kind"] for o in objects(paths["helm"])}
    assert "IstioOperator" in operator_kinds and "IstioOperator" not in helm_kinds
    assert not ({"Deployment", "ClusterRole", "CustomResourceDefinition"} & helm_kinds)
    assert {o["metadata"]["name"] for o in of_kind(objects(paths["operator"]), "Namespace")} >= {"istio-operator"}
    assert charts(paths["operator"]) == []
    # base and cni once, istiod, the control plane's gateway, one gateway per Istio-Gateway tenant.
    assert [c.inputs["chart"] for c in charts(paths["helm"])].count("gateway") == 1 + 3
    assert {c.inputs["chart"] for c in charts(paths["helm"])} == {"base", "cni", "istiod", "gateway"}


def test_a_gateway_api_tenant_gets_no_gateway_chart(tmp_path):
    program = run("dev", HELM_TENANTS, tmp_path)
    assert not [c for c in charts(program) if c.inputs["namespace"] == "portal"]
    assert len([c for c in charts(program) if c.inputs["chart"] == "gateway"]) == 1 + 3


@pytest.mark.parametrize("method", ["operator", "helm"])
def test_gateway_labels_and_selectors_agree(paths, tenants, method):
    program = paths[method]
    for tenant in tenants:
        if tenant.uses_gateway_api:
            continue
        deployed = deployed_gateway(program, tenant.gateway_name, tenant.namespace_name)
        gateway = next(g for g in of_kind(objects(program), "Gateway") if g["metadata"]["namespace"] == tenant.namespace_name)
        assert gateway["spec"]["selector"] == tenant.gateway_labels
        assert tenant.gateway_labels.items() <= deployed.labels.items()
        policy = next(
            p for p in of_kind(objects(program), "AuthorizationPolicy")
            if p["metadata"]["namespace"] == tenant.namespace_name and p["metadata"]["name"] == "allow-gateway-ingress"
        )
        assert policy["spec"]["selector"]["matchLabels"].items() <= deployed.labels.items()


def test_helm_gateway_services_open_exactly_the_declared_ports(paths, tenants):
    for tenant in tenants:
        if tenant.uses_gateway_api:
            continue
        service = deployed_gateway(paths["helm"], tenant.gateway_name, tenant.namespace_name).service
        assert service["ports"] == gateway_service_ports(tenant)
        assert [p["port"] for p in service["ports"]] == [15021] + sorted(s.port for s in tenant.gateway.servers)
        assert service["type"] == tenant.gateway.service.type.value


def test_both_paths_open_the_same_service_ports(paths, tenants):
    """The same port numbers and names on both; only the target ports differ (the operator's
    gateway pods cannot bind ports below 1024, the chart's can)."""
    for tenant in tenants:
        if tenant.uses_gateway_api:
            continue
        services = {m: deployed_gateway(paths[m], tenant.gateway_name, tenant.namespace_name).service for m in paths}
        opened = {m: [(p["name"], p["port"], p["protocol"]) for p in service["ports"]] for m, service in services.items()}
        assert opened["operator"] == opened["helm"] == [(p["name"], p["port"], p["protocol"]) for p in gateway_service_ports(tenant)]
        assert services["operator"]["type"] == services["helm"]["type"] == tenant.gateway.service.type.value


@pytest.mark.parametrize("method", ["operator", "helm"])
def test_replicas_are_the_same_floor_on_both_paths(paths, tenants, method):
    for tenant in tenants:
        if not tenant.uses_gateway_api:
            assert deployed_gateway(paths[method], tenant.gateway_name, tenant.namespace_name).replicas == tenant.gateway.replicas


# --- Ordering on a first `pulumi up` (Helm path) -------------------------------------------------


def _closure(program: ProgramRun, urn: str) -> set[str]:
    """Everything `urn` waits for, directly or through what it waits for."""
    by_urn = program.by_urn()
    seen: set[str] = set()
    todo = list(by_urn[urn].dependencies)
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(by_urn[current].dependencies if current in by_urn else [])
    return seen


def test_base_and_cni_wait_for_the_control_plane_namespace_only(paths):
    helm = paths["helm"]
    namespace = registration_of(helm, "Namespace", "istio-system")
    for release in ("istio-base", "istio-cni"):
        assert chart(helm, release, "istio-system").dependencies == [namespace.urn]


def test_istio_custom_resources_wait_for_base_and_istiod(paths):
    helm = paths["helm"]
    base, istiod = chart(helm, "istio-base", "istio-system"), chart(helm, "istiod", "istio-system")
    istio_objects = [r for r in helm.registrations if r.is_kubernetes_object and ".istio.io/" in r.inputs["apiVersion"]]
    assert len(istio_objects) > 10
    for r in istio_objects:
        # Directly: their CRDs (base) and the validating webhook (istiod) exist before them.
        assert {base.urn, istiod.urn} <= set(r.dependencies), r.urn


def test_istiod_waits_for_base_and_cni_and_every_gateway_for_istiod(paths, tenants):
    helm = paths["helm"]
    base, cni = chart(helm, "istio-base", "istio-system"), chart(helm, "istio-cni", "istio-system")
    istiod = chart(helm, "istiod", "istio-system")
    assert {base.urn, cni.urn} <= set(istiod.dependencies)
    gateways = [chart(helm, "istio-ingressgateway", "istio-system")] + [
        chart(helm, t.gateway_name, t.namespace_name) for t in tenants if not t.uses_gateway_api
    ]
    for gateway in gateways:
        # Gateway pods are injected by istiod's webhook and networked by the CNI agent.
        assert {istiod.urn, cni.urn} <= set(gateway.dependencies), gateway.name
        assert base.urn in _closure(helm, gateway.urn)


def test_a_tenant_gateway_chart_waits_for_its_namespace(paths, tenants):
    helm = paths["helm"]
    for tenant in tenants:
        if not tenant.uses_gateway_api:
            namespace = registration_of(helm, "Namespace", tenant.namespace_name)
            assert namespace.urn in chart(helm, tenant.gateway_name, tenant.namespace_name).dependencies


def test_a_tenant_gateway_waits_for_its_gateway_chart(paths, tenants):
    helm = paths["helm"]
    for tenant in tenants:
        if tenant.uses_gateway_api:
            continue
        gateway = registration_of(helm, "Gateway", f"{tenant.name}-gateway", tenant.namespace_name)
        assert chart(helm, tenant.gateway_name, tenant.namespace_name).urn in gateway.dependencies
    observability = registration_of(helm, "Gateway", "observability-gateway", "istio-system")
    assert chart(helm, "istio-ingressgateway", "istio-system").urn in observability.dependencies


def test_no_tenant_waits_for_another(paths, tenants):
    helm = paths["helm"]
    gateway_charts = {t.name: chart(helm, t.gateway_name, t.namespace_name).urn for t in tenants if not t.uses_gateway_api}
    for tenant in tenants:
        others = {urn for name, urn in gateway_charts.items() if name != tenant.name}
        for r in helm.registrations:
            if r.name.startswith(f"{tenant.name}/"):
                assert not (set(r.dependencies) & others), r.urn
