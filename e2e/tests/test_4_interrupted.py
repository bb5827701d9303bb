"""A `pulumi up` killed half-way (the CLI and its plugins, as a crash or a cancelled CI job would),
then what a user does next: the next `pulumi up` completes, nothing lost or duplicated. Then what
`pulumi destroy --skip-preview` does to a stack with protected namespaces."""

from __future__ import annotations

import pytest

import localcluster
from harness.procs import kill_group, wait_until
from harness.pulumi import kubernetes_resources
from harness.render import render
from harness.state import assert_state_matches_cluster

from conftest import BUILD


@pytest.fixture(scope="module")
def scenario(e2e, stacks, new_workspace, reset_cluster):
    if e2e.mode != "local":
        pytest.skip("holds the rollout by pausing kwok: local cluster only")
    stack = stacks["deploy"]
    ws = new_workspace("interrupted", stack, stacks["all"][stack])
    rendered = render(ws, stack, BUILD / "render" / "interrupted")
    yield {"ws": ws, "stack": stack, "rendered": rendered}
    localcluster.hold("kwok", False)
    reset_cluster(rendered.objects)


def _deployments(e2e, rendered) -> list[dict]:
    live = (e2e.kube.get("deployment", o["metadata"]["name"], o["metadata"]["namespace"]) for o in rendered.objects if o["kind"] == "Deployment")
    return [d for d in live if d]


def test_an_interrupted_up_is_completed_by_the_next(e2e, scenario):
    ws, stack, rendered = scenario["ws"], scenario["stack"], scenario["rendered"]
    assert any(o["kind"] == "Deployment" for o in rendered.objects)

    # Hold every rollout (kwok paused: no pod becomes Ready), so `pulumi up` waits on the first
    # Deployment it creates; kill the CLI there, with creates done and one in flight.
    localcluster.hold("kwok", True)
    proc = ws.popen("up", "--stack", stack, "--yes", "--skip-preview", "--non-interactive", "--color=never",
                    log=BUILD / "interrupted-up.log")
    try:
        first = wait_until(lambda: _deployments(e2e, rendered), 600, "pulumi up to create a Deployment")[0]
    finally:
        kill_group(proc)
        localcluster.hold("kwok", False)
    name, namespace, interrupted_uid = first["metadata"]["name"], first["metadata"]["namespace"], first["metadata"]["uid"]
    pending = [(p["type"], p["resource"]["type"], p["resource"]["inputs"]["metadata"]["name"]) for p in ws.pending_operations(stack)]
    print(f"\npending after the kill: {pending}")
    assert ("creating", "kubernetes:apps/v1:Deployment", name) in pending
    assert {p[0] for p in pending} == {"creating"}

    recovery = _recover(ws, stack)
    print(f"\nrecovery: {' ; '.join(recovery)}")

    assert ws.pending_operations(stack) == []
    snap = assert_state_matches_cluster(e2e.kube, ws.export(stack), rendered)
    # The object whose create was interrupted is adopted (server-side apply), not created twice.
    assert e2e.kube.get("deployment", name, namespace)["metadata"]["uid"] == interrupted_uid
    ws.preview(stack, "--expect-no-changes")
    scenario["snapshot"] = snap


def _recover(ws, stack: str) -> list[str]:
    """What a user does after a crash, following what the CLI prints; returns the commands run."""
    done = []
    result = ws.up(stack, check=False)
    done.append(f"pulumi up (exit {result.returncode})")
    if result.returncode != 0 and "locked" in result.output:
        # The killed CLI could not release its lock; the error says how: `pulumi cancel`.
        ws("cancel", "--stack", stack, "--yes")
        done.append("pulumi cancel")
        result = ws.up(stack, check=False)
        done.append(f"pulumi up (exit {result.returncode})")
    # The update re-creates the interrupted objects by server-side apply (an upsert) under a new
    # field manager. No field conflict with the killed run's manager: the program sends every
    # atomic field (a Deployment's env[].valueFrom.fieldRef) as the API server stores it.
    assert "field conflict" not in result.output, result.describe(400)
    assert result.returncode == 0, result.describe(400)
    if "pending operations" in result.output:
        # The update warned that the interrupted creates are still pending and that `pulumi
        # refresh` clears them (interactively; --clear-pending-creates is that answer in a script).
        # The objects are in the state by now: the update adopted them.
        ws.refresh(stack, "--clear-pending-creates")
        done.append("pulumi refresh --clear-pending-creates")
    return done


def test_destroy_without_its_preview_deletes_all_but_the_protected(e2e, scenario):
    """`pulumi destroy --skip-preview` (what `--yes --skip-preview` in a script does) is refused
    only when it reaches the protected namespaces: everything else is deleted first. With its
    preview (test_3_lifecycle) it deletes nothing. The README warns about it."""
    ws, stack, before = scenario["ws"], scenario["stack"], scenario.get("snapshot")
    if before is None:
        pytest.skip("the interrupted deploy did not complete")
    protected = {before.key_of(r) for r in before.resources if r.get("protect")}
    assert protected
    result = ws.destroy(stack, check=False)
    assert result.returncode != 0 and "protected" in result.output, result.describe()
    left = kubernetes_resources(ws.export(stack))
    assert {before.key_of(r) for r in left} == protected
    for k in before.uids():
        live = e2e.kube.get(before.resource_arg(k), k[3], k[2])
        kept = k in protected or bool(before.by_key[k].get("retainOnDelete"))
        assert (live is not None) == kept, (k, "kept" if live else "deleted")
