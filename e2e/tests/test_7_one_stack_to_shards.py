"""An installation that outgrows one stack (tenants/shards.py): its tenants installed by a plain
`pulumi up` of the cluster's stack, then sharded, as crossing AUTO_SHARD_TENANTS does by itself
(here `tenantShards: 2`, with a few tenants): a plain `pulumi up` is refused, and `python -m
deploy up` moves every tenant out of the cluster's stack into the shard its name hashes to, state
only: the same objects, with the same uids."""

from __future__ import annotations

import pytest

from harness.shards import TENANTS, check_stacks, deploy, scenario, shard_tenants, stacks_of

from conftest import BUILD

SHARDS = 2


@pytest.fixture(scope="module")
def grown(e2e, stacks, new_workspace, reset_cluster):
    ctx = scenario(new_workspace, stacks, "one-to-shards", {})
    yield ctx
    reset_cluster(ctx["seen"])


def test_one_stack_holds_every_tenant(e2e, grown):
    grown["ws"].up(grown["stack"])
    grown["uids"] = check_stacks(e2e.kube, grown, 0, BUILD / "render" / "one-to-shards-one")
    assert grown["held"] == {grown["stack"]: set(TENANTS)}


def test_sharded_its_cluster_stack_refuses_a_plain_up(grown):
    """Its program would now register the platform alone and delete every tenant's objects."""
    ws, stack = grown["ws"], grown["stack"]
    ws.set_config_value(stack, "tenantShards", SHARDS)
    result = ws("up", "--yes", "--stack", stack, "--non-interactive", check=False)
    assert result.returncode != 0, result.describe()
    assert f"python -m deploy up|preview|destroy --stack {stack}" in result.output, result.describe()


def test_deploy_moves_every_tenant_into_its_shard_untouched(e2e, grown):
    ws, stack = grown["ws"], grown["stack"]
    preview = deploy(grown, "preview")
    for name in TENANTS:
        assert f"will move {name}: {stack} -> " in preview.stdout, preview.stdout

    result = deploy(grown, "up")
    moved = [line for line in result.stdout.splitlines() if line.startswith("moved ")]
    assert sorted(t for line in moved for t in line[len("moved "):].split(":", 1)[0].split(", ")) == sorted(TENANTS), result.stdout
    after = check_stacks(e2e.kube, grown, SHARDS, BUILD / "render" / "one-to-shards-sharded")
    # Nothing replaced, nothing recreated: the same objects, with the same uids, now in the shards.
    assert after == grown["uids"]
    assert grown["held"] == {stack: set(), **shard_tenants(grown, SHARDS)}
    for shard in stacks_of(grown, SHARDS)[1:]:
        ws.preview(shard, "--expect-no-changes")
