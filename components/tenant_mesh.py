"""TenantMesh: everything one tenant gets in the mesh it belongs to."""

from __future__ import annotations

from typing import Optional, Sequence

import pulumi

from builders.gateway_api import gateway_api_route, kubernetes_gateway
from builders.isolation import Sharing, tenant_isolation
from builders.meshes import injection_labels, revision_labels
from builders.platform_network import scraper_namespace
from builders.telemetry import addons_egress, tenant_observability_access
from builders.tenant import route_virtual_service, tenant_gateway, tenant_namespace
from tenants.meshes import Placement
from tenants.model import Observability, Tenant

from .kubernetes import child_declarer


class TenantMesh(pulumi.ComponentResource):
    """Everything one tenant gets: its namespace (labelled for its mesh and revision), its own ingress
    gateway (deployed by the install method, or by Istio from a Gateway API Gateway), the Gateway and
    routes of its servers, and its isolation (mTLS, authorization, Sidecar, NetworkPolicies, quota,
    limits, admin access, certificates).

    Args:
        tenant: one tenant of a validated tenants file (`tenants.load_tenants` or `parse_tenants`:
            the rules across tenants, such as unique namespaces and hosts, are checked there).
        mesh: the control plane the tenant joins (a PlatformControlPlane or a mesh's control plane:
            its provider, install method, config and readiness).
        place: where the tenant runs (`tenants.meshes.Placement`: its mesh namespace and revision).
        sharing: `builders.isolation.Sharing.of(tenants_file)`: which services tenants share.
        opts: Pulumi options; the component is named after the tenant, with `previous_names` as aliases.

    Outputs (attributes): `namespace` (kept in the cluster when the tenant is removed unless it is
    marked `decommission`) and `gateway` (the tenant's Gateway object).
    """

    def __init__(
        self,
        tenant: Tenant,
        *,
        mesh: pulumi.ComponentResource,
        place: Placement,
        sharing: Sharing,
        admission: Sequence[pulumi.Resource] = (),
        gateway_api: Sequence[pulumi.Resource] = (),
        observability: Optional[Observability] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        """`admission`: what the namespace waits for (the admission parameters: the rules find the
        tenant's from the namespace's first object on); `gateway_api`: what a Gateway API tenant's
        objects wait for (the Gateway API's CRDs); `observability`: the file's add-ons (what Kiali
        needs of the tenant's admins, and the path of the tenant's traces to Jaeger)."""
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
        # Its labels choose the tenant's control plane: moving to another tag or revision is a label change.
        self.namespace = add(
            tenant_namespace(tenant, injection_labels(place)), list(admission), retain_on_delete=not tenant.decommission
        )
        # How the gateway is deployed is the install method's business; it runs once istiod does.
        after = [self.namespace, *mesh.ready]
        created: list[pulumi.Resource] = []
        if tenant.uses_gateway_api:
            # Istio deploys this gateway itself, from the Gateway: no chart, no IstioOperator.
            after += list(gateway_api)
            self.gateway = add(kubernetes_gateway(tenant, revision_labels(place)), after)
            created += [add(gateway_api_route(tenant, route), after) for route in tenant.routes]
        else:
            deployed = mesh.method.tenant_gateway(self, name, tenant, mesh.config, after, place.revision)
            # Created once the gateway is running, so the selector finds its pods.
            self.gateway = add(tenant_gateway(tenant), [*after, *deployed])
            created += [*deployed, *(add(route_virtual_service(tenant, route), after) for route in tenant.routes)]
        created.append(self.gateway)
        # Inside its own mesh: the Sidecar and NetworkPolicies name its mesh's control-plane namespace.
        scraper = scraper_namespace(observability, place.namespace) if observability is not None else None
        isolation = tenant_isolation(tenant, place.namespace, sharing, addons_egress(observability), scraper)
        # What protects the namespace stays with it: removing the tenant from the file leaves its
        # workloads in a retained namespace, which must not lose its policies, quota and limits.
        protect = not tenant.decommission
        created += [add(obj, [self.namespace, *mesh.ready], retain_on_delete=protect) for obj in isolation.istio]
        created += [add(obj, [self.namespace], retain_on_delete=protect) for obj in isolation.kubernetes]
        created += [add(obj, [self.namespace]) for obj in [*isolation.access, *tenant_observability_access(observability, tenant)]]
        add(isolation.quota, [self.namespace, *created], retain_on_delete=protect)
        self.register_outputs({})
