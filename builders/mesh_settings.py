"""The mesh hardening every install path applies: istiod's mesh config and environment.

Pure functions, so that the operator path (`control_plane.py`, IstioOperator `meshConfig` and
`values.pilot.env`) and the Helm path (istiod chart `meshConfig` and `pilot.env`) apply exactly
the same settings. Each setting closes a hole a tenant could otherwise use; the README's
"What isolation you get" names them.
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
    }
