"""The mesh hardening every install path applies: istiod's mesh config and environment.

Pure functions, so that the operator path (`control_plane.py`, IstioOperator `meshConfig` and
`values.pilot.env`) and the Helm path (istiod chart `meshConfig` and `pilot.env`) apply exactly
the same settings. Each setting closes a hole a tenant could otherwise use; docs/isolation.md
names them.
"""

from __future__ import annotations

# Istio's `MeshConfig.OutboundTrafficPolicy.Mode`: only hosts in the service registry (Services,
# ServiceEntries) are reachable through a sidecar; ALLOW_ANY would pass anything through.
REGISTRY_ONLY = "REGISTRY_ONLY"


def hardened_mesh_config() -> dict:
    """meshConfig fields (Istio's `MeshConfig`, mesh/v1alpha1/config.proto, 1.23 to 1.30)."""
    return {
        # istiod would turn an `Ingress` of class istio into configuration of the platform's
        # public gateway: tenants route only through their own Gateway.
        "ingressControllerMode": "OFF",
        # Configuration without `exportTo` stays in its namespace instead of reaching every sidecar.
        "defaultVirtualServiceExportTo": ["."],
        "defaultDestinationRuleExportTo": ["."],
        "defaultServiceExportTo": ["."],
        "outboundTrafficPolicy": {"mode": REGISTRY_ONLY},
    }


def istiod_mesh_config(own: dict, extension_providers: list[dict] = ()) -> dict:
    """A control plane's meshConfig: the hardening, under the control plane's own settings (a mesh's
    discovery selectors and the `meshConfig` the tenants file gives it). A mesh that sets a field
    itself, such as `outboundTrafficPolicy`, has that setting: the file says so explicitly.
    `extension_providers`: the tracing and login providers of the observability add-ons (telemetry.py)."""
    config = {**hardened_mesh_config(), **own}
    if extension_providers:
        config["extensionProviders"] = list(extension_providers)
    return config


def hardened_pilot_env() -> dict[str, str]:
    """istiod environment (pilot/pkg/features, Istio 1.23 to 1.30)."""
    return {
        # A Gateway programs only gateway pods of its own namespace: without it a tenant's
        # Gateway could program another tenant's (or the platform's) gateway.
        "PILOT_SCOPE_GATEWAY_TO_NAMESPACE": "true",
        # The HTTP debug interface (/debug/configz, config dumps of every proxy, forced pushes) on
        # the monitoring port 15014 answers any caller that reaches it; off, it is served only
        # over authenticated XDS (`istioctl x internal-debug`).
        "ENABLE_DEBUG_ON_HTTP": "false",
        # istiod would fetch every RequestAuthentication's jwksUri itself, from inside the control
        # plane's network, for any tenant: the proxies fetch them instead (through their own
        # NetworkPolicy), and admission limits jwksUri to the file's cluster.jwksHosts.
        "PILOT_JWT_ENABLE_REMOTE_JWKS": "envoy",
    }


# The seccomp profile the `restricted` Pod Security level asks of every pod (or each of its containers).
RUNTIME_DEFAULT_SECCOMP = {"type": "RuntimeDefault"}
# Lets the proxy, unprivileged, bind the ports below 1024 its servers declare; one of the "safe"
# sysctls the `baseline` and `restricted` levels allow. Istio's gateway chart sets it when it is
# given no pod securityContext of its own.
UNPRIVILEGED_PORTS_SYSCTL = {"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}


def gateway_pod_security_context() -> dict:
    """Istio's gateway pods run as 1337 without privileges but set no seccomp profile, which the
    `restricted` Pod Security level requires; the operator's `k8s.securityContext` replaces the
    pod's, so it repeats Istio's settings too."""
    return {"runAsUser": 1337, "runAsGroup": 1337, "runAsNonRoot": True, "seccompProfile": dict(RUNTIME_DEFAULT_SECCOMP)}


def gateway_chart_pod_security_context() -> dict:
    """The gateway chart's pod `securityContext` (its `securityContext` value): given, it replaces
    the chart's own, which is the unprivileged-ports sysctl alone, so it keeps that sysctl. Istio's
    gateway injection template merges its pod settings over these (a strategic merge), keeping them."""
    return {**gateway_pod_security_context(), "sysctls": [dict(UNPRIVILEGED_PORTS_SYSCTL)]}


def gateway_class_defaults(gateway_class: str) -> dict:
    """istiod's `gatewayClasses` value: the overlay it applies to the Deployment it generates for
    each Gateway API `Gateway` of `gateway_class`. Its pods bind low ports with the sysctl and run
    as 1337 without privileges; the seccomp profile is what `restricted` still asks for."""
    pod = {"securityContext": {"seccompProfile": dict(RUNTIME_DEFAULT_SECCOMP)}}
    return {gateway_class: {"deployment": {"spec": {"template": {"spec": pod}}}}}


ISTIOD_POD_LABELS = {"app": "istiod"}  # on istiod's pods in the operator's and the Helm chart's installs
ISTIOD_XDS_PORT = 15012  # XDS and the CA, over mTLS or with a service account token
ISTIOD_WEBHOOK_PORT = 15017  # the injection and validation webhooks, called by the API server
ISTIOD_MONITORING_PORT = 15014  # metrics (and, unless ENABLE_DEBUG_ON_HTTP=false, debug endpoints)

