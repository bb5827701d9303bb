"""The platform's invariants as plain functions: Kubernetes objects (and the tenants file) in,
violation messages out. No Pulumi here: `policy/__main__.py` wraps them into a CrossGuard pack,
and tests call them directly.

A program is *tenant-scoped* when the pack is configured with the tenant it deploys for
(`tenant`); otherwise it is a platform program, like this repository's own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional

from builders.meta import TENANT_LABEL
from tenants import TenantsFile, load_tenants
from tenants.model import Tenant
from tenants.rules import CONTROL_PLANE_GATEWAY_LABELS, format_labels

INJECTION_LABEL = "istio-injection"
REVISION_LABEL = "istio.io/rev"
# Sidecar injection derives a pod's canonical service from these labels, in this order: an
# AuthorizationPolicy selecting one of them with a service's name selects that service.
SERVICE_LABELS = ("service.istio.io/canonical-name", "app.kubernetes.io/name", "app")
# Kinds that live outside any namespace (built-in, and the add-ons this platform uses).
CLUSTER_SCOPED_KINDS = frozenset({
    "APIService", "CertificateSigningRequest", "ClusterIssuer", "ClusterRole", "ClusterRoleBinding",
    "CSIDriver", "CSINode", "CustomResourceDefinition", "FlowSchema", "GatewayClass", "IngressClass",
    "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding", "MutatingWebhookConfiguration", "Namespace",
    "Node", "PersistentVolume", "PriorityClass", "PriorityLevelConfiguration", "RuntimeClass", "StorageClass",
    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "ValidatingWebhookConfiguration",
    "VolumeAttachment",
})
WEAK_MTLS_MODES = ("PERMISSIVE", "DISABLE")


PROJECT_ROOT = Path(__file__).resolve().parent.parent


def tenants_path(configured: Optional[str], stack_setting: Optional[str], stack: Optional[str]) -> Optional[Path]:
    """The tenants file to check against: the pack's `tenantsFile` config, else the stack's
    `istio-multitenancy:tenantsFile`, else `tenants/<stack>.yaml` as the program itself defaults.
    Relative paths are relative to this repository, where the program's stacks live."""
    chosen = configured or stack_setting or (f"tenants/{stack}.yaml" if stack else None)
    if not chosen:
        return None
    path = Path(chosen)
    return path if path.is_absolute() else PROJECT_ROOT / path


@dataclass(frozen=True)
class Platform:
    """What the tenants file allows, and the tenant a tenant-scoped program deploys for."""

    tenants: TenantsFile
    tenant: Optional[str] = None

    @classmethod
    def load(cls, tenants_file: Path, tenant: Optional[str] = None) -> Platform:
        """Raises `tenants.ConfigError` for a file that is missing or wrong."""
        return cls(load_tenants(tenants_file), tenant or None)

    @property
    def control_plane_namespace(self) -> str:
        return self.tenants.control_plane.namespace

    def tenant_in(self, namespace: Optional[str]) -> Optional[Tenant]:
        """The tenant whose namespace this is (None for any other namespace)."""
        return next((t for t in self.tenants.tenants if t.namespace_name == namespace), None)

    def other_gateway_labels(self, tenant: Tenant) -> Iterator[tuple[str, dict[str, str]]]:
        yield "the control-plane ingress gateway", CONTROL_PLANE_GATEWAY_LABELS
        for other in self.tenants.tenants:
            if other.name != tenant.name:
                yield f"tenant {other.name!r}'s gateway", other.gateway_labels

    def granted(self, owner: Tenant, consumer_namespace: str) -> set[str]:
        """Services `owner` exports to the tenant living in `consumer_namespace`."""
        consumer = self.tenant_in(consumer_namespace)
        if consumer is None:
            return set()
        return {e.service for e in owner.exports if consumer.name in e.to}


# --- Object helpers ---------------------------------------------------------------------------


def identity(obj: Mapping) -> str:
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{obj.get('kind')} {namespace}/{meta.get('name')}" if namespace else f"{obj.get('kind')} {meta.get('name')}"


def _namespace(obj: Mapping) -> Optional[str]:
    return (obj.get("metadata") or {}).get("namespace")


def _labels(obj: Mapping) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def _is(obj: Mapping, kind: str, group: str) -> bool:
    return obj.get("kind") == kind and str(obj.get("apiVersion", "")).rpartition("/")[0] == group


# --- Resource policies: one object at a time ---------------------------------------------------


def gateway_selects_own_gateway(obj: Mapping, platform: Platform) -> Iterator[str]:
    """A Gateway in a tenant namespace programs that tenant's gateway pods and no one else's."""
    if not _is(obj, "Gateway", "networking.istio.io"):
        return
    tenant = platform.tenant_in(_namespace(obj))
    if tenant is None:
        return
    selector = (obj.get("spec") or {}).get("selector") or {}
    own = tenant.gateway_labels
    if not selector:
        yield f"{identity(obj)} has no selector, so it would program every gateway; select {format_labels(own)}"
        return
    if not selector.items() <= own.items():
        yield (
            f"{identity(obj)} selects {format_labels(selector)}, labels that tenant {tenant.name!r}'s gateway "
            f"{format_labels(own)} does not carry; a tenant's Gateway selects only its own gateway"
        )
        return
    for whose, labels in platform.other_gateway_labels(tenant):
        if selector.items() <= labels.items():
            yield f"{identity(obj)} selects {format_labels(selector)}, which also matches {whose} {format_labels(labels)}; select {format_labels(own)}"


GATEWAY_API = "gateway.networking.k8s.io"
GATEWAY_API_ROUTES = ("HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute")


def gateway_api_stays_in_namespace(obj: Mapping, platform: Platform) -> Iterator[str]:
    """A tenant's Gateway API objects reach nothing outside its namespace: its Gateway takes routes
    and certificates of that namespace only, and labels its pods as the tenant's gateway (which the
    isolation objects select); its routes attach to Gateways and send to Services of that namespace."""
    kind = obj.get("kind")
    if not (_is(obj, "Gateway", GATEWAY_API) or (kind in GATEWAY_API_ROUTES and str(obj.get("apiVersion", "")).startswith(GATEWAY_API + "/"))):
        return
    namespace = _namespace(obj)
    tenant = platform.tenant_in(namespace)
    if tenant is None:
        return
    spec = obj.get("spec") or {}

    def elsewhere(ref: Mapping) -> bool:
        return ref.get("namespace") not in (None, "", namespace)

    if kind == "Gateway":
        for i, listener in enumerate(spec.get("listeners") or []):
            allowed = ((listener.get("allowedRoutes") or {}).get("namespaces") or {}).get("from", "Same")
            if allowed != "Same":
                yield f"{identity(obj)} listeners[{i}] takes routes from {allowed!r} namespaces; a tenant's Gateway takes its own namespace's (Same)"
            for ref in (listener.get("tls") or {}).get("certificateRefs") or []:
                if elsewhere(ref):
                    yield f"{identity(obj)} listeners[{i}] reads certificate {ref.get('namespace')}/{ref.get('name')}; a tenant's certificates are its own namespace's"
        labels = (spec.get("infrastructure") or {}).get("labels") or {}
        if not tenant.gateway_labels.items() <= labels.items():
            yield (
                f"{identity(obj)} labels its pods {format_labels(labels)}, not tenant {tenant.name!r}'s gateway labels "
                f"{format_labels(tenant.gateway_labels)} that its isolation selects (spec.infrastructure.labels)"
            )
        return
    for ref in spec.get("parentRefs") or []:
        if elsewhere(ref):
            yield f"{identity(obj)} attaches to {ref.get('namespace')}/{ref.get('name')}; a tenant's routes attach to its own Gateway"
    for rule in spec.get("rules") or []:
        for ref in rule.get("backendRefs") or []:
            if elsewhere(ref):
                yield f"{identity(obj)} sends to {ref.get('namespace')}/{ref.get('name')}; another tenant's service is reached through its exports"


def namespace_has_injection(obj: Mapping, platform: Platform) -> Iterator[str]:
    """Every tenant namespace enrols its pods in the mesh (without a sidecar, mTLS and policy do not apply)."""
    if not _is(obj, "Namespace", ""):
        return
    name = (obj.get("metadata") or {}).get("name")
    labels = _labels(obj)
    if platform.tenant_in(name) is None and TENANT_LABEL not in labels:
        return
    injection, revision = labels.get(INJECTION_LABEL), labels.get(REVISION_LABEL)
    # istio-injection wins over istio.io/rev when both are set.
    if injection == "enabled" or (injection is None and revision):
        return
    found = f"{INJECTION_LABEL}={injection}" if injection is not None else "neither label"
    yield f"tenant {identity(obj)} has {found}; label it {INJECTION_LABEL}=enabled or {REVISION_LABEL}=<revision>"


def _modes(spec: Mapping) -> Iterator[tuple[str, str]]:
    mode = (spec.get("mtls") or {}).get("mode")
    if mode:
        yield "mtls.mode", mode
    for port, settings in sorted((spec.get("portLevelMtls") or {}).items(), key=lambda kv: str(kv[0])):
        if (settings or {}).get("mode"):
            yield f"portLevelMtls[{port}].mode", settings["mode"]


def peer_authentication_not_weakened(obj: Mapping, platform: Platform) -> Iterator[str]:
    """No PeerAuthentication accepts plain text in a tenant namespace or mesh-wide."""
    if not _is(obj, "PeerAuthentication", "security.istio.io"):
        return
    namespace = _namespace(obj)
    if namespace != platform.control_plane_namespace and platform.tenant_in(namespace) is None:
        return
    for where, mode in _modes(obj.get("spec") or {}):
        if mode in WEAK_MTLS_MODES:
            yield f"{identity(obj)} sets {where} {mode}: it would accept plain-text traffic; the mesh requires STRICT mTLS"


def _principal_namespace(principal: str) -> Optional[str]:
    """`cluster.local/ns/<ns>/sa/<sa>` -> `<ns>`; None when the principal names no single namespace."""
    match = re.search(r"(?:^|/)ns/([^/*]+)/", principal)
    return match.group(1) if match else None


def _admitted(source: Mapping) -> Optional[set[str]]:
    """The namespaces a `from.source` admits; None when it admits any namespace."""
    if source.get("notNamespaces") or source.get("notPrincipals"):
        return None
    namespaces = source.get("namespaces") or []
    if namespaces:
        return None if any("*" in ns for ns in namespaces) else set(namespaces)
    principals = source.get("principals") or []
    if principals:
        found = {_principal_namespace(p) for p in principals}
        return None if None in found else set(found)
    return None


def _selected_service(selector: Mapping[str, str]) -> Optional[str]:
    return next((selector[key] for key in SERVICE_LABELS if key in selector), None)


def authorization_admits_only_granted(obj: Mapping, platform: Platform) -> Iterator[str]:
    """An ALLOW policy in a tenant namespace admits another tenant's namespace only to a service
    exported to it; admitting any namespace is for the tenant's own gateway (its public entry)."""
    if not _is(obj, "AuthorizationPolicy", "security.istio.io"):
        return
    tenant = platform.tenant_in(_namespace(obj))
    spec = obj.get("spec") or {}
    if tenant is None or spec.get("action", "ALLOW") != "ALLOW":
        return
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    gateway_only = bool(selector) and selector.items() <= tenant.gateway_labels.items()
    service = _selected_service(selector)
    for index, rule in enumerate(spec.get("rules") or []):
        sources = [(f or {}).get("source") or {} for f in (rule or {}).get("from") or []] or [{}]
        for source in sources:
            admitted = _admitted(source)
            if admitted is None:
                if not gateway_only:
                    yield (
                        f"{identity(obj)} rules[{index}] admits every namespace; outside the tenant's gateway, "
                        f"name the namespaces (its own: {tenant.namespace_name!r})"
                    )
                continue
            for namespace in sorted(admitted - {tenant.namespace_name}):
                granted = platform.granted(tenant, namespace)
                if service is None or service not in granted:
                    what = f"service {service!r}" if service else "every workload"
                    grant = f"exports only {', '.join(sorted(granted))} to it" if granted else "exports nothing to that namespace"
                    yield (
                        f"{identity(obj)} rules[{index}] admits namespace {namespace!r} to {what}, but the tenants "
                        f"file does not grant it: tenant {tenant.name!r} {grant} (exports[].to)"
                    )


def load_balancer_only_for_gateway(obj: Mapping, platform: Platform) -> Iterator[str]:
    """A tenant is reachable from outside only through its gateway."""
    if not _is(obj, "Service", "") or (obj.get("spec") or {}).get("type") != "LoadBalancer":
        return
    tenant = platform.tenant_in(_namespace(obj))
    name = (obj.get("metadata") or {}).get("name")
    if tenant is not None and name != tenant.gateway_name:
        yield (
            f"{identity(obj)} is a LoadBalancer; in tenant {tenant.name!r}'s namespace only its gateway "
            f"{tenant.gateway_name!r} is exposed: route through the gateway instead"
        )


def tenant_program_stays_namespaced(obj: Mapping, platform: Platform) -> Iterator[str]:
    """A tenant-scoped program creates nothing outside namespaces: cluster-wide objects are the platform's."""
    if platform.tenant is None:
        return
    if platform.tenant not in {t.name for t in platform.tenants.tenants}:
        yield f"the pack is configured for tenant {platform.tenant!r}, which the tenants file does not list"
    elif obj.get("kind") in CLUSTER_SCOPED_KINDS:
        yield f"{identity(obj)} is cluster-scoped; tenant {platform.tenant!r}'s program may only create objects in its namespace"


# --- Stack policies: the program as a whole ----------------------------------------------------


def _strict_namespace_wide(objects: Iterable[Mapping]) -> set[str]:
    """Namespaces with a namespace-wide (no selector) STRICT PeerAuthentication."""
    return {
        _namespace(o) for o in objects
        if _is(o, "PeerAuthentication", "security.istio.io")
        and not (o.get("spec") or {}).get("selector")
        and ((o.get("spec") or {}).get("mtls") or {}).get("mode") == "STRICT"
    }


def strict_mtls_present(objects: list[Mapping], platform: Platform) -> Iterator[str]:
    """A program that creates the control-plane namespace makes STRICT mTLS the mesh-wide default;
    one that creates a tenant namespace makes it that namespace's default too."""
    strict = _strict_namespace_wide(objects)
    for obj in objects:
        if not _is(obj, "Namespace", ""):
            continue
        name = (obj.get("metadata") or {}).get("name")
        if name == platform.control_plane_namespace and name not in strict:
            yield (
                f"no mesh-wide STRICT mTLS: add a PeerAuthentication without selector in {name!r} "
                f"(the root namespace) with mtls.mode STRICT"
            )
        elif platform.tenant_in(name) is not None and name not in strict:
            yield f"tenant namespace {name!r} has no namespace-wide PeerAuthentication with mtls.mode STRICT"


# --- The pack ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Invariant:
    name: str
    description: str
    check: Callable[..., Iterable[str]]
    kinds: frozenset[str]  # the kinds it looks at: the others never need the tenants file
    stack: bool = False  # checks the program's objects together, not one at a time


INVARIANTS = (
    Invariant(
        "tenant-gateway-selects-own-gateway", "A Gateway in a tenant namespace selects only that tenant's gateway.",
        gateway_selects_own_gateway, frozenset({"Gateway"}),
    ),
    Invariant(
        "tenant-gateway-api-stays-in-namespace",
        "A tenant's Gateway API Gateway and routes take and reach only its own namespace, and label its gateway as its isolation expects.",
        gateway_api_stays_in_namespace, frozenset({"Gateway", *GATEWAY_API_ROUTES}),
    ),
    Invariant(
        "tenant-namespace-injection", "Every tenant namespace has istio-injection=enabled or an istio.io/rev label.",
        namespace_has_injection, frozenset({"Namespace"}),
    ),
    Invariant(
        "mtls-not-weakened", "No PeerAuthentication allows plain text in the mesh root or a tenant namespace.",
        peer_authentication_not_weakened, frozenset({"PeerAuthentication"}),
    ),
    Invariant(
        "strict-mtls-present", "STRICT mTLS is the default mesh-wide and in every tenant namespace a program creates.",
        strict_mtls_present, frozenset({"Namespace", "PeerAuthentication"}), stack=True,
    ),
    Invariant(
        "authorization-only-granted-namespaces",
        "An AuthorizationPolicy admits another tenant's namespace only where the tenants file exports to it.",
        authorization_admits_only_granted, frozenset({"AuthorizationPolicy"}),
    ),
    Invariant(
        "load-balancer-only-for-gateway", "No LoadBalancer Service in a tenant namespace other than the tenant's gateway.",
        load_balancer_only_for_gateway, frozenset({"Service"}),
    ),
    Invariant(
        "tenant-program-namespaced-only", "A tenant-scoped program creates no cluster-scoped object.",
        tenant_program_stays_namespaced, CLUSTER_SCOPED_KINDS,
    ),
)


def kubernetes_object(resource_type: str, props: Mapping[str, Any]) -> Optional[dict]:
    """A pulumi-kubernetes resource's inputs as the object it applies; None for anything else.

    Types are `kubernetes:<group>/<version>:<Kind>` (`core/v1` for the core group); Helm
    charts, YAML groups and providers are no single object.
    """
    parts = resource_type.split(":")
    if len(parts) != 3 or parts[0] != "kubernetes" or "/" not in parts[1]:
        return None
    group, version = parts[1].split("/", 1)
    if group in ("helm.sh", "yaml", "kustomize"):
        return None
    obj = dict(props)
    obj.setdefault("apiVersion", version if group == "core" else f"{group}/{version}")
    obj.setdefault("kind", parts[2])
    return obj


@dataclass(frozen=True)
class Violation:
    policy: str
    urn: str
    message: str


def evaluate(resources: Iterable[tuple[str, str, Mapping[str, Any]]], platform: Platform) -> list[Violation]:
    """Every invariant over (urn, type, inputs) triples, as the pack runs them during a preview."""
    objects = []
    violations = []
    for urn, resource_type, props in resources:
        obj = kubernetes_object(resource_type, props)
        if obj is None:
            continue
        objects.append(obj)
        for invariant in INVARIANTS:
            if not invariant.stack and obj["kind"] in invariant.kinds:
                violations += [Violation(invariant.name, urn, m) for m in invariant.check(obj, platform)]
    for invariant in INVARIANTS:
        if invariant.stack:
            relevant = [o for o in objects if o["kind"] in invariant.kinds]
            violations += [Violation(invariant.name, "", m) for m in invariant.check(relevant, platform)]
    return violations
