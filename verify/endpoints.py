"""The endpoints whose reachability is computed: each tenant's synthetic workloads and gateway,
the platform's pods (istiod, its ingress gateway, DNS, the scraper) and the internet.

A render holds no pods; these stand-ins carry the labels, service accounts and ports that the
policies select and that Istio's charts and injector give the real ones. Each endpoint says
whether its inbound traffic goes through a sidecar (STRICT mTLS, AuthorizationPolicies) and which
of its ports the outside reaches through a LoadBalancer or NodePort Service.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from builders.control_plane import observability_servers
from builders.mesh_settings import ISTIOD_MONITORING_PORT, ISTIOD_XDS_PORT
from builders.addon_services import GRAFANA, JAEGER_OTLP_GRPC, JAEGER_QUERY, KIALI, OAUTH2_PROXY_POD_PORT, PROXY_METRICS_PORTS
from builders.platform_network import OPERATOR_GATEWAY_TARGET_PORTS, scraper_namespace
from builders.tenant import STATUS_PORT, operator_target_ports
from tenants.meshes import placement, platform_control_plane
from tenants.model import InstallMethod, ServiceType, Tenant, TenantsFile
from tenants.rules import CONTROL_PLANE_GATEWAY_LABELS

from .workloads import ENVOY_PROMETHEUS_PORT, PROXY_METRICS_PORT, named_services, pod_labels

Port = tuple[str, int]  # (protocol, number)

INTERNET = "internet"
DNS_NAMESPACE = "kube-system"
ISTIOD_PLAINTEXT_XDS_PORT = 15010
ISTIOD_WEBHOOK_PORT = 15017
DNS_METRICS_PORT = 9153
SCRAPER_PORT = 9090
# The proxy's own ports, which its inbound capture leaves alone: below the mesh, only
# NetworkPolicy guards them (merged metrics, Envoy's metrics, health).
PROXY_PORTS: frozenset[Port] = frozenset(
    {("TCP", PROXY_METRICS_PORT), ("TCP", ENVOY_PROMETHEUS_PORT), ("TCP", STATUS_PORT["port"])}
)
# What the scraper reads of every proxy (not the health port, which the kubelet probes from the node).
METRICS_PORTS: frozenset[Port] = frozenset(("TCP", port) for port in PROXY_METRICS_PORTS)


def tcp(*ports: int) -> frozenset[Port]:
    return frozenset(("TCP", port) for port in ports)


@dataclass(frozen=True)
class Endpoint:
    namespace: str
    name: str
    role: str  # workload, gateway, istiod, platform-gateway, dns, scraper, hostile
    tenant: Optional[str]  # the owning tenant; None for the platform
    meshed: bool  # inbound through a sidecar: STRICT mTLS, then AuthorizationPolicies
    labels: tuple[tuple[str, str], ...]
    ports: frozenset[Port]  # what it listens on
    exposed: frozenset[Port] = frozenset()  # what the outside reaches (LoadBalancer or NodePort Service)
    service_account: str = "default"
    authorizes: bool = False  # an Envoy enforces AuthorizationPolicies on its inbound (sidecar or gateway)
    entry_ports: frozenset[Port] = field(default_factory=frozenset)  # a gateway's server ports
    mesh_identity: bool = False  # calls out over mTLS with its service account's identity (sidecars, gateways)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def captured(self) -> frozenset[Port]:
        """The ports its sidecar intercepts (every port but the proxy's own)."""
        return self.ports - PROXY_PORTS if self.meshed else frozenset()


def control_plane_namespaces(config: TenantsFile) -> list[str]:
    if config.meshes:
        return [mesh.namespace_name for mesh in config.meshes]
    return [config.control_plane.namespace]


def platform_namespaces(config: TenantsFile) -> list[str]:
    scrapers = {scraper_namespace(config.observability, namespace) for namespace in control_plane_namespaces(config)}
    return sorted({*control_plane_namespaces(config), DNS_NAMESPACE, *scrapers})


def tenant_scraper(config: TenantsFile, tenant: Tenant) -> str:
    """The namespace whose pods may read the tenant's proxies' metrics (as components/tenant_mesh.py says)."""
    return scraper_namespace(config.observability, tenant_control_plane(config, tenant))


def gateway_endpoint(tenant: Tenant, install_method: InstallMethod) -> Endpoint:
    servers = tenant.gateway.servers_by_port
    # The operator's gateway pods listen on a high port for a server port below 1024.
    targets = operator_target_ports(tenant) if install_method == InstallMethod.OPERATOR and not tenant.uses_gateway_api else {}
    entry = tcp(*(targets.get(s.port, s.port) for s in servers))
    status = tcp(STATUS_PORT["port"])
    exposed = frozenset() if tenant.gateway.service.type == ServiceType.CLUSTER_IP else entry | status
    return Endpoint(
        tenant.namespace_name, tenant.gateway_name, "gateway", tenant.name, meshed=False,
        labels=tuple(sorted(tenant.gateway_labels.items())), ports=entry | PROXY_PORTS, exposed=exposed,
        service_account=tenant.gateway_name, authorizes=True, entry_ports=entry, mesh_identity=True,
    )


def tenant_endpoints(config: TenantsFile, install_method: InstallMethod) -> list[Endpoint]:
    by_name = {tenant.name: tenant for tenant in config.tenants}
    workloads = [
        Endpoint(
            service.namespace, service.name, "workload", service.tenant, meshed=True,
            labels=tuple(sorted(pod_labels(service).items())),
            ports=frozenset(("TCP", p.port) for p in service.ports) | PROXY_PORTS,
            service_account=service.name, authorizes=True, mesh_identity=True,
        )
        for service in named_services(config)
    ]
    gateways = [gateway_endpoint(by_name[name], install_method) for name in sorted(by_name)]
    return workloads + gateways


def platform_endpoints(config: TenantsFile, install_method: InstallMethod = InstallMethod.HELM) -> list[Endpoint]:
    endpoints = [
        Endpoint(
            namespace, "istiod", "istiod", None, meshed=False, labels=(("app", "istiod"), ("istio", "pilot")),
            ports=tcp(ISTIOD_PLAINTEXT_XDS_PORT, ISTIOD_XDS_PORT, ISTIOD_MONITORING_PORT, ISTIOD_WEBHOOK_PORT),
            service_account="istiod",
        )
        for namespace in control_plane_namespaces(config)
    ]
    cp = platform_control_plane(config)
    # The pod ports: the operator's profile targets 80 and 443 at 8080 and 8443, the charts each port at itself.
    targets = dict(zip((80, 443), OPERATOR_GATEWAY_TARGET_PORTS)) if install_method == InstallMethod.OPERATOR else {}
    servers = (s["port"]["number"] for s in observability_servers(config.observability))
    gateway_ports = tcp(STATUS_PORT["port"], *(targets.get(port, port) for port in servers))
    endpoints.append(
        Endpoint(
            cp.namespace, "istio-ingressgateway", "platform-gateway", None, meshed=False,
            labels=tuple(sorted(CONTROL_PLANE_GATEWAY_LABELS.items())), ports=gateway_ports | PROXY_PORTS,
            exposed=gateway_ports, service_account="istio-ingressgateway", authorizes=True, entry_ports=gateway_ports,
            mesh_identity=True,
        )
    )
    endpoints.append(
        Endpoint(
            DNS_NAMESPACE, "coredns", "dns", None, meshed=False, labels=(("k8s-app", "kube-dns"),),
            ports=frozenset({("UDP", 53), ("TCP", 53), ("TCP", DNS_METRICS_PORT)}), service_account="coredns",
        )
    )
    if config.observability.addons.prometheus or config.observability.install:
        endpoints.append(
            Endpoint(
                scraper_namespace(config.observability, cp.namespace), "prometheus", "scraper", None, meshed=False,
                labels=(("app.kubernetes.io/name", "prometheus"),), ports=tcp(SCRAPER_PORT), service_account="prometheus",
            )
        )
    return endpoints + addon_endpoints(config)


def addon_endpoints(config: TenantsFile) -> list[Endpoint]:
    """The add-ons the program installs (Prometheus is the scraper above), in their namespace, as
    their charts label their pods: no sidecar (the namespace has no injection)."""
    obs = config.observability
    if not obs.install:
        return []
    pods = [("grafana", "grafana", tcp(GRAFANA[1])), ("kiali", "kiali", tcp(KIALI[1])),
            ("tracing", JAEGER_QUERY[0], tcp(JAEGER_QUERY[1], JAEGER_OTLP_GRPC))]
    if obs.oidc is not None:
        pods.append(("login", "oauth2-proxy", tcp(OAUTH2_PROXY_POD_PORT)))
    return [
        Endpoint(obs.namespace, name, role, None, meshed=False, labels=(("app.kubernetes.io/name", name),), ports=ports, service_account=name)
        for role, name, ports in pods
    ]


def stack_endpoints(config: TenantsFile, install_method: InstallMethod = InstallMethod.HELM) -> list[Endpoint]:
    return tenant_endpoints(config, install_method) + platform_endpoints(config, install_method)


def tenant_control_plane(config: TenantsFile, tenant: Tenant) -> str:
    return placement(config, tenant).namespace


def pod_of(endpoint: Endpoint) -> dict:
    """The endpoint as a pod for the analyzer: named after the endpoint, no owner, its ports named."""
    ports = [
        {"name": f"{proto.lower()}-{number}", "containerPort": number, "protocol": proto}
        for proto, number in sorted(endpoint.ports)
    ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": endpoint.name, "namespace": endpoint.namespace, "labels": dict(endpoint.labels)},
        "spec": {"serviceAccountName": endpoint.service_account, "containers": [{"name": "main", "image": "stand-in", "ports": ports}]},
    }
