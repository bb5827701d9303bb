"""The install method: how Istio itself gets into the cluster, and the one thing the components ask of it.

PlatformControlPlane and TenantMesh decide *what* the platform and each tenant get (namespaces,
`Gateway`s, routes, isolation); the install method only decides *how* Istio is installed: the
cluster-wide installation, istiod with the control plane's ingress gateway, and each tenant's
gateway deployment. Each method lives beside its installation component
(`istio_operator_install.py`, `istio_helm_install.py`).
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Protocol

import pulumi

from tenants.model import ControlPlane, Mesh, Observability, Tenant


class ControlPlaneParts(NamedTuple):
    ready: list[pulumi.Resource]  # Istio's CRDs and a running istiod: every Istio object waits for these
    ingress: list[pulumi.Resource]  # the control plane's ingress gateway, running: its `Gateway` waits for these


class InstallMethod(Protocol):
    def install(self, config: ControlPlane, namespace: pulumi.Resource, revisioned: bool = False) -> pulumi.Resource:
        """The cluster-wide installation (a component of its own, registered on the first call),
        for the control plane `config` whose namespace is `namespace`; `revisioned`: every control
        plane has a revision (several meshes), none is the cluster's default."""
        ...

    def control_plane(
        self, owner: pulumi.Resource, scope: str, config: ControlPlane, observability: Observability, after: list[pulumi.Resource]
    ) -> ControlPlaneParts:
        """istiod and the control plane's ingress gateway, as children of `owner` named `<scope>/...`."""
        ...

    def mesh_control_planes(
        self, owner: pulumi.Resource, scope: str, mesh: Mesh, observability: Optional[Observability], after: list[pulumi.Resource]
    ) -> ControlPlaneParts:
        """Each revision of `mesh` and its tags, as children of `owner`; with `observability` (the
        platform mesh), the ingress gateway that serves the add-ons too."""
        ...

    def tenant_gateway(
        self,
        owner: pulumi.Resource,
        scope: str,
        tenant: Tenant,
        config: ControlPlane,
        after: list[pulumi.Resource],
        revision: Optional[str] = None,
    ) -> list[pulumi.Resource]:
        """The tenant's gateway deployment, as children of `owner`, on `revision` (a tag or revision
        of the tenant's mesh) when it has one; returns what its `Gateway` waits for."""
        ...
