"""What one tenant gets: a namespace, its own ingress gateway (via an IstioOperator), a Gateway
selecting exactly that gateway, and a VirtualService per route."""

from __future__ import annotations

from tenants.model import ControlPlane, Route, Server, Tenant

from .control_plane import DEFAULT_NAMESPACE
from .istio import gateway, pinned_replicas, virtual_service
from .mesh_settings import gateway_pod_security_context
from .meta import WAIT_FOR_HEALTHY, k8s_object, namespace, tenant_labels
from .pod_security import pod_security_labels


def gateway_resource_name(tenant: Tenant) -> str:
    """Name of the tenant's `Gateway` object (routes bind to it)."""
    return f"{tenant.name}-gateway"


def service_host(service: str, namespace_name: str) -> str:
    return f"{service}.{namespace_name}.svc.cluster.local"


def tenant_namespace(tenant: Tenant) -> dict:
    return namespace(tenant.namespace_name, {**tenant_labels(tenant.name), "istio-injection": "enabled", **pod_security_labels(tenant)})


def gateway_operator(tenant: Tenant, cp: ControlPlane) -> dict:
    """A profile-`empty` IstioOperator that deploys only this tenant's ingress gateway, into its namespace."""
    ingress: dict = {
        "name": tenant.gateway_name,
        "namespace": tenant.namespace_name,
        "enabled": True,
        "label": dict(tenant.gateway_labels),
    }
    # The pod runs under the namespace's Pod Security level (restricted by default).
    ingress["k8s"] = {"securityContext": gateway_pod_security_context()}
    if tenant.gateway.replicas:
        ingress["k8s"].update(pinned_replicas(tenant.gateway.replicas))
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
        # `./`: only VirtualServices of the gateway's own namespace may bind to its hosts.
        "hosts": [host if "/" in host else f"./{host}" for host in server.hosts],
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
