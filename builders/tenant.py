"""What one tenant gets: a namespace, its own ingress gateway (via an IstioOperator), a Gateway
selecting exactly that gateway, and a VirtualService per route."""

from __future__ import annotations

from typing import Optional

from tenants.model import ControlPlane, Route, Server, Tenant

from .control_plane import DEFAULT_NAMESPACE
from .istio import gateway, pinned_replicas, virtual_service
from .meta import WAIT_FOR_HEALTHY, k8s_object, namespace, tenant_labels


# Istio's gateway health port: load balancers probe it (`/healthz/ready`), so every gateway
# Service keeps it beside the ports the tenants file declares.
STATUS_PORT = {"name": "status-port", "port": 15021, "targetPort": 15021, "protocol": "TCP"}


def gateway_service_ports(tenant: Tenant) -> list[dict]:
    """The gateway Service's ports: the status port, then one per declared server in port order.

    Nothing else is opened: a port no server declares has no listener behind it. The target port
    is the port itself: the gateway pods bind the servers' ports (unprivileged ports start at 0 in
    their pods).
    """
    return [dict(STATUS_PORT)] + [
        {"name": server.port_name, "port": server.port, "targetPort": server.port, "protocol": "TCP"}
        for server in tenant.gateway.servers_by_port
    ]


def gateway_service_values(tenant: Tenant) -> dict:
    """The Istio `gateway` chart's `service:` value for the tenant's gateway (type, ports, annotations)."""
    service = tenant.gateway.service
    values: dict = {"type": service.type.value, "ports": gateway_service_ports(tenant)}
    if service.annotations:
        values["annotations"] = dict(service.annotations)
    return values


def gateway_resource_name(tenant: Tenant) -> str:
    """Name of the tenant's `Gateway` object (routes bind to it)."""
    return f"{tenant.name}-gateway"


def service_host(service: str, namespace_name: str) -> str:
    return f"{service}.{namespace_name}.svc.cluster.local"


# Sidecar injection by the one control plane without revision (a file without meshes).
DEFAULT_INJECTION = {"istio-injection": "enabled"}


def tenant_namespace(tenant: Tenant, injection: Optional[dict[str, str]] = None) -> dict:
    """`injection`: the labels that choose the control plane injecting the namespace's pods (and,
    with several meshes, the mesh that discovers it); by default the one without revision."""
    return namespace(tenant.namespace_name, {**tenant_labels(tenant.name), **(injection or DEFAULT_INJECTION)})


def gateway_operator(tenant: Tenant, cp: ControlPlane) -> dict:
    """A profile-`empty` IstioOperator that deploys only this tenant's ingress gateway, into its namespace."""
    ingress: dict = {
        "name": tenant.gateway_name,
        "namespace": tenant.namespace_name,
        "enabled": True,
        "label": dict(tenant.gateway_labels),
    }
    if tenant.gateway.replicas:
        ingress["k8s"] = pinned_replicas(tenant.gateway.replicas)
    spec: dict = {"profile": "empty", "components": {"ingressGateways": [ingress]}}
    if cp.namespace != DEFAULT_NAMESPACE:
        spec["values"] = {"global": {"istioNamespace": cp.namespace}}
    return k8s_object(
        "install.istio.io/v1alpha1", "IstioOperator", tenant.gateway_name, cp.namespace,
        labels=tenant_labels(tenant.name), annotations=WAIT_FOR_HEALTHY, spec=spec,
    )


def _server(server: Server) -> dict:
    out: dict = {
        "port": {"number": server.port, "name": server.port_name, "protocol": server.protocol.value},
        "hosts": list(server.hosts),
    }
    if server.tls is not None:
        tls: dict = {"mode": server.tls.mode.value}
        if server.tls.credential_name:
            tls["credentialName"] = server.tls.credential_name
        out["tls"] = tls
    return out


def tenant_gateway(tenant: Tenant) -> dict:
    """The tenant's Gateway: its selector is exactly the tenant's gateway labels."""
    return gateway(
        gateway_resource_name(tenant),
        tenant.namespace_name,
        tenant.gateway_labels,
        [_server(s) for s in tenant.gateway.servers_by_port],
        tenant_labels(tenant.name),
    )


def _match(match) -> dict:
    kind = "exact" if match.exact is not None else "prefix" if match.prefix is not None else "regex"
    return {"uri": {kind: getattr(match, kind)}}


def route_virtual_service(tenant: Tenant, route: Route) -> dict:
    http = []
    for rule in route.http:
        entry: dict = {}
        if rule.match:
            entry["match"] = [_match(m) for m in rule.match]
        entry["route"] = [
            {"destination": {"host": service_host(rule.to.service, tenant.namespace_name), "port": {"number": rule.to.port}}}
        ]
        http.append(entry)
    return virtual_service(
        route.name,
        tenant.namespace_name,
        tenant_labels(tenant.name),
        hosts=tenant.route_hosts(route),
        gateways=[gateway_resource_name(tenant)],
        http=http,
        export_to=["."],
    )
