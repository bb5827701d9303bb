"""InstalledControlPlane: a control plane another stack deployed, as a shard's tenants see it.

In a sharded installation (tenants/shards.py) the platform's stack deploys Istio, the control
planes and admission; `python -m deploy` runs it to completion before any shard, so a shard's
tenants have nothing of it to wait for: they need only its settings, its install method (which
deploys their gateways) and the provider.
"""

from __future__ import annotations

from typing import Optional

import pulumi

from tenants.meshes import control_plane_of
from tenants.model import ControlPlane, TenantsFile

from .install_method import InstallMethod


class InstalledControlPlane:
    """What TenantMesh asks of its `mesh`: `provider`, `method`, `config`, and `ready` (empty: deployed)."""

    def __init__(self, config: ControlPlane, method: InstallMethod, provider: pulumi.ProviderResource):
        self.config = config
        self.method = method
        self.provider = provider
        self.ready: list[pulumi.Resource] = []


def installed_control_planes(
    config: TenantsFile, method: InstallMethod, provider: pulumi.ProviderResource
) -> dict[Optional[str], InstalledControlPlane]:
    """The file's control planes by mesh name (key None: the platform's), as `control_planes` keys them."""
    if config.meshes is None:
        return {None: InstalledControlPlane(config.control_plane, method, provider)}
    return {mesh.name: InstalledControlPlane(control_plane_of(mesh), method, provider) for mesh in config.meshes}
