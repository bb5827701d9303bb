"""GatewayApiCrds: the Gateway API's CustomResourceDefinitions, once per cluster, before any
Gateway API object (the file's `gateway.api: gateway-api` tenants).

They come from the Gateway API's own release (Istio's `base` chart ships Istio's CRDs only), read
by the provider from the stack's `gatewayApiCrds` (and `gatewayApiTcpRouteCrd`): an https:// URL
by default, or a local file or directory for air-gapped clusters.
"""

from __future__ import annotations

from typing import Optional, Sequence

import pulumi


def retain(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult:
    """Keep every CRD in the cluster when it leaves the program: deleting a CRD deletes every
    object of its kind, in every namespace, whoever made them."""
    return pulumi.ResourceTransformResult(
        props=args.props, opts=pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(retain_on_delete=True))
    )


class GatewayApiCrds(pulumi.ComponentResource):
    """Depend on this component to wait for the Gateway API's CRDs."""

    def __init__(
        self,
        name: str,
        *,
        manifests: Sequence[str],
        provider: pulumi.ProviderResource,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("istio-multitenancy:index:GatewayApiCrds", name, None, opts)
        from pulumi_kubernetes.yaml.v2 import ConfigGroup

        # A remote component, which the provider expands: its registration completes once every
        # CRD in it is established. The transform reaches those children too.
        self.crds = ConfigGroup(
            name, files=list(manifests), opts=pulumi.ResourceOptions(parent=self, provider=provider, transforms=[retain])
        )
        self.register_outputs({})
