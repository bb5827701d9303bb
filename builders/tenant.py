"""What one tenant gets: a namespace, its own ingress gateway (via an IstioOperator), a Gateway
selecting exactly that gateway, and a VirtualService per route.

(Gateway API tenants get their Gateway and routes from `builders.gateway_api` instead.)"""

from __future__ import annotations

from typing import Optional

from tenants.model import ControlPlane, Route, RouteKind, Server, Tenant

from .control_plane import DEFAULT_NAMESPACE
from .istio import gateway, pinned_replicas, virtual_service
from .mesh_settings import gateway_pod_security_context
from .meta import TENANT_LABEL, WAIT_FOR_HEALTHY, k8s_object, namespace, tenant_labels
from .pod_security import pod_security_labels


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


# The operator's gateway pods run as user 1337 without the sysctl that lets unprivileged
# processes bind ports below 1024 (Istio's gateway chart of 1.23 sets neither), so a server port
# below 1024 is served on a high target port: Istio binds a Gateway server's listener to the
# target port of the Service port of that number, as it does for its own default 80 -> 8080.
UNPRIVILEGED_PORT_START = 1024
UNPRIVILEGED_OFFSET = 8000


def operator_target_ports(tenant: Tenant) -> dict[int, int]:
    """Server port -> the port the operator-installed gateway pod listens on; no two alike."""
    ports = [server.port for server in tenant.gateway.servers_by_port]
    used = {port for port in ports if port >= UNPRIVILEGED_PORT_START}
    targets = {}
    for port in ports:
        target = port
        if port < UNPRIVILEGED_PORT_START:
            target = port + UNPRIVILEGED_OFFSET
            while target in used:
                target += 1
            used.add(target)
        targets[port] = target
    return targets


def gateway_operator_service(tenant: Tenant) -> dict:
    """The IstioOperator `k8s` settings of the gateway's Service: type, annotations, and as ports
    the status port and the declared servers' (the operator renders exactly this port list)."""
    targets = operator_target_ports(tenant)
    ports = [dict(STATUS_PORT)] + [
        {"name": server.port_name, "port": server.port, "targetPort": targets[server.port], "protocol": "TCP"}
        for server in tenant.gateway.servers_by_port
    ]
    service = tenant.gateway.service
    k8s: dict = {"service": {"type": service.type.value, "ports": ports}}
    if service.annotations:
        k8s["serviceAnnotations"] = dict(service.annotations)
    return k8s


def gateway_resource_name(tenant: Tenant) -> str:
    """Name of the tenant's `Gateway` object (routes bind to it)."""
    return f"{tenant.name}-gateway"


def service_host(service: str, namespace_name: str) -> str:
    return f"{service}.{namespace_name}.svc.cluster.local"


# Sidecar injection by the one control plane without revision (a file without meshes).
DEFAULT_INJECTION = {"istio-injection": "enabled"}


def tenant_namespace(tenant: Tenant, injection: Optional[dict[str, str]] = None) -> dict:
    """`injection`: the labels that choose the control plane injecting the namespace's pods (and,
    with several meshes, the mesh that discovers it); by default the one without revision. The
    Pod Security labels hold on every mesh and install path."""
    labels = {**tenant_labels(tenant.name), **(injection or DEFAULT_INJECTION), **pod_security_labels(tenant)}
    return namespace(tenant.namespace_name, labels)


def gateway_operator(tenant: Tenant, cp: ControlPlane) -> dict:
    """A profile-`empty` IstioOperator that deploys only this tenant's ingress gateway, into its namespace."""
    ingress: dict = {
        "name": tenant.gateway_name,
        "namespace": tenant.namespace_name,
        "enabled": True,
        # The tenant label too: the operator puts `label` on the gateway's Deployment, pods, Service,
        # ServiceAccount and Role, which the platform-objects rule then protects from the tenant.
        "label": {**tenant.gateway_labels, TENANT_LABEL: tenant.name},
    }
    k8s = gateway_operator_service(tenant)
    # The pod runs under the namespace's Pod Security level (restricted by default).
    k8s["securityContext"] = gateway_pod_security_context()
    if tenant.gateway.replicas:
        k8s.update(pinned_replicas(tenant.gateway.replicas))
    ingress["k8s"] = k8s
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


def _destination(tenant: Tenant, to) -> list[dict]:
    return [{"destination": {"host": service_host(to.service, tenant.namespace_name), "port": {"number": to.port}}}]


def _http(tenant: Tenant, route: Route) -> list[dict]:
    http = []
    for rule in route.http or ():
        entry: dict = {}
        if rule.match:
            entry["match"] = [_match(m) for m in rule.match]
        entry["route"] = _destination(tenant, rule.to)
        http.append(entry)
    return http


def route_virtual_service(tenant: Tenant, route: Route) -> dict:
    """One VirtualService per route: an `http`, `tcp` or `tls` section, bound to the tenant's Gateway."""
    hosts = tenant.route_hosts(route)
    sections: dict = {}
    if route.kind == RouteKind.HTTP:
        sections["http"] = _http(tenant, route)
    else:
        forward = route.tcp or route.tls
        # A TCP route takes every connection of its server(s); a TLS route those whose SNI it names.
        match: dict = {"sniHosts": hosts} if route.kind == RouteKind.TLS else {}
        if forward.port is not None:
            match["port"] = forward.port
        rule: dict = {"match": [match]} if match else {}
        rule["route"] = _destination(tenant, forward.to)
        sections[route.kind.value] = [rule]
    return virtual_service(
        route.name,
        tenant.namespace_name,
        tenant_labels(tenant.name),
        hosts=hosts,
        gateways=[gateway_resource_name(tenant)],
        export_to=["."],
        **sections,
    )
