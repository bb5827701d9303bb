"""istio-multitenancy as a library: the one import path, whether installed (`pip install .`) or
run from a clone of the repository.

    from istio_multitenancy import build_stack, load_settings

The program's own packages (`tenants`, `components`, `builders`, `policy`) keep their names, so
that `python -m render`, `pulumi up` and the tests run from the repository unchanged. Installed,
they live inside this package (in `_program/`, which pyproject.toml maps them to) and are found
from there, after anything else of the same name on sys.path; use them through this module.
"""

import sys
from pathlib import Path

_PROGRAM = Path(__file__).resolve().parent / "_program"
if _PROGRAM.is_dir() and str(_PROGRAM) not in sys.path:
    sys.path.append(str(_PROGRAM))

from builders.isolation import Sharing  # noqa: E402
from builders.outputs import stack_outputs  # noqa: E402
from components import (  # noqa: E402
    GatewayApiCrds, MeshControlPlane, PlatformControlPlane, Stack, TenantAdmission, TenantMesh, build_stack,
    control_planes, install_method, kubernetes_provider,
)
from tenants import ConfigError, Problem, TenantsFile, load_tenants, parse_tenants  # noqa: E402
from tenants.meshes import placement  # noqa: E402
from tenants.stack import Settings, load_settings  # noqa: E402

__all__ = [
    "ConfigError", "GatewayApiCrds", "MeshControlPlane", "PlatformControlPlane", "Problem", "Settings", "Sharing",
    "Stack", "TenantAdmission", "TenantMesh", "TenantsFile", "build_stack", "control_planes", "install_method",
    "kubernetes_provider", "load_settings", "load_tenants", "parse_tenants", "placement", "stack_outputs",
]
