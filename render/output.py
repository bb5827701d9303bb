"""Turn a recorded program run into the files users review: manifests.yaml and resources.json."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import yaml

from .engine import ProgramRun, Registration

COMPONENT_PREFIX = "istio-multitenancy:index:"


def plain(value: Any) -> Any:
    """Mock-engine values back to what the program wrote: numbers arrive as floats."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def manifest_order(obj: dict) -> tuple:
    """Cluster-scoped first, then by namespace, kind and name."""
    meta = obj.get("metadata", {})
    namespace = meta.get("namespace")
    return (namespace is not None, namespace or "", obj.get("kind", ""), meta.get("name", ""))


def kubernetes_objects(run: ProgramRun) -> list[dict]:
    objects = [plain(r.inputs) for r in run.registrations if r.is_kubernetes_object]
    return sorted(objects, key=manifest_order)


def manifests_yaml(run: ProgramRun) -> str:
    return yaml.safe_dump_all(kubernetes_objects(run), sort_keys=True, default_flow_style=False, width=120)


def resource_entry(r: Registration) -> dict:
    entry: dict = {
        "urn": r.urn,
        "type": r.type,
        "parent": r.parent,
        "provider": r.provider,
        "dependencies": r.dependencies,
        "options": {
            "protect": r.protect,
            "retainOnDelete": r.retain_on_delete,
            "deleteBeforeReplace": r.delete_before_replace,
            "aliases": r.aliases,
        },
    }
    if r.type.startswith("pulumi:providers:"):
        entry["inputs"] = plain(r.inputs)
    return entry


def resources_json(run: ProgramRun) -> str:
    entries = sorted((resource_entry(r) for r in run.registrations), key=lambda e: e["urn"])
    return json.dumps(entries, indent=2, sort_keys=True) + "\n"


def component_of(r: Registration, by_urn: dict[str, Registration]) -> Registration | None:
    """The nearest enclosing component of ours (the resource itself if it is one)."""
    current: Registration | None = r
    while current is not None:
        if current.type.startswith(COMPONENT_PREFIX):
            return current
        current = by_urn.get(current.parent)
    return None


def summary(run: ProgramRun) -> str:
    by_urn = run.by_urn()
    per_component: Counter = Counter()
    for r in run.registrations:
        owner = component_of(r, by_urn)
        if owner is not None:
            per_component[(owner.type[len(COMPONENT_PREFIX):], owner.name)] += 1
    objects = sum(r.is_kubernetes_object for r in run.registrations)
    tenants = sum(1 for kind, _ in per_component if kind == "TenantMesh")
    lines = [
        f"stack {run.stack}: {len(run.registrations)} Pulumi resources, {objects} Kubernetes objects, {tenants} tenants"
    ]
    for (kind, name), count in sorted(per_component.items(), key=lambda item: (item[0][0] == "TenantMesh", item[0])):
        lines.append(f"  {kind:<22} {name:<32} {count:>4} resources")
    return "\n".join(lines)
