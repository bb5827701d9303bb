"""PlatformControlPlane: the mesh tenants join: its namespace, IstioOperator and observability ingress."""

from __future__ import annotations

from typing import Optional

import pulumi

from builders.control_plane import control_plane_namespace, control_plane_operator, mesh_wide_mtls, observability_objects
from tenants.model import ControlPlane, Observability

from .kubernetes import child_declarer


class PlatformControlPlane(pulumi.ComponentResource):
    """The mesh the tenants join: the control plane's namespace, its IstioOperator (istiod and the
    platform's ingress gateway), mesh-wide strict mTLS and the observability add-ons' routes.

    Args:
        name: the component's Pulumi name (the main program uses `config.name`).
        config: the tenants file's `control_plane` (tenants.model.ControlPlane).
        observability: the tenants file's `observability` (which add-ons get a route, on which domain).
        operator: what installs Istio (an IstioOperatorInstall): the IstioOperator waits for it.
        provider: the Kubernetes provider (cluster); tenants use the same one.

    Outputs (attributes): `namespace` (protected), `ready` (the control plane's IstioOperator:
    Istio's CRDs and istiod exist once it is HEALTHY), and `config`, `provider`, `operator` as given.
    """

    def __init__(
        self,
        name: str,
        *,
        config: ControlPlane,
        observability: Observability,
        operator: pulumi.Resource,
        provider: pulumi.ProviderResource,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("istio-multitenancy:index:PlatformControlPlane", name, None, opts)
        self.config = config
        self.provider = provider
        self.operator = operator

        add = child_declarer(self, name, provider)

        # Platform namespaces hold the mesh itself: `pulumi destroy` must be a deliberate act.
        self.namespace = add(control_plane_namespace(config), [], protect=True)
        self.ready = add(control_plane_operator(config), [self.namespace, operator])
        add(mesh_wide_mtls(config), [self.namespace, self.ready])
        for obj in observability_objects(config, observability):
            add(obj, [self.namespace, self.ready])
        self.register_outputs({})
