"""Synthetic workloads: generated from the tenants file, one per service it names, where its owner lives."""

import json

from builders.isolation import CANONICAL_SERVICE_LABEL
from tenants import parse_tenants
from tests.support import schema_errors
from verify.workloads import UNROUTED_PORT, injected_pods, synthetic_workloads

# shop-a routes HTTP to web and TCP to db, passes TLS through to vault, exports api (which no
# route targets) to shop-b; shop-b lives in namespace b-prod and imports it; shop-c names nothing.
TENANTS = """
tenants:
  - name: shop-a
    gateway:
      servers:
        - {port: 80, protocol: HTTP, hosts: [web.example.com]}
        - {port: 5432, protocol: TCP}
        - {port: 443, protocol: TLS, hosts: [vault.example.com], tls: {mode: PASSTHROUGH}}
        - {port: 8443, protocol: GRPC, hosts: [rpc.example.com]}
    exports:
      - {service: api, to: [shop-b]}
      - {service: web, to: [shop-b]}
    routes:
      - {name: web, hosts: [web.example.com], http: [{to: {service: web, port: 8080}}, {to: {service: web, port: 9090}}]}
      - {name: db, tcp: {port: 5432, to: {service: db, port: 5432}}}
      - {name: vault, tls: {to: {service: vault, port: 8200}}}
      - {name: rpc, hosts: [rpc.example.com], http: [{to: {service: rpc, port: 7070}}]}
  - name: shop-b
    namespace: b-prod
    imports:
      - {tenant: shop-a, service: api}
      - {tenant: shop-a, service: web}
  - name: shop-c
"""


def _config():
    return parse_tenants(TENANTS)


def _by_kind(objs, kind):
    return {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objs if o["kind"] == kind}


def test_one_deployment_service_and_account_per_named_service_in_the_owners_namespace():
    objs = synthetic_workloads(_config())
    services = _by_kind(objs, "Service")
    assert set(services) == {("shop-a", name) for name in ("api", "db", "rpc", "vault", "web")}
    assert set(_by_kind(objs, "ServiceAccount")) == set(services)
    deployments = _by_kind(objs, "Deployment")
    assert {(ns, name.removesuffix("-v1")) for ns, name in deployments} == set(services)
    # Nothing for the importer or for a tenant that names no service.
    assert not [o for o in objs if o["metadata"]["namespace"] != "shop-a"]


def test_ports_come_from_the_routes_and_carry_istio_protocol_names():
    services = _by_kind(synthetic_workloads(_config()), "Service")

    def ports(name):
        return {(p["name"], p["port"], p["targetPort"]) for p in services[("shop-a", name)]["spec"]["ports"]}

    assert ports("web") == {("http-8080", 8080, 8080), ("http-9090", 9090, 9090)}
    assert ports("db") == {("tcp-5432", 5432, 5432)}
    assert ports("vault") == {("tls-8200", 8200, 8200)}
    assert ports("rpc") == {("grpc-7070", 7070, 7070)}
    # Exported, never routed: the file names no port, so the documented default.
    assert ports("api") == {(f"http-{UNROUTED_PORT}", UNROUTED_PORT, UNROUTED_PORT)}


def test_pods_carry_the_labels_the_policies_select_and_the_service_selects_them():
    objs = synthetic_workloads(_config())
    services = _by_kind(objs, "Service")
    for (namespace, name), deployment in _by_kind(objs, "Deployment").items():
        service = name.removesuffix("-v1")
        template = deployment["spec"]["template"]
        labels = template["metadata"]["labels"]
        assert labels == {"app": service, "version": "v1", CANONICAL_SERVICE_LABEL: service}
        selector = services[(namespace, service)]["spec"]["selector"]
        assert selector.items() <= labels.items()
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert template["spec"]["serviceAccountName"] == service
        container_ports = {p["containerPort"] for p in template["spec"]["containers"][0]["ports"]}
        assert container_ports == {p["targetPort"] for p in services[(namespace, service)]["spec"]["ports"]}


def test_workloads_are_valid_kubernetes_objects():
    for obj in synthetic_workloads(_config()):
        assert schema_errors(obj) == [], obj["metadata"]["name"]


def test_injected_pods_look_as_istios_injector_leaves_them():
    objs = synthetic_workloads(_config())
    pods = injected_pods(_config())
    deployments = _by_kind(objs, "Deployment")
    assert len(pods) == len(deployments)
    for pod in pods:
        meta = pod["metadata"]
        template = deployments[(meta["namespace"], meta["labels"]["app"] + "-v1")]["spec"]["template"]
        assert template["metadata"]["labels"].items() <= meta["labels"].items()
        assert meta["labels"]["security.istio.io/tlsMode"] == "istio"
        assert meta["labels"]["service.istio.io/canonical-revision"] == "v1"
        status = json.loads(meta["annotations"]["sidecar.istio.io/status"])
        assert status["containers"] == ["istio-proxy"]
        assert [c["name"] for c in pod["spec"]["containers"]] == [meta["labels"]["app"], "istio-proxy"]
        assert meta["ownerReferences"][0]["kind"] == "ReplicaSet"
        assert schema_errors(pod) == [], meta["name"]


def test_generation_is_stable_and_follows_the_file_not_its_order():
    reordered = TENANTS.replace("      - {service: api, to: [shop-b]}\n      - {service: web, to: [shop-b]}\n",
                                "      - {service: web, to: [shop-b]}\n      - {service: api, to: [shop-b]}\n")
    assert reordered != TENANTS
    assert synthetic_workloads(parse_tenants(reordered)) == synthetic_workloads(_config())
    assert injected_pods(parse_tenants(reordered)) == injected_pods(_config())


def test_stack_files_name_their_routed_services():
    from tenants import load_tenants

    objs = synthetic_workloads(load_tenants("tenants/dev.yaml"))
    assert set(_by_kind(objs, "Service")) == {(f"workspace-{n}", "productpage") for n in (1, 2, 3)}
