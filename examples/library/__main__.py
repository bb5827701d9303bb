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
from components import TenantAdmission, TenantMesh, control_planes, install_method  # noqa: E402
from tenants import ConfigError, load_tenants  # noqa: E402
from tenants.install import installation  # noqa: E402
from tenants.meshes import placement  # noqa: E402
from tenants.model import StackSettings  # noqa: E402

try:
    # Every rule, within and across tenants; a mistake is one error listing them all, with lines.
    config = load_tenants(Path(__file__).parent / "tenants.yaml")
except ConfigError as err:
    raise pulumi.RunError(str(err)) from None

provider = k8s.Provider("cluster")  # the current kubeconfig context
# The stack settings' defaults: Istio's newest validated release from its Helm charts.
method = install_method(installation(StackSettings(tenants_file="tenants.yaml"), config, Path(__file__).parent), provider)
meshes = control_planes(config, method, provider)
# The tenant rules the API server enforces, with their per-tenant parameters in the platform's namespace.
admission = TenantAdmission("admission", config=config, namespace=next(iter(meshes.values())).namespace, provider=provider)
sharing = Sharing.of(config)
for tenant in config.tenants:
    place = placement(config, tenant)
    mesh = meshes[place.mesh.name if place.mesh else None]
    TenantMesh(tenant, mesh=mesh, place=place, sharing=sharing, admission=[admission.params])

pulumi.export("namespaces", {tenant.name: tenant.namespace_name for tenant in config.tenants})
