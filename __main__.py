"""istio-multitenancy: Istio (from its Helm charts, or the operator), a platform control plane, and one isolated mesh slice per tenant."""

from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
from pulumi.runtime.config import CONFIG, get_config_env

from components import GatewayApiCrds, TenantAdmission, TenantMesh, control_planes, install_method
from components.installed_control_plane import installed_control_planes
from components.kubernetes import collect_young_garbage_only
from builders.isolation import Sharing
from builders.outputs import stack_outputs
from tenants import ConfigError
from tenants.meshes import placement
from tenants.shards import shard_digest, stack_part
from tenants.stack import load_settings, project_values

# Every key of the project, not only the known ones, so that a misspelt key is an error. Pulumi
# hands a program its config in PULUMI_CONFIG; the mock engine sets it in CONFIG.
config = project_values({**get_config_env(), **CONFIG.get()})
try:
    settings = load_settings(pulumi.get_stack(), config, Path(__file__).parent)
    # One stack holds everything, or (tenants/shards.py) the platform or one shard of tenants.
    part = stack_part(settings)
except ConfigError as err:
    # A user's mistake: Pulumi prints the message, not a stack trace, and nothing is registered.
    raise pulumi.RunError(str(err)) from None

collect_young_garbage_only()
# ConfigMaps updated in place: the admission parameters change with every tenant added or renamed,
# and a replace would leave the policies' bindings without parameters in between.
provider = k8s.Provider(
    "kubernetes", context=settings.stack.kube_context, enable_config_map_mutable=True,
    kube_client_settings=k8s.KubeClientSettingsArgs(qps=settings.stack.kube_client_qps, burst=settings.stack.kube_client_burst),
)
method = install_method(settings.install, provider)
admission, gateway_api = [], []
if part.platform:
    # The platform control plane, or one per mesh of the tenants file.
    meshes = control_planes(settings.tenants, method, provider)
    # The in-cluster tenant rules, for every tenant; their parameters live in the platform mesh's namespace.
    platform = next(iter(meshes.values()))
    admission = [TenantAdmission("admission", config=settings.tenants, namespace=platform.namespace, provider=provider).params]
    crds = settings.install.gateway_api.manifests
    gateway_api = [GatewayApiCrds("gateway-api", manifests=crds, provider=provider)] if crds else []
else:
    # A shard's tenants: the platform's stack deployed all of the above before this one runs.
    meshes = installed_control_planes(settings.tenants, method, provider)
sharing = Sharing.of(settings.tenants)
for tenant in settings.tenants.tenants:
    if part.holds(tenant.name):
        place = placement(settings.tenants, tenant)
        mesh = meshes[place.mesh.name if place.mesh else None]
        TenantMesh(tenant, mesh=mesh, place=place, sharing=sharing, admission=admission, gateway_api=gateway_api)

for key, value in stack_outputs(settings.tenants).items():
    pulumi.export(key, value)
if part.shard is not None:
    # What `python -m deploy preview` compares to skip the shards whose tenants did not change.
    pulumi.export("shardDigest", shard_digest(settings, part.shard, Path(__file__).parent))
