"""TenantMesh: everything one tenant gets in the mesh it belongs to."""

from __future__ import annotations

from typing import Optional, Sequence

import pulumi

from builders.gateway_api import gateway_api_route, kubernetes_gateway
from builders.isolation import Sharing, tenant_isolation
from builders.tenant import route_virtual_service, tenant_gateway, tenant_namespace
from tenants.model import Tenant

from .kubernetes import child_declarer
from .platform_control_plane import PlatformControlPlane


class TenantMesh(pulumi.ComponentResource):
    def __init__(
        self,
        tenant: Tenant,
        *,
        mesh: PlatformControlPlane,
        sharing: Sharing,
        gateway_api: Sequence[pulumi.Resource] = (),
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        """`gateway_api`: what a Gateway API tenant's objects wait for (the Gateway API's CRDs)."""
        # Named after the tenant, never its position in the file: reordering changes nothing.
        # A rename keeps every resource through aliases: children's names start with the
        # tenant's name, so Pulumi derives their aliases from the component's.
        name = tenant.name
        renames = pulumi.ResourceOptions(aliases=[pulumi.Alias(name=old) for old in tenant.previous_names])
        super().__init__("istio-multitenancy:index:TenantMesh", name, None, pulumi.ResourceOptions.merge(renames, opts))
        provider = mesh.provider

        add = child_declarer(self, name, provider)

        # Deleting a namespace deletes the tenant's workloads: removing a tenant from the file
        # leaves its namespace in the cluster unless the tenant was marked for decommissioning.
        self.namespace = add(tenant_namespace(tenant), [], retain_on_delete=not tenant.decommission)
        # How the gateway is deployed is the install method's business; it runs once istiod does.
        after = [self.namespace, *mesh.ready]
        if tenant.uses_gateway_api:
            # Istio deploys this gateway itself, from the Gateway: no chart, no IstioOperator.
            after += list(gateway_api)
            self.gateway = add(kubernetes_gateway(tenant), after)
            for route in tenant.routes:
                add(gateway_api_route(tenant, route), after)
        else:
            deployed = mesh.method.tenant_gateway(self, name, tenant, mesh.config, after)
            # Created once the gateway is running, so the selector finds its pods.
            self.gateway = add(tenant_gateway(tenant), [*after, *deployed])
            for route in tenant.routes:
                add(route_virtual_service(tenant, route), after)
        isolation = tenant_isolation(tenant, mesh.config.namespace, sharing)
        for obj in isolation.istio:
            add(obj, [self.namespace, *mesh.ready])
        for obj in isolation.kubernetes:
            add(obj, [self.namespace])
        self.register_outputs({})
