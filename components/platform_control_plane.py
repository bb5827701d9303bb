"""PlatformControlPlane: the mesh tenants join: its namespace, Istio's installation and control plane
(as the install method deploys them), mesh-wide mTLS and the observability ingress."""

from __future__ import annotations

from typing import Optional

import pulumi

from builders.control_plane import control_plane_namespace, mesh_wide_mtls, observability_objects, observability_servers
from builders.platform_network import PlatformNetwork, control_plane_network, gateway_pod_ports
from tenants.model import ControlPlane, Observability, TenantsFile

from .install_method import ControlPlaneParts, InstallMethod
from .kubernetes import child_declarer


class PlatformControlPlane(pulumi.ComponentResource):
    """The platform mesh the tenants join: the control plane's namespace, Istio's installation and
    control plane as the install method deploys them (istiod and the platform's ingress gateway),
    mesh-wide strict mTLS and the observability add-ons' routes.

    Args:
        name: the component's Pulumi name (the main program uses `config.name`).
        config: the tenants file's `control_plane` (tenants.model.ControlPlane).
        observability: the tenants file's `observability` (which add-ons get a route, on which domain).
        method: the install method (components.install_method: Helm, operator or Sail).
        provider: the Kubernetes provider (cluster); tenants use the same one.
        tenants: the whole tenants file, for the platform namespaces' NetworkPolicies (which
            namespaces the program may protect, the scraper); default: one with this control plane.

    Outputs (attributes): `namespace` (protected), `installation`, and `ready`: Istio's CRDs and a
    running istiod; every Istio object of the platform and the tenants waits for it.
    """

    def __init__(
        self,
        name: str,
        *,
        config: ControlPlane,
        observability: Observability,
        method: InstallMethod,
        provider: pulumi.ProviderResource,
        tenants: Optional[TenantsFile] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("istio-multitenancy:index:PlatformControlPlane", name, None, opts)
        self.config = config
        self.provider = provider
        self.method = method

        add = child_declarer(self, name, provider)

        # Platform namespaces hold the mesh itself: `pulumi destroy` must be a deliberate act.
        self.namespace = add(control_plane_namespace(config), [], protect=True)
        self.installation = method.install(config, self.namespace)
        parts = method.control_plane(self, name, config, observability, [self.namespace, self.installation])
        self.ready = parts.ready
        add(mesh_wide_mtls(config), [self.namespace, *self.ready])
        # Every install path runs istiod here: the same NetworkPolicies in front of it, and of
        # the platform namespaces the file lets the program protect.
        tenants = tenants or TenantsFile(control_plane=config, observability=observability)
        ports = gateway_pod_ports(observability_servers(observability), method.gateway_target_ports)
        network = control_plane_network(tenants, None, config.namespace, ports)
        add_platform_network(self, name, provider, network, config.namespace, self.namespace)
        add_observability(add, config, observability, self.namespace, parts)
        self.register_outputs({})


def add_observability(add, config: ControlPlane, observability: Observability, namespace: pulumi.Resource, parts: ControlPlaneParts) -> None:
    """The observability Gateway and routes, on the control plane's ingress gateway."""
    for obj in observability_objects(config, observability):
        # The observability Gateway selects the control plane's ingress gateway pods.
        after = [*parts.ready, *parts.ingress] if obj["kind"] == "Gateway" else parts.ready
        add(obj, [namespace, *after])


def add_platform_network(
    owner: pulumi.Resource,
    scope: str,
    provider: pulumi.ProviderResource,
    network: PlatformNetwork,
    own: str,
    namespace: pulumi.Resource,
    labels: Optional[dict[str, str]] = None,
) -> None:
    """The default denies and openings: those of the component's own namespace named `<scope>/<name>`
    (istiod-ingress keeps its name), the others' `<scope>/<namespace>/<name>` (each namespace has a
    `default-deny-ingress`)."""
    declarers = {}
    for obj in network.objects(labels) if labels else network.objects():
        ns = obj["metadata"]["namespace"]
        if ns not in declarers:
            declarers[ns] = child_declarer(owner, scope if ns == own else f"{scope}/{ns}", provider)
        declarers[ns](obj, [namespace] if ns == own else [])
