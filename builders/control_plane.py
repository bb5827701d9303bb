"""The platform control plane: its namespace, its IstioOperator and the observability ingress path."""

from __future__ import annotations

from tenants.model import ControlPlane, Observability
from tenants.rules import CONTROL_PLANE_GATEWAY_SELECTOR

from .addon_services import INSTALLED_SERVICES, service_host
from .istio import SECURITY, gateway, pinned_replicas, virtual_service
from .mesh_settings import hardened_pilot_env, istiod_mesh_config
from .platform_network import scraper_namespace  # noqa: F401  (the control plane's view of it)
from .meta import MANAGED_BY, WAIT_FOR_HEALTHY, k8s_object, namespace

OBSERVABILITY_GATEWAY = "observability-gateway"
DEFAULT_NAMESPACE = "istio-system"

# Add-on -> (service in the control-plane namespace, port), as Istio's samples/addons install them.
ADDON_SERVICES = {
    "kiali": ("kiali", 20001),
    "grafana": ("grafana", 3000),
    "prometheus": ("prometheus", 9090),
    "tracing": ("tracing", 80),
}


def control_plane_namespace(cp: ControlPlane) -> dict:
    # No `istio-injection` label: the gateway chart's pods ask for injection with the pod label
    # `sidecar.istio.io/inject: "true"`, which istiod's webhook honours only in a namespace without
    # that label (`disabled` left the platform gateway's image `auto`, never injected). istiod's own
    # pods opt out with `sidecar.istio.io/inject: "false"`, and nothing else there is injected
    # unless it asks: the chart's `enableNamespacesByDefault` is off.
    return namespace(cp.namespace, dict(MANAGED_BY))


def control_plane_operator(cp: ControlPlane, extension_providers: list[dict] = ()) -> dict:
    spec: dict = {
        "profile": cp.profile,
        # The same hardening as every install path (mesh_settings.py).
        "meshConfig": istiod_mesh_config({}, extension_providers),
        # Istio CNI sets up each pod's traffic redirection, so that pods need no istio-init
        # container with NET_ADMIN: the Pod Security levels of tenant namespaces allow none.
        "values": {"pilot": {"env": hardened_pilot_env(), "cni": {"enabled": True}}},
    }
    if cp.namespace != DEFAULT_NAMESPACE:
        spec["namespace"] = cp.namespace
        spec["values"]["global"] = {"istioNamespace": cp.namespace}
    components: dict = {"cni": {"enabled": True}}
    if cp.replicas.pilot:
        components["pilot"] = {"k8s": pinned_replicas(cp.replicas.pilot)}
    if cp.replicas.ingress_gateway:
        components["ingressGateways"] = [
            {"name": "istio-ingressgateway", "enabled": True, "k8s": pinned_replicas(cp.replicas.ingress_gateway)}
        ]
    spec["components"] = components
    return k8s_object(
        "install.istio.io/v1alpha1", "IstioOperator", cp.name, cp.namespace,
        labels=MANAGED_BY, annotations=WAIT_FOR_HEALTHY, spec=spec,
    )


def strict_mtls(namespace_name: str, labels: dict[str, str]) -> dict:
    """PeerAuthentication `default`: sidecars of the namespace accept only mutual TLS.

    In the control-plane namespace it is the mesh-wide default; each tenant repeats it in
    its own namespace so that it holds even if the mesh-wide one is relaxed.
    """
    return k8s_object(SECURITY, "PeerAuthentication", "default", namespace_name, labels=labels, spec={"mtls": {"mode": "STRICT"}})


def mesh_wide_mtls(cp: ControlPlane) -> dict:
    return strict_mtls(cp.namespace, MANAGED_BY)


def addon_host(addon: str, obs: Observability) -> str:
    return f"{addon}.{obs.domain}"


def enabled_addons(obs: Observability) -> list[str]:
    """The add-ons with a route: those turned on, and only behind a login (`Observability.routed`)."""
    return [addon for addon in ADDON_SERVICES if getattr(obs.addons, addon)] if obs.routed else []


def addon_destination(addon: str, obs: Observability, control_plane_namespace: str) -> tuple[str, int]:
    """(host, port) of an add-on's Service: the program's own install, else Istio's samples/addons in the control plane's namespace."""
    if obs.install:
        service, port = INSTALLED_SERVICES[addon]
        return service_host((service, port), obs.namespace), port
    service, port = ADDON_SERVICES[addon]
    return f"{service}.{control_plane_namespace}.svc.cluster.local", port


def observability_servers(obs: Observability) -> list[dict]:
    """The servers of the observability Gateway (none when no add-on is enabled): what the control
    plane's ingress gateway serves. HTTPS only, with the certificate in `obs.credential_name`
    (the rules require it): the add-ons carry no authentication of their own."""
    addons = enabled_addons(obs)
    if not addons:
        return []
    return [
        {
            "port": {"number": 443, "name": "https-observability", "protocol": "HTTPS"},
            # `./`: only VirtualServices of the control-plane namespace bind to these hosts.
            "hosts": [f"./{addon_host(a, obs)}" for a in addons],
            "tls": {"mode": "SIMPLE", "credentialName": obs.credential_name},
        }
    ]


def observability_objects(cp: ControlPlane, obs: Observability) -> list[dict]:
    """One Gateway on the platform ingress gateway, and a VirtualService per enabled add-on; none by default."""
    servers = observability_servers(obs)
    if not servers:
        return []
    addons = enabled_addons(obs)
    objects = [gateway(OBSERVABILITY_GATEWAY, cp.namespace, CONTROL_PLANE_GATEWAY_SELECTOR, servers, MANAGED_BY)]
    for addon in addons:
        host, port = addon_destination(addon, obs, cp.namespace)
        objects.append(
            virtual_service(
                addon, cp.namespace, MANAGED_BY,
                hosts=[addon_host(addon, obs)],
                gateways=[OBSERVABILITY_GATEWAY],
                http=[{"route": [{"destination": {"host": host, "port": {"number": port}}}]}],
            )
        )
    return objects

