"""The `sail` install method: the Sail operator installs each mesh's control planes from
`Istio` resources (sailoperator.io/v1), and `IstioRevisionTag`s stand for the mesh's tags.

How a mesh maps to Sail: one `Istio` per revision, named after the revision, with the
`InPlace` update strategy. Sail names an InPlace `Istio`'s one IstioRevision after the `Istio`
itself, so every revision keeps the name the tenants file gives it and namespaces carry the
same `istio.io/rev` labels as on the Helm path. A mesh listing two revisions gets two `Istio`s
side by side in its namespace, from the first apply on (a `RevisionBased` `Istio` holds one
active version; the previous one lives on only while in use, under a name derived from the
version, so a file listing two revisions could not be reproduced on a new cluster).
Changing a revision's `version` upgrades it in place; a canary is a second revision.
"""

from __future__ import annotations

from tenants.model import Mesh, Revision

from .control_plane import ISTIOD_ENV
from .istio import autoscaler_bounds
from .meshes import mesh_config, mesh_labels
from .meta import MANAGED_BY, k8s_object

SAIL = "sailoperator.io/v1"
SAIL_OPERATOR_VERSION = "1.30.3"
SAIL_OPERATOR_NAMESPACE = "sail-operator"
# The Istio releases Sail 1.30.3 ships images and charts for (its chart's `images.v1_X_Y.*`
# annotations; its CRD lists older names too, which it no longer installs).
SAIL_ISTIO_VERSIONS = tuple(
    [f"1.28.{p}" for p in range(11)] + [f"1.29.{p}" for p in range(7)] + [f"1.30.{p}" for p in range(4)]
)
# Sail reports an Istio's readiness as its Ready condition (that of its active IstioRevision).
WAIT_FOR_READY = {"pulumi.com/waitFor": "condition=Ready"}
# Sail's profiles; `minimal` (istiod alone) is what Sail's `default` installs: Sail never deploys gateways.
_PLAIN_PROFILES = ("default", "minimal")


def sail_version(version: str) -> str:
    """Sail's spelling of an Istio version: v1.30.3."""
    return f"v{version}"


def sail_version_problem(version: str) -> str | None:
    if version in SAIL_ISTIO_VERSIONS:
        return None
    return (
        f"Istio {version} is not a version the Sail operator {SAIL_OPERATOR_VERSION} installs "
        f"({SAIL_ISTIO_VERSIONS[0]} to {SAIL_ISTIO_VERSIONS[-1]}); choose one of those, or the helm install method"
    )


def istio_values(mesh: Mesh) -> dict:
    """The Istio resource's `values`: the same settings as the istiod chart's on the Helm path."""
    pilot: dict = {"env": dict(ISTIOD_ENV)}
    if mesh.replicas.pilot:
        low, high = autoscaler_bounds(mesh.replicas.pilot)
        pilot.update(replicaCount=mesh.replicas.pilot, autoscaleMin=low, autoscaleMax=high)
    return {"global": {"istioNamespace": mesh.namespace_name}, "meshConfig": mesh_config(mesh), "pilot": pilot}


def istio_resource(mesh: Mesh, revision: Revision, version: str) -> dict:
    """One revision of a mesh: istiod `istiod-<revision>` in the mesh's namespace, at `version`."""
    spec: dict = {
        "version": sail_version(version),
        "namespace": mesh.namespace_name,
        "updateStrategy": {"type": "InPlace"},
    }
    if mesh.profile not in _PLAIN_PROFILES:
        spec["profile"] = mesh.profile
    spec["values"] = istio_values(mesh)
    return k8s_object(SAIL, "Istio", revision.name, labels={**MANAGED_BY, **mesh_labels(mesh)}, annotations=WAIT_FOR_READY, spec=spec)


def revision_tag(mesh: Mesh, tag: str, revision: str) -> dict:
    """`istio.io/rev=<tag>` injects from `revision`: Sail writes the tag's webhook and keeps it pointed there."""
    return k8s_object(
        SAIL, "IstioRevisionTag", tag, labels={**MANAGED_BY, **mesh_labels(mesh)},
        spec={"targetRef": {"kind": "Istio", "name": revision}},
    )


def mesh_resources(mesh: Mesh, default_version: str) -> tuple[list[dict], list[dict]]:
    """(an `Istio` per revision, an `IstioRevisionTag` per tag); revisions without a version get `default_version`."""
    istios = [istio_resource(mesh, r, r.version or default_version) for r in mesh.revision_list]
    tags = [revision_tag(mesh, tag, target) for tag, target in sorted(mesh.tags.items())]
    return istios, tags

