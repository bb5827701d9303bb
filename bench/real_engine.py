"""`python -m bench.real_engine`: the real Pulumi engine and provider against the e2e cluster.

For each size (generated tenants, bench/tenants.py), as one stack or sharded (`python -m deploy`),
with the CLI's checkpoints on or off (`PULUMI_SKIP_CHECKPOINTS`): `up` from an empty cluster, a
no-change preview, and one tenant added (its preview and its `up`), the first against the floor
of `kubectl apply --server-side` of the same objects (CRDs first, then namespaces, then the rest)
on the same empty cluster in the same run, with the peak memory of every process. Needs `make
e2e-tools`; starts the local cluster (e2e/cluster) unless one is up, and stops what it started.
Writes bench/real_engine.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(PROJECT_ROOT / "e2e"), str(PROJECT_ROOT)]

import localcluster  # noqa: E402
from bench.processes import PeakMemory  # noqa: E402
from bench.tenants import tenants_document, write_tenants_file  # noqa: E402
from harness.kube import Kube  # noqa: E402
from harness.operator import OperatorStandIn  # noqa: E402
from harness.pulumi import Workspace, environment, kubernetes_resources  # noqa: E402
from harness.render import render  # noqa: E402
from harness.procs import run, wait_until  # noqa: E402
from harness.state import resource_arg  # noqa: E402
from tenants.model import TENANTS_PER_SHARD  # noqa: E402
from tenants.shards import shard_stack  # noqa: E402

WORK = PROJECT_ROOT / "build" / "bench" / "real"
RESULTS = PROJECT_ROOT / "bench" / "real_engine.json"
REFERENCE = PROJECT_ROOT.parent / "shared" / "reference"
ISTIO_CRDS = {"1.23.6": REFERENCE / "istio" / "crd-all.gen.yaml"}
STACK = "dev"
TENANT_COMPONENT = "istio-multitenancy:index:TenantMesh"

# Generated tenants request certificates from a cert-manager issuer; cert-manager's CRDs are not
# available here, so the cluster gets a schemaless stand-in CRD (both sides alike, untimed).
CERTIFICATE_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "certificates.cert-manager.io"},
    "spec": {
        "group": "cert-manager.io",
        "names": {"kind": "Certificate", "listKind": "CertificateList", "plural": "certificates", "singular": "certificate"},
        "scope": "Namespaced",
        "versions": [{
            "name": "v1", "served": True, "storage": True,
            "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
        }],
    },
}


# Generated tenants name a cert-manager issuer, so the program closes cert-manager's namespace with a
# NetworkPolicy (cluster.certManager.networkPolicy): the namespace a cert-manager install would make.
CERT_MANAGER_NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "cert-manager"}}


def _seconds(started: float) -> float:
    return round(time.perf_counter() - started, 2)


def _crds(version: str) -> list[dict]:

    return [d for d in yaml.safe_load_all(ISTIO_CRDS[version].read_text()) if d]


def _apply_crds(kube: Kube, crds: list[dict]) -> None:
    kube.apply(crds)
    kube("wait", "--for=condition=Established", "--timeout=120s", *(f"crd/{c['metadata']['name']}" for c in crds))


def _reset(kube: Kube, standin: OperatorStandIn, objects: list[dict]) -> None:
    namespaces = {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"} | {CERT_MANAGER_NAMESPACE["metadata"]["name"]}
    _delete_namespaces(kube, namespaces, timeout=1200)
    cluster_scoped: dict[str, list[str]] = {}
    for o in objects:
        if not o["metadata"].get("namespace") and o["kind"] != "Namespace":
            cluster_scoped.setdefault(resource_arg(o["apiVersion"], o["kind"]), []).append(o["metadata"]["name"])
    for resource, names in cluster_scoped.items():
        kube("delete", resource, *names, "--ignore-not-found", timeout=600)
    standin.uninstall_crds()
    kube("delete", "crd", *(c["metadata"]["name"] for c in _crds("1.23.6")), "--ignore-not-found", timeout=180)
    kube.apply([CERT_MANAGER_NAMESPACE])


def _namespaces(kube: Kube) -> set[str]:
    return {line.removeprefix("namespace/") for line in kube("get", "namespaces", "-o", "name").stdout.split()}


def _delete_namespaces(kube: Kube, names: set[str], timeout: float) -> None:
    """Delete and wait until gone, with one listing per poll (a thousand tenants' namespaces)."""
    present = sorted(names & _namespaces(kube))
    if present:
        kube("delete", "namespace", *present, "--wait=false", "--ignore-not-found", timeout=600)
        wait_until(lambda: not (names & _namespaces(kube)), timeout, f"{len(present)} namespaces to be deleted")


def _apply(kube: Kube, objects: list[dict]) -> None:
    """`kubectl apply --server-side` with time for a thousand tenants' objects (Kube.apply stops at 120 s)."""

    kube("apply", "--server-side", "--field-manager=e2e", "--force-conflicts", "-f", "-",
         input=yaml.safe_dump_all(objects, sort_keys=False), timeout=3600)


def floor(kube: Kube, objects: list[dict]) -> float:
    """`kubectl apply --server-side` of what the program applies, in the order it must go (its quotas last)."""
    started = time.perf_counter()
    crds = [o for o in objects if o["kind"] == "CustomResourceDefinition"] + _crds("1.23.6")
    _apply_crds(kube, crds)
    _apply(kube, [o for o in objects if o["kind"] == "Namespace"])
    _apply(kube, [o for o in objects if o["kind"] not in ("Namespace", "CustomResourceDefinition", "ResourceQuota")])
    # Last, as the program creates them: a quota that counts a kind kube-controller-manager has not
    # discovered yet refuses every new object of that kind until it has ("status unknown for quota").
    _apply(kube, [o for o in objects if o["kind"] == "ResourceQuota"])
    return _seconds(started)


def _timed(step, *, memory: dict, load: dict, name: str, cpu: Optional[dict] = None) -> float:
    """Run `step`, return its wall time; the peak memory of every process it started goes in
    `memory[name]`, their CPU time (the cluster's included) in `cpu[name]`, the machine's load
    average while it ran in `load[name]`."""
    started = time.perf_counter()
    with PeakMemory() as peak:
        step()
    memory[name] = peak.by_process
    load[name] = peak.load
    if cpu is not None:
        cpu[name] = peak.cpu_seconds
    return _seconds(started)


def _deploy(ws: Workspace, op: str, *extra: str) -> None:
    """`python -m deploy` in the workspace, as a user runs it for a sharded installation."""
    run([sys.executable, "-m", "deploy", op, "--stack", STACK, *extra], cwd=str(ws.path), env=ws.env, timeout=4 * 3600)


def shards_for(count: int, per_shard: int = TENANTS_PER_SHARD) -> int:
    """The shard count the bench gives a sharded run: the automatic one (one per 10 tenants), at least 2."""
    return max(2, -(-count // per_shard))


def measure(kube: Kube, standin: OperatorStandIn, env: dict, bin_dir: Path, count: int, add: int,
            sharded: bool = False, checkpoints: bool = True, *, parallel: int = 32, pool: Optional[int] = None,
            per_shard: int = TENANTS_PER_SHARD, reset_after: bool = True, reuse_render: bool = False,
            settings: Optional[dict] = None, backend_query: str = "", fresh: Optional[Callable[[], None]] = None, progress: Callable[[dict], None] = lambda result: None) -> dict:
    """One size, one layout: `progress(result)` after each step, so a long run keeps what it measured.

    `fresh`: a new empty cluster instead of deleting what a step created (a thousand tenants'
    namespaces take longer to delete than to create): Pulumi's steps run first, on the cluster as
    it is, then the floor on a new one."""
    label = f"{count}-{'sharded' if sharded else 'single'}-{'checkpoints' if checkpoints else 'skip-checkpoints'}"
    run_env = dict(env) if checkpoints else {**env, "PULUMI_SKIP_CHECKPOINTS": "true"}
    tenants = write_tenants_file(WORK / f"tenants-{label}.yaml", count)
    ws = Workspace.create(PROJECT_ROOT, WORK / f"run-{label}", run_env, str(bin_dir / "pulumi"), bin_dir)
    if backend_query:
        # The local backend's own options (gocloud's fileblob), e.g. metadata=skip: no MD5 sidecar per write.
        ws.env["PULUMI_BACKEND_URL"] += f"?{backend_query}"
    # Istio's charts from the reference copy, as e2e/stacks.yaml gives the dev stack: no chart repository is reachable here.
    config = {"kubeContext": localcluster.CONTEXT, "tenantsFile": str(tenants), "chartDirectory": str(REFERENCE / "istio" / "1.30.3" / "charts"),
              # One stack, whatever the size (past 20 tenants the program would shard by itself).
              "tenantShards": 1, **(settings or {})}
    ws.write_stack_config(STACK, config)
    ws("stack", "init", STACK, "--non-interactive")
    # The same objects either way: the floor applies what one stack would.
    rendered = WORK / f"render-{label}"
    if reuse_render and (rendered / "manifests.yaml").exists():
        # The same generated tenants render the same objects (a thousand tenants' render takes minutes).
        objects = [d for d in yaml.safe_load_all((rendered / "manifests.yaml").read_text()) if d]
    else:
        objects = render(ws, STACK, rendered).objects
    shards = shards_for(count, per_shard) if sharded else 1
    if sharded:
        ws.write_stack_config(STACK, {**config, "tenantShards": shards})

    memory: dict = {}
    load: dict = {}
    cpu: dict = {}
    result: dict = {
        "tenants": count,
        "stacks": "sharded" if sharded else "single",
        "shards": shards,
        "checkpoints": checkpoints,
        "parallel": parallel,
        **({"pool": pool} if sharded and pool else {}),
        "peakMemoryMiB": memory,
        "cpuSeconds": cpu,
        "loadAverage": load,
    }
    def measure_floor() -> float:
        with PeakMemory() as peak:
            seconds = floor(kube, objects)
        load["floor"] = peak.load
        cpu["floor"] = peak.cpu_seconds
        return seconds

    floor_seconds = None if fresh else measure_floor()
    if not fresh:
        _reset(kube, standin, objects)
        progress(result)

    engine = ("--parallel", str(parallel))
    shards_at_once = ("--pool", str(pool)) if pool else ()
    up = (lambda: _deploy(ws, "up", *engine, *shards_at_once)) if sharded else (lambda: ws.up(STACK, *engine, timeout=4 * 3600))
    preview = (lambda: _deploy(ws, "preview", *engine, *shards_at_once)) if sharded else (lambda: ws.preview(STACK, "--expect-no-changes", *engine, timeout=3600))
    up_seconds = _timed(up, memory=memory, load=load, cpu=cpu, name="up")
    stacks = [STACK] + [shard_stack(STACK, k) for k in range(1, shards + 1)] if sharded else [STACK]
    state = [r for stack in stacks for r in ws.export(stack)]
    resources = [r for r in state if r["type"] not in ("pulumi:pulumi:Stack", "pulumi:providers:kubernetes")]
    tenant_resources = sum(1 for r in state if TENANT_COMPONENT in r["urn"].split("::")[2])
    result.update({
        "resources": len(resources),
        "kubernetesObjects": len(kubernetes_resources(state)),
        "resourcesPerTenant": round(tenant_resources / count, 2),
        "stateBytes": {stack: _state_bytes(ws, stack) for stack in stacks},
        "up": {"seconds": up_seconds, "floorSeconds": floor_seconds, "ratioToFloor": round(up_seconds / floor_seconds, 2) if floor_seconds else None},
    })
    progress(result)
    result["noChangePreviewSeconds"] = _timed(preview, memory=memory, load=load, cpu=cpu, name="noChangePreview")
    progress(result)

    write_tenants_file(tenants, count + add)
    added_preview = (lambda: _deploy(ws, "preview", *engine, *shards_at_once)) if sharded else (lambda: ws.preview(STACK, *engine, timeout=3600))
    added: dict = {"tenants": add}
    result["added"] = added
    added["previewSeconds"] = _timed(added_preview, memory=memory, load=load, cpu=cpu, name="addedPreview")
    progress(result)
    added["upSeconds"] = _timed(up, memory=memory, load=load, cpu=cpu, name="addedUp")
    progress(result)
    if fresh:
        fresh()
        floor_seconds = measure_floor()
        result["up"].update(floorSeconds=floor_seconds, ratioToFloor=round(result["up"]["seconds"] / floor_seconds, 2))
        progress(result)
        if reset_after:
            fresh()
    if reset_after and not fresh:
        grown = render(ws, STACK, WORK / f"render-{label}-grown").objects if not sharded else []
        _reset(kube, standin, objects + grown + _tenant_namespaces(count, count + add))
    return result


def _state_bytes(ws: Workspace, stack: str) -> int:
    """The size of the stack's state file on the local backend: what every checkpoint rewrites."""
    found = list(Path(ws.env["PULUMI_BACKEND_URL"].removeprefix("file://").split("?")[0]).glob(f".pulumi/stacks/**/{stack}.json"))
    return found[0].stat().st_size if found else 0


def _tenant_namespaces(first: int, end: int) -> list[dict]:
    """The namespaces of generated tenants first..end-1 (for the reset after a sharded run, which
    renders only the platform's stack)."""
    doc = tenants_document(end)
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": t.get("namespace", t["name"])}} for t in doc["tenants"][first:end]]


def _write_run(results: Path, run: dict) -> None:
    """Add this run to the results file's `runs` (or replace what it wrote of itself before): runs
    of different sizes and settings, each with its command, time and the machine's load."""
    runs = json.loads(results.read_text(encoding="utf-8")).get("runs", []) if results.exists() else []
    runs = [r for r in runs if r.get("started") != run["started"]] + [run]
    results.write_text(json.dumps({"runs": runs}, indent=2) + "\n", encoding="utf-8")


def _machine() -> dict:
    memory_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal:"))
    return {"cpus": os.cpu_count(), "memoryGiB": round(memory_kib / 2**20, 1)}


def table(sizes: list[dict]) -> str:
    lines = [f"{'tenants':>7}  {'stacks':>12}  {'ckpt':>4}  {'resources':>9}  {'up s':>7}  {'floor s':>7}  {'ratio':>5}  "
             f"{'preview s':>9}  {'+1 preview s':>12}  {'+1 up s':>7}  {'load (up)':>9}"]
    for s in sizes:
        stacks = f"{s['shards']} shards" if s["stacks"] == "sharded" else "one"
        lines.append(
            f"{s['tenants']:>7}  {stacks:>12}  {'on' if s['checkpoints'] else 'off':>4}  {s['resources']:>9}  {s['up']['seconds']:>7.1f}  "
            f"{s['up']['floorSeconds']:>7.1f}  {s['up']['ratioToFloor']:>5.1f}  {s['noChangePreviewSeconds']:>9.1f}  "
            f"{s['added']['previewSeconds']:>12.1f}  {s['added']['upSeconds']:>7.1f}  {s['loadAverage']['up']['mean']:>9.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.real_engine", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100], help="tenant counts (default: 10 100)")
    parser.add_argument("--add", type=int, default=1, help="tenants added to the existing installation (default: 1)")
    parser.add_argument("--stacks", nargs="+", choices=["single", "sharded"], default=["single", "sharded"])
    parser.add_argument("--checkpoints", nargs="+", choices=["on", "off"], default=["on", "off"],
                        help="off: PULUMI_SKIP_CHECKPOINTS=true (default: both)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--pool", type=int, help="a sharded run's shards at once (default: python -m deploy's)")
    parser.add_argument("--parallel", type=int, default=32, help="the engine's parallelism per stack (default 32, as docs/scale.md recommends)")
    parser.add_argument("--tenants-per-shard", type=int, default=TENANTS_PER_SHARD,
                        help=f"a sharded run's shard count is the tenants over this, at least 2 (default {TENANTS_PER_SHARD})")
    parser.add_argument("--fresh-cluster", action="store_true",
                        help="a new cluster for the floor, measured after Pulumi's steps, instead of deleting what each created")
    parser.add_argument("--reuse-render", action="store_true", help="the objects of an earlier run's render of the same size")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="extra environment for pulumi (repeatable)")
    parser.add_argument("--backend-query", default="", metavar="QUERY",
                        help="options of the local backend's URL, such as metadata=skip (file://DIR?QUERY)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a stack setting of the benchmarked stack, such as kubeClientQps=50 (repeatable)")
    args = parser.parse_args(argv)
    bin_dir = localcluster.BIN
    missing = localcluster.missing_tools() + [t for t in ("pulumi", "pulumi-resource-kubernetes") if not os.access(bin_dir / t, os.X_OK)]
    if missing:
        print(f"bench.real_engine: missing tools in {bin_dir}: {', '.join(missing)}: run `make e2e-tools`", file=sys.stderr)
        return 2
    started_here = not localcluster.status()[0]
    # Every tenant's gateway is a pod, and a kwok node takes 110: enough nodes for the largest size.
    localcluster.NODES = max(localcluster.NODES, -(-(max(args.sizes) + args.add + 100) // 100))
    try:
        print(localcluster.up(), file=sys.stderr)
    except localcluster.ClusterError as err:
        print(f"bench.real_engine: e2e/cluster up: {err}", file=sys.stderr)
        return 1
    kube = Kube(str(bin_dir / "kubectl"), localcluster.KUBECONFIG, localcluster.CONTEXT, dict(os.environ))
    env = environment(dict(os.environ), bin_dir, localcluster.BUILD / "pulumi-home", localcluster.KUBECONFIG)
    env.update(item.split("=", 1) for item in args.env)
    standin = OperatorStandIn(kube, ISTIO_CRDS)
    standin.start()

    def fresh() -> None:
        nonlocal standin
        standin.stop()
        localcluster.stop_all(quiet=True)
        print(localcluster.up(), file=sys.stderr)
        standin = OperatorStandIn(kube, ISTIO_CRDS)
        standin.start()
        _apply_crds(kube, [CERTIFICATE_CRD])
        kube.apply([CERT_MANAGER_NAMESPACE])
    runs = [(count, stacks, checkpoints) for count in args.sizes for stacks in args.stacks for checkpoints in args.checkpoints]
    sizes: list[dict] = []
    header = {
        "command": "python -m bench.real_engine " + " ".join(argv),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": _machine(),
        "cluster": "e2e/cluster: Kubernetes 1.36 control plane on loopback, kwok nodes and pods",
        "environment": dict(item.split("=", 1) for item in args.env),
        "settings": dict(item.split("=", 1) for item in args.set),
        **({"backendQuery": args.backend_query} if args.backend_query else {}),
    }

    def keep(partial: dict) -> None:
        # Each step as it completes: a long run keeps what it measured.
        _write_run(args.results, {**header, "partial": True, "sizes": [*sizes, partial]})

    try:
        _apply_crds(kube, [CERTIFICATE_CRD])
        kube.apply([CERT_MANAGER_NAMESPACE])
        WORK.mkdir(parents=True, exist_ok=True)
        for i, (count, stacks, checkpoints) in enumerate(runs):
            print(f"measuring {count} tenants, {stacks} stack(s), checkpoints {checkpoints} ...", file=sys.stderr, flush=True)
            # The last run need not clean up a cluster that is stopped (and its data removed) next.
            reset_after = i < len(runs) - 1 or not started_here
            sizes.append(measure(kube, standin, env, bin_dir, count, args.add, stacks == "sharded", checkpoints == "on",
                                 parallel=args.parallel, pool=args.pool, per_shard=args.tenants_per_shard, reset_after=reset_after,
                                 reuse_render=args.reuse_render, settings=header["settings"], backend_query=args.backend_query, fresh=fresh if args.fresh_cluster and started_here else None,
                                 progress=keep))
    finally:
        standin.stop()
        if started_here:
            localcluster.stop_all(quiet=True)
    _write_run(args.results, {**header, "sizes": sizes})
    print(table(sizes))
    print(f"\nwrote {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
