"""PlatformControlPlane: the mesh tenants join: its namespace, IstioOperator and observability ingress."""

from __future__ import annotations

from typing import Optional

import pulumi

from builders.control_plane import (
    control_plane_namespace,
    control_plane_operator,
    istiod_protection,
    mesh_wide_mtls,
    observability_objects,
)
from tenants.model import ControlPlane, Observability

from .kubernetes import child_declarer


class PlatformControlPlane(pulumi.ComponentResource):
    """`ready` is the control plane's IstioOperator: Istio's CRDs and istiod exist once it is HEALTHY."""

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
        add(istiod_protection(config, observability), [self.namespace])
        for obj in observability_objects(config, observability):
            add(obj, [self.namespace, self.ready])
        self.register_outputs({})
