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

from rules.labels import NAMESPACE_NAME_LABEL, TENANT_LABEL
from tenants import TenantsFile, load_tenants
from tenants.meshes import placement
from tenants.model import ServiceType, Tenant
from tenants.rules import CONTROL_PLANE_GATEWAY_LABELS, format_labels

KUBE_SYSTEM = "kube-system"
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
POD_SECURITY_ENFORCE = "pod-security.kubernetes.io/enforce"
EXPORTED_KINDS = ("VirtualService", "DestinationRule", "ServiceEntry")
PROXY_EXTENSION_KINDS = ("EnvoyFilter", "WasmPlugin")
CERTIFICATE_OTHER_NAMES = ("ipAddresses", "uris", "emailAddresses", "otherNames")
# Istio resolves a short host (no dot) in the VirtualService's namespace: `svc`, `svc.<ns>`,
# `svc.<ns>.svc`, `svc.<ns>.svc.cluster.local` name the namespace's own Services. The admission
# policy builds the same expression in CEL.
OWN_SERVICE_HOST = r"[*a-z0-9-]+([.]{ns}([.]svc([.]cluster[.]local)?)?)?"


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
    def control_plane_namespaces(self) -> frozenset[str]:
        """Each mesh's root namespace: the platform control plane's, or every mesh's."""
        if self.tenants.meshes is not None:
            return frozenset(m.namespace_name for m in self.tenants.meshes)
        return frozenset({self.tenants.control_plane.namespace})

    def tenant_in(self, namespace: Optional[str]) -> Optional[Tenant]:
        """The tenant whose namespace this is (None for any other namespace)."""
        return next((t for t in self.tenants.tenants if t.namespace_name == namespace), None)

    def other_gateway_labels(self, tenant: Tenant) -> Iterator[tuple[str, dict[str, str]]]:
        yield "the control-plane ingress gateway", CONTROL_PLANE_GATEWAY_LABELS
        for other in self.tenants.tenants:
            if other.name != tenant.name:
                yield f"tenant {other.name!r}'s gateway", other.gateway_labels

    def peer_namespaces(self, tenant: Tenant) -> list[str]:
        """The namespaces a tenant's own NetworkPolicies may name: its own, those of the tenants it
        imports from and exports to, and the platform's openings it uses (its mesh's control plane,
        DNS in kube-system)."""
        by_name = {t.name: t for t in self.tenants.tenants}
        others = {i.tenant for i in tenant.imports} | {to for e in tenant.exports for to in e.to}
        namespaces = {by_name[o].namespace_name for o in others if o in by_name}
        return sorted({tenant.namespace_name, *namespaces, self.control_plane_of(tenant), KUBE_SYSTEM})

    def control_plane_of(self, tenant: Tenant) -> str:
        place = placement(self.tenants, tenant)
        return place.namespace

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
    """A Gateway in a tenant namespace selects exactly that tenant's gateway labels."""
    if not _is(obj, "Gateway", "networking.istio.io"):
        return
    tenant = platform.tenant_in(_namespace(obj))
    if tenant is None:
        return
    selector = (obj.get("spec") or {}).get("selector") or {}
    own = tenant.gateway_labels
    if not selector:
        yield f"{identity(obj)} has no selector, so it would program every gateway; select {format_labels(own)}"
    elif selector != own:
        yield (
            f"{identity(obj)} selects {format_labels(selector)}; a tenant's Gateway selects exactly its own "
            f"gateway's labels, tenant {tenant.name!r}'s {format_labels(own)}"
        )


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
    if namespace not in platform.control_plane_namespaces and platform.tenant_in(namespace) is None:
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


def _tenant(obj: Mapping, platform: Platform) -> Optional[Tenant]:
    return platform.tenant_in(_namespace(obj))


def _spec(obj: Mapping) -> Mapping:
    return obj.get("spec") or {}


def _annotations(obj: Mapping) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def pod_security_floor(obj: Mapping, platform: Platform) -> Iterator[str]:
    """A tenant namespace enforces the Pod Security level the tenants file gives it, never below baseline."""
    if not _is(obj, "Namespace", ""):
        return
    tenant = platform.tenant_in((obj.get("metadata") or {}).get("name"))
    if tenant is None:
        return
    level = _labels(obj).get(POD_SECURITY_ENFORCE)
    if level != tenant.pod_security.value:
        yield (
            f"tenant {identity(obj)} has {POD_SECURITY_ENFORCE}={level}; the tenants file gives tenant {tenant.name!r} "
            f"{tenant.pod_security.value} (restricted or baseline, never lower)"
        )


def no_external_ips(obj: Mapping, platform: Platform) -> Iterator[str]:
    """A tenant's Service sets no externalIPs: they would intercept traffic to any address (CVE-2020-8554)."""
    if _is(obj, "Service", "") and _tenant(obj, platform) and _spec(obj).get("externalIPs"):
        yield f"{identity(obj)} sets spec.externalIPs, which would capture traffic to those addresses cluster-wide (CVE-2020-8554)"


def node_port_only_where_allowed(obj: Mapping, platform: Platform) -> Iterator[str]:
    """A NodePort Service only in a tenant the tenants file gives node ports (quota.nodePorts), or the
    gateway's own Service where the file makes it a NodePort."""
    tenant = _tenant(obj, platform) if _is(obj, "Service", "") else None
    if tenant is None or _spec(obj).get("type") != "NodePort" or tenant.quota.node_ports > 0:
        return
    gateway = tenant.gateway.service.type == ServiceType.NODE_PORT and (obj.get("metadata") or {}).get("name") == tenant.gateway_name
    if not gateway:
        yield f"{identity(obj)} is a NodePort Service; tenant {tenant.name!r} has quota.nodePorts 0 in the tenants file"


EXPORT_TO_ANNOTATION = "networking.istio.io/exportTo"


def service_export_targets(tenant: Tenant, platform: Platform, service: str) -> list[str]:
    """Namespaces a tenant's Service may be made visible to: its own, and those it exports the service to."""
    consumers = [c for e in tenant.exports if e.service == service for c in e.to]
    namespaces = [t.namespace_name for t in platform.tenants.tenants if t.name in consumers]
    return [".", "~", tenant.namespace_name, *sorted(namespaces)]


def service_exported_only_to_importers(obj: Mapping, platform: Platform) -> Iterator[str]:
    """A tenant's Service is visible (Istio's exportTo annotation) only to its namespace and the tenants it is exported to."""
    tenant = _tenant(obj, platform) if _is(obj, "Service", "") else None
    value = _annotations(obj).get(EXPORT_TO_ANNOTATION)
    if tenant is None or value is None:
        return
    allowed = service_export_targets(tenant, platform, (obj.get("metadata") or {}).get("name"))
    wrong = [part.strip() for part in value.split(",") if part.strip() not in allowed]
    if wrong or not value.strip():
        yield f"{identity(obj)} has {EXPORT_TO_ANNOTATION}: {value!r}; allowed: {', '.join(allowed)}"


def no_istio_ingress(obj: Mapping, platform: Platform) -> Iterator[str]:
    """No Ingress of class istio (or of no class) in a tenant namespace: it would program the platform's gateway."""
    if not _is(obj, "Ingress", "networking.k8s.io") or _tenant(obj, platform) is None:
        return
    cls = _spec(obj).get("ingressClassName")
    if not cls or cls == "istio" or _annotations(obj).get("kubernetes.io/ingress.class") == "istio":
        yield f"{identity(obj)} has ingress class {cls or '(none)'}; an Ingress names a class other than istio"


def _binds_mesh(spec: Mapping) -> bool:
    gateways = spec.get("gateways") or []
    return not gateways or "mesh" in gateways


def own_gateway_reference(gateway: str, namespace: str) -> bool:
    """`mesh`, `<name>`, `./<name>` or `<namespace>/<name>`. A dotted short form (`gw.other-ns`) is
    Istio's legacy spelling of `other-ns/gw`, so a short name with a dot names another namespace."""
    if gateway == "mesh" or gateway.startswith(("./", f"{namespace}/")):
        return True
    return "/" not in gateway and "." not in gateway


def bound_gateways(spec: Mapping) -> Iterator[str]:
    """Every gateway a VirtualService names: its `gateways` and those of its routes' matches."""
    yield from spec.get("gateways") or []
    for kind in ("http", "tcp", "tls"):
        for route in spec.get(kind) or []:
            for match in (route or {}).get("match") or []:
                yield from (match or {}).get("gateways") or []


def virtual_service_own_gateways(obj: Mapping, platform: Platform) -> Iterator[str]:
    """A tenant's VirtualService binds only gateways of its own namespace (or the mesh)."""
    tenant = _tenant(obj, platform) if _is(obj, "VirtualService", "networking.istio.io") else None
    if tenant is None:
        return
    ns = tenant.namespace_name
    for gateway in bound_gateways(_spec(obj)):
        if not own_gateway_reference(gateway, ns):
            yield f"{identity(obj)} binds gateway {gateway!r} of another namespace; bind '<name>', './<name>' or '{ns}/<name>'"


def no_external_name_services(obj: Mapping, platform: Platform) -> Iterator[str]:
    """No ExternalName Service in a tenant namespace: it aliases any DNS name, another tenant's Services included."""
    if _is(obj, "Service", "") and _tenant(obj, platform) and _spec(obj).get("type") == "ExternalName":
        yield f"{identity(obj)} is an ExternalName Service; declare external hosts with a ServiceEntry"


def jwks_from_allowed_hosts(obj: Mapping, platform: Platform) -> Iterator[str]:
    """A tenant's RequestAuthentication fetches keys only from the file's `cluster.jwksHosts`, over https:
    without `jwks` or `jwksUri`, the proxy would discover them from the issuer's URL."""
    tenant = _tenant(obj, platform) if _is(obj, "RequestAuthentication", "security.istio.io") else None
    if tenant is None:
        return
    hosts = platform.tenants.cluster.jwks_hosts
    for index, rule in enumerate(_spec(obj).get("jwtRules") or []):
        rule = rule or {}
        if rule.get("jwks"):
            continue
        uri = rule.get("jwksUri")
        if uri is None or re.fullmatch(jwks_uri_pattern(hosts), uri) is None:
            yield f"{identity(obj)} jwtRules[{index}] fetches keys from {uri or rule.get('issuer')!r}; allowed: https:// on {', '.join(hosts) or 'no host (give jwks inline)'}"


def jwks_uri_pattern(hosts: list[str]) -> str:
    """An RE2 pattern of the https URLs on the allowed hosts (any port and path)."""
    if not hosts:
        return "^$"
    return "^https://(" + "|".join(re.escape(h) for h in hosts) + ")(:[0-9]+)?(/.*)?$"


def priority_class_listed(obj: Mapping, platform: Platform) -> Iterator[str]:
    """A tenant's pod names only a PriorityClass the file lists (cluster.priorityClasses), or none."""
    tenant = _tenant(obj, platform) if _is(obj, "Pod", "") else None
    name = _spec(obj).get("priorityClassName")
    if tenant is not None and name and name not in platform.tenants.cluster.priority_classes:
        yield f"{identity(obj)} uses PriorityClass {name!r}; allowed: {', '.join(platform.tenants.cluster.priority_classes) or 'none'}"


def istio_config_stays_in_namespace(obj: Mapping, platform: Platform) -> Iterator[str]:
    """A tenant's VirtualService, DestinationRule and ServiceEntry are exported to its own namespace only."""
    if obj.get("kind") not in EXPORTED_KINDS or not str(obj.get("apiVersion", "")).startswith("networking.istio.io/"):
        return
    tenant = _tenant(obj, platform)
    if tenant is None:
        return
    wrong = [e for e in _spec(obj).get("exportTo") or [] if e not in (".", tenant.namespace_name)]
    if wrong:
        yield f"{identity(obj)} is exported to {', '.join(wrong)}; tenants export configuration only to '.' (their namespace)"


def own_service_host(host: str, namespace: str) -> bool:
    """A name of a Service of the namespace: short, `svc.<ns>`, `svc.<ns>.svc[.cluster.local]`, or `*` thereof."""
    return host != "*" and re.fullmatch(OWN_SERVICE_HOST.format(ns=re.escape(namespace)), host) is not None


def given_host(tenant: Tenant, host: str) -> bool:
    """A host the tenants file gives the tenant: one of its gateway's explicit hosts, or a name under one of its wildcards."""
    for claimed in tenant.served_dns_names:
        if claimed == "*":
            continue
        if claimed == host or (claimed.startswith("*.") and host.endswith(claimed[1:]) and len(host) > len(claimed) - 1):
            return True
    return False


def virtual_service_own_hosts(obj: Mapping, platform: Platform) -> Iterator[str]:
    """A tenant's VirtualService routes only hosts the tenants file gives it, or its own Services' names;
    any host only on a gateway serving '*' and never for the whole mesh (ISTIO-SECURITY-2026-002)."""
    tenant = _tenant(obj, platform) if _is(obj, "VirtualService", "networking.istio.io") else None
    if tenant is None:
        return
    spec = _spec(obj)
    any_host = "*" in tenant.served_dns_names and not _binds_mesh(spec)
    for host in spec.get("hosts") or []:
        if not (own_service_host(host, tenant.namespace_name) or given_host(tenant, host) or any_host):
            yield (
                f"{identity(obj)} routes host {host!r}, which the tenants file does not give tenant {tenant.name!r}; "
                f"allowed: its gateway's hosts or its own Services' names"
            )


def sidecar_registry_only(obj: Mapping, platform: Platform) -> Iterator[str]:
    """A tenant's Sidecar keeps the mesh's REGISTRY_ONLY outbound policy."""
    if not _is(obj, "Sidecar", "networking.istio.io") or _tenant(obj, platform) is None:
        return
    mode = (_spec(obj).get("outboundTrafficPolicy") or {}).get("mode")
    if mode not in (None, "REGISTRY_ONLY"):
        yield f"{identity(obj)} sets outboundTrafficPolicy {mode}; declare external hosts with a ServiceEntry instead"


def gateway_hosts_namespace_scoped(obj: Mapping, platform: Platform) -> Iterator[str]:
    """A tenant's Gateway serves its hosts to VirtualServices of its own namespace only ('./host')."""
    tenant = _tenant(obj, platform) if _is(obj, "Gateway", "networking.istio.io") else None
    if tenant is None:
        return
    for server in _spec(obj).get("servers") or []:
        for host in server.get("hosts") or []:
            if not host.startswith(("./", f"{tenant.namespace_name}/")):
                yield f"{identity(obj)} serves host {host!r} to every namespace's VirtualServices; write './{host.rpartition('/')[2]}'"


def no_proxy_extensions(obj: Mapping, platform: Platform) -> Iterator[str]:
    """No EnvoyFilter or WasmPlugin in a tenant namespace: they reprogram proxies below every policy."""
    if obj.get("kind") in PROXY_EXTENSION_KINDS and _tenant(obj, platform) is not None:
        yield f"{identity(obj)}: EnvoyFilter and WasmPlugin are the platform's; tenants configure proxies through Istio's APIs"


def certificate_own_hosts(obj: Mapping, platform: Platform) -> Iterator[str]:
    """A tenant's cert-manager Certificate names only hosts the tenants file gives the tenant."""
    tenant = _tenant(obj, platform) if _is(obj, "Certificate", "cert-manager.io") else None
    if tenant is None:
        return
    spec = _spec(obj)
    names = list(spec.get("dnsNames") or []) + ([spec["commonName"]] if spec.get("commonName") else [])
    for name in names:
        if not given_host(tenant, name):
            yield f"{identity(obj)} asks for {name!r}, which the tenants file does not give tenant {tenant.name!r}"
    for field in CERTIFICATE_OTHER_NAMES:
        if spec.get(field):
            yield f"{identity(obj)} asks for {field}; a tenant's certificates name DNS hosts only"


CERTIFICATE_SUBJECT_FIELDS = ("isCA", "literalSubject", "subject")


def certificate_leaf_only(obj: Mapping, platform: Platform) -> Iterator[str]:
    """A tenant's Certificate is a leaf for DNS names: no CA (a tenant intermediate from a shared CA
    would sign any host, and any workload identity where the mesh trusts that CA), no subject."""
    tenant = _tenant(obj, platform) if _is(obj, "Certificate", "cert-manager.io") else None
    if tenant is None:
        return
    spec = _spec(obj)
    for name in CERTIFICATE_SUBJECT_FIELDS:
        if name in spec and spec[name] not in (None, False):
            yield f"{identity(obj)} sets {name}; a tenant's certificates are leaves naming DNS hosts only"


ACME_ANNOTATION_PREFIXES = ("cert-manager.io/", "acme.cert-manager.io/")
TLS_ACME_ANNOTATION = "kubernetes.io/tls-acme"


def asks_cert_manager(obj: Mapping) -> bool:
    return any(k.startswith(ACME_ANNOTATION_PREFIXES) or k == TLS_ACME_ANNOTATION for k in _annotations(obj))


def ingress_hosts(obj: Mapping) -> list[str]:
    spec = _spec(obj)
    hosts = [h for tls in spec.get("tls") or [] for h in (tls or {}).get("hosts") or []]
    return hosts + [r["host"] for r in spec.get("rules") or [] if (r or {}).get("host")]


def cert_manager_annotations_own_hosts(obj: Mapping, platform: Platform) -> Iterator[str]:
    """An Ingress that asks cert-manager for a certificate (its annotations) names only the tenant's
    hosts: cert-manager's ingress-shim would create the Certificate for them."""
    tenant = _tenant(obj, platform) if _is(obj, "Ingress", "networking.k8s.io") else None
    if tenant is None or not asks_cert_manager(obj):
        return
    for host in ingress_hosts(obj):
        if not given_host(tenant, host):
            yield f"{identity(obj)} asks cert-manager for {host!r}, which the tenants file does not give tenant {tenant.name!r}"


def _tenant_program_creates(kind: str, group: str, why: str) -> Callable[[Mapping, Platform], Iterator[str]]:
    """A check for what only the platform creates in a tenant namespace: it fires in a tenant's program."""

    def check(obj: Mapping, platform: Platform) -> Iterator[str]:
        if platform.tenant is not None and _is(obj, kind, group) and _tenant(obj, platform) is not None:
            yield f"{identity(obj)}: {why}"

    return check


certificate_requests_platform_only = _tenant_program_creates(
    "CertificateRequest", "cert-manager.io", "certificate requests come from cert-manager's Certificates, which name the tenant's hosts"
)
acme_orders_platform_only = _tenant_program_creates(
    "Order", "acme.cert-manager.io", "ACME Orders and Challenges are cert-manager's; ask for a Certificate"
)
acme_challenges_platform_only = _tenant_program_creates(
    "Challenge", "acme.cert-manager.io", "ACME Orders and Challenges are cert-manager's; ask for a Certificate"
)
gateway_api_gateways_platform_only = _tenant_program_creates(
    "Gateway", "gateway.networking.k8s.io", "a Gateway API Gateway gets a load balancer of its own; the platform creates the tenant's"
)


def network_policy_egress_to_pods_only(obj: Mapping, platform: Platform) -> Iterator[str]:
    """A tenant's own NetworkPolicy opens egress only to pods (namespace and pod selectors), never to
    addresses: allowances outside the cluster's pods are the tenants file's `egress`."""
    if platform.tenant is None or not _is(obj, "NetworkPolicy", "networking.k8s.io") or _tenant(obj, platform) is None:
        return
    for index, rule in enumerate(_spec(obj).get("egress") or []):
        peers = (rule or {}).get("to") or []
        if not peers or any("ipBlock" in (peer or {}) for peer in peers):
            yield f"{identity(obj)} egress[{index}] opens addresses outside the pods; ask for them in the tenants file's egress"


def _pinned_namespaces(peer: Mapping) -> Optional[list[str]]:
    """The namespaces a NetworkPolicy peer's namespaceSelector pins by name; None when it pins none
    (it would select namespaces by labels anyone may set, or every namespace)."""
    selector = peer.get("namespaceSelector")
    if not isinstance(selector, Mapping):
        return None
    named = (selector.get("matchLabels") or {}).get(NAMESPACE_NAME_LABEL)
    if named is not None:
        return [named]
    for expression in selector.get("matchExpressions") or []:
        if expression.get("key") == NAMESPACE_NAME_LABEL and expression.get("operator") == "In" and expression.get("values"):
            return list(expression["values"])
    return None


def network_policy_peers_pinned(obj: Mapping, platform: Platform) -> Iterator[str]:
    """A tenant's own NetworkPolicy names other namespaces only by `kubernetes.io/metadata.name`, and
    only the tenant's own, those it imports from or exports to, and the platform's openings."""
    tenant = _tenant(obj, platform) if _is(obj, "NetworkPolicy", "networking.k8s.io") else None
    if platform.tenant is None or tenant is None:
        return
    allowed = platform.peer_namespaces(tenant)
    spec = _spec(obj)
    for direction, key in (("ingress", "from"), ("egress", "to")):
        for index, rule in enumerate(spec.get(direction) or []):
            for peer in (rule or {}).get(key) or []:
                if "namespaceSelector" not in (peer or {}):
                    continue
                pinned = _pinned_namespaces(peer)
                if pinned is None:
                    yield f"{identity(obj)} {direction}[{index}] selects namespaces without naming them ({NAMESPACE_NAME_LABEL}); allowed: {', '.join(allowed)}"
                else:
                    for namespace in sorted(set(pinned) - set(allowed)):
                        yield f"{identity(obj)} {direction}[{index}] names namespace {namespace!r}; allowed: {', '.join(allowed)}"


def platform_labels_platform_only(obj: Mapping, platform: Platform) -> Iterator[str]:
    """Objects carrying the platform's tenant label are the platform's: a tenant's program makes none."""
    if platform.tenant is not None and _tenant(obj, platform) is not None and TENANT_LABEL in _labels(obj):
        yield f"{identity(obj)} carries {TENANT_LABEL}, the label of the platform's own objects"


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
        if name in platform.control_plane_namespaces and name not in strict:
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
