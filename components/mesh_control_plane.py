"""MeshControlPlane: one mesh of several: its namespace, its control planes (one per revision)
and tags as the install method deploys them, and mesh-wide STRICT mTLS. The first mesh is the
platform mesh: its ingress gateway serves the observability add-ons."""

from __future__ import annotations

from typing import Optional

import pulumi

from builders.control_plane import scraper_namespace
from builders.meshes import mesh_istiod_protection, mesh_mtls, mesh_namespace
from tenants.meshes import control_plane_of
from tenants.model import Mesh, Observability, TenantsFile

from .install_method import InstallMethod
from .kubernetes import child_declarer
from .platform_control_plane import PlatformControlPlane, add_observability


class MeshControlPlane(pulumi.ComponentResource):
    """`ready`: Istio's CRDs, every revision's istiod and the mesh's tags; its tenants' Istio objects wait for it.
    `scraper_namespace`: where the Prometheus that scrapes istiod runs (default: the mesh's namespace)."""

    def __init__(
        self,
        mesh: Mesh,
        *,
        observability: Optional[Observability],
        method: InstallMethod,
        scraper_namespace: Optional[str] = None,
        provider: pulumi.ProviderResource,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        # Named after the mesh: its position in the file changes nothing but which one is the platform's.
        super().__init__("istio-multitenancy:index:MeshControlPlane", mesh.name, None, opts)
        self.mesh = mesh
        self.config = control_plane_of(mesh)
        self.provider = provider
        self.method = method

        add = child_declarer(self, mesh.name, provider)

        # A mesh's namespace holds its control planes: `pulumi destroy` must be a deliberate act.
        self.namespace = add(mesh_namespace(mesh), [], protect=True)
        self.installation = method.install(self.config, self.namespace, revisioned=True)
        parts = method.mesh_control_planes(self, mesh.name, mesh, observability, [self.namespace, self.installation])
        self.ready = parts.ready
        add(mesh_mtls(mesh), [self.namespace, *self.ready])
        # Every install method runs the mesh's istiods here: the same NetworkPolicy in front of them.
        add(mesh_istiod_protection(mesh, scraper_namespace), [self.namespace])
        if observability is not None:
            add_observability(add, self.config, observability, self.namespace, parts)
        self.register_outputs({})


def control_planes(
    config: TenantsFile, method: InstallMethod, provider: pulumi.ProviderResource
) -> dict[Optional[str], pulumi.ComponentResource]:
    """The file's control planes by mesh name: each mesh's, or (key None) the one platform control plane."""
    if config.meshes is None:
        cp = config.control_plane
        platform = PlatformControlPlane(cp.name, config=cp, observability=config.observability, method=method, provider=provider)
        return {None: platform}
    # The platform mesh first: it installs what the cluster shares (Istio's CRDs, the CNI agent).
    return {
        mesh.name: MeshControlPlane(
            mesh,
            observability=config.observability if i == 0 else None,
            method=method,
            scraper_namespace=scraper_namespace(config.observability, mesh.namespace_name),
            provider=provider,
        )
        for i, mesh in enumerate(config.meshes)
    }
