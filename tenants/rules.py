"""Rules that look across tenants (or across a tenant's parts), checked after the typed model.

Each rule yields (path, message) with `path` a tuple of keys and list indices into the
file, so the loader can point at the line; no rule raises.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Union

from .model import Protocol, TenantsFile, TlsMode

PathKey = Union[str, int]
Finding = tuple[tuple[PathKey, ...], str]

RESERVED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease", "istio-operator")
CONTROL_PLANE_GATEWAY_SELECTOR = {"istio": "ingressgateway"}
OBSERVABILITY_ADDONS = ("kiali", "grafana", "prometheus", "tracing")


def check(config: TenantsFile) -> list[Finding]:
    findings: list[Finding] = []
    for rule in (
        _unique_identities,
        _platform_namespaces,
        _gateway_selectors,
        _servers,
        _host_claims,
        _routes,
        _sharing,
        _previous_names,
    ):
        findings.extend(rule(config))
    return findings


def _fmt_labels(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in sorted(labels.items())) + "}"


def _unique_identities(config: TenantsFile) -> Iterator[Finding]:
    for field, value_of, what in (
        ("name", lambda t: t.name, "tenant name"),
        ("namespace", lambda t: t.namespace_name, "namespace"),
        (("gateway", "name"), lambda t: t.gateway_name, "gateway name"),
    ):
        owners: dict[str, str] = {}
        for i, tenant in enumerate(config.tenants):
            value = value_of(tenant)
            path = ("tenants", i) + (field if isinstance(field, tuple) else (field,))
            if value in owners:
                yield path, f"{what} {value!r} is already used by tenant {owners[value]!r}; each tenant needs its own"
            else:
                owners[value] = tenant.name
    for i, tenant in enumerate(config.tenants):
        if tenant.gateway_name == config.control_plane.name:
            yield ("tenants", i, "gateway", "name"), (
                f"gateway name {tenant.gateway_name!r} is the control plane's IstioOperator name; choose another"
            )


def _platform_namespaces(config: TenantsFile) -> Iterator[Finding]:
    platform = {config.control_plane.namespace: "the control-plane namespace", **{n: "a system namespace" for n in RESERVED_NAMESPACES}}
    for i, tenant in enumerate(config.tenants):
        ns = tenant.namespace_name
        field = "namespace" if tenant.namespace else "name"
        if ns in platform:
            yield ("tenants", i, field), f"namespace {ns!r} is {platform[ns]}; a tenant needs a namespace of its own"
        elif ns.startswith("kube-"):
            yield ("tenants", i, field), f"namespace {ns!r} is reserved for Kubernetes (kube-*); a tenant needs a namespace of its own"


def _gateway_selectors(config: TenantsFile) -> Iterator[Finding]:
    tenants = config.tenants
    for i, tenant in enumerate(tenants):
        path = ("tenants", i, "gateway", "labels")
        labels = tenant.gateway_labels.items()
        if CONTROL_PLANE_GATEWAY_SELECTOR.items() <= labels:
            yield path, (
                f"labels {_fmt_labels(tenant.gateway_labels)} would be selected by the control-plane gateway's "
                f"selector {_fmt_labels(CONTROL_PLANE_GATEWAY_SELECTOR)}; use labels unique to the tenant"
            )
        for other in tenants:
            if other is tenant or other.name == tenant.name:
                continue
            if other.gateway_labels == tenant.gateway_labels:
                yield path, f"labels {_fmt_labels(tenant.gateway_labels)} are the same as tenant {other.name!r}'s; gateway labels must be unique"
            elif other.gateway_labels.items() <= labels:
                yield path, (
                    f"labels {_fmt_labels(tenant.gateway_labels)} would be selected by tenant {other.name!r}'s "
                    f"Gateway selector {_fmt_labels(other.gateway_labels)}; use labels unique to the tenant"
                )


def _servers(config: TenantsFile) -> Iterator[Finding]:
    for i, tenant in enumerate(config.tenants):
        ports: set[int] = set()
        names: set[str] = set()
        for j, server in enumerate(tenant.gateway.servers):
            path = ("tenants", i, "gateway", "servers", j)
            if server.port in ports:
                yield path + ("port",), f"port {server.port} is used by another server of this gateway"
            ports.add(server.port)
            if server.port_name in names:
                yield path + ("name",), f"port name {server.port_name!r} is used by another server of this gateway"
            names.add(server.port_name)
            tls = server.tls
            if server.protocol in (Protocol.HTTPS, Protocol.TLS):
                if tls is None:
                    yield path, f"a {server.protocol.value} server needs a tls block with a mode (SIMPLE, MUTUAL, PASSTHROUGH, ...)"
                elif tls.mode != TlsMode.PASSTHROUGH and not tls.credential_name:
                    yield path + ("tls",), (
                        f"tls mode {tls.mode.value} needs a credentialName: the Secret in namespace "
                        f"{tenant.namespace_name!r} that holds the certificate"
                    )
                elif tls.mode == TlsMode.PASSTHROUGH and (tls.credential_name or tls.issuer):
                    yield path + ("tls",), "tls mode PASSTHROUGH terminates no TLS: credentialName and issuer are not allowed"
            elif tls is not None:
                yield path + ("tls",), f"tls is only for HTTPS and TLS servers, not {server.protocol.value}"
            for k, host in enumerate(server.hosts):
                namespace, _, _ = host.rpartition("/")
                if namespace and namespace not in (".", tenant.namespace_name):
                    yield path + ("hosts", k), (
                        f"host {host!r} would bind routes from namespace {namespace!r}; a tenant's gateway "
                        f"serves only its own namespace ('./host' or '{tenant.namespace_name}/host')"
                    )


def _dns_part(host: str) -> str:
    return host.rpartition("/")[2]


def _host_claims(config: TenantsFile) -> Iterator[Finding]:
    domain = config.observability.domain
    platform_hosts = {f"{addon}.{domain}" for addon in OBSERVABILITY_ADDONS}
    owners: dict[str, str] = {}
    for i, tenant in enumerate(config.tenants):
        for j, server in enumerate(tenant.gateway.servers):
            for k, host in enumerate(server.hosts):
                dns = _dns_part(host)
                path = ("tenants", i, "gateway", "servers", j, "hosts", k)
                if dns == "*":
                    continue
                if dns in platform_hosts:
                    yield path, f"host {dns!r} is an observability host of the control-plane gateway"
                owner = owners.setdefault(dns, tenant.name)
                if owner != tenant.name:
                    yield path, f"host {dns!r} is claimed by tenants {owner!r} and {tenant.name!r}; an explicit host belongs to one tenant"


def host_matches(server_host: str, route_host: str) -> bool:
    """True when a gateway server host covers a route host (Istio's wildcard semantics)."""
    server, route = _dns_part(server_host), _dns_part(route_host)
    if server == "*":
        return True
    if server.startswith("*."):
        suffix = server[1:]
        return route == server or (route.endswith(suffix) and route != "*")
    return route == server


def _routes(config: TenantsFile) -> Iterator[Finding]:
    for i, tenant in enumerate(config.tenants):
        served = tenant.served_hosts
        names: set[str] = set()
        for j, route in enumerate(tenant.routes):
            path = ("tenants", i, "routes", j)
            if route.name in names:
                yield path + ("name",), f"route name {route.name!r} is used twice in this tenant"
            names.add(route.name)
            for k, host in enumerate(route.hosts or []):
                if not any(host_matches(s, host) for s in served):
                    yield path + ("hosts", k), (
                        f"host {host!r} is not served by the tenant's gateway (it serves {', '.join(served)})"
                    )


def _sharing(config: TenantsFile) -> Iterator[Finding]:
    by_name = {t.name: t for t in config.tenants}
    for i, tenant in enumerate(config.tenants):
        for j, export in enumerate(tenant.exports):
            for k, consumer in enumerate(export.to):
                path = ("tenants", i, "exports", j, "to", k)
                if consumer == tenant.name:
                    yield path, f"tenant {tenant.name!r} cannot export to itself"
                elif consumer not in by_name:
                    yield path, f"no tenant named {consumer!r} to export {export.service!r} to"
        for j, imported in enumerate(tenant.imports):
            path = ("tenants", i, "imports", j)
            owner = by_name.get(imported.tenant)
            if imported.tenant == tenant.name:
                yield path + ("tenant",), f"tenant {tenant.name!r} cannot import from itself"
            elif owner is None:
                yield path + ("tenant",), f"no tenant named {imported.tenant!r} to import {imported.service!r} from"
            elif not any(e.service == imported.service and tenant.name in e.to for e in owner.exports):
                yield path, (
                    f"tenant {tenant.name!r} imports service {imported.service!r} from tenant {owner.name!r}, "
                    f"but {owner.name!r} does not export it to {tenant.name!r}"
                )


def _previous_names(config: TenantsFile) -> Iterator[Finding]:
    current = {t.name for t in config.tenants}
    seen: dict[str, str] = {}
    for i, tenant in enumerate(config.tenants):
        for j, old in enumerate(tenant.previous_names):
            path = ("tenants", i, "previousNames", j)
            if old in current:
                yield path, f"previous name {old!r} is the name of a current tenant"
            elif old in seen:
                yield path, f"previous name {old!r} is also claimed by tenant {seen[old]!r}"
            else:
                seen[old] = tenant.name
