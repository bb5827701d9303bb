"""Rules that look across tenants (or across a tenant's parts), checked after the typed model.

Each rule yields (path, message) with `path` a tuple of keys and list indices into the
file, so the loader can point at the line; no rule raises.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Callable, Optional, Union

from . import mesh_rules
from .meshes import platform_control_plane
from .model import (
    CREDENTIAL_MODES, MESH_WIDE_ADDONS, TLS_PROTOCOLS, Addons, Exposure, Protocol, Route, RouteKind, Server, ServiceType, Tenant, TenantsFile, Tls,
    TlsMode, UriMatch, dns_part, is_service_name,
)
from .renames import previous_name_findings

PathKey = Union[str, int]
Finding = tuple[tuple[PathKey, ...], str]

# A place in the file inside a message: the loader writes it as the place and its line
# (`tenants[shop].gateway.servers[0].hosts[0], line 9`), or the place alone without a file.
_PLACE = re.compile("\x1f(\\[.*?\\])\x1f")


def place(path: tuple) -> str:
    return "\x1f" + json.dumps(list(path)) + "\x1f"


def resolve_places(message: str, describe: Callable[[tuple], str]) -> str:
    """`message` with each place() in it described (by the loader, which knows the lines)."""
    return _PLACE.sub(lambda m: describe(tuple(json.loads(m.group(1)))), message)

# istio-system is Istio's own namespace even when the control plane lives elsewhere.
RESERVED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease", "istio-operator", "istio-system")
CONTROL_PLANE_GATEWAY_SELECTOR = {"istio": "ingressgateway"}
# The labels of the control plane's own ingress gateway pods, as Istio's gateway chart sets them.
CONTROL_PLANE_GATEWAY_LABELS = {"app": "istio-ingressgateway", "istio": "ingressgateway"}
# Istio's gateway chart, Helm and Kubernetes put labels of these domains on every gateway pod
# (istio.io/rev, app.kubernetes.io/name: istio-ingressgateway, ...): a selector made of them
# would select every tenant's gateway, so a tenant's gateway labels must be its own.
RESERVED_LABEL_DOMAINS = ("istio.io", "kubernetes.io", "k8s.io", "helm.sh")
OBSERVABILITY_ADDONS = tuple(Addons.model_fields)
# Kubernetes object names are at most 63 characters where they are DNS labels.
MAX_NAME = 63
# Ports Istio's proxy itself listens on in every gateway pod (istio.io "Ports used by Istio"):
# a server there would fight the proxy for the port.
ISTIO_PROXY_PORTS = {
    15000: "Envoy admin", 15001: "outbound capture", 15004: "debug", 15006: "inbound capture", 15008: "HBONE",
    15009: "HBONE", 15020: "merged metrics", 15021: "health checks", 15053: "DNS", 15090: "Envoy metrics",
}
# Service annotations that configure a cloud or bare-metal load balancer: on a ClusterIP or
# NodePort Service no load balancer exists, so they would silently do nothing. Other annotations
# (external-dns, monitoring, ...) may mean something on any Service and are let through.
LOAD_BALANCER_ANNOTATION_DOMAINS = (
    "service.beta.kubernetes.io",  # AWS, Azure, DigitalOcean, Linode, ... cloud providers
    "metallb.universe.tf", "metallb.io", "lbipam.cilium.io", "kube-vip.io",
    "loadbalancer.openstack.org", "service.beta.openstack.org",
    "oci.oraclecloud.com", "oci-network-load-balancer.oraclecloud.com",
)
LOAD_BALANCER_ANNOTATION_WORDS = ("load-balancer", "loadbalancer")
# Gateway API v1.5.1 limits (CRD maxItems/maxProperties), so the API server never refuses what we emit.
GATEWAY_API_MAX_LISTENERS = 64
GATEWAY_API_MAX_INFRASTRUCTURE = 8
GATEWAY_API_MAX_HOSTNAMES = 16
GATEWAY_API_MAX_RULES = 16
GATEWAY_API_MAX_MATCHES = 64
GATEWAY_API_MAX_ROUTE_MATCHES = 127
GATEWAY_API_PATH = re.compile(r"(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|%[0-9a-fA-F]{2})+")
# The clouds' instance metadata services (AWS, GCP, Azure, ...; AWS also over IPv6), with the
# link-local block each sits in: an allowance inside that block is aimed at it and refused; a
# wider one gets the address cut out (`ipBlock.except`).
METADATA_ADDRESSES = (
    (ipaddress.ip_address("169.254.169.254"), ipaddress.ip_network("169.254.0.0/16")),
    (ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_network("fd00:ec2::/32")),
)
# Istio's injected sidecar carries this memory limit (global.proxy.resources.limits.memory).
SIDECAR_MEMORY_LIMIT = "1Gi"


def check(config: TenantsFile, unchecked: Iterable[str] = ()) -> list[Finding]:
    """Every cross-tenant finding. `unchecked` names tenants that exist in the file but failed
    the typed model: references to them are not reported, their own errors already are."""
    unchecked = frozenset(unchecked)
    findings: list[Finding] = []
    for rule in (
        _unique_identities,
        _platform_namespaces,
        _derived_names,
        _gateway_selectors,
        _servers,
        _gateway_service,
        _host_claims,
        _routes,
        _unused_servers,
        _gateway_api,
        _egress,
        _observability,
        _quotas,
    ):
        findings.extend(rule(config))
    findings.extend(_sharing(config, unchecked))
    findings.extend(_previous_names(config, unchecked))
    findings.extend(mesh_rules.check(config, RESERVED_NAMESPACES))
    return findings


def format_labels(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in sorted(labels.items())) + "}"


def _repeated_names(config: TenantsFile) -> set[int]:
    """Tenants whose name an earlier tenant has: that error already explains every name derived from it."""
    seen: set[str] = set()
    repeated = set()
    for i, tenant in enumerate(config.tenants):
        if tenant.name in seen:
            repeated.add(i)
        seen.add(tenant.name)
    return repeated


def _unique_identities(config: TenantsFile) -> Iterator[Finding]:
    repeated = _repeated_names(config)
    for field, value_of, explicit, what in (
        (("name",), lambda t: t.name, lambda t: True, "tenant name"),
        (("namespace",), lambda t: t.namespace_name, lambda t: t.namespace is not None, "namespace"),
        (("gateway", "name"), lambda t: t.gateway_name, lambda t: t.gateway.name is not None, "gateway name"),
    ):
        owners: dict[str, tuple[str, int]] = {}
        for i, tenant in enumerate(config.tenants):
            value = value_of(tenant)
            if value not in owners:
                owners[value] = (tenant.name, i)
            elif explicit(tenant) or i not in repeated:
                owner, first = owners[value]
                # The same name twice: say which is the first, as both show as tenants[<name>].
                where = f" ({place(('tenants', first, 'name'))})" if field == ("name",) else ""
                yield ("tenants", i) + field, f"{what} {value!r} is already used by tenant {owner!r}{where}; each tenant needs its own"
    for i, tenant in enumerate(config.tenants):
        if tenant.gateway_name == config.control_plane.name:
            yield ("tenants", i, "gateway", "name"), (
                f"gateway name {tenant.gateway_name!r} is the control plane's IstioOperator name; choose another"
            )


def _platform_namespaces(config: TenantsFile) -> Iterator[Finding]:
    platform = {n: "a system namespace" for n in RESERVED_NAMESPACES}
    if config.meshes is None:  # with meshes, tenants.mesh_rules names the mesh whose namespace it is
        platform[config.control_plane.namespace] = "the control-plane namespace"
    if config.observability.install:
        platform.setdefault(config.observability.namespace, "the observability add-ons' namespace")
    for i, tenant in enumerate(config.tenants):
        ns = tenant.namespace_name
        field = "namespace" if tenant.namespace else "name"
        if ns in platform:
            yield ("tenants", i, field), f"namespace {ns!r} is {platform[ns]}; a tenant needs a namespace of its own"
        elif ns.startswith("kube-"):
            yield ("tenants", i, field), f"namespace {ns!r} is reserved for Kubernetes (kube-*); a tenant needs a namespace of its own"


def _derived_names(config: TenantsFile) -> Iterator[Finding]:
    """Names derived from the tenant's name must be valid too, or the apply fails halfway."""
    for i, tenant in enumerate(config.tenants):
        if tenant.gateway.name is None and not is_service_name(tenant.gateway_name):
            yield ("tenants", i, "name"), (
                f"the default gateway name {tenant.gateway_name!r} is not a Service name (starting with a letter, "
                f"at most {MAX_NAME} characters); set gateway.name"
            )
        if tenant.gateway.labels is None:
            too_long = [value for value in tenant.gateway_labels.values() if len(value) > MAX_NAME]
            if too_long:
                yield ("tenants", i, "name"), (
                    f"the default gateway label {too_long[0]!r} is longer than {MAX_NAME} characters; set gateway.labels"
                )


def _reserved_domain(key: str) -> str | None:
    prefix = key.rpartition("/")[0]
    return next((d for d in RESERVED_LABEL_DOMAINS if prefix == d or prefix.endswith("." + d)), None)


def _gateway_selectors(config: TenantsFile) -> Iterator[Finding]:
    tenants = config.tenants
    # Each label pair -> the tenants whose selector contains it: a selector selects a tenant's
    # pods when all of its pairs are among the pod labels, found without comparing every pair of tenants.
    having: dict[tuple[str, str], list[int]] = {}
    for j, other in enumerate(tenants):
        for pair in other.gateway_labels.items():
            having.setdefault(pair, []).append(j)
    first_with: dict[frozenset, int] = {}
    repeated = _repeated_names(config)
    for i, tenant in enumerate(tenants):
        path = ("tenants", i, "gateway", "labels")
        labels = tenant.gateway_labels
        shown = format_labels(labels)
        for key in labels:
            domain = _reserved_domain(key)
            if domain:
                yield path, (
                    f"label key {key!r} is in the {domain} domain, whose labels Istio, Helm or Kubernetes put on "
                    f"every gateway pod; use labels unique to the tenant"
                )
        if CONTROL_PLANE_GATEWAY_SELECTOR.items() <= labels.items():
            yield path, (
                f"labels {shown} would be selected by the control-plane gateway's "
                f"selector {format_labels(CONTROL_PLANE_GATEWAY_SELECTOR)}; use labels unique to the tenant"
            )
        elif labels.items() <= CONTROL_PLANE_GATEWAY_LABELS.items():
            yield path, (
                f"labels {shown} as the tenant's Gateway selector would select the control-plane gateway's pods "
                f"{format_labels(CONTROL_PLANE_GATEWAY_LABELS)}; use labels unique to the tenant"
            )
        label_set = frozenset(labels.items())
        if label_set in first_with:
            if tenant.gateway.labels is not None or i not in repeated:
                yield path, f"labels {shown} are the same as tenant {tenants[first_with[label_set]].name!r}'s; gateway labels must be unique"
            continue
        first_with[label_set] = i
        shared: dict[int, int] = {}
        for pair in labels.items():
            for j in having[pair]:
                shared[j] = shared.get(j, 0) + 1
        for j, count in sorted(shared.items()):
            other = tenants[j]
            if j != i and count == len(other.gateway_labels) < len(labels):
                yield path, (
                    f"labels {shown} would be selected by tenant {other.name!r}'s "
                    f"Gateway selector {format_labels(other.gateway_labels)}; use labels unique to the tenant"
                )


def _servers(config: TenantsFile) -> Iterator[Finding]:
    for i, tenant in enumerate(config.tenants):
        ports: set[int] = set()
        names: set[str] = set()
        issuer_of: dict[str, str] = {}  # credentialName -> the issuer first named for it
        for j, server in enumerate(tenant.gateway.servers):
            path = ("tenants", i, "gateway", "servers", j)
            if server.port in ports:
                yield path + ("port",), f"port {server.port} is used by another server of this gateway"
            elif server.port in ISTIO_PROXY_PORTS:
                yield path + ("port",), (
                    f"port {server.port} is taken by Istio's proxy in the gateway pods "
                    f"({ISTIO_PROXY_PORTS[server.port]}); choose another"
                )
            ports.add(server.port)
            if server.port_name in names:
                yield path + ("name",), f"port name {server.port_name!r} is used by another server of this gateway"
            names.add(server.port_name)
            yield from _tls(server.protocol, server.tls, path, tenant)
            tls = server.tls
            if tls is not None and tls.issuer and tls.credential_name:
                if all(dns_part(h) == "*" for h in server.hosts):
                    yield path + ("tls", "issuer"), (
                        "a certificate is issued for the server's hosts, and '*' names none; list the hosts it covers"
                    )
                first = issuer_of.setdefault(tls.credential_name, tls.issuer)
                if first != tls.issuer:
                    yield path + ("tls", "issuer"), (
                        f"Secret {tls.credential_name!r} is issued by {first!r} on another server; one Secret, one issuer"
                    )
            for k, host in enumerate(server.hosts):
                namespace, _, _ = host.rpartition("/")
                if namespace and namespace not in (".", tenant.namespace_name):
                    yield path + ("hosts", k), (
                        f"host {host!r} would bind routes from namespace {namespace!r}; a tenant's gateway "
                        f"serves only its own namespace ('./host' or '{tenant.namespace_name}/host')"
                    )


def _tls(protocol: Protocol, tls: Optional[Tls], path: tuple, tenant: Tenant) -> Iterator[Finding]:
    if protocol not in TLS_PROTOCOLS:
        if tls is not None:
            yield path + ("tls",), f"tls is only for HTTPS and TLS servers, not {protocol.value}"
        return
    if tls is None:
        yield path, f"a {protocol.value} server needs a tls block with a mode (SIMPLE, MUTUAL, PASSTHROUGH, ...)"
    elif tls.mode in CREDENTIAL_MODES and not tls.credential_name:
        yield path + ("tls",), (
            f"tls mode {tls.mode.value} needs a credentialName: the Secret in namespace "
            f"{tenant.namespace_name!r} that holds the certificate"
        )
    elif tls.mode not in CREDENTIAL_MODES and (tls.credential_name or tls.issuer):
        why = "terminates no TLS" if tls.mode == TlsMode.PASSTHROUGH else "uses the mesh's own certificates"
        yield path + ("tls",), f"tls mode {tls.mode.value} {why}: credentialName and issuer are not allowed"


def _ancestors(name: str) -> list[str]:
    """`a.b.example.com` -> [`b.example.com`, `example.com`, `com`]."""
    parts = name.split(".")
    return [".".join(parts[i:]) for i in range(1, len(parts))]


def _host_claims(config: TenantsFile) -> Iterator[Finding]:
    """A host, and every name it covers, belongs to one tenant: two tenants' hosts never overlap
    (`*.example.com` covers `shop.example.com`), and none covers an observability host.

    Each claim is compared with the earlier ones through indexes by name and by parent domain,
    so a thousand tenants cost no pairwise comparison; each overlap is reported once, at the
    later claim, naming both.
    """
    platform = "the control-plane gateway"
    places: dict[tuple[str, str], tuple] = {}  # (owner, host) -> the path where the owner first claims it
    exact: dict[str, list[str]] = {}  # name -> owners of an explicit claim
    wildcard: dict[str, list[str]] = {}  # `*.x` claims: x -> owners
    below: dict[str, list[tuple[str, str]]] = {}  # domain -> (host, owner) of claims strictly under it

    def claim(host: str, owner: str) -> None:
        name = host[2:] if host.startswith("*.") else host
        (wildcard if host.startswith("*.") else exact).setdefault(name, []).append(owner)
        for parent in _ancestors(name):
            below.setdefault(parent, []).append((host, owner))

    domain = config.observability.domain
    for addon in OBSERVABILITY_ADDONS:
        claim(f"{addon}.{domain}", platform)
    reported: set[tuple[str, str, str]] = set()
    for i, tenant in enumerate(config.tenants):
        mine: set[str] = set()
        for j, server in enumerate(tenant.gateway.servers):
            for k, host in enumerate(server.hosts):
                dns = dns_part(host)
                if dns == "*" or dns in mine:
                    continue
                mine.add(dns)
                path = ("tenants", i, "gateway", "servers", j, "hosts", k)
                name = dns[2:] if dns.startswith("*.") else dns
                # Earlier claims this host overlaps: the same name, a wildcard above it, and for a
                # wildcard also every claim below it.
                overlaps: list[tuple[str, str]] = [(dns, owner) for owner in (wildcard if dns.startswith("*.") else exact).get(name, [])]
                overlaps += [(f"*.{parent}", owner) for parent in _ancestors(name) for owner in wildcard.get(parent, [])]
                if dns.startswith("*."):
                    overlaps += below.get(name, [])
                by_owner: dict[str, list[str]] = {}
                for other_host, owner in overlaps:
                    if owner != tenant.name and other_host not in by_owner.get(owner, []):
                        by_owner.setdefault(owner, []).append(other_host)
                for owner, hosts in by_owner.items():
                    if (tenant.name, dns, owner) in reported:
                        continue
                    reported.add((tenant.name, dns, owner))
                    if owner == platform:
                        if hosts == [dns]:
                            yield path, f"host {dns!r} is an observability host of the control-plane gateway"
                        else:
                            yield path, f"host {dns!r} covers the observability host {hosts[0]!r} of the control-plane gateway"
                    elif hosts == [dns] and not dns.startswith("*."):
                        yield path, (
                            f"host {dns!r} is already claimed by tenant {owner!r} ({place(places[owner, dns])}); "
                            f"an explicit host belongs to one tenant"
                        )
                    else:
                        shown = ", ".join(f"{h!r} ({place(places[owner, h])})" for h in sorted(hosts))
                        yield path, (
                            f"host {dns!r} overlaps {shown} of tenant {owner!r}; a host and every name it covers "
                            f"belong to one tenant"
                        )
                places.setdefault((tenant.name, dns), path)
                claim(dns, tenant.name)


def _egress(config: TenantsFile) -> Iterator[Finding]:
    for i, tenant in enumerate(config.tenants):
        for j, allowance in enumerate(tenant.egress):
            network = ipaddress.ip_network(allowance.cidr)
            for address, block in METADATA_ADDRESSES:
                if network.version == address.version and address in network and network.subnet_of(block):
                    yield ("tenants", i, "egress", j, "cidr"), (
                        f"{allowance.cidr} contains the cloud metadata address {address}, which no tenant may reach; "
                        f"allow a range that leaves it out (a wider range has it cut out)"
                    )


def _observability(config: TenantsFile) -> Iterator[Finding]:
    obs = config.observability
    enabled = [addon for addon in OBSERVABILITY_ADDONS if getattr(obs.addons, addon)]
    if obs.exposure == Exposure.GATEWAY and obs.oidc is None:
        yield ("observability", "exposure"), (
            "exposure 'gateway' publishes the add-ons behind a login: set observability.oidc (issuer, clientId, clientSecret), "
            "or exposure: port-forward"
        )
    elif enabled and obs.oidc is None and obs.exposure != Exposure.PORT_FORWARD:
        yield ("observability", "addons"), (
            f"the add-on routes on ({', '.join(enabled)}) would be open to anyone who reaches the platform gateway: set "
            f"observability.oidc for a login in front of them, or exposure: port-forward to keep them off (kubectl port-forward only)"
        )
    mesh_wide = [addon for addon in enabled if addon in MESH_WIDE_ADDONS]
    if mesh_wide and obs.routed and not obs.oidc.platform_groups:
        yield ("observability", "oidc", "platformGroups"), (
            f"required while {', '.join(mesh_wide)} {'is' if len(mesh_wide) == 1 else 'are'} routed: their metrics and traces "
            f"are every tenant's, and without it anyone the issuer logs in (every tenant's admins too) would read them; "
            f"name the platform team's groups (tenants' admins see their own namespaces in Kiali)"
        )
    control_plane = platform_control_plane(config).namespace
    if enabled and obs.routed and obs.install and obs.namespace != control_plane:
        # Services are visible only in their own namespace (the mesh's defaultServiceExportTo: ["."]).
        yield ("observability", "namespace"), (
            f"the routed add-ons must run beside the platform gateway that serves them: namespace {obs.namespace!r} is not "
            f"the control-plane namespace {control_plane!r} (use it, or exposure: port-forward)"
        )
    if enabled and obs.routed and not obs.credential_name:
        yield ("observability", "addons"), (
            f"the add-ons on ({', '.join(enabled)}) are served over HTTPS only: set observability.credentialName, the Secret "
            f"in the control-plane namespace {platform_control_plane(config).namespace!r} holding their certificate"
        )


def _quotas(config: TenantsFile) -> Iterator[Finding]:
    for i, tenant in enumerate(config.tenants):
        if quantity(tenant.quota.container_memory) < quantity(SIDECAR_MEMORY_LIMIT):
            yield ("tenants", i, "quota", "containerMemory"), (
                f"{tenant.quota.container_memory} is below the {SIDECAR_MEMORY_LIMIT} memory limit of Istio's sidecar, "
                f"which every pod runs; allow at least {SIDECAR_MEMORY_LIMIT}"
            )


_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}


def quantity(value: str) -> Decimal:
    """A Kubernetes quantity (already validated by the model) as a number."""
    match = re.fullmatch(r"([0-9.]+(?:[eE][-+]?[0-9]+)?)([a-zA-Z]*)", value)
    assert match, value
    number, suffix = Decimal(match.group(1)), match.group(2)
    if suffix in _BINARY:
        return number * (2 ** _BINARY[suffix])
    return number * (Decimal(10) ** _SUFFIXES[suffix])


def host_matches(server_host: str, route_host: str) -> bool:
    """True when a gateway server host covers a route host (Istio's wildcard semantics)."""
    server, route = dns_part(server_host), dns_part(route_host)
    if server == "*":
        return True
    if server.startswith("*."):
        suffix = server[1:]
        return route == server or (route.endswith(suffix) and route != "*")
    return route == server


def _gateway_service(config: TenantsFile) -> Iterator[Finding]:
    for i, tenant in enumerate(config.tenants):
        service = tenant.gateway.service
        if service.type == ServiceType.LOAD_BALANCER:
            continue
        for key in service.annotations:
            if _configures_load_balancer(key):
                yield ("tenants", i, "gateway", "service", "annotations"), (
                    f"annotation {key!r} configures a load balancer, and a {service.type.value} Service gets none; "
                    f"set type LoadBalancer or remove it"
                )


def _configures_load_balancer(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    in_domain = any(prefix == d or prefix.endswith("." + d) for d in LOAD_BALANCER_ANNOTATION_DOMAINS)
    return in_domain or any(word in name.lower() for word in LOAD_BALANCER_ANNOTATION_WORDS)


_SERVER_KINDS = {
    RouteKind.HTTP: "an HTTP, HTTPS (terminating TLS), HTTP2 or GRPC server",
    RouteKind.TCP: "a TCP server or a TLS server that terminates TLS",
    RouteKind.TLS: "a TLS-passthrough server (TLS or HTTPS with tls mode PASSTHROUGH)",
}


def _server_kind(server: Server) -> str:
    if server.passes_tls_through:
        return f"a {server.protocol.value} server that passes TLS through"
    if server.protocol in TLS_PROTOCOLS:
        return f"a {server.protocol.value} server that terminates TLS"
    return f"a {server.protocol.value} server"


def _routes(config: TenantsFile) -> Iterator[Finding]:
    for i, tenant in enumerate(config.tenants):
        names: set[str] = set()
        for j, route in enumerate(tenant.routes):
            path = ("tenants", i, "routes", j)
            if route.name in names:
                yield path + ("name",), f"route name {route.name!r} is used twice in this tenant"
            names.add(route.name)
            if route.kind == RouteKind.HTTP:
                yield from _http_route(tenant, route, path)
            else:
                yield from _forwarding_route(tenant, route, path)
        yield from _overlapping_forwards(tenant, ("tenants", i, "routes"))


def _http_route(tenant: Tenant, route: Route, path: tuple) -> Iterator[Finding]:
    servers = tenant.gateway.servers
    if route.hosts is None and not any(s.carries_http for s in servers):
        yield path, "the tenant's gateway has no HTTP, HTTPS, HTTP2 or GRPC server to carry this route"
    for k, host in enumerate(route.hosts or []):
        serving = [s for s in servers if any(host_matches(h, host) for h in s.hosts)]
        if not serving:
            served = ", ".join(dict.fromkeys(dns_part(h) for s in servers for h in s.hosts))
            yield path + ("hosts", k), f"host {host!r} is not served by the tenant's gateway (it serves {served})"
        elif not any(s.carries_http for s in serving):
            yield path + ("hosts", k), (
                f"host {host!r} is served only by TCP, TLS or TLS-passthrough servers, which carry no HTTP "
                f"routes; serve it over HTTP, HTTPS, HTTP2 or GRPC"
            )


def _forwarding_route(tenant: Tenant, route: Route, path: tuple) -> Iterator[Finding]:
    """A tcp or tls route: its port, if named, is a server of its kind; a tls route's hosts are served."""
    kind = route.kind
    forward = path + (kind.value,)
    by_port = {s.port: s for s in tenant.gateway.servers}
    if kind == RouteKind.TCP and route.hosts is not None:
        yield path + ("hosts",), "a tcp route takes every connection of its server: TCP has no host names; remove hosts"
    if route.port is not None:
        server = by_port.get(route.port)
        if server is None:
            ports = ", ".join(str(p) for p in sorted(by_port))
            yield forward + ("port",), f"no server of the tenant's gateway listens on port {route.port} (it listens on {ports})"
            return
        if server.route_kind not in (kind, None):
            yield forward + ("port",), (
                f"port {route.port} is {_server_kind(server)}; a {kind.value} route needs {_SERVER_KINDS[kind]}"
            )
            return
    elif not tenant.route_servers(route):
        yield forward, f"the tenant's gateway has no {_SERVER_KINDS[kind].removeprefix('a ').removeprefix('an ')} for this route"
        return
    if kind == RouteKind.TLS:
        servers = tenant.route_servers(route)
        for k, host in enumerate(route.hosts or []):
            if not any(host_matches(h, host) for s in servers for h in s.hosts):
                served = ", ".join(dict.fromkeys(dns_part(h) for s in servers for h in s.hosts)) or "no host"
                where = f"port {route.port}" if route.port is not None else "the TLS-passthrough servers"
                yield path + ("hosts", k), f"host {host!r} is not served by {where} (they serve {served})"


def _overlapping_forwards(tenant: Tenant, path: tuple) -> Iterator[Finding]:
    """Two tcp routes on one server, or two tls routes for one SNI host on one server: only one
    could ever receive the connections, and which one is left to the order of creation."""
    taken: dict[tuple[int, str], str] = {}  # (port, host or '') -> the route that took it
    for j, route in enumerate(tenant.routes):
        if route.kind == RouteKind.HTTP:
            continue
        hosts = [""] if route.kind == RouteKind.TCP else tenant.route_hosts(route)
        for server in tenant.route_servers(route):
            for host in hosts:
                owner = taken.setdefault((server.port, host), route.name)
                if owner != route.name:
                    what = f"port {server.port}" if not host else f"host {host!r} on port {server.port}"
                    yield path + (j,), (
                        f"{what} is already routed by route {owner!r}; one {route.kind.value} route per "
                        f"{'server' if not host else 'host and server'}"
                    )
                    break
            else:
                continue
            break


def _unused_servers(config: TenantsFile) -> Iterator[Finding]:
    """A TCP or TLS-passthrough server that no route uses opens a port that leads nowhere.

    (An HTTP server without routes answers 404 and is where routes are added: it is allowed.)"""
    for i, tenant in enumerate(config.tenants):
        used = {(s.port) for r in tenant.routes if r.kind != RouteKind.HTTP for s in tenant.route_servers(r)}
        for j, server in enumerate(tenant.gateway.servers):
            kind = server.route_kind
            if kind in (RouteKind.TCP, RouteKind.TLS) and server.port not in used:
                yield ("tenants", i, "gateway", "servers", j), (
                    f"no route uses port {server.port} ({_server_kind(server)}); add a route with "
                    f"`{kind.value}: {{port: {server.port}, to: ...}}` or remove the server"
                )


# --- Gateway API tenants -----------------------------------------------------------------


def _gateway_api(config: TenantsFile) -> Iterator[Finding]:
    """What a Gateway API tenant cannot have: settings only the Istio Gateway has, and past the
    limits of the Gateway API's own schema."""
    for i, tenant in enumerate(config.tenants):
        if not tenant.uses_gateway_api:
            continue
        gateway = ("tenants", i, "gateway")
        listeners = 0
        for j, server in enumerate(tenant.gateway.servers):
            path = gateway + ("servers", j)
            if server.protocol in (Protocol.HTTP2, Protocol.GRPC):
                yield path + ("protocol",), (
                    f"protocol {server.protocol.value} exists only on the Istio Gateway; a Gateway API listener is "
                    f"HTTP, HTTPS, TLS or TCP (HTTP carries HTTP/2 and gRPC too)"
                )
            if server.tls is not None and server.tls.mode in (TlsMode.ISTIO_MUTUAL, TlsMode.OPTIONAL_MUTUAL):
                yield path + ("tls", "mode"), (
                    f"tls mode {server.tls.mode.value} exists only on the Istio Gateway; a Gateway API listener "
                    f"terminates TLS (SIMPLE, MUTUAL) or passes it through (PASSTHROUGH)"
                )
            for k, host in enumerate(server.hosts):
                if "/" in host:
                    yield path + ("hosts", k), (
                        f"host {host!r} names a namespace, which only the Istio Gateway does; a Gateway API "
                        f"listener takes routes of its own namespace only: write {dns_part(host)!r}"
                    )
            if server.protocol == Protocol.TCP:
                listeners += 1
                if server.hosts != ["*"]:
                    yield path + ("hosts",), "a Gateway API TCP listener has no host name; leave hosts at '*'"
            else:
                listeners += len(server.hosts)
        if listeners > GATEWAY_API_MAX_LISTENERS:
            yield gateway + ("servers",), (
                f"a Gateway API Gateway has at most {GATEWAY_API_MAX_LISTENERS} listeners (one per server and host); "
                f"these servers need {listeners}"
            )
        for field, values in (("labels", tenant.gateway_labels), ("service", tenant.gateway.service.annotations)):
            if len(values) > GATEWAY_API_MAX_INFRASTRUCTURE:
                where = gateway + (("service", "annotations") if field == "service" else ("labels",))
                what = "annotations" if field == "service" else "labels"
                yield where, (
                    f"a Gateway API gateway takes at most {GATEWAY_API_MAX_INFRASTRUCTURE} {what} "
                    f"(spec.infrastructure.{what}); these are {len(values)}"
                )
        for j, route in enumerate(tenant.routes):
            yield from _gateway_api_route(tenant, route, ("tenants", i, "routes", j))


def _gateway_api_route(tenant: Tenant, route: Route, path: tuple) -> Iterator[Finding]:
    hosts = tenant.route_hosts(route) if route.kind != RouteKind.TCP else []
    if route.kind == RouteKind.TLS and all(h == "*" for h in hosts):
        yield path + ("hosts",), (
            "a TLSRoute chooses connections by SNI host name and '*' names none; list the hosts (TLSRoute.spec.hostnames)"
        )
    if len(hosts) > GATEWAY_API_MAX_HOSTNAMES and "*" not in hosts:
        yield path + ("hosts",), (
            f"a Gateway API route has at most {GATEWAY_API_MAX_HOSTNAMES} host names; this one has {len(hosts)}: "
            f"split it, or list fewer hosts"
        )
    if route.kind != RouteKind.HTTP:
        return
    rules = route.http or []
    if len(rules) > GATEWAY_API_MAX_RULES:
        yield path + ("http",), f"an HTTPRoute has at most {GATEWAY_API_MAX_RULES} rules; this route has {len(rules)}: split it"
    total = 0
    for k, rule in enumerate(rules):
        total += len(rule.match)
        if len(rule.match) > GATEWAY_API_MAX_MATCHES:
            yield path + ("http", k, "match"), (
                f"an HTTPRoute rule has at most {GATEWAY_API_MAX_MATCHES} matches; this one has {len(rule.match)}"
            )
        for m, match in enumerate(rule.match):
            problem = _gateway_api_path_problem(match)
            if problem:
                field, message = problem
                yield path + ("http", k, "match", m, field), message
    if total > GATEWAY_API_MAX_ROUTE_MATCHES:
        yield path + ("http",), (
            f"an HTTPRoute has fewer than {GATEWAY_API_MAX_ROUTE_MATCHES + 1} matches in all; this route has {total}: split it"
        )


def _gateway_api_path_problem(match: UriMatch) -> Optional[tuple[str, str]]:
    """(field, message) when an exact or prefix path breaks Gateway API's rules (the HTTPRoute CRD's validations)."""
    for kind in ("exact", "prefix"):
        value = getattr(match, kind)
        if value is None:
            continue
        why = None
        for part in ("//", "/./", "/../", "%2f", "%2F", "#"):
            if part in value:
                why = f"it contains {part!r}"
        if value.endswith(("/..", "/.")):
            why = "it ends with a '.' or '..' segment"
        if why is None and not GATEWAY_API_PATH.fullmatch(value):
            why = "it has characters a URI path does not (percent-encode them)"
        if why:
            return kind, f"{value!r} is not a Gateway API path: {why}"
    return None


def _sharing(config: TenantsFile, unchecked: frozenset[str]) -> Iterator[Finding]:
    by_name = {t.name: t for t in config.tenants}
    for i, tenant in enumerate(config.tenants):
        for j, export in enumerate(tenant.exports):
            for k, consumer in enumerate(export.to):
                path = ("tenants", i, "exports", j, "to", k)
                if consumer == tenant.name:
                    yield path, f"tenant {tenant.name!r} cannot export to itself"
                elif consumer not in by_name and consumer not in unchecked:
                    yield path, f"no tenant named {consumer!r} to export {export.service!r} to"
        for j, imported in enumerate(tenant.imports):
            path = ("tenants", i, "imports", j)
            owner = by_name.get(imported.tenant)
            if imported.tenant == tenant.name:
                yield path + ("tenant",), f"tenant {tenant.name!r} cannot import from itself"
            elif imported.tenant in unchecked:
                continue  # its exports are unknown until its own errors are fixed
            elif owner is None:
                yield path + ("tenant",), f"no tenant named {imported.tenant!r} to import {imported.service!r} from"
            elif not any(e.service == imported.service and tenant.name in e.to for e in owner.exports):
                yield path, (
                    f"tenant {tenant.name!r} imports service {imported.service!r} from tenant {owner.name!r}, "
                    f"but {owner.name!r} does not export it to {tenant.name!r}"
                )


def _previous_names(config: TenantsFile, unchecked: frozenset[str]) -> Iterator[Finding]:
    current = {t.name for t in config.tenants} | unchecked
    return previous_name_findings("tenants", "tenant", ((t.name, t.previous_names) for t in config.tenants), current)
