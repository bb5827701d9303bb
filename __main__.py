"""istio-multitenancy: the Istio operator, a platform control plane, and one isolated mesh slice per tenant."""

from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
from pulumi.runtime.config import CONFIG, get_config_env

from components import IstioOperatorInstall, PlatformControlPlane, TenantAdmission, TenantMesh
from components.kubernetes import collect_young_garbage_only
from builders.isolation import Sharing
from builders.outputs import stack_outputs
from tenants import ConfigError
from tenants.stack import load_settings, project_values

# Every key of the project, not only the known ones, so that a misspelt key is an error. Pulumi
# hands a program its config in PULUMI_CONFIG; the mock engine sets it in CONFIG.
config = project_values({**get_config_env(), **CONFIG.get()})
try:
    settings = load_settings(pulumi.get_stack(), config, Path(__file__).parent)
except ConfigError as err:
    # A user's mistake: Pulumi prints the message, not a stack trace, and nothing is registered.
    raise pulumi.RunError(str(err)) from None

collect_young_garbage_only()
control_plane = settings.tenants.control_plane
provider = k8s.Provider("kubernetes", context=settings.stack.kube_context)
operator = IstioOperatorInstall(
    "istio-operator",
    version=settings.stack.istio_version,
    watched_namespaces=[control_plane.namespace],
    provider=provider,
)
platform = PlatformControlPlane(
    control_plane.name,
    config=control_plane,
    observability=settings.tenants.observability,
    operator=operator,
    provider=provider,
)
admission = TenantAdmission("admission", config=settings.tenants, namespace=platform.namespace, provider=provider)
sharing = Sharing.of(settings.tenants)
for tenant in settings.tenants.tenants:
    TenantMesh(tenant, mesh=platform, sharing=sharing, admission=admission.params)

for key, value in stack_outputs(settings.tenants).items():
    pulumi.export(key, value)
