"""A `pulumi up` killed half-way (the CLI and its plugins, as a crash or a cancelled CI job would),
then what a user does next: the next `pulumi up` completes, nothing lost or duplicated."""

from __future__ import annotations

import pytest

from harness.procs import kill_group, wait_until
from harness.render import render
from harness.state import assert_state_matches_cluster

from conftest import BUILD


def test_an_interrupted_up_is_completed_by_the_next(e2e, stacks, new_workspace, reset_cluster):
    if e2e.standin is None:
        pytest.skip("needs the operator stand-in to hold `pulumi up` at a known point (local cluster)")
    stack = stacks["deploy"]
    ws = new_workspace("interrupted", stack, stacks["all"][stack])
    rendered = render(ws, stack, BUILD / "render" / "interrupted")
    try:
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
        interrupted_uid = e2e.kube.get("istiooperators.install.istio.io", name, namespace)["metadata"]["uid"]
        pending = ws.pending_operations(stack)
        print(f"\npending operations after the kill: {[(p['type'], p['resource']['urn'].rsplit('::', 1)[-1]) for p in pending]}")
        e2e.standin.running.set()

        recovery = _recover(ws, stack)
        print("recovery: " + " ; ".join(recovery))

        snap = assert_state_matches_cluster(e2e.kube, ws.export(stack), rendered)
        assert snap.live(control_plane)["metadata"]["uid"] == interrupted_uid, "the interrupted create was adopted, not recreated"
        ws.preview(stack, "--expect-no-changes")
    finally:
        e2e.standin.running.set()
        reset_cluster(rendered.objects)


def _recover(ws, stack: str) -> list[str]:
    """What a user does after a crash, as the CLI tells them to; returns the commands run."""
    done = []
    result = ws.up(stack, check=False)
    done.append(f"pulumi up (exit {result.returncode})")
    if result.returncode == 0:
        return done
    text = result.output
    if "pending" in text or "interrupted" in text:
        ws.refresh(stack, "--clear-pending-creates")
        done.append("pulumi refresh --clear-pending-creates")
    else:
        raise AssertionError(result.describe())
    ws.up(stack)
    done.append("pulumi up")
    return done
