"""TenantMesh: everything one tenant gets in the mesh it belongs to."""

from __future__ import annotations

from typing import Optional

import pulumi

from builders.isolation import Sharing, tenant_isolation
from builders.tenant import gateway_operator, route_virtual_service, tenant_gateway, tenant_namespace
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
        admission: pulumi.Resource,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
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
        # After the admission parameters: the rules find the tenant's from the namespace's first object on.
        self.namespace = add(tenant_namespace(tenant), [admission], retain_on_delete=not tenant.decommission)
        # The gateway IstioOperator needs the operator (its CRD) and a running istiod.
        self.gateway_operator = add(gateway_operator(tenant, mesh.config), [self.namespace, mesh.operator, mesh.ready])
        # Created once the operator reports the gateway HEALTHY, so the selector finds its pods.
        self.gateway = add(tenant_gateway(tenant), [self.namespace, self.gateway_operator])
        for route in tenant.routes:
            add(route_virtual_service(tenant, route), [self.namespace, mesh.ready])
        isolation = tenant_isolation(tenant, mesh.config.namespace, sharing)
        # What protects the namespace stays with it: removing the tenant from the file leaves its
        # workloads in a retained namespace, which must not lose its policies, quota and limits.
        protect = not tenant.decommission
        for obj in isolation.istio:
            add(obj, [self.namespace, mesh.ready], retain_on_delete=protect)
        for obj in isolation.kubernetes:
            add(obj, [self.namespace], retain_on_delete=protect)
        for obj in isolation.access:
            add(obj, [self.namespace])
        self.register_outputs({})
