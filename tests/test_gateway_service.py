"""The tenant gateway's Service: every declared server port, the health port, and nothing else."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from builders.tenant import gateway_service_ports, gateway_service_values
from tenants.model import Tenant
from tests.support import reference

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
