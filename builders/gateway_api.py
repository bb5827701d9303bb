"""A Gateway API tenant (`gateway.api: gateway-api`): a `Gateway` of class `istio` and one
HTTPRoute, TLSRoute or TCPRoute per route, instead of an Istio Gateway and VirtualServices.

Istio deploys the gateway itself (its Deployment and Service, named after the tenant's gateway)
from the `Gateway`: no chart or IstioOperator is installed for such a tenant. The namespace and
every isolation object are the same as for an Istio-Gateway tenant; the generated pods carry the
tenant's gateway labels (`spec.infrastructure.labels`), so whatever selects the gateway still does.
"""

from __future__ import annotations

from typing import Optional

from tenants.model import (
    Destination, Protocol, Route, RouteKind, Server, ServiceType, Tenant, TlsMode, UriMatch,
)

from .meta import TENANT_LABEL, k8s_object, tenant_labels
from .tenant import gateway_resource_name

GROUP = "gateway.networking.k8s.io"
GATEWAY_CLASS = "istio"
# TLSRoute is v1 in the standard channel of v1.5.1; TCPRoute only v1alpha2, in the experimental channel.
API_VERSIONS = {"Gateway": f"{GROUP}/v1", "HTTPRoute": f"{GROUP}/v1", "TLSRoute": f"{GROUP}/v1", "TCPRoute": f"{GROUP}/v1alpha2"}
ROUTE_KINDS = {RouteKind.HTTP: "HTTPRoute", RouteKind.TLS: "TLSRoute", RouteKind.TCP: "TCPRoute"}

# Istio's own annotations on a Gateway (istio.io/api annotation): the generated Deployment and
# Service are named after the tenant's gateway, as on the other install paths, and get its type.
NAME_OVERRIDE = "gateway.istio.io/name-override"
SERVICE_TYPE = "networking.istio.io/service-type"
# Istio's listener option for TLS termination that also verifies client certificates (the CA is
# read from the same Secret, as for the Istio Gateway's MUTUAL).
TLS_TERMINATE_MODE = "gateway.istio.io/tls-terminate-mode"

# istiod serves TCP (and, before TLSRoute was v1, TLS) listeners only with its alpha Gateway API
# support on (tenants.install.gateway_api_needs decides when).
ALPHA_GATEWAY_API_ENV = "PILOT_ENABLE_ALPHA_GATEWAY_API"


def alpha_gateway_api_env(alpha: bool) -> dict[str, str]:
    """The istiod environment that turns the alpha support on, for every install path alike."""
    return {ALPHA_GATEWAY_API_ENV: "true"} if alpha else {}


# --- The Gateway -------------------------------------------------------------------------


def _listener_protocol(server: Server) -> str:
    """HTTP2 and GRPC are Istio Gateway protocols only (the rules refuse them here); an HTTPS
    server that passes TLS through is what Gateway API calls a TLS listener in Passthrough mode."""
    if server.passes_tls_through:
        return "TLS"
    return server.protocol.value


def _listener_tls(tenant: Tenant, server: Server) -> Optional[dict]:
    tls = server.tls
    if tls is None:
        return None
    if tls.mode == TlsMode.PASSTHROUGH:
        return {"mode": "Passthrough"}
    out: dict = {"mode": "Terminate"}
    if tls.credential_name:
        # A Secret in the Gateway's own namespace: no ReferenceGrant, nothing of another tenant.
        out["certificateRefs"] = [{"kind": "Secret", "name": tls.credential_name}]
    if tls.mode == TlsMode.MUTUAL:
        out["options"] = {TLS_TERMINATE_MODE: TlsMode.MUTUAL.value}
    return out


def listener_names(server: Server) -> list[tuple[str, Optional[str]]]:
    """(listener name, hostname) for each listener of a server: one per host, as a listener has
    one hostname; `*` is no hostname (any). A TCP listener has no hostname at all."""
    hosts = [None] if server.protocol == Protocol.TCP else [None if host == "*" else host for host in server.hosts]
    if len(hosts) == 1:
        return [(server.port_name, hosts[0])]
    return [(f"{server.port_name}-{i}", host) for i, host in enumerate(hosts, start=1)]


def listeners(tenant: Tenant) -> list[dict]:
    out = []
    for server in tenant.gateway.servers_by_port:
        tls = _listener_tls(tenant, server)
        for name, hostname in listener_names(server):
            listener: dict = {"name": name, "port": server.port, "protocol": _listener_protocol(server)}
            if hostname is not None:
                listener["hostname"] = hostname
            if tls is not None:
                listener["tls"] = tls
            # Routes of the tenant's own namespace only (the API's default, written out because
            # it is the isolation guarantee, not a preference).
            listener["allowedRoutes"] = {"namespaces": {"from": "Same"}}
            out.append(listener)
    return out


def kubernetes_gateway(tenant: Tenant, control_plane_labels: Optional[dict[str, str]] = None) -> dict:
    """The tenant's `Gateway` (class istio): Istio deploys its pods with the tenant's gateway labels.

    `control_plane_labels`: which istiod deploys it, where several meshes leave no default (`istio.io/rev`)."""
    service = tenant.gateway.service
    annotations = {NAME_OVERRIDE: tenant.gateway_name}
    if service.type != ServiceType.LOAD_BALANCER:
        annotations[SERVICE_TYPE] = service.type.value
    # Istio copies these to the Deployment, pods, Service and ServiceAccount it generates: the tenant
    # label makes them the platform's objects, which the tenant may not change or delete.
    infrastructure: dict = {"labels": {**tenant.gateway_labels, TENANT_LABEL: tenant.name}}
    if service.annotations:
        # Istio puts these on everything it generates for the Gateway, the Service included.
        infrastructure["annotations"] = dict(service.annotations)
    spec = {"gatewayClassName": GATEWAY_CLASS, "infrastructure": infrastructure, "listeners": listeners(tenant)}
    return k8s_object(
        API_VERSIONS["Gateway"], "Gateway", gateway_resource_name(tenant), tenant.namespace_name,
        labels={**tenant_labels(tenant.name), **(control_plane_labels or {})}, annotations=annotations, spec=spec,
    )


# --- Routes ------------------------------------------------------------------------------


def _parent_refs(tenant: Tenant, route: Route) -> list[dict]:
    ref: dict = {"name": gateway_resource_name(tenant)}
    if route.port is not None:
        ref["port"] = route.port
    return [ref]


def _backend(to: Destination) -> dict:
    return {"name": to.service, "port": to.port}


_PATH_TYPES = {"exact": "Exact", "prefix": "PathPrefix", "regex": "RegularExpression"}


def _path_match(match: UriMatch) -> dict:
    kind = next(kind for kind in _PATH_TYPES if getattr(match, kind) is not None)
    return {"path": {"type": _PATH_TYPES[kind], "value": getattr(match, kind)}}


def route_hostnames(tenant: Tenant, route: Route) -> list[str]:
    """A route's hostnames; none when it answers any host (`*` is no Gateway API hostname)."""
    hosts = tenant.route_hosts(route)
    return [] if "*" in hosts else hosts


def gateway_api_route(tenant: Tenant, route: Route) -> dict:
    """The route as an HTTPRoute, TLSRoute or TCPRoute attached to the tenant's Gateway."""
    kind = ROUTE_KINDS[route.kind]
    spec: dict = {"parentRefs": _parent_refs(tenant, route)}
    if route.kind != RouteKind.TCP:
        hostnames = route_hostnames(tenant, route)
        if hostnames:
            spec["hostnames"] = hostnames
    if route.kind == RouteKind.HTTP:
        rules = []
        for rule in route.http or ():
            entry: dict = {}
            if rule.match:
                entry["matches"] = [_path_match(m) for m in rule.match]
            entry["backendRefs"] = [_backend(rule.to)]
            rules.append(entry)
        spec["rules"] = rules
    else:
        forward = route.tcp or route.tls
        spec["rules"] = [{"backendRefs": [_backend(forward.to)]}]
    return k8s_object(API_VERSIONS[kind], kind, route.name, tenant.namespace_name, labels=tenant_labels(tenant.name), spec=spec)
