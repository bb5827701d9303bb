"""`pulumi preview` of every stack on an empty cluster, with and without the policy pack.

Runs first: nothing of the program is in the cluster yet, so Istio kinds whose CRDs the
operator (or the `base` chart) has not installed must not break the preview.
"""

from __future__ import annotations

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
    # The real engine and provider plan exactly the resources the offline render registers.
    assert {s["urn"] for s in steps} == rendered.urns
    errors = [d for d in plan.get("diagnostics", []) if d.get("severity") == "error"]
    assert not errors, errors


def test_preview_leaves_the_cluster_empty(e2e, previewed, stack):
    _, rendered, _ = previewed(stack)
    namespaces = sorted({o["metadata"]["name"] for o in rendered.objects if o["kind"] == "Namespace"})
    assert namespaces
    assert [n for n in namespaces if e2e.kube.get("namespace", n)] == []


def test_policy_pack_passes_on_the_stack(e2e, previewed, stack):
    ws, _, _ = previewed(stack)
    result = ws.preview(stack, "--policy-pack", "policy")
    assert "istio-multitenancy" in result.output or "Policies" in result.output, result.describe()
    assert "mandatory" not in result.output.lower() or "violation" not in result.output.lower(), result.describe()


PLANTED = '''
# Planted by the e2e suite: a tenant weakening mTLS in its own namespace.
k8s.apiextensions.CustomResource(
    "planted-permissive-mtls",
    api_version="security.istio.io/v1",
    kind="PeerAuthentication",
    metadata={"name": "planted", "namespace": settings.tenants.tenants[0].namespace_name},
    spec={"mtls": {"mode": "PERMISSIVE"}},
    opts=pulumi.ResourceOptions(provider=provider),
)
'''


def test_policy_pack_refuses_a_planted_violation_by_name(e2e, stacks, new_workspace):
    stack = stacks["deploy"]
    ws = new_workspace("policy-violation", stack, stacks["all"][stack])
    main = ws.path / "__main__.py"
    main.write_text(main.read_text() + PLANTED)
    result = ws.preview(stack, "--policy-pack", "policy", check=False)
    assert result.returncode != 0, result.describe()
    assert "mtls-not-weakened" in result.output, result.describe()
    # Without the pack the same program previews fine: the refusal is the policy's.
    assert ws.preview(stack, check=False).returncode == 0
