"""Several meshes in one cluster: what each mesh's control planes are told, and how namespaces join a mesh.

Follows Istio's "multiple control planes in a single cluster" model: every mesh runs its
revisions of istiod in a namespace of its own, each istiod discovers only the namespaces that
carry its mesh's label (`meshConfig.discoverySelectors`), and a namespace chooses its control
plane with `istio.io/rev` (a revision, or a tag standing for one). Each mesh's istiod signs with
a root CA of its own, and STRICT mTLS in its namespace makes that mesh-wide: a proxy of one mesh
cannot talk to a proxy of another.

Revision tags are built here rather than by the istiod chart's `revisionTags`: a tag belongs to
the mesh, not to one revision's release, so moving it to another revision updates the same
objects in place (no delete in one release and create in another of an object with one name).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

from tenants.install import Installation
from tenants.meshes import Placement, control_plane_of, is_default_revision, istiod_name
from tenants.model import Mesh, Revision

from . import helm_values
from .control_plane import strict_mtls
from .helm_values import ChartRelease
from .mesh_settings import istiod_mesh_config
from .meta import MANAGED_BY, MESH_LABEL, k8s_object, namespace

REVISION_LABEL = "istio.io/rev"
TAG_LABEL = "istio.io/tag"
INJECTION_LABEL = "istio-injection"


def mesh_labels(mesh: Mesh) -> dict[str, str]:
    return {MESH_LABEL: mesh.name}


def discovery_selectors(mesh: Mesh) -> list[dict]:
    """The namespaces a mesh's istiod sees: its own and its tenants', by the mesh label."""
    return [{"matchLabels": mesh_labels(mesh)}]


def mesh_namespace(mesh: Mesh) -> dict:
    """The mesh's control-plane namespace, in the mesh: its istiod must see it.

    No injection label: istiod's own pods opt out of injection, and a gateway here (the platform
    mesh's) is injected through its pods' `istio.io/rev` label, which Istio's webhooks honour only
    in a namespace without `istio-injection` or `istio.io/rev`."""
    return namespace(mesh.namespace_name, {**MANAGED_BY, **mesh_labels(mesh)})


def mesh_mtls(mesh: Mesh) -> dict:
    """STRICT mTLS for the whole mesh: a PeerAuthentication in its root namespace."""
    return strict_mtls(mesh.namespace_name, {**MANAGED_BY, **mesh_labels(mesh)})


def injection_labels(place: Placement) -> dict[str, str]:
    """The labels that make a tenant namespace part of its mesh and choose its control plane.

    Without meshes, the one control plane has no revision: `istio-injection: enabled`, as
    before. With meshes, `istio.io/rev` (Istio's revision webhooks skip a namespace that also
    carries `istio-injection`) and the mesh label its istiod discovers it by; on Istio's default
    revision (the platform mesh's `default`), `istio-injection: enabled` as without meshes."""
    mesh = mesh_labels(place.mesh) if place.mesh is not None else {}
    if place.revision is None:
        return {**mesh, INJECTION_LABEL: "enabled"}
    return {**mesh, REVISION_LABEL: place.revision}


def revision_labels(place: Placement) -> dict[str, str]:
    """For objects a control plane picks by their own label rather than their namespace's: a
    Gateway API `Gateway` is deployed only by the istiod whose revision or tag its `istio.io/rev`
    names (with several meshes there is no default revision to fall back on)."""
    return {REVISION_LABEL: place.revision} if place.mesh is not None and place.revision else {}


def mesh_config(mesh: Mesh) -> dict:
    """meshConfig of every revision of the mesh: its discovery selectors and its settings."""
    settings = mesh.mesh_config.model_dump(mode="json", by_alias=True, exclude_none=True)
    return {"discoverySelectors": discovery_selectors(mesh), **settings}


def revision_install(install: Installation, revision: Revision) -> Installation:
    """The installation of one revision: its own Istio version (charts and images), else the stack's."""
    version = revision.version or install.istio_version
    charts = replace(install.charts, version=version) if install.charts is not None else None
    return replace(install, istio_version=version, charts=charts)


def istiod_release(mesh: Mesh, revision: Revision, install: Installation) -> ChartRelease:
    """The istiod chart for one revision of a mesh: the platform's istiod values (profile, images,
    settings, replicas), plus the revision and the mesh's discovery selectors and settings.
    Each revision is a release of its own, `istiod-<revision>`, in the mesh's namespace; Istio's
    default revision is the release without a revision, `istiod`, as without meshes."""
    platform = helm_values.istiod_release(control_plane_of(mesh), revision_install(install, revision))
    values = dict(platform.values) if is_default_revision(revision.name) else {**platform.values, "revision": revision.name}
    # The hardening of every control plane, under the mesh's discovery selectors and own settings.
    values["meshConfig"] = istiod_mesh_config(mesh_config(mesh), helm_values.install_extension_providers(install))
    return ChartRelease("istiod", istiod_name(revision.name), mesh.namespace_name, values)


# --- Revision tags, as the istiod chart's revision-tags-mwc.yaml and revision-tags-svc.yaml ---

_INJECT_PATH = "/inject"
_WEBHOOK_PORT = 443
_NOT_DISABLED = {"key": "sidecar.istio.io/inject", "operator": "NotIn", "values": ["false"]}
_ISTIOD_PORTS = [
    {"port": 15010, "name": "grpc-xds", "protocol": "TCP"},
    {"port": 15012, "name": "https-dns", "protocol": "TCP"},
    {"port": 443, "name": "https-webhook", "targetPort": 15017, "protocol": "TCP"},
    {"port": 15014, "name": "http-monitoring", "protocol": "TCP"},
]


def tag_webhook_name(mesh: Mesh, tag: str) -> str:
    ns = mesh.namespace_name
    return f"istio-revision-tag-{tag}" if ns == "istio-system" else f"istio-revision-tag-{tag}-{ns}"


def _injector(prefix: str, mesh: Mesh, revision: str, namespace_selector: list[dict], object_selector: list[dict]) -> dict:
    return {
        "name": f"{prefix}sidecar-injector.istio.io",
        "clientConfig": {
            "service": {"name": istiod_name(revision), "namespace": mesh.namespace_name, "path": _INJECT_PATH, "port": _WEBHOOK_PORT}
        },
        "sideEffects": "None",
        "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}],
        "failurePolicy": "Fail",
        "reinvocationPolicy": "Never",
        "admissionReviewVersions": ["v1"],
        "namespaceSelector": {"matchExpressions": namespace_selector},
        "objectSelector": {"matchExpressions": object_selector},
    }


def tag_labels(mesh: Mesh, tag: str, revision: str) -> dict[str, str]:
    # istiod patches the CA bundle into the webhooks labelled with its own revision.
    return {**MANAGED_BY, **mesh_labels(mesh), TAG_LABEL: tag, REVISION_LABEL: revision}


def tag_webhook(mesh: Mesh, tag: str, revision: str) -> dict:
    """Pods of namespaces labelled `istio.io/rev=<tag>` (or pods so labelled) get the revision's sidecar."""
    no_injection_label = {"key": INJECTION_LABEL, "operator": "DoesNotExist"}
    tagged = {"key": REVISION_LABEL, "operator": "In", "values": [tag]}
    webhooks = [
        _injector("rev.namespace.", mesh, revision, [tagged, no_injection_label], [_NOT_DISABLED]),
        _injector(
            "rev.object.", mesh, revision,
            [{"key": REVISION_LABEL, "operator": "DoesNotExist"}, no_injection_label],
            [_NOT_DISABLED, tagged],
        ),
    ]
    labels = {**tag_labels(mesh, tag, revision), "app": "sidecar-injector"}
    return k8s_object("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", tag_webhook_name(mesh, tag), labels=labels, webhooks=webhooks)


def tag_service(mesh: Mesh, tag: str, revision: str) -> dict:
    """`istiod-revision-tag-<tag>`: the tag's name for the revision's istiod."""
    labels = {**tag_labels(mesh, tag, revision), "app": "istiod", "istio": "pilot"}
    spec = {"ports": [dict(p) for p in _ISTIOD_PORTS], "selector": {"app": "istiod", REVISION_LABEL: revision}}
    return k8s_object("v1", "Service", f"istiod-revision-tag-{tag}", mesh.namespace_name, labels=labels, spec=spec)


def revision_tag_objects(mesh: Mesh) -> dict[str, list[dict]]:
    """Tag name -> its webhook and Service, pointing at the revision the tag stands for."""
    return {tag: [tag_webhook(mesh, tag, revision), tag_service(mesh, tag, revision)] for tag, revision in sorted(mesh.tags.items())}
