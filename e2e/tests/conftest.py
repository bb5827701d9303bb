"""The e2e suite's session: a cluster (the local one from e2e/cluster, or the user's), the Pulumi CLI
with a local backend, and a copy of the project per scenario."""

from __future__ import annotations

import os
import shutil
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import pytest
import yaml

E2E = Path(__file__).resolve().parent.parent
ROOT = E2E.parent
for path in (str(E2E), str(ROOT)):
    if path not in sys.path:
        sys.path.insert(0, path)

import localcluster  # noqa: E402
from harness.kube import Kube  # noqa: E402
from harness.operator import OperatorStandIn  # noqa: E402
from harness.pulumi import Workspace, environment  # noqa: E402

BUILD = localcluster.BUILD
REFERENCE = ROOT.parent / "shared" / "reference"
# Istio's CRDs as the operator of each release installs them (its `base` component).
ISTIO_CRDS = {"1.23.6": REFERENCE / "istio" / "crd-all.gen.yaml"}
# The key of a stack's overrides that holds values for its tenants file rather than its config.
TENANTS_PATHS = "tenantsPaths"
PULUMI_TOOLS = ("pulumi", "pulumi-language-python", "pulumi-language-python-exec", "pulumi-resource-pulumi-python", "pulumi-resource-kubernetes")


@dataclass
class E2E_Env:
    mode: str  # "local": e2e/cluster; "user": the KUBECONFIG and tools the user has
    kube: Kube
    pulumi: str
    pulumi_env: dict
    provider_dir: Optional[Path]
    bin_dir: Optional[Path]
    standin: Optional[OperatorStandIn]

    def tool(self, name: str) -> Optional[str]:
        if self.bin_dir is not None and os.access(self.bin_dir / name, os.X_OK):
            return str(self.bin_dir / name)
        return shutil.which(name)


def _user_cluster() -> bool:
    if os.environ.get("E2E_CLUSTER") == "local":
        return False
    return bool(os.environ.get("KUBECONFIG")) and all(shutil.which(t) for t in ("pulumi", "kubectl"))


def _fail_setup(message: str) -> None:
    """One line, a non-zero exit, and nothing left running (the callers stop what they started)."""
    pytest.exit(f"make e2e: {message}", returncode=2)


def _on_sigterm(signum, frame):
    # CI ends a run with SIGTERM: unwind through the fixtures' finalizers, which stop the cluster.
    raise KeyboardInterrupt


@pytest.fixture(scope="session")
def e2e() -> Iterator[E2E_Env]:
    signal.signal(signal.SIGTERM, _on_sigterm)
    if _user_cluster():
        yield from _with_user_cluster()
    else:
        yield from _with_local_cluster()


def _with_user_cluster() -> Iterator[E2E_Env]:
    kubeconfig = Path(os.environ["KUBECONFIG"].split(os.pathsep)[0])
    kubectl = shutil.which("kubectl")
    context = os.environ.get("E2E_KUBE_CONTEXT")
    if not context:
        from harness.procs import run

        context = run([kubectl, "config", "current-context"], env=dict(os.environ)).stdout.strip()
    kube = Kube(kubectl, kubeconfig, context, dict(os.environ))
    env = environment(dict(os.environ), None, Path(os.environ.get("PULUMI_HOME", Path.home() / ".pulumi")), kubeconfig)
    standin = None
    if os.environ.get("E2E_OPERATOR_STANDIN") == "1":
        standin = OperatorStandIn(kube, ISTIO_CRDS)
        standin.start()
    try:
        yield E2E_Env("user", kube, shutil.which("pulumi"), env, None, None, standin)
    finally:
        if standin:
            standin.stop()


def _with_local_cluster() -> Iterator[E2E_Env]:
    bin_dir = localcluster.BIN
    missing = localcluster.missing_tools()
    if missing:
        _fail_setup(f"missing tools in {bin_dir}: {', '.join(missing)}: run `make e2e-tools` (or set KUBECONFIG with pulumi and kubectl on PATH)")
    # A cluster someone started by hand (`e2e/cluster up`) is used and left running.
    started_here = not localcluster.status()[0]
    try:
        message = localcluster.up()
    except localcluster.ClusterError as err:
        _fail_setup(f"e2e/cluster up: {err}")
    print(f"\ne2e cluster {message}")
    kube = Kube(str(bin_dir / "kubectl"), localcluster.KUBECONFIG, localcluster.CONTEXT, dict(os.environ))
    env = environment(dict(os.environ), bin_dir, BUILD / "pulumi-home", localcluster.KUBECONFIG)
    standin = OperatorStandIn(kube, ISTIO_CRDS)
    standin.start()
    try:
        yield E2E_Env("local", kube, str(bin_dir / "pulumi"), env, bin_dir, bin_dir, standin)
    finally:
        standin.stop()
        if started_here:
            localcluster.stop_all(quiet=True)


@pytest.fixture(scope="session", autouse=True)
def param_informer(e2e) -> None:
    """The inert ConfigMap-parameter binding the local cluster gets when it starts
    (`localcluster.configmap_param_keeper`: kubernetes/kubernetes#130887), on a user's cluster too.
    It stays at the end: deleting it would stop the API server's parameter informer for good."""
    e2e.kube.apply([obj for _, obj in localcluster.configmap_param_keeper()])


@pytest.fixture(scope="session")
def stacks() -> dict:
    """Every stack of the project, with the suite's config overrides (e2e/stacks.yaml)."""
    doc = yaml.safe_load((E2E / "stacks.yaml").read_text())
    found = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in ROOT.glob("Pulumi.*.yaml"))
    result = {}
    for stack in found:
        spec = (doc.get("stacks") or {}).get(stack) or {}
        config = dict(spec.get("config") or {})
        for key, value in (spec.get("paths") or {}).items():
            config[key] = str((ROOT / value).resolve())
        # Paths the stack's tenants file (its copy) gets: dotted keys, such as the add-ons' charts.
        tenant_paths = {key: str((ROOT / value).resolve()) for key, value in (spec.get("tenantsPaths") or {}).items()}
        if tenant_paths:
            config[TENANTS_PATHS] = tenant_paths
        result[stack] = config
    assert doc["deploy"] in result, f"e2e/stacks.yaml: deploy: {doc['deploy']} is not a stack of the project"
    return {"all": result, "deploy": doc["deploy"]}


@pytest.fixture(scope="session")
def new_workspace(e2e):
    """`new_workspace(name, stack)`: a fresh copy of the project with `stack` initialised for this cluster."""

    def make(name: str, stack: str, overrides: dict, init: bool = True) -> Workspace:
        if init and e2e.bin_dir is not None:
            missing = [t for t in PULUMI_TOOLS if not os.access(e2e.bin_dir / t, os.X_OK)]
            if missing:
                pytest.fail(f"missing tools in {e2e.bin_dir}: {', '.join(missing)}: run `make e2e-tools`", pytrace=False)
        ws = Workspace.create(ROOT, BUILD / "runs" / name, e2e.pulumi_env, e2e.pulumi, e2e.provider_dir)
        overrides = dict(overrides)
        tenant_paths = overrides.pop(TENANTS_PATHS, {})
        ws.write_stack_config(stack, {**overrides, "kubeContext": e2e.kube.context})
        ws.set_tenants_values(stack, tenant_paths)
        if init:
            ws("stack", "init", stack, "--non-interactive")
        return ws

    return make


@pytest.fixture(scope="session")
def reset_cluster(e2e):
    """`reset_cluster(objects)`: remove what a scenario left (its namespaces, its cluster-scoped
    objects, the CRDs the operator stand-in installed), so the next one starts on an empty cluster."""
    from harness.state import resource_arg

    def reset(objects: list[dict]) -> None:
        namespaces = {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"}
        namespaces |= {o["metadata"]["namespace"] for o in objects if o["metadata"].get("namespace")}
        e2e.kube.delete_namespaces(sorted(namespaces))
        cluster_scoped = {(resource_arg(o["apiVersion"], o["kind"]), o["metadata"]["name"]) for o in objects
                          if not o["metadata"].get("namespace") and o["kind"] != "Namespace"}
        for arg, name in sorted(cluster_scoped):
            e2e.kube("delete", arg, name, "--ignore-not-found", "--wait=true", timeout=180)
        if e2e.standin is not None:
            e2e.standin.uninstall_crds()

    return reset
