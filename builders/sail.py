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

from tenants.install import SAIL_CHART, ChartSource
from tenants.meshes import DEFAULT_REVISION, control_plane_of
from tenants.model import ControlPlane, Mesh, Revision

from .gateway_api import GATEWAY_CLASS, alpha_gateway_api_env
from .istio import autoscaler_bounds
from .mesh_settings import gateway_class_defaults, hardened_pilot_env, istiod_mesh_config
from .meshes import mesh_config, mesh_labels
from .meta import MANAGED_BY, k8s_object

SAIL = "sailoperator.io/v1"
SAIL_OPERATOR_NAMESPACE = "sail-operator"
SAIL_RELEASE = "sail-operator"
CNI_NAMESPACE = "istio-cni"
# Sail reports an Istio's readiness as its Ready condition (that of its active IstioRevision).
WAIT_FOR_READY = {"pulumi.com/waitFor": "condition=Ready"}
# A tag reports no readiness of its own: Reconciled once its webhook is written.
WAIT_FOR_RECONCILED = {"pulumi.com/waitFor": "condition=Reconciled"}
# Sail's profile names but one: `minimal` (istiod alone) is what Sail's `default` installs.
_PLAIN_PROFILES = ("default", "minimal")


def sail_version(version: str) -> str:
    """Sail's spelling of an Istio version: v1.30.3."""
    return f"v{version}"


def _istio(
    name: str, cp: ControlPlane, meshconfig: dict, version: str, labels: dict[str, str], alpha: bool, extensions: list[dict]
) -> dict:
    spec: dict = {"version": sail_version(version), "namespace": cp.namespace, "updateStrategy": {"type": "InPlace"}}
    if cp.profile not in _PLAIN_PROFILES:
        spec["profile"] = cp.profile
    # Injected pods leave traffic redirection to the CNI agent (IstioCNI), as on the Helm path.
    # TCP and TLS listeners of Gateway API tenants need istiod's alpha support, as on the Helm path.
    pilot: dict = {"env": {**hardened_pilot_env(), **alpha_gateway_api_env(alpha)}, "cni": {"enabled": True}}
    if cp.replicas.pilot:
        low, high = autoscaler_bounds(cp.replicas.pilot)
        pilot.update(replicaCount=cp.replicas.pilot, autoscaleMin=low, autoscaleMax=high)
    values: dict = {
        "global": {"istioNamespace": cp.namespace},
        "pilot": pilot,
        # The hardening of every install path, under the mesh's own settings (mesh_settings.py).
        "meshConfig": istiod_mesh_config(meshconfig, extensions),
        # The gateways istiod deploys for Gateway API tenants run under `restricted` too.
        "gatewayClasses": gateway_class_defaults(GATEWAY_CLASS),
    }
    spec["values"] = values
    return k8s_object(SAIL, "Istio", name, labels=labels, annotations=WAIT_FOR_READY, spec=spec)


def istio_resource(mesh: Mesh, revision: Revision, version: str, alpha: bool = False, extensions: list[dict] = ()) -> dict:
    """One revision of a mesh: istiod `istiod-<revision>` in the mesh's namespace, at `version`,
    with the settings the istiod chart gets on the Helm path (`alpha`: Gateway API's alpha support).
    The revision `default` is the `Istio` `default` of a file without meshes: Sail runs it as Istio's
    default revision (istiod `istiod`, namespaces labelled `istio-injection: enabled`)."""
    labels = {**MANAGED_BY, **mesh_labels(mesh)}
    return _istio(revision.name, control_plane_of(mesh), mesh_config(mesh), version, labels, alpha, list(extensions))


def platform_istio(cp: ControlPlane, version: str, alpha: bool = False, extensions: list[dict] = ()) -> dict:
    """The one control plane of a file without meshes: an `Istio` named `default`, whose revision
    Sail makes the cluster's default (namespaces labelled `istio-injection: enabled`)."""
    return _istio(DEFAULT_REVISION, cp, {}, version, dict(MANAGED_BY), alpha, list(extensions))


def revision_tag(mesh: Mesh, tag: str, revision: str) -> dict:
    """`istio.io/rev=<tag>` injects from `revision`: Sail writes the tag's webhook and keeps it pointed there."""
    return k8s_object(
        SAIL, "IstioRevisionTag", tag, labels={**MANAGED_BY, **mesh_labels(mesh)}, annotations=WAIT_FOR_RECONCILED,
        spec={"targetRef": {"kind": "Istio", "name": revision}},
    )


def mesh_resources(mesh: Mesh, default_version: str, alpha: bool = False) -> tuple[list[dict], list[dict]]:
    """(an `Istio` per revision, an `IstioRevisionTag` per tag); revisions without a version get `default_version`."""
    istios = [istio_resource(mesh, r, r.version or default_version, alpha) for r in mesh.revision_list]
    tags = [revision_tag(mesh, tag, target) for tag, target in sorted(mesh.tags.items())]
    return istios, tags


def cni_resource(version: str) -> dict:
    """The CNI node agent (Sail's `IstioCNI`, which must be named `default`): pods need no NET_ADMIN."""
    spec = {"version": sail_version(version), "namespace": CNI_NAMESPACE}
    return k8s_object(SAIL, "IstioCNI", "default", labels=MANAGED_BY, annotations=WAIT_FOR_READY, spec=spec)


def operator_chart_arguments(source: ChartSource) -> dict:
    """`kubernetes.helm.v4.Chart` arguments of the Sail operator (its chart's defaults: the operator
    image and each Istio release's images); a local directory is the chart itself."""
    args: dict = {"name": SAIL_RELEASE, "namespace": SAIL_OPERATOR_NAMESPACE, "values": {}, "resource_prefix": ""}
    if source.directory is not None:
        args["chart"] = source.directory
    elif source.repository is not None and source.repository.startswith("oci://"):
        args.update(chart=f"{source.repository.rstrip('/')}/{SAIL_CHART}", version=source.version)
    else:
        args.update(chart=SAIL_CHART, version=source.version, repository_opts={"repo": source.repository})
    return args
