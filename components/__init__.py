"""The Pulumi shell: one ComponentResource per file, each wiring pure builders into resources."""

import pulumi

from tenants.install import Installation
from tenants.model import InstallMethod as Method

from .gateway_api_crds import GatewayApiCrds
from .install_method import InstallMethod
from .istio_helm_install import HelmMethod, IstioHelmInstall
from .istio_operator_install import IstioOperatorInstall, OperatorMethod
from .mesh_control_plane import MeshControlPlane, control_planes
from .observability_addons import ObservabilityAddons
from .platform_control_plane import PlatformControlPlane
from .sail_install import SailMethod, SailOperatorInstall
from .stack import Stack, build_stack, kubernetes_provider
from .tenant_admission import TenantAdmission
from .tenant_mesh import TenantMesh

# The install methods by their name in the stack settings (`installMethod`).
METHODS = {Method.HELM: HelmMethod, Method.OPERATOR: OperatorMethod, Method.SAIL: SailMethod}


def install_method(install: Installation, provider: pulumi.ProviderResource) -> InstallMethod:
    return METHODS[install.method](install, provider)


__all__ = [
    "GatewayApiCrds", "IstioHelmInstall", "IstioOperatorInstall", "MeshControlPlane", "ObservabilityAddons",
    "PlatformControlPlane", "SailOperatorInstall", "Stack", "TenantAdmission", "TenantMesh", "build_stack",
    "control_planes", "install_method", "kubernetes_provider",
]
