"""Stack outputs users script against: plain values, known before anything is applied."""

from __future__ import annotations

from builders.control_plane import addon_host, enabled_addons
from builders.tenant import service_host
from tenants.meshes import placement
from tenants.model import Tenant, TenantsFile


def stack_outputs(config: TenantsFile) -> dict:
    """`tenants.<name>`: where the tenant lives (with meshes, in which mesh and on which revision) and
    how its gateway is reached; `observability`: add-on URLs."""
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
        "observability": {addon: f"https://{addon_host(addon, config.observability)}" for addon in enabled_addons(config.observability)},
    }


def _mesh(config: TenantsFile, tenant: Tenant) -> dict:
    """With several meshes: the tenant's mesh, and the tag or revision its namespace is labelled with."""
    place = placement(config, tenant)
    return {"mesh": place.mesh.name, "revision": place.revision} if place.mesh else {}
