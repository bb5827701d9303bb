"""The tenant gateway's Service: every declared server port, the health port, and nothing else,
on the Helm path (the gateway chart's values), the operator path (the IstioOperator) and for
Gateway API tenants (the listeners Istio derives the Service from)."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders.gateway_api import kubernetes_gateway
from builders.tenant import UNPRIVILEGED_PORT_START, gateway_operator_service, gateway_service_ports, gateway_service_values
from tenants.model import Tenant
from tenants.rules import ISTIO_PROXY_PORTS
from tests.support import find, objects, of_kind, reference, run, schema_errors

GATEWAY_CHART = ("istio", "1.30.3", "charts", "gateway")


def tenant(**gateway) -> Tenant:
    return Tenant.model_validate({"name": "shop", "gateway": gateway})


MIXED = dict(
    servers=[
        {"port": 8443, "protocol": "TLS", "hosts": ["db.example.com"], "tls": {"mode": "PASSTHROUGH"}},
        {"port": 80, "hosts": ["shop.example.com"]},
        {"port": 5432, "protocol": "TCP", "name": "postgres"},
    ]
)


def test_service_ports_are_the_status_port_then_each_server_in_port_order():
    ports = gateway_service_ports(tenant(**MIXED))
    assert [(p["name"], p["port"], p["targetPort"]) for p in ports] == [
        ("status-port", 15021, 15021),
        ("http-80", 80, 80),
        ("postgres", 5432, 5432),
        ("tls-8443", 8443, 8443),
    ]
    assert {p["protocol"] for p in ports} == {"TCP"}


def test_default_gateway_opens_port_80_only():
    assert [p["port"] for p in gateway_service_ports(tenant())] == [15021, 80]


def _chart_service_schema() -> dict:
    schema = json.loads(reference(*GATEWAY_CHART, "values.schema.json").read_text())
    return {**schema["$defs"]["values"]["properties"]["service"], "$defs": schema["$defs"]}


@pytest.mark.parametrize(
    "service",
    [{}, {"type": "NodePort"}, {"type": "ClusterIP"}, {"annotations": {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"}}],
    ids=["default", "node-port", "cluster-ip", "annotated"],
)
def test_service_values_fit_the_gateway_chart(service):
    values = gateway_service_values(tenant(service=service, **MIXED))
    jsonschema.Draft7Validator(_chart_service_schema()).validate(values)
    chart_keys = set(yaml.safe_load(reference(*GATEWAY_CHART, "values.yaml").read_text())["_internal_defaults_do_not_set"]["service"])
    assert set(values) <= chart_keys
    assert values["type"] == service.get("type", "LoadBalancer")
    assert values.get("annotations", {}) == service.get("annotations", {})
    assert values["ports"] == gateway_service_ports(tenant(**MIXED))


# --- Every path opens exactly the declared ports ---------------------------------------------

STATUS = 15021
free_ports = st.integers(1, 65535).filter(lambda p: p not in ISTIO_PROXY_PORTS)


@st.composite
def tenants_with_servers(draw) -> Tenant:
    ports = draw(st.lists(free_ports, min_size=1, max_size=8, unique=True))
    servers = []
    for port in ports:
        protocol = draw(st.sampled_from(["HTTP", "HTTPS", "TCP", "TLS"]))
        server: dict = {"port": port, "protocol": protocol, "hosts": [f"h{port}.example.com"]}
        if protocol in ("HTTPS", "TLS"):
            server["tls"] = draw(st.sampled_from([{"mode": "PASSTHROUGH"}, {"mode": "SIMPLE", "credentialName": "cert"}]))
        servers.append(server)
    api = draw(st.sampled_from(["istio", "gateway-api"]))
    return Tenant.model_validate({"name": "t", "gateway": {"api": api, "servers": servers}})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tenants_with_servers())
def test_every_server_port_is_exposed_and_nothing_else(tenant):
    declared = sorted(s.port for s in tenant.gateway.servers)
    # Helm path: the gateway chart's Service.
    chart_ports = gateway_service_ports(tenant)
    assert [p["port"] for p in chart_ports] == [STATUS, *declared]
    assert all(p["targetPort"] == p["port"] for p in chart_ports)
    assert len({p["name"] for p in chart_ports}) == len(chart_ports)
    # Operator path: the IstioOperator's Service, on ports its unprivileged pods can bind.
    operator_ports = gateway_operator_service(tenant)["service"]["ports"]
    assert [p["port"] for p in operator_ports] == [STATUS, *declared]
    targets = [p["targetPort"] for p in operator_ports]
    assert len(set(targets)) == len(targets)
    for p in operator_ports:
        assert p["targetPort"] == p["port"] if p["port"] >= UNPRIVILEGED_PORT_START else p["targetPort"] >= UNPRIVILEGED_PORT_START
    # Gateway API: Istio gives the Service the status port and one port per listener port.
    assert sorted({l["port"] for l in kubernetes_gateway(tenant)["spec"]["listeners"]}) == declared


MIXED_FILE = """
tenants:
  - name: shop
    gateway:
      service:
        type: NodePort
        annotations: {external-dns.alpha.kubernetes.io/hostname: shop.example.com}
      servers:
        - {port: 80, hosts: [shop.example.com]}
        - {port: 443, protocol: HTTPS, hosts: [shop.example.com], tls: {mode: SIMPLE, credentialName: shop-tls}}
        - {port: 5432, protocol: TCP}
        - {port: 8443, protocol: TLS, hosts: [db.example.com], tls: {mode: PASSTHROUGH}}
    routes:
      - {name: web, http: [{to: {service: web, port: 8080}}]}
      - {name: pg, tcp: {to: {service: postgres, port: 5432}}}
      - {name: db, hosts: [db.example.com], tls: {to: {service: db, port: 5432}}}
  - name: internal
    gateway:
      service: {type: LoadBalancer, annotations: {networking.gke.io/load-balancer-type: Internal}}
"""


@pytest.fixture(scope="module")
def both_paths(tmp_path_factory):
    return {
        stack: objects(run(stack, MIXED_FILE, tmp_path_factory.mktemp(stack))) for stack in ("classic", "dev")
    }


def _chart_service(tmp_path_factory, name: str) -> dict:
    program = run("dev", MIXED_FILE, tmp_path_factory.mktemp("chart"))
    (chart,) = [r for r in program.registrations if r.type == "kubernetes:helm.sh/v4:Chart" and r.name == f"{name}/{name}-ingressgw"]
    return chart.inputs["values"]["service"]


def test_the_operator_gateway_service_validates_and_opens_the_declared_ports(both_paths):
    operators = {o["metadata"]["name"]: o for o in of_kind(both_paths["classic"], "IstioOperator")}
    shop = operators["shop-ingressgw"]
    assert schema_errors(shop) == []
    (gateway,) = shop["spec"]["components"]["ingressGateways"]
    service = gateway["k8s"]["service"]
    assert service["type"] == "NodePort"
    assert gateway["k8s"]["serviceAnnotations"] == {"external-dns.alpha.kubernetes.io/hostname": "shop.example.com"}
    assert [(p["name"], p["port"], p["targetPort"]) for p in service["ports"]] == [
        # 443 would target 8443, which the TLS server declares for itself: the next free port.
        ("status-port", 15021, 15021), ("http-80", 80, 8080), ("https-443", 443, 8444), ("tcp-5432", 5432, 5432), ("tls-8443", 8443, 8443),
    ]
    internal = operators["internal-ingressgw"]["spec"]["components"]["ingressGateways"][0]["k8s"]
    assert internal["service"]["type"] == "LoadBalancer"
    assert internal["serviceAnnotations"] == {"networking.gke.io/load-balancer-type": "Internal"}


def test_both_paths_open_the_same_ports_and_route_the_same_way(both_paths, tmp_path_factory):
    iop = {o["metadata"]["name"]: o for o in of_kind(both_paths["classic"], "IstioOperator")}
    operator_ports = [p["port"] for p in iop["shop-ingressgw"]["spec"]["components"]["ingressGateways"][0]["k8s"]["service"]["ports"]]
    chart = _chart_service(tmp_path_factory, "shop")
    assert [p["port"] for p in chart["ports"]] == operator_ports == [15021, 80, 443, 5432, 8443]
    assert chart["type"] == "NodePort"
    for name in ("web", "pg", "db"):
        assert find(both_paths["classic"], "VirtualService", name, "shop") == find(both_paths["dev"], "VirtualService", name, "shop")
    for obj in of_kind(both_paths["dev"], "VirtualService"):
        assert schema_errors(obj) == []


def test_tcp_and_tls_routes_are_virtual_service_sections(both_paths):
    objs = both_paths["dev"]
    pg = find(objs, "VirtualService", "pg", "shop")["spec"]
    assert pg["hosts"] == ["*"] and pg["gateways"] == ["shop-gateway"] and "http" not in pg
    assert pg["tcp"] == [{"route": [{"destination": {"host": "postgres.shop.svc.cluster.local", "port": {"number": 5432}}}]}]
    db = find(objs, "VirtualService", "db", "shop")["spec"]
    assert db["hosts"] == ["db.example.com"]
    assert db["tls"] == [{
        "match": [{"sniHosts": ["db.example.com"]}],
        "route": [{"destination": {"host": "db.shop.svc.cluster.local", "port": {"number": 5432}}}],
    }]
