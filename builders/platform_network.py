"""The platform's own namespaces below the mesh: a default-deny ingress NetworkPolicy in each, and
exactly the openings listed as data.

A pod without a sidecar (`sidecar.istio.io/inject: "false"` is a tenant's right) skips every
AuthorizationPolicy, so only NetworkPolicies keep it out of istiod's debug ports, the add-ons and
cert-manager. `control_plane_network` says what must stay reachable from a control plane's
settings; another part of the program (the observability add-ons, in their own namespace) adds
its namespaces and `Allowance`s (`PlatformNetwork.with_`), and `platform_network_policies` turns
any list into the objects, one default deny per namespace named and one policy per opening.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Optional

from tenants.model import Mesh, Observability, TenantsFile
from tenants.rules import CONTROL_PLANE_GATEWAY_SELECTOR

from .addon_services import ENVOY_METRICS_PORT, INSTALLED_SERVICES, JAEGER_OTLP_GRPC, OAUTH2_PROXY_POD_PORT
from .mesh_settings import ISTIOD_MONITORING_PORT, ISTIOD_POD_LABELS, ISTIOD_WEBHOOK_PORT, ISTIOD_XDS_PORT
from .meta import MANAGED_BY, MESH_LABEL, TENANT_LABEL, k8s_object, namespace_peer

NETWORK_POLICY = "networking.k8s.io/v1"
DEFAULT_DENY = "default-deny-ingress"
KUBE_SYSTEM = "kube-system"
DNS_PORT = 53
# kube-dns and CoreDNS as kubeadm, kind and the managed clusters label them.
DNS_POD_LABELS = {"k8s-app": "kube-dns"}
DNS_METRICS_PORT = 9153
# cert-manager's chart: the webhook serves the API server on 10250 (`webhook.securePort`), the
# controller its metrics on 9402.
CERT_MANAGER_WEBHOOK_LABELS = {"app.kubernetes.io/instance": "cert-manager", "app.kubernetes.io/component": "webhook"}
CERT_MANAGER_WEBHOOK_PORT = 10250
CERT_MANAGER_CONTROLLER_LABELS = {"app.kubernetes.io/instance": "cert-manager", "app.kubernetes.io/component": "controller"}
CERT_MANAGER_METRICS_PORT = 9402
GATEWAY_STATUS_PORT = 15021  # the load balancer's health checks
# Istio's operator profiles map the platform gateway's Service ports 80 and 443 to these pod ports.
OPERATOR_GATEWAY_TARGET_PORTS = (8080, 8443)


@dataclass(frozen=True)
class Opening:
    """Ports opened to some sources: `sources` are NetworkPolicy peers; None opens the ports to
    anyone (the API server and load-balanced clients come from no pod)."""

    ports: tuple[tuple[str, int], ...]  # (protocol, port)
    sources: Optional[tuple[dict, ...]] = None


@dataclass(frozen=True)
class Allowance:
    """One NetworkPolicy in a platform namespace: the pods it opens and what may reach them."""

    name: str
    namespace: str
    pods: Mapping[str, str]  # matchLabels; {} for every pod of the namespace
    openings: tuple[Opening, ...] = field(default_factory=tuple)


def tcp(*ports: int) -> tuple[tuple[str, int], ...]:
    return tuple(("TCP", port) for port in ports)


def default_deny(namespace: str, labels: Mapping[str, str]) -> dict:
    """Every pod of the namespace admits nothing but what another policy of the namespace opens."""
    spec = {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": []}
    return k8s_object(NETWORK_POLICY, "NetworkPolicy", DEFAULT_DENY, namespace, labels=dict(labels), spec=spec)


def allowance_policy(allowance: Allowance, labels: Mapping[str, str]) -> dict:
    rules = []
    for opening in allowance.openings:
        rule: dict = {}
        if opening.sources is not None:
            rule["from"] = [dict(peer) for peer in opening.sources]
        rule["ports"] = [{"protocol": protocol, "port": port} for protocol, port in opening.ports]
        rules.append(rule)
    spec = {"podSelector": {"matchLabels": dict(allowance.pods)} if allowance.pods else {}, "policyTypes": ["Ingress"], "ingress": rules}
    return k8s_object(NETWORK_POLICY, "NetworkPolicy", allowance.name, allowance.namespace, labels=dict(labels), spec=spec)


def platform_network_policies(
    namespaces: Iterable[str], allowances: Iterable[Allowance], labels: Mapping[str, str] = MANAGED_BY
) -> list[dict]:
    """A default deny in each of `namespaces`, and one policy per allowance (in those namespaces only:
    an opening in a namespace without its default deny would be meaningless)."""
    names = sorted(set(namespaces))
    objects = [default_deny(ns, labels) for ns in names]
    objects += [allowance_policy(a, labels) for a in allowances if a.namespace in names]
    return objects


# --- What the platform must keep reachable ---------------------------------------------------


def mesh_peers(config: TenantsFile, mesh: Optional[Mesh], control_plane_namespace: str) -> tuple[dict, ...]:
    """The namespaces of one mesh: with several meshes, those carrying its mesh label (its control
    plane's and its tenants'); with one control plane, its namespace and every tenant namespace."""
    if mesh is not None:
        return ({"namespaceSelector": {"matchLabels": {MESH_LABEL: mesh.name}}},)
    return (
        namespace_peer(control_plane_namespace),
        {"namespaceSelector": {"matchExpressions": [{"key": TENANT_LABEL, "operator": "Exists"}]}},
    )


def istiod_allowance(config: TenantsFile, mesh: Optional[Mesh], namespace: str, scraper_namespace: str) -> Allowance:
    """istiod (every revision of the mesh): XDS and the CA on 15012 from the mesh's own namespaces
    only (a tenant of one mesh gets no certificate from another mesh's CA), webhooks on 15017 from
    anywhere (the API server comes from no pod), metrics from the scraper; 15010 (plain-text XDS)
    stays closed."""
    return Allowance(
        "istiod-ingress", namespace, ISTIOD_POD_LABELS,
        (
            Opening(tcp(ISTIOD_XDS_PORT), mesh_peers(config, mesh, namespace)),
            Opening(tcp(ISTIOD_WEBHOOK_PORT)),
            Opening(tcp(ISTIOD_MONITORING_PORT), (namespace_peer(scraper_namespace),)),
        ),
    )


def gateway_allowance(namespace: str, server_ports: Iterable[int], scraper_namespace: str) -> Allowance:
    """The platform's ingress gateway: its server ports and health port from anywhere (the internet,
    through its load balancer), its proxy metrics (15090) from the scraper."""
    ports = sorted({GATEWAY_STATUS_PORT, *server_ports})
    return Allowance(
        "ingress-gateway", namespace, CONTROL_PLANE_GATEWAY_SELECTOR,
        (Opening(tcp(*ports)), Opening(tcp(ENVOY_METRICS_PORT), (namespace_peer(scraper_namespace),))),
    )


def dns_allowance(scraper_namespace: str) -> Allowance:
    anywhere = ({"namespaceSelector": {}},)
    return Allowance(
        "dns", KUBE_SYSTEM, DNS_POD_LABELS,
        (Opening((("UDP", DNS_PORT), ("TCP", DNS_PORT)), anywhere), Opening(tcp(DNS_METRICS_PORT), (namespace_peer(scraper_namespace),))),
    )


def cert_manager_allowances(namespace: str, scraper_namespace: str) -> list[Allowance]:
    return [
        Allowance("cert-manager-webhook", namespace, CERT_MANAGER_WEBHOOK_LABELS, (Opening(tcp(CERT_MANAGER_WEBHOOK_PORT)),)),
        Allowance(
            "cert-manager-metrics", namespace, CERT_MANAGER_CONTROLLER_LABELS,
            (Opening(tcp(CERT_MANAGER_METRICS_PORT), (namespace_peer(scraper_namespace),)),),
        ),
    ]


# The add-ons' pod ports (Istio's samples/addons): what the gateway routes to and what the add-ons
# read from each other (Kiali and Grafana query Prometheus, Kiali the tracing UI's API).
ADDON_POD_PORTS = {"kiali": (20001,), "grafana": (3000,), "prometheus": (9090,), "tracing": (16686, 16685)}
ZIPKIN_PORT = 9411  # where the mesh's proxies send spans when tracing is on


def scraper_namespace(obs: Observability, control_plane_namespace: str) -> str:
    """Where Prometheus scrapes from: the stack's `scraperNamespace`, else the installed add-ons'
    namespace, else the control plane's (an add-on installed there by someone else)."""
    return obs.scraper_namespace or (obs.namespace if obs.install else control_plane_namespace)


def addon_allowances(config: TenantsFile, mesh: Optional[Mesh], namespace: str) -> list[Allowance]:
    """The enabled add-ons, in the control-plane namespace: their ports from that namespace only
    (the platform gateway and the other add-ons run there, no tenant does); the tracing collector
    from the mesh's namespaces, whose proxies send it spans."""
    obs = config.observability
    if obs.install and obs.namespace == namespace:
        return [installed_addon_allowance(config, mesh, namespace)]
    addons = [a for a in ADDON_POD_PORTS if getattr(obs.addons, a)]
    if not addons:
        return []
    ports = sorted({port for a in addons for port in ADDON_POD_PORTS[a]})
    openings = [Opening(tcp(*ports), (namespace_peer(namespace),))]
    if "tracing" in addons:
        openings.append(Opening(tcp(ZIPKIN_PORT), mesh_peers(config, mesh, namespace)))
    return [Allowance("observability-addons", namespace, {}, tuple(openings))]


def installed_addon_allowance(config: TenantsFile, mesh: Optional[Mesh], namespace: str) -> Allowance:
    """The add-ons the program installs (builders/addons.py), in the control-plane namespace: their
    charts' pod ports from that namespace only (the platform gateway, oauth2-proxy and the add-ons
    themselves run there, no tenant does); Jaeger's OTLP receiver from the mesh's namespaces,
    whose proxies send it spans."""
    ports = sorted({port for _, port in INSTALLED_SERVICES.values()} | {OAUTH2_PROXY_POD_PORT})
    return Allowance(
        "observability-addons", namespace, {},
        (Opening(tcp(*ports), (namespace_peer(namespace),)), Opening(tcp(JAEGER_OTLP_GRPC), mesh_peers(config, mesh, namespace))),
    )


@dataclass(frozen=True)
class PlatformNetwork:
    """The platform namespaces a control plane's component protects, and their openings."""

    namespaces: tuple[str, ...]
    allowances: tuple[Allowance, ...]

    def with_(self, namespaces: Iterable[str] = (), allowances: Iterable[Allowance] = ()) -> PlatformNetwork:
        """More namespaces to close and more openings (another part of the program's)."""
        return PlatformNetwork((*self.namespaces, *namespaces), (*self.allowances, *allowances))

    def objects(self, labels: Mapping[str, str] = MANAGED_BY) -> list[dict]:
        return platform_network_policies(self.namespaces, self.allowances, labels)


def control_plane_network(
    config: TenantsFile,
    mesh: Optional[Mesh],
    namespace: str,
    gateway_ports: Iterable[int] = (),
    platform: bool = True,
) -> PlatformNetwork:
    """What one control-plane namespace (the platform's, or a mesh's) gets; the platform one also
    protects the namespaces the file says the program may (cert-manager's, kube-system).
    `gateway_ports`: the pod ports the platform gateway's servers listen on (none on other meshes)."""
    scraper = scraper_namespace(config.observability, namespace)
    allowances = [istiod_allowance(config, mesh, namespace, scraper)]
    namespaces = [namespace]
    if platform:
        allowances.append(gateway_allowance(namespace, gateway_ports, scraper))
        allowances += addon_allowances(config, mesh, namespace)
        cert_manager = config.cluster.cert_manager
        if cert_manager.protected(config):
            namespaces.append(cert_manager.namespace)
            allowances += cert_manager_allowances(cert_manager.namespace, scraper)
        if config.cluster.kube_system.network_policy:
            namespaces.append(KUBE_SYSTEM)
            allowances.append(dns_allowance(scraper))
    return PlatformNetwork(tuple(namespaces), tuple(allowances))



def gateway_pod_ports(servers: list[dict], target_ports: Optional[tuple[int, ...]]) -> list[int]:
    """The pod ports the platform gateway's servers listen on: the servers' own (the Helm and Sail
    paths' Service targets each port at itself), or the install method's fixed targets (the
    operator's profiles map 80 and 443 to 8080 and 8443); none without servers."""
    if not servers:
        return []
    return list(target_ports) if target_ports is not None else [s["port"]["number"] for s in servers]
