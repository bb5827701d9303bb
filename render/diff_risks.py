"""The one-line warnings `render diff` puts at the top: changes a reviewer must not miss.

Each check takes the two renders (renamed tenants' URNs already rewritten) and returns lines:
a gateway's Deployment and Service replaced, cluster-wide CRDs added or removed, a public port
opened, istiod replaced or renamed, a protected namespace the update would have to delete.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Optional

from builders.gateway_api import GATEWAY_CLASS, NAME_OVERRIDE

from .output import CHART_TYPE, CONFIG_GROUP_TYPE

if TYPE_CHECKING:
    from .diff import ObjectKey, Render

PLATFORM_CONTROL_PLANE = "istio-multitenancy:index:PlatformControlPlane"
MESH_CONTROL_PLANE = "istio-multitenancy:index:MeshControlPlane"
PUBLIC_SERVICE_TYPES = ("LoadBalancer", "NodePort")


def _chart_name(entry: dict) -> str:
    """A chart's name, from a repository or a local directory."""
    return str((entry.get("inputs") or {}).get("chart", "")).rstrip("/").rpartition("/")[2]


def _charts(render: Render, chart: str) -> dict[tuple[str, str], tuple[str, dict]]:
    """(namespace, release) -> (URN, entry) of the releases of one chart (`istiod`, `gateway`)."""
    out = {}
    for urn, entry in render.resources.items():
        if entry.get("type") == CHART_TYPE and _chart_name(entry) == chart:
            inputs = entry.get("inputs") or {}
            out[(str(inputs.get("namespace", "")), str(inputs.get("name", "")))] = (urn, entry)
    return out


# --- Gateways -------------------------------------------------------------------------------


def _gateway_releases(render: Render) -> dict[str, set[str]]:
    """Namespace -> the gateway Deployments (and Services) deployed there: gateway charts' releases,
    the operator's ingress gateways, and the Gateway API's Gateways (Istio names its deployment after them)."""
    from .diff import PLATFORM

    out: dict[str, set[str]] = {}
    for (namespace, release), _ in _charts(render, "gateway").items():
        out.setdefault(namespace, set()).add(release)
    for key, head in render.heads.items():
        group, kind, namespace, name = key
        if kind == "IstioOperator" and head.tenant != PLATFORM:
            for gw in (render.object(key).get("spec") or {}).get("components", {}).get("ingressGateways") or []:
                out.setdefault(gw.get("namespace") or namespace, set()).add(gw.get("name", ""))
        elif kind == "Gateway" and group == "gateway.networking.k8s.io":
            # Named apart from a chart's release of the same name: Istio's are other objects.
            out.setdefault(namespace, set()).add(f"{generated_name(render, key)} (Istio's, from Gateway {name})")
    return out


def generated_name(render: Render, key: ObjectKey) -> str:
    """The Deployment and Service Istio generates for a Gateway API Gateway: `<gateway>-<class>`, or
    what its name-override annotation says (the program sets it to the tenant's gateway name)."""
    metadata = render.object(key).get("metadata") or {}
    return (metadata.get("annotations") or {}).get(NAME_OVERRIDE) or f"{key[3]}-{GATEWAY_CLASS}"


def gateways_replaced(old: Render, new: Render) -> list[str]:
    before, after = _gateway_releases(old), _gateway_releases(new)
    lines = []
    for namespace in sorted(before.keys() & after.keys()):
        gone, came = sorted(before[namespace] - after[namespace]), sorted(after[namespace] - before[namespace])
        if gone and came:
            lines.append(
                f"gateway replaced in namespace {namespace}: {', '.join(gone)} -> {', '.join(came)}: a new Deployment and "
                f"Service, with a new external address"
            )
    for namespace in sorted(before.keys() - after.keys()):
        if any(key[1] == "Namespace" and key[3] == namespace for key in new.heads):
            lines.append(f"gateway removed from namespace {namespace}: {', '.join(sorted(before[namespace]))} (its external address is released)")
    return lines


# --- Cluster-wide CRDs -----------------------------------------------------------------------


def _crd_files(render: Render) -> dict[str, str]:
    """Each CRD manifest a ConfigGroup applies (its last path part) -> where it comes from."""
    files = {}
    for entry in render.resources.values():
        if entry.get("type") == CONFIG_GROUP_TYPE:
            for file in (entry.get("inputs") or {}).get("files") or []:
                files[str(file).rstrip("/").rpartition("/")[2]] = str(file)
    return files


def _crd_objects(render: Render) -> set[str]:
    return {key[3] for key in render.heads if key[1] == "CustomResourceDefinition"}


def _unrecorded(render: Render) -> bool:
    """A render from before ConfigGroups' files were recorded: their CRDs cannot be compared."""
    return any(e.get("type") == CONFIG_GROUP_TYPE and "inputs" not in e for e in render.resources.values())


def crds_changed(old: Render, new: Render) -> list[str]:
    lines = []
    old_files, new_files = _crd_files(old), _crd_files(new)
    if _unrecorded(old) or _unrecorded(new):
        old_files = new_files = {}
    for name in sorted(new_files.keys() - old_files.keys()):
        lines.append(f"cluster-wide CRDs added: {name} ({new_files[name]}): every namespace sees the new kinds")
    for name in sorted(old_files.keys() - new_files.keys()):
        lines.append(f"cluster-wide CRDs leave the program: {name} (retainOnDelete: they stay in the cluster, with every object of their kinds)")
    added, removed = _crd_objects(new) - _crd_objects(old), _crd_objects(old) - _crd_objects(new)
    if added:
        lines.append(f"cluster-wide CRDs added: {', '.join(sorted(added))}")
    if removed:
        lines.append(f"cluster-wide CRDs removed: {', '.join(sorted(removed))}: deleting a CRD deletes every object of its kind")
    return lines


# --- Public ports ----------------------------------------------------------------------------


def _public_ports(render: Render) -> dict[tuple[str, str], tuple[str, set[tuple[int, str]]]]:
    """(namespace, Service or gateway) -> (Service type, {(port, protocol)}) of what is reachable from outside."""
    out: dict[tuple[str, str], tuple[str, set[tuple[int, str]]]] = {}
    for (namespace, release), (_, entry) in _charts(render, "gateway").items():
        service = ((entry.get("inputs") or {}).get("values") or {}).get("service") or {}
        kind = service.get("type") or "LoadBalancer"
        if kind in PUBLIC_SERVICE_TYPES:
            ports = {(int(p.get("port", 0)), str(p.get("protocol") or "TCP")) for p in service.get("ports") or []}
            out[(namespace, release)] = (kind, ports)
    for key in render.heads:
        group, kind, namespace, name = key
        if kind == "Service" and not group:
            spec = render.object(key).get("spec") or {}
            if spec.get("type") in PUBLIC_SERVICE_TYPES:
                ports = {(int(p.get("port", 0)), str(p.get("protocol") or "TCP")) for p in spec.get("ports") or []}
                previous = out.get((namespace, name), (spec["type"], set()))[1]
                out[(namespace, name)] = (spec["type"], previous | ports)
        elif kind == "Gateway" and group == "gateway.networking.k8s.io":
            # Istio deploys a LoadBalancer Service with a port per listener.
            listeners = (render.object(key).get("spec") or {}).get("listeners") or []
            ports = {(int(lst.get("port", 0)), "UDP" if lst.get("protocol") == "UDP" else "TCP") for lst in listeners}
            out[(namespace, generated_name(render, key))] = ("LoadBalancer", ports)
    return out


def public_ports_opened(old: Render, new: Render) -> list[str]:
    before, after = _public_ports(old), _public_ports(new)
    by_namespace: dict[str, set[tuple[int, str]]] = {}
    for (namespace, _), (_, ports) in before.items():
        by_namespace.setdefault(namespace, set()).update(ports)
    lines = []
    for (namespace, service), (kind, ports) in sorted(after.items()):
        # A Service that replaces another in its namespace opens what that one did not already.
        was = before[(namespace, service)][1] if (namespace, service) in before else by_namespace.get(namespace, set())
        opened = sorted(ports - was)
        if opened:
            shown = ", ".join(f"{port}/{protocol}" for port, protocol in opened)
            lines.append(f"public port{'s' if len(opened) > 1 else ''} {shown} opened on {kind} {namespace}/{service}")
    return lines


# --- istiod ----------------------------------------------------------------------------------


def _istiods(render: Render) -> dict[str, str]:
    """`namespace/name` of each istiod Deployment -> its URN (a chart's, or an object's)."""
    out = {}
    for (namespace, release), (urn, entry) in _charts(render, "istiod").items():
        revision = str((((entry.get("inputs") or {}).get("values") or {}).get("revision")) or "")
        out[f"{namespace}/istiod{'-' + revision if revision else ''}"] = urn
    for key in render.heads:
        group, kind, namespace, name = key
        if kind == "Deployment" and name.startswith("istiod") and not render.heads[key].chart:
            out[f"{namespace}/{name}"] = ""
        elif kind == "Istio" and group == "sailoperator.io":
            out[f"{render.object(key).get('spec', {}).get('namespace', '')}/istiod (Sail Istio {name})"] = ""
    return out


def istiod_replaced(old: Render, new: Render) -> list[str]:
    before, after = _istiods(old), _istiods(new)
    gone, came = sorted(before.keys() - after.keys()), sorted(after.keys() - before.keys())
    lines = []
    if gone and came:
        lines.append(
            f"istiod replaced: {', '.join(gone)} -> {', '.join(came)}: every sidecar and gateway must reconnect "
            f"and be restarted onto the new one"
        )
    elif gone:
        lines.append(f"istiod removed: {', '.join(gone)}")
    for name in sorted(before.keys() & after.keys()):
        if before[name] and after[name] and before[name] != after[name]:
            lines.append(f"istiod {name} changes Pulumi resource ({before[name].rpartition('::')[2]} -> {after[name].rpartition('::')[2]}): deleted and created again")
    return lines


# --- Protected namespaces --------------------------------------------------------------------


def _component_types(render: Render) -> set[str]:
    return {entry.get("type", "") for entry in render.resources.values()}


def protection_cause(old: Render, new: Render, key: ObjectKey) -> str:
    """Why the update wants to delete a protected object, and what keeps it."""
    moved = moved_to_meshes(old, new)
    name = key[3]
    if key in new.heads:
        if moved:
            return (
                "cause: the move to `meshes:` gives it another Pulumi resource (PlatformControlPlane -> MeshControlPlane) "
                "with no alias to the old one, so Pulumi would create it anew and delete the old one"
            )
        return "cause: it changes Pulumi resource with no alias to the old one"
    if moved:
        return (
            f"cause: the move to `meshes:` puts the platform mesh in another namespace; set the first mesh's "
            f"`namespace: {name}` to keep it"
        )
    return "cause: it left the program; keep it in the file, or run `pulumi state unprotect` on purpose"


def protected_deletes(old: Render, new: Render, deleted: list[tuple[ObjectKey, dict]]) -> list[str]:
    """`deleted`: (object, its old resource entry) of each object whose resource the update deletes."""
    from .diff import describe

    return [
        f"{describe(key)} cannot be deleted (protect): `pulumi up` fails; {protection_cause(old, new, key)}"
        for key, entry in deleted
        if (entry.get("options") or {}).get("protect")
    ]


def all_alerts(old: Render, new: Render, deleted: list[tuple[ObjectKey, dict]]) -> Iterator[str]:
    yield from gateways_replaced(old, new)
    yield from crds_changed(old, new)
    yield from public_ports_opened(old, new)
    yield from istiod_replaced(old, new)
    yield from protected_deletes(old, new, deleted)


def version_of(entry: Optional[dict]) -> str:
    return str(((entry or {}).get("inputs") or {}).get("version", ""))


def moved_to_meshes(old: Render, new: Render) -> bool:
    return PLATFORM_CONTROL_PLANE in _component_types(old) and MESH_CONTROL_PLANE in _component_types(new)
