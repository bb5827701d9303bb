"""The Pulumi shell: one ComponentResource per file, each wiring pure builders into resources."""

from .istio_operator_install import IstioOperatorInstall
from .platform_control_plane import PlatformControlPlane
from .tenant_admission import TenantAdmission
from .tenant_mesh import TenantMesh

__all__ = ["IstioOperatorInstall", "PlatformControlPlane", "TenantAdmission", "TenantMesh"]
