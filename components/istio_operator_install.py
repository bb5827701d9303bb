"""IstioOperatorInstall: the in-cluster Istio operator, as `istioctl operator init` installs it."""

from __future__ import annotations

from typing import Optional

import pulumi

from builders.operator import operator_objects

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
        self.register_outputs({})
