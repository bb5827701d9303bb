"""What the sharded-installation scenarios share: their tenants, and each stack's state checked
against its own render and the cluster."""

from __future__ import annotations

import sys

import yaml

from harness.procs import run
from harness.pulumi import kubernetes_resources
from harness.render import render
from harness.state import assert_state_matches_cluster, tenant_of

SHARD_OF = "{stack}-shard-{k}"
TENANTS = ["workspace-1", "workspace-2", "workspace-3", "workspace-4"]


def tenant(name: str, index: int) -> dict:
    return {
        "name": name,
        "gateway": {
            "name": f"wk{index}-ingressgw",
            "labels": {"istio": f"ingressgateway-{index}", "app": f"istio-ingressgateway-{index}"},
            "servers": [{"port": 80, "protocol": "HTTP", "hosts": ["*"]}],
        },
        "routes": [{"name": "shop", "hosts": ["*"], "http": [{"to": {"service": "shop", "port": 8080}}]}],
    }


def scenario(new_workspace, stacks, name: str, overrides: dict) -> dict:
    """A fresh copy of the project whose deploy stack has TENANTS and `overrides` in its settings:
    the scenario's context (its workspace, its stack, and the objects it saw, for its reset)."""
    stack = stacks["deploy"]
    ws = new_workspace(name, stack, {**stacks["all"][stack], **overrides})
    doc = yaml.safe_load(ws.tenants_path(stack).read_text())
    doc["tenants"] = [tenant(each, i) for i, each in enumerate(TENANTS, start=1)]
    ws.tenants_path(stack).write_text(yaml.safe_dump(doc, sort_keys=False))
    return {"ws": ws, "stack": stack, "seen": []}


def stacks_of(ctx, shards: int) -> list[str]:
    """The cluster's stack, then its shards' (none for shards=0)."""
    return [ctx["stack"], *(SHARD_OF.format(stack=ctx["stack"], k=k) for k in range(1, shards + 1))]


def shard_tenants(ctx, shards: int) -> dict[str, set[str]]:
    """Each shard stack's tenants as the file's names hash to `shards` shards."""
    from tenants.shards import assign

    doc = yaml.safe_load(ctx["ws"].tenants_path(ctx["stack"]).read_text())
    assigned = assign([t["name"] for t in doc["tenants"]], shards)
    return {SHARD_OF.format(stack=ctx["stack"], k=k): set(names) for k, names in assigned.items()}


def check_stacks(kube, ctx, shards: int, out_dir) -> dict:
    """Every stack's state against its own render, one to one, with the live uids; returns them
    all, and keeps each stack's tenants in ctx["held"] (every rendered object in ctx["seen"], for
    the scenario's reset)."""
    uids, held = {}, {}
    for stack in stacks_of(ctx, shards):
        rendered = render(ctx["ws"], stack, out_dir / stack)
        ctx["seen"].extend(rendered.objects)
        state = ctx["ws"].export(stack)
        snap = assert_state_matches_cluster(kube, state, rendered)
        overlap = set(uids) & set(snap.uids())
        assert not overlap, f"in two stacks: {overlap}"
        uids.update(snap.uids())
        held[stack] = {tenant_of(r["urn"]) for r in kubernetes_resources(state)} - {None}
    ctx["held"] = held
    return uids


def deploy(ctx, op: str, *extra: str, check: bool = True):
    """`python -m deploy OP --stack <the cluster's>`, two shards at once; its output printed."""
    ws = ctx["ws"]
    result = run([sys.executable, "-m", "deploy", op, "--stack", ctx["stack"], "--pool", "2", *extra],
                 cwd=str(ws.path), env=ws.env, timeout=1800, check=check)
    print(f"\npython -m deploy {op} ({result.seconds:.1f} s):\n{result.stdout}")
    return result
