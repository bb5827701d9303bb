"""`make bench` (python -m bench): the program against the floor at 10, 100 and 1,000 tenants, on both install methods.

Every measurement is a fresh process: the program under the mock engine (bench/run_program.py)
and the floor, a replay of exactly what the program registered through the SDK's generic classes
(bench/run_floor.py). Before timing, each size is recorded once and the floor's requests are
checked against the program's, so the two always do the same work for Pulumi. Prints a table
and writes bench/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import Optional

from bench.recording import request_differences
from bench.tenants import write_tenants_file

PROJECT_ROOT = Path(__file__).resolve().parent.parent
WORK = PROJECT_ROOT / "build" / "bench"
RESULTS = PROJECT_ROOT / "bench" / "results.json"
SIZES = (10, 100, 1000)
RUNS = 3
# Install methods measured: the Helm path (the default, dev and prod) and the operator path (classic).
METHODS = ("helm", "operator")
TENANT_COMPONENT = "istio-multitenancy:index:TenantMesh"
# The stack whose settings (Istio version, context) render uses; --tenants replaces its file.
RENDER_STACK = "dev"


# The targets (2-core machine, mock engine).
MAX_FLOOR_RATIO = 1.35
MAX_PEAK_MIB = 1024
MAX_GROWTH_100_TO_1000 = 11
# 16 before issue 17 added each tenant's TenantRemoval (a dynamic resource, no Kubernetes object).
MAX_ONE_ROUTE_RESOURCES = 17
MAX_VALIDATE_SECONDS = 2
MAX_DIFF_SECONDS = 5


class BenchError(Exception):
    """A run failed or the floor does not replay the program: no number would mean anything."""


def _python(*args: str, expect: tuple[int, ...] = (0,)) -> tuple[float, str]:
    """Run `python ARGS` from the project root; (wall seconds, stdout)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, *args], cwd=PROJECT_ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode not in expect:
        raise BenchError(f"python {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return seconds, done.stdout


def _measured(*args: str) -> dict:
    """One runner process; its own report (seconds, peak_rss_kib, resources) is its last line."""
    _, out = _python("-m", *args)
    return json.loads(out.strip().splitlines()[-1])


def record(tenants: Path, name: str, directory: Path = WORK, method: str = METHODS[0]) -> Path:
    """Record the program once, replay it once, and insist the engine saw the same requests.

    Returns the recording the floor replays."""
    replay, program_requests, floor_requests = (directory / f"{name}.{part}.json" for part in ("replay", "program", "floor"))
    _measured("bench.run_program", method, str(tenants), "--record", str(replay), str(program_requests))
    _measured("bench.run_floor", str(replay), "--record", str(floor_requests))
    differences = request_differences(
        json.loads(program_requests.read_text(encoding="utf-8")), json.loads(floor_requests.read_text(encoding="utf-8"))
    )
    if differences:
        shown = "\n".join(differences[:20])
        raise BenchError(f"the floor does not replay the program for {tenants.name} ({len(differences)} differences):\n{shown}")
    return replay


def tenant_resources(replay: Path) -> dict[str, Counter]:
    """Tenant name -> its resources by type (the TenantMesh component and everything under it)."""
    resources = json.loads(replay.read_text(encoding="utf-8"))["resources"]
    owner: list[Optional[str]] = []
    counts: dict[str, Counter] = {}
    for entry in resources:
        parent = entry["parent"]
        tenant = entry["name"] if entry["type"] == TENANT_COMPONENT else (owner[parent] if parent is not None else None)
        owner.append(tenant)
        if tenant is not None:
            counts.setdefault(tenant, Counter())[entry["type"]] += 1
    return counts


def _median(values: list[float]) -> float:
    return statistics.median(values)


def measure_size(count: int, runs: int, method: str) -> dict:
    tenants = write_tenants_file(WORK / f"tenants-{count}.yaml", count)
    replay = record(tenants, f"run-{method}-{count}", method=method)
    program, floor = [], []
    for _ in range(runs):
        # Interleaved, so a slow moment of the machine hits both alike.
        program.append(_measured("bench.run_program", method, str(tenants)))
        floor.append(_measured("bench.run_floor", str(replay)))
    per_tenant = [sum(c.values()) for c in tenant_resources(replay).values()]
    program_seconds = _median([r["seconds"] for r in program])
    floor_seconds = _median([r["seconds"] for r in floor])
    return {
        "method": method,
        "tenants": count,
        "resources": program[0]["resources"],
        "resourcesPerTenant": {
            "mean": round(statistics.fmean(per_tenant), 2),
            "min": min(per_tenant),
            "max": max(per_tenant),
        },
        "program": {
            "seconds": round(program_seconds, 3),
            "peakMiB": round(_median([r["peak_rss_kib"] for r in program]) / 1024, 1),
            "runs": [round(r["seconds"], 3) for r in program],
        },
        "floor": {
            "seconds": round(floor_seconds, 3),
            "peakMiB": round(_median([r["peak_rss_kib"] for r in floor]) / 1024, 1),
            "runs": [round(r["seconds"], 3) for r in floor],
        },
        "ratioToFloor": round(program_seconds / floor_seconds, 3),
    }


def one_route_tenants(method: str) -> dict:
    """Resources of tenants with a single route: the fewest (no optional objects) and the most
    (admins, a certificate, an export), and the largest tenant's by type."""
    tenants = write_tenants_file(WORK / "tenants-one-route.yaml", 10, routes=1)
    replay = record(tenants, f"run-{method}-one-route", method=method)
    counts = tenant_resources(replay)
    name, largest = max(counts.items(), key=lambda item: (sum(item[1].values()), item[0]))
    return {
        "maxResources": sum(largest.values()),
        "minResources": min(sum(c.values()) for c in counts.values()),
        "largestTenant": name,
        "byType": dict(sorted(largest.items())),
    }


def validate_seconds(count: int, runs: int) -> float:
    tenants = WORK / f"tenants-{count}.yaml"
    return round(_median([_python("-m", "render", "validate", "--tenants", str(tenants))[0] for _ in range(runs)]), 3)


def diff_seconds(count: int, runs: int) -> float:
    """`render diff` of a render of the generated file against a render of its day-2 edit."""
    sides = []
    for revision in (0, 1):
        tenants = write_tenants_file(WORK / f"tenants-{count}-r{revision}.yaml", count, revision=revision)
        out = WORK / f"render-{count}-r{revision}"
        # No `helm template` (a process per chart, a thousand of them): the diff compares chart
        # values. Past 20 tenants the installation is sharded, and render shows it whole.
        _python("-m", "render", RENDER_STACK, "--tenants", str(tenants), "--out", str(out), "--no-expand")
        sides.append(str(out))
    # Exit 1: the renders differ, as they should.
    return round(_median([_python("-m", "render", "diff", *sides, expect=(1,))[0] for _ in range(runs)]), 3)


def _target(name: str, value: Optional[float], limit: float, floor: Optional[float] = None) -> dict:
    """`floor`: the same figure for the floor, where the SDK alone decides it."""
    target = {"target": name, "value": value, "limit": limit, "met": None if value is None else value <= limit}
    if floor is not None:
        target["floor"] = floor
    return target


def targets(results: dict) -> list[dict]:
    out = []
    for method in results["methods"]:
        by_size = {size["tenants"]: size for size in results["sizes"] if size["method"] == method}
        if 1000 in by_size:
            largest = by_size[1000]
            out.append(_target(f"{method}: 1,000 tenants: program time / floor time", largest["ratioToFloor"], MAX_FLOOR_RATIO))
            out.append(_target(f"{method}: 1,000 tenants: peak RSS (MiB)", largest["program"]["peakMiB"], MAX_PEAK_MIB))
            if 100 in by_size:
                growth = round(largest["program"]["seconds"] / by_size[100]["program"]["seconds"], 2)
                floor_growth = round(largest["floor"]["seconds"] / by_size[100]["floor"]["seconds"], 2)
                out.append(_target(f"{method}: 1,000-tenant time / 100-tenant time", growth, MAX_GROWTH_100_TO_1000, floor_growth))
        one_route = results["oneRouteTenant"][method]
        out.append(_target(f"{method}: resources, one-route tenant, no options", one_route["minResources"], MAX_ONE_ROUTE_RESOURCES))
        out.append(_target(f"{method}: ... with admins, an issuer and an export", one_route["maxResources"], MAX_ONE_ROUTE_RESOURCES))
    if results["validateSeconds"] is not None:
        out.append(_target("render validate, 1,000 tenants (s)", results["validateSeconds"], MAX_VALIDATE_SECONDS))
        out.append(_target("render diff, two 1,000-tenant renders (s)", results["diffSeconds"], MAX_DIFF_SECONDS))
    return out


def table(results: dict) -> str:
    lines = [
        f"{'method':<8}  {'tenants':>7}  {'resources':>9}  {'per tenant':>10}  {'program s':>9}  {'floor s':>7}  {'ratio':>5}  {'program MiB':>11}  {'floor MiB':>9}",
    ]
    for size in results["sizes"]:
        lines.append(
            f"{size['method']:<8}  {size['tenants']:>7}  {size['resources']:>9}  {size['resourcesPerTenant']['mean']:>10}  "
            f"{size['program']['seconds']:>9.2f}  {size['floor']['seconds']:>7.2f}  {size['ratioToFloor']:>5.2f}  "
            f"{size['program']['peakMiB']:>11.0f}  {size['floor']['peakMiB']:>9.0f}"
        )
    lines.append("")
    for target in results["targets"]:
        verdict = {True: "ok", False: "MISSED", None: "not measured"}[target["met"]]
        floor = f"  (floor: {target['floor']})" if "floor" in target else ""
        lines.append(f"{target['target']:<54} {target['value']!s:>8}  (limit {target['limit']})  {verdict}{floor}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="tenant counts (default: 10 100 1000)")
    parser.add_argument("--runs", type=int, default=RUNS, help="timed runs per size; the median is reported")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS), help="install methods (default: both)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write the JSON results")
    args = parser.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    try:
        sizes = []
        # Smallest first, both methods at each size: on Linux a child's peak RSS starts from this
        # process's at the fork, and this one grows with each recording it reads.
        for count in sorted(args.sizes):
            for method in args.methods:
                print(f"measuring {count} tenants ({method}) ...", file=sys.stderr, flush=True)
                sizes.append(measure_size(count, args.runs, method))
        largest = max(args.sizes)
        results = {
            "command": "make bench",
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "pulumi": metadata.version("pulumi"),
                "pulumi-kubernetes": metadata.version("pulumi-kubernetes"),
            },
            "runsPerSize": args.runs,
            "methods": args.methods,
            "sizes": sizes,
            "oneRouteTenant": {method: one_route_tenants(method) for method in args.methods},
            "validateSeconds": validate_seconds(largest, args.runs) if largest == 1000 else None,
            "diffSeconds": diff_seconds(largest, args.runs) if largest == 1000 else None,
        }
    except BenchError as err:
        print(f"bench: {err}", file=sys.stderr)
        return 1
    results["targets"] = targets(results)
    partial = args.results.with_name(args.results.name + ".tmp")
    partial.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    partial.replace(args.results)
    print(table(results))
    print(f"\nwrote {args.results}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
