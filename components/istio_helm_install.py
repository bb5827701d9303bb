"""IstioHelmInstall: Istio's cluster-wide charts (`base`: the CRDs; `cni`: the node agent); and
HelmMethod, the install method that deploys istiod and every gateway from Istio's Helm charts."""

from __future__ import annotations

from typing import Optional

import pulumi

from builders import meshes
from builders.helm_values import (
    base_release, chart_arguments, cni_release, control_plane_gateway_release, istiod_release, tenant_gateway_release,
)
from tenants.install import Installation
from tenants.meshes import control_plane_of, default_revision, is_default_revision
from tenants.model import ControlPlane, Mesh, Observability, Tenant

from .install_method import ControlPlaneParts
from .kubernetes import chart_declarer, child_declarer


class IstioHelmInstall(pulumi.ComponentResource):
    """Depend on this component to wait for Istio's CRDs and the CNI node agent on every node."""

    def __init__(
        self,
        name: str,
        *,
        install: Installation,
        config: ControlPlane,
        namespace: pulumi.Resource,
        provider: pulumi.ProviderResource,
        revisioned: bool = False,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("istio-multitenancy:index:IstioHelmInstall", name, None, opts)
        assert install.charts is not None
        add_chart = chart_declarer(self, name, provider)
        # Both put objects in the control-plane namespace (base: its reader ServiceAccount).
        self.base = add_chart(chart_arguments(install.charts, base_release(config, install, revisioned)), [namespace])
        self.cni = add_chart(chart_arguments(install.charts, cni_release(config, install)), [namespace])
        self.register_outputs({})


class HelmMethod:
    """Current Istio from its Helm charts (`kubernetes.helm.v4.Chart`: every object a resource of its own)."""

    # The platform gateway's Service targets each server port at itself (helm_values.control_plane_gateway_service).
    gateway_target_ports: Optional[tuple[int, ...]] = None

    def __init__(self, install: Installation, provider: pulumi.ProviderResource):
        assert install.charts is not None, "the Helm install needs a chart source"
        self.install_settings = install
        self.charts = install.charts
        self.provider = provider
        self._installation: Optional[IstioHelmInstall] = None

    def install(self, config: ControlPlane, namespace: pulumi.Resource, revisioned: bool = False) -> IstioHelmInstall:
        if self._installation is None:
            self._installation = IstioHelmInstall(
                "istio", install=self.install_settings, config=config, namespace=namespace, provider=self.provider,
                revisioned=revisioned,
            )
        return self._installation

    def control_plane(
        self, owner: pulumi.Resource, scope: str, config: ControlPlane, observability: Observability, after: list[pulumi.Resource]
    ) -> ControlPlaneParts:
        add_chart = chart_declarer(owner, scope, self.provider)
        istiod = add_chart(chart_arguments(self.charts, istiod_release(config, self.install_settings)), after)
        ready = [self._installation, istiod]
        return ControlPlaneParts(ready=ready, ingress=self._ingress(add_chart, config, observability, [*after, *ready]))

    def mesh_control_planes(
        self, owner: pulumi.Resource, scope: str, mesh: Mesh, observability: Optional[Observability], after: list[pulumi.Resource]
    ) -> ControlPlaneParts:
        add_chart = chart_declarer(owner, scope, self.provider)
        add = child_declarer(owner, scope, self.provider)
        # One istiod release per revision, from the charts of its own version.
        istiods = {}
        for revision in mesh.revision_list:
            charts = meshes.revision_install(self.install_settings, revision).charts
            release = meshes.istiod_release(mesh, revision, self.install_settings)
            istiods[revision.name] = add_chart(chart_arguments(charts, release), [*after, self._installation])
        # A tag's objects keep their names wherever it points: moving it updates them in place.
        tags = [
            add(obj, [*after, istiods[mesh.tags[tag]]])
            for tag, objs in meshes.revision_tag_objects(mesh).items()
            for obj in objs
        ]
        ready = [self._installation, *istiods.values(), *tags]
        return ControlPlaneParts(ready=ready, ingress=self._mesh_ingress(add_chart, mesh, observability, [*after, *ready]))

    def _ingress(
        self, add_chart, config: ControlPlane, observability: Optional[Observability], after: list, revision: Optional[str] = None
    ) -> list[pulumi.Resource]:
        """The control plane's ingress gateway (the observability add-ons); `after` includes istiod,
        whose webhook injects the gateway's pods."""
        if observability is None:
            return []
        return [add_chart(chart_arguments(self.charts, control_plane_gateway_release(config, observability, revision)), after)]

    def _mesh_ingress(self, add_chart, mesh: Mesh, observability: Optional[Observability], after: list) -> list[pulumi.Resource]:
        """The platform mesh's ingress gateway, on the mesh's default revision (none: on Istio's `default`)."""
        revision = default_revision(mesh) or mesh.revision_list[0].name
        return self._ingress(add_chart, control_plane_of(mesh), observability, after, None if is_default_revision(revision) else revision)

    def tenant_gateway(
        self,
        owner: pulumi.Resource,
        scope: str,
        tenant: Tenant,
        config: ControlPlane,
        after: list[pulumi.Resource],
        revision: Optional[str] = None,
    ) -> list[pulumi.Resource]:
        add_chart = chart_declarer(owner, scope, self.provider)
        return [add_chart(chart_arguments(self.charts, tenant_gateway_release(tenant, config, revision)), after)]
