"""istio-multitenancy as a library: a Pulumi program of your own that builds the mesh from a tenants file.

Run it like any Pulumi program (`pulumi up` in this directory), with this repository importable:
from here it is two levels up; elsewhere, put the repository on PYTHONPATH.
"""

import sys
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from builders.isolation import Sharing  # noqa: E402
from components import IstioOperatorInstall, PlatformControlPlane, TenantMesh  # noqa: E402
from tenants import ConfigError, load_tenants  # noqa: E402

try:
    # Every rule, within and across tenants; a mistake is one error listing them all, with lines.
    config = load_tenants(Path(__file__).parent / "tenants.yaml")
except ConfigError as err:
    raise pulumi.RunError(str(err)) from None

provider = k8s.Provider("cluster")  # the current kubeconfig context
operator = IstioOperatorInstall(
    "istio-operator",
    version="1.23.6",
    watched_namespaces=[config.control_plane.namespace],
    provider=provider,
)
mesh = PlatformControlPlane(
    config.control_plane.name,
    config=config.control_plane,
    observability=config.observability,
    operator=operator,
    provider=provider,
)
sharing = Sharing.of(config)
for tenant in config.tenants:
    TenantMesh(tenant, mesh=mesh, sharing=sharing)

pulumi.export("namespaces", {tenant.name: tenant.namespace_name for tenant in config.tenants})
