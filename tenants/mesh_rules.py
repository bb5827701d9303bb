"""Rules across meshes, their revisions and tags, and the tenants that join them.

Called from `tenants.rules.check`; each rule yields (path, message) as the other rules do.
Revision and tag names are cluster-wide: every control plane's injection webhook selects
namespaces and pods by the `istio.io/rev` label alone, so a name used twice would have two
control planes inject the same pods.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Callable, Optional, Union

from .meshes import default_revision, is_default_revision, mesh_named, resolve, revision_label
from .model import REVISION_MAX, TAG_MAX, Mesh, TenantsFile
from .renames import previous_name_findings

PathKey = Union[str, int]
Finding = tuple[tuple[PathKey, ...], str]


# Namespaces no control plane may live in (istio-system may: it is Istio's own).
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease", "istio-operator")
# Istio's name for the control plane without a revision, and for the tag that takes over every
# namespace labelled `istio-injection: enabled`: no tag may claim it, and only the platform mesh
# may run that control plane (the one a stack without meshes ran: moving to meshes keeps it).
ISTIO_DEFAULT = "default"
_SHOWN_USERS = 5


def check(config: TenantsFile, reported: Iterable[str] = ()) -> list[Finding]:
    """`reported`: namespaces a tenant may never use, which tenants.rules reports already.
    What the stack's install method can install is judged by `version_findings`."""
    if config.meshes is None:
        return list(_without_meshes(config))
    findings: list[Finding] = []
    for rule in (_control_plane_too, _mesh_identities, _revision_and_tag_names, _mesh_defaults, _tenant_meshes, _sharing_across_meshes):
        findings.extend(rule(config))
    findings.extend(_tenant_namespaces(config, frozenset(reported)))
    return findings


def _names(items: Iterable[str]) -> str:
    items = list(items)
    shown = ", ".join(items[:_SHOWN_USERS])
    return shown + (f" and {len(items) - _SHOWN_USERS} more" if len(items) > _SHOWN_USERS else "")


def _without_meshes(config: TenantsFile) -> Iterator[Finding]:
    for i, tenant in enumerate(config.tenants):
        if tenant.mesh is not None:
            yield ("tenants", i, "mesh"), (
                f"no mesh named {tenant.mesh!r}: the file declares no meshes (list them under `meshes:`)"
            )
        if tenant.revision is not None:
            yield ("tenants", i, "revision"), (
                "revisions belong to meshes, and the file declares none: the platform control plane runs without "
                "revisions (list meshes under `meshes:`)"
            )


def _control_plane_too(config: TenantsFile) -> Iterator[Finding]:
    if "control_plane" in config.model_fields_set:
        yield ("controlPlane",), (
            "controlPlane and meshes cannot both be given: with meshes, the first mesh is the platform mesh "
            "(its namespace serves the observability add-ons); move these settings to it, with "
            "revisions: [{name: default}] to keep its istiod (docs/upgrades.md)"
        )


def _name_path(mesh: Mesh, i: int, field: str) -> tuple[PathKey, ...]:
    """A mesh's field, or its name when the field was left to its default (derived from the name)."""
    return ("meshes", i, field) if getattr(mesh, field) is not None else ("meshes", i, "name")


def _mesh_identities(config: TenantsFile) -> Iterator[Finding]:
    names: set[str] = set()
    namespaces: dict[str, str] = {}
    for i, mesh in enumerate(config.meshes or ()):
        if mesh.name in names:
            yield ("meshes", i, "name"), f"mesh name {mesh.name!r} is used twice; each mesh needs its own"
            continue
        names.add(mesh.name)
        ns, path = mesh.namespace_name, _name_path(mesh, i, "namespace")
        if ns in SYSTEM_NAMESPACES or ns.startswith("kube-"):
            yield path, f"namespace {ns!r} is a system namespace; a mesh needs a namespace of its own"
        elif ns in namespaces:
            yield path, (
                f"namespace {ns!r} is also mesh {namespaces[ns]!r}'s namespace; each mesh needs a namespace of its own"
            )
        namespaces.setdefault(ns, mesh.name)
        if i > 0 and mesh.replicas.ingress_gateway is not None:
            yield ("meshes", i, "replicas", "ingressGateway"), (
                "only the first mesh runs an ingress gateway (it serves the observability add-ons); "
                "tenants have gateways of their own"
            )
    meshes = config.meshes or ()
    yield from previous_name_findings("meshes", "mesh", ((m.name, m.previous_names) for m in meshes), {m.name for m in meshes})


def _revision_and_tag_names(config: TenantsFile) -> Iterator[Finding]:
    """Revision and tag names: valid as Istio uses them, and each used once in the cluster."""
    owners: dict[str, tuple[str, str]] = {}  # name -> (mesh, "revision" | "tag")
    for i, mesh in enumerate(config.meshes or ()):
        for j, revision in enumerate(mesh.revision_list):
            path = ("meshes", i, "revisions", j, "name") if mesh.revisions is not None else ("meshes", i, "name")
            what = "revision" if mesh.revisions is not None else f"the default revision (named after the mesh)"
            name = revision.name
            if is_default_revision(name) and i > 0:
                yield path, (
                    "'default' is Istio's control plane without a revision, which only the first mesh (the platform "
                    "mesh) may run: it keeps the istiod of a stack without meshes; name this revision after its "
                    "version, e.g. 1-30-5"
                )
            elif len(name) > REVISION_MAX:
                yield path, f"{what} {name!r} is longer than {REVISION_MAX} characters (its Service is istiod-<revision>)"
            elif name in owners:
                yield path, _taken(what, name, owners[name], mesh.name)
            owners.setdefault(name, (mesh.name, "revision"))
    for i, mesh in enumerate(config.meshes or ()):
        for tag, target in mesh.tags.items():
            path = ("meshes", i, "tags", tag)
            if tag == ISTIO_DEFAULT:
                yield path, (
                    "'default' is Istio's cluster-wide default tag (it takes every namespace labelled "
                    "istio-injection=enabled); name the tag after its purpose, e.g. stable, and set defaultRevision"
                )
            elif len(tag) > TAG_MAX:
                yield path, f"tag {tag!r} is longer than {TAG_MAX} characters (its Service is istiod-revision-tag-<tag>)"
            elif tag in owners:
                yield path, _taken("tag", tag, owners[tag], mesh.name)
            else:
                owners[tag] = (mesh.name, "tag")
            if resolve(mesh, target) is None or target in mesh.tags:
                yield path, _unknown_target(config, mesh, target, f"tag {tag!r} points at revision {target!r}, which", tags=False)


def _taken(what: str, name: str, owner: tuple[str, str], mesh: str) -> str:
    owner_mesh, kind = owner
    where = "this mesh" if owner_mesh == mesh else f"mesh {owner_mesh!r}"
    return (
        f"{what} {name!r} is already a {kind} of {where}; revision and tag names are cluster-wide "
        f"(every control plane reads the istio.io/rev label), so each is used once"
    )


def _users(config: TenantsFile, mesh: Mesh, name: str) -> list[str]:
    """Who runs on `name` in `mesh`: the tags pointing at it, the tenants labelled with it or with such a tag."""
    tags = [tag for tag, target in mesh.tags.items() if target == name]
    tenants = [
        t.name for t in config.tenants
        if mesh_named(config, t.mesh or config.meshes[0].name) is mesh and revision_label(mesh, t) in (name, *tags)
    ]
    return [f"tag {tag}" for tag in tags] + ([f"tenant{'s' if len(tenants) > 1 else ''} {_names(tenants)}"] if tenants else [])


def _unknown_target(config: TenantsFile, mesh: Mesh, name: str, subject: str, tags: bool = True) -> str:
    """`subject` names something `mesh` does not list; the message says who still uses it."""
    revisions = ", ".join(r.name for r in mesh.revision_list)
    listed = f"revisions: {revisions}" + (f"; tags: {', '.join(sorted(mesh.tags))}" if tags and mesh.tags else "")
    kind = "a tag or revision" if tags else "a revision"
    message = f"{subject} is not {kind} of mesh {mesh.name!r} ({listed})"
    users = _users(config, mesh, name)
    if users:
        message += f"; if it was removed: it is still in use by {' and '.join(users)} (keep it listed until nothing uses it)"
    return message


def _listed(mesh: Mesh, name: str) -> bool:
    """A tag or revision of the mesh (a tag pointing nowhere is reported at the tag)."""
    return name in mesh.tags or any(r.name == name for r in mesh.revision_list)


def _mesh_defaults(config: TenantsFile) -> Iterator[Finding]:
    for i, mesh in enumerate(config.meshes or ()):
        if mesh.default_revision is not None:
            if not _listed(mesh, mesh.default_revision):
                yield ("meshes", i, "defaultRevision"), _unknown_target(
                    config, mesh, mesh.default_revision, f"defaultRevision {mesh.default_revision!r}"
                )
        elif default_revision(mesh) is None:
            relying = [t.name for t in config.tenants if t.revision is None and _mesh_name(config, t) == mesh.name]
            if relying:
                yield ("meshes", i, "revisions"), (
                    f"mesh {mesh.name!r} lists several revisions: set defaultRevision (a tag or revision) for its "
                    f"tenants that name none ({_names(relying)}), or give each a revision"
                )


def _mesh_name(config: TenantsFile, tenant) -> str:
    return tenant.mesh or config.meshes[0].name


def _tenant_meshes(config: TenantsFile) -> Iterator[Finding]:
    known = ", ".join(m.name for m in config.meshes or ())
    for i, tenant in enumerate(config.tenants):
        mesh = mesh_named(config, _mesh_name(config, tenant))
        if mesh is None:
            yield ("tenants", i, "mesh"), f"no mesh named {tenant.mesh!r}; the meshes are {known}"
        elif tenant.revision is not None and not _listed(mesh, tenant.revision):
            yield ("tenants", i, "revision"), _unknown_target(config, mesh, tenant.revision, f"{tenant.revision!r}")


def _tenant_namespaces(config: TenantsFile, reported: frozenset[str]) -> Iterator[Finding]:
    owners = {}
    for mesh in config.meshes or ():
        owners.setdefault(mesh.namespace_name, mesh.name)
    for i, tenant in enumerate(config.tenants):
        ns = tenant.namespace_name
        owner = owners.get(ns)
        if owner is None or ns in reported or ns.startswith("kube-"):
            continue
        field = "namespace" if tenant.namespace else "name"
        own = _mesh_name(config, tenant)
        if owner == own:
            yield ("tenants", i, field), (
                f"namespace {ns!r} is the control-plane namespace of mesh {owner!r}; a tenant needs a namespace of its own"
            )
        else:
            yield ("tenants", i, field), (
                f"namespace {ns!r} is the control-plane namespace of mesh {owner!r}: the discovery selectors of meshes "
                f"{own!r} and {owner!r} would both select it; a tenant needs a namespace of its own"
            )


def version_findings(config: TenantsFile, version_problem: Callable[[str], Optional[str]]) -> list[Finding]:
    """Each revision whose version `version_problem` (the install method's) refuses; a revision
    without one runs the stack's istioVersion, which the stack settings check."""
    return [
        (("meshes", i, "revisions", j, "version"), problem)
        for i, mesh in enumerate(config.meshes or ())
        for j, revision in enumerate(mesh.revisions or ())
        if revision.version and (problem := version_problem(revision.version))
    ]


def _sharing_across_meshes(config: TenantsFile) -> Iterator[Finding]:
    """An export or import between tenants of two meshes could never be called: each mesh signs
    with a root CA of its own, and STRICT mTLS admits only proxies of the same mesh."""
    mesh_of = {t.name: _mesh_name(config, t) for t in config.tenants}

    def across(tenant: str, other: str) -> Optional[str]:
        if other not in mesh_of or mesh_of[other] == mesh_of[tenant]:
            return None
        return (
            f"tenant {other!r} is in mesh {mesh_of[other]!r} and {tenant!r} in mesh {mesh_of[tenant]!r}: "
            f"proxies of different meshes do not trust each other's certificates, so no call can cross meshes"
        )

    for i, tenant in enumerate(config.tenants):
        for j, export in enumerate(tenant.exports):
            for k, consumer in enumerate(export.to):
                problem = across(tenant.name, consumer)
                if problem:
                    yield ("tenants", i, "exports", j, "to", k), problem
        for j, imported in enumerate(tenant.imports):
            problem = across(tenant.name, imported.tenant)
            if problem:
                yield ("tenants", i, "imports", j, "tenant"), problem
