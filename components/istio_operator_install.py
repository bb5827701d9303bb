"""IstioOperatorInstall: the in-cluster Istio operator, as `istioctl operator init` installs it;
and OperatorMethod, the install method that has it reconcile `IstioOperator`s."""

from __future__ import annotations

from typing import Optional

import pulumi

from builders.control_plane import control_plane_operator
from builders.helm_values import install_extension_providers
from builders.operator import operator_objects
from builders.meta import MANAGED_BY
from builders.platform_network import OPERATOR_GATEWAY_TARGET_PORTS, default_deny
from builders.tenant import gateway_operator
from tenants.install import Installation
from tenants.model import ControlPlane, Observability, Tenant

from .install_method import ControlPlaneParts
from .kubernetes import child_declarer


class IstioOperatorInstall(pulumi.ComponentResource):
    """The in-cluster Istio operator; depend on this component to wait for its CRD and the operator itself.

    Args:
        name: the component's Pulumi name; its children are named `<name>/<object name>`.
        version: the Istio version X.Y.Z of the operator image (1.22 or 1.23: later Istio has no operator).
        watched_namespaces: the namespaces whose IstioOperator resources the operator reconciles
            (the control plane's namespace).
        provider: the Kubernetes provider (cluster) to install into.

    Outputs (attributes): `namespace` (the operator's Namespace, protected), `crd` (the
    IstioOperator CustomResourceDefinition), `deployment` (the operator's Deployment).
    """

    def __init__(
        self,
        name: str,
        *,
        version: str,
        watched_namespaces: list[str],
        provider: pulumi.ProviderResource,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("istio-multitenancy:index:IstioOperatorInstall", name, None, opts)

        add = child_declarer(self, name, provider)

        namespace, crd, account, role, binding, deployment, service = operator_objects(version, watched_namespaces)
        self.namespace = add(namespace, [], protect=True)
        self.crd = add(crd, [])
        account_res = add(account, [self.namespace])
        role_res = add(role, [])
        binding_res = add(binding, [account_res, role_res])
        # The operator starts only once its CRD, its namespace and its permissions exist.
        self.deployment = add(deployment, [self.namespace, self.crd, account_res, binding_res])
        add(service, [self.namespace])
        # Nothing calls the operator (its metrics listen on localhost): the namespace admits no one.
        add(default_deny(namespace["metadata"]["name"], MANAGED_BY), [self.namespace])
        self.register_outputs({})


class OperatorMethod:
    """Istio 1.22-1.23 through the in-cluster operator: one `IstioOperator` for the control plane,
    one per tenant gateway, each waited on until the operator reports it HEALTHY."""

    # The profiles' ingress gateway Service maps 80 and 443 to these pod ports.
    gateway_target_ports: Optional[tuple[int, ...]] = OPERATOR_GATEWAY_TARGET_PORTS

    def __init__(self, install: Installation, provider: pulumi.ProviderResource):
        self.version = install.istio_version
        self.install_settings = install
        self.provider = provider
        self._installation: Optional[IstioOperatorInstall] = None

    def install(self, config: ControlPlane, namespace: pulumi.Resource, revisioned: bool = False) -> IstioOperatorInstall:
        # The operator runs in a namespace of its own and watches the control plane's by name:
        # it needs nothing of `namespace` to start.
        if self._installation is None:
            self._installation = IstioOperatorInstall(
                "istio-operator", version=self.version, watched_namespaces=[config.namespace], provider=self.provider
            )
        return self._installation

    def control_plane(
        self, owner: pulumi.Resource, scope: str, config: ControlPlane, observability: Observability, after: list[pulumi.Resource]
    ) -> ControlPlaneParts:
        add = child_declarer(owner, scope, self.provider)
        # Istio's CRDs, istiod and the demo profile's ingress gateway exist once it is HEALTHY.
        operator = add(control_plane_operator(config, install_extension_providers(self.install_settings)), [*after, self._installation])
        return ControlPlaneParts(ready=[operator], ingress=[operator])

    def mesh_control_planes(self, owner, scope, mesh, observability, after) -> ControlPlaneParts:
        # The stack settings refuse `meshes:` with this method (tenants/install.py): never reached.
        raise NotImplementedError("installMethod: operator installs no meshes; use helm or sail")

    def tenant_gateway(
        self,
        owner: pulumi.Resource,
        scope: str,
        tenant: Tenant,
        config: ControlPlane,
        after: list[pulumi.Resource],
        revision: Optional[str] = None,
    ) -> list[pulumi.Resource]:
        add = child_declarer(owner, scope, self.provider)
        # The gateway IstioOperator needs the operator (its CRD) and a running istiod.
        # In a shard's stack the platform's stack installed the operator: nothing here to wait for.
        installed = [self._installation] if self._installation is not None else []
        return [add(gateway_operator(tenant, config), [*after, *installed])]
