"""`python -m render diff OLD_DIR NEW_DIR`: what changes between two renders, object by object.

Reads each side's manifests.yaml (the Kubernetes objects) and resources.json (the Pulumi
resources with their options), and reports objects added, removed and changed, grouped by
tenant (the `istio-multitenancy.io/tenant` label; everything else is "platform"). It also says
what a removal leaves in the cluster (retainOnDelete), what it cannot delete (protect), and
when a removed and an added tenant look like one tenant renamed without `previousNames`.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import yaml

from builders.meta import MANAGED_BY, TENANT_LABEL, resource_type
from tenants.model import Tenant

from . import diff_risks
from .output import CHART_MARK, CHART_TYPE

# components/tenant_removal.TYPE (render/ imports no components).
REMOVAL_TYPE = "pulumi-python:dynamic/istio-multitenancy:TenantRemoval"

PLATFORM = "platform"
TENANT_COMPONENT = "istio-multitenancy:index:TenantMesh"
EXPANDED = "expanded"
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_ABSENT = object()

# (API group, kind, namespace, name): how Kubernetes itself tells objects apart. The version
# is left out so that moving an object to another API version reads as a change, not a replace.
ObjectKey = tuple[str, str, str, str]


class DiffInputError(Exception):
    """A render directory that cannot be compared (missing, or not a render's files)."""


@dataclass(frozen=True)
class Head:
    """What the diff needs of an object without parsing it: its API version and tenant."""

    api_version: str
    tenant: str
    chart: str = ""  # the chart (its resource's name) that rendered it; "" for the program's own objects


@dataclass
class Render:
    texts: dict[ObjectKey, str]  # each object's YAML document: equal text, equal object
    heads: dict[ObjectKey, Head]
    resources: dict[str, dict]  # relative URN -> resources.json entry
    _parsed: dict[ObjectKey, dict] = field(default_factory=dict)

    def object(self, key: ObjectKey) -> dict:
        if key not in self._parsed:
            self._parsed[key] = yaml.load(self.texts[key], Loader=_Loader)
        return self._parsed[key]

    def tenant_of(self, key: ObjectKey) -> str:
        return self.heads[key].tenant


@dataclass
class Change:
    key: ObjectKey
    fields: list[str]


@dataclass
class Group:
    """Everything that changes for one tenant (or the platform)."""

    added: list[ObjectKey] = field(default_factory=list)
    removed: list[tuple[ObjectKey, str]] = field(default_factory=list)  # with a note: retained, protected
    changed: list[Change] = field(default_factory=list)
    resources: list[str] = field(default_factory=list)  # Pulumi-only lines (components, providers)
    title: str = ""
    notes: list[str] = field(default_factory=list)  # what the change means for the tenant, in words

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed or self.resources)


@dataclass
class Report:
    groups: dict[str, Group]
    retained: list[ObjectKey]
    hints: list[str]
    warnings: list[str] = field(default_factory=list)
    moves: list[str] = field(default_factory=list)  # objects that change Pulumi resource, one line each
    notes: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)  # risky changes, one line each, shown first
    counts: dict[str, int] = field(default_factory=dict)  # Pulumi resources by kind of change
    upgrades: list[str] = field(default_factory=list)  # "6 charts upgraded (1.30.2 -> 1.30.3)"
    move_cause: str = "a tenant renamed without previousNames?"
    old: Optional[Render] = None
    new: Optional[Render] = None

    @property
    def identical(self) -> bool:
        return not any(self.groups.values())


# --- Reading -------------------------------------------------------------------------------


def object_key(obj: dict) -> ObjectKey:
    api_version = obj.get("apiVersion", "")
    group = api_version.rpartition("/")[0]
    meta = obj.get("metadata") or {}
    return group, obj.get("kind", ""), meta.get("namespace") or "", meta.get("name", "")


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DiffInputError(f"{path}: no {what} here; is this a `python -m render` output directory?") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DiffInputError(f"{path}: cannot read it: {err}") from None


_PLAIN = re.compile(r"[A-Za-z0-9][-A-Za-z0-9_./]*")
_TYPED = re.compile(r"[-+0-9.eE_:]+|true|false|null|yes|no|on|off|y|n|~", re.IGNORECASE)


def _scalar(raw: str) -> str:
    return raw if _PLAIN.fullmatch(raw) and not _TYPED.fullmatch(raw) else str(yaml.load(raw, Loader=_Loader))


def _scan(text: str) -> Optional[tuple[ObjectKey, Head]]:
    """Key and head of one document as `python -m render` writes it (keys sorted, block style),
    read from its first lines; None for any other shape, which then gets a full YAML parse."""
    try:
        return _scan_lines(text)
    except (yaml.YAMLError, IndexError):
        return None


def _scan_lines(text: str) -> Optional[tuple[ObjectKey, Head]]:
    top: dict[str, str] = {}
    meta: dict[str, str] = {}
    section = sub = ""
    for line in text.split("\n"):
        if not line.startswith(" "):
            if section == "metadata":
                break  # sorted keys: apiVersion and kind came before metadata
            key, sep, value = line.partition(": ")
            if sep:
                top[key] = _scalar(value)
            section = line[:-1] if line.endswith(":") else ""
        elif section == "metadata":
            if line[2] != " ":
                key, sep, value = line[2:].partition(": ")
                sub = "" if sep else key.rstrip(":")
                if sep:
                    meta[key] = _scalar(value)
            elif sub == "labels" and line[4] != " ":
                key, sep, value = line[4:].partition(": ")
                if key == TENANT_LABEL and sep:
                    meta[TENANT_LABEL] = _scalar(value)
    if not top.get("kind") or not meta.get("name"):
        return None
    api_version = top.get("apiVersion", "")
    key = (api_version.rpartition("/")[0], top["kind"], meta.get("namespace", ""), meta["name"])
    return key, Head(api_version, meta.get(TENANT_LABEL, PLATFORM))


def _chart_mark(chunk: str) -> tuple[str, str]:
    """(chart, the document without its mark line): objects a chart rendered carry a first line naming it."""
    if chunk.startswith(CHART_MARK):
        mark, _, rest = chunk.partition("\n")
        return mark[len(CHART_MARK):], rest
    return "", chunk


def _documents(text: str, manifests: Path) -> Iterator[tuple[ObjectKey, Head, str]]:
    chunks = text.split("\n---\n")
    marked = [_chart_mark(chunk) for chunk in chunks]
    scanned = [_scan(chunk) for _, chunk in marked]
    if all(scanned):
        for (key, head), (chart, chunk) in zip(scanned, marked):
            yield key, Head(head.api_version, head.tenant, chart), chunk
        return
    # Not (only) render's own output: parse it all, and compare objects re-dumped one way.
    try:
        documents = list(yaml.load_all(text, Loader=_Loader))
    except yaml.YAMLError as err:
        raise DiffInputError(f"{manifests}: not valid YAML: {err}") from None
    for index, obj in enumerate(documents):
        if obj is None:
            continue
        if not isinstance(obj, dict) or not obj.get("kind") or not (obj.get("metadata") or {}).get("name"):
            raise DiffInputError(f"{manifests}: document {index + 1} is not a Kubernetes object (kind and metadata.name)")
        labels = obj["metadata"].get("labels") or {}
        yield object_key(obj), Head(obj.get("apiVersion", ""), labels.get(TENANT_LABEL, PLATFORM)), yaml.safe_dump(obj, sort_keys=True)


def load_render(directory: Path) -> Render:
    if not directory.is_dir():
        raise DiffInputError(f"{directory}: not a directory (expected a render output such as build/dev)")
    manifests = directory / "manifests.yaml"
    texts: dict[ObjectKey, str] = {}
    heads: dict[ObjectKey, Head] = {}
    text = _read(manifests, "manifests.yaml")
    for key, head, document in (_documents(text, manifests) if text.strip() else ()):
        if key in texts:
            raise DiffInputError(f"{manifests}: {describe(key)} appears twice")
        texts[key], heads[key] = document, head
    resources_path = directory / "resources.json"
    try:
        entries = json.loads(_read(resources_path, "resources.json"))
    except json.JSONDecodeError as err:
        raise DiffInputError(f"{resources_path}: not valid JSON: {err}") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) and isinstance(e.get("urn"), str) for e in entries):
        raise DiffInputError(f"{resources_path}: expected a list of resources, each with a urn")
    relative = (_relative_entry(e) for e in entries)
    return Render(texts, heads, {e["urn"]: e for e in relative})


def relative_urn(urn: str) -> str:
    """`type$type::name`, without the stack and project: what a reviewer needs to tell resources apart."""
    parts = urn.split("::", 3)
    return "::".join(parts[2:]) if len(parts) == 4 else urn


def _relative_entry(entry: dict) -> dict:
    entry = dict(entry, urn=relative_urn(entry["urn"]))
    for key in ("parent", "provider"):
        if isinstance(entry.get(key), str):
            entry[key] = relative_urn(entry[key])
    if isinstance(entry.get("dependencies"), list):
        entry["dependencies"] = sorted(relative_urn(d) for d in entry["dependencies"] if isinstance(d, str))
    return entry


# --- Pulumi resources <-> Kubernetes objects -------------------------------------------------


def urn_name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def urn_type(urn: str) -> str:
    """The resource's own type (the last of the parent types in a relative URN)."""
    return urn.rpartition("::")[0].rsplit("$", 1)[-1]


def _resource_index(render: Render) -> dict[tuple[str, str], dict[str, list[str]]]:
    """(type, object name) -> component -> URNs: logical names are `<component>/<object name>`."""
    index: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for urn, entry in render.resources.items():
        kind = entry.get("type", "")
        if kind.startswith("kubernetes:"):
            scope, _, name = urn_name(urn).partition("/")
            index[(kind, name)][scope].append(urn)
    return index


def _match_resources(render: Render, renamed: dict[str, str]) -> dict[ObjectKey, str]:
    """Each object's URN; a tenant object's component is named after the tenant (its label)."""
    index = _resource_index(render)
    matched: dict[ObjectKey, str] = {}
    for key, head in render.heads.items():
        by_scope = index.get((resource_type(head.api_version, key[1]), key[3]), {})
        if len(by_scope) == 1:
            candidates = next(iter(by_scope.values()))
        else:
            candidates = by_scope.get(renamed.get(head.tenant, head.tenant), [])
        if len(candidates) == 1:
            matched[key] = candidates[0]
    return matched


def tenant_components(render: Render) -> dict[str, dict]:
    """Tenant name -> its TenantMesh entry."""
    return {urn_name(u): e for u, e in render.resources.items() if e.get("type") == TENANT_COMPONENT}


def previous_names(entry: dict) -> list[str]:
    names = []
    for alias in entry.get("options", {}).get("aliases") or []:
        name = (alias.get("spec") or {}).get("name") if isinstance(alias, dict) else None
        if name:
            names.append(name)
    return names


def _urn_tenant(urn: str, resources: dict[str, dict]) -> str:
    current: Optional[str] = urn
    while current:
        if resources.get(current, {}).get("type") == TENANT_COMPONENT:
            return urn_name(current)
        current = resources.get(current, {}).get("parent")
    return PLATFORM


# --- Field-level diff -------------------------------------------------------------------------


def _named(items: list) -> Optional[dict[str, Any]]:
    """Lists of uniquely named mappings (containers, env, ports) compare by name, not position."""
    if not items or not all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in items):
        return None
    by_name = {i["name"]: i for i in items}
    return by_name if len(by_name) == len(items) else None


def _show(value: Any) -> str:
    if value is _ABSENT:
        return "(none)"
    return json.dumps(value, sort_keys=True, separators=(", ", ": "))


def field_changes(old: Any, new: Any, path: str = "") -> Iterator[str]:
    """`path: old -> new` for every leaf that differs."""
    if old == new:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            yield from field_changes(old.get(key, _ABSENT), new.get(key, _ABSENT), f"{path}.{key}" if path else str(key))
        return
    if isinstance(old, list) and isinstance(new, list):
        old_named, new_named = _named(old), _named(new)
        # By name, unless only their order changed: then the order is the change.
        if old_named is not None and new_named is not None and (
            [i["name"] for i in old] == [i["name"] for i in new] or old_named.keys() != new_named.keys()
        ):
            for name in [*old_named, *(n for n in new_named if n not in old_named)]:
                yield from field_changes(old_named.get(name, _ABSENT), new_named.get(name, _ABSENT), f"{path}[name={name}]")
            return
        if len(old) != len(new) or (old_named is not None and new_named is not None):
            yield f"{path}: {_show(old)} -> {_show(new)}"
            return
        for index, (a, b) in enumerate(zip(old, new)):
            yield from field_changes(a, b, f"{path}[{index}]")
        return
    yield f"{path}: {_show(old)} -> {_show(new)}"


def _pulumi_view(entry: Optional[dict]) -> dict:
    """What the engine is told about an object's resource besides its inputs."""
    return {} if entry is None else {k: v for k, v in entry.items() if k not in ("urn", "type")}


def pulumi_changes(old: Optional[dict], new: Optional[dict]) -> list[str]:
    """Options, parent and provider field by field; dependencies as the ones gained and lost."""
    before, after = _pulumi_view(old), _pulumi_view(new)
    old_deps, new_deps = set(before.pop("dependencies", [])), set(after.pop("dependencies", []))
    lines = list(field_changes(before, after, "pulumi"))
    lines += [f"pulumi.dependencies: + {d}" for d in sorted(new_deps - old_deps)]
    lines += [f"pulumi.dependencies: - {d}" for d in sorted(old_deps - new_deps)]
    return lines


def _renamed_urn(urn: str, renamed: dict[str, str]) -> str:
    """The URN a renamed tenant's resource has under its new name (as its aliases make it)."""
    prefix, sep, name = urn.rpartition("::")
    scope, slash, rest = name.partition("/")
    if TENANT_COMPONENT not in prefix or scope not in renamed:
        return urn
    return f"{prefix}{sep}{renamed[scope]}{slash}{rest}"


def _under_new_names(render: Render, renamed: dict[str, str]) -> Render:
    """`render` with renamed tenants' URNs rewritten, so a rename compares like for like."""
    if not renamed:
        return render

    def rewrite(entry: dict) -> dict:
        entry = dict(entry, urn=_renamed_urn(entry["urn"], renamed))
        if entry.get("parent"):
            entry["parent"] = _renamed_urn(entry["parent"], renamed)
        if entry.get("dependencies"):
            entry["dependencies"] = sorted(_renamed_urn(d, renamed) for d in entry["dependencies"])
        return entry

    entries = (rewrite(e) for e in render.resources.values())
    return Render(render.texts, render.heads, {e["urn"]: e for e in entries}, render._parsed)


def _component_aliases(old: Render, new: Render) -> list[tuple[str, str, str, str]]:
    """(old type, old name, new type, new name) of top-level components of ours that alias an old one
    (another type or name), as the engine matches them: their children follow (names prefixed by the
    component's), so the diff compares each old resource with the one that takes it over."""
    found = []
    for urn, entry in new.resources.items():
        kind = entry.get("type", "")
        if not kind.startswith("istio-multitenancy:index:") or "$" in urn.rpartition("::")[0]:
            continue
        for alias in entry.get("options", {}).get("aliases") or []:
            spec = alias.get("spec") if isinstance(alias, dict) else None
            if not isinstance(spec, dict) or spec.get("parentUrn"):
                continue
            old_type, old_name = spec.get("type") or kind, spec.get("name") or urn_name(urn)
            if f"{old_type}::{old_name}" in old.resources and f"{old_type}::{old_name}" not in new.resources:
                found.append((old_type, old_name, kind, urn_name(urn)))
    return found


def _under_aliases(old: Render, new: Render) -> Render:
    """`old` with the URNs of aliased components and their children as the new program names them."""
    aliases = _component_aliases(old, new)
    if not aliases:
        return old

    def moved(urn: str) -> str:
        prefix, sep, name = urn.rpartition("::")
        types = prefix.split("$")
        for old_type, old_name, new_type, new_name in aliases:
            if types[0] == old_type and (name == old_name or (len(types) > 1 and name.startswith(old_name))):
                return "$".join([new_type, *types[1:]]) + sep + new_name + name[len(old_name):]
        return urn

    def rewrite(entry: dict) -> dict:
        entry = dict(entry, urn=moved(entry["urn"]))
        if entry.get("parent"):
            entry["parent"] = moved(entry["parent"])
        if entry.get("dependencies"):
            entry["dependencies"] = sorted(moved(d) for d in entry["dependencies"])
        return entry

    entries = (rewrite(e) for e in old.resources.values())
    return Render(old.texts, old.heads, {e["urn"]: e for e in entries}, old._parsed)


# --- The report -------------------------------------------------------------------------------


def describe(key: ObjectKey) -> str:
    group, kind, namespace, name = key
    kind = f"{kind}.{group}" if group else kind
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def _facts(render: Render, tenant: str) -> dict[str, set[str]]:
    """The namespace and gateway of a tenant, as its objects show them."""
    namespaces = {key[3] for key, head in render.heads.items() if head.tenant == tenant and key[1] == "Namespace"}
    return {"namespace": namespaces, "gateway": {name for name, _ in _gateways(render, tenant)} - {""}}


def compare(old: Render, new: Render) -> Report:
    groups: dict[str, Group] = defaultdict(Group)
    old_tenants, new_tenants = tenant_components(old), tenant_components(new)
    renamed = {
        previous: name
        for name, entry in new_tenants.items()
        for previous in previous_names(entry)
        if previous in old_tenants and previous not in new_tenants
    }
    look_alikes = _look_alikes(old, new, old_tenants, new_tenants, renamed)
    hints = _hints(old, new, renamed, look_alikes)
    warnings = _gateways_following_names(old, new, [*renamed.items(), *((p, n) for p, n, _ in look_alikes)])
    notes = _compare_charts_where_both_expanded(old, new)
    old = _under_aliases(_under_new_names(old, renamed), new)
    old_urns, new_urns = _match_resources(old, renamed), _match_resources(new, {})
    moves = _moves(old, new, old_urns, new_urns)

    def group_of(tenant: str) -> Group:
        return groups[renamed.get(tenant, tenant)]

    retained: list[ObjectKey] = []
    deleted: list[tuple[ObjectKey, dict]] = []  # objects whose resource the update deletes, with its entry
    for key in sorted(old_urns.keys() & new_urns.keys()):
        before, after = old_urns[key], new_urns[key]
        if before != after and not _aliased(before, after, new.resources.get(after)):
            deleted.append((key, old.resources.get(before, {})))
    for key in old.texts.keys() - new.texts.keys():
        deleted.append((key, old.resources.get(old_urns.get(key, ""), {})))
        options = old.resources.get(old_urns.get(key, ""), {}).get("options", {})
        note = ""
        if options.get("retainOnDelete"):
            note = "retained: stays in the cluster (retainOnDelete), with everything Pulumi does not manage in it"
            retained.append(key)
        elif options.get("protect"):
            note = "protected: `pulumi up` fails until it is unprotected (protect)"
        group_of(old.tenant_of(key)).removed.append((key, note))
    for key in new.texts.keys() - old.texts.keys():
        group_of(new.tenant_of(key)).added.append(key)
    updated: set[str] = set()
    for key in old.texts.keys() & new.texts.keys():
        old_entry, new_entry = old.resources.get(old_urns.get(key, "")), new.resources.get(new_urns.get(key, ""))
        same_object = old.texts[key] == new.texts[key]
        if same_object and _pulumi_view(old_entry) == _pulumi_view(new_entry):
            continue
        fields = [] if same_object else list(field_changes(old.object(key), new.object(key)))
        fields += pulumi_changes(old_entry, new_entry)
        if fields:
            group_of(new.tenant_of(key)).changed.append(Change(key, fields))
            updated.add(new_urns.get(key, ""))

    # Pulumi resources that are no Kubernetes object: components and providers.
    old_objects, new_objects = set(old_urns.values()), set(new_urns.values())
    for urn in sorted((old.resources.keys() | new.resources.keys()) - old_objects - new_objects):
        before, after = old.resources.get(urn), new.resources.get(urn)
        where = _urn_tenant(urn, new.resources if after else old.resources)
        label = f"{urn_type(urn)} {urn_name(urn)}"
        if before is None:
            group_of(where).resources.append(f"+ {label}")
        elif after is None:
            group_of(where).resources.append(f"- {label}")
        elif before != after:
            group_of(where).resources.append(f"~ {label}")
            group_of(where).resources.extend(f"    {line}" for line in pulumi_changes(before, after))
    for urn in old.resources.keys() & new.resources.keys():
        if old.resources[urn] != new.resources[urn]:
            updated.add(urn)
    for tenant, group in groups.items():
        if tenant in old_tenants and tenant not in new_tenants and tenant not in renamed:
            group.notes += _removed_tenant_notes(tenant, [k for k in retained if k[1] == "Namespace"], old)

    for tenant in groups:
        if tenant == PLATFORM:
            groups[tenant].title = "platform"
        elif tenant in renamed.values():
            was = ", ".join(sorted(p for p, n in renamed.items() if n == tenant))
            groups[tenant].title = f"tenant {tenant} (renamed from {was}: previousNames)"
        elif tenant in new_tenants and tenant not in old_tenants:
            groups[tenant].title = f"tenant {tenant} (new)"
        elif tenant in old_tenants and tenant not in new_tenants:
            groups[tenant].title = f"tenant {tenant} (removed)"
        else:
            groups[tenant].title = f"tenant {tenant}"
    report = Report(dict(groups), sorted(retained), hints, warnings, moves, notes, old=old, new=new)
    report.alerts = list(diff_risks.all_alerts(old, new, deleted))
    report.counts, report.upgrades = _resource_counts(old, new, updated)
    objects_upgraded = _object_upgrades([c for g in groups.values() for c in g.changed])
    report.upgrades += objects_upgraded
    if objects_upgraded or any(urn.endswith("/istiod") or "/istiod-" in urn for urn in _version_changes(old, new)):
        report.notes.append(
            "istiod upgraded: running sidecars keep their proxy version until their pods restart "
            "(`kubectl rollout restart deployment -n <tenant namespace>`); gateways roll out the new version themselves"
        )
    if diff_risks.moved_to_meshes(old, new):
        report.move_cause = "the move to `meshes:`: the control plane's resources are a MeshControlPlane's now"
    return report


def _resource_counts(old: Render, new: Render, updated: set[str]) -> tuple[dict[str, int], list[str]]:
    """Pulumi resources to create, delete, update and replace; chart version changes in words."""
    both = old.resources.keys() & new.resources.keys()
    replaced = {urn for urn in both & updated if _replaces(old.resources[urn], new.resources[urn])}
    counts = {
        "to create": len(new.resources.keys() - old.resources.keys()),
        "to delete": len(old.resources.keys() - new.resources.keys()),
        "to update": len((both & updated) - replaced),
        "to replace": len(replaced),
    }
    versions: dict[tuple[str, str], int] = defaultdict(int)
    for before_after in _version_changes(old, new).values():
        versions[before_after] += 1
    words = []
    for (before, after), count in sorted(versions.items()):
        verb = "upgraded" if _release_key(after) > _release_key(before) else "downgraded"
        words.append(f"{count} chart{'s' if count > 1 else ''} {verb}: {before} -> {after}")
    return counts, words


def _version_changes(old: Render, new: Render) -> dict[str, tuple[str, str]]:
    """Chart URN -> (old version, new version), for the charts whose version changes."""
    out = {}
    for urn in old.resources.keys() & new.resources.keys():
        if old.resources[urn].get("type") == CHART_TYPE:
            before, after = diff_risks.version_of(old.resources[urn]), diff_risks.version_of(new.resources[urn])
            if before != after:
                out[urn] = (before, after)
    return out


_VERSION_FIELD = re.compile(r"(^spec\.version|\.image|\.tag): \"([^\"]+)\" -> \"([^\"]+)\"$")


def _object_upgrades(changes: list[Change]) -> list[str]:
    """Objects that install Istio at another version (Sail's `Istio`, the operator's image), in words."""
    words = []
    for change in sorted(changes, key=lambda c: c.key):
        for line in change.fields:
            found = _VERSION_FIELD.search(line)
            if found:
                before, after = found.group(2), found.group(3)
                verb = "upgraded" if _release_key(after.rpartition(":")[2]) > _release_key(before.rpartition(":")[2]) else "downgraded"
                words.append(f"{change.key[1]} {change.key[3]} {verb}: {before} -> {after}")
    return words


def _release_key(version: str) -> tuple:
    return tuple(int(part) if part.isdigit() else -1 for part in version.lstrip("v").split("."))


def _replaces(before: dict, after: dict) -> bool:
    """A Helm release under another name or namespace is a new release: the chart's objects are replaced."""
    if before.get("type") != CHART_TYPE:
        return False
    old_inputs, new_inputs = before.get("inputs") or {}, after.get("inputs") or {}
    return any(old_inputs.get(key) != new_inputs.get(key) for key in ("name", "namespace"))


def _removed_tenant_notes(tenant: str, namespaces: list[ObjectKey], old: Render) -> list[str]:
    kept = [key[3] for key in namespaces if old.tenant_of(key) == tenant]
    if not kept:
        return []
    names = ", ".join(kept)
    # What its TenantRemoval (components/tenant_removal.py) does when `pulumi up` deletes it.
    removal = next((e.get("inputs") or {} for e in old.resources.values()
                    if e.get("type") == REMOVAL_TYPE and (e.get("inputs") or {}).get("tenant") == tenant), None)
    if removal is None:
        left = "what the tenant created stays as it is: its workloads keep running, its own RoleBindings keep granting"
    elif removal.get("keepWorkloads"):
        left = ("what the tenant created stays as it is (`removal.keepWorkloads`): its workloads keep running, "
                "its own RoleBindings keep granting")
    else:
        left = ("`pulumi up` deletes the RoleBindings the tenant created, scales its Deployments, StatefulSets and "
                "ReplicaSets to zero and suspends its CronJobs and Jobs (`removal.keepWorkloads: true`, set in an earlier run, keeps them)")
    return [
        f"its namespace {names} stays in the cluster (retainOnDelete) and is frozen by admission: with the tenant's "
        f"parameters gone, every write there but the platform's is refused",
        left,
        f"adding tenant {tenant} back (same name and namespace) needs `adopt: true` (`pulumi preview` fails without it): "
        f"it takes the namespace, its protections and what the tenant left there over again and lifts the freeze; "
        f"to delete them instead, set `decommission: true` before removing it",
    ]


def _chart_expansions(render: Render) -> dict[str, str]:
    """Chart (its resource's name) -> how its render went: "expanded", or why not."""
    return {urn_name(u): e.get("expansion", "") for u, e in render.resources.items() if e.get("type") == CHART_TYPE}


def _compare_charts_where_both_expanded(old: Render, new: Render) -> list[str]:
    """Leave out the objects of a chart that only one side expanded: they are not added or removed,
    the other side just could not show them. Its values still compare (its resource's inputs)."""
    expansions = (_chart_expansions(old), _chart_expansions(new))
    one_sided = sorted(
        chart for chart in expansions[0].keys() & expansions[1].keys()
        if (expansions[0][chart] == EXPANDED) != (expansions[1][chart] == EXPANDED)
    )
    for render in (old, new):
        for key in [k for k, head in render.heads.items() if head.chart in one_sided]:
            del render.texts[key], render.heads[key]
    if not one_sided:
        return []
    return [f"charts expanded on one side only (their values are compared, not their objects): {', '.join(one_sided)}"]


def _look_alikes(
    old: Render, new: Render, old_tenants: dict, new_tenants: dict, renamed: dict[str, str]
) -> list[tuple[str, str, list[str]]]:
    """(removed tenant, added tenant, what they share) for pairs that look like one tenant renamed."""
    pairs = []
    gone = sorted(set(old_tenants) - set(new_tenants) - set(renamed))
    for name in sorted(set(new_tenants) - set(old_tenants)):
        after = _facts(new, name)
        for previous in gone:
            before = _facts(old, previous)
            shared = [f"{what} {', '.join(sorted(before[what] & after[what]))}" for what in ("namespace", "gateway") if before[what] & after[what]]
            if shared:
                pairs.append((previous, name, shared))
    return pairs


def _hints(old: Render, new: Render, renamed: dict[str, str], look_alikes: list[tuple[str, str, list[str]]]) -> list[str]:
    hints = [
        f"tenant {name!r} looks like tenant {previous!r} renamed (same {' and '.join(shared)}): "
        f"add `previousNames: [{previous}]` to {name!r} so Pulumi keeps its resources "
        f"instead of deleting {previous!r}'s and creating new ones"
        for previous, name, shared in look_alikes
    ]
    for previous, name in sorted(renamed.items()):
        before, after = _facts(old, previous)["namespace"], _facts(new, name)["namespace"]
        if before and after and before != after:
            hints.append(
                f"tenant {name!r} (renamed from {previous!r}) moves to namespace {', '.join(sorted(after))}: "
                f"set `namespace: {', '.join(sorted(before))}` to keep its workloads where they run"
            )
    return hints


def _resource(urn: str, render: Render) -> str:
    """`workspace-2/wk2-ingressgw in TenantMesh workspace-2`: a resource's name and its parent's."""
    parent = render.resources.get(urn, {}).get("parent") or ""
    return f"{urn_name(urn)} in {urn_type(parent).rpartition(':')[2]} {urn_name(parent)}" if parent else urn_name(urn)


def _aliased(old_urn: str, new_urn: str, entry: Optional[dict]) -> bool:
    """Whether one of the new resource's aliases (another type or name of its own) is the old URN."""
    prefix, _, name = new_urn.rpartition("::")
    parents, _, own_type = prefix.rpartition("$")
    for alias in (entry or {}).get("options", {}).get("aliases") or []:
        spec = alias.get("spec") if isinstance(alias, dict) else None
        if isinstance(spec, dict):
            kind = spec.get("type") or own_type
            candidate = f"{parents}${kind}" if parents else kind
            if f"{candidate}::{spec.get('name') or name}" == old_urn:
                return True
    return False


def _moves(old: Render, new: Render, old_urns: dict[ObjectKey, str], new_urns: dict[ObjectKey, str]) -> list[str]:
    """Objects that stay themselves under another Pulumi resource: a create, then a delete of the same object."""
    moves = []
    for key in sorted(old_urns.keys() & new_urns.keys(), key=describe):
        before, after = old_urns[key], new_urns[key]
        if before == after or _aliased(before, after, new.resources.get(after)):
            continue
        options = old.resources.get(before, {}).get("options", {})
        note = ""
        if options.get("retainOnDelete"):
            note = "  [retainOnDelete: the delete leaves the object]"
        elif options.get("protect"):
            note = "  [protect: the delete fails, and `pulumi up` with it]"
        moves.append(f"{describe(key)}: {_resource(before, old)} -> {_resource(after, new)}{note}")
    return moves + _chart_moves(old, new)


def _releases(render: Render) -> dict[tuple[str, str], str]:
    """(namespace, release name) -> the chart's URN: a release's objects are Kubernetes objects of those names."""
    releases = {}
    for urn, entry in render.resources.items():
        if entry.get("type") == CHART_TYPE:
            inputs = entry.get("inputs") or {}
            releases[(str(inputs.get("namespace", "")), str(inputs.get("name") or urn_name(urn)))] = urn
    return releases


def _chart_moves(old: Render, new: Render) -> list[str]:
    """Helm releases that stay themselves under another chart resource; with the objects the chart
    rendered when `helm template` expanded it, else from the chart resource alone."""
    moves = []
    old_releases, new_releases = _releases(old), _releases(new)
    for release in sorted(old_releases.keys() & new_releases.keys()):
        before, after = old_releases[release], new_releases[release]
        if before == after or _aliased(before, after, new.resources.get(after)):
            continue
        # A chart from a repository, or a local directory (chartDirectory): its name either way.
        chart = str((new.resources[after].get("inputs") or {}).get("chart", "")).rstrip("/").rpartition("/")[2]
        namespace, name = release
        moves.append(f"Helm release {namespace}/{name} (chart {chart}): {_resource(before, old)} -> {_resource(after, new)}")
        old_children = {k for k, h in old.heads.items() if h.chart == urn_name(before)}
        new_children = {k for k, h in new.heads.items() if h.chart == urn_name(after)}
        moves += [f"  {describe(key)}: rendered by it" for key in sorted(old_children & new_children, key=describe)]
        if not old_children and not new_children:
            moves.append("  and every object it renders (not listed: the chart was not expanded; HELM_BIN names a helm to expand it)")
    return moves


def _gateway_charts(render: Render, tenant: str) -> list[tuple[str, dict]]:
    """(URN, entry) of a tenant's gateway charts (Helm path): the release is the gateway."""
    return [
        (urn, entry) for urn, entry in sorted(render.resources.items())
        if entry.get("type") == CHART_TYPE and _urn_tenant(urn, render.resources) == tenant
        and str((entry.get("inputs") or {}).get("chart", "")).rstrip("/").endswith("gateway")
    ]


def _gateways(render: Render, tenant: str) -> list[tuple[str, dict]]:
    """(name, labels) of a tenant's gateways, as its IstioOperator or its gateway chart deploys them."""
    out = []
    for key, head in render.heads.items():
        if head.tenant == tenant and key[1] == "IstioOperator":
            for gw in (render.object(key).get("spec") or {}).get("components", {}).get("ingressGateways") or []:
                # The tenant label follows the tenant whatever is pinned (as on the chart below).
                out.append((gw.get("name", ""), {k: v for k, v in (gw.get("label") or {}).items() if k != TENANT_LABEL}))
    for _, entry in _gateway_charts(render, tenant):
        inputs = entry.get("inputs") or {}
        values = inputs.get("values") or {}
        # The chart's labels carry the tenant label too, which follows the tenant whatever is pinned.
        labels = {k: v for k, v in (values.get("labels") or {}).items() if k != TENANT_LABEL}
        out.append((values.get("name") or inputs.get("name", ""), labels))
    return out


def _gateways_following_names(old: Render, new: Render, pairs: list[tuple[str, str]]) -> list[str]:
    """Renamed tenants whose gateway takes the new name's defaults: a new gateway, a new address."""
    warnings = []
    for previous, name in sorted(pairs):
        before, after = _gateways(old, previous), _gateways(new, name)
        if len(before) != 1 or len(after) != 1:
            continue
        (old_name, old_labels), (new_name, new_labels) = before[0], after[0]
        default = Tenant(name=name)
        following = []
        if new_name != old_name and new_name == default.gateway_name:
            following.append(f"name {old_name} -> {new_name}")
        if new_labels != old_labels and new_labels == default.gateway_labels:
            following.append(f"labels {_labels(old_labels)} -> {_labels(new_labels)}")
        if following:
            warnings.append(
                f"tenant {name!r} (was {previous!r}): its gateway's {' and '.join(following)} follow the tenant's name, "
                f"so the gateway is replaced, with a new external address; to keep it, pin them in the tenants file: "
                f"`gateway: {{name: {old_name}, labels: {_labels(old_labels)}}}`"
            )
    return warnings


def _labels(labels: dict) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in sorted(labels.items())) + "}"


# Kinds whose content (new objects) and field changes are shown without --verbose: what decides
# who can reach what. Other kinds show their name and how many fields change.
SHOWN_KINDS = frozenset({
    "Service", "Gateway", "VirtualService", "HTTPRoute", "GRPCRoute", "TCPRoute", "TLSRoute", "UDPRoute",
    "AuthorizationPolicy", "PeerAuthentication", "RequestAuthentication", "NetworkPolicy", "Sidecar", "ServiceEntry",
    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "Namespace",
    "Istio", "IstioCNI", "IstioRevision", "IstioRevisionTag", "IstioOperator",  # what installs Istio, and which version
})
DEPENDENCY_LINE = "pulumi.dependencies:"
NAMES_SHOWN = 4  # of the objects one collapsed change is repeated over

# Extra sections after the tenants, each (old render, new render, report) -> lines ([] for none);
# another module appends to it (e.g. what becomes reachable). The title is printed above the lines.
Section = Callable[[Render, Render, Report], list[str]]
SECTIONS: list[tuple[str, Section]] = []


def register_section(title: str, section: Section) -> None:
    """Add a section to every report (idempotent per title)."""
    if all(existing != title for existing, _ in SECTIONS):
        SECTIONS.append((title, section))


def _summary(report: Report) -> list[str]:
    counts = ", ".join(f"{n} {what}" for what, n in report.counts.items() if n) or "none changed"
    words = f" ({'; '.join(report.upgrades)})" if report.upgrades else ""
    added = sum(len(g.added) for g in report.groups.values())
    removed = sum(len(g.removed) for g in report.groups.values())
    changed = sum(len(g.changed) for g in report.groups.values())
    tenants = [t for t, g in report.groups.items() if g and t != PLATFORM]
    return [
        f"Pulumi resources: {counts}{words}",
        f"Kubernetes objects: {added} added, {removed} removed, {changed} changed; tenants affected: {len(tenants)}",
    ]


def _content(obj: dict) -> list[str]:
    """A new object's YAML, without what its `+` line already says."""
    shown = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in ("name", "namespace")}
    # The labels every object of the program carries say nothing about this one.
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k not in MANAGED_BY and k != TENANT_LABEL}
    meta = {k: v for k, v in meta.items() if k != "labels"} | ({"labels": labels} if labels else {})
    if meta:
        shown["metadata"] = meta
    else:
        shown.pop("metadata", None)
    text = yaml.safe_dump(shown, sort_keys=True, default_flow_style=False, width=120).rstrip("\n")
    return [f"    {line}" for line in text.split("\n")] if shown else []


def _visible(lines: list[str], verbose: bool) -> list[str]:
    return lines if verbose else [line for line in lines if not line.strip().startswith(DEPENDENCY_LINE)]


def _changes(changes: list[Change], verbose: bool) -> list[str]:
    """Changed objects; the same change over several objects of one kind once, with a count."""
    out: list[str] = []
    same: dict[tuple, list[Change]] = defaultdict(list)
    only_dependencies: list[Change] = []
    for change in sorted(changes, key=lambda c: c.key):
        fields = _visible(change.fields, verbose)
        if not fields:
            only_dependencies.append(change)
        elif verbose:  # every object on its own
            same[(change.key, tuple(fields))].append(change)
        elif change.key[1] in SHOWN_KINDS:
            same[(change.key[0], change.key[1], tuple(fields))].append(change)
        else:
            out.append(f"~ {describe(change.key)}  ({len(fields)} field{'s' if len(fields) > 1 else ''}; --verbose shows them)")
    for (*_, fields), repeated in same.items():
        if len(repeated) == 1:
            out.append(f"~ {describe(repeated[0].key)}")
        else:
            group, kind = repeated[0].key[:2]
            names = [c.key[3] if not c.key[2] else f"{c.key[2]}/{c.key[3]}" for c in repeated]
            more = f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else ""
            out.append(f"~ {len(repeated)} x {kind}{'.' + group if group else ''}, the same change: {', '.join(names[:NAMES_SHOWN])}{more}")
        out += [f"    {line}" for line in fields]
    if only_dependencies:
        out.append(f"~ {len(only_dependencies)} object{'s' if len(only_dependencies) > 1 else ''}: only their Pulumi dependencies change (--verbose lists them)")
    return out


def _resources(lines: list[str], verbose: bool) -> list[str]:
    """Pulumi-only lines, without dependency changes unless verbose; a `~` left with nothing says so."""
    kept = _visible(lines, verbose)
    out = []
    for index, line in enumerate(kept):
        following = kept[index + 1] if index + 1 < len(kept) else ""
        if line.startswith("~ ") and not following.startswith("    "):
            out.append(f"{line}  (only its dependencies; --verbose lists them)")
        else:
            out.append(line)
    return out


def format_report(report: Report, old_dir: str, new_dir: str, verbose: bool = False) -> str:
    if report.identical:
        return f"no changes: {old_dir} and {new_dir} render the same objects and options"
    lines = [f"render diff {old_dir} -> {new_dir}", *_summary(report)]
    lines += [f"! {alert}" for alert in report.alerts]
    lines += report.notes
    # The platform first: a change there touches every tenant.
    for tenant in sorted(report.groups, key=lambda t: (t != PLATFORM, t)):
        group = report.groups[tenant]
        if not group:
            continue
        lines += ["", group.title]
        lines += [f"  {note}" for note in group.notes]
        for key in sorted(group.added):
            lines.append(f"+ {describe(key)}")
            if report.new is not None and (verbose or key[1] in SHOWN_KINDS):
                lines += _content(report.new.object(key))
        lines += [f"- {describe(key)}" + (f"  [{note}]" if note else "") for key, note in sorted(group.removed)]
        lines += _changes(group.changed, verbose)
        lines += _resources(group.resources, verbose)
    if report.retained:
        lines += ["", "left in the cluster (retainOnDelete; delete by hand, or mark the tenant `decommission: true` first):"]
        lines += [f"  {describe(key)}" for key in report.retained]
    if report.moves or report.warnings:
        lines += ["", "warnings:"]
    if report.moves:
        lines.append(
            "  these objects stay the same Kubernetes objects under another Pulumi resource: `pulumi up` creates "
            f"the new resource, then deletes the old one and the object with it ({report.move_cause})"
        )
        lines += [f"    {move}" for move in report.moves]
    lines += [f"  {warning}" for warning in report.warnings]
    if report.hints:
        lines += ["", "hints:"]
        lines += [f"  {hint}" for hint in report.hints]
    for title, section in SECTIONS:
        extra = section(report.old, report.new, report) if report.old is not None and report.new is not None else []
        if extra:
            lines += ["", title, *extra]
    return "\n".join(lines)


def run(old_dir: Path, new_dir: Path, verbose: bool = False) -> tuple[int, str]:
    """(exit code, text): 0 identical, 1 different; DiffInputError for unusable input."""
    report = compare(load_render(old_dir), load_render(new_dir))
    return (0 if report.identical else 1), format_report(report, str(old_dir), str(new_dir), verbose)
