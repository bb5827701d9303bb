"""The platform's isolation rules, one table.

Each rule says what it guarantees, where it is enforced and what it does not cover, and carries
the forms it is enforced in: the CrossGuard check (`invariants.py`, run on `pulumi preview`) and
the admission policy (a CEL expression the API server evaluates, `builders/admission.py` turns it
into a ValidatingAdmissionPolicy). The pack, the admission policies and the rules table of
docs/isolation.md all come from `RULES`, so they cannot drift; the same case list runs through
both forms (tests/test_admission.py).

`python -m rules.table` rewrites the table in docs/isolation.md (`--check`: exit 1 if it is out of date).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional

from rules.labels import MESH_LABEL, NAMESPACE_NAME_LABEL, TENANT_LABEL
from rules import invariants as inv
from rules.invariants import CLUSTER_SCOPED_KINDS, Invariant, Platform, kubernetes_object

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


def _pinned_peer(peer: str) -> str:
    """CEL: a NetworkPolicy peer without namespaceSelector, or one pinning the namespace's name to the tenant's peers."""
    name = f"'{NAMESPACE_NAME_LABEL}'"
    sel = f"{peer}.namespaceSelector"
    return (
        f"(!has({peer}.namespaceSelector) || ({has_param('peers')} && ("
        f"(has({sel}.matchLabels) && {name} in {sel}.matchLabels && {sel}.matchLabels[{name}].matches({param('peers')})) || "
        f"(has({sel}.matchExpressions) && {sel}.matchExpressions.exists(e, e.key == {name} && e.operator == 'In' && "
        f"has(e.values) && size(e.values) > 0 && e.values.all(v, v.matches({param('peers')})))))))"
    )


def _own_gateway(var: str) -> str:
    return f"({var} == 'mesh' || {var}.startsWith('./') || {var}.startsWith({NS} + '/') || (!{var}.contains('/') && !{var}.contains('.')))"


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
# Labels that change how the mesh treats the namespace's pods (ambient capture, a waypoint that sees
# their traffic, the network their endpoints are reached on): none is the tenant's to set.
MESH_BEHAVIOUR_LABELS = ("istio.io/dataplane-mode", "istio.io/use-waypoint", "istio.io/use-waypoint-namespace", "topology.istio.io/network")
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


# Identities exempted per rule (builders/admission.py names them).
CONTROLLERS = "Kubernetes' controllers"  # the controller manager and the kubelets
CERT_MANAGER = "cert-manager"  # the file's cluster.certManager.users


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
    # Identities the rule exempts beyond the platform's own (CONTROLLERS, CERT_MANAGER): each only
    # from the rules about what it must write.
    exempt: tuple[str, ...] = ()
    # Bound only to namespaces labelled as a tenant's whose tenant the file no longer lists (by the
    # binding's namespaceSelector, not by parameters: a rule that reads parameters refuses
    # everything, deletions by the namespace controller included, once they are gone).
    removed_tenants_only: bool = False


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
        "A tenant cannot change its namespace's tenant, mesh, injection, mesh-behaviour or Pod Security labels, nor label "
        "another namespace as a tenant's.",
        (ADMISSION,),
        "Admission policy on `Namespace` updates (and its `status` and `finalize` subresources): those labels "
        f"({', '.join(f'`{k}`' for k in MESH_BEHAVIOUR_LABELS)} included) stay as they are unless a platform identity changes them.",
        "The built-in `admin` role cannot edit namespaces anyway; this holds if a cluster grants more.",
        admission=Admission(
            (("", "namespaces"), ("", "namespaces/status"), ("", "namespaces/finalize")),
            f"request.operation == 'UPDATE' && {' && '.join(_same_label(k) for k in MANAGED_NAMESPACE_LABELS + MESH_BEHAVIOUR_LABELS)} && "
            f"{_same_prefixed_labels(POD_SECURITY_PREFIX)}",
            condition=f"{_has_label('object', TENANT_LABEL)} || {_has_label('oldObject', TENANT_LABEL)}",
            tenant_namespaces=False,
        ),
        allowed=f"the tenant, mesh, injection, mesh-behaviour and {POD_SECURITY_PREFIX}* labels of a tenant namespace are changed by the platform only",
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
        "are created, changed and deleted by platform identities only (and by Kubernetes' controllers, which run the "
        "gateways' pods, update status and collect garbage, and cert-manager, which keeps the status of the platform's "
        "Certificates: exempt from this rule), subresources included (a gateway's "
        "`deployments/scale`). The gateways each install path generates (Deployment, pods, Service, ServiceAccount, Role) "
        "carry the label too: the gateway chart's `labels`, the IstioOperator's `label`, the Gateway API `Gateway`'s "
        "`infrastructure.labels`. A tenant's own program may not create such objects.",
        "Tenants can still add their own `NetworkPolicy` or `AuthorizationPolicy` objects, which only open their own namespace.",
        check=inv.platform_labels_platform_only, kinds=frozenset({"*"}),
        admission=Admission(
            (("*", "*/*"),),  # subresources too: a gateway's deployments/scale, a Service's status
            "false",
            operations=("CREATE", "UPDATE", "DELETE"),
            condition=f"{_has_label('object', TENANT_LABEL)} || {_has_label('oldObject', TENANT_LABEL)}",
            # The controllers run the gateways and keep status; cert-manager keeps the status of the
            # platform's Certificates (certificates/status) and fills their Secrets.
            exempt=(CONTROLLERS, CERT_MANAGER),
        ),
        allowed=f"objects labelled {TENANT_LABEL} in a tenant namespace are the platform's; create your own without that label",
    ),
    Rule(
        "protections-retained",
        "Removing a tenant leaves its namespace protected until it is decommissioned.",
        (MESH,),
        "`retainOnDelete` on the namespace and on everything that protects it (`PeerAuthentication`, `AuthorizationPolicy`s, "
        "`Sidecar`, both `NetworkPolicy`s, `ResourceQuota`, `LimitRange`) until `decommission: true`; admins' `RoleBinding`, "
        "routes, gateway and certificates leave with the tenant. Adding a tenant back over its retained namespace fails the "
        "preview unless the file says `adopt: true` (the tenant's `TenantRemoval` looks at the cluster).",
        "Of what the tenant created itself, `pulumi up` deletes its own RoleBindings and scales its workloads to zero "
        "unless `removal.keepWorkloads` (see `removed-tenant-frozen`); its Secrets, ConfigMaps, Services, volumes, "
        "DaemonSets and bare Pods stay as they are.",
    ),
    Rule(
        "removed-tenant-frozen",
        "A removed tenant's retained namespace is frozen: no one but the platform writes there.",
        (ADMISSION,),
        "Admission policy on every resource and subresource, bound (`namespaceSelector`) to the namespaces labelled as a "
        "tenant's whose tenant the file no longer lists (a removed tenant's, retained): every create, update and delete "
        "there is refused but the platform's (and Kubernetes' controllers', which delete what the namespace holds when it goes).",
        "Reads are not writes: the removal (the tenant's `TenantRemoval`, as the platform) deletes the RoleBindings the "
        "tenant created and scales its Deployments, StatefulSets and ReplicaSets to zero, suspends its CronJobs and Jobs; "
        "with `removal.keepWorkloads` they keep granting (its Secrets included) and running. DaemonSets and bare Pods "
        "keep running ([removing a tenant](day-2.md#removing-and-decommissioning-a-tenant)).",
        admission=Admission(
            (("*", "*/*"),), "false", operations=("CREATE", "UPDATE", "DELETE"), exempt=(CONTROLLERS,), removed_tenants_only=True,
        ),
        allowed="the namespace belongs to a tenant the platform no longer lists (frozen); ask the platform team",
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
        "no-external-name-services",
        "A tenant's Service never aliases another name (another tenant's Service, an external host past the registry).",
        (PREVIEW, ADMISSION),
        "Admission policy on `Service`: no type `ExternalName`.",
        check=inv.no_external_name_services, kinds=frozenset({"Service"}),
        admission=Admission((("", "services"),), "!has(object.spec.type) || object.spec.type != 'ExternalName'"),
        allowed="Services in tenant namespaces are not ExternalName; declare external hosts with a ServiceEntry",
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
            exempt=(CERT_MANAGER,),  # its HTTP-01 solvers' Services are NodePorts by default
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
        "Admission policy on `VirtualService`: each of `gateways`, and of its routes' `match[].gateways`, is `mesh`, "
        "`<name>`, `./<name>` or `<own namespace>/<name>`; never the dotted `<name>.<namespace>` (Istio's legacy form of "
        "`<namespace>/<name>`).",
        check=inv.virtual_service_own_gateways, kinds=frozenset({"VirtualService"}),
        admission=Admission(
            (("networking.istio.io", "virtualservices"),),
            f"(!has(object.spec.gateways) || object.spec.gateways.all(g, {_own_gateway('g')})) && "
            + " && ".join(
                f"(!has(object.spec.{kind}) || object.spec.{kind}.all(r, !has(r.match) || r.match.all(m, !has(m.gateways) || "
                f"m.gateways.all(g, {_own_gateway('g')}))))"
                for kind in ("http", "tcp", "tls")
            ),
        ),
        allowed="gateways are 'mesh', '<name>', './<name>' or '<own namespace>/<name>'",
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
        "jwks-from-allowed-hosts",
        "No one fetches a URL a tenant chose: JWT keys come inline or from the hosts the platform allows.",
        (MESH, PREVIEW, ADMISSION, TENANTS_FILE),
        "istiod's `PILOT_JWT_ENABLE_REMOTE_JWKS=envoy` on every install path (the proxies fetch keys, istiod does not); "
        "admission policy on `RequestAuthentication`: every `jwtRules[]` gives `jwks` inline or a `jwksUri` on "
        "https:// on one of the tenants file's `cluster.jwksHosts` (without either, the issuer's discovery URL would be fetched).",
        "The proxies fetch the allowed URLs through the tenant's egress NetworkPolicy: the tenant's `egress` must allow them.",
        check=inv.jwks_from_allowed_hosts, kinds=frozenset({"RequestAuthentication"}),
        admission=Admission(
            (("security.istio.io", "requestauthentications"),),
            f"!has(object.spec.jwtRules) || object.spec.jwtRules.all(r, has(r.jwks) || (has(r.jwksUri) && {has_param('jwks')} && "
            f"r.jwksUri.matches({param('jwks')})))",
            uses_params=True,
        ),
        allowed="a jwtRule gives jwks inline or a jwksUri on https:// on the tenants file's cluster.jwksHosts",
    ),
    Rule(
        "priority-classes-listed",
        "A tenant's pods cannot preempt others' with a priority the platform did not give tenants.",
        (PREVIEW, ADMISSION, TENANTS_FILE),
        "Admission policy on `Pod` creation (the controllers' included): `priorityClassName` unset or one of the tenants "
        "file's `cluster.priorityClasses`.",
        "A cluster whose PriorityClass is `globalDefault` gives it to every pod: list it.",
        check=inv.priority_class_listed, kinds=frozenset({"Pod"}),
        admission=Admission(
            (("", "pods"),),
            f"!has(object.spec.priorityClassName) || object.spec.priorityClassName == '' || "
            f"({has_param('priorityClasses')} && object.spec.priorityClassName.matches({param('priorityClasses')}))",
            operations=("CREATE",),
            uses_params=True,
        ),
        allowed="a pod names no PriorityClass, or one of the tenants file's cluster.priorityClasses",
    ),
    Rule(
        "network-ingress",
        "Below the mesh, pods admit only their namespace and importing tenants, and the scraper's namespace on the proxy's metrics ports (15020, 15090); the gateway admits everyone.",
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
        "network-policy-peers",
        "A tenant's own NetworkPolicies open traffic only with its own namespace, the tenants it imports from or exports "
        "to, and the platform's openings it uses.",
        (ADMISSION, PREVIEW),
        f"Admission policy on tenants' `NetworkPolicy`s: every `namespaceSelector` of `ingress.from` and `egress.to` pins "
        f"`{NAMESPACE_NAME_LABEL}` (which the API server sets and no one can forge), in `matchLabels` or an `In` expression, "
        "to those namespaces (its mesh's control plane and kube-system included).",
        "A peer without `namespaceSelector` is the policy's own namespace; `ipBlock` peers in ingress open only the tenant itself.",
        check=inv.network_policy_peers_pinned, kinds=frozenset({"NetworkPolicy"}),
        admission=Admission(
            (("networking.k8s.io", "networkpolicies"),),
            f"(!has(object.spec.ingress) || object.spec.ingress.all(r, !has(r.from) || r.from.all(p, {_pinned_peer('p')}))) && "
            f"(!has(object.spec.egress) || object.spec.egress.all(r, !has(r.to) || r.to.all(p, {_pinned_peer('p')})))",
            uses_params=True,
        ),
        allowed=f"a NetworkPolicy names other namespaces by {NAMESPACE_NAME_LABEL} only: the tenant's own, those it imports "
        "from or exports to, its control plane and kube-system",
    ),
    Rule(
        "istiod-protected",
        "istiod serves configuration only over authenticated XDS; its debug endpoints answer no one.",
        (MESH, NETWORK_POLICY),
        "`NetworkPolicy/istiod-ingress` in every control-plane namespace (each mesh's), on every install method: 15012 "
        "(XDS, CA) from the namespaces of that mesh only (its mesh label; with one control plane, its own namespace and "
        "the tenant namespaces), 15017 (webhooks, called by the API server) from anywhere, 15014 (metrics) from "
        "`observability.scraperNamespace` only, 15010 closed; istiod's `ENABLE_DEBUG_ON_HTTP=false`.",
        "Kiali's views that read istiod's debug endpoints stay empty.",
    ),
    Rule(
        "platform-namespaces-closed",
        "A pod without a sidecar reaches nothing in the platform's namespaces but what the platform opens.",
        (NETWORK_POLICY, TENANTS_FILE),
        "`NetworkPolicy/default-deny-ingress` in every control-plane namespace (each mesh's), the Istio operator's "
        "(`istio-operator`) and Sail's (`sail-operator`, `istio-cni`) namespaces, and, where the tenants file lets the "
        "program (`cluster.certManager.networkPolicy`, on by default wherever the file uses cert-manager; `cluster.kubeSystem.networkPolicy`, off by default), "
        "cert-manager's and kube-system. The openings, one NetworkPolicy each (`builders/platform_network.py`, a list "
        "other parts of the program add to): istiod (above); the platform gateway's server and health ports from "
        "anywhere, its proxy metrics from the scraper; the enabled add-ons from their own namespace (the zipkin "
        "collector from the mesh); cert-manager's webhook (10250) from anywhere and its metrics (9402) from the scraper; "
        "DNS (53) in kube-system from every namespace.",
        "Needs a CNI that enforces NetworkPolicy. kube-system stays open by default: it runs components the program does "
        "not know (metrics-server behind the API server, the CNI's and the cloud's agents). Pods on the host network "
        "(the CNI agent) are outside any NetworkPolicy.",
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
        "or e-mail names; the rule binds cert-manager too (its ingress-shim creates Certificates from annotations a "
        "tenant writes), which is exempt only from the rules about what it must create.",
        "A CSR against Kubernetes' own signers is not covered (the `admin` role cannot create one). cert-manager's "
        "approver-policy limits the issuer itself: `cluster.certManager.approverPolicy` generates a "
        "`CertificateRequestPolicy` per tenant.",
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
        "certificate-leaf-only",
        "A tenant's certificate can sign nothing and claims no identity but its DNS names.",
        (ADMISSION, PREVIEW),
        "Admission policy on cert-manager `Certificate`s: no `isCA: true`, no `literalSubject`, no `subject` (cert-manager "
        "included: its ingress-shim writes what a tenant's annotations ask).",
        "A tenant-issued intermediate from a shared CA would sign any host, and any workload identity where the mesh "
        "trusts that CA.",
        check=inv.certificate_leaf_only, kinds=frozenset({"Certificate"}),
        admission=Admission(
            (("cert-manager.io", "certificates"),),
            "(!has(object.spec.isCA) || object.spec.isCA == false) && !has(object.spec.literalSubject) && !has(object.spec.subject)",
        ),
        allowed="a Certificate is a leaf: no isCA, literalSubject or subject",
    ),
    Rule(
        "cert-manager-annotations-own-hosts",
        "A tenant cannot make cert-manager issue, as itself, a certificate for another tenant's host.",
        (ADMISSION, PREVIEW),
        f"Admission policy on `Ingress`es: with a `cert-manager.io/*`, `acme.cert-manager.io/*` or `{inv.TLS_ACME_ANNOTATION}` "
        "annotation, every host (`tls[].hosts`, `rules[].host`) is one the tenants file gives the tenant. Gateway API "
        "`Gateway`s, the other thing cert-manager's gateway-shim reads, are the platform's (rule above).",
        "An Ingress without those annotations may name any host: no certificate follows, and istiod ignores Ingresses.",
        check=inv.cert_manager_annotations_own_hosts, kinds=frozenset({"Ingress"}),
        admission=Admission(
            (("networking.k8s.io", "ingresses"),),
            "!(has(object.metadata.annotations) && object.metadata.annotations.exists(k, k.startsWith('cert-manager.io/') || "
            f"k.startsWith('acme.cert-manager.io/') || k == '{inv.TLS_ACME_ANNOTATION}')) || "
            f"((!has(object.spec.tls) || object.spec.tls.all(t, !has(t.hosts) || t.hosts.all(h, {_given_host('h')}))) && "
            f"(!has(object.spec.rules) || object.spec.rules.all(r, !has(r.host) || {_given_host('r.host')})))",
            uses_params=True,
        ),
        allowed="an Ingress asking cert-manager for a certificate names only the tenant's hosts (from the tenants file)",
    ),
    Rule(
        "acme-orders-platform-only",
        "A tenant cannot drive an ACME issuer directly.",
        (ADMISSION, PREVIEW),
        "Admission policy on `acme.cert-manager.io` `Order`s and `Challenge`s in tenant namespaces: written by cert-manager "
        "(exempt from this rule) only; cert-manager's default roles aggregate them into `admin`.",
        check=lambda obj, platform: [*inv.acme_orders_platform_only(obj, platform), *inv.acme_challenges_platform_only(obj, platform)],
        kinds=frozenset({"Order", "Challenge"}),
        admission=Admission(
            (("acme.cert-manager.io", "orders"), ("acme.cert-manager.io", "challenges")), "false",
            operations=("CREATE", "UPDATE", "DELETE"), exempt=(CERT_MANAGER,),
        ),
        allowed="ACME Orders and Challenges are cert-manager's; ask for a Certificate",
    ),
    Rule(
        "certificate-requests-platform-only",
        "A tenant cannot ask an issuer to sign an arbitrary CSR.",
        (ADMISSION, PREVIEW),
        "Admission policy on `CertificateRequest`s in tenant namespaces: created by cert-manager (`cluster.certManager.users`, "
        "exempt from this rule) only.",
        check=inv.certificate_requests_platform_only, kinds=frozenset({"CertificateRequest"}),
        admission=Admission((("cert-manager.io", "certificaterequests"),), "false", operations=("CREATE",), exempt=(CERT_MANAGER,)),
        allowed="CertificateRequests come from cert-manager's Certificates; create a Certificate",
    ),
    Rule(
        "observability-https-only",
        "The observability add-ons are published only when turned on and behind a login, then over HTTPS.",
        (TENANTS_FILE, MESH),
        "All add-ons off by default; a route needs `observability.oidc` (else `exposure: port-forward`, no route): the platform "
        "gateway serves it on 443 with `observability.credentialName`. For Grafana, Prometheus and the tracing UI (every "
        "tenant's data) it asks oauth2-proxy first (`AuthorizationPolicy` `observability-login`, `action: CUSTOM`), which lets "
        "only `oidc.platformGroups` through (required while any of them is routed); Kiali has its own OpenID login.",
        "Anyone the OIDC provider logs in passes Kiali's login: Kiali then shows what their own RBAC lets them read. The "
        "mesh-wide add-ons are as closed as `platformGroups` is (a tenant's group listed there reads every tenant's data). "
        "Grafana trusts the login headers of whoever reaches its pod (NetworkPolicy `grafana-ingress`: the platform gateway "
        "and Kiali only).",
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
TABLE_BEGIN = "<!-- rules: generated by `python -m rules.table` from rules/table.py; do not edit -->"
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
