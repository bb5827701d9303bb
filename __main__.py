"""istio-multitenancy: the Istio operator, a platform control plane, and one isolated mesh slice per tenant."""

from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from components import IstioOperatorInstall, PlatformControlPlane, TenantMesh
from builders.outputs import stack_outputs
from tenants import ConfigError
from tenants.stack import KEYS, NAMESPACE, load_settings

config = pulumi.Config(NAMESPACE)
try:
    settings = load_settings(pulumi.get_stack(), {key: config.get(key) for key in KEYS}, Path(__file__).parent)
except ConfigError as err:
    # A user's mistake: Pulumi prints the message, not a stack trace, and nothing is registered.
    raise pulumi.RunError(str(err)) from None

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
tenants = [TenantMesh(tenant, mesh=platform) for tenant in settings.tenants.tenants]

for key, value in stack_outputs(settings.tenants).items():
    pulumi.export(key, value)
