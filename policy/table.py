"""The platform's isolation rules, one table.

Each rule says what it guarantees, where it is enforced and what it does not cover, and carries
the forms it is enforced in: the CrossGuard check (`invariants.py`, run on `pulumi preview`) and
the admission policy (a CEL expression the API server evaluates, `builders/admission.py` turns it
into a ValidatingAdmissionPolicy). The pack, the admission policies and the rules table of
docs/isolation.md all come from `RULES`, so they cannot drift; the same case list runs through
both forms (tests/test_admission.py).

`python -m policy.table` rewrites the table in docs/isolation.md (`--check`: exit 1 if it is out of date).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional

from builders.meta import MESH_LABEL, TENANT_LABEL
from policy import invariants as inv
from policy.invariants import CLUSTER_SCOPED_KINDS, Invariant, Platform, kubernetes_object

# Where a rule is enforced.
TENANTS_FILE = "tenants file"
PREVIEW = "preview"  # the CrossGuard pack
ADMISSION = "admission"  # a ValidatingAdmissionPolicy: the API server refuses the request
MESH = "mesh"  # istiod's settings and the mesh objects the program emits
POD_SECURITY = "Pod Security"  # Kubernetes' built-in Pod Security admission
NETWORK_POLICY = "NetworkPolicy"  # enforced by the cluster's CNI

# CEL building blocks. `request.namespace` is the tenant namespace the request is for; per-tenant
# data comes from the params ConfigMap, one key per tenant and field: `<namespace>.<field>`.
NS = "request.namespace"


def param(name: str) -> str:
    return f"params.data[{NS} + '.{name}']"


def has_param(name: str) -> str:
    return f"({NS} + '.{name}') in params.data"


# `object` is null on DELETE, `oldObject` on CREATE; the operation says which is there (comparing
# an object with null is an error in strict CEL evaluators).
_PRESENT = {"object": "request.operation != 'DELETE'", "oldObject": "request.operation != 'CREATE'"}


def _has_label(obj: str, key: str) -> str:
    return f"({_PRESENT[obj]} && has({obj}.metadata.labels) && '{key}' in {obj}.metadata.labels)"


def _has_annotation(key: str) -> str:
    return f"(has(object.metadata.annotations) && '{key}' in object.metadata.annotations)"


def _given_host(var: str) -> str:
    return f"({has_param('hosts')} && {var}.matches({param('hosts')}))"


def _own_service_host(var: str) -> str:
    pattern = inv.OWN_SERVICE_HOST.replace("{ns}", "' + request.namespace + '")
    return f"({var} != '*' && {var}.matches('^{pattern}$'))"


# Labels of a tenant namespace that only the platform changes: the tenant's, injection (and, with
# several meshes, the mesh its istiod discovers it by), Pod Security.
MANAGED_NAMESPACE_LABELS = (TENANT_LABEL, inv.INJECTION_LABEL, inv.REVISION_LABEL, MESH_LABEL)
POD_SECURITY_PREFIX = "pod-security.kubernetes.io/"


def _same_label(key: str) -> str:
    old, new = _has_label("oldObject", key), _has_label("object", key)
    return f"({old} == {new} && (!{old} || oldObject.metadata.labels['{key}'] == object.metadata.labels['{key}']))"


def _same_prefixed_labels(prefix: str) -> str:
    kept = (
        f"(!has(oldObject.metadata.labels) || oldObject.metadata.labels.all(k, !k.startsWith('{prefix}') || "
        f"(has(object.metadata.labels) && k in object.metadata.labels && object.metadata.labels[k] == oldObject.metadata.labels[k])))"
    )
    none_added = (
        f"(!has(object.metadata.labels) || object.metadata.labels.all(k, !k.startsWith('{prefix}') || "
        f"(has(oldObject.metadata.labels) && k in oldObject.metadata.labels)))"
    )
    return f"{kept} && {none_added}"


@dataclass(frozen=True)
class Admission:
    """A rule as a ValidatingAdmissionPolicy: which requests it looks at and the CEL that must hold."""

    resources: tuple[tuple[str, str], ...]  # (API group, resource) pairs; "*" for any
    expression: str  # CEL: true when the request is allowed
    operations: tuple[str, ...] = ("CREATE", "UPDATE")
    uses_params: bool = False  # reads the per-tenant params ConfigMap
    condition: Optional[str] = None  # CEL: the rule looks only at requests where this holds
    # Bound to tenant namespaces by their label; a rule on Namespace objects themselves looks at
    # every namespace (a tenant removing its label must still meet it) and narrows with `condition`.
    tenant_namespaces: bool = True


@dataclass(frozen=True)
class Rule:
    name: str
    guarantee: str  # what holds (the wording of docs/isolation.md)
    enforced: tuple[str, ...]  # where: TENANTS_FILE, PREVIEW, ADMISSION, MESH, POD_SECURITY, NETWORK_POLICY
    how: str  # the objects and settings that enforce it
    not_covered: str = ""
    check: Optional[Callable[..., Iterable[str]]] = None  # the CrossGuard form
    kinds: frozenset[str] = field(default_factory=frozenset)
    stack: bool = False
    admission: Optional[Admission] = None
    allowed: str = ""  # what is allowed instead: the admission message after the rule's name

    @property
    def message(self) -> str:
        return f"{self.name}: {self.allowed}"


RULES: tuple[Rule, ...] = (
    # --- Pods and namespaces ---------------------------------------------------------------
    Rule(
        "pod-security-floor",
        "No tenant pod is privileged or reaches the node (host network, ports, paths, NET_ADMIN).",
        (TENANTS_FILE, PREVIEW, POD_SECURITY),
        "`pod-security.kubernetes.io/enforce` on the tenant's `Namespace`: `podSecurity` from the tenants file, `restricted` by "
        "default, `baseline` at least (anything lower is a validation error); `restricted` is warned about and audited "
        "everywhere. Istio CNI (operator: `components.cni`; Helm: the `cni` chart; Sail: an `IstioCNI`) sets up the "
        "sidecar's redirection, so pods need no `istio-init` with `NET_ADMIN`; the tenant's gateway pods get the seccomp "
        "profile `restricted` asks for (operator: `k8s.securityContext`; gateway chart: `securityContext`; Gateway API "
        "gateways: istiod's `gatewayClasses` defaults).",
        "Pods under `restricted` must set `seccompProfile` (at pod level: the injected sidecar has none of its own) and run "
        "as non-root themselves. Istio CNI itself runs privileged in the control-plane (Sail: `istio-cni`) namespace.",
        check=inv.pod_security_floor, kinds=frozenset({"Namespace"}),
    ),
    Rule(
        "tenant-namespace-labels",
        "A tenant cannot change its namespace's tenant, mesh, injection or Pod Security labels, nor label another namespace as a tenant's.",
        (ADMISSION,),
        "Admission policy on `Namespace` updates: those labels stay as they are unless a platform identity changes them.",
        "The built-in `admin` role cannot edit namespaces anyway; this holds if a cluster grants more.",
        admission=Admission(
            (("", "namespaces"),),
            f"request.operation == 'UPDATE' && {' && '.join(_same_label(k) for k in MANAGED_NAMESPACE_LABELS)} && "
            f"{_same_prefixed_labels(POD_SECURITY_PREFIX)}",
            condition=f"{_has_label('object', TENANT_LABEL)} || {_has_label('oldObject', TENANT_LABEL)}",
            tenant_namespaces=False,
        ),
        allowed=f"the tenant, mesh, injection and {POD_SECURITY_PREFIX}* labels of a tenant namespace are changed by the platform only",
    ),
    Rule(
        "tenant-namespace-injection",
        "Every tenant pod gets a sidecar (else mTLS and authorization do not apply to it).",
        (PREVIEW, ADMISSION),
        "`istio-injection=enabled` on the tenant's `Namespace`, or with several meshes `istio.io/rev=<tag or revision>` and "
        "the mesh label its istiod discovers it by (checked on preview; admission keeps the labels).",
        "A pod can still opt out with `sidecar.istio.io/inject: \"false\"`; only the `NetworkPolicy` then applies to it.",
        check=inv.namespace_has_injection, kinds=frozenset({"Namespace"}),
    ),
    Rule(
        "platform-objects-platform-only",
        "What protects a tenant namespace cannot be removed or changed by the tenant.",
        (ADMISSION, PREVIEW),
        f"Admission policy: objects in tenant namespaces labelled `{TENANT_LABEL}` (every object the program creates there) "
        "are created, changed and deleted by platform identities only. A tenant's own program may not create such objects.",
        "Tenants can still add their own `NetworkPolicy` or `AuthorizationPolicy` objects, which only open their own namespace.",
        check=inv.platform_labels_platform_only, kinds=frozenset({"*"}),
        admission=Admission(
            (("*", "*"),),
            "false",
            operations=("CREATE", "UPDATE", "DELETE"),
            condition=f"{_has_label('object', TENANT_LABEL)} || {_has_label('oldObject', TENANT_LABEL)}",
        ),
        allowed=f"objects labelled {TENANT_LABEL} in a tenant namespace are the platform's; create your own without that label",
    ),
    Rule(
        "protections-retained",
        "Removing a tenant leaves its namespace protected until it is decommissioned.",
        (MESH,),
        "`retainOnDelete` on the namespace and on everything that protects it (`PeerAuthentication`, `AuthorizationPolicy`s, "
        "`Sidecar`, both `NetworkPolicy`s, `ResourceQuota`, `LimitRange`) until `decommission: true`; admins' `RoleBinding`, "
        "routes, gateway and certificates leave with the tenant.",
        "The admission parameters of a removed tenant are gone: its retained namespace refuses every Service, route and "
        "Istio object a tenant would create (frozen) until the tenant returns or the namespace is deleted.",
    ),
    # --- Services and entry points ------------------------------------------------------------
    Rule(
        "no-external-ips",
        "A tenant's Service never intercepts traffic to other addresses (CVE-2020-8554).",
        (PREVIEW, ADMISSION),
        "Admission policy on `Service`: no `spec.externalIPs`.",
        check=inv.no_external_ips, kinds=frozenset({"Service"}),
        admission=Admission((("", "services"),), "!has(object.spec.externalIPs) || size(object.spec.externalIPs) == 0"),
        allowed="Services in tenant namespaces set no spec.externalIPs; publish through the tenant's gateway",
    ),
    Rule(
        "load-balancer-only-for-gateway",
        "A tenant is reachable from outside only through its gateway.",
        (PREVIEW, ADMISSION, TENANTS_FILE),
        "Admission policy on `Service`: type `LoadBalancer` only for the gateway's Service; `ResourceQuota` "
        "`services.loadbalancers`: 1 for a LoadBalancer gateway, else 0.",
        check=inv.load_balancer_only_for_gateway, kinds=frozenset({"Service"}),
        admission=Admission(
            (("", "services"),),
            f"!has(object.spec.type) || object.spec.type != 'LoadBalancer' || ({has_param('gateway')} && object.metadata.name == {param('gateway')})",
            uses_params=True,
        ),
        allowed="type LoadBalancer is for the tenant's gateway Service only; route through the gateway",
    ),
    Rule(
        "node-port-only-where-allowed",
        "Node ports are opened only where the tenants file allows.",
        (PREVIEW, ADMISSION, TENANTS_FILE),
        "Admission policy on `Service`: type `NodePort` only for tenants with `quota.nodePorts` above 0, and for the "
        "gateway's own Service where the tenants file makes it a NodePort; `ResourceQuota` `services.nodeports`: the "
        "gateway's ports (unless it is a ClusterIP) plus `quota.nodePorts`.",
        "The gateway's LoadBalancer Service takes node ports too (one per port).",
        check=inv.node_port_only_where_allowed, kinds=frozenset({"Service"}),
        admission=Admission(
            (("", "services"),),
            f"!has(object.spec.type) || object.spec.type != 'NodePort' || ({has_param('nodePorts')} && {param('nodePorts')} == 'true') || "
            f"({has_param('gatewayNodePort')} && {param('gatewayNodePort')} == 'true' && object.metadata.name == {param('gateway')})",
            uses_params=True,
        ),
        allowed="type NodePort only where the tenants file gives the tenant quota.nodePorts, or for a NodePort gateway's own Service",
    ),
    Rule(
        "no-istio-ingress",
        "Kubernetes `Ingress` objects never program the platform's gateway.",
        (MESH, PREVIEW, ADMISSION),
        "`meshConfig.ingressControllerMode: OFF` (istiod ignores Ingresses), and an admission policy: an `Ingress` names "
        "an `ingressClassName` other than `istio`.",
        check=inv.no_istio_ingress, kinds=frozenset({"Ingress"}),
        admission=Admission(
            (("networking.k8s.io", "ingresses"),),
            "has(object.spec.ingressClassName) && object.spec.ingressClassName != 'istio' && "
            f"!({_has_annotation('kubernetes.io/ingress.class')} && object.metadata.annotations['kubernetes.io/ingress.class'] == 'istio')",
        ),
        allowed="an Ingress names an ingressClassName other than istio; routes go in the tenants file",
    ),
    Rule(
        "gateway-api-gateways-platform-only",
        "A tenant cannot create a Gateway API `Gateway` (istiod would give it a load balancer of its own).",
        (ADMISSION, PREVIEW),
        "Admission policy on `gateway.networking.k8s.io` `Gateway`s: platform identities only (istiod is one).",
        check=inv.gateway_api_gateways_platform_only, kinds=frozenset({"Gateway"}),
        admission=Admission((("gateway.networking.k8s.io", "gateways"),), "false"),
        allowed="Gateway API Gateways in tenant namespaces are created by the platform",
    ),
    Rule(
        "tenant-gateway-api-stays-in-namespace",
        "A tenant's Gateway API `Gateway` and routes take and reach only its own namespace, and label its gateway pods as "
        "its isolation expects.",
        (PREVIEW, MESH),
        "The program's `Gateway` takes routes from its own namespace only (`allowedRoutes.namespaces.from: Same`), reads "
        "certificates of that namespace and labels its pods with the tenant's gateway labels (`spec.infrastructure.labels`); "
        "routes attach to it and send to Services of the namespace. In the cluster the Gateway API itself holds this: "
        "a route of another namespace is not accepted by a `Same` listener, a reference to another namespace needs a "
        "`ReferenceGrant` there.",
        "A tenant may grant other namespaces access to its own Services with a `ReferenceGrant` (it opens only itself).",
        check=inv.gateway_api_stays_in_namespace, kinds=frozenset({"Gateway", *inv.GATEWAY_API_ROUTES}),
    ),
    # --- Routing -----------------------------------------------------------------------------
    Rule(
        "tenant-gateway-selects-own-gateway",
        "A `Gateway` only ever programs gateway pods of its own namespace, and only exactly its tenant's gateway.",
        (MESH, TENANTS_FILE, PREVIEW, ADMISSION),
        "istiod's `PILOT_SCOPE_GATEWAY_TO_NAMESPACE=true`; validation: gateway labels unique and not matched by another "
        "tenant's or the platform's selector; admission policy on Istio `Gateway`s: the selector is exactly the tenant's "
        "gateway labels.",
        check=inv.gateway_selects_own_gateway, kinds=frozenset({"Gateway"}),
        admission=Admission(
            (("networking.istio.io", "gateways"),),
            f"has(object.spec.selector) && {has_param('gatewayLabels')} && "
            f"size(object.spec.selector) == int({param('gatewayLabelCount')}) && "
            f"object.spec.selector.all(k, {param('gatewayLabels')}.contains('\\n' + k + '=' + object.spec.selector[k] + '\\n'))",
            uses_params=True,
        ),
        allowed="a Gateway's selector is exactly the tenant's gateway labels",
    ),
    Rule(
        "gateway-hosts-namespace-scoped",
        "Only the tenant's own VirtualServices bind to its gateway's hosts (no other namespace serves paths under its certificate).",
        (MESH, PREVIEW, ADMISSION),
        "Gateway server hosts are emitted as `./<host>`; admission policy on Istio `Gateway`s: every host is `./<host>` "
        "or `<own namespace>/<host>`.",
        check=inv.gateway_hosts_namespace_scoped, kinds=frozenset({"Gateway"}),
        admission=Admission(
            (("networking.istio.io", "gateways"),),
            f"!has(object.spec.servers) || object.spec.servers.all(s, !has(s.hosts) || s.hosts.all(h, h.startsWith('./') || h.startsWith({NS} + '/')))",
        ),
        allowed="a Gateway's hosts are './<host>' or '<own namespace>/<host>'",
    ),
    Rule(
        "virtual-service-own-gateways",
        "A tenant's VirtualService binds only its own namespace's gateways (or its own sidecars).",
        (PREVIEW, ADMISSION),
        "Admission policy on `VirtualService`: each of `gateways` is `mesh`, `<name>` or `<own namespace>/<name>`.",
        check=inv.virtual_service_own_gateways, kinds=frozenset({"VirtualService"}),
        admission=Admission(
            (("networking.istio.io", "virtualservices"),),
            f"!has(object.spec.gateways) || object.spec.gateways.all(g, g == 'mesh' || !g.contains('/') || g.startsWith({NS} + '/'))",
        ),
        allowed="gateways are 'mesh', '<name>' or '<own namespace>/<name>'",
    ),
    Rule(
        "virtual-service-own-hosts",
        "A tenant routes only hosts it owns: no `gateways: [mesh]` takeover of another host (ISTIO-SECURITY-2026-002).",
        (PREVIEW, ADMISSION),
        "Admission policy on `VirtualService`: every host is one the tenants file gives the tenant (its gateway's hosts), "
        "or a name of its own namespace's Services; any host only on a gateway serving `*`, never for the mesh.",
        "A tenant whose gateway serves `*` may route any host through that gateway (only traffic that reaches its gateway).",
        check=inv.virtual_service_own_hosts, kinds=frozenset({"VirtualService"}),
        admission=Admission(
            (("networking.istio.io", "virtualservices"),),
            f"has(object.spec.hosts) && object.spec.hosts.all(h, {_own_service_host('h')} || {_given_host('h')} || "
            f"({has_param('anyHost')} && {param('anyHost')} == 'true' && has(object.spec.gateways) && "
            f"size(object.spec.gateways) > 0 && !('mesh' in object.spec.gateways)))",
            uses_params=True,
        ),
        allowed="hosts are the tenant's own (its gateway's hosts in the tenants file) or its own Services' names",
    ),
    Rule(
        "istio-config-stays-in-namespace",
        "A tenant's routing configuration reaches only its own proxies.",
        (MESH, PREVIEW, ADMISSION),
        "`meshConfig.defaultVirtualServiceExportTo`, `defaultDestinationRuleExportTo`, `defaultServiceExportTo`: `[\".\"]`; "
        "the program's `VirtualService`s carry `exportTo: [\".\"]`; admission policy on `VirtualService`, `DestinationRule`, "
        "`ServiceEntry`: `exportTo` only `.` or the own namespace.",
        check=inv.istio_config_stays_in_namespace, kinds=frozenset(inv.EXPORTED_KINDS),
        admission=Admission(
            (("networking.istio.io", "virtualservices"), ("networking.istio.io", "destinationrules"), ("networking.istio.io", "serviceentries")),
            f"!has(object.spec.exportTo) || object.spec.exportTo.all(e, e == '.' || e == {NS})",
        ),
        allowed="exportTo is '.' (the tenant's namespace) only",
    ),
    Rule(
        "service-export-only-to-importers",
        "A tenant's Service is visible to the mesh of its own namespace and of the tenants it exports it to, no further.",
        (MESH, PREVIEW, ADMISSION),
        "`meshConfig.defaultServiceExportTo: [\".\"]`; admission policy on `Service`: the `networking.istio.io/exportTo` "
        "annotation names only `.`, `~`, the own namespace and the namespaces of the tenants the service is exported to. "
        "An exporter annotates its Service with the importers' namespaces.",
        check=inv.service_exported_only_to_importers, kinds=frozenset({"Service"}),
        admission=Admission(
            (("", "services"),),
            f"!{_has_annotation(inv.EXPORT_TO_ANNOTATION)} || object.metadata.annotations['{inv.EXPORT_TO_ANNOTATION}'].matches("
            f"(({NS} + '.export.' + object.metadata.name) in params.data) ? params.data[{NS} + '.export.' + object.metadata.name] : "
            f"'^ *([.]|~|' + {NS} + ')( *, *([.]|~|' + {NS} + '))* *$')",
            uses_params=True,
        ),
        allowed="the networking.istio.io/exportTo annotation names '.', '~', the own namespace and the tenants the service is exported to",
    ),
    # --- Traffic -----------------------------------------------------------------------------
    Rule(
        "mtls-not-weakened",
        "Sidecars accept only mutual TLS.",
        (MESH, PREVIEW, ADMISSION),
        "`PeerAuthentication/default` `STRICT` mesh-wide and in each tenant namespace; admission policy on "
        "`PeerAuthentication`: modes `STRICT` or `UNSET` only, per port too.",
        "Workloads without a sidecar, and ports excluded from interception, are outside mTLS.",
        check=inv.peer_authentication_not_weakened, kinds=frozenset({"PeerAuthentication"}),
        admission=Admission(
            (("security.istio.io", "peerauthentications"),),
            "(!has(object.spec.mtls) || !has(object.spec.mtls.mode) || object.spec.mtls.mode in ['STRICT', 'UNSET']) && "
            "(!has(object.spec.portLevelMtls) || object.spec.portLevelMtls.all(p, !has(object.spec.portLevelMtls[p].mode) || "
            "object.spec.portLevelMtls[p].mode in ['STRICT', 'UNSET']))",
        ),
        allowed="PeerAuthentication modes are STRICT or UNSET, per port too",
    ),
    Rule(
        "strict-mtls-present",
        "STRICT mTLS is the default mesh-wide and in every tenant namespace.",
        (PREVIEW, MESH),
        "A program creating the control-plane or a tenant namespace also creates its namespace-wide STRICT `PeerAuthentication`.",
        check=inv.strict_mtls_present, kinds=frozenset({"Namespace", "PeerAuthentication"}), stack=True,
    ),
    Rule(
        "authorization-only-granted-namespaces",
        "Only the namespace's own workloads may call its workloads; an importing tenant reaches the exported service and nothing else.",
        (MESH, PREVIEW),
        "`AuthorizationPolicy/allow-same-namespace`, `allow-gateway-ingress` (the gateway's public traffic), "
        "`allow-export-<service>` (the importers, to pods whose `service.istio.io/canonical-name` is the service); "
        "the pack refuses a policy admitting a namespace the tenants file does not grant.",
        "In the cluster a tenant may add ALLOW policies admitting others to its own workloads (it opens only itself); "
        "the built-in `admin` role holds no Istio API.",
        check=inv.authorization_admits_only_granted, kinds=frozenset({"AuthorizationPolicy"}),
    ),
    Rule(
        "no-proxy-extensions",
        "No tenant reprograms proxies below the policies.",
        (PREVIEW, ADMISSION),
        "Admission policy: no `EnvoyFilter` or `WasmPlugin` in tenant namespaces.",
        check=inv.no_proxy_extensions, kinds=frozenset(inv.PROXY_EXTENSION_KINDS),
        admission=Admission((("networking.istio.io", "envoyfilters"), ("extensions.istio.io", "wasmplugins")), "false"),
        allowed="EnvoyFilter and WasmPlugin are the platform's",
    ),
    Rule(
        "sidecar-registry-only",
        "Sidecars pass traffic only to hosts in the registry.",
        (MESH, PREVIEW, ADMISSION),
        "`meshConfig.outboundTrafficPolicy.mode: REGISTRY_ONLY`; `Sidecar/default` (own namespace, control plane, imports); "
        "admission policy on `Sidecar`: no other outbound policy.",
        "A tenant may declare external hosts with its own `ServiceEntry` (exported to itself only): the `NetworkPolicy` "
        "below decides what is reachable. A mesh whose own `meshConfig.outboundTrafficPolicy` in the tenants file says "
        "`ALLOW_ANY` has that default instead (the file says so explicitly); the tenants' `NetworkPolicy` still holds.",
        check=inv.sidecar_registry_only, kinds=frozenset({"Sidecar"}),
        admission=Admission(
            (("networking.istio.io", "sidecars"),),
            "!has(object.spec.outboundTrafficPolicy) || !has(object.spec.outboundTrafficPolicy.mode) || "
            "object.spec.outboundTrafficPolicy.mode == 'REGISTRY_ONLY'",
        ),
        allowed="a Sidecar keeps outboundTrafficPolicy REGISTRY_ONLY; declare external hosts with a ServiceEntry",
    ),
    Rule(
        "network-ingress",
        "Below the mesh, pods admit only their namespace, the control plane (metrics) and importing tenants; the gateway admits everyone.",
        (NETWORK_POLICY,),
        "`NetworkPolicy/allow-tenant-ingress` (every pod but the gateway's, which one gateway label stands for).",
        "Needs a CNI that enforces NetworkPolicy. A tenant pod carrying that gateway label is open below the mesh too.",
    ),
    Rule(
        "network-egress",
        "A tenant's pods, its gateway's included, connect only to DNS, istiod, their namespace, the tenants they import from, "
        "the tenants file's `egress` and (with `observability.install`) Jaeger's trace receiver; never to the cloud metadata address.",
        (NETWORK_POLICY, TENANTS_FILE, ADMISSION, PREVIEW),
        "`NetworkPolicy/restrict-tenant-egress`; an `egress` range aimed at 169.254.169.254 (or AWS's fd00:ec2::254) is a "
        "validation error, a wider one gets it cut out (`ipBlock.except`); admission policy on tenants' own "
        "`NetworkPolicy`s: egress only to pods, never to address blocks (NetworkPolicies add up).",
        "Needs a CNI that enforces NetworkPolicy. Pods calling the Kubernetes API or node-local DNS need an `egress` allowance.",
        check=inv.network_policy_egress_to_pods_only, kinds=frozenset({"NetworkPolicy"}),
        admission=Admission(
            (("networking.k8s.io", "networkpolicies"),),
            "!has(object.spec.egress) || object.spec.egress.all(r, has(r.to) && size(r.to) > 0 && r.to.all(p, !has(p.ipBlock)))",
        ),
        allowed="a tenant's NetworkPolicy opens egress to pods only; addresses outside the cluster go in the tenants file's egress",
    ),
    Rule(
        "istiod-protected",
        "istiod serves configuration only over authenticated XDS; its debug endpoints answer no one.",
        (MESH, NETWORK_POLICY),
        "`NetworkPolicy/istiod-ingress` in every control-plane namespace (each mesh's), on every install method: 15012 "
        "(XDS, CA) and 15017 (webhooks) from anywhere, 15014 (metrics) from `observability.scraperNamespace` only, 15010 "
        "closed; istiod's `ENABLE_DEBUG_ON_HTTP=false`.",
        "Kiali's views that read istiod's debug endpoints stay empty.",
    ),
    # --- Resources and access ---------------------------------------------------------------
    Rule(
        "quota",
        "A tenant cannot starve the others.",
        (TENANTS_FILE,),
        "`ResourceQuota/tenant-quota`: requests of CPU, memory and disk, limits of memory, pods, ConfigMaps, Secrets, "
        "Services, PVCs, load balancers, node ports; `LimitRange/tenant-limits`: default requests and limits, a maximum "
        "memory per container; all overridable per tenant (`quota:`).",
        "CPU has no default limit (it only throttles).",
    ),
    Rule(
        "admins-in-namespace",
        "Tenant admins administer their namespace and nothing else.",
        (TENANTS_FILE,),
        "`RoleBinding/tenant-admins` of the built-in `admin` ClusterRole, in the tenant's namespace only.",
        "The `admin` role may add Roles, RoleBindings and NetworkPolicies in the namespace (within the rules above).",
    ),
    Rule(
        "hosts-belong-to-one-tenant",
        "A host, and every name it covers, belongs to one tenant.",
        (TENANTS_FILE,),
        "Validation: two tenants' hosts never overlap (`*.example.com` against `shop.example.com`), nor cover an observability host.",
        "`*` (any host) is not a claim: a `*` gateway gets no certificate.",
    ),
    Rule(
        "certificate-own-hosts",
        "A tenant obtains certificates only for its own hosts, even from a shared `ClusterIssuer`.",
        (ADMISSION, PREVIEW),
        "Admission policy on cert-manager `Certificate`s: `dnsNames` and `commonName` among the tenant's hosts, no IP, URI "
        "or e-mail names; `CertificateRequest`s come from cert-manager only (its service account is a platform identity).",
        "Other issuers' APIs (an ACME `Order`, a CSR against Kubernetes' own signer) are not covered; cert-manager's "
        "approver-policy is the alternative that limits the issuer itself.",
        check=inv.certificate_own_hosts, kinds=frozenset({"Certificate"}),
        admission=Admission(
            (("cert-manager.io", "certificates"),),
            f"(!has(object.spec.dnsNames) || object.spec.dnsNames.all(d, {_given_host('d')})) && "
            f"(!has(object.spec.commonName) || {_given_host('object.spec.commonName')}) && "
            + " && ".join(f"!has(object.spec.{f})" for f in inv.CERTIFICATE_OTHER_NAMES),
            uses_params=True,
        ),
        allowed="a Certificate names only the tenant's hosts (from the tenants file), as DNS names",
    ),
    Rule(
        "certificate-requests-platform-only",
        "A tenant cannot ask an issuer to sign an arbitrary CSR.",
        (ADMISSION, PREVIEW),
        "Admission policy on `CertificateRequest`s in tenant namespaces: created by cert-manager (a platform identity) only.",
        check=inv.certificate_requests_platform_only, kinds=frozenset({"CertificateRequest"}),
        admission=Admission((("cert-manager.io", "certificaterequests"),), "false", operations=("CREATE",)),
        allowed="CertificateRequests come from cert-manager's Certificates; create a Certificate",
    ),
    Rule(
        "observability-https-only",
        "The observability add-ons are published only when turned on and behind a login, then over HTTPS.",
        (TENANTS_FILE, MESH),
        "All add-ons off by default; a route needs `observability.oidc` (else `exposure: port-forward`, no route): the platform "
        "gateway serves it on 443 with `observability.credentialName` and asks oauth2-proxy first (`AuthorizationPolicy` "
        "`observability-login`, `action: CUSTOM`).",
        "Anyone the OIDC provider logs in passes the gateway: Kiali then shows what their own RBAC lets them read, but routed "
        "Prometheus and Jaeger show every tenant's metrics and traces. Grafana trusts the login headers of whoever reaches "
        "its pod (NetworkPolicy `grafana-ingress`: the platform gateway and Kiali only).",
    ),
    Rule(
        "tenant-program-namespaced-only",
        "A tenant's own program creates no cluster-scoped object.",
        (PREVIEW,),
        "The pack, configured with `tenant`, refuses every cluster-scoped kind.",
        "In the cluster, RBAC does this: a tenant's RoleBinding grants nothing cluster-scoped.",
        check=inv.tenant_program_stays_namespaced, kinds=CLUSTER_SCOPED_KINDS,
    ),
)

ADMISSION_RULES = tuple(rule for rule in RULES if rule.admission is not None)

# The CrossGuard pack: every rule with a check.
INVARIANTS = tuple(
    Invariant(rule.name, rule.guarantee, rule.check, rule.kinds, rule.stack) for rule in RULES if rule.check is not None
)


def looks_at(invariant: Invariant, kind: Optional[str]) -> bool:
    return "*" in invariant.kinds or kind in invariant.kinds


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
            if not invariant.stack and looks_at(invariant, obj["kind"]):
                violations += [Violation(invariant.name, urn, m) for m in invariant.check(obj, platform)]
    for invariant in INVARIANTS:
        if invariant.stack:
            relevant = [o for o in objects if looks_at(invariant, o["kind"])]
            violations += [Violation(invariant.name, "", m) for m in invariant.check(relevant, platform)]
    return violations


# --- The table in docs/isolation.md -------------------------------------------------------------

TABLE_PAGE = Path(__file__).resolve().parent.parent / "docs" / "isolation.md"
TABLE_BEGIN = "<!-- rules: generated by `python -m policy.table` from policy/table.py; do not edit -->"
TABLE_END = "<!-- rules: end -->"


def rules_table() -> str:
    rows = ["| Rule | Guarantee | Enforced | How | Not covered |", "|---|---|---|---|---|"]
    for rule in RULES:
        cells = [f"`{rule.name}`", rule.guarantee, ", ".join(rule.enforced), rule.how, rule.not_covered or "—"]
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join([TABLE_BEGIN, *rows, TABLE_END])


def page_with_table(text: str) -> str:
    start, end = text.index(TABLE_BEGIN), text.index(TABLE_END) + len(TABLE_END)
    return text[:start] + rules_table() + text[end:]


if __name__ == "__main__":
    updated = page_with_table(TABLE_PAGE.read_text(encoding="utf-8"))
    if "--check" in sys.argv[1:]:
        sys.exit(0 if updated == TABLE_PAGE.read_text(encoding="utf-8") else 1)
    TABLE_PAGE.write_text(updated, encoding="utf-8")
