"""python -m deploy up|preview|destroy|shards --stack <cluster> [--pool N] [--parallel N] [--all] [--policy-pack DIR]"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from pulumi import automation as auto

from render.engine import read_stack_config
from tenants import ConfigError
from tenants.handoff import handoff_key, write_handoff
from tenants.shards import cluster_of, shard_count
from tenants.stack import load_settings, project_values

from .plan import layout
from .stacks import Deployment

# The engine's parallelism recommended per stack (docs/scale.md#parallelism): its steps wait on
# the API server, not on the CPU.
PARALLEL = 32
POOL = 4


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy", description=__doc__)
    parser.add_argument("op", choices=["up", "preview", "destroy", "shards"],
                        help="shards: print the shard count (1: one stack, for a plain `pulumi up`) and run nothing")
    parser.add_argument("--stack", required=True, help="the cluster's stack (Pulumi.<stack>.yaml), never a shard's")
    parser.add_argument("--pool", type=int, default=POOL, help=f"shards run at once (default {POOL})")
    parser.add_argument("--parallel", type=int, default=PARALLEL, help=f"the engine's parallelism per stack (default {PARALLEL})")
    parser.add_argument("--all", action="store_true", help="run every shard, also those whose tenants did not change")
    parser.add_argument("--policy-pack", action="append", default=[], metavar="DIR",
                        help="a policy pack every stack's preview and up run, as `pulumi --policy-pack` (repeatable)")
    parser.add_argument("--cwd", default=".", help="the project directory (default: the current one)")
    args = parser.parse_args(argv)
    root = Path(args.cwd).resolve()
    if cluster_of(args.stack)[1] is not None:
        parser.error(f"{args.stack} is a shard's stack: name the cluster's, {cluster_of(args.stack)[0]}")
    try:
        settings = load_settings(args.stack, project_values(read_stack_config(args.stack, root)), root)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 1
    shards = shard_count(settings.stack, len(settings.tenants.tenants))
    if args.op == "shards":
        print(shards)  # what CI asks to choose between `pulumi up` and this command
        return 0
    plan = layout(args.stack, settings.tenants, shards)
    # The stacks' programs take the tenants validated here rather than validate the file again,
    # each of them (tenants/handoff.py); the directory is private to this run and removed after it.
    with tempfile.TemporaryDirectory(prefix="istio-multitenancy-deploy-") as private:
        handoff = write_handoff(Path(private), handoff_key(settings.stack, root, settings.tenants_digest), settings.tenants)
        deployment = Deployment(
            root, settings, plan, pool=args.pool, parallel=args.parallel, env=handoff, say=lambda line: print(line, flush=True),
            policy_packs=[str(Path(pack).resolve()) for pack in args.policy_pack],
        )
        try:
            if args.op == "up":
                deployment.up(every=args.all)
            elif args.op == "preview":
                deployment.preview(every=args.all)
            else:
                deployment.destroy()
        except auto.errors.CommandError as err:
            print(err, file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
