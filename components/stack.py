"""The whole program for one cluster, as a library function: what `__main__.py` registers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import pulumi

from builders.isolation import Sharing
from builders.outputs import stack_outputs
from tenants.meshes import placement
from tenants.model import InstallMethod
from tenants.shards import StackPart, stack_part
from tenants.stack import Settings

from .gateway_api_crds import GatewayApiCrds
from .installed_control_plane import installed_control_planes
from .mesh_control_plane import control_planes
from .observability_addons import ObservabilityAddons
from .tenant_admission import TenantAdmission
from .tenant_mesh import TenantMesh

# The provider's resource name in the stack's own program: keep it, or every object is replaced.
PROVIDER_NAME = "kubernetes"


@dataclass
class Stack:
    """What `build_stack` registered, for a program that adds its own resources or exports."""

    provider: pulumi.ProviderResource
    meshes: dict[Optional[str], pulumi.ComponentResource]  # by mesh name; None: the one platform control plane
    admission: Optional[TenantAdmission]  # None in a shard stack: the platform's holds it
    gateway_api: list[GatewayApiCrds]  # one, when a tenant uses the Gateway API
    tenants: dict[str, TenantMesh] = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)  # the stack outputs (docs/day-2.md), to pass to pulumi.export
    observability: Optional[ObservabilityAddons] = None  # the add-ons, when installed or logged into


def kubernetes_provider(
    context: Optional[str] = None, name: str = PROVIDER_NAME, qps: Optional[float] = None, burst: Optional[int] = None
) -> pulumi.ProviderResource:
    """The provider every resource uses. ConfigMaps are updated in place: the admission parameters
    change with every tenant added or renamed, and a replace would leave the policies' bindings
    without parameters in between. `qps`/`burst`: the client's rate limits (the stack's
    `kubeClientQps`/`kubeClientBurst`)."""
    import pulumi_kubernetes as k8s

    client = k8s.KubeClientSettingsArgs(qps=qps, burst=burst) if qps or burst else None
    return k8s.Provider(name, context=context, enable_config_map_mutable=True, kube_client_settings=client)


def build_stack(
    settings: Settings,
    *,
    provider: Optional[pulumi.ProviderResource] = None,
    context: Optional[str] = None,
    part: Optional[StackPart] = None,
) -> Stack:
    """Register the mesh for validated `settings` (tenants.stack.load_settings).

    `provider`: a kubernetes.Provider of your own (it must set `enable_config_map_mutable=True`);
    else one is made for the kubeconfig `context` (default: the stack's `kubeContext`, else the current one).
    `part`: what this stack holds of a sharded installation (tenants.shards.stack_part); default: everything."""
    from . import install_method  # the method table, in the package's __init__

    stack = settings.stack
    part = part or stack_part(settings)
    provider = provider or kubernetes_provider(context or stack.kube_context, qps=stack.kube_client_qps, burst=stack.kube_client_burst)
    method = install_method(settings.install, provider)
    config = settings.tenants
    admission, gateway_api, observability = None, [], None
    if part.platform:
        meshes = control_planes(config, method, provider)
        # The in-cluster tenant rules, for every tenant; their parameters live in the platform mesh's namespace.
        platform = next(iter(meshes.values()))
        # The Istio operator's service account is a platform identity on the operator path only.
        operator = stack.install_method == InstallMethod.OPERATOR
        admission = TenantAdmission("admission", config=config, namespace=platform.namespace, provider=provider, operator=operator)
        crds = settings.install.gateway_api.manifests
        gateway_api = [GatewayApiCrds("gateway-api", manifests=crds, provider=provider)] if crds else []
        # Prometheus, Grafana, Kiali, Jaeger and their login, beside the platform mesh (when installed or logged into).
        if config.observability.install or config.observability.oidc:
            others = list(meshes.values())[1:]
            observability = ObservabilityAddons("observability", config=config, platform=platform, meshes=others, provider=provider)
    else:
        # A shard's tenants: the platform's stack deployed all of the above before this one runs.
        meshes = installed_control_planes(config, method, provider)
    sharing = Sharing.of(config)
    tenants = {}
    for tenant in config.tenants:
        if not part.holds(tenant.name):
            continue
        place = placement(config, tenant)
        mesh = meshes[place.mesh.name if place.mesh else None]
        tenants[tenant.name] = TenantMesh(
            tenant, mesh=mesh, place=place, sharing=sharing, admission=[admission.params] if admission else [],
            gateway_api=gateway_api, observability=config.observability,
        )
    return Stack(provider, meshes, admission, gateway_api, tenants, stack_outputs(config), observability)
