"""Tenant isolation through the whole program: what each tenant gets, and the one way through."""

from collections import Counter

import pulumi
import pytest

from builders.mesh_settings import hardened_mesh_config, hardened_pilot_env
from tests.isolation_support import (
    CANONICAL_SERVICE_LABEL,
    in_namespace,
    mesh_admits,
    network_admits,
    network_admits_on,
    network_egress_allows,
    policy_namespaces,
    sidecar_hosts,
)
from builders.meta import TENANT_LABEL
from tests.support import chart, chart_values, deployed_gateway, find, objects, of_kind, registration_of, run, schema_errors

CONTROL_PLANE = "istio-system"
CERT_MANAGER_KEY = ("cert-manager.io/v1", "Certificate")

# A exports `api` to B, which imports it; C shares nothing. B's namespace differs from its
# name: grants are written with tenant names but must come out as namespaces.
THREE_TENANTS = """
tenants:
  - name: shop-a
    admins: {users: [alice@example.com], groups: [shop-a-admins]}
    quota: {cpu: "8", memory: 16Gi, pods: 100}
    exports:
      - {service: api, to: [shop-b]}
    routes:
      - {name: web, http: [{to: {service: web, port: 8080}}]}
  - name: shop-b
    namespace: b-prod
    imports:
      - {tenant: shop-a, service: api}
  - name: shop-c
"""
NAMESPACES = {"shop-a": "shop-a", "shop-b": "b-prod", "shop-c": "shop-c"}
GATEWAY_LABELS = {t: {"istio": f"ingressgateway-{t}", "app": f"istio-ingressgateway-{t}"} for t in NAMESPACES}
API_HOST = "shop-a/api.shop-a.svc.cluster.local"


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    return objects(run(tenants_yaml=THREE_TENANTS, tmp_path=tmp_path_factory.mktemp("three")))


def _service_pod(service: str) -> dict:
    # As sidecar injection labels a pod whose `app` label is `service`.
    return {"app": service, CANONICAL_SERVICE_LABEL: service}


# --- The three-tenant file, object by object ----------------------------------------------


def test_a_admits_b_only_to_the_exported_service(three):
    policies = {p["metadata"]["name"]: p["spec"] for p in in_namespace(three, "AuthorizationPolicy", "shop-a")}
    assert policies == {
        "allow-same-namespace": {"action": "ALLOW", "rules": [{"from": [{"source": {"namespaces": ["shop-a"]}}]}]},
        "allow-gateway-ingress": {"action": "ALLOW", "rules": [{}], "selector": {"matchLabels": GATEWAY_LABELS["shop-a"]}},
        "allow-export-api": {
            "action": "ALLOW",
            "rules": [{"from": [{"source": {"namespaces": ["b-prod"]}}]}],
            "selector": {"matchLabels": {CANONICAL_SERVICE_LABEL: "api"}},
        },
    }
    # Judged as Istio would: B reaches A's api pods and no other pod of A; C reaches none.
    admits = lambda pod, source: mesh_admits(three, "shop-a", pod, source, CONTROL_PLANE)  # noqa: E731
    assert admits(_service_pod("api"), "b-prod")
    assert not admits(_service_pod("web"), "b-prod")
    assert not admits({"app": "api"}, "b-prod")  # a pod Istio does not know as `api`
    assert not admits(_service_pod("api"), "shop-c")
    assert admits(_service_pod("web"), "shop-a") and admits(_service_pod("api"), "shop-a")


def _ingress_policy(objs: list[dict], namespace: str) -> dict:
    return find(objs, "NetworkPolicy", "allow-tenant-ingress", namespace)


def test_a_network_policy_admits_b_and_not_c(three):
    assert {p["metadata"]["name"] for p in in_namespace(three, "NetworkPolicy", "shop-a")} == {"allow-tenant-ingress", "restrict-tenant-egress"}
    policy = _ingress_policy(three, "shop-a")
    # Every pod but the gateway's: a selector cannot negate all of the gateway's labels at once,
    # so its `istio` label alone stands for it.
    assert policy["spec"]["podSelector"] == {
        "matchExpressions": [{"key": "istio", "operator": "NotIn", "values": [GATEWAY_LABELS["shop-a"]["istio"]]}],
    }
    rule, scraper = policy["spec"]["ingress"]
    admitted = [peer["namespaceSelector"]["matchLabels"] for peer in rule["from"]]
    assert admitted == [{"kubernetes.io/metadata.name": ns} for ns in ("shop-a", "b-prod")]
    assert scraper == {
        "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": CONTROL_PLANE}}}],
        "ports": [{"protocol": "TCP", "port": 15020}, {"protocol": "TCP", "port": 15090}],
    }
    for pod in (_service_pod("api"), _service_pod("web"), {}, {"app": GATEWAY_LABELS["shop-a"]["app"]}):
        assert network_admits(three, "shop-a", pod, "b-prod")  # by design: namespace-wide below the mesh
        assert not network_admits(three, "shop-a", pod, "shop-c")
        assert not network_admits(three, "shop-a", pod, None)
        # The control plane's namespace, where the scraper runs: the proxy's metrics ports, nothing else.
        assert not network_admits(three, "shop-a", pod, CONTROL_PLANE)
        for port, admitted in ((15020, True), (15090, True), (15021, False), (15000, False), (8080, False), (9080, False)):
            assert network_admits_on(three, "shop-a", pod, _ns(CONTROL_PLANE), port) is admitted, port
    assert network_admits(three, "shop-a", GATEWAY_LABELS["shop-a"], None)  # load-balanced clients
    # The documented price: a pod of the tenant's carrying the gateway's `istio` label is open too.
    assert network_admits(three, "shop-a", {"istio": GATEWAY_LABELS["shop-a"]["istio"]}, "shop-c")
    # Another tenant's gateway label exempts nothing here.
    assert not network_admits(three, "shop-a", GATEWAY_LABELS["shop-c"], None)


@pytest.mark.parametrize(
    "labels, key",
    [
        ({"istio": "gw-x", "app": "gw"}, "istio"),  # Istio's gateway label, wherever it is in the file
        ({"gateway-of": "x", "app": "edge"}, "app"),  # else the first key in sorted order
        ({"tier": "edge", "gateway-of": "x"}, "gateway-of"),
    ],
)
def test_the_gateway_is_left_out_by_one_of_its_labels(tmp_path, labels, key):
    shown = ", ".join(f"{k}: {v}" for k, v in labels.items())
    objs = objects(run(tenants_yaml=f"tenants:\n  - name: team\n    gateway: {{labels: {{{shown}}}}}\n", tmp_path=tmp_path))
    policy = _ingress_policy(objs, "team")
    assert policy["spec"]["podSelector"] == {"matchExpressions": [{"key": key, "operator": "NotIn", "values": [labels[key]]}]}
    assert network_admits(objs, "team", labels, None)
    assert not network_admits(objs, "team", {k: v for k, v in labels.items() if k != key}, None)


def _policy_selecting(pods: dict) -> list[dict]:
    spec = {"podSelector": pods, "policyTypes": ["Ingress"], "ingress": [{"from": [{"namespaceSelector": {}}]}]}
    return [{"kind": "NetworkPolicy", "metadata": {"name": "p", "namespace": "ns"}, "spec": spec}]


@pytest.mark.parametrize(
    "expression, selected",
    [
        # Pod labels {gw: a}, {gw: b}, {} in turn; `selected` = isolated by the policy.
        ({"key": "gw", "operator": "NotIn", "values": ["a"]}, [False, True, True]),
        ({"key": "gw", "operator": "In", "values": ["a", "c"]}, [True, False, False]),
        ({"key": "gw", "operator": "Exists"}, [True, True, False]),
        ({"key": "gw", "operator": "DoesNotExist"}, [False, False, True]),
    ],
)
def test_the_judge_reads_match_expressions_as_kubernetes_does(expression, selected):
    objs = _policy_selecting({"matchExpressions": [expression]})
    # Only selected pods are isolated; the policy admits any namespace but not outside clients.
    isolated = [not network_admits(objs, "ns", pod, None) for pod in ({"gw": "a"}, {"gw": "b"}, {})]
    assert isolated == selected
    both = _policy_selecting({"matchLabels": {"app": "x"}, "matchExpressions": [expression]})
    assert [not network_admits(both, "ns", {"app": "x", **pod}, None) for pod in ({"gw": "a"}, {"gw": "b"}, {})] == selected
    assert not any(not network_admits(both, "ns", pod, None) for pod in ({"gw": "a"}, {"gw": "b"}, {}))  # ANDed


@pytest.mark.parametrize(
    "pods",
    [
        {"matchExpressions": [{"key": "gw", "operator": "Gt", "values": ["1"]}]},
        {"matchExpressions": [{"key": "gw", "operator": "NotIn", "values": []}]},
        {"matchExpressions": [{"key": "gw", "operator": "Exists", "values": ["a"]}]},
        {"matchFields": [{"key": "gw", "operator": "In", "values": ["a"]}]},
    ],
)
def test_the_judge_fails_on_what_it_does_not_model(pods):
    with pytest.raises(AssertionError):
        network_admits(_policy_selecting(pods), "ns", {"gw": "a"}, None)


def test_b_and_c_admit_no_other_tenant(three):
    for tenant in ("shop-b", "shop-c"):
        ns = NAMESPACES[tenant]
        assert policy_namespaces(three, ns) == {ns}
        for other in set(NAMESPACES.values()) - {ns}:
            for pod in (_service_pod("api"), _service_pod("web")):
                assert not mesh_admits(three, ns, pod, other, CONTROL_PLANE), (tenant, other)
                assert not network_admits(three, ns, pod, other), (tenant, other)


def test_sidecars_scope_each_tenant_to_itself_plus_its_imports(three):
    base = ["./*", f"{CONTROL_PLANE}/*"]
    assert sidecar_hosts(three, "shop-a") == base
    assert sidecar_hosts(three, "b-prod") == base + [API_HOST]
    assert sidecar_hosts(three, "shop-c") == base
    for sidecar in of_kind(three, "Sidecar"):
        for host in sidecar["spec"]["egress"][0]["hosts"]:
            assert host.split("/")[0] in (".", CONTROL_PLANE) or (sidecar["metadata"]["namespace"], host) == ("b-prod", API_HOST)


def test_c_reaches_nothing_of_a_or_b(three):
    for ns in ("shop-a", "b-prod"):
        assert "shop-c" not in policy_namespaces(three, ns)
        for pod in (_service_pod("api"), _service_pod("web"), {}):
            assert not mesh_admits(three, ns, pod, "shop-c", CONTROL_PLANE)
            assert not network_admits(three, ns, pod, "shop-c")
    assert not any(h.startswith(("shop-a/", "b-prod/")) for h in sidecar_hosts(three, "shop-c"))


def test_gateways_are_public_entry_points(three):
    # Documented: a gateway admits everyone; the same-namespace rule would deny its clients.
    for tenant, ns in NAMESPACES.items():
        pod = GATEWAY_LABELS[tenant]
        assert mesh_admits(three, ns, pod, "elsewhere", CONTROL_PLANE)
        assert network_admits(three, ns, pod, None)


def test_mtls_is_strict_mesh_wide_and_in_every_tenant(three):
    for ns in (CONTROL_PLANE, *NAMESPACES.values()):
        # Namespace-wide (no selector); in the control-plane namespace, mesh-wide.
        assert find(three, "PeerAuthentication", "default", ns)["spec"] == {"mtls": {"mode": "STRICT"}}
    # Automatic mTLS with STRICT receivers protects as much; a namespace-wide ISTIO_MUTUAL rule
    # would break every call to a pod without a sidecar.
    assert of_kind(three, "DestinationRule") == []


def test_tenant_routing_config_stays_in_its_namespace(three):
    for obj in of_kind(three, "VirtualService") + of_kind(three, "DestinationRule"):
        if obj["metadata"]["namespace"] != CONTROL_PLANE:
            assert obj["spec"]["exportTo"] == ["."], obj["metadata"]


DEFAULT_QUOTA = {
    "requests.cpu": "4", "requests.memory": "8Gi", "limits.memory": "80Gi", "requests.ephemeral-storage": "20Gi", "pods": "50",
    "configmaps": "100", "secrets": "100", "services": "20", "persistentvolumeclaims": "20",
    # One load balancer, the gateway's; its Service's ports (status, and the one server's 80) take node ports.
    "services.loadbalancers": "1", "services.nodeports": "2",
    "requests.storage": "100Gi", "limits.ephemeral-storage": "40Gi",
}
COUNTED = ("virtualservices.networking.istio.io", "authorizationpolicies.security.istio.io", "certificates.cert-manager.io",
           "orders.acme.cert-manager.io", "httproutes.gateway.networking.k8s.io", "jobs.batch", "cronjobs.batch",
           "rolebindings.rbac.authorization.k8s.io")


def _without_counts(hard: dict) -> dict:
    return {k: v for k, v in hard.items() if not k.startswith("count/")}


def test_quotas_defaults_and_overrides(three):
    shop_a = find(three, "ResourceQuota", "tenant-quota", "shop-a")["spec"]["hard"]
    assert _without_counts(shop_a) == {**DEFAULT_QUOTA, "requests.cpu": "8", "requests.memory": "16Gi", "pods": "100"}
    # 50 of each counted kind, above the platform's own (shop-a: a route, an export, a server, two policies).
    assert all(shop_a[f"count/{kind}"] == "55" for kind in COUNTED)
    for ns in ("b-prod", "shop-c"):
        hard = find(three, "ResourceQuota", "tenant-quota", ns)["spec"]["hard"]
        assert _without_counts(hard) == DEFAULT_QUOTA and all(hard[f"count/{kind}"] == "53" for kind in COUNTED)
    for ns in NAMESPACES.values():
        limits, volumes = find(three, "LimitRange", "tenant-limits", ns)["spec"]["limits"]
        # Every container ends up with requests, so the requests quota never rejects a pod for
        # lacking them, and with memory and disk limits, which the limits quota counts.
        assert limits["type"] == "Container" and set(limits["defaultRequest"]) == {"cpu", "memory", "ephemeral-storage"}
        assert set(limits["default"]) == {"memory", "ephemeral-storage"} and limits["max"] == {"memory": "8Gi", "ephemeral-storage": "4Gi"}
        assert volumes == {"type": "PersistentVolumeClaim", "max": {"storage": "20Gi"}}


def test_every_quota_field_can_be_overridden(tmp_path):
    quota = (
        "{cpu: '1', memory: 1Gi, pods: 5, limitsMemory: 4Gi, containerMemory: 2Gi, ephemeralStorage: 1Gi, "
        "configMaps: 7, secrets: 8, services: 3, persistentVolumeClaims: 0, nodePorts: 2, storage: 5Gi, volumeSize: 1Gi, "
        "limitsEphemeralStorage: 3Gi, containerEphemeralStorage: 2Gi, objects: 4}"
    )
    cluster = "cluster: {storageClasses: [fast, standard]}\n"
    objs = objects(run(tenants_yaml=f"{cluster}tenants:\n  - name: t\n    quota: {quota}\n", tmp_path=tmp_path))
    hard = find(objs, "ResourceQuota", "tenant-quota", "t")["spec"]["hard"]
    assert _without_counts(hard) == {
        "requests.cpu": "1", "requests.memory": "1Gi", "limits.memory": "4Gi", "requests.ephemeral-storage": "1Gi",
        "pods": "5", "configmaps": "7", "secrets": "8", "services": "3", "persistentvolumeclaims": "0",
        "services.loadbalancers": "1", "services.nodeports": "4",  # the gateway's 2, and the 2 asked for
        "requests.storage": "5Gi", "limits.ephemeral-storage": "3Gi",
        "fast.storageclass.storage.k8s.io/requests.storage": "5Gi", "standard.storageclass.storage.k8s.io/requests.storage": "5Gi",
    }
    assert all(hard[f"count/{kind}"] == "7" for kind in COUNTED)  # 4, and the default server and two policies
    containers, volumes = find(objs, "LimitRange", "tenant-limits", "t")["spec"]["limits"]
    assert containers["max"] == {"memory": "2Gi", "ephemeral-storage": "2Gi"} and volumes["max"] == {"storage": "1Gi"}


@pytest.mark.parametrize("service, balancers, node_ports", [("LoadBalancer", "1", "3"), ("NodePort", "0", "3"), ("ClusterIP", "0", "0")])
def test_the_quota_leaves_room_for_the_gateways_service_as_the_file_makes_it(tmp_path, service, balancers, node_ports):
    servers = "[{port: 80, hosts: [a.example.com]}, {port: 8443, protocol: HTTPS, hosts: [a.example.com], tls: {mode: SIMPLE, credentialName: a}}]"
    objs = objects(run(tenants_yaml=f"tenants:\n  - name: t\n    gateway: {{service: {{type: {service}}}, servers: {servers}}}\n", tmp_path=tmp_path))
    hard = find(objs, "ResourceQuota", "tenant-quota", "t")["spec"]["hard"]
    assert (hard["services.loadbalancers"], hard["services.nodeports"]) == (balancers, node_ports)  # status, 80, 8443


def test_admins_get_admin_in_their_namespace_only(three):
    bindings = of_kind(three, "RoleBinding")
    assert [b["metadata"]["namespace"] for b in bindings] == ["shop-a"]  # none where no admins are named
    (binding,) = bindings
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"}
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice@example.com"},
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "shop-a-admins"},
    ]
    # Nothing cluster-wide for a tenant: the only cluster role bindings are the install's own.
    assert not [b for b in of_kind(three, "ClusterRoleBinding") if TENANT_LABEL in b["metadata"].get("labels", {})]
    assert not [b for b in of_kind(three, "ClusterRoleBinding") if any(s.get("name") == "alice@example.com" for s in b.get("subjects", []))]


# --- Sharing needs both sides ---------------------------------------------------------------


def test_an_export_nobody_imports_opens_nothing(tmp_path):
    objs = objects(run(tenants_yaml=THREE_TENANTS.replace("    imports:\n      - {tenant: shop-a, service: api}\n", ""), tmp_path=tmp_path))
    assert policy_namespaces(objs, "shop-a") == {"shop-a"}
    assert not network_admits(objs, "shop-a", _service_pod("api"), "b-prod")
    assert sidecar_hosts(objs, "b-prod") == ["./*", f"{CONTROL_PLANE}/*"]


def test_an_import_nobody_exports_is_an_error_naming_both_tenants(tmp_path):
    with pytest.raises(pulumi.RunError) as err:
        run(tenants_yaml=THREE_TENANTS.replace("{tenant: shop-a, service: api}", "{tenant: shop-a, service: db}"), tmp_path=tmp_path)
    message = str(err.value)
    assert "tenants[shop-b].imports[0]" in message and "'shop-a'" in message and "'db'" in message


@pytest.mark.parametrize("stack", ["dev", "classic"])
def test_a_custom_control_plane_namespace_is_the_one_admitted(tmp_path, stack):
    program = run(stack, tenants_yaml="controlPlane: {namespace: mesh-system}\ntenants:\n  - name: team-a\n", tmp_path=tmp_path)
    objs = objects(program)
    assert find(objs, "PeerAuthentication", "default", "mesh-system")["spec"]["mtls"]["mode"] == "STRICT"
    assert sidecar_hosts(objs, "team-a") == ["./*", "mesh-system/*"]
    # The scraper's namespace by default: the proxy's metrics ports of the tenant's pods, nothing else.
    assert network_admits_on(objs, "team-a", {}, _ns("mesh-system"), 15020) and not network_admits_on(objs, "team-a", {}, _ns("istio-system"), 15020)
    assert not network_admits(objs, "team-a", {}, "mesh-system")
    if stack == "classic":
        iop = find(objs, "IstioOperator", "platform-istiocontrolplane", "mesh-system")
        assert iop["spec"]["values"]["pilot"]["env"]["PILOT_SCOPE_GATEWAY_TO_NAMESPACE"] == "true"
        assert iop["spec"]["values"]["global"]["istioNamespace"] == "mesh-system"
    else:
        istiod = chart_values(program, "istiod", "mesh-system")
        assert istiod["env"]["PILOT_SCOPE_GATEWAY_TO_NAMESPACE"] == "true"
        assert istiod["global"]["istioNamespace"] == chart_values(program, "istio-base", "mesh-system")["global"]["istioNamespace"] == "mesh-system"


def test_the_operator_path_applies_the_shared_mesh_hardening(classic_objects):
    spec = find(classic_objects, "IstioOperator", "platform-istiocontrolplane", CONTROL_PLANE)["spec"]
    env = spec["values"]["pilot"]["env"]
    assert env == hardened_pilot_env()
    assert env["PILOT_SCOPE_GATEWAY_TO_NAMESPACE"] == "true" and env["ENABLE_DEBUG_ON_HTTP"] == "false"
    assert env["PILOT_JWT_ENABLE_REMOTE_JWKS"] == "envoy"  # istiod fetches no URL for a tenant
    mesh = spec["meshConfig"]
    # The hardening, and the classic stack's add-ons' tracing provider.
    assert {k: v for k, v in mesh.items() if k != "extensionProviders"} == hardened_mesh_config()
    assert [p["name"] for p in mesh["extensionProviders"]] == ["jaeger"]
    assert mesh["ingressControllerMode"] == "OFF" and mesh["outboundTrafficPolicy"] == {"mode": "REGISTRY_ONLY"}
    for kind in ("VirtualService", "DestinationRule", "Service"):
        assert mesh[f"default{kind}ExportTo"] == ["."]


def test_gateways_are_scoped_to_their_namespace_by_istiod(dev_run):
    assert chart_values(dev_run, "istiod", CONTROL_PLANE)["env"]["PILOT_SCOPE_GATEWAY_TO_NAMESPACE"] == "true"


# --- TLS -----------------------------------------------------------------------------------

TLS_TENANT = """
tenants:
  - name: secure
    gateway:
      servers:
        - {port: 80, protocol: HTTP, hosts: [www.secure.example.com]}
        - port: 443
          protocol: HTTPS
          hosts: [www.secure.example.com, secure/api.secure.example.com]
          tls: {mode: SIMPLE, credentialName: secure-tls, issuer: letsencrypt}
        - port: 8443
          protocol: TLS
          hosts: [db.secure.example.com]
          tls: {mode: SIMPLE, credentialName: db-tls}
        - port: 9443
          protocol: TLS
          hosts: [raw.secure.example.com]
          tls: {mode: PASSTHROUGH}
    routes:
      - {name: db, tcp: {port: 8443, to: {service: db, port: 5432}}}
      - {name: raw, tls: {port: 9443, to: {service: raw, port: 8443}}}
"""
# cert-manager.io/v1 CertificateSpec fields (cert-manager's API reference); its CRD is not in
# the reference data, so the shape is checked here instead of by schema_errors.
CERTIFICATE_SPEC_FIELDS = {
    "secretName", "issuerRef", "dnsNames", "commonName", "duration", "renewBefore", "ipAddresses", "uris",
    "emailAddresses", "privateKey", "usages", "isCA", "secretTemplate", "subject", "keystores",
    "revisionHistoryLimit", "encodeUsagesInRequest", "literalSubject", "nameConstraints", "otherNames",
    "additionalOutputFormats", "renewBeforePercentage",
}


@pytest.fixture(scope="module")
def tls_run(tmp_path_factory):
    return run(tenants_yaml=TLS_TENANT, tmp_path=tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_objects(tls_run):
    return objects(tls_run)


def test_tls_servers_read_secrets_from_the_tenant_namespace(tls_run, tls_objects):
    gateway = find(tls_objects, "Gateway", "secure-gateway", "secure")
    credentials = [s["tls"].get("credentialName") for s in gateway["spec"]["servers"] if "tls" in s]
    # A bare Secret name: Istio looks it up in the namespace of the gateway pods, the tenant's.
    assert credentials == ["secure-tls", "db-tls", None]
    assert deployed_gateway(tls_run, "secure-ingressgw", "secure").namespace == "secure"


def test_a_certificate_only_where_an_issuer_is_named(tls_objects):
    (certificate,) = of_kind(tls_objects, "Certificate")
    assert certificate["apiVersion"] == "cert-manager.io/v1"
    assert certificate["metadata"]["namespace"] == "secure" and certificate["metadata"]["name"] == "secure-tls"
    spec = certificate["spec"]
    assert set(spec) <= CERTIFICATE_SPEC_FIELDS
    assert spec == {
        "secretName": "secure-tls",  # the Secret the gateway reads
        "dnsNames": ["api.secure.example.com", "www.secure.example.com"],
        "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "letsencrypt"},
    }


@pytest.mark.parametrize("stack_objects", ["dev_objects", "classic_objects", "three", "tls_objects"])
def test_every_object_validates_except_cert_manager(request, stack_objects):
    problems = {}
    for obj in request.getfixturevalue(stack_objects):
        errors = schema_errors(obj)
        if (obj["apiVersion"], obj["kind"]) == CERT_MANAGER_KEY:
            assert errors == [f"no upstream schema for {CERT_MANAGER_KEY}"]  # the gap, documented
        elif errors:
            problems[f"{obj['kind']} {obj['metadata'].get('namespace')}/{obj['metadata']['name']}"] = errors
    assert problems == {}


# --- Wiring and budget -------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "classic"])
def test_isolation_objects_wait_for_what_they_need(tmp_path, stack):
    program = run(stack, tenants_yaml=THREE_TENANTS, tmp_path=tmp_path)
    if stack == "classic":
        ready = registration_of(program, "IstioOperator", "platform-istiocontrolplane", CONTROL_PLANE)
    else:
        ready = chart(program, "istiod", CONTROL_PLANE)
    cp_namespace = registration_of(program, "Namespace", CONTROL_PLANE)
    mesh_wide = registration_of(program, "PeerAuthentication", "default", CONTROL_PLANE)
    assert {ready.urn, cp_namespace.urn} <= set(mesh_wide.dependencies)
    namespace = registration_of(program, "Namespace", "shop-a")
    for kind, name in [("PeerAuthentication", "default"), ("Sidecar", "default"),
                       ("AuthorizationPolicy", "allow-same-namespace"), ("AuthorizationPolicy", "allow-export-api")]:
        r = registration_of(program, kind, name, "shop-a")
        assert {namespace.urn, ready.urn} <= set(r.dependencies), kind
    for kind, name in [("NetworkPolicy", "allow-tenant-ingress"), ("NetworkPolicy", "restrict-tenant-egress"),
                       ("LimitRange", "tenant-limits"), ("RoleBinding", "tenant-admins")]:
        r = registration_of(program, kind, name, "shop-a")
        assert r.dependencies == [namespace.urn], kind  # plain Kubernetes: no need to wait for Istio
        assert r.type.startswith("kubernetes:") and "apiextensions" not in r.type  # typed, not a CustomResource
    # The quota counts Istio's kinds: created last, or the API server refuses the tenant's Istio
    # objects while kube-controller-manager has not yet discovered CRDs created in the same run.
    quota = registration_of(program, "ResourceQuota", "tenant-quota", "shop-a")
    (mesh,) = [r for r in program.registrations if r.type == "istio-multitenancy:index:TenantMesh" and r.name == "shop-a"]
    others = {r.urn for r in program.registrations if r.parent == mesh.urn and r.urn not in (quota.urn, namespace.urn)}
    assert others and others <= set(quota.dependencies)
    assert namespace.urn in quota.dependencies and ready.urn not in quota.dependencies


def _tenant_resources(program, tenant: str) -> Counter:
    (mesh,) = [r for r in program.registrations if r.type == "istio-multitenancy:index:TenantMesh" and r.name == tenant]
    owned = [r for r in program.registrations if r.parent == mesh.urn]
    # No nested components of ours: the one component is the gateway's Helm chart (Helm path).
    assert all(r.custom or r.type == "kubernetes:helm.sh/v4:Chart" for r in owned)
    return Counter(["TenantMesh"] + [r.inputs.get("kind", "Chart") for r in owned])


@pytest.mark.parametrize("stack, gateway", [("dev", "Chart"), ("classic", "IstioOperator")])
def test_resource_budget_per_tenant(tmp_path, stack, gateway):
    program = run(stack, tenants_yaml=THREE_TENANTS, tmp_path=tmp_path)
    full = _tenant_resources(program, "shop-a")  # one route, admins, one exported service
    assert full == {
        "TenantMesh": 1, "Namespace": 1, gateway: 1, "Gateway": 1, "VirtualService": 1,
        "PeerAuthentication": 1, "Sidecar": 1,
        "AuthorizationPolicy": 3,  # same namespace, gateway, the export
        "NetworkPolicy": 2,  # ingress to every pod but the gateway's; egress of every pod
        "ResourceQuota": 1, "LimitRange": 1, "RoleBinding": 1,
    }
    assert sum(_tenant_resources(program, "shop-c").values()) == 12  # no route, admins or export


@pytest.mark.parametrize("stack", ["dev", "classic"])
def test_a_one_route_tenant_with_everything_optional_fits_the_budget(tmp_path, stack):
    program = run(stack, tenants_yaml=THREE_TENANTS.replace(
        "    routes:\n",
        "    gateway:\n"
        "      servers:\n"
        "        - {port: 443, protocol: HTTPS, hosts: [a.example.com], tls: {mode: SIMPLE, credentialName: a-tls, issuer: le}}\n"
        "    routes:\n",
    ), tmp_path=tmp_path)
    full = _tenant_resources(program, "shop-a")  # one route, admins, one certificate, one exported service
    assert full["VirtualService"] == full["RoleBinding"] == full["Certificate"] == 1 and full["AuthorizationPolicy"] == 3
    assert sum(full.values()) == 16  # the issue's budget: at most 16, components included


# --- Egress, istiod, CNI ----------------------------------------------------------------------

EGRESS_TENANT = """
tenants:
  - name: team
    egress:
      - {cidr: 0.0.0.0/0, ports: [443]}
      - {cidr: 10.20.0.0/16}
      - {cidr: "::/0", ports: [443]}
"""


def test_egress_allowances_never_reach_the_metadata_address(tmp_path):
    objs = objects(run(tenants_yaml=EGRESS_TENANT, tmp_path=tmp_path))
    policy = find(objs, "NetworkPolicy", "restrict-tenant-egress", "team")
    assert policy["spec"]["podSelector"] == {}  # the gateway's pods too
    blocks = [peer["ipBlock"] for rule in policy["spec"]["egress"] for peer in rule["to"] if "ipBlock" in peer]
    assert blocks == [
        {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]},
        {"cidr": "10.20.0.0/16"},
        {"cidr": "::/0", "except": ["fd00:ec2::254/128"]},
    ]
    gateway = {"istio": "ingressgateway-team", "app": "istio-ingressgateway-team"}
    for pod in ({}, gateway):
        allows = lambda ip, port: network_egress_allows(objs, "team", pod, to_ip=ip, port=port)  # noqa: E731
        assert allows("93.184.216.34", 443) and not allows("93.184.216.34", 80)
        assert allows("10.20.3.4", 5432) and not allows("10.21.3.4", 5432)
        assert not allows("169.254.169.254", 443) and not allows("169.254.169.254", 80)
        assert allows("2001:db8::1", 443) and not allows("fd00:ec2::254", 443)


def _ns(name: str, **labels: str) -> dict:
    return {"kubernetes.io/metadata.name": name, **labels}


ISTIOD = {"app": "istiod"}


def test_istiod_admits_only_what_must_reach_it(dev_objects):
    admits = lambda source, port: network_admits_on(dev_objects, CONTROL_PLANE, ISTIOD, source, port)  # noqa: E731
    tenant = _ns("shop", **{TENANT_LABEL: "shop"})
    stranger = _ns("somewhere-else")
    # XDS and the CA: the mesh's namespaces (its tenants', its own), no one else.
    assert admits(tenant, 15012) and admits(_ns(CONTROL_PLANE), 15012)
    assert not admits(stranger, 15012) and not admits(None, 15012)
    # Webhooks: the API server comes from no pod.
    assert admits(None, 15017) and admits(stranger, 15017)
    # Metrics: the scraper's namespace only; plain-text XDS and anything else: no one.
    assert admits(_ns(CONTROL_PLANE), 15014) and not admits(tenant, 15014)
    for port in (15010, 8080, 9876):
        assert not any(admits(src, port) for src in (tenant, stranger, _ns(CONTROL_PLANE), None))


def test_the_control_plane_namespace_denies_by_default(dev_objects):
    deny = find(dev_objects, "NetworkPolicy", "default-deny-ingress", CONTROL_PLANE)
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": []}
    tenant = _ns("shop", **{TENANT_LABEL: "shop"})
    # A pod without a sidecar in a tenant namespace reaches nothing there but istiod and the gateway.
    assert not network_admits_on(dev_objects, CONTROL_PLANE, {"app": "kiali"}, tenant, 20001)
    assert not network_admits_on(dev_objects, CONTROL_PLANE, {"app": "grafana"}, tenant, 3000)
    gateway = {"app": "istio-ingressgateway", "istio": "ingressgateway"}
    assert network_admits_on(dev_objects, CONTROL_PLANE, gateway, None, 15021)


def test_cert_manager_is_protected_by_default_and_kube_system_only_when_asked(tmp_path):
    # Unused, cert-manager's namespace may not exist: left alone unless the file says otherwise.
    assert not in_namespace(objects(run(tenants_yaml="tenants: []\n", tmp_path=tmp_path)), "NetworkPolicy", "cert-manager")
    uses_it = (
        "tenants:\n  - name: t\n    gateway: {servers: [{port: 443, protocol: HTTPS, hosts: [a.example.com], "
        "tls: {mode: SIMPLE, credentialName: t-tls, issuer: letsencrypt}}]}\n"
    )
    objs = objects(run(tenants_yaml=uses_it, tmp_path=tmp_path))
    webhook = {"app.kubernetes.io/instance": "cert-manager", "app.kubernetes.io/component": "webhook"}
    tenant = _ns("shop", **{TENANT_LABEL: "shop"})
    assert network_admits_on(objs, "cert-manager", webhook, None, 10250)  # the API server
    assert not network_admits_on(objs, "cert-manager", webhook, tenant, 9402)
    assert not network_admits_on(objs, "cert-manager", {"app": "anything"}, tenant, 10250)
    assert not in_namespace(objs, "NetworkPolicy", "kube-system")
    objs = objects(run(
        tenants_yaml="cluster: {certManager: {networkPolicy: false}, kubeSystem: {networkPolicy: true}}\ntenants: []\n",
        tmp_path=tmp_path,
    ))
    assert not in_namespace(objs, "NetworkPolicy", "cert-manager")
    dns = {"k8s-app": "kube-dns"}
    assert network_admits_on(objs, "kube-system", dns, tenant, 53, "UDP") and network_admits_on(objs, "kube-system", dns, tenant, 53)
    assert not network_admits_on(objs, "kube-system", dns, tenant, 9153)
    assert not network_admits_on(objs, "kube-system", {"component": "metrics-server"}, tenant, 443)


def test_the_scraper_namespace_is_the_files(tmp_path):
    objs = objects(run(tenants_yaml="observability: {scraperNamespace: monitoring}\ntenants: [{name: shop}]\n", tmp_path=tmp_path))
    assert network_admits_on(objs, CONTROL_PLANE, ISTIOD, _ns("monitoring"), 15014)
    assert not network_admits_on(objs, CONTROL_PLANE, ISTIOD, _ns(CONTROL_PLANE), 15014)
    # A tenant's proxies' metrics too; the control plane's namespace then reaches nothing of the tenant's pods.
    for port in (15020, 15090):
        assert network_admits_on(objs, "shop", _service_pod("api"), _ns("monitoring"), port)
        assert not network_admits_on(objs, "shop", _service_pod("api"), _ns(CONTROL_PLANE), port)
    assert not network_admits_on(objs, "shop", _service_pod("api"), _ns("monitoring"), 8080)


def test_the_operator_path_installs_istio_cni(classic_objects):
    spec = find(classic_objects, "IstioOperator", "platform-istiocontrolplane", CONTROL_PLANE)["spec"]
    # The CNI component, and the injector told to rely on it (no istio-init with NET_ADMIN).
    assert spec["components"]["cni"] == {"enabled": True}
    assert spec["values"]["pilot"]["cni"] == {"enabled": True}


def test_tenant_namespaces_enforce_their_pod_security_level(tmp_path):
    objs = objects(run(tenants_yaml="tenants:\n  - name: a\n  - name: b\n    podSecurity: baseline\n", tmp_path=tmp_path))
    for ns, level in (("a", "restricted"), ("b", "baseline")):
        labels = find(objs, "Namespace", ns)["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == level
        assert labels["pod-security.kubernetes.io/warn"] == labels["pod-security.kubernetes.io/audit"] == "restricted"


def test_approver_policy_limits_cert_manager_per_tenant_when_the_file_turns_it_on(tmp_path, three):
    assert not of_kind(three, "CertificateRequestPolicy")
    tenants = (
        "cluster: {certManager: {approverPolicy: true}}\n"
        "tenants:\n  - name: t\n    gateway: {servers: [{port: 443, protocol: HTTPS, hosts: [a.example.com, '*.b.example.com'], "
        "tls: {mode: SIMPLE, credentialName: t-tls, issuer: letsencrypt}}]}\n"
    )
    objs = objects(run(tenants_yaml=tenants, tmp_path=tmp_path))
    (policy,) = of_kind(objs, "CertificateRequestPolicy")
    spec = policy["spec"]
    # The tenant's hosts as DNS names; nothing else (no CA, subject, IP, URI: omitted fields must be empty).
    assert spec["allowed"]["dnsNames"] == {"values": ["*.b.example.com", "a.example.com"]}
    assert set(spec["allowed"]) == {"dnsNames", "usages"}
    assert spec["selector"]["namespace"] == {"matchNames": ["t"]}
    role = find(objs, "ClusterRole", policy["metadata"]["name"])
    assert role["rules"] == [{"apiGroups": ["policy.cert-manager.io"], "resources": ["certificaterequestpolicies"],
                              "verbs": ["use"], "resourceNames": [policy["metadata"]["name"]]}]
    binding = find(objs, "RoleBinding", "cert-manager-policy", "t")
    assert binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "system:serviceaccount:cert-manager:cert-manager"}]


def test_the_platform_network_takes_more_openings_as_data():
    from builders.platform_network import Allowance, Opening, control_plane_network, tcp
    from tenants import parse_tenants

    config = parse_tenants("tenants: []\n", "tenants.yaml")
    base = control_plane_network(config, None, CONTROL_PLANE)
    grafana = Allowance("grafana", "observability", {"app": "grafana"}, (Opening(tcp(3000), ({"namespaceSelector": {}},)),))
    objs = base.with_(["observability"], [grafana]).objects()
    assert objs[: len(base.objects())] != [] and find(objs, "NetworkPolicy", "default-deny-ingress", "observability")
    assert network_admits_on(objs, "observability", {"app": "grafana"}, _ns("shop"), 3000)
    assert not network_admits_on(objs, "observability", {"app": "grafana"}, _ns("shop"), 3001)
    assert not network_admits_on(objs, "observability", {"app": "other"}, _ns("shop"), 3000)
    # An opening in a namespace nobody closed is dropped: it would mean nothing.
    stray = Allowance("stray", "elsewhere", {}, (Opening(tcp(1)),))
    assert not in_namespace(base.with_(allowances=[stray]).objects(), "NetworkPolicy", "elsewhere")
