"""Which stack holds which part of an installation: one stack, or a platform stack and shards of tenants.

A cluster's stack (`Pulumi.<cluster>.yaml`) is what a user names and configures. Past a size
(`tenantShards`, or AUTO_SHARD_TENANTS tenants) the installation is split: the cluster's own
stack keeps the platform (Istio, the control planes, admission, CRDs) and stacks named
`<cluster>-shard-<k>` hold the tenants, each tenant in the shard its name hashes to.

The assignment is rendezvous hashing: each tenant goes to the shard with the highest hash of
(tenant name, shard number). It depends on the tenant's name and the shard count only: adding or
removing a tenant moves no other, and going from N to N+1 shards moves only the tenants the new
shard wins (about 1/(N+1) of them), each to that new shard.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Optional

from .code import code_digest
from .errors import ConfigError, Problem
from .model import AUTO_SHARD_TENANTS, TENANTS_PER_SHARD, StackSettings
from .stack import Settings

SHARD_SUFFIX = "-shard-"
_SHARD_STACK = re.compile(rf"^(?P<cluster>.+){re.escape(SHARD_SUFFIX)}(?P<shard>[1-9][0-9]*)$")


def shard_count(settings: StackSettings, tenants: int) -> int:
    """How many shards of tenants the installation has; 1 means one stack holds everything."""
    if settings.tenant_shards is not None:
        return settings.tenant_shards
    if tenants <= AUTO_SHARD_TENANTS:
        return 1
    return math.ceil(tenants / TENANTS_PER_SHARD)


def _weight(tenant: str, shard: int) -> int:
    digest = hashlib.sha256(f"{tenant}\0{shard}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


@functools.lru_cache(maxsize=1 << 16)
def shard_of(tenant: str, shards: int) -> int:
    """The shard (1 to `shards`) that holds this tenant: a stable hash of its name, nothing else.
    Cached: `python -m deploy` assigns every tenant once per shard's digest (40 x 1,000 x 40 hashes)."""
    return max(range(1, shards + 1), key=lambda shard: _weight(tenant, shard))


def assign(tenants: Iterable[str], shards: int) -> dict[int, list[str]]:
    """Every shard's tenants (shards without tenants included, empty), in the order given."""
    assigned: dict[int, list[str]] = {shard: [] for shard in range(1, shards + 1)}
    for tenant in tenants:
        assigned[shard_of(tenant, shards)].append(tenant)
    return assigned


def shard_stack(cluster: str, shard: int) -> str:
    return f"{cluster}{SHARD_SUFFIX}{shard}"


def cluster_of(stack: str) -> tuple[str, Optional[int]]:
    """(cluster stack, shard) of a stack name; shard None for a cluster's own stack."""
    match = _SHARD_STACK.match(stack)
    return (match["cluster"], int(match["shard"])) if match else (stack, None)


@dataclass(frozen=True)
class StackPart:
    """What one stack registers: the platform (`platform`), and the tenants named in `tenants`."""

    platform: bool
    tenants: frozenset[str]
    shards: int
    shard: Optional[int] = None

    def holds(self, tenant: str) -> bool:
        return tenant in self.tenants


# Set by `python -m deploy` (and `python -m render`) for every stack they run. The cluster stack of
# a sharded installation holds the platform only: run by a plain `pulumi up`, it would take every
# tenant out of its state, deleting their objects (a file grown past AUTO_SHARD_TENANTS does it).
DEPLOY_ENV = "ISTIO_MULTITENANCY_DEPLOY"


def require_deploy_when_sharded(part: StackPart, stack: str, environ: Mapping[str, str]) -> None:
    """Refuse to run a sharded installation's cluster stack outside `python -m deploy`."""
    if part.platform and part.shards > 1 and environ.get(DEPLOY_ENV) != "1":
        raise ConfigError([Problem(
            f"Pulumi.{stack}.yaml", None, "istio-multitenancy:tenantShards",
            f"this installation is sharded ({part.shards} shard stacks, by tenantShards or past "
            f"{AUTO_SHARD_TENANTS} tenants): run `python -m deploy up|preview|destroy --stack {stack}`, "
            "which moves the tenants into their shards first; a plain `pulumi up` of this stack would "
            "delete every tenant's objects from it (to keep one stack, set tenantShards: 1)",
        )])


def stack_part(settings: Settings) -> StackPart:
    """A single stack holds everything; a sharded installation's cluster stack the platform, a
    shard stack (`shard` set by `python -m deploy`) its tenants."""
    names = [t.name for t in settings.tenants.tenants]
    shards = shard_count(settings.stack, len(names))
    shard = settings.stack.shard
    if shard is not None:
        if shard > shards:
            raise ConfigError([Problem(
                "stack config", None, "istio-multitenancy:shard",
                f"shard {shard} of an installation of {shards} shard(s): run `python -m deploy`, which derives the shard stacks",
            )])
        return StackPart(platform=False, tenants=frozenset(assign(names, shards)[shard]), shards=shards, shard=shard)
    if shards == 1:
        return StackPart(platform=True, tenants=frozenset(names), shards=1)
    return StackPart(platform=True, tenants=frozenset(), shards=shards)


def shard_digest(settings: Settings, shard: int, root: Path) -> str:
    """A fingerprint of everything a shard's resources are built from: the stack settings, the
    file's mesh-wide settings, the shard's tenants, what other tenants share with them, and the
    program's code. The same as at the shard's last `up` (its `shardDigest` output): nothing to preview."""
    from builders.isolation import Sharing

    config = settings.tenants
    names = assign([t.name for t in config.tenants], shard_count(settings.stack, len(config.tenants)))[shard]
    held = set(names)
    sharing = Sharing.of(config)
    facts = {
        "settings": settings.stack.model_dump(mode="json", exclude={"shard"}),
        "file": config.model_dump(mode="json", exclude={"tenants"}),
        "tenants": [t.model_dump(mode="json") for t in config.tenants if t.name in held],
        "consumers": {k: v for k, v in sharing.consumers.items() if k in held},
        "imports": {k: v for k, v in sharing.imports.items() if k in held},
        "code": code_digest(root),
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()
