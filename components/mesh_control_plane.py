"""MeshControlPlane: one mesh of several: its namespace, its control planes (one per revision)
and tags as the install method deploys them, and mesh-wide STRICT mTLS. The first mesh is the
platform mesh: its ingress gateway serves the observability add-ons."""

from __future__ import annotations

from typing import Optional

import pulumi

from builders.control_plane import observability_servers
from builders.meshes import mesh_mtls, mesh_namespace, mesh_labels
from builders.meta import MANAGED_BY
from builders.platform_network import control_plane_network, gateway_pod_ports
from tenants.meshes import control_plane_of, revisioned
from tenants.model import ControlPlane, Mesh, Observability, TenantsFile

from .install_method import InstallMethod
from .kubernetes import child_declarer
from .platform_control_plane import PlatformControlPlane, add_observability, add_platform_network


class MeshControlPlane(pulumi.ComponentResource):
    """`ready`: Istio's CRDs, every revision's istiod and the mesh's tags; its tenants' Istio objects wait for it.
    `tenants`: the whole file (the scraper's namespace, which platform namespaces to protect)."""

    def __init__(
        self,
        mesh: Mesh,
        *,
        observability: Optional[Observability],
        method: InstallMethod,
        tenants: TenantsFile,
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
        self.installation = method.install(self.config, self.namespace, revisioned=revisioned(mesh))
        parts = method.mesh_control_planes(self, mesh.name, mesh, observability, [self.namespace, self.installation])
        self.ready = parts.ready
        add(mesh_mtls(mesh), [self.namespace, *self.ready])
        # Every install method runs the mesh's istiods here: the same NetworkPolicies in front of
        # them; the platform mesh's also protect its gateway and the namespaces the file names.
        ports = gateway_pod_ports(observability_servers(observability), method.gateway_target_ports) if observability else []
        network = control_plane_network(tenants, mesh, mesh.namespace_name, ports, platform=observability is not None)
        add_platform_network(self, mesh.name, provider, network, mesh.namespace_name, self.namespace, {**MANAGED_BY, **mesh_labels(mesh)})
        if observability is not None:
            add_observability(add, self.config, observability, self.namespace, parts)
        self.register_outputs({})


def control_planes(
    config: TenantsFile, method: InstallMethod, provider: pulumi.ProviderResource
) -> dict[Optional[str], pulumi.ComponentResource]:
    """The file's control planes by mesh name: each mesh's, or (key None) the one platform control plane."""
    if config.meshes is None:
        cp = config.control_plane
        platform = PlatformControlPlane(
            cp.name, config=cp, observability=config.observability, method=method, provider=provider, tenants=config
        )
        return {None: platform}
    # The platform mesh first: it installs what the cluster shares (Istio's CRDs, the CNI agent).
    return {
        mesh.name: MeshControlPlane(
            mesh,
            observability=config.observability if i == 0 else None,
            method=method,
            tenants=config,
            provider=provider,
            opts=pulumi.ResourceOptions(aliases=_former_names(mesh, platform=i == 0)),
        )
        for i, mesh in enumerate(config.meshes)
    }


def _former_names(mesh: Mesh, platform: bool) -> list[pulumi.Alias]:
    """The mesh under its `previousNames`; and the platform mesh as the former single control plane,
    for a stack that moves to `meshes:` (the controlPlane's default name, or one of `previousNames`).
    Children (named `<component>/<object>`) inherit the aliases, so the namespace, istiod, the ingress
    gateway and everything else of the same name and kind stay the same resources instead of being
    deleted and created again (the protected namespace could not be)."""
    aliases = [pulumi.Alias(name=old) for old in mesh.previous_names]
    if platform:
        former = dict.fromkeys([ControlPlane().name, *mesh.previous_names])
        aliases += [pulumi.Alias(type_="istio-multitenancy:index:PlatformControlPlane", name=name) for name in former]
    return aliases
