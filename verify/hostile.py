"""Hostile additions: what a tenant admin may create in its own namespace that admission accepts
(its own NetworkPolicies, AuthorizationPolicies, PeerAuthentications, Services, pods without a
sidecar), added to the render one tenant at a time. Whatever a tenant adds must open only its
own namespace: reachability into the other tenants and the platform must not change, and its
new pods may reach nothing outside that its existing pods could not already reach.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from builders.isolation import gateway_pod_label
from builders.meta import k8s_object
from tenants.model import InstallMethod, Tenant, TenantsFile

from .analyzer import Matrix, compute
from .endpoints import Endpoint, control_plane_namespaces, pod_of, stack_endpoints, tcp
from .reach import show_ports

INTRUDER = "intruder"
INTRUDER_PORT = 8080
NO_SIDECAR = {"sidecar.istio.io/inject": "false"}
NETWORKING = "networking.k8s.io/v1"
SECURITY = "security.istio.io/v1"


def hostile_objects(tenant: Tenant) -> list[dict]:
    """The tenant's own policies, each as wide as admission lets it be (admission refuses egress to
    address blocks, PeerAuthentication modes other than STRICT or UNSET, and objects carrying
    the platform's tenant label; NetworkPolicies and AuthorizationPolicies otherwise pass)."""
    ns = tenant.namespace_name
    return [
        k8s_object(NETWORKING, "NetworkPolicy", "intruder-ingress-from-anyone", ns,
                   spec={"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]}),
        k8s_object(NETWORKING, "NetworkPolicy", "intruder-egress-to-every-namespace", ns,
                   spec={"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [{"namespaceSelector": {}}]}]}),
        k8s_object(SECURITY, "AuthorizationPolicy", "intruder-allow-anyone", ns, spec={"action": "ALLOW", "rules": [{}]}),
        k8s_object(SECURITY, "PeerAuthentication", "intruder-unset", ns,
                   spec={"selector": {"matchLabels": {"app": INTRUDER}}, "mtls": {"mode": "UNSET"}}),
        k8s_object("v1", "Service", INTRUDER, ns,
                   spec={"selector": {"app": INTRUDER}, "ports": [{"name": "http", "port": INTRUDER_PORT, "targetPort": INTRUDER_PORT}]}),
    ]


def intruders(tenant: Tenant) -> list[Endpoint]:
    """Pods without a sidecar: a plain one, and one carrying the gateway's label pair (which the
    namespace's ingress NetworkPolicy leaves out)."""
    key, value = gateway_pod_label(tenant)
    ns = tenant.namespace_name
    plain = {"app": INTRUDER, **NO_SIDECAR}
    as_gateway = {"app": f"{INTRUDER}-gw", key: value, **NO_SIDECAR}
    return [
        Endpoint(ns, f"{INTRUDER}-no-sidecar", "hostile", tenant.name, meshed=False, labels=tuple(sorted(plain.items())),
                 ports=tcp(INTRUDER_PORT), service_account=INTRUDER),
        Endpoint(ns, f"{INTRUDER}-gateway-label", "hostile", tenant.name, meshed=False, labels=tuple(sorted(as_gateway.items())),
                 ports=tcp(INTRUDER_PORT), service_account=INTRUDER),
    ]


@dataclass(frozen=True)
class Breach:
    tenant: str
    src: str
    dst: str
    ports: frozenset
    cause: Optional[str] = None

    def __str__(self) -> str:
        by = f" by {self.cause}" if self.cause else ""
        return f"{self.src} -> {self.dst}:{show_ports(self.ports)} opened{by} (tenant {self.tenant}'s own objects)"


def _breaches(tenant: Tenant, endpoints: list[Endpoint], new: list[Endpoint], before: Matrix, after: Matrix) -> list[Breach]:
    ns = tenant.namespace_name
    own = [e for e in endpoints if e.namespace == ns]
    found = []
    for dst in endpoints:
        if dst.namespace == ns:
            continue
        reach_of_own = frozenset().union(*(before.get((e.key, dst.key), frozenset()) for e in own))
        for src_key in ["internet", *(e.key for e in endpoints), *(e.key for e in new)]:
            if src_key == dst.key:
                continue
            baseline = reach_of_own if src_key in {e.key for e in new} else before.get((src_key, dst.key), frozenset())
            extra = after.get((src_key, dst.key), frozenset()) - baseline
            if extra:
                found.append(Breach(tenant.name, src_key, dst.key, extra))
    return found


def hostile_check(objects: list[dict], config: TenantsFile, install_method: InstallMethod = InstallMethod.HELM,
                  tenants: Optional[list[str]] = None, explain: bool = True,
                  admitted: Optional[Callable[[dict], bool]] = None) -> list[Breach]:
    """Every path into another tenant or the platform that a tenant's own objects open.

    `admitted`: whether admission accepts an object (a pod too) from a tenant admin; what it
    refuses is left out. Without it every candidate is added."""
    endpoints = stack_endpoints(config, install_method)
    roots = control_plane_namespaces(config)
    before = compute(objects, endpoints, roots)
    found: list[Breach] = []
    for tenant in config.tenants:
        if tenants is not None and tenant.name not in tenants:
            continue
        added, new = hostile_objects(tenant), intruders(tenant)
        if admitted is not None:
            added = [obj for obj in added if admitted(obj)]
            new = [pod for pod in new if admitted(pod_of(pod))]
        after = compute(objects + added, endpoints + new, roots)
        breaches = _breaches(tenant, endpoints, new, before, after)
        if breaches and explain:
            breaches = _explained(objects, added, endpoints + new, roots, breaches)
        found += breaches
    return found


def _explained(objects: list[dict], added: list[dict], endpoints: list[Endpoint], roots: list[str], breaches: list[Breach]) -> list[Breach]:
    """Name the added object without which each breach closes."""
    causes: dict[int, list[str]] = {}
    for index, obj in enumerate(added):
        if obj["kind"] == "Service":  # no layer the analyzer computes reads Services
            continue
        without = compute(objects + added[:index] + added[index + 1:], endpoints, roots)
        for n, breach in enumerate(breaches):
            if not breach.ports & without.get((breach.src, breach.dst), frozenset()):
                causes.setdefault(n, []).append(f"{obj['kind']} {obj['metadata']['namespace']}/{obj['metadata']['name']}")
    return [Breach(b.tenant, b.src, b.dst, b.ports, " and ".join(causes.get(n, [])) or None) for n, b in enumerate(breaches)]
