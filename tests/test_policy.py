"""The policy pack's invariants, as plain functions: over both stacks (nothing fires) and over
deliberately broken objects (each invariant fires, saying what is wrong)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rules.invariants import (
    PROJECT_ROOT,
    Platform,
    authorization_admits_only_granted,
    gateway_api_stays_in_namespace,
    gateway_selects_own_gateway,
    kubernetes_object,
    load_balancer_only_for_gateway,
    namespace_has_injection,
    peer_authentication_not_weakened,
    strict_mtls_present,
    tenant_program_stays_namespaced,
    tenants_path,
)
from rules.table import INVARIANTS, evaluate
from render.output import plain
from tenants import ConfigError, parse_tenants
from tests.support import run

TENANTS = """
controlPlane: {namespace: istio-system}
tenants:
  - name: shop
    gateway: {name: shop-gw, labels: {istio: gw-shop, app: gw-shop}}
    exports: [{service: catalog, to: [bank]}]
  - name: bank
    namespace: bank-ns
    gateway: {labels: {istio: gw-bank, app: gw-bank}}
    imports: [{tenant: shop, service: catalog}]
  - name: blog
"""
PLATFORM = Platform(parse_tenants(TENANTS, "tenants.yaml"))


def obj(api_version: str, kind: str, name: str, namespace: str | None = None, labels=None, **body) -> dict:
    metadata: dict = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, **body}


def gateway(namespace: str, selector: dict) -> dict:
    return obj("networking.istio.io/v1", "Gateway", "gw", namespace, spec={"selector": selector, "servers": []})


def authz(namespace: str, rules: list, selector: dict | None = None, action: str | None = None) -> dict:
    spec: dict = {"rules": rules}
    if selector is not None:
        spec["selector"] = {"matchLabels": selector}
    if action:
        spec["action"] = action
    return obj("security.istio.io/v1", "AuthorizationPolicy", "p", namespace, spec=spec)


def from_namespaces(*namespaces: str) -> dict:
    return {"from": [{"source": {"namespaces": list(namespaces)}}]}


def peer_authentication(namespace: str, mode: str, selector: dict | None = None, **extra) -> dict:
    spec: dict = {"mtls": {"mode": mode}, **extra}
    if selector:
        spec["selector"] = {"matchLabels": selector}
    return obj("security.istio.io/v1", "PeerAuthentication", "default", namespace, spec=spec)


def namespace(name: str, labels: dict) -> dict:
    return obj("v1", "Namespace", name, labels=labels)


def service(name: str, ns: str, kind: str = "LoadBalancer") -> dict:
    return obj("v1", "Service", name, ns, spec={"type": kind, "ports": [{"port": 443}]})


# --- Both stacks pass ---------------------------------------------------------------------


def stack_resources(stack: str) -> list[tuple[str, str, dict]]:
    return [(r.urn, r.type, plain(r.inputs)) for r in run(stack).registrations]


@pytest.mark.parametrize("stack", ["dev", "prod", "classic", "meshes"])
def test_the_pack_finds_nothing_in_what_the_stacks_register(stack):
    platform = Platform.load(PROJECT_ROOT / "tenants" / f"{stack}.yaml")
    resources = stack_resources(stack)
    assert len(resources) > 20
    assert evaluate(resources, platform) == []


def test_the_pack_finds_nothing_when_tenants_share_services(tmp_path):
    program = run("dev", TENANTS, tmp_path)
    resources = [(r.urn, r.type, plain(r.inputs)) for r in program.registrations]
    exports = [p for _, t, p in resources if t.endswith(":AuthorizationPolicy") and p["metadata"]["name"].startswith("allow-export")]
    assert exports, "the program grants the export with an AuthorizationPolicy"
    assert evaluate(resources, PLATFORM) == []
    # The same policy admitting one namespace more than the file grants is refused.
    exports[0]["spec"]["rules"][0]["from"][0]["source"]["namespaces"].append("blog")
    assert [v.policy for v in evaluate(resources, PLATFORM)] == ["authorization-only-granted-namespaces"]


def test_the_pack_sees_every_kind_the_stacks_register():
    # The zero above means something only if the invariants' kinds are really in the stacks.
    # (On the Helm path the gateway Services are objects of the gateway charts: their invariants are
    # checked on the charts' rendered objects in tests/test_helm_template.py, where helm is at hand.)
    kinds = {kubernetes_object(t, p)["kind"] for stack in ("dev", "classic") for _, t, p in stack_resources(stack) if kubernetes_object(t, p)}
    assert {"Gateway", "Namespace", "PeerAuthentication", "AuthorizationPolicy", "Service"} <= kinds


# --- Each invariant fires on broken objects, with a clear message --------------------------------

BROKEN = [
    ("tenant-gateway-selects-own-gateway", [gateway("bank-ns", {"istio": "gw-shop"})],
     "Gateway bank-ns/gw selects {istio: gw-shop}; a tenant's Gateway selects exactly its own gateway's labels, "
     "tenant 'bank''s {app: gw-bank, istio: gw-bank}"),
    ("tenant-gateway-api-stays-in-namespace",
     [obj("gateway.networking.k8s.io/v1", "HTTPRoute", "web", "shop",
          spec={"parentRefs": [{"name": "gw"}], "rules": [{"backendRefs": [{"name": "vault", "namespace": "bank-ns", "port": 80}]}]})],
     "HTTPRoute shop/web sends to bank-ns/vault; another tenant's service is reached through its exports"),
    ("tenant-namespace-injection",
     [namespace("blog", {"istio-injection": "disabled", "pod-security.kubernetes.io/enforce": "restricted"}), peer_authentication("blog", "STRICT")],
     "tenant Namespace blog has istio-injection=disabled; label it istio-injection=enabled or istio.io/rev=<revision>"),
    ("mtls-not-weakened", [peer_authentication("shop", "PERMISSIVE")],
     "PeerAuthentication shop/default sets mtls.mode PERMISSIVE: it would accept plain-text traffic"),
    ("strict-mtls-present", [namespace("istio-system", {})],
     "no mesh-wide STRICT mTLS: add a PeerAuthentication without selector in 'istio-system'"),
    ("authorization-only-granted-namespaces", [authz("shop", [from_namespaces("blog")], {"app": "catalog"})],
     "AuthorizationPolicy shop/p rules[0] admits namespace 'blog' to service 'catalog', but the tenants file does not grant it: "
     "tenant 'shop' exports nothing to that namespace (exports[].to)"),
    ("load-balancer-only-for-gateway", [service("db", "shop")],
     "Service shop/db is a LoadBalancer; in tenant 'shop''s namespace only its gateway 'shop-gw' is exposed"),
    ("pod-security-floor",
     [namespace("blog", {"istio-injection": "enabled", "pod-security.kubernetes.io/enforce": "privileged"}), peer_authentication("blog", "STRICT")],
     "tenant Namespace blog has pod-security.kubernetes.io/enforce=privileged; the tenants file gives tenant 'blog' restricted"),
]


def test_every_invariant_has_a_broken_case():
    # Here, or among the admission cases, which run through the pack too (tests/test_admission.py).
    from tests.test_admission import PREVIEWED

    shared = {case["refused"] for case in PREVIEWED if "refused" in case}
    assert {name for name, _, _ in BROKEN} | shared | {"tenant-program-namespaced-only"} == {i.name for i in INVARIANTS}


@pytest.mark.parametrize("policy, objects, message", BROKEN, ids=[b[0] for b in BROKEN])
def test_each_invariant_fires_on_a_broken_object(policy, objects, message):
    resources = [(f"urn:{i}", "kubernetes:any/v1:Any", o) for i, o in enumerate(objects)]
    violations = evaluate(resources, PLATFORM)
    assert [v.policy for v in violations] == [policy]
    assert message in violations[0].message


def test_a_tenant_program_creating_a_cluster_scoped_object_is_refused():
    tenant_program = Platform(PLATFORM.tenants, tenant="shop")
    role = obj("rbac.authorization.k8s.io/v1", "ClusterRole", "reader", rules=[])
    violations = evaluate([("urn:role", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", role)], tenant_program)
    assert [(v.policy, v.urn) for v in violations] == [("tenant-program-namespaced-only", "urn:role")]
    assert "ClusterRole reader is cluster-scoped; tenant 'shop''s program may only create objects in its namespace" in violations[0].message


# --- The invariants one by one ---------------------------------------------------------------


@pytest.mark.parametrize(
    "ns, selector, fragment",
    [
        ("shop", {"istio": "gw-shop", "app": "gw-shop"}, None),
        ("shop", {"istio": "gw-shop"}, "selects exactly its own gateway's labels"),  # a part is not enough
        ("shop", {}, "has no selector"),
        ("shop", {"istio": "ingressgateway"}, "selects exactly"),
        ("blog", {"istio": "ingressgateway-blog", "app": "istio-ingressgateway-blog"}, None),  # the default labels
        ("istio-system", {"istio": "ingressgateway"}, None),  # not a tenant namespace
        ("elsewhere", {"anything": "x"}, None),
    ],
)
def test_gateway_selectors(ns, selector, fragment):
    messages = list(gateway_selects_own_gateway(gateway(ns, selector), PLATFORM))
    assert (messages == []) if fragment is None else (fragment in messages[0])


def test_a_gateway_selector_shared_with_another_gateway_is_refused():
    shared = parse_tenants(
        "tenants:\n  - {name: a, gateway: {labels: {tier: edge, team: a}}}\n  - {name: b, gateway: {labels: {tier: edge, team: b}}}\n",
        "t.yaml",
    )
    (message,) = gateway_selects_own_gateway(gateway("a", {"tier": "edge"}), Platform(shared))
    assert "selects exactly its own gateway's labels, tenant 'a''s {team: a, tier: edge}" in message


@pytest.mark.parametrize(
    "labels, fires",
    [
        ({"istio-injection": "enabled"}, False),
        ({"istio.io/rev": "1-23"}, False),
        ({"istio-injection": "disabled", "istio.io/rev": "1-23"}, True),  # istio-injection wins
        ({}, True),
    ],
)
def test_namespace_injection(labels, fires):
    assert bool(list(namespace_has_injection(namespace("shop", labels), PLATFORM))) is fires


def test_namespace_injection_covers_labelled_namespaces_the_file_does_not_list():
    labelled = namespace("legacy", {"istio-multitenancy.io/tenant": "legacy"})
    assert list(namespace_has_injection(labelled, PLATFORM))
    assert not list(namespace_has_injection(namespace("kube-system", {}), PLATFORM))


def test_every_meshs_namespace_is_a_mesh_root():
    meshes = Platform(parse_tenants("meshes: [{name: a}, {name: b, namespace: b-system}]\n", "tenants.yaml"))
    assert meshes.control_plane_namespaces == {"a", "b-system"}
    (message,) = strict_mtls_present([namespace("b-system", {})], meshes)
    assert message.startswith("no mesh-wide STRICT mTLS: add a PeerAuthentication without selector in 'b-system'")
    assert list(peer_authentication_not_weakened(peer_authentication("a", "PERMISSIVE"), meshes))


def test_port_level_plain_text_is_refused_mesh_wide_too():
    weak = peer_authentication("istio-system", "STRICT", portLevelMtls={"8080": {"mode": "DISABLE"}})
    (message,) = peer_authentication_not_weakened(weak, PLATFORM)
    assert "portLevelMtls[8080].mode DISABLE" in message
    assert not list(peer_authentication_not_weakened(peer_authentication("other", "PERMISSIVE"), PLATFORM))


def test_strict_mtls_is_required_where_a_program_creates_namespaces():
    objects = [namespace("istio-system", {}), namespace("shop", {}), peer_authentication("istio-system", "STRICT")]
    (message,) = strict_mtls_present(objects, PLATFORM)
    assert message == "tenant namespace 'shop' has no namespace-wide PeerAuthentication with mtls.mode STRICT"
    objects.append(peer_authentication("shop", "STRICT", selector={"app": "x"}))  # a workload's, not the namespace's
    assert len(list(strict_mtls_present(objects, PLATFORM))) == 1
    objects.append(peer_authentication("shop", "STRICT"))
    assert list(strict_mtls_present(objects, PLATFORM)) == []
    # A program that creates no namespace (a tenant's own) has nothing to prove.
    assert list(strict_mtls_present([service("web", "shop", "ClusterIP")], PLATFORM)) == []


@pytest.mark.parametrize(
    "policy, fires",
    [
        (authz("shop", [from_namespaces("shop")]), False),
        (authz("shop", [from_namespaces("bank-ns")], {"service.istio.io/canonical-name": "catalog"}), False),
        (authz("shop", [from_namespaces("bank-ns")], {"app": "catalog"}), False),
        (authz("shop", [from_namespaces("bank-ns")], {"app": "orders"}), True),  # not exported
        (authz("shop", [from_namespaces("bank-ns")]), True),  # every workload, not the exported one
        (authz("bank-ns", [from_namespaces("shop")], {"app": "catalog"}), True),  # the grant is one way
        (authz("shop", [{}], {"istio": "gw-shop", "app": "gw-shop"}), False),  # the public entry point
        (authz("shop", [{}]), True),
        (authz("shop", [{"to": [{"operation": {"paths": ["/"]}}]}]), True),
        (authz("shop", [{"from": [{"source": {"notNamespaces": ["blog"]}}]}]), True),
        (authz("shop", [{"from": [{"source": {"namespaces": ["*"]}}]}]), True),
        (authz("shop", [{"from": [{"source": {"principals": ["cluster.local/ns/shop/sa/web"]}}]}]), False),
        (authz("shop", [{"from": [{"source": {"principals": ["cluster.local/ns/blog/sa/web"]}}]}]), True),
        (authz("shop", [{"from": [{"source": {"principals": ["*"]}}]}]), True),
        (authz("shop", [from_namespaces("blog")], action="DENY"), False),
        (authz("istio-system", [{}]), False),  # the platform's own namespace
    ],
)
def test_authorization_policies(policy, fires):
    assert bool(list(authorization_admits_only_granted(policy, PLATFORM))) is fires


def test_load_balancers():
    assert not list(load_balancer_only_for_gateway(service("shop-gw", "shop"), PLATFORM))
    assert not list(load_balancer_only_for_gateway(service("db", "shop", "ClusterIP"), PLATFORM))
    assert not list(load_balancer_only_for_gateway(service("lb", "outside"), PLATFORM))
    assert list(load_balancer_only_for_gateway(service("bank-ingressgw", "shop"), PLATFORM))


def test_tenant_programs_keep_to_namespaces_and_platform_programs_do_not_care():
    crd = obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "x.example.com")
    assert not list(tenant_program_stays_namespaced(crd, PLATFORM))
    assert not list(tenant_program_stays_namespaced(service("web", "shop", "ClusterIP"), Platform(PLATFORM.tenants, "shop")))
    (unknown,) = tenant_program_stays_namespaced(crd, Platform(PLATFORM.tenants, "nobody"))
    assert "tenant 'nobody', which the tenants file does not list" in unknown


# --- Plumbing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "resource_type, expected",
    [
        ("kubernetes:core/v1:Namespace", ("v1", "Namespace")),
        ("kubernetes:networking.istio.io/v1:Gateway", ("networking.istio.io/v1", "Gateway")),
        ("kubernetes:helm.sh/v3:Release", None),
        ("kubernetes:yaml/v2:ConfigGroup", None),
        ("pulumi:providers:kubernetes", None),
        ("istio-multitenancy:index:TenantMesh", None),
    ],
)
def test_resource_types_map_to_objects(resource_type, expected):
    found = kubernetes_object(resource_type, {"metadata": {"name": "x"}})
    assert (found and (found["apiVersion"], found["kind"])) == expected if expected else found is None


def test_the_tenants_file_comes_from_the_pack_config_then_the_stack(tmp_path):
    assert tenants_path("x.yaml", "y.yaml", "dev") == PROJECT_ROOT / "x.yaml"
    assert tenants_path(None, "tenants/prod.yaml", "dev") == PROJECT_ROOT / "tenants" / "prod.yaml"
    assert tenants_path(None, None, "prod") == PROJECT_ROOT / "tenants" / "prod.yaml"
    assert tenants_path(str(tmp_path / "t.yaml"), None, None) == tmp_path / "t.yaml"
    assert tenants_path(None, None, None) is None


def test_a_broken_tenants_file_is_a_config_error(tmp_path: Path):
    broken = tmp_path / "tenants.yaml"
    broken.write_text(yaml.safe_dump({"tenants": [{"name": "Bad Name"}]}))
    with pytest.raises(ConfigError, match="tenants"):
        Platform.load(broken)


def _gateway_api_gateway(**listener) -> dict:
    spec = {
        "gatewayClassName": "istio",
        "infrastructure": {"labels": {"istio": "gw-shop", "app": "gw-shop"}},
        "listeners": [{"name": "http", "port": 80, "protocol": "HTTP", **listener}],
    }
    return obj("gateway.networking.k8s.io/v1", "Gateway", "shop-gateway", "shop", spec=spec)


@pytest.mark.parametrize(
    "gateway, fragment",
    [
        (_gateway_api_gateway(), None),
        (_gateway_api_gateway(allowedRoutes={"namespaces": {"from": "Same"}}), None),
        (_gateway_api_gateway(allowedRoutes={"namespaces": {"from": "All"}}), "takes routes from 'All' namespaces"),
        (_gateway_api_gateway(tls={"certificateRefs": [{"name": "vault-tls", "namespace": "bank-ns"}]}), "reads certificate bank-ns/vault-tls"),
    ],
)
def test_gateway_api_gateways_stay_in_their_namespace(gateway, fragment):
    messages = list(gateway_api_stays_in_namespace(gateway, PLATFORM))
    assert messages == [] if fragment is None else (len(messages) == 1 and fragment in messages[0])


def test_a_gateway_api_gateway_must_label_its_pods_as_the_tenants_gateway():
    gateway = _gateway_api_gateway()
    gateway["spec"]["infrastructure"]["labels"] = {"istio": "gw-shop"}
    (message,) = gateway_api_stays_in_namespace(gateway, PLATFORM)
    assert "not tenant 'shop''s gateway labels {app: gw-shop, istio: gw-shop}" in message


def test_the_pack_finds_nothing_in_a_gateway_api_tenant(tmp_path):
    text = TENANTS.replace(
        "    gateway: {name: shop-gw, labels: {istio: gw-shop, app: gw-shop}}",
        "    gateway: {api: gateway-api, name: shop-gw, labels: {istio: gw-shop, app: gw-shop}}\n"
        "    routes: [{name: web, http: [{to: {service: web, port: 80}}]}]",
    )
    program = run("dev", text, tmp_path)
    resources = [(r.urn, r.type, plain(r.inputs)) for r in program.registrations]
    assert {p["kind"] for _, t, p in resources if "gateway.networking.k8s.io" in t} == {"Gateway", "HTTPRoute"}
    assert evaluate(resources, Platform(parse_tenants(text, "tenants.yaml"))) == []
