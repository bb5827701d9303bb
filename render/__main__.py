"""python -m render STACK [--tenants FILE] [--out DIR] [--no-expand]
python -m render validate [STACK | --tenants FILE]
python -m render diff [--verbose] OLD_DIR NEW_DIR   (exit 0 identical, 1 different, 2 unusable input)
python -m render diff [--verbose] --base GIT_REF STACK   (renders both sides itself)
python -m render reach STACK [--tenants FILE] [--out DIR] [--hostile]

Exit codes: 0 done, 2 the configuration has mistakes (printed one per line on stderr).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from tenants.errors import ConfigError

from . import commands


def _render_parser() -> argparse.ArgumentParser:
    """The stack form, whose usage and help also show the subcommands: argparse alone would hide them."""
    others = [parser() for parser in (_validate_parser, _diff_parser, _reach_parser)]
    usages = ["%(prog)s [-h] [--tenants FILE] [--out DIR] [--no-expand] [--stack-only] STACK"]
    usages += [" ".join(other.format_usage().removeprefix("usage: ").split()) for other in others]
    parser = argparse.ArgumentParser(
        prog="python -m render",
        usage="\n       ".join(usages),
        description="Render a stack offline, as `pulumi up` would apply it; `validate`, `diff` and `reach` are subcommands.",
        epilog="\n\n".join(other.format_help().strip() for other in others)
        + "\n\nexit codes: 0 done, 1 the renders differ (diff), 2 mistakes in the configuration or unusable input",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("stack", metavar="STACK", help="a stack: its Pulumi.STACK.yaml and the tenants file it names")
    parser.add_argument("--tenants", metavar="FILE", help="render with this tenants file instead of the stack's")
    parser.add_argument("--out", metavar="DIR", type=Path, help="output directory (default: build/STACK)")
    parser.add_argument(
        "--no-expand", action="store_true", help="record each Helm chart with its values only; run no `helm template`"
    )
    parser.add_argument(
        "--stack-only", action="store_true",
        help="a sharded installation's cluster stack: render its own resources (the platform), not the whole installation",
    )
    return parser


def _validate_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m render validate",
        description="Check a stack's settings and tenants file, or a tenants file alone; print `ok: N tenants` or every mistake.",
    )
    parser.add_argument("stack", metavar="STACK", nargs="?", default=None, help="a stack: its Pulumi.STACK.yaml and the tenants file it names")
    parser.add_argument("--tenants", metavar="FILE", help="a tenants file (default: the stack's tenantsFile)")
    return parser


def _diff_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m render diff",
        usage="%(prog)s [-h] [--verbose] (OLD NEW | --base GIT_REF [--tenants FILE] [--no-expand] STACK)",
        description="Compare two render outputs, object by object; exit 0 identical, 1 different, 2 unusable input.",
        epilog="With --base, the base is STACK rendered by GIT_REF's own code in a git worktree (into build/base/STACK), "
        "the change is STACK rendered here (into build/STACK).",
    )
    parser.add_argument("paths", metavar="OLD NEW", nargs="+", help="two render directories (e.g. build/base/dev build/dev), or with --base a stack")
    parser.add_argument("--base", metavar="GIT_REF", help="render the base from this commit (a branch, tag or SHA)")
    parser.add_argument("--tenants", metavar="FILE", help="with --base: render the change with this tenants file")
    parser.add_argument("--no-expand", action="store_true", help="with --base: run no `helm template` on either side")
    parser.add_argument(
        "--verbose", "-v", action="store_true",
        help="every new object's content, every field change, and Pulumi dependency changes (by default: for "
        "Services, Gateways, routes, policies and Namespaces)",
    )
    return parser


def _reach_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m render reach",
        description="Render a stack and show who reaches whom (network-config-analyzer): a table by tenant and "
        "build/STACK/reach.svg; exit 1 when it differs from what the tenants file declares.",
    )
    parser.add_argument("stack", metavar="STACK", help="a stack: its Pulumi.STACK.yaml and the tenants file it names")
    parser.add_argument("--tenants", metavar="FILE", help="render with this tenants file instead of the stack's")
    parser.add_argument("--out", metavar="DIR", type=Path, help="output directory (default: build/STACK)")
    parser.add_argument(
        "--hostile", action="store_true",
        help="also add, tenant by tenant, the widest objects a tenant admin may create; exit 1 if they open a path into others",
    )
    return parser


def _reach(argv: list[str]) -> int:
    from . import reach

    args = _reach_parser().parse_args(argv)
    return _guarded(lambda: reach.reach(args.stack, args.tenants, args.out, args.hostile))


def _render(argv: list[str]) -> int:
    args = _render_parser().parse_args(argv)
    return _guarded(lambda: commands.render(args.stack, args.tenants, args.out, expand_charts=not args.no_expand, own_stack_only=args.stack_only))


def _validate(argv: list[str]) -> int:
    parser = _validate_parser()
    args = parser.parse_args(argv)
    if args.stack is None and args.tenants is None:
        parser.error("name a STACK or --tenants FILE")
    return _guarded(lambda: commands.validate(args.stack, args.tenants))


def _diff(argv: list[str]) -> int:
    parser = _diff_parser()
    args = parser.parse_args(argv)
    if args.base is None:
        if len(args.paths) != 2 or args.tenants or args.no_expand:
            parser.error("compare two render directories, OLD NEW (--tenants and --no-expand go with --base)")
        return commands.diff(args.paths[0], args.paths[1], args.verbose)
    if len(args.paths) != 1:
        parser.error("--base GIT_REF takes one STACK")
    return _guarded(lambda: commands.diff_base(args.base, args.paths[0], args.tenants, not args.no_expand, args.verbose))


# A first argument naming a subcommand runs it; anything else is a stack to render.
SUBCOMMANDS: dict[str, Callable[[list[str]], int]] = {"validate": _validate, "diff": _diff, "reach": _reach}


def main(argv: list[str]) -> int:
    if argv and argv[0] in SUBCOMMANDS:
        return SUBCOMMANDS[argv[0]](argv[1:])
    return _render(argv)


def _guarded(command: Callable[[], int]) -> int:
    """A user's mistake: its lines on stderr and exit 2, no traceback."""
    import pulumi

    try:
        return command()
    except (ConfigError, pulumi.RunError) as err:
        print(str(err), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
