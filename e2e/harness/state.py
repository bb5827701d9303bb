"""The state (`pulumi stack export`) against the cluster: one live object per resource, same uid."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Optional

from .kube import Kube
from .pulumi import kubernetes_resources
from .render import Rendered, key

Key = tuple[str, str, Optional[str], str]


def resource_arg(api_version: str, kind: str) -> str:
    """kubectl's fully qualified resource name: no ambiguity between Istio's and Gateway API's `Gateway`."""
    if "/" not in api_version:
        return kind
    group, version = api_version.split("/")
    return f"{kind}.{version}.{group}"


@dataclass
class Snapshot:
    resources: list[dict]
    rendered: list[dict]
    by_key: dict[Key, dict] = field(default_factory=dict)
    live_by_key: dict[Key, dict] = field(default_factory=dict)
    api_versions: dict[Key, str] = field(default_factory=dict)

    def key_of(self, resource: dict) -> Key:
        return key(resource["outputs"])

    def live(self, obj: dict) -> Optional[dict]:
        return self.live_by_key.get(key(obj))

    def uids(self) -> dict[Key, str]:
        return {k: o["metadata"]["uid"] for k, o in self.live_by_key.items()}

    def objects_of(self, kind: str) -> list[dict]:
        return [o for o in self.rendered if o["kind"] == kind]

    def resource_arg(self, k: Key) -> str:
        return resource_arg(self.api_versions[k], k[1])


def _fetch(kube: Kube, objects: list[dict]) -> dict[Key, dict]:
    """Live objects by key: one `kubectl get` per kind."""
    kinds = {resource_arg(o["apiVersion"], o["kind"]) for o in objects}
    live = {}
    for arg in sorted(kinds):
        for item in kube.list(arg):
            live[key(item)] = item
    return live


def assert_state_matches_cluster(kube: Kube, state: list[dict], rendered: Rendered) -> Snapshot:
    """Each rendered object is one resource in the state, and one object in the cluster whose
    uid is the one the state recorded: real, server-assigned, nothing lost or duplicated."""
    resources = kubernetes_resources(state)
    keys = [key(r["outputs"]) for r in resources]
    duplicated = [k for k, n in Counter(keys).items() if n > 1]
    assert not duplicated, f"in the state more than once: {duplicated}"
    expected = {key(o) for o in rendered.objects}
    assert set(keys) == expected, f"state vs render: missing {sorted(expected - set(keys))}, extra {sorted(set(keys) - expected)}"
    snap = Snapshot(resources, rendered.objects)
    snap.by_key = {key(r["outputs"]): r for r in resources}
    snap.api_versions = {key(r["outputs"]): r["outputs"]["apiVersion"] for r in resources}
    live = _fetch(kube, [r["outputs"] for r in resources])
    for k, r in snap.by_key.items():
        obj = live.get(k)
        assert obj is not None, f"in the state, not in the cluster: {k}"
        uid = r["outputs"]["metadata"].get("uid")
        assert uid and uid == obj["metadata"]["uid"], f"{k}: state uid {uid!r}, cluster uid {obj['metadata']['uid']!r}"
        snap.live_by_key[k] = obj
    return snap


def changes(plan: dict) -> list[dict]:
    """The steps of a preview that change something."""
    return [s for s in plan.get("steps", []) if s["op"] not in ("same", "read") and "::pulumi:pulumi:Stack::" not in s["urn"]]


def tenant_of(urn: str) -> Optional[str]:
    """The tenant whose `TenantMesh` a URN belongs to (children are named `<tenant>/<object>`)."""
    _, _, types, name = urn.split("::", 3)
    chain = types.split("$")
    if not any(t.endswith(":TenantMesh") for t in chain):
        return None
    return name if chain[-1].endswith(":TenantMesh") else name.split("/", 1)[0]
