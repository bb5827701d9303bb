"""`pulumi preview` of every stack on an empty cluster, with and without the policy pack.

Runs first: nothing of the program is in the cluster yet, so Istio kinds whose CRDs the
operator (or the `base` chart) has not installed must not break the preview.
"""

from __future__ import annotations

import json

import pytest

from harness.render import render

from conftest import BUILD


@pytest.fixture(scope="module")
def previewed(e2e, stacks, new_workspace):
    """Per stack: its workspace, its offline render, and the real engine's plan."""
    cache = {}

    def get(stack: str):
        if stack not in cache:
            ws = new_workspace(f"preview-{stack}", stack, stacks["all"][stack])
            rendered = render(ws, stack, BUILD / "render" / f"preview-{stack}")
            plan = ws.preview_json(stack)
            cache[stack] = (ws, rendered, plan)
        return cache[stack]

    return get


def pytest_generate_tests(metafunc):
    if "stack" in metafunc.fixturenames:
        from conftest import ROOT

        metafunc.parametrize("stack", sorted(p.name[len("Pulumi."):-len(".yaml")] for p in ROOT.glob("Pulumi.*.yaml")))


def test_preview_on_an_empty_cluster_plans_what_render_shows(e2e, previewed, stack):
    ws, rendered, plan = previewed(stack)
    steps = [s for s in plan["steps"] if s["newState"]["type"] != "pulumi:pulumi:Stack"]
    ops = {s["op"] for s in steps}
    assert ops == {"create"}, f"an empty stack on an empty cluster only creates: {ops}"
    # The real engine and provider plan exactly the resources the offline render registers, and
    # on the Helm path the objects each chart (and the Gateway API's ConfigGroup) renders: the
    # provider expands those remote components into resources of their own, which the mock engine
    # cannot. A URN names its parents' types, so such a resource shows where it comes from.
    planned = {s["urn"] for s in plan["steps"]}
    assert rendered.urns <= planned
    expanded = ("$kubernetes:helm.sh/v4:Chart$", "$kubernetes:yaml/v2:ConfigGroup$")
    assert [urn for urn in sorted(planned - rendered.urns) if not any(kind in urn for kind in expanded)] == []
    errors = [d for d in plan.get("diagnostics", []) if d.get("severity") == "error"]
    assert not errors, errors


def test_preview_leaves_the_cluster_empty(e2e, previewed, stack):
    _, rendered, _ = previewed(stack)
    namespaces = sorted({o["metadata"]["name"] for o in rendered.objects if o["kind"] == "Namespace"})
    assert namespaces
    assert [n for n in namespaces if e2e.kube.get("namespace", n)] == []


def _pack_config(ws, stack: str) -> str:
    """A `--policy-pack-config` naming the stack's tenants file for every policy."""
    from rules.table import INVARIANTS

    path = ws.path / "policy-config.json"
    path.write_text(json.dumps({i.name: {"tenantsFile": str(ws.tenants_path(stack))} for i in INVARIANTS}))
    return str(path)


def test_policy_pack_passes_on_the_stack(e2e, previewed, stack):
    ws, _, _ = previewed(stack)
    result = ws.preview(stack, "--policy-pack", "policy", "--policy-pack-config", _pack_config(ws, stack))
    # The CLI lists each pack it ran with a check mark when nothing was violated.
    assert "✅ istio-multitenancy@" in result.output and "violation" not in result.output.lower(), result.describe()


def test_policy_pack_finds_the_stacks_tenants_file_by_itself(e2e, previewed):
    # No --policy-pack-config: the pack learns the stack and its tenantsFile from the engine.
    ws, _, _ = previewed("dev")
    result = ws.preview("dev", "--policy-pack", "policy")
    assert "✅ istio-multitenancy@" in result.output and "violation" not in result.output.lower(), result.describe()


PLANTED = '''
# Planted by the e2e suite: a tenant weakening mTLS in its own namespace.
import pulumi_kubernetes as k8s
k8s.apiextensions.CustomResource(
    "planted-permissive-mtls",
    api_version="security.istio.io/v1",
    kind="PeerAuthentication",
    metadata={"name": "planted", "namespace": settings.tenants.tenants[0].namespace_name},
    spec={"mtls": {"mode": "PERMISSIVE"}},
    opts=pulumi.ResourceOptions(provider=stack.provider),
)
'''


def test_policy_pack_refuses_a_planted_violation_by_name(e2e, stacks, new_workspace):
    stack = stacks["deploy"]
    ws = new_workspace("policy-violation", stack, stacks["all"][stack])
    main = ws.path / "__main__.py"
    main.write_text(main.read_text() + PLANTED)
    result = ws.preview(stack, "--policy-pack", "policy", "--policy-pack-config", _pack_config(ws, stack), check=False)
    assert result.returncode != 0, result.describe()
    assert "mtls-not-weakened" in result.output and "mandatory" in result.output, result.describe()
    # Without the pack the same program previews fine: the refusal is the policy's.
    assert ws.preview(stack, check=False).returncode == 0
