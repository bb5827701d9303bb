"""ObservabilityAddons: Prometheus, Grafana, Kiali, Jaeger and the login in front of them, from their
Helm charts (as the Istio charts are installed), and the mesh objects that wire them in."""

from __future__ import annotations

from typing import Optional, Sequence

import pulumi

from builders.addons import addon_releases, addon_source
from builders.helm_values import chart_arguments
from builders.meta import MANAGED_BY, namespace
from builders.telemetry import grafana_ingress, kiali_viewer_role, login_policy, mesh_tracing, mesh_viewer_role
from tenants.model import TenantsFile

from .kubernetes import chart_declarer, child_declarer


class ObservabilityAddons(pulumi.ComponentResource):
    """Nothing unless `observability.install` (then the charts) or `oidc` (then the login policy).

    Args:
        config: the tenants file (its `observability`, and its tenants' admins).
        platform: the platform mesh (its `namespace` and `ready`: Istio's CRDs and istiod).
        meshes: the other meshes of a `meshes:` file (each a MeshControlPlane): every mesh's root
            namespace gets the mesh-wide `Telemetry`, as every mesh's istiod gets the extension providers.
    """

    def __init__(
        self,
        name: str,
        *,
        config: TenantsFile,
        platform,
        meshes: Sequence[pulumi.ComponentResource] = (),
        provider: pulumi.ProviderResource,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("istio-multitenancy:index:ObservabilityAddons", name, None, opts)
        obs = config.observability
        cp_namespace = platform.config.namespace
        add = child_declarer(self, name, provider)
        add_chart = chart_declarer(self, name, provider)
        where = [platform.namespace]
        if obs.install and obs.namespace != cp_namespace:
            where = [add(namespace(obs.namespace, {**MANAGED_BY, "istio-injection": "disabled"}), [], protect=True)]
        control_planes = [m.namespace_name for m in config.meshes] if config.meshes else [cp_namespace]
        releases = addon_releases(config, control_planes)
        for addon, release in releases.items():
            # Kiali reads Istio's CRDs, Prometheus finds istiod: both after the control plane.
            add_chart(chart_arguments(addon_source(obs, addon), release), [*where, *platform.ready])
        for obj in [*mesh_tracing(obs, cp_namespace), *login_policy(obs, cp_namespace)]:
            add(obj, [*where, *platform.ready])
        for mesh in meshes:
            # Scoped by the mesh: each root namespace holds a `Telemetry` of the same name.
            add_to_mesh = child_declarer(self, f"{name}/{mesh.mesh.name}", provider)
            for obj in mesh_tracing(obs, mesh.config.namespace):
                add_to_mesh(obj, [mesh.namespace, *mesh.ready])
        for obj in grafana_ingress(obs, cp_namespace):
            add(obj, where)
        if obs.install:
            # What the tenants' RoleBindings (TenantMesh `access`) grant.
            add(mesh_viewer_role(), [])
            add(kiali_viewer_role(), [])
        self.register_outputs({})
