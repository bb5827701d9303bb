"""Which mesh, and which revision of it, each tenant joins: resolved once from a checked file.

A file without `meshes:` has one mesh, the platform control plane (`controlPlane`), with no
revision: its tenants are labelled `istio-injection: enabled`, exactly as before meshes existed.
With `meshes:`, the first mesh is the platform mesh (its namespace serves the observability
add-ons), each tenant joins `tenants[].mesh` (default: the first mesh) and runs on
`tenants[].revision`, a tag or revision of that mesh (default: the mesh's `defaultRevision`,
else its only revision).

A revision named `default` is Istio's default revision: the control plane without a revision
that a file without meshes runs (Helm release `istiod`, Sail's `Istio` `default`), which
namespaces join with `istio-injection: enabled`. Only the platform mesh may run it: a stack
that moves to `meshes:` keeps its istiod that way (docs/upgrades.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .model import ControlPlane, Mesh, Revision, Tenant, TenantsFile


# Istio's name for the control plane without a revision (Sail's too: an `Istio` named `default`).
DEFAULT_REVISION = "default"


@dataclass(frozen=True)
class Placement:
    """Where a tenant's workloads get their proxies from."""

    mesh: Optional[Mesh]  # None: the file declares no meshes (the platform control plane)
    namespace: str  # the control-plane namespace of the tenant's mesh
    revision: Optional[str]  # the `istio.io/rev` value (a tag or revision); None: Istio's default revision


def declares_meshes(config: TenantsFile) -> bool:
    return config.meshes is not None


def mesh_named(config: TenantsFile, name: str) -> Optional[Mesh]:
    return next((m for m in config.meshes or () if m.name == name), None)


def mesh_of(config: TenantsFile, tenant: Tenant) -> Optional[Mesh]:
    """The tenant's mesh; None without `meshes:` (or for a mesh the rules already reject)."""
    if not config.meshes:
        return None
    return mesh_named(config, tenant.mesh) if tenant.mesh else config.meshes[0]


def default_revision(mesh: Mesh) -> Optional[str]:
    """What a tenant that names no revision runs on; None when the mesh lists several and names no default."""
    if mesh.default_revision:
        return mesh.default_revision
    revisions = mesh.revision_list
    return revisions[0].name if len(revisions) == 1 else None


def revision_label(mesh: Mesh, tenant: Tenant) -> Optional[str]:
    return tenant.revision or default_revision(mesh)


def resolve(mesh: Mesh, name: str) -> Optional[Revision]:
    """The revision a tag or revision name stands for in `mesh`; None when it names neither."""
    target = mesh.tags.get(name, name)
    return next((r for r in mesh.revision_list if r.name == target), None)


def is_default_revision(name: Optional[str]) -> bool:
    """`name` (a revision, or a tag or revision a tenant runs on) is Istio's revision-less control plane."""
    return name == DEFAULT_REVISION


def revisioned(mesh: Mesh) -> bool:
    """Every control plane of `mesh` has a revision: none is Istio's default revision."""
    return not any(is_default_revision(r.name) for r in mesh.revision_list)


def istiod_name(revision: str) -> str:
    """The istiod Deployment, Service and ServiceAccount of a revision, as Istio's chart (and Sail) name them."""
    return "istiod" if is_default_revision(revision) else f"istiod-{revision}"


def placement(config: TenantsFile, tenant: Tenant) -> Placement:
    mesh = mesh_of(config, tenant)
    if mesh is None:
        return Placement(None, config.control_plane.namespace, None)
    label = revision_label(mesh, tenant)
    return Placement(mesh, mesh.namespace_name, None if is_default_revision(label) else label)


def control_plane_of(mesh: Mesh) -> ControlPlane:
    """A mesh seen as a control plane: what the install methods build istiod (and, for the
    platform mesh, its ingress gateway) from."""
    return ControlPlane(name=mesh.name, namespace=mesh.namespace_name, profile=mesh.profile, replicas=mesh.replicas)


def platform_control_plane(config: TenantsFile) -> ControlPlane:
    """The platform's control plane: `controlPlane`, or the first mesh when the file declares meshes."""
    return control_plane_of(config.meshes[0]) if config.meshes else config.control_plane
