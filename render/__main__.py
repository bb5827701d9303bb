"""python -m render STACK [--tenants FILE] [--out DIR]
python -m render validate [STACK | --tenants FILE]

Exit codes: 0 done, 2 the configuration has mistakes (printed one per line).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tenants.errors import ConfigError

from . import commands


def main(argv: list[str]) -> int:
    if argv and argv[0] == "validate":
        parser = argparse.ArgumentParser(prog="python -m render validate", description="Check a tenants file.")
        parser.add_argument("stack", nargs="?", default=None)
        parser.add_argument("--tenants", help="a tenants file (default: the stack's tenantsFile)")
        args = parser.parse_args(argv[1:])
        if args.stack is None and args.tenants is None:
            parser.error("name a STACK or --tenants FILE")
        return _guarded(lambda: commands.validate(args.stack, args.tenants))
    parser = argparse.ArgumentParser(prog="python -m render", description="Render a stack offline, as `pulumi up` would apply it.")
    parser.add_argument("stack")
    parser.add_argument("--tenants", help="render with this tenants file instead of the stack's")
    parser.add_argument("--out", type=Path, help="output directory (default: build/STACK)")
    args = parser.parse_args(argv)
    return _guarded(lambda: commands.render(args.stack, args.tenants, args.out))


def _guarded(command) -> int:
    import pulumi

    try:
        return command()
    except (ConfigError, pulumi.RunError) as err:
        print(str(err), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
