"""What `python -m deploy` does, decided before it runs anything: the stacks, the shards to
preview, the tenants to move. Pure functions of the tenants file and what each stack's state holds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Optional

from tenants.model import TenantsFile
from tenants.shards import assign, cluster_of, shard_of, shard_stack
from tenants.stack import NAMESPACE

TENANT_TYPE = "istio-multitenancy:index:TenantMesh"
STACK_TYPE = "pulumi:pulumi:Stack"
DIGEST_OUTPUT = "shardDigest"
# On the cluster's stack, one per shard: the `shardDigest` that shard's last `up` by this command
# exported. Read with LAYOUT_TAG in one CLI run, where reading each shard's output is a run per
# shard (hundreds of them at a thousand tenants). Lifted before the shard's `up` or a move into or
# out of it, set again from the `up`'s outputs: a shard without one has its output read instead.
DIGEST_TAG = f"{NAMESPACE}:digest-{{shard}}"


@dataclass(frozen=True)
class Layout:
    """The stacks of one cluster's installation: `platform` (the cluster's own stack) and, when
    sharded, `shards` by number with the tenants each holds."""

    cluster: str
    shards: Mapping[int, tuple[str, ...]]

    @property
    def sharded(self) -> bool:
        return len(self.shards) > 1

    def stack_of(self, tenant: str) -> str:
        """The stack that holds a tenant named so (also one no longer in the file: where its removal runs)."""
        return shard_stack(self.cluster, shard_of(tenant, len(self.shards))) if self.sharded else self.cluster

    def shard_stacks(self) -> dict[str, int]:
        return {shard_stack(self.cluster, shard): shard for shard in self.shards} if self.sharded else {}


def layout(cluster: str, config: TenantsFile, shards: int) -> Layout:
    return Layout(cluster, {shard: tuple(names) for shard, names in assign([t.name for t in config.tenants], shards).items()})


@dataclass(frozen=True)
class Move:
    """A tenant whose state is in `source` but whose shard is now `dest`; `name` is the name it
    has in that state (a former name, for a tenant renamed since)."""

    tenant: str
    name: str
    source: str
    dest: str

    def urn(self, project: str) -> str:
        return f"urn:pulumi:{self.source}::{project}::{TENANT_TYPE}::{self.name}"


def tenants_in_state(resources: Iterable[Mapping]) -> list[str]:
    """The tenants (TenantMesh components) a stack's exported state holds, by their name there."""
    return [r["urn"].rsplit("::", 1)[1] for r in resources if r.get("type") == TENANT_TYPE]


def digest_in_state(resources: Iterable[Mapping]) -> Optional[str]:
    """The `shardDigest` a shard's last `up` exported, as its exported state holds it (None before any)."""
    for r in resources:
        if r.get("type") == STACK_TYPE:
            digest = (r.get("outputs") or {}).get(DIGEST_OUTPUT)
            return digest if isinstance(digest, str) else None
    return None


def places_known(target: Layout, config: TenantsFile, recorded: Optional[str]) -> bool:
    """Whether every tenant is, for certain, in the stack its name hashes to, so that no state need
    be read to plan moves (reading every shard's state is most of `python -m deploy`'s own time at
    a thousand tenants). `recorded`: the shard count at which a run last found or put every tenant
    in place (the cluster stack's tag, `None` when none did, or a move was left half-done); it must
    be this layout's, and no renamed tenant's former name may hash to another stack than its name
    (its state is still under that name). A tenant no longer in the file is where its name hashes."""
    if recorded != str(len(target.shards)):
        return False
    return not any(
        target.stack_of(former) != target.stack_of(tenant.name) for tenant in config.tenants for former in tenant.previous_names
    )


def moves(target: Layout, config: TenantsFile, held: Mapping[str, Iterable[str]]) -> list[Move]:
    """The tenants to move before anything runs: `held` is each existing stack's tenants by their
    name in its state. A tenant of the file is found under its name or a former one; a tenant no
    longer in the file goes where its name hashes, whose next `up` deletes it."""
    known: dict[str, str] = {}
    for tenant in config.tenants:
        for name in (tenant.name, *tenant.previous_names):
            known.setdefault(name, tenant.name)
    planned = []
    for stack, names in sorted(held.items()):
        for name in names:
            tenant = known.get(name, name)
            dest = target.stack_of(tenant)
            if dest != stack:
                planned.append(Move(tenant=tenant, name=name, source=stack, dest=dest))
    return planned


def tenant_of(urn: str) -> Optional[str]:
    """The tenant a resource of the state belongs to (its TenantMesh, or a child named `<tenant>/...`)."""
    _, _, types, name = urn.split("::", 3)
    chain = types.split("$")
    if not any(t == TENANT_TYPE for t in chain):
        return None
    return name if chain[-1] == TENANT_TYPE else name.split("/", 1)[0]


def digest_tags(tags: dict[str, str]) -> dict[str, int]:
    """The shard digest tags among a cluster stack's tags, with their shard numbers."""
    prefix = DIGEST_TAG.format(shard="")
    return {t: int(t[len(prefix):]) for t in tags if t.startswith(prefix) and t[len(prefix):].isdigit()}


def digests_in_tags(tags: dict[str, str], names: list[str]) -> dict[str, str]:
    """Each of these shard stacks' digest as the cluster stack's tags record it (those with one)."""
    by_shard = {shard: tags[t] for t, shard in digest_tags(tags).items()}
    found = {}
    for name in names:
        shard = cluster_of(name)[1]
        if shard is not None and shard in by_shard:
            found[name] = by_shard[shard]
    return found
