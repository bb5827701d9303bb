"""SailOperatorInstall: the Sail operator (its Helm chart, with the sailoperator.io CRDs and
Istio's) and the CNI node agent; and SailMethod, which installs each control plane as an `Istio`
resource and every gateway from Istio's gateway chart, as the Helm path does (Sail deploys none)."""

from __future__ import annotations

from typing import Optional

import pulumi

from builders.helm_values import install_extension_providers
from builders.meta import MANAGED_BY, namespace
from builders.platform_network import default_deny
from builders.sail import (
    CNI_NAMESPACE, SAIL_OPERATOR_NAMESPACE, cni_resource, istio_resource, operator_chart_arguments, platform_istio, revision_tag,
)
from tenants.install import Installation
from tenants.model import ControlPlane, Mesh, Observability

from .install_method import ControlPlaneParts
from .istio_helm_install import HelmMethod
from .kubernetes import chart_declarer, child_declarer


class SailOperatorInstall(pulumi.ComponentResource):
    """Depend on this component to wait for the Sail operator, its CRDs and the CNI agent."""

    def __init__(self, name: str, *, install: Installation, provider: pulumi.ProviderResource, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("istio-multitenancy:index:SailOperatorInstall", name, None, opts)
        assert install.sail_chart is not None
        add = child_declarer(self, name, provider)
        add_chart = chart_declarer(self, name, provider)
        # The operator's namespace holds what installs every mesh: `pulumi destroy` must be deliberate.
        operator_namespace = add(namespace(SAIL_OPERATOR_NAMESPACE, dict(MANAGED_BY)), [], protect=True)
        self.operator = add_chart(operator_chart_arguments(install.sail_chart), [operator_namespace])
        # Sail installs components into namespaces that exist; the CNI agent's is the program's.
        cni_namespace = add(namespace(CNI_NAMESPACE, dict(MANAGED_BY)), [], protect=True)
        self.cni = add(cni_resource(install.istio_version), [cni_namespace, self.operator])
        # Nothing calls the operator, and the CNI agent runs on the host network: both namespaces admit no one.
        for ns, resource in ((SAIL_OPERATOR_NAMESPACE, operator_namespace), (CNI_NAMESPACE, cni_namespace)):
            child_declarer(self, f"{name}/{ns}", provider)(default_deny(ns, MANAGED_BY), [resource])
        self.register_outputs({})


class SailMethod(HelmMethod):
    """Istio from the Sail operator: an `Istio` per control plane, waited on until Ready; gateways as on Helm."""

    def __init__(self, install: Installation, provider: pulumi.ProviderResource):
        super().__init__(install, provider)
        self._sail: Optional[SailOperatorInstall] = None

    def install(self, config: ControlPlane, namespace: pulumi.Resource, revisioned: bool = False) -> SailOperatorInstall:
        if self._sail is None:
            self._sail = SailOperatorInstall("sail-operator", install=self.install_settings, provider=self.provider)
        return self._sail

    def control_plane(
        self, owner: pulumi.Resource, scope: str, config: ControlPlane, observability: Observability, after: list[pulumi.Resource]
    ) -> ControlPlaneParts:
        add = child_declarer(owner, scope, self.provider)
        add_chart = chart_declarer(owner, scope, self.provider)
        alpha = self.install_settings.gateway_api.alpha
        extensions = install_extension_providers(self.install_settings)
        istio = add(platform_istio(config, self.install_settings.istio_version, alpha, extensions), [*after, self._sail])
        ready = [self._sail, istio]
        return ControlPlaneParts(ready=ready, ingress=self._ingress(add_chart, config, observability, [*after, *ready]))

    def mesh_control_planes(
        self, owner: pulumi.Resource, scope: str, mesh: Mesh, observability: Optional[Observability], after: list[pulumi.Resource]
    ) -> ControlPlaneParts:
        add = child_declarer(owner, scope, self.provider)
        version = self.install_settings.istio_version
        alpha = self.install_settings.gateway_api.alpha
        extensions = install_extension_providers(self.install_settings)
        istios = {
            r.name: add(istio_resource(mesh, r, r.version or version, alpha, extensions), [*after, self._sail]) for r in mesh.revision_list
        }
        # Tags keep their names wherever they point: moving one updates its target in place.
        tags = [add(revision_tag(mesh, tag, target), [*after, istios[target]]) for tag, target in sorted(mesh.tags.items())]
        ready = [self._sail, *istios.values(), *tags]
        add_chart = chart_declarer(owner, scope, self.provider)
        return ControlPlaneParts(ready=ready, ingress=self._mesh_ingress(add_chart, mesh, observability, [*after, *ready]))
