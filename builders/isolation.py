"""What keeps tenants apart (traffic, configuration, resources, access, certificates), and the
one way through: a service its owner exports to a tenant that imports it.

Every tenant gets these objects by default; docs/isolation.md says which
guarantee each one provides and what it does not cover.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from tenants.model import Cluster, EgressAllowance, ServiceType, Tenant, TenantsFile, dns_part
from tenants.rules import METADATA_ADDRESSES

from .addon_services import PROXY_METRICS_PORTS
from .approver_policy import approver_policy_objects
from .control_plane import strict_mtls
from .istio import NETWORKING, SECURITY
from .mesh_settings import ISTIOD_XDS_PORT
from .meta import SKIP_AWAIT, k8s_object, namespace_peer, tenant_labels
from .tenant import gateway_service_ports, service_host

RBAC = "rbac.authorization.k8s.io"
CERT_MANAGER = "cert-manager.io"
# Sidecar injection labels every pod with its canonical service: the pod's own
# `service.istio.io/canonical-name`, else `app.kubernetes.io/name`, else `app`, else the
# Deployment's name. An export admits consumers to the pods whose canonical name is the service's.
CANONICAL_SERVICE_LABEL = "service.istio.io/canonical-name"
# Istio's conventional gateway label (`istio: ingressgateway`), present in the default gateway labels.
GATEWAY_POD_LABEL_KEY = "istio"
ADMIN_CLUSTER_ROLE = "admin"

# Containers that name no resources get these: the quota counts requests, and would otherwise
# reject such pods. No default CPU limit (CPU is compressible; limits only throttle), but default
# memory and disk limits, so that one container without limits cannot exhaust a node.
CONTAINER_DEFAULT_REQUEST = {"cpu": "100m", "memory": "128Mi", "ephemeral-storage": "100Mi"}
CONTAINER_DEFAULT_LIMIT = {"memory": "512Mi", "ephemeral-storage": "2Gi"}
DNS_NAMESPACE = "kube-system"


@dataclass(frozen=True)
class Sharing:
    """Who may call what across tenants: a service its owner exports to a tenant that imports it.

    Resolved once for the whole file, so each tenant's objects are built without scanning the others.
    """

    consumers: Mapping[str, Mapping[str, tuple[str, ...]]]  # owner tenant -> service -> consumer namespaces
    imports: Mapping[str, tuple[str, ...]]  # consumer tenant -> imported hosts, as Sidecar egress hosts
    cluster: Cluster = field(default_factory=Cluster)  # the file's `cluster` settings: storage classes, cert-manager

    @classmethod
    def of(cls, config: TenantsFile) -> Sharing:
        by_name = {t.name: t for t in config.tenants}
        exported = {(owner.name, e.service, to) for owner in config.tenants for e in owner.exports for to in e.to}
        consumers: dict[str, dict[str, set[str]]] = {}
        imports: dict[str, set[str]] = {}
        for tenant in config.tenants:
            for wanted in tenant.imports:
                # Both sides must agree; the loader already rejects an import nobody exports.
                if (wanted.tenant, wanted.service, tenant.name) not in exported:
                    continue
                owner_ns = by_name[wanted.tenant].namespace_name
                consumers.setdefault(wanted.tenant, {}).setdefault(wanted.service, set()).add(tenant.namespace_name)
                imports.setdefault(tenant.name, set()).add(f"{owner_ns}/{service_host(wanted.service, owner_ns)}")
        return cls(
            consumers={owner: {s: tuple(sorted(ns)) for s, ns in sorted(services.items())} for owner, services in consumers.items()},
            imports={name: tuple(sorted(hosts)) for name, hosts in imports.items()},
            cluster=config.cluster,
        )

    def consumers_of(self, tenant: Tenant) -> Mapping[str, tuple[str, ...]]:
        """Exported service -> namespaces of the tenants that import it."""
        return self.consumers.get(tenant.name, {})

    def imports_of(self, tenant: Tenant) -> tuple[str, ...]:
        return self.imports.get(tenant.name, ())

    def import_namespaces_of(self, tenant: Tenant) -> list[str]:
        """Namespaces of the tenants it imports a service from."""
        return sorted({host.partition("/")[0] for host in self.imports_of(tenant)})


class TenantIsolation(NamedTuple):
    """The tenant's objects by what they need and how long they live.

    `istio`, `kubernetes` and `quota` protect the namespace: they stay in the cluster with a retained
    namespace until the tenant is decommissioned. `access` (admins, certificates) leaves with the tenant.
    """

    istio: list[dict]  # Istio configuration: needs the control plane (its CRDs and istiod)
    kubernetes: list[dict]  # needs only the namespace
    access: list[dict]  # needs only the namespace; removed with the tenant
    # Created after every other object of the namespace: the quota counts Istio's, the Gateway
    # API's and cert-manager's kinds, and until kube-controller-manager has discovered a CRD
    # created in the same run (its discovery resyncs every 30 s) the quota's status lacks that
    # kind, and the API server refuses every new object of it ("status unknown for quota").
    quota: dict


def tenant_isolation(
    tenant: Tenant, control_plane_namespace: str, sharing: Sharing, addons_egress: list[dict] = (), scraper_namespace: str | None = None
) -> TenantIsolation:
    """`addons_egress`: egress rules towards the observability add-ons (builders.telemetry.addons_egress);
    `scraper_namespace`: where Prometheus runs (builders.platform_network.scraper_namespace; default
    the control-plane namespace)."""
    labels = tenant_labels(tenant.name)
    exported = sharing.consumers_of(tenant)
    importers = sorted({ns for namespaces in exported.values() for ns in namespaces})
    istio = [
        strict_mtls(tenant.namespace_name, labels),
        same_namespace_policy(tenant, labels),
        gateway_ingress_policy(tenant, labels),
        *(export_policy(tenant, service, consumers, labels) for service, consumers in exported.items()),
        tenant_sidecar(tenant, control_plane_namespace, sharing.imports_of(tenant), labels),
    ]
    kubernetes = [
        tenant_network_policy(tenant, scraper_namespace or control_plane_namespace, importers, labels),
        tenant_egress_policy(tenant, control_plane_namespace, sharing.import_namespaces_of(tenant), labels, addons_egress),
        limit_range(tenant, labels),
    ]
    access = [
        *admin_role_bindings(tenant, labels),
        *certificates(tenant, labels),
        *approver_policy_objects(tenant, sharing.cluster.cert_manager, labels),
    ]
    return TenantIsolation(istio, kubernetes, access, resource_quota(tenant, labels, tuple(sharing.cluster.storage_classes)))


# --- Istio -------------------------------------------------------------------------------


def _allow(name: str, tenant: Tenant, labels: dict[str, str], rules: list[dict], selector: dict[str, str] | None = None) -> dict:
    spec: dict = {"selector": {"matchLabels": dict(selector)}} if selector else {}
    spec.update(action="ALLOW", rules=rules)
    return k8s_object(SECURITY, "AuthorizationPolicy", name, tenant.namespace_name, labels=labels, spec=spec)


def _from_namespaces(namespaces: list[str]) -> dict:
    return {"from": [{"source": {"namespaces": list(namespaces)}}]}


def same_namespace_policy(tenant: Tenant, labels: dict[str, str]) -> dict:
    """Every workload of the namespace admits its own namespace only: once an ALLOW policy
    applies to a workload, whatever no ALLOW policy matches is denied."""
    return _allow("allow-same-namespace", tenant, labels, [_from_namespaces([tenant.namespace_name])])


def gateway_ingress_policy(tenant: Tenant, labels: dict[str, str]) -> dict:
    """The gateway is the tenant's public entry point: its clients have no mesh identity, so
    the same-namespace rule alone would deny them all."""
    return _allow("allow-gateway-ingress", tenant, labels, [{}], selector=tenant.gateway_labels)


def export_policy(tenant: Tenant, service: str, consumer_namespaces: tuple[str, ...], labels: dict[str, str]) -> dict:
    """The consumers' namespaces may call the exported service's pods, and no other pod."""
    return _allow(
        f"allow-export-{service}", tenant, labels, [_from_namespaces(list(consumer_namespaces))],
        selector={CANONICAL_SERVICE_LABEL: service},
    )


def tenant_sidecar(tenant: Tenant, control_plane_namespace: str, imported_hosts: tuple[str, ...], labels: dict[str, str]) -> dict:
    """Proxies of the namespace receive configuration for their own namespace, the control plane and their imports."""
    hosts = ["./*", f"{control_plane_namespace}/*", *imported_hosts]
    return k8s_object(NETWORKING, "Sidecar", "default", tenant.namespace_name, labels=labels, spec={"egress": [{"hosts": hosts}]})


# --- Kubernetes --------------------------------------------------------------------------


def gateway_pod_label(tenant: Tenant) -> tuple[str, str]:
    """The one gateway label that exempts the gateway's pods from the namespace's NetworkPolicy.

    A label selector ANDs its terms, so "not all of the gateway's labels" cannot be written and
    one pair stands for the gateway: `istio` when the tenant has it (Istio's gateway label,
    unusual on workloads), else the first key in sorted order, never the file's key order. It
    need not be unique across tenants: the policy selects pods of the tenant's namespace only,
    where no other tenant's gateway runs. The rules reject gateway label keys of the istio.io and
    kubernetes.io domains, so the pair cannot be one that Istio or Kubernetes puts on every pod.
    """
    labels = tenant.gateway_labels
    key = GATEWAY_POD_LABEL_KEY if GATEWAY_POD_LABEL_KEY in labels else min(labels)
    return key, labels[key]


def _tcp(port: int) -> dict:
    return {"protocol": "TCP", "port": port}


def tenant_network_policy(tenant: Tenant, scraper_namespace: str, importer_namespaces: list[str], labels: dict[str, str]) -> dict:
    """Below the mesh: pods of the namespace admit their own namespace and the tenants that import
    one of its services on any port, and the scraper's namespace on the proxies' metrics ports
    (15020, 15090) only. Nothing of the control plane connects to a tenant's pods: proxies
    connect to istiod, the platform gateway routes to the add-ons only, and the kubelet's probes
    come from the node.

    The gateway's pods are left out, so that no policy selects them and Kubernetes lets everyone
    in: load-balanced clients come from outside any namespace. The price: any pod of the tenant
    that carries the gateway's pair escapes the policy too (as any pod carrying all the gateway's
    labels would escape a separate allow-all gateway policy). Only the tenant labels pods in its
    namespace, so it can only open itself; for meshed pods the AuthorizationPolicies under STRICT
    mTLS remain the boundary.
    """
    peers = [namespace_peer(ns) for ns in [tenant.namespace_name, *importer_namespaces]]
    scraper = {"from": [namespace_peer(scraper_namespace)], "ports": [_tcp(port) for port in PROXY_METRICS_PORTS]}
    key, value = gateway_pod_label(tenant)
    # NotIn also selects the pods that lack the key: every pod but the gateway's.
    pods = {"matchExpressions": [{"key": key, "operator": "NotIn", "values": [value]}]}
    spec = {"podSelector": pods, "policyTypes": ["Ingress"], "ingress": [{"from": peers}, scraper]}
    return k8s_object("networking.k8s.io/v1", "NetworkPolicy", "allow-tenant-ingress", tenant.namespace_name, labels=labels, spec=spec)


def _ip_block(allowance: EgressAllowance) -> dict:
    """The allowance's range, with the cloud metadata address cut out where the range holds it
    (the rules refuse a range aimed at it)."""
    network = ipaddress.ip_network(allowance.cidr)
    cut = [
        f"{address}/{address.max_prefixlen}" for address, _ in METADATA_ADDRESSES
        if address.version == network.version and address in network
    ]
    return {"cidr": allowance.cidr, **({"except": cut} if cut else {})}


def tenant_egress_policy(
    tenant: Tenant, control_plane_namespace: str, imported_namespaces: list[str], labels: dict[str, str], addons: list[dict] = ()
) -> dict:
    """Every pod of the namespace, the gateway's included, connects only to: DNS, istiod's XDS and
    CA port, its own namespace, the tenants it imports from, the tenants file's `egress`
    allowances and, with the add-ons installed, Jaeger's trace receiver. Nothing else, so never the cloud metadata address (a node-local service no
    namespace selector reaches, and cut out of every allowance)."""
    egress = [
        {"to": [namespace_peer(DNS_NAMESPACE)], "ports": [{"protocol": "UDP", "port": 53}, _tcp(53)]},
        {"to": [namespace_peer(control_plane_namespace)], "ports": [_tcp(ISTIOD_XDS_PORT)]},
        {"to": [namespace_peer(ns) for ns in [tenant.namespace_name, *imported_namespaces]]},
        *addons,
    ]
    for allowance in tenant.egress:
        rule: dict = {"to": [{"ipBlock": _ip_block(allowance)}]}
        if allowance.ports:
            rule["ports"] = [_tcp(port) for port in allowance.ports]
        egress.append(rule)
    spec = {"podSelector": {}, "policyTypes": ["Egress"], "egress": egress}
    return k8s_object("networking.k8s.io/v1", "NetworkPolicy", "restrict-tenant-egress", tenant.namespace_name, labels=labels, spec=spec)


def gateway_node_ports(tenant: Tenant) -> int:
    """Node ports the gateway's Service takes: one per port (the status port and each server's, as
    every install method and Istio's Gateway API deployment open them) as a LoadBalancer or
    NodePort Service; none as ClusterIP."""
    if tenant.gateway.service.type == ServiceType.CLUSTER_IP:
        return 0
    return len(gateway_service_ports(tenant))


def resource_quota(tenant: Tenant, labels: dict[str, str], storage_classes: tuple[str, ...] = ()) -> dict:
    quota = tenant.quota
    hard = {
        "requests.cpu": quota.cpu,
        "requests.memory": quota.memory,
        "limits.memory": quota.limits_memory,
        "requests.ephemeral-storage": quota.ephemeral_storage,
        "pods": str(quota.pods),
        "configmaps": str(quota.config_maps),
        "secrets": str(quota.secrets),
        "services": str(quota.services),
        "persistentvolumeclaims": str(quota.persistent_volume_claims),
        # The gateway's Service is the tenant's one load balancer (none unless the file makes it
        # one); its ports take node ports too.
        "services.loadbalancers": "1" if tenant.gateway.service.type == ServiceType.LOAD_BALANCER else "0",
        "services.nodeports": str(gateway_node_ports(tenant) + quota.node_ports),
        "requests.storage": quota.storage,
        "limits.ephemeral-storage": quota.limits_ephemeral_storage,
        **{f"{cls}.storageclass.storage.k8s.io/requests.storage": quota.storage for cls in storage_classes},
        **object_counts(tenant),
    }
    # The provider would wait for the quota controller to fill in the quota's status; no resource
    # of the program depends on the quota, so a large install need not wait for it tenant by tenant.
    return k8s_object(
        "v1", "ResourceQuota", "tenant-quota", tenant.namespace_name, labels=labels, annotations=SKIP_AWAIT, spec={"hard": hard}
    )


# Kinds a tenant could otherwise create without bound (each object costs istiod, the API server or
# cert-manager work for everyone): Istio's, Gateway API's, cert-manager's, and a few built-in ones.
COUNTED_KINDS = (
    "virtualservices.networking.istio.io", "destinationrules.networking.istio.io", "serviceentries.networking.istio.io",
    "gateways.networking.istio.io", "sidecars.networking.istio.io", "workloadentries.networking.istio.io",
    "peerauthentications.security.istio.io", "authorizationpolicies.security.istio.io",
    "requestauthentications.security.istio.io", "telemetries.telemetry.istio.io",
    "gateways.gateway.networking.k8s.io", "httproutes.gateway.networking.k8s.io", "grpcroutes.gateway.networking.k8s.io",
    "tcproutes.gateway.networking.k8s.io", "tlsroutes.gateway.networking.k8s.io", "referencegrants.gateway.networking.k8s.io",
    "certificates.cert-manager.io", "certificaterequests.cert-manager.io", "issuers.cert-manager.io",
    "orders.acme.cert-manager.io", "challenges.acme.cert-manager.io",
    "jobs.batch", "cronjobs.batch", "rolebindings.rbac.authorization.k8s.io", "roles.rbac.authorization.k8s.io",
)


def platform_object_allowance(tenant: Tenant) -> int:
    """Room for the platform's own objects of one kind in the namespace, above the tenant's
    `quota.objects`: its routes, export policies and certificates, and the two fixed policies."""
    return len(tenant.routes) + len(tenant.exports) + len(tenant.gateway.servers) + 2


def object_counts(tenant: Tenant) -> dict[str, str]:
    limit = str(tenant.quota.objects + platform_object_allowance(tenant))
    return {f"count/{kind}": limit for kind in COUNTED_KINDS}


def limit_range(tenant: Tenant, labels: dict[str, str]) -> dict:
    limits = [
        {
            "type": "Container",
            "defaultRequest": dict(CONTAINER_DEFAULT_REQUEST),
            "default": dict(CONTAINER_DEFAULT_LIMIT),
            "max": {"memory": tenant.quota.container_memory, "ephemeral-storage": tenant.quota.container_ephemeral_storage},
        },
        {"type": "PersistentVolumeClaim", "max": {"storage": tenant.quota.volume_size}},
    ]
    return k8s_object("v1", "LimitRange", "tenant-limits", tenant.namespace_name, labels=labels, spec={"limits": limits})


def admin_role_bindings(tenant: Tenant, labels: dict[str, str]) -> list[dict]:
    """The built-in `admin` role, bound in the tenant's namespace only; none when no admins are named."""
    admins = tenant.admins
    subjects = [{"apiGroup": RBAC, "kind": "User", "name": user} for user in sorted(set(admins.users))]
    subjects += [{"apiGroup": RBAC, "kind": "Group", "name": group} for group in sorted(set(admins.groups))]
    if not subjects:
        return []
    role = {"apiGroup": RBAC, "kind": "ClusterRole", "name": ADMIN_CLUSTER_ROLE}
    return [
        k8s_object(f"{RBAC}/v1", "RoleBinding", "tenant-admins", tenant.namespace_name, labels=labels, roleRef=role, subjects=subjects)
    ]


def certificates(tenant: Tenant, labels: dict[str, str]) -> list[dict]:
    """A cert-manager Certificate per Secret a server names with an issuer, written into that
    Secret in the tenant's namespace, where the tenant's gateway reads it."""
    wanted: dict[str, tuple[set[str], set[str]]] = {}
    for server in tenant.gateway.servers:
        tls = server.tls
        if tls is None or not tls.issuer or not tls.credential_name:
            continue
        dns_names, issuers = wanted.setdefault(tls.credential_name, (set(), set()))
        # `*` (any host) names no certificate; `ns/host` binds a namespace, the name is `host`.
        dns_names.update(name for name in map(dns_part, server.hosts) if name != "*")
        issuers.add(tls.issuer)
    return [
        k8s_object(
            f"{CERT_MANAGER}/v1", "Certificate", secret, tenant.namespace_name, labels=labels,
            spec={
                "secretName": secret,
                "dnsNames": sorted(dns_names),
                # Servers sharing a Secret should name one issuer; min() keeps the choice independent of order.
                "issuerRef": {"group": CERT_MANAGER, "kind": "ClusterIssuer", "name": min(issuers)},
            },
        )
        for secret, (dns_names, issuers) in sorted(wanted.items())
        if dns_names
    ]
