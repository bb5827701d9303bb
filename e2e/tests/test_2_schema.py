"""The API server as the schema oracle, and `istioctl analyze`, on what `render` emits per stack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from harness.procs import run
from harness.render import key, render

from conftest import BUILD, E2E, REFERENCE, ROOT

STACKS = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in ROOT.glob("Pulumi.*.yaml"))

# CRDs the program does not install itself, by what installs them in a real cluster: the Istio
# operator (or Istio's `base` chart) per release, and the Gateway API's standard channel.
CRD_SOURCES = {
    "istio 1.23.6": [REFERENCE / "istio" / "crd-all.gen.yaml"],
    "istio 1.30.3": [REFERENCE / "istio" / "1.30.3" / "crd-all.gen.yaml"],
    "gateway-api v1.5.1": sorted((REFERENCE / "gateway-api" / "v1.5.1").glob("gateway.networking.k8s.io_*.yaml")),
}
# Kinds no reference CRD covers here: sent nowhere, and named in the test's report.
NO_CRD_HERE = {("cert-manager.io", "Certificate"): "cert-manager's CRDs are not in ../shared/reference (no network to fetch them)"}


def _crds(paths: list[Path]) -> list[dict]:
    return [d for p in paths for d in yaml.safe_load_all(p.read_text()) if d and d.get("kind") == "CustomResourceDefinition"]


def _served(crd: dict) -> set[tuple[str, str]]:
    return {(crd["spec"]["group"], crd["spec"]["names"]["kind"])}


def _istio_version(ws, stack: str) -> str:
    return str(ws.config_value(stack, "istioVersion") or "")


@pytest.fixture(scope="module")
def cleanup(e2e):
    """Everything applied for real here (CRDs, namespaces) is removed after the module."""
    applied = {"namespaces": set(), "crds": set()}
    yield applied
    e2e.kube.delete_namespaces(sorted(applied["namespaces"]))
    if applied["crds"]:
        e2e.kube("delete", "crd", *sorted(applied["crds"]), "--ignore-not-found", "--wait=true", timeout=180)


@pytest.fixture(scope="module")
def rendered(stacks, new_workspace):
    """Per stack: (workspace, render output folder, objects), rendered once for the module."""
    cache = {}

    def get(stack: str):
        if stack not in cache:
            ws = new_workspace(f"schema-{stack}", stack, stacks["all"][stack], init=False)
            out = BUILD / "render" / f"schema-{stack}"
            cache[stack] = (ws, out, render(ws, stack, out).objects)
        return cache[stack]

    return get


@pytest.mark.parametrize("stack", STACKS)
def test_every_rendered_object_passes_the_api_servers_dry_run(e2e, rendered, cleanup, stack):
    ws, _, objects = rendered(stack)
    used = {key(o)[:2] for o in objects}

    # CRDs first, for real: a custom resource is only validated once its CRD is served.
    crds = [o for o in objects if o["kind"] == "CustomResourceDefinition"]
    defined = set().union(*(_served(c) for c in crds)) if crds else set()
    version = _istio_version(ws, stack)
    for source, paths in CRD_SOURCES.items():
        if source.startswith("istio ") and source != f"istio {version}":
            continue
        extra = [c for c in _crds(paths) if _served(c) & (used - defined)]
        crds += extra
        defined |= set().union(*(_served(c) for c in extra)) if extra else set()
    if crds:
        e2e.kube.apply(crds)
        names = [c["metadata"]["name"] for c in crds]
        cleanup["crds"].update(names)
        e2e.kube("wait", "--for=condition=Established", "--timeout=120s", *(f"crd/{n}" for n in names))

    # Namespaces for real too: a namespaced object's dry run needs its namespace to exist.
    namespaces = [o for o in objects if o["kind"] == "Namespace"]
    e2e.kube.apply(namespaces)
    cleanup["namespaces"].update(n["metadata"]["name"] for n in namespaces)

    skipped = [o for o in objects if key(o)[:2] in NO_CRD_HERE]
    checked = [o for o in objects if o["kind"] not in ("CustomResourceDefinition", "Namespace") and key(o)[:2] not in NO_CRD_HERE]
    result = e2e.kube.apply(checked, dry_run=True, check=False)
    assert result.returncode == 0, result.describe(80)
    accepted = [line for line in result.stdout.splitlines() if "(server dry run)" in line]
    assert len(accepted) == len(checked), result.stdout
    if skipped:
        print(f"\n{stack}: not checked by the API server: " + ", ".join(
            f"{o['kind']} {o['metadata'].get('namespace')}/{o['metadata']['name']} ({NO_CRD_HERE[key(o)[:2]]})" for o in skipped
        ))


# --- istioctl analyze ---------------------------------------------------------------------------

EXPECTED = yaml.safe_load((E2E / "analyze-expected.yaml").read_text()) or {}


@pytest.mark.parametrize("stack", STACKS)
def test_istioctl_analyze_reports_nothing_unexplained(e2e, rendered, stack):
    istioctl = e2e.tool("istioctl")
    if istioctl is None:
        pytest.fail("istioctl missing: run `make e2e-tools`", pytrace=False)
    ws, out, _ = rendered(stack)

    result = run([istioctl, "analyze", "--use-kube=false", "-o", "json", str(out / "manifests.yaml")], env=ws.env, check=False, timeout=300)
    # istioctl exits 79 when it reports messages at or above the failure threshold.
    assert result.returncode in (0, 79), result.describe()
    messages = json.loads(result.stdout or "[]")
    serious = [m for m in messages if m.get("level") in ("Error", "Warning")]
    explained = {(e["code"], e.get("origin", "")) for e in EXPECTED.get(stack, [])}
    unexplained = [m for m in serious if (m["code"], m.get("origin", "")) not in explained]
    assert not unexplained, json.dumps(unexplained, indent=1)
    stale = explained - {(m["code"], m.get("origin", "")) for m in serious}
    assert not stale, f"e2e/analyze-expected.yaml explains messages istioctl no longer reports: {sorted(stale)}"
