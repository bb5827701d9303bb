"""The mesh's side of observability: where proxies send traces and whom the platform gateway asks
before it lets anyone reach an add-on (meshConfig `extensionProviders`, a mesh-wide `Telemetry`, a
CUSTOM `AuthorizationPolicy`), and the RBAC and network paths the add-ons need."""

from __future__ import annotations

from typing import Optional

from tenants.model import MESH_WIDE_ADDONS, Observability, Tenant
from tenants.rules import CONTROL_PLANE_GATEWAY_SELECTOR

from .control_plane import addon_host, enabled_addons
from .addon_services import GRAFANA, JAEGER_OTLP_GRPC, JAEGER_QUERY, OAUTH2_PROXY_SERVICE, service_host
from .istio import SECURITY
from .meta import MANAGED_BY, k8s_object, namespace_peer, tenant_labels

TRACING_PROVIDER = "jaeger"
LOGIN_PROVIDER = "oauth2-proxy"
LOGIN_POLICY = "observability-login"
TELEMETRY = "telemetry.istio.io/v1"
RBAC = "rbac.authorization.k8s.io"
MESH_VIEWER_ROLE = "istio-multitenancy-mesh-viewer"
MESH_VIEWER_BINDING = "tenant-admins-mesh-viewer"
# What Kiali reads with a tenant admin's own identity, beyond what the built-in `admin` role grants:
# Istio's and the Gateway API's configuration (no built-in role aggregates them).
MESH_API_GROUPS = (
    "networking.istio.io", "security.istio.io", "telemetry.istio.io", "extensions.istio.io", "gateway.networking.k8s.io",
)
READ = ["get", "list", "watch"]


def extension_providers(obs: Observability) -> list[dict]:
    """meshConfig `extensionProviders`: Jaeger's OTLP receiver when the program installs it, and
    oauth2-proxy as the gateway's external authorizer when a login is configured."""
    providers = []
    if obs.install:
        providers.append(
            {"name": TRACING_PROVIDER, "opentelemetry": {"service": service_host(JAEGER_QUERY, obs.namespace), "port": JAEGER_OTLP_GRPC}}
        )
    if obs.oidc is not None:
        providers.append(
            {
                "name": LOGIN_PROVIDER,
                "envoyExtAuthzHttp": {
                    "service": service_host(OAUTH2_PROXY_SERVICE, obs.namespace),
                    "port": OAUTH2_PROXY_SERVICE[1],
                    "includeRequestHeadersInCheck": ["authorization", "cookie"],
                    # Who logged in, for Grafana behind the gateway.
                    "headersToUpstreamOnAllow": [
                        "authorization", "path", "x-auth-request-user", "x-auth-request-email", "x-auth-request-groups",
                        "x-auth-request-access-token",
                    ],
                    # The redirect to the issuer and the session cookie, back to the browser.
                    "headersToDownstreamOnDeny": ["content-type", "set-cookie", "location"],
                },
            }
        )
    return providers


def mesh_tracing(obs: Observability, root_namespace: str) -> list[dict]:
    """The mesh-wide `Telemetry` (in the root namespace): every proxy traces a share of requests to Jaeger."""
    if not obs.install:
        return []
    spec = {"tracing": [{"providers": [{"name": TRACING_PROVIDER}], "randomSamplingPercentage": obs.sampling_rate}]}
    return [k8s_object(TELEMETRY, "Telemetry", "mesh-default", root_namespace, labels=MANAGED_BY, spec=spec)]


def login_policy(obs: Observability, control_plane_namespace: str) -> list[dict]:
    """Every request to a routed mesh-wide add-on (Grafana, Prometheus, the tracing UI) on the
    platform gateway goes through oauth2-proxy first, which lets only `oidc.platformGroups` through.
    Kiali is left to its own OpenID login: it shows each user what their own RBAC lets them read, so
    tenants' admins use it, and oauth2-proxy's one list of allowed groups would refuse them."""
    hosts = [addon_host(addon, obs) for addon in enabled_addons(obs) if addon in MESH_WIDE_ADDONS]
    if not hosts or obs.oidc is None:
        return []
    spec = {
        "selector": {"matchLabels": dict(CONTROL_PLANE_GATEWAY_SELECTOR)},
        "action": "CUSTOM",
        "provider": {"name": LOGIN_PROVIDER},
        "rules": [{"to": [{"operation": {"hosts": sorted({*hosts, *(f"{h}:*" for h in hosts)})}}]}],
    }
    return [k8s_object(SECURITY, "AuthorizationPolicy", LOGIN_POLICY, control_plane_namespace, labels=MANAGED_BY, spec=spec)]


def mesh_viewer_role() -> dict:
    """Read-only access to the mesh configuration: what Kiali shows of a namespace, with the user's identity."""
    rules = [{"apiGroups": list(MESH_API_GROUPS), "resources": ["*"], "verbs": list(READ)}]
    return k8s_object(f"{RBAC}/v1", "ClusterRole", MESH_VIEWER_ROLE, labels=MANAGED_BY, rules=rules)


KIALI_VIEWER_ROLE = "kiali-viewer"  # the name the kiali-server chart binds its service account to


def kiali_viewer_role() -> dict:
    """What Kiali's own service account may do: read workloads and the mesh configuration, nothing
    else (the chart's viewer role less port-forwarding into pods and OpenShift's kinds). A
    TokenReview creates nothing: it asks the API server whose a token is."""
    rules = [
        {"apiGroups": [""], "resources": ["configmaps", "pods/log", "namespaces", "pods", "replicationcontrollers", "services", "endpoints"], "verbs": list(READ)},
        {"apiGroups": ["apps"], "resources": ["daemonsets", "deployments", "replicasets", "statefulsets"], "verbs": list(READ)},
        {"apiGroups": ["batch"], "resources": ["cronjobs", "jobs"], "verbs": list(READ)},
        {"apiGroups": list(MESH_API_GROUPS), "resources": ["*"], "verbs": list(READ)},
        {"apiGroups": ["admissionregistration.k8s.io"], "resources": ["mutatingwebhookconfigurations"], "verbs": ["list"]},
        {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
    ]
    return k8s_object(f"{RBAC}/v1", "ClusterRole", KIALI_VIEWER_ROLE, labels=MANAGED_BY, rules=rules)


def mesh_viewer_bindings(tenant: Tenant, labels: dict[str, str]) -> list[dict]:
    """The tenant's admins may read its mesh configuration (in its namespace only), so that Kiali,
    which acts with their identity, shows them their namespace and nothing else."""
    subjects = [{"apiGroup": RBAC, "kind": "User", "name": u} for u in sorted(set(tenant.admins.users))]
    subjects += [{"apiGroup": RBAC, "kind": "Group", "name": g} for g in sorted(set(tenant.admins.groups))]
    if not subjects:
        return []
    role = {"apiGroup": RBAC, "kind": "ClusterRole", "name": MESH_VIEWER_ROLE}
    return [k8s_object(f"{RBAC}/v1", "RoleBinding", MESH_VIEWER_BINDING, tenant.namespace_name, labels=labels, roleRef=role, subjects=subjects)]


def tenant_observability_access(obs: Optional[Observability], tenant: Tenant) -> list[dict]:
    """The tenant's RBAC for the add-ons the program installs (none without them)."""
    return mesh_viewer_bindings(tenant, tenant_labels(tenant.name)) if obs is not None and obs.install else []


def addons_egress(obs: Optional[Observability]) -> list[dict]:
    """What a tenant's pods may reach of the add-ons: Jaeger's OTLP port (their proxies' traces),
    nothing else. Rules of the tenant's egress NetworkPolicy."""
    if obs is None or not obs.install:
        return []
    jaeger = {**namespace_peer(obs.namespace), "podSelector": {"matchLabels": {"app.kubernetes.io/name": JAEGER_QUERY[0]}}}
    return [{"to": [jaeger], "ports": [{"protocol": "TCP", "port": JAEGER_OTLP_GRPC}]}]


def grafana_ingress(obs: Observability, control_plane_namespace: str) -> list[dict]:
    """Grafana trusts the login headers of whoever reaches it: only the platform gateway (which sets
    them after oauth2-proxy's check) and Kiali (its links and panels) may."""
    if not obs.install:
        return []
    gateway = {**namespace_peer(control_plane_namespace), "podSelector": {"matchLabels": dict(CONTROL_PLANE_GATEWAY_SELECTOR)}}
    kiali = {**namespace_peer(obs.namespace), "podSelector": {"matchLabels": {"app.kubernetes.io/name": "kiali"}}}
    spec = {
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": GRAFANA[0]}},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [gateway, kiali], "ports": [{"protocol": "TCP", "port": GRAFANA[1]}]}],
    }
    return [k8s_object("networking.k8s.io/v1", "NetworkPolicy", "grafana-ingress", obs.namespace, labels=MANAGED_BY, spec=spec)]

