"""A `pulumi up` killed half-way (the CLI and its plugins, as a crash or a cancelled CI job would),
then what a user does next: the next `pulumi up` completes, nothing lost or duplicated. Then what
`pulumi destroy --skip-preview` does to a stack with protected namespaces."""

from __future__ import annotations

import pytest

from harness.procs import kill_group, wait_until
from harness.pulumi import identity, kubernetes_resources
from harness.render import render
from harness.state import assert_state_matches_cluster

from conftest import BUILD


@pytest.fixture(scope="module")
def scenario(e2e, stacks, new_workspace, reset_cluster):
    if e2e.standin is None:
        pytest.skip("needs the operator stand-in to hold `pulumi up` at a known point (local cluster)")
    stack = stacks["deploy"]
    ws = new_workspace("interrupted", stack, stacks["all"][stack])
    rendered = render(ws, stack, BUILD / "render" / "interrupted")
    yield {"ws": ws, "stack": stack, "rendered": rendered}
    e2e.standin.running.set()
    reset_cluster(rendered.objects)


def test_an_interrupted_up_is_completed_by_the_next(e2e, scenario):
    ws, stack, rendered = scenario["ws"], scenario["stack"], scenario["rendered"]
    control_plane = next(o for o in rendered.objects if o["kind"] == "IstioOperator" and o["spec"].get("profile") != "empty")
    name, namespace = control_plane["metadata"]["name"], control_plane["metadata"]["namespace"]

    # Hold the operator: `pulumi up` creates the control plane's IstioOperator, then waits for it
    # to report HEALTHY. Kill the CLI there, with creates done and one in flight.
    e2e.standin.running.clear()
    proc = ws.popen("up", "--stack", stack, "--yes", "--skip-preview", "--non-interactive", "--color=never",
                    log=BUILD / "interrupted-up.log")
    try:
        wait_until(lambda: e2e.kube.get("istiooperators.install.istio.io", name, namespace), 600,
                   f"pulumi up to create IstioOperator {namespace}/{name}")
    finally:
        kill_group(proc)
        e2e.standin.running.set()
    interrupted_uid = e2e.kube.get("istiooperators.install.istio.io", name, namespace)["metadata"]["uid"]
    pending = ws.pending_operations(stack)
    assert [(p["type"], p["resource"]["urn"].rsplit("::", 1)[-1]) for p in pending] == [("creating", f"{name}/{name}")]

    recovery = _recover(ws, stack)
    print(f"\nrecovery: {' ; '.join(recovery)}")

    assert ws.pending_operations(stack) == []
    snap = assert_state_matches_cluster(e2e.kube, ws.export(stack), rendered)
    # The object whose create was interrupted is adopted (server-side apply), not created twice.
    assert snap.live(control_plane)["metadata"]["uid"] == interrupted_uid
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
    assert result.returncode == 0, result.describe()
    if "pending operations" in result.output:
        # The update warned that the interrupted create is still pending and that `pulumi refresh`
        # clears it (interactively; --clear-pending-creates is the same answer in a script). The
        # object is in the state by now: the update adopted it.
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
    result = ws.destroy(stack, check=False)
    assert result.returncode != 0 and "protected" in result.output, result.describe()
    left = kubernetes_resources(ws.export(stack))
    assert sorted(identity(r) for r in left) == [("Namespace", None, "istio-operator"), ("Namespace", None, "istio-system")]
    for k, uid in before.uids().items():
        live = e2e.kube.get(before.resource_arg(k), k[3], k[2])
        kept = k[1] == "Namespace" and (k[3] in ("istio-operator", "istio-system") or before.by_key[k].get("retainOnDelete"))
        assert (live is not None) == kept, (k, "kept" if live else "deleted")
