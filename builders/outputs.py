"""Stack outputs users script against: plain values, known before anything is applied."""

from __future__ import annotations

from builders.addon_services import INSTALLED_SERVICES
from builders.control_plane import ADDON_SERVICES, addon_host, enabled_addons
from builders.tenant import service_host
from tenants.meshes import placement
from tenants.model import MESH_WIDE_ADDONS, Observability, Tenant, TenantsFile


def stack_outputs(config: TenantsFile) -> dict:
    """`tenants.<name>`: where the tenant lives (with meshes, in which mesh and on which revision) and
    how its gateway is reached; `observability`: each add-on's URL and whether a login protects it."""
    return {
        "tenants": {
            t.name: {
                "namespace": t.namespace_name,
                # The operator names the gateway's Deployment and Service after the gateway.
                "gatewayService": t.gateway_name,
                "gatewayServiceHost": service_host(t.gateway_name, t.namespace_name),
                "selector": dict(t.gateway_labels),
                "hosts": t.served_dns_names,
                **_mesh(config, t),
            }
            for t in config.tenants
        },
        "observability": observability_outputs(config.observability),
    }


# Installed add-ons with a login of their own when reached through port-forward: Kiali asks for a
# token, Grafana for its admin password; Prometheus and Jaeger have none (port-forward itself takes
# the right to open one, which tenants do not have in the add-ons' namespace).
OWN_LOGIN = ("kiali", "grafana")


def observability_outputs(obs: Observability) -> dict:
    """`{addon: {url, login}}`: routed add-ons at https://<addon>.<domain> behind the OIDC login; installed
    ones without a route at localhost, once `portForward` (the kubectl command) runs."""
    routed = enabled_addons(obs)
    outputs = {addon: {"url": f"https://{addon_host(addon, obs)}", "login": True, "readers": _readers(addon, obs)} for addon in routed}
    if obs.install:
        for addon in ADDON_SERVICES:
            if addon not in routed:
                service, port = INSTALLED_SERVICES[addon]
                outputs[addon] = {
                    "url": f"http://localhost:{port}", "login": addon in OWN_LOGIN,
                    "portForward": f"kubectl -n {obs.namespace} port-forward svc/{service} {port}",
                }
    return outputs


def _readers(addon: str, obs: Observability) -> str:
    """Who gets past a routed add-on's login, and what they see."""
    if addon in MESH_WIDE_ADDONS:
        return f"the platform's groups ({', '.join(obs.oidc.platform_groups)}): every tenant's data"
    return "anyone the issuer logs in: the namespaces their own Kubernetes RBAC lets them read"


def _mesh(config: TenantsFile, tenant: Tenant) -> dict:
    """With several meshes: the tenant's mesh, and the tag or revision its namespace is labelled with."""
    place = placement(config, tenant)
    return {"mesh": place.mesh.name, "revision": place.revision} if place.mesh else {}
