"""Expand the program's Helm charts offline, as `pulumi up` would: `helm template` of the same chart,
version and values.

A `kubernetes.helm.v4.Chart` is a remote component: the provider renders it and registers each
object as a resource of its own. Under the mock engine there is no provider, so the render records
each chart with its values and, when a `helm` binary is at hand (`HELM_BIN`, else `helm` on `PATH`),
runs `helm template` with the provider's settings (no hooks, CRDs included, the release's
namespace) against the oldest Kubernetes the Istio release supports.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import yaml

from tenants.install import SUPPORT
from tenants.model import InstallMethod

from .engine import PROJECT_ROOT, ProgramRun, Registration
from .output import CHART_TYPE, NO_HELM, plain

EXPANDED = "expanded"
NOT_ASKED = "not expanded: --no-expand"
# Charts come from the Helm install only: rendered against the oldest Kubernetes its releases support.
KUBERNETES_VERSION = SUPPORT[InstallMethod.HELM].kubernetes
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class Expansion:
    """One chart of the program and what `helm template` made of it."""

    chart: Registration
    objects: list[dict] = field(default_factory=list)
    status: str = EXPANDED  # EXPANDED, or why not

    @property
    def expanded(self) -> bool:
        return self.status == EXPANDED


# Where `make helm` (e2e/tools/build helm) puts the helm it builds from its pinned Go module.
BUILT_HELM = Path(__file__).resolve().parent.parent / "build" / "e2e" / "bin" / "helm"


def helm_binary() -> Optional[str]:
    """`HELM_BIN` when set, else `helm` on PATH, else the one `make helm` built; None when there is none."""
    found = os.environ.get("HELM_BIN") or shutil.which("helm")
    if found:
        return found
    return str(BUILT_HELM) if os.access(BUILT_HELM, os.X_OK) else None


def helm_version(helm: str) -> str:
    done = subprocess.run([helm, "version", "--short"], capture_output=True, text=True, timeout=60)
    return done.stdout.strip() or "unknown version"


def charts_of(run: ProgramRun) -> list[Registration]:
    return sorted((r for r in run.registrations if r.type == CHART_TYPE), key=lambda r: r.name)


def template_command(helm: str, inputs: dict, values_file: Path, kube_version: str = KUBERNETES_VERSION) -> list[str]:
    """`helm template` as the provider's Chart runs it: the same chart, version, repository and values."""
    command = [helm, "template", inputs.get("name", ""), inputs["chart"]]
    if inputs.get("version"):
        command += ["--version", inputs["version"]]
    repository = (inputs.get("repositoryOpts") or {}).get("repo")
    if repository:
        command += ["--repo", repository]
    if inputs.get("namespace"):
        command += ["--namespace", inputs["namespace"]]
    if not inputs.get("skipCrds"):
        command.append("--include-crds")
    return command + ["--no-hooks", "--kube-version", kube_version, "--values", str(values_file)]


def template(helm: str, inputs: dict, root: Path = PROJECT_ROOT) -> list[dict]:
    """The objects `helm template` renders for a chart's inputs (as the mock engine recorded them);
    raises RuntimeError with helm's own message when it fails."""
    with tempfile.TemporaryDirectory() as scratch:
        values_file = Path(scratch) / "values.json"
        values_file.write_text(json.dumps(plain(inputs.get("values") or {})), encoding="utf-8")
        done = subprocess.run(
            template_command(helm, inputs, values_file), cwd=root, capture_output=True, text=True, timeout=300
        )
    if done.returncode != 0:
        raise RuntimeError(" ".join(done.stderr.split()) or f"helm exited {done.returncode}")
    objects = [obj for obj in yaml.load_all(done.stdout, Loader=_Loader) if obj]
    for obj in objects:
        # As the provider normalises them: a namespaced object without one goes to the release's.
        if inputs.get("namespace") and "namespace" not in obj.get("metadata", {}) and not _cluster_scoped(obj):
            obj["metadata"]["namespace"] = inputs["namespace"]
    return objects


# The cluster-scoped kinds Istio's charts render; the provider asks the API server, we cannot.
_CLUSTER_SCOPED = {
    "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "Namespace",
    "PriorityClass",
}


def _cluster_scoped(obj: dict) -> bool:
    return obj.get("kind") in _CLUSTER_SCOPED


def expand(run: ProgramRun, helm: Optional[str] = None, root: Path = PROJECT_ROOT) -> list[Expansion]:
    """Every chart of the run, expanded where `helm` is given (else `helm_binary()`)."""
    charts = charts_of(run)
    helm = helm or helm_binary()
    if helm is None:
        return [Expansion(chart, status=NO_HELM) for chart in charts]
    expansions = []
    for chart in charts:
        try:
            expansions.append(Expansion(chart, template(helm, chart.inputs, root)))
        except (RuntimeError, OSError, subprocess.TimeoutExpired, yaml.YAMLError) as err:
            expansions.append(Expansion(chart, status=f"not expanded: helm template failed: {err}"))
    return expansions
