"""The render CLI's commands, each returning an exit code."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path
from typing import Optional

from tenants.stack import Settings, load_settings, project_values

from . import reach
from .base import BaseRenderError, empty_render, render_base
from .charts import NOT_ASKED, Expansion, charts_of, expand, helm_binary, helm_version
from .diff import DiffInputError, run as run_diff
from .engine import PROJECT_ROOT, ProgramRun, read_stack_config, run_program, tenants_argument
from .output import charts_summary, manifests_yaml, resources_json, summary


def render(stack: str, tenants: Optional[str], out: Optional[Path], expand_charts: bool = True, own_stack_only: bool = False) -> int:
    run = run_program(stack, tenants_argument(tenants) if tenants else None, own_stack_only=own_stack_only)
    helm = helm_binary() if charts_of(run) and expand_charts else None
    expansions = expand(run, helm) if expand_charts else [Expansion(chart, status=NOT_ASKED) for chart in charts_of(run)]
    out = out or PROJECT_ROOT / "build" / stack
    write_render(out, run, expansions, reach.settings_of(stack, tenants))
    print(summary(run))
    for line in charts_summary(expansions, helm_version(helm) if helm else ""):
        print(line)
    print(f"wrote {out / 'manifests.yaml'} and {out / 'resources.json'}")
    return 0


def write_render(out: Path, run: ProgramRun, expansions: list[Expansion], settings: Settings) -> None:
    """A render's files: what `render diff` and `render reach` read."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifests.yaml").write_text(manifests_yaml(run, expansions), encoding="utf-8")
    (out / "resources.json").write_text(resources_json(run, expansions), encoding="utf-8")
    reach.record(out, settings)


def validate(stack: Optional[str], tenants: Optional[str]) -> int:
    """The stack's settings (when a stack is named) and its tenants file, or `tenants` instead."""
    values = project_values(read_stack_config(stack)) if stack else {}
    settings = load_settings(
        stack or "(none)",
        values,
        PROJECT_ROOT,
        tenants_override=tenants_argument(tenants) if tenants else None,
    )
    print(f"ok: {len(settings.tenants.tenants)} tenants")
    lines = reach.validate_reach(settings, stack) if stack else None
    for line in lines or ():
        print(line)
    return 1 if lines and len(lines) > 1 else 0


def diff(old: Path, new: Path, verbose: bool = False) -> int:
    """Print what changes from the render in `old` to the one in `new`; exit 0 same, 1 different, 2 unusable."""
    try:
        code, text = run_diff(Path(old), Path(new), verbose)
    except DiffInputError as err:
        print(str(err), file=sys.stderr)
        return 2
    # Reachability first: what a reviewer of a tenants-file change needs most.
    section = reach.diff_section(Path(old), Path(new))
    print("\n".join([*section, text]))
    return 1 if any(line.startswith(("+ ", "- ")) for line in section) else code


def diff_base(ref: str, stack: str, tenants: Optional[str], expand: bool = True, verbose: bool = False) -> int:
    """Render `stack` at git `ref` (build/base/STACK) and here (build/STACK), then diff them."""
    base = PROJECT_ROOT / "build" / "base" / stack
    try:
        render_base(ref, stack, base, expand)
    except BaseRenderError as err:
        print(str(err), file=sys.stderr)
        return 2
    new = PROJECT_ROOT / "build" / stack
    with contextlib.redirect_stdout(io.StringIO()):  # the diff is the output; the render's summary is not
        if (PROJECT_ROOT / f"Pulumi.{stack}.yaml").exists():
            render(stack, tenants, new, expand)
        else:
            empty_render(new)
    return diff(Path(os.path.relpath(base)), Path(os.path.relpath(new)), verbose)
