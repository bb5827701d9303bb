"""TenantAdmission: the tenant rules the API server enforces, for every tenant of the file."""

from __future__ import annotations

from typing import Optional

import pulumi

from builders.admission import admission_objects, params_keeper
from tenants.model import TenantsFile

from .kubernetes import child_declarer


class TenantAdmission(pulumi.ComponentResource):
    """`params` is the per-tenant parameters ConfigMap: a tenant's namespace waits for it, so that
    the rules find the tenant's parameters from the namespace's first object on. `operator`: Istio is
    installed by the in-cluster operator, whose service account then acts for the platform."""

    def __init__(
        self,
        name: str,
        *,
        config: TenantsFile,
        namespace: pulumi.Resource,
        provider: pulumi.ProviderResource,
        operator: bool = False,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("istio-multitenancy:index:TenantAdmission", name, None, opts)
        add = child_declarer(self, name, provider)
        params, rules = admission_objects(config, operator)
        self.params = add(params, [namespace])
        for policy, binding in rules:
            declared = add(policy, [])
            add(binding, [declared, self.params])
        # Retained, like the tenant namespaces: it must outlive a destroy (builders.admission.params_keeper).
        keeper_policy, keeper_binding = params_keeper(config)
        add(keeper_binding, [add(keeper_policy, [], retain_on_delete=True)], retain_on_delete=True)
        self.register_outputs({})
