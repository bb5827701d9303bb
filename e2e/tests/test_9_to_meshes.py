"""A single-mesh stack moved to `meshes:` as docs/upgrades.md says (issue 21), with the real Pulumi
engine and provider: the dev stack (Helm path) up, then its `controlPlane:` replaced by a first
mesh on Istio's `default` revision. The preview creates, deletes and replaces nothing (the
aliases hold, children of the charts included); after `pulumi up` every object is the one it
was (same uid): istiod, its Service and webhooks, the platform gateway, every namespace."""

from __future__ import annotations

import pytest
import yaml

from harness.pulumi import kubernetes_resources
from harness.render import render
from harness.state import changes, key, resource_arg

from conftest import BUILD

STACK = "dev"
MESH_LABEL = "istio-multitenancy.io/mesh"


@pytest.fixture(scope="module")
def move(e2e, stacks, new_workspace, reset_cluster):
    ws = new_workspace("to-meshes", STACK, stacks["all"][STACK])
    ctx = {"ws": ws, "tenants_file": ws.tenants_path(STACK), "seen": []}
    yield ctx
    reset_cluster(ctx["seen"])


def _render(move, name: str) -> None:
    move["seen"].extend(render(move["ws"], STACK, BUILD / "render" / f"to-meshes-{name}").objects)


def _live_uids(kube, state: list[dict]) -> dict:
    """Each Kubernetes object of the state (the Gateway API CRDs' too, which the render does not
    list) -> its uid, checked against the cluster's object of that name."""
    resources = kubernetes_resources(state)
    live = {}
    for arg in sorted({resource_arg(r["outputs"]["apiVersion"], r["outputs"]["kind"]) for r in resources}):
        live.update({key(item): item["metadata"]["uid"] for item in kube.list(arg)})
    uids = {key(r["outputs"]): r["outputs"]["metadata"]["uid"] for r in resources}
    assert {k: live.get(k) for k in uids} == uids, "the state and the cluster disagree"
    return uids


def test_up_installs_the_single_mesh_stack(e2e, move):
    _render(move, "single")
    move["ws"].up(STACK)
    move["uids"] = _live_uids(e2e.kube, move["ws"].export(STACK))
    assert ("apps", "Deployment", "istio-system", "istiod") in move["uids"]


def test_the_move_to_meshes_updates_in_place_and_replaces_nothing(e2e, move):
    ws = move["ws"]
    doc = yaml.safe_load(move["tenants_file"].read_text())
    control_plane = doc.pop("controlPlane")
    mesh = {"name": "platform", "namespace": control_plane["namespace"], "profile": control_plane["profile"], "revisions": [{"name": "default"}]}
    move["tenants_file"].write_text(yaml.safe_dump({"meshes": [mesh], **doc}, sort_keys=False))
    steps = changes(ws.preview_json(STACK))
    ops = sorted({s["op"] for s in steps})
    print(f"\nthe move: {len(steps)} steps, {ops}")
    assert set(ops) <= {"update"}, sorted((s["op"], s["urn"]) for s in steps if s["op"] != "update")
    # docs/upgrades.md step 3: the namespaces carry the mesh label before istiod's discovery selectors.
    namespaces = [control_plane["namespace"], *(t.get("namespace", t["name"]) for t in doc["tenants"])]
    for ns in namespaces:
        e2e.kube("label", "namespace", ns, f"{MESH_LABEL}=platform")
    _render(move, "meshes")
    ws.up(STACK)
    assert _live_uids(e2e.kube, ws.export(STACK)) == move["uids"], "the move keeps every object, and adds none"
    for ns in namespaces:
        assert e2e.kube.get("namespace", ns)["metadata"]["labels"][MESH_LABEL] == "platform"
    ws.preview(STACK, "--expect-no-changes")
