"""`python -m bench.real_engine`: the real Pulumi engine and provider against the e2e cluster.

For each size (generated tenants, bench/tenants.py): `pulumi up` from an empty cluster, a
no-change `pulumi preview`, and `pulumi up` adding tenants to the existing stack, each against
the floor of `kubectl apply --server-side` of the same objects (CRDs first, then namespaces,
then the rest) on the same empty cluster in the same run. Needs `make e2e-tools`; starts the
local cluster (e2e/cluster) unless one is up, and stops what it started. Writes
bench/real_engine.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(PROJECT_ROOT / "e2e"), str(PROJECT_ROOT)]

import localcluster  # noqa: E402
from bench.tenants import write_tenants_file  # noqa: E402
from harness.kube import Kube  # noqa: E402
from harness.operator import OperatorStandIn  # noqa: E402
from harness.pulumi import Workspace, environment, kubernetes_resources  # noqa: E402
from harness.render import render  # noqa: E402
from harness.state import resource_arg  # noqa: E402

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


def _seconds(started: float) -> float:
    return round(time.perf_counter() - started, 2)


def _crds(version: str) -> list[dict]:
    import yaml

    return [d for d in yaml.safe_load_all(ISTIO_CRDS[version].read_text()) if d]


def _apply_crds(kube: Kube, crds: list[dict]) -> None:
    kube.apply(crds)
    kube("wait", "--for=condition=Established", "--timeout=120s", *(f"crd/{c['metadata']['name']}" for c in crds))


def _reset(kube: Kube, standin: OperatorStandIn, objects: list[dict]) -> None:
    namespaces = sorted({o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"})
    kube.delete_namespaces(namespaces, timeout=600)
    for o in objects:
        if not o["metadata"].get("namespace") and o["kind"] != "Namespace":
            kube("delete", resource_arg(o["apiVersion"], o["kind"]), o["metadata"]["name"], "--ignore-not-found", timeout=180)
    standin.uninstall_crds()
    kube("delete", "crd", *(c["metadata"]["name"] for c in _crds("1.23.6")), "--ignore-not-found", timeout=180)


def floor(kube: Kube, objects: list[dict]) -> float:
    """`kubectl apply --server-side` of what the program applies, in the order it must go."""
    started = time.perf_counter()
    crds = [o for o in objects if o["kind"] == "CustomResourceDefinition"] + _crds("1.23.6")
    _apply_crds(kube, crds)
    kube.apply([o for o in objects if o["kind"] == "Namespace"])
    kube.apply([o for o in objects if o["kind"] not in ("Namespace", "CustomResourceDefinition")])
    return _seconds(started)


def measure(kube: Kube, standin: OperatorStandIn, env: dict, bin_dir: Path, count: int, add: int) -> dict:
    tenants = write_tenants_file(WORK / f"tenants-{count}.yaml", count)
    ws = Workspace.create(PROJECT_ROOT, WORK / f"run-{count}", env, str(bin_dir / "pulumi"), bin_dir)
    ws.write_stack_config(STACK, {"kubeContext": localcluster.CONTEXT, "tenantsFile": str(tenants)})
    ws("stack", "init", STACK, "--non-interactive")
    objects = render(ws, STACK, WORK / f"render-{count}").objects

    floor_seconds = floor(kube, objects)
    _reset(kube, standin, objects)

    started = time.perf_counter()
    ws.up(STACK, timeout=3600)
    up_seconds = _seconds(started)
    state = ws.export(STACK)
    resources = [r for r in state if r["type"] != "pulumi:pulumi:Stack"]
    tenant_resources = sum(1 for r in state if TENANT_COMPONENT in r["urn"].split("::")[2])
    started = time.perf_counter()
    ws.preview(STACK, "--expect-no-changes", timeout=3600)
    preview_seconds = _seconds(started)

    write_tenants_file(tenants, count + add)
    started = time.perf_counter()
    ws.up(STACK, timeout=3600)
    add_seconds = _seconds(started)
    grown = render(ws, STACK, WORK / f"render-{count + add}").objects
    _reset(kube, standin, objects + grown)
    return {
        "tenants": count,
        "resources": len(resources),
        "kubernetesObjects": len(kubernetes_resources(state)),
        "resourcesPerTenant": round(tenant_resources / count, 2),
        "up": {"seconds": up_seconds, "floorSeconds": floor_seconds, "ratioToFloor": round(up_seconds / floor_seconds, 2)},
        "noChangePreviewSeconds": preview_seconds,
        "added": {"tenants": add, "seconds": add_seconds, "secondsPerTenant": round(add_seconds / add, 2)},
    }


def table(sizes: list[dict]) -> str:
    lines = [f"{'tenants':>7}  {'resources':>9}  {'per tenant':>10}  {'up s':>7}  {'floor s':>7}  {'ratio':>5}  {'preview s':>9}  {'s/tenant added':>14}"]
    for s in sizes:
        lines.append(
            f"{s['tenants']:>7}  {s['resources']:>9}  {s['resourcesPerTenant']:>10}  {s['up']['seconds']:>7.1f}  "
            f"{s['up']['floorSeconds']:>7.1f}  {s['up']['ratioToFloor']:>5.1f}  {s['noChangePreviewSeconds']:>9.1f}  "
            f"{s['added']['secondsPerTenant']:>14.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.real_engine", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100], help="tenant counts (default: 10 100)")
    parser.add_argument("--add", type=int, default=10, help="tenants added to the existing stack (default: 10)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="extra environment for pulumi (repeatable)")
    args = parser.parse_args(argv)
    bin_dir = localcluster.BIN
    missing = localcluster.missing_tools() + [t for t in ("pulumi", "pulumi-resource-kubernetes") if not os.access(bin_dir / t, os.X_OK)]
    if missing:
        print(f"bench.real_engine: missing tools in {bin_dir}: {', '.join(missing)}: run `make e2e-tools`", file=sys.stderr)
        return 2
    started_here = not localcluster.status()[0]
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
    try:
        _apply_crds(kube, [CERTIFICATE_CRD])
        WORK.mkdir(parents=True, exist_ok=True)
        sizes = []
        for count in args.sizes:
            print(f"measuring {count} tenants ...", file=sys.stderr, flush=True)
            sizes.append(measure(kube, standin, env, bin_dir, count, args.add))
    finally:
        standin.stop()
        if started_here:
            localcluster.stop_all(quiet=True)
    results = {
        "command": "python -m bench.real_engine " + " ".join(argv),
        "machine": {"cpus": os.cpu_count()},
        "cluster": "e2e/cluster: Kubernetes 1.36 control plane on loopback, kwok nodes and pods",
        "sizes": sizes,
    }
    args.results.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(table(sizes))
    print(f"\nwrote {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
