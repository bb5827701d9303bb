"""A sharded installation (tenants/shards.py) driven by `python -m deploy`: the platform stack and
two shard stacks from empty; a tenant added changes one shard; a third shard moves tenants to it
with their objects untouched; destroy. Each step is checked in the cluster and in every stack's state."""

from __future__ import annotations

import json

import pytest
import yaml

from harness.pulumi import kubernetes_resources
from harness.shards import SHARD_OF, TENANTS, check_stacks, deploy, scenario, shard_tenants, stacks_of, tenant

from conftest import BUILD
from deploy.stacks import DIGEST_TAG, LAYOUT_TAG


@pytest.fixture(scope="module")
def sharded(e2e, stacks, new_workspace, reset_cluster):
    ctx = scenario(new_workspace, stacks, "shards", {"tenantShards": 2})
    yield ctx
    reset_cluster(ctx["seen"])


def test_a_sharded_install_from_empty(e2e, sharded):
    result = deploy(sharded, "up")
    for stack in stacks_of(sharded, 2)[1:]:
        assert f"{stack}: " in result.stdout
    uids = check_stacks(e2e.kube, sharded, 2, BUILD / "render" / "shards-initial")
    # The platform holds no tenant; each shard exactly the tenants its name hashes to.
    assert sharded["held"][sharded["stack"]] == set()
    assert {s: t for s, t in sharded["held"].items() if s != sharded["stack"]} == shard_tenants(sharded, 2)
    # The admission parameters, in one place, for every tenant.
    params = e2e.kube.get("configmap", "istio-multitenancy-tenants", "istio-system")
    assert {key.split(".", 1)[0] for key in params["data"]} == set(TENANTS)
    sharded["uids"] = uids
    _assert_digest_tags(sharded, 2)


def _tags(ctx) -> dict:
    return json.loads(ctx["ws"]("stack", "tag", "ls", "--json", "--stack", ctx["stack"]).stdout)


def _assert_digest_tags(ctx, shards: int) -> None:
    """The cluster stack records each shard's digest as that shard's own last `up` exported it."""
    tags = _tags(ctx)
    for k in range(1, shards + 1):
        outputs = json.loads(ctx["ws"]("stack", "output", "--json", "--stack", SHARD_OF.format(stack=ctx["stack"], k=k)).stdout)
        assert tags.get(DIGEST_TAG.format(shard=k)) == outputs["shardDigest"], (k, tags)


def test_no_change_previews_no_shard(sharded):
    result = deploy(sharded, "preview")
    assert result.stdout.count("unchanged since its last up: skipped") == 2, result.stdout
    assert "total: no change" in result.stdout, result.stdout
    # No move can be due (the count the last up recorded, nothing renamed): no state is read, only the digests.
    assert "reading the states of" not in result.stdout, result.stdout


def test_plain_pulumi_on_the_cluster_stack_is_refused(sharded):
    """Its program would register the platform alone, deleting every tenant's objects from it."""
    result = sharded["ws"]("preview", "--stack", sharded["stack"], "--non-interactive", check=False)
    assert result.returncode != 0, result.describe()
    assert f"python -m deploy up|preview|destroy --stack {sharded['stack']}" in result.output, result.describe()


def test_a_shards_digest_comes_from_its_tag_or_else_from_its_output(sharded):
    """A tag that disagrees with the file makes its shard previewed (the tag is what is read); a
    shard without a tag has its output read, which says it is unchanged."""
    ws, stack = sharded["ws"], sharded["stack"]
    first, second = DIGEST_TAG.format(shard=1), DIGEST_TAG.format(shard=2)
    recorded = _tags(sharded)[first]
    ws("stack", "tag", "set", first, "0" * 64, "--stack", stack)
    ws("stack", "tag", "rm", second, "--stack", stack)
    try:
        result = deploy(sharded, "preview")
        skipped = [line for line in result.stdout.splitlines() if line.endswith("unchanged since its last up: skipped")]
        assert len(skipped) == 1 and skipped[0].startswith(f"{SHARD_OF.format(stack=stack, k=2)}: "), result.stdout
        assert f"{SHARD_OF.format(stack=stack, k=1)} (" in result.stdout, result.stdout
        assert "total: no change" in result.stdout, result.stdout
    finally:
        ws("stack", "tag", "set", first, recorded, "--stack", stack)
    # A preview records nothing; the next `up` records the missing tag again, whether it runs the shard or not.
    assert second not in _tags(sharded)


def test_a_policy_pack_is_run_by_the_stacks(sharded):
    """What `--policy-pack` names reaches the CLI: a pack that is not there stops the preview."""
    result = deploy(sharded, "preview", "--policy-pack", "no-such-pack", check=False)
    assert result.returncode != 0 and "no-such-pack" in result.output, result.describe()


def test_adding_a_tenant_previews_and_changes_its_shard_only(e2e, sharded):
    from tenants.shards import shard_of

    path = sharded["ws"].tenants_path(sharded["stack"])
    doc = yaml.safe_load(path.read_text())
    doc["tenants"].append(tenant("workspace-5", 5))
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    target = SHARD_OF.format(stack=sharded["stack"], k=shard_of("workspace-5", 2))

    # With the platform's policy pack, as CI runs it: each stack's preview and up pass it.
    preview = deploy(sharded, "preview", "--policy-pack", "policy")
    assert preview.stdout.count("unchanged since its last up: skipped") == 1, preview.stdout
    changed = [line.split() for line in preview.stdout.splitlines() if line.startswith("    ")]
    # The new tenant's creates, and in the platform's stack the in-place updates of the admission
    # parameters, of the frozen-namespace rule's tenant list and (add-ons installed) of Grafana's
    # tenant folders: nothing else.
    assert {op for op, *_ in changed} == {"create", "update"}, changed
    params = "istio-multitenancy:index:TenantAdmission$kubernetes:core/v1:ConfigMap::admission/istio-multitenancy-tenants"
    frozen = ("istio-multitenancy:index:TenantAdmission$kubernetes:admissionregistration.k8s.io/v1:"
              "ValidatingAdmissionPolicyBinding::admission/istio-multitenancy-removed-tenant-frozen")
    updates = [rest[0] for op, *rest in changed if op == "update"]
    assert params in updates and frozen in updates, changed
    assert all(urn in (params, frozen) or urn.startswith("istio-multitenancy:index:ObservabilityAddons$") for urn in updates), changed
    assert f"{target} (" in preview.stdout

    deploy(sharded, "up", "--policy-pack", "policy")
    before, after = sharded["uids"], check_stacks(e2e.kube, sharded, 2, BUILD / "render" / "shards-added")
    assert {k: v for k, v in after.items() if k in before} == before
    assert sharded["held"][target] >= {"workspace-5"}
    sharded["uids"] = after
    _assert_digest_tags(sharded, 2)


def test_a_third_shard_moves_tenants_without_touching_them(e2e, sharded):
    ws, stack = sharded["ws"], sharded["stack"]
    ws.set_config_value(stack, "tenantShards", 3)
    wanted = shard_tenants(sharded, 3)
    moving = wanted[SHARD_OF.format(stack=stack, k=3)]
    assert moving, "no tenant hashes to a third shard: choose other names"

    preview = deploy(sharded, "preview")
    assert "reading the states of 3 stacks" in preview.stdout, preview.stdout
    for tenant in moving:
        assert f"will move {tenant}: " in preview.stdout, preview.stdout

    result = deploy(sharded, "up")
    assert "moved " in result.stdout
    # The count every tenant is placed for, recorded again once the moves are done.
    assert _tags(sharded)[LAYOUT_TAG] == "3"
    after = check_stacks(e2e.kube, sharded, 3, BUILD / "render" / "shards-moved")
    # Nothing replaced, nothing recreated: the same objects, with the same uids, now in another stack.
    assert after == sharded["uids"]
    assert {s: t for s, t in sharded["held"].items() if s != stack} == wanted
    for shard in stacks_of(sharded, 3)[1:]:
        ws.preview(shard, "--expect-no-changes")
    sharded["uids"] = after
    _assert_digest_tags(sharded, 3)


def test_a_run_stopped_between_moves_reads_every_state_once_more(sharded):
    """As a `python -m deploy up` killed between moves leaves it (the count lifted, not yet set
    again): the next run does not trust the layout, reads every state, finds nothing to move and
    records the count; the run after it reads none."""
    ws, stack = sharded["ws"], sharded["stack"]
    ws("stack", "tag", "rm", LAYOUT_TAG, "--stack", stack)
    preview = deploy(sharded, "preview")
    assert "reading the states of 4 stacks" in preview.stdout and "will move" not in preview.stdout, preview.stdout
    result = deploy(sharded, "up")
    assert "moved " not in result.stdout
    assert _tags(sharded)[LAYOUT_TAG] == "3"
    assert "reading the states of" not in deploy(sharded, "preview").stdout


def test_destroy_removes_the_shards_and_stops_at_the_protected_platform(e2e, sharded):
    ws, stack = sharded["ws"], sharded["stack"]
    retained = {k for k in sharded["uids"] if k[1] == "Namespace" and k[3].startswith("workspace-")}
    result = deploy(sharded, "destroy", check=False)
    assert result.returncode != 0 and "protected" in result.output, result.describe()
    for shard in stacks_of(sharded, 3)[1:]:
        assert kubernetes_resources(ws.export(shard)) == []
    # Nothing recorded survives the shards: a later `up` runs every one.
    tags = _tags(sharded)
    assert not any(t == LAYOUT_TAG or t.startswith(DIGEST_TAG.format(shard="")) for t in tags), tags
    for r in [r for r in ws.export(stack) if r.get("protect")]:
        ws("state", "unprotect", r["urn"], "--stack", stack, "--yes")
    ws.destroy(stack)
    assert kubernetes_resources(ws.export(stack)) == []
    for k, uid in sharded["uids"].items():
        live = e2e.kube.get(k[1] if not k[0] else f"{k[1]}.{k[0]}", k[3], k[2])
        if k in retained:
            assert live is not None and live["metadata"]["uid"] == uid, f"retained {k} must stay"
