"""Pod Security admission labels of a tenant namespace."""

from __future__ import annotations

from tenants.model import Tenant

POD_SECURITY = "pod-security.kubernetes.io"


def pod_security_labels(tenant: Tenant) -> dict[str, str]:
    """The tenant's level enforced (restricted by default, never below baseline), `restricted`
    always warned about and audited, so that a baseline tenant sees what restricted would refuse."""
    level = tenant.pod_security.value
    return {
        f"{POD_SECURITY}/enforce": level,
        f"{POD_SECURITY}/enforce-version": "latest",
        f"{POD_SECURITY}/warn": "restricted",
        f"{POD_SECURITY}/warn-version": "latest",
        f"{POD_SECURITY}/audit": "restricted",
        f"{POD_SECURITY}/audit-version": "latest",
    }
