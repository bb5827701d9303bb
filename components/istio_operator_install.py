"""IstioOperatorInstall: the in-cluster Istio operator, as `istioctl operator init` installs it."""

from __future__ import annotations

from typing import Optional

import pulumi

from builders.operator import operator_objects

from .kubernetes import child_declarer


class IstioOperatorInstall(pulumi.ComponentResource):
    """Depend on this component to wait for the IstioOperator CRD and the operator itself."""

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
