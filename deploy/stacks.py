"""Running a cluster's stacks through the Pulumi Automation API: platform first, then the shards."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence

from pulumi import automation as auto

from tenants.shards import DEPLOY_ENV, cluster_of, shard_digest
from tenants.stack import NAMESPACE, Settings

from .plan import DIGEST_OUTPUT, DIGEST_TAG, Layout, Move, digest_in_state, digest_tags, digests_in_tags, moves, places_known, tenant_of, tenants_in_state

SHARD_KEY = f"{NAMESPACE}:shard"
# On the cluster's stack: the shard count at which the last `up` found or put every tenant in the
# stack its name hashes to. Lifted before a move, set again once the moves are done: a run that
# finds another count, or none, reads every stack's state to find the tenants.
LAYOUT_TAG = f"{NAMESPACE}:shards"
# The Go runtime of the CLIs this command runs (and of the providers they start): the CLI saves
# a stack's whole state after every step, and a fifth of its CPU went to collecting the garbage
# of those saves. A collection when the heap has grown 400 % rather than 100 % since the last one
# (docs/scale.md#fourth-round-less-work-per-shard-2026-12-07), under a ceiling past which the
# collector works harder instead. The caller's own settings win.
GO_RUNTIME = {"GOGC": "400", "GOMEMLIMIT": "2GiB"}
# What a preview lists: every step but those that change nothing.
_QUIET = {"same", "read", "refresh"}


@dataclass
class Outcome:
    """One stack's run: a preview's steps (op, urn) other than unchanged ones, or an `up`'s or a
    `destroy`'s counts of them; how long it took."""

    stack: str
    tenants: Optional[int]
    steps: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    skipped: bool = False
    changes: Optional[dict[str, int]] = None

    def counts(self) -> str:
        counted = self.changes if self.changes is not None else Counter(op for op, _ in self.steps)
        return ", ".join(f"{n} to {op}" for op, n in sorted(counted.items()) if n) or "no change"


class Deployment:
    """One cluster's installation: `layout` says which stacks hold what; `pool` bounds the shards run at once."""

    def __init__(self, root: Path, settings: Settings, layout: Layout, *, pool: int = 4,
                 parallel: Optional[int] = None, env: Optional[dict[str, str]] = None, say: Callable[[str], None] = print,
                 policy_packs: Sequence[str] = ()):
        self.root = root
        # Run by every stack's preview and up, as by one stack's: a sharded installation keeps
        # the CrossGuard check before anything is applied.
        self.policy_packs = list(policy_packs)
        self.settings = settings
        self.layout = layout
        self.pool = pool
        self.parallel = parallel
        self._say = say
        self._lock = threading.Lock()
        # One workspace for every stack: a workspace of its own per call costs a `pulumi version`
        # each (hundreds of CLI runs at a thousand tenants); the CLI's version is checked once.
        # DEPLOY_ENV: the program runs a sharded installation's cluster stack for this command only.
        # `env`: more for every program (the validated tenants, tenants/handoff.py).
        self.workspace = auto.LocalWorkspace(
            work_dir=str(root), pulumi_command=auto.PulumiCommand(),
            env_vars={**go_runtime(os.environ), **(env or {}), DEPLOY_ENV: "1"},
        )
        self.project = self.workspace.project_settings().name
        # Each existing stack's `shardDigest` as its state holds it, read with its tenants (held()).
        self._digests: dict[str, Optional[str]] = {}
        self.recorded: Optional[str] = None  # the cluster stack's LAYOUT_TAG (planned_moves())
        self._tags: dict[str, str] = {}  # the cluster stack's tags, as planned_moves() read them
        # The stacks that existed when planned_moves() listed them (on a local backend the list
        # reads every stack's whole state): a run creates none beyond the layout's own.
        self._found: list[str] = []
        # The local backend rewrites a stack's whole tags file for each change: one change at a time.
        self._tagging = threading.Lock()

    def say(self, line: str) -> None:
        with self._lock:
            self._say(line)

    # --- stacks ---------------------------------------------------------------------------------

    def _stack(self, name: str) -> auto.Stack:
        return auto.Stack.create_or_select(name, self.workspace)

    def _cluster_config(self) -> dict[str, auto.ConfigValue]:
        config = self._stack(self.layout.cluster).get_all_config()
        return {k: v for k, v in config.items() if k != SHARD_KEY}

    def _shard(self, name: str, shard: int, config: dict[str, auto.ConfigValue]) -> auto.Stack:
        """A shard's stack, with the cluster stack's settings and its number (set again at each run)."""
        stack = self._stack(name)
        stack.set_all_config({**config, SHARD_KEY: auto.ConfigValue(str(shard))})
        return stack

    def existing(self) -> list[str]:
        """The cluster's stacks that exist: its own, and its shards (also any beyond the shard count)."""
        return sorted(s.name for s in self.workspace.list_stacks() if cluster_of(s.name)[0] == self.layout.cluster)

    def held(self, names: list[str]) -> dict[str, list[str]]:
        """Each of these stacks' tenants, by their name in its state, and (kept for `_changed`) its
        digest: one export per stack, `pool` at a time (each is a CLI run that reads a whole state)."""

        def read(name: str) -> list[str]:
            resources = (self.workspace.export_stack(name).deployment or {}).get("resources") or []
            self._digests[name] = digest_in_state(resources)
            return tenants_in_state(resources)

        with ThreadPoolExecutor(max_workers=self.pool) as pool:
            return dict(zip(names, pool.map(read, names)))

    def _read_digests(self, names: list[str]) -> None:
        """Each shard's digest from its outputs alone: a CLI run that serializes no state."""

        def read(name: str) -> None:
            result = self.workspace.pulumi_command.run(["stack", "output", "--json", "--stack", name], str(self.root), {})
            digest = json.loads(result.stdout or "{}").get(DIGEST_OUTPUT)
            self._digests[name] = digest if isinstance(digest, str) else None

        shards = [name for name in names if cluster_of(name)[1] is not None]
        with ThreadPoolExecutor(max_workers=self.pool) as pool:
            list(pool.map(read, shards))

    def _read_stacks_and_tags(self) -> list[str]:
        """The cluster's existing stacks (kept in `_found`) and its own stack's tags (in `_tags`)."""
        names = self._found = self.existing()
        self._tags = dict(self.workspace.list_tags(self.layout.cluster)) if self.layout.cluster in names else {}
        return names

    def planned_moves(self) -> list[Move]:
        """The moves to make first; none, without reading a single state, when every tenant's place
        is known (`places_known`)."""
        names = self._read_stacks_and_tags()
        self.recorded = self._tags.get(LAYOUT_TAG)
        if places_known(self.layout, self.settings.tenants, self.recorded):
            self._digests.update(digests_in_tags(self._tags, names))
            self._read_digests([name for name in names if name not in self._digests])
            return []
        self.say(f"reading the states of {len(names)} stacks to find each tenant")
        return moves(self.layout, self.settings.tenants, self.held(names))

    def move(self, planned: list[Move]) -> None:
        """Each tenant's state to its new stack: `pulumi state move` takes the component with its
        children; nothing in the cluster changes, and the next `up` of the destination sees them as its own."""
        by_pair: dict[tuple[str, str], list[Move]] = {}
        for m in planned:
            by_pair.setdefault((m.source, m.dest), []).append(m)
        config = self._cluster_config()
        # No count recorded until every move is done (up() records it): a run stopped half-way
        # leaves tenants where their names do not hash, and the next run must read every state.
        if self.recorded is not None:
            self._untag(LAYOUT_TAG)
            self.recorded = None
        for (source, dest), group in sorted(by_pair.items()):
            # Both now hold other tenants than their last `up` did, whatever their digests say.
            for name in (source, dest):
                self._digests[name] = None
                self._untag_digest(name)
            shard = cluster_of(dest)[1]
            (self._shard(dest, shard, config) if shard else self._stack(dest))
            urns = [m.urn(self.project) for m in group]
            started = time.perf_counter()
            subprocess.run(
                ["pulumi", "state", "move", "--source", source, "--dest", dest, "--yes", *urns],
                cwd=self.root, check=True, capture_output=True, text=True, env=os.environ.copy(),
            )
            self.say(f"moved {', '.join(m.tenant for m in group)}: {source} -> {dest} ({time.perf_counter() - started:.1f} s, state only)")

    # --- runs -----------------------------------------------------------------------------------

    def _run(self, stack: auto.Stack, op: str, tenants: Optional[int]) -> Outcome:
        outcome = Outcome(stack.name, tenants)

        def on_event(event: auto.EngineEvent) -> None:
            pre = event.resource_pre_event
            if pre is not None and pre.metadata.op.value not in _QUIET:
                outcome.steps.append((pre.metadata.op.value, pre.metadata.urn))

        started = time.perf_counter()
        # Only a preview listens to the engine's events, to list its steps: each event carries the
        # resource's whole state, which the CLI encodes and this process decodes, two per step.
        # An `up` or a `destroy` reports its counts from the update's summary.
        if op == "preview":
            stack.preview(parallel=self.parallel, on_event=on_event, policy_packs=self.policy_packs or None)
        elif op == "up":
            outcome.changes = self._up(stack)
        else:
            outcome.changes = _changes(stack.destroy(parallel=self.parallel).summary)
        outcome.seconds = time.perf_counter() - started
        return outcome

    def _up(self, stack: auto.Stack) -> dict[str, int]:
        """`pulumi up`, and its counts from the stack's last update. `auto.Stack.up` also reads the
        stack's outputs, two more CLI runs that each read its whole state; a shard's one output, its
        digest, is computed here as its program computes it (`shard_digest`)."""
        args = up_arguments(stack.name, self.parallel, self.policy_packs)
        self.workspace.pulumi_command.run(args, str(self.root), self.workspace.env_vars)
        return _changes(stack.info(show_secrets=False))

    def _changed(self, name: str, digest: str) -> bool:
        """Whether a shard's tenants (or what builds them) changed since its last `up`, which
        recorded `digest` if not (a shard without a digest, read by `held()` or `_read_digests()`,
        has never run one)."""
        deployed = self._digests.get(name)
        return deployed is None or deployed != digest

    def _shards(self, op: str, every: bool) -> list[Outcome]:
        config = self._cluster_config()
        jobs = [(name, shard, len(self.layout.shards[shard])) for name, shard in self.layout.shard_stacks().items()]

        def run(job) -> Outcome:
            name, shard, tenants = job
            tag = DIGEST_TAG.format(shard=shard)
            digest = shard_digest(self.settings, shard, self.root)
            if op != "destroy" and not every and not self._changed(name, digest):
                self.say(f"{name}: {tenants} tenants unchanged since its last up: skipped")
                if op == "up" and self._tags.get(tag) != self._digests[name]:
                    self._tag(tag, self._digests[name])  # read from its output: recorded for the next run
                return Outcome(name, tenants, skipped=True)
            if op != "preview":
                self._untag(tag)
            self.say(f"{name}: {tenants} tenants: {op} ...")
            outcome = self._run(self._shard(name, shard, config), op, tenants)
            self.say(f"{name}: {tenants} tenants: {outcome.counts()} ({outcome.seconds:.1f} s)")
            if op == "up":
                self._tag(tag, digest)  # the digest its program exported (e2e test_7 compares them)
            return outcome

        # The largest shards first: hashing spreads tenants unevenly, and a large shard started
        # last would leave the rest of the pool idle while it runs.
        order = sorted(jobs, key=lambda job: -job[2])
        with ThreadPoolExecutor(max_workers=self.pool) as pool:
            done = dict(zip((job[0] for job in order), pool.map(run, order)))
        return [done[name] for name, _, _ in jobs]

    def _tag(self, name: str, value: str) -> None:
        with self._tagging:
            self.workspace.set_tag(self.layout.cluster, name, value)
            self._tags[name] = value

    def _untag(self, name: str) -> None:
        with self._tagging:
            if self._tags.pop(name, None) is not None:
                self.workspace.remove_tag(self.layout.cluster, name)

    def _untag_digest(self, stack: str) -> None:
        """Lift a shard stack's digest tag (the cluster's own stack has none)."""
        shard = cluster_of(stack)[1]
        if shard is not None:
            self._untag(DIGEST_TAG.format(shard=shard))

    def _platform(self, op: str) -> Outcome:
        name = self.layout.cluster
        what = "platform" if self.layout.sharded else f"{sum(len(t) for t in self.layout.shards.values())} tenants"
        self.say(f"{name} ({what}): {op} ...")
        outcome = self._run(self._stack(name), op, None)
        self.say(f"{name} ({what}): {outcome.counts()} ({outcome.seconds:.1f} s)")
        return outcome

    def up(self, every: bool = False) -> list[Outcome]:
        planned = self.planned_moves()
        if planned:
            self.move(planned)
        outcomes = [self._platform("up")]
        # Every tenant is now where its name hashes (moved, or found so): recorded once the
        # cluster's stack exists (the platform's first `up` creates it).
        count = str(len(self.layout.shards))
        if self.recorded != count:
            self._tag(LAYOUT_TAG, count)
            self.recorded = count
        if self.layout.sharded:
            outcomes += self._shards("up", every)
        self._retire()
        return outcomes

    def preview(self, every: bool = False) -> list[Outcome]:
        # Side by side: a preview changes nothing, so neither the reading of every shard's state nor
        # any shard's preview waits for the platform's (an `up` does: the platform's admission
        # parameters must know a tenant before its namespace, and a move may take tenants out of
        # the cluster's own stack).
        with ThreadPoolExecutor(max_workers=1) as side:
            platform = side.submit(self._platform, "preview")
            planned = self.planned_moves()
            for m in planned:
                self.say(f"will move {m.tenant}: {m.source} -> {m.dest} (state only, on up)")
            shards = self._shards("preview", every) if self.layout.sharded else []
            outcomes = [platform.result(), *shards]
        self.say(combined(outcomes, planned))
        return outcomes

    def destroy(self) -> list[Outcome]:
        self._read_stacks_and_tags()
        outcomes = self._shards("destroy", True) if self.layout.sharded else []
        # No shard holds anything now: a later `up` must run every one, whatever it recorded.
        for tag in [LAYOUT_TAG, *digest_tags(self._tags)]:
            self._untag(tag)
        return outcomes + [self._platform("destroy")]

    def _retire(self) -> None:
        """Shard stacks beyond the shard count (after fewer shards, or none): their tenants were moved
        out; what is left is their provider. Destroyed and removed."""
        wanted = set(self.layout.shard_stacks())
        for name in self._found:
            if cluster_of(name)[1] is not None and name not in wanted:
                self._untag_digest(name)
                stack = auto.Stack.select(name, self.workspace)
                stack.destroy()
                self.workspace.remove_stack(name)
                self.say(f"{name}: no tenants left: removed")


def up_arguments(stack: str, parallel: Optional[int], policy_packs: Sequence[str]) -> list[str]:
    """The `pulumi up` of one stack, as `auto.Stack.up` would run it with these options."""
    args = ["up", "--yes", "--skip-preview", "--stack", stack]
    if parallel is not None:
        args += ["--parallel", str(parallel)]
    for pack in policy_packs:
        args += ["--policy-pack", pack]
    return args


def go_runtime(environ: Mapping[str, str]) -> dict[str, str]:
    """GO_RUNTIME's settings the caller's environment does not make itself."""
    return {name: value for name, value in GO_RUNTIME.items() if name not in environ}


def _changes(summary: auto.UpdateSummary) -> dict[str, int]:
    return {op: n for op, n in (summary.resource_changes or {}).items() if op not in _QUIET}


def combined(outcomes: list[Outcome], planned: list[Move]) -> str:
    """One preview of every stack a reviewer reads top to bottom: each stack's changes, resource by
    resource; a moved tenant's steps marked as the move they are."""
    moving = {m.tenant for m in planned} | {m.name for m in planned}
    lines = ["", "Preview of the installation:"]
    for o in outcomes:
        head = o.stack if o.tenants is None else f"{o.stack} ({o.tenants} tenants)"
        if o.skipped:
            lines.append(f"  {head}: tenants unchanged, not previewed")
            continue
        lines.append(f"  {head}: {o.counts()}")
        for op, urn in o.steps:
            tenant = tenant_of(urn)
            note = "  (moved between shards first: no change)" if tenant in moving else ""
            lines.append(f"    {op:<8} {urn.split('::', 2)[2]}{note}")
    total = Counter(op for o in outcomes for op, _ in o.steps)
    lines.append("  total: " + (", ".join(f"{n} to {op}" for op, n in sorted(total.items())) or "no change"))
    return "\n".join(lines)
