"""IstioHelmInstall: Istio's cluster-wide charts (`base`: the CRDs; `cni`: the node agent); and
HelmMethod, the install method that deploys istiod and every gateway from Istio's Helm charts."""

from __future__ import annotations

from typing import Optional

import pulumi

from builders.helm_values import (
    base_release, chart_arguments, cni_release, control_plane_gateway_release, istiod_release, tenant_gateway_release,
)
from tenants.install import Installation
from tenants.model import ControlPlane, Observability, Tenant

from .install_method import ControlPlaneParts
from .kubernetes import chart_declarer


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
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("istio-multitenancy:index:IstioHelmInstall", name, None, opts)
        assert install.charts is not None
        add_chart = chart_declarer(self, name, provider)
        # Both put objects in the control-plane namespace (base: its reader ServiceAccount).
        self.base = add_chart(chart_arguments(install.charts, base_release(config, install)), [namespace])
        self.cni = add_chart(chart_arguments(install.charts, cni_release(config, install)), [namespace])
        self.register_outputs({})


class HelmMethod:
    """Current Istio from its Helm charts (`kubernetes.helm.v4.Chart`: every object a resource of its own)."""

    def __init__(self, install: Installation, provider: pulumi.ProviderResource):
        assert install.charts is not None, "the Helm install needs a chart source"
        self.install_settings = install
        self.charts = install.charts
        self.provider = provider
        self._installation: Optional[IstioHelmInstall] = None

    def install(self, config: ControlPlane, namespace: pulumi.Resource) -> IstioHelmInstall:
        if self._installation is None:
            self._installation = IstioHelmInstall(
                "istio", install=self.install_settings, config=config, namespace=namespace, provider=self.provider
            )
        return self._installation

    def control_plane(
        self, owner: pulumi.Resource, scope: str, config: ControlPlane, observability: Observability, after: list[pulumi.Resource]
    ) -> ControlPlaneParts:
        add_chart = chart_declarer(owner, scope, self.provider)
        istiod = add_chart(chart_arguments(self.charts, istiod_release(config, self.install_settings)), after)
        ready = [self._installation, istiod]
        # Gateway pods are injected by istiod's webhook: it must be serving first.
        ingress = add_chart(chart_arguments(self.charts, control_plane_gateway_release(config, observability)), [*after, *ready])
        return ControlPlaneParts(ready=ready, ingress=[ingress])

    def tenant_gateway(
        self, owner: pulumi.Resource, scope: str, tenant: Tenant, config: ControlPlane, after: list[pulumi.Resource]
    ) -> list[pulumi.Resource]:
        add_chart = chart_declarer(owner, scope, self.provider)
        return [add_chart(chart_arguments(self.charts, tenant_gateway_release(tenant, config)), after)]
