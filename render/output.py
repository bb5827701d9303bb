"""Turn a recorded program run into the files users review: manifests.yaml and resources.json."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Optional, Sequence

import yaml

from .engine import ProgramRun, Registration

COMPONENT_PREFIX = "istio-multitenancy:index:"
CHART_TYPE = "kubernetes:helm.sh/v4:Chart"
# Manifests the provider reads itself (the Gateway API's CRDs): their `files` are all the render sees of them.
CONFIG_GROUP_TYPE = "kubernetes:yaml/v2:ConfigGroup"
# The first line of a document a chart rendered (`helm template`), naming the chart's resource.
CHART_MARK = "# chart: "
NO_HELM = "not expanded: no helm on PATH"


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


def _dump(obj: dict) -> str:
    return yaml.safe_dump(obj, sort_keys=True, default_flow_style=False, width=120)


def manifests_yaml(run: ProgramRun, expansions: Sequence = ()) -> str:
    """Every object, the program's and those its charts render (each marked with its chart), in one order."""
    documents = [(obj, None) for obj in kubernetes_objects(run)]
    documents += [(obj, expansion.chart.name) for expansion in expansions for obj in expansion.objects]
    documents.sort(key=lambda document: manifest_order(document[0]))
    return "---\n".join(_dump(obj) if chart is None else f"{CHART_MARK}{chart}\n{_dump(obj)}" for obj, chart in documents)


def resource_entry(r: Registration, expansion: Optional[Any] = None) -> dict:
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
    if r.type.startswith(("pulumi:providers:", "pulumi-python:dynamic/")) or r.type in (CHART_TYPE, CONFIG_GROUP_TYPE):
        # A chart's inputs are what the provider renders: its objects when they were not expanded;
        # a ConfigGroup's, the manifests it applies; a dynamic resource's (a tenant's removal), its settings.
        entry["inputs"] = plain(r.inputs)
    if expansion is not None:
        entry["expansion"] = expansion.status
    return entry


def resources_json(run: ProgramRun, expansions: Sequence = ()) -> str:
    by_chart = {expansion.chart.urn: expansion for expansion in expansions}
    entries = sorted((resource_entry(r, by_chart.get(r.urn)) for r in run.registrations), key=lambda e: e["urn"])
    return json.dumps(entries, indent=2, sort_keys=True) + "\n"


def component_of(r: Registration, by_urn: dict[str, Registration]) -> Registration | None:
    """The nearest enclosing component of ours (the resource itself if it is one)."""
    current: Registration | None = r
    while current is not None:
        if current.type.startswith(COMPONENT_PREFIX):
            return current
        current = by_urn.get(current.parent)
    return None


def charts_summary(expansions: Sequence, helm_version: str = "") -> list[str]:
    """What became of the charts: expanded (how many objects), or why not."""
    if not expansions:
        return []
    done = [e for e in expansions if e.expanded]
    lines = []
    if done:
        objects = sum(len(e.objects) for e in done)
        lines.append(f"charts: {len(done)} of {len(expansions)} expanded with helm {helm_version}: {objects} objects".rstrip())
    statuses = sorted({e.status for e in expansions if not e.expanded})
    if statuses == [NO_HELM] and not done:
        return [
            "charts were not expanded (no helm on PATH): set HELM_BIN or put helm on PATH to see the objects they render",
            "  get helm from https://helm.sh/docs/intro/install/, or `make helm` builds it into build/e2e/bin (needs Go), where render finds it",
        ]
    if len(statuses) == 1 and not done:
        return [f"charts {statuses[0]}"]
    for status in statuses:
        names = [e.chart.name for e in expansions if e.status == status]
        lines.append(status if len(names) == len(expansions) else f"{', '.join(names)}: {status}")
    return lines


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
    if run.whole_of:
        lines.append(
            f"  a sharded installation: the platform and its {run.whole_of} shard stacks' tenants, rendered as one stack "
            f"(the same objects; --stack-only renders {run.stack}'s own, the platform)"
        )
    for (kind, name), count in sorted(per_component.items(), key=lambda item: (item[0][0] == "TenantMesh", item[0])):
        lines.append(f"  {kind:<22} {name:<32} {count:>4} resources")
    return "\n".join(lines)
