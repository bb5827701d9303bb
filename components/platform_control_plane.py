"""PlatformControlPlane: the mesh tenants join: its namespace, Istio's installation and control plane
(as the install method deploys them), mesh-wide mTLS and the observability ingress."""

from __future__ import annotations

from typing import Optional

import pulumi

from builders.control_plane import control_plane_namespace, mesh_wide_mtls, observability_objects
from tenants.model import ControlPlane, Observability

from .install_method import InstallMethod
from .kubernetes import child_declarer


class PlatformControlPlane(pulumi.ComponentResource):
    """`ready`: Istio's CRDs and a running istiod; every Istio object of the platform and the tenants waits for it."""

    def __init__(
        self,
        name: str,
        *,
        config: ControlPlane,
        observability: Observability,
        method: InstallMethod,
        provider: pulumi.ProviderResource,
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
        for obj in observability_objects(config, observability):
            # The observability Gateway selects the control plane's ingress gateway pods.
            after = [*self.ready, *parts.ingress] if obj["kind"] == "Gateway" else self.ready
            add(obj, [self.namespace, *after])
        self.register_outputs({})
