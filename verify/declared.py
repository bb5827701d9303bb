"""Who may reach whom according to the tenants file: the map the computed one must equal.

- the internet reaches each tenant's gateway, and the platform's, on the ports their Service
  exposes (the servers' ports and the health port);
- within a namespace, everything;
- an importing tenant reaches the exported service; below the mesh its namespace is admitted to
  the exporter's namespace, so it also reaches the proxies' own ports there and the exporter's
  gateway (which admits everyone);
- every tenant reaches its mesh's istiod on 15012 (XDS and CA), DNS, and, when the program
  installs the add-ons, Jaeger's OTLP receiver (its proxies' spans), no other add-on;
- the scraper's namespace (`observability.scraperNamespace`, else the installed add-ons', else
  the tenant's control-plane namespace) reaches the proxies' metrics ports (15020, 15090) and no
  other port of a tenant's pods; the platform's pods reach the tenants' gateways (no policy
  restricts either side);
- nothing else between tenants or into platform namespaces.

Paths among the platform's own pods are the platform's concern and are not compared.
"""

from __future__ import annotations

from builders.addon_services import JAEGER_OTLP_GRPC
from builders.mesh_settings import ISTIOD_XDS_PORT
from tenants.model import TenantsFile

from .analyzer import Matrix
from .endpoints import INTERNET, METRICS_PORTS, PROXY_PORTS, Endpoint, Port, tenant_control_plane, tenant_scraper

DNS_PORTS: frozenset[Port] = frozenset({("UDP", 53), ("TCP", 53)})


def _add(result: dict, src: str, dst: Endpoint, ports) -> None:
    ports = frozenset(ports) & (dst.exposed if src == INTERNET else dst.ports)
    if ports:
        result[(src, dst.key)] = result.get((src, dst.key), frozenset()) | ports


def compared(src: str, dst: Endpoint, by_key: dict[str, Endpoint]) -> bool:
    """Pairs the declared map speaks for: all but those among the platform's own pods."""
    source = by_key.get(src)
    return src == INTERNET or dst.tenant is not None or (source is not None and source.tenant is not None)


def declared(config: TenantsFile, endpoints: list[Endpoint]) -> Matrix:
    by_tenant = {tenant.name: tenant for tenant in config.tenants}
    namespace_of = {tenant.name: tenant.namespace_name for tenant in config.tenants}
    tenant_endpoints = [e for e in endpoints if e.tenant is not None]
    platform = [e for e in endpoints if e.tenant is None]
    result: Matrix = {}

    for dst in endpoints:
        if dst.role in ("gateway", "platform-gateway"):
            _add(result, INTERNET, dst, dst.exposed)
    for src in tenant_endpoints:
        for dst in tenant_endpoints:
            if src is not dst and src.namespace == dst.namespace:
                _add(result, src.key, dst, dst.ports)
        tenant = by_tenant[src.tenant]
        for dst in platform:
            if dst.role == "istiod" and dst.namespace == tenant_control_plane(config, tenant):
                _add(result, src.key, dst, {("TCP", ISTIOD_XDS_PORT)})
            if dst.role == "dns":
                _add(result, src.key, dst, DNS_PORTS)
            if dst.role == "tracing":
                _add(result, src.key, dst, {("TCP", JAEGER_OTLP_GRPC)})

    exported = {(owner.name, e.service, to) for owner in config.tenants for e in owner.exports for to in e.to}
    for importer in config.tenants:
        for wanted in importer.imports:
            if (wanted.tenant, wanted.service, importer.name) not in exported:
                continue
            exporter_ns = namespace_of[wanted.tenant]
            for src in (e for e in tenant_endpoints if e.namespace == importer.namespace_name):
                for dst in (e for e in tenant_endpoints if e.namespace == exporter_ns):
                    if dst.role == "workload" and dst.name == wanted.service:
                        _add(result, src.key, dst, dst.ports)
                    elif dst.role == "gateway":
                        _add(result, src.key, dst, dst.exposed | PROXY_PORTS)
                    else:
                        _add(result, src.key, dst, PROXY_PORTS)

    for src in platform:
        for dst in tenant_endpoints:
            if dst.role == "gateway":
                _add(result, src.key, dst, dst.ports)
            elif src.namespace == tenant_scraper(config, by_tenant[dst.tenant]):
                _add(result, src.key, dst, METRICS_PORTS)
    return result
