"""Stack outputs users script against: plain values, known before anything is applied."""

from __future__ import annotations

from builders.control_plane import addon_host, enabled_addons
from tenants.model import TenantsFile


def stack_outputs(config: TenantsFile) -> dict:
    return {
        "tenants": {
            t.name: {
                "namespace": t.namespace_name,
                "gatewayService": f"{t.gateway_name}.{t.namespace_name}.svc.cluster.local",
                "selector": dict(t.gateway_labels),
                "hosts": t.served_hosts,
            }
            for t in config.tenants
        },
        "observability": {addon: f"http://{addon_host(addon, config.observability)}" for addon in enabled_addons(config.observability)},
    }
