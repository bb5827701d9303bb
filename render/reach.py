"""Reachability in the render CLI: `python -m render reach STACK`, the check `render validate STACK`
adds, and the section `render diff` prints first. The computing is `verify`'s; this module reads
render directories and prints.

A render directory records what its reachability is computed from beside its manifests
(`stack.json`: the install method and the validated tenants file), so `render diff` can compute
both sides, each with its own tenants.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

from tenants.model import InstallMethod, TenantsFile
from tenants.stack import Settings, load_settings, project_values

from .engine import PROJECT_ROOT, read_stack_config, tenants_argument

STACK_RECORD = "stack.json"
PICTURE = "reach.svg"
NOT_INSTALLED = "network-config-analyzer is not installed (pip install -r requirements-dev.txt)"


def settings_of(stack: str, tenants: Optional[str]) -> Settings:
    return load_settings(
        stack, project_values(read_stack_config(stack)), PROJECT_ROOT,
        tenants_override=tenants_argument(tenants) if tenants else None,
    )


def record(out: Path, settings: Settings) -> None:
    """What the render's reachability is computed from, beside its manifests."""
    data = {
        "installMethod": settings.stack.install_method.value,
        "tenants": settings.tenants.model_dump(mode="json", by_alias=True, exclude_unset=True),
    }
    (out / STACK_RECORD).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def _recorded(directory: Path) -> Optional[tuple[TenantsFile, InstallMethod]]:
    path = directory / STACK_RECORD
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return TenantsFile.model_validate(data["tenants"]), InstallMethod(data["installMethod"])


def reach(stack: str, tenants: Optional[str], out: Optional[Path], hostile: bool) -> int:
    """Render the stack, print its reachability by tenant, write the picture; exit 1 on a mismatch
    with the tenants file (or, with `hostile`, a path a tenant's own objects open)."""
    from verify.analyzer import AnalyzerError, analyzer_available

    from . import commands

    if not analyzer_available():
        print(f"reach: {NOT_INSTALLED}", file=sys.stderr)
        return 2
    out = out or PROJECT_ROOT / "build" / stack
    commands.render(stack, tenants, out)
    try:
        return _report(stack, tenants, out, hostile)
    except AnalyzerError as err:
        print(f"reach: {err}", file=sys.stderr)
        return 2


def _report(stack: str, tenants: Optional[str], out: Path, hostile: bool) -> int:
    from verify.hostile import hostile_check
    from verify.present import breach_lines, svg, table
    from verify.reach import check, read_manifests

    settings = settings_of(stack, tenants)
    objects = read_manifests(out / "manifests.yaml")
    result = check(objects, settings.tenants, settings.stack.install_method)
    print()
    print(table(result.computed, result.endpoints, settings.tenants))
    print()
    (out / PICTURE).write_text(svg(result.computed, result.endpoints, settings.tenants, f"{tenants or 'stack ' + stack}: who reaches whom"), encoding="utf-8")
    print(summary_line(result))
    for difference in result.differences:
        print(f"  {difference}")
    print(f"wrote {out / PICTURE}")
    failed = not result.ok
    if hostile:
        breaches = hostile_check(objects, settings.tenants, settings.stack.install_method)
        print(f"hostile additions: {len(settings.tenants.tenants)} tenants, each adding its own policies and pods "
              f"without a sidecar: {len(breaches)} paths opened into others")
        for line in breach_lines(breaches):
            print(f"  {line}")
        failed = failed or bool(breaches)
    return 1 if failed else 0


def summary_line(result) -> str:
    verdict = "all as declared" if result.ok else f"{len(result.differences)} not as declared"
    return f"reachability: {len(result.computed)} open paths; {result.pairs} endpoint pairs compared with the tenants file, {verdict}"


# The largest stack whose reachability `render validate` and `render diff` compute. The analyzer
# compares every pair of workloads: 6.9 s at 50 generated tenants, 24 s at 100 (a `render diff`,
# 2 cores); at 1,000 it had used 6 GB and 2 minutes when it was stopped.
MAX_TENANTS = 100


def _too_many(tenants: int) -> str:
    return (f"reachability: not computed for {tenants} tenants: the analyzer compares every pair of workloads, which "
            f"past {MAX_TENANTS} tenants takes minutes and gigabytes (`python -m render reach` still computes it)")


def validate_reach(settings: Settings, stack: str) -> Optional[list[str]]:
    """`render validate STACK`'s reachability lines (None without the analyzer): the stack is
    rendered without its charts (whose objects the check does not read) into a temporary directory."""
    from verify.analyzer import analyzer_available

    if not analyzer_available():
        return None
    if len(settings.tenants.tenants) > MAX_TENANTS:
        return [_too_many(len(settings.tenants.tenants))]
    import tempfile

    from verify.reach import check, read_manifests

    from .charts import NOT_ASKED, Expansion, charts_of
    from .engine import run_program
    from .output import manifests_yaml

    run = run_program(stack, str(settings.tenants_path))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "manifests.yaml"
        path.write_text(manifests_yaml(run, [Expansion(c, status=NOT_ASKED) for c in charts_of(run)]), encoding="utf-8")
        result = check(read_manifests(path), settings.tenants, settings.stack.install_method)
    return [summary_line(result), *(f"  {d}" for d in result.differences)] if not result.ok else [summary_line(result)]


def diff_section(old: Path, new: Path) -> list[str]:
    """The reachability section of `render diff`: paths that open (+) or close (-); [] when both
    sides reach alike, a one-line reason when it cannot be computed."""
    from verify.analyzer import analyzer_available

    sides = _recorded(old), _recorded(new)
    if sides[1] is None:
        return []
    if sides[0] is None:
        return [f"reachability: not compared (the base render has no {STACK_RECORD}: rendered by code older than this section)", ""]
    if not analyzer_available():
        return [f"reachability: not computed ({NOT_INSTALLED})", ""]
    largest = max(len(config.tenants) for config, _ in sides)
    if largest > MAX_TENANTS:
        return [_too_many(largest), ""]
    from verify.analyzer import compute
    from verify.endpoints import control_plane_namespaces, stack_endpoints
    from verify.present import changes
    from verify.reach import read_manifests

    maps = []
    for directory, (config, method) in zip((old, new), sides):
        maps.append(compute(read_manifests(directory / "manifests.yaml"), stack_endpoints(config, method), control_plane_namespaces(config)))
    lines = changes(*maps)
    if not lines:
        return []
    return [f"reachability: {sum(1 for line in lines if line[0] == '+')} paths open, "
            f"{sum(1 for line in lines if line[0] == '-')} close", *lines, ""]
