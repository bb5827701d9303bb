"""The deploy stack's life, in order: first `pulumi up`, no perpetual diff, day 2 edits of the
tenants file, and `pulumi destroy`. Each step is checked in the cluster (kubectl) and in the
state (`pulumi stack export`), not only by the CLI's exit code."""

from __future__ import annotations

import copy

import pytest
import yaml

from harness.kube import condition
from harness.procs import wait_until
from harness.pulumi import identity, kubernetes_resources
from harness.render import render
from harness.state import Snapshot, assert_state_matches_cluster, changes, tenant_of

from conftest import BUILD

@pytest.fixture(scope="module")
def life(e2e, stacks, new_workspace, reset_cluster):
    stack = stacks["deploy"]
    ws = new_workspace("lifecycle", stack, stacks["all"][stack])
    tenants_file = ws.tenants_path(stack)
    ctx = {"ws": ws, "stack": stack, "tenants_file": tenants_file, "seen": []}
    yield ctx
    reset_cluster(ctx["seen"])


def _write_tenants(life, doc: dict) -> None:
    life["tenants_file"].write_text(yaml.safe_dump(doc, sort_keys=False))


def _tenants(life) -> dict:
    return yaml.safe_load(life["tenants_file"].read_text())


def _render(life, name: str):
    rendered = render(life["ws"], life["stack"], BUILD / "render" / f"lifecycle-{name}")
    life["seen"].extend(rendered.objects)
    return rendered


# --- first deploy -------------------------------------------------------------------------------


def test_up_on_an_empty_cluster_creates_everything(e2e, life):
    ws, stack = life["ws"], life["stack"]
    rendered = _render(life, "initial")
    life["protects"] = rendered.protected()
    result = ws.up(stack)
    print(f"\npulumi up ({len(rendered.resources)} resources): {result.seconds:.1f} s")
    state = ws.export(stack)
    life["snapshot"] = assert_state_matches_cluster(e2e.kube, state, rendered)
    # Every rendered object is in the cluster as rendered (labels included), created by Pulumi.
    for obj in rendered.objects:
        live = life["snapshot"].live(obj)
        assert live is not None, f"missing in the cluster: {obj['kind']} {obj['metadata'].get('namespace')}/{obj['metadata']['name']}"
        for k, v in (obj["metadata"].get("labels") or {}).items():
            assert live["metadata"]["labels"].get(k) == v, (obj["metadata"]["name"], k)
        managers = {m.get("manager", "") for m in live["metadata"].get("managedFields", [])}
        # (Kubernetes 1.36 records no managed fields on ServiceAccounts.)
        assert any(m.startswith("pulumi-kubernetes") for m in managers) or (not managers and obj["kind"] == "ServiceAccount"), (obj["kind"], obj["metadata"]["name"], managers)


def test_every_await_was_satisfied(e2e, life):
    snap: Snapshot = life["snapshot"]
    for obj in snap.objects_of("Deployment"):
        live = snap.live(obj)
        assert condition(live, "Available") == "True", obj["metadata"]["name"]
        # kwok ran its pods: the ReplicaSet is owned by the Deployment, the pods by the ReplicaSet.
        ns = obj["metadata"]["namespace"]
        owned = [rs for rs in e2e.kube.list("replicasets", ns) if any(o["uid"] == live["metadata"]["uid"] for o in rs["metadata"].get("ownerReferences", []))]
        assert owned, f"no ReplicaSet owned by Deployment {ns}/{obj['metadata']['name']}"
        rs_uids = {rs["metadata"]["uid"] for rs in owned}
        pods = [p for p in e2e.kube.list("pods", ns) if any(o["uid"] in rs_uids for o in p["metadata"].get("ownerReferences", []))]
        assert pods and all(condition(p, "Ready") == "True" for p in pods)
    for obj in snap.objects_of("IstioOperator"):
        annotation = obj["metadata"].get("annotations", {}).get("pulumi.com/waitFor")
        assert annotation == "jsonpath={.status.status}=HEALTHY"
        assert snap.live(obj)["status"]["status"] == "HEALTHY"
    for obj in snap.objects_of("Namespace"):
        live = snap.live(obj)
        assert live["status"]["phase"] == "Active"
        assert live["spec"]["finalizers"] == ["kubernetes"]
    for obj in snap.objects_of("CustomResourceDefinition"):
        assert condition(snap.live(obj), "Established") == "True"


def test_stack_outputs_are_what_the_tenants_file_says(e2e, life):
    from builders.outputs import stack_outputs
    from tenants.loader import load_tenants

    expected = stack_outputs(load_tenants(life["tenants_file"]))
    outputs = life["ws"].outputs(life["stack"])
    assert {k: outputs[k] for k in expected} == expected
    for tenant in expected["tenants"].values():
        assert e2e.kube.get("namespace", tenant["namespace"]) is not None


def test_preview_after_up_shows_no_change(life):
    life["ws"].preview(life["stack"], "--expect-no-changes")


def test_refresh_changes_nothing_and_preview_stays_clean(e2e, life):
    ws, stack = life["ws"], life["stack"]
    ws.refresh(stack)
    ws.preview(stack, "--expect-no-changes")
    snap = assert_state_matches_cluster(e2e.kube, ws.export(stack), _render(life, "refreshed"))
    assert snap.uids() == life["snapshot"].uids()


# --- day 2 --------------------------------------------------------------------------------------

NEW_TENANT = {
    "name": "workspace-3",
    "gateway": {
        "name": "wk3-ingressgw",
        "labels": {"istio": "ingressgateway-3", "app": "istio-ingressgateway-3"},
        "servers": [{"port": 80, "protocol": "HTTP", "hosts": ["*"]}],
    },
    "routes": [{"name": "shop", "hosts": ["*"], "http": [{"to": {"service": "shop", "port": 8080}}]}],
}


FROZEN_RULE = "admission/istio-multitenancy-removed-tenant-frozen"


def _only_the_tenants_parameters_change(steps: list[dict], tenant: str, kind: str) -> list[dict]:
    """The admission rules' parameters list every tenant: adding or removing one adds or deletes
    its keys, in place (the provider treats ConfigMaps as mutable), and the frozen-namespace rule's
    binding matches the namespaces of tenants not in the file. Grafana gives each tenant a folder:
    its release updates in place, and the tenant's dashboards ConfigMap comes or goes.
    Returns the other steps."""
    grafana = [s for s in steps if "ObservabilityAddons" in s["urn"] and "::istio-system/grafana" in s["urn"]]
    expected = {("update", "istio-system/grafana"), ("create", f"istio-system/grafana-dashboards-tenant-{tenant}"),
                ("delete", f"istio-system/grafana-dashboards-tenant-{tenant}")}
    assert {(s["op"], s["urn"].rsplit("::", 1)[1]) for s in grafana} <= expected, [(s["op"], s["urn"]) for s in grafana]
    steps = [s for s in steps if s not in grafana]
    shared = {s["urn"].rsplit("::", 1)[1]: s for s in steps if tenant_of(s["urn"]) is None}
    assert sorted((s["op"], name) for name, s in shared.items()) == [
        ("update", FROZEN_RULE), ("update", "admission/istio-multitenancy-tenants")], \
        [(s["op"], s["urn"], s.get("diffReasons")) for s in shared.values()]
    diff = shared["admission/istio-multitenancy-tenants"]["detailedDiff"]
    assert diff and all(key.startswith(f'data["{tenant}.') and d["kind"] == kind for key, d in diff.items()), diff
    frozen = shared[FROZEN_RULE]
    assert frozen["detailedDiff"] and all(key.startswith("spec.matchResources.namespaceSelector.matchExpressions[1].values")
                                          for key in frozen["detailedDiff"]), frozen["detailedDiff"]
    listed = frozen["newState"]["inputs"]["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"][1]["values"]
    assert (tenant in listed) == (kind == "add"), listed
    return [s for s in steps if tenant_of(s["urn"]) is not None]


def test_adding_a_tenant_creates_only_its_resources(e2e, life):
    ws, stack = life["ws"], life["stack"]
    doc = _tenants(life)
    doc["tenants"].append(copy.deepcopy(NEW_TENANT))
    _write_tenants(life, doc)
    before = life["snapshot"]

    plan = ws.preview_json(stack)
    steps = changes(plan)
    assert steps, "adding a tenant changes something"
    tenants = _only_the_tenants_parameters_change(steps, "workspace-3", "add")
    assert {s["op"] for s in tenants} == {"create"}, [(s["op"], s["urn"], s.get("replaceReasons")) for s in tenants]
    assert {tenant_of(s["urn"]) for s in tenants} == {"workspace-3"}, [s["urn"] for s in tenants]

    ws.up(stack)
    after = assert_state_matches_cluster(e2e.kube, ws.export(stack), _render(life, "added"))
    # Nothing that existed was touched: same objects, same uids.
    assert {k: v for k, v in after.uids().items() if k in before.uids()} == before.uids()
    assert e2e.kube.get("namespace", "workspace-3")["metadata"]["labels"]["istio-multitenancy.io/tenant"] == "workspace-3"
    life["snapshot"] = after


def test_renaming_a_tenant_with_previous_names_replaces_nothing(e2e, life):
    ws, stack = life["ws"], life["stack"]
    doc = _tenants(life)
    tenant = next(t for t in doc["tenants"] if t["name"] == "workspace-3")
    tenant.update(name="shop", previousNames=["workspace-3"], namespace="workspace-3")
    _write_tenants(life, doc)
    before = life["snapshot"]
    rendered = _render(life, "renamed")

    plan = ws.preview_json(stack)
    steps = changes(plan)
    assert not [s for s in steps if s["op"] in ("replace", "create-replacement", "delete-replaced")], [(s["op"], s["urn"], s.get("replaceReasons")) for s in steps]
    ws.up(stack)
    after = assert_state_matches_cluster(e2e.kube, ws.export(stack), rendered)
    # Every object whose Kubernetes name did not change is the same object (same uid), now
    # labelled with the new tenant name; only objects named after the tenant are new.
    kept = {k: v for k, v in after.uids().items() if k in before.uids()}
    assert kept == {k: v for k, v in before.uids().items() if k in after.uids()}
    assert e2e.kube.get("namespace", "workspace-3")["metadata"]["labels"]["istio-multitenancy.io/tenant"] == "shop"
    renamed_away = sorted(set(before.uids()) - set(after.uids()))
    # (Grafana's folder of the tenant too: grafana-dashboards-tenant-<tenant>.)
    assert all(k[3].startswith("workspace-3") or k[3].endswith("-tenant-workspace-3") for k in renamed_away), renamed_away
    print(f"\nrename: objects named after the tenant, recreated under the new name: {renamed_away}")
    life["snapshot"] = after


# What a team deploys into its namespace: a pod the namespace's Pod Security level (restricted)
# admits; the LimitRange gives it requests within the quota.
TEAM_DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "productpage", "namespace": "workspace-2"},
    "spec": {
        "selector": {"matchLabels": {"app": "productpage"}},
        "template": {
            "metadata": {"labels": {"app": "productpage"}},
            "spec": {
                "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{
                    "name": "productpage",
                    "image": "example.invalid/productpage:1",
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                }],
            },
        },
    },
}


def test_removing_a_tenant_leaves_what_is_retained(e2e, life):
    ws, stack = life["ws"], life["stack"]
    before = life["snapshot"]
    retained = {before.key_of(r) for r in before.resources if tenant_of(r["urn"]) == "workspace-2" and r.get("retainOnDelete")}
    assert ("", "Namespace", None, "workspace-2") in retained
    # A team's workload, which Pulumi does not manage, lives in the tenant's namespace.
    e2e.kube("create", "configmap", "team-data", "-n", "workspace-2", "--from-literal=k=v")
    e2e.kube.apply([TEAM_DEPLOYMENT])
    try:
        wait_until(lambda: condition(e2e.kube.get("deployment", "productpage", "workspace-2"), "Available") == "True", 120, "the team's Deployment to be Available")
    except AssertionError as err:
        raise AssertionError(f"{err}: {e2e.kube.get('deployment', 'productpage', 'workspace-2').get('status')}") from None

    doc = _tenants(life)
    doc["tenants"] = [t for t in doc["tenants"] if t["name"] != "workspace-2"]
    _write_tenants(life, doc)
    steps = _only_the_tenants_parameters_change(changes(life["ws"].preview_json(stack)), "workspace-2", "delete")
    assert {s["op"] for s in steps} == {"delete"} and {tenant_of(s["urn"]) for s in steps} == {"workspace-2"}, \
        [(s["op"], s["urn"], s.get("diffReasons"), s.get("detailedDiff")) for s in steps if s["op"] != "delete"]
    ws.up(stack)
    after = assert_state_matches_cluster(e2e.kube, ws.export(stack), _render(life, "removed"))

    gone = {k for k in before.uids() if k not in after.uids()}
    for k in gone:
        live = e2e.kube.get(before.resource_arg(k), k[3], k[2])
        if k in retained:
            assert live is not None and live["metadata"]["uid"] == before.uids()[k], f"retained {k} must stay"
        else:
            assert live is None or live["metadata"].get("deletionTimestamp"), f"{k} should be deleted"
    assert e2e.kube.get("configmap", "team-data", "workspace-2") is not None
    assert e2e.kube.get("deployment", "productpage", "workspace-2") is not None
    life["snapshot"] = after


def test_decommission_then_removal_deletes_the_namespace(e2e, life):
    ws, stack = life["ws"], life["stack"]
    before = life["snapshot"]
    doc = _tenants(life)
    next(t for t in doc["tenants"] if t["name"] == "shop")["decommission"] = True
    _write_tenants(life, doc)
    steps = changes(ws.preview_json(stack))
    assert not [s for s in steps if s["op"] not in ("update",)], [(s["op"], s["urn"]) for s in steps]
    ws.up(stack)
    state = ws.export(stack)
    namespace = next(r for r in kubernetes_resources(state) if identity(r) == ("Namespace", None, "workspace-3"))
    assert not namespace.get("retainOnDelete")
    assert assert_state_matches_cluster(e2e.kube, state, _render(life, "decommissioned")).uids() == before.uids()

    e2e.kube("create", "configmap", "team-data", "-n", "workspace-3", "--from-literal=k=v")
    doc["tenants"] = [t for t in doc["tenants"] if t["name"] != "shop"]
    _write_tenants(life, doc)
    ws.up(stack)
    # Pulumi waits for the namespace to be gone; the namespace controller deleted its content.
    assert e2e.kube.get("namespace", "workspace-3") is None
    life["snapshot"] = assert_state_matches_cluster(e2e.kube, ws.export(stack), _render(life, "decommission-removed"))


def test_destroy_refuses_while_platform_namespaces_are_protected(e2e, life):
    ws, stack = life["ws"], life["stack"]
    before = life["snapshot"]
    protected = [r for r in ws.export(stack) if r.get("protect")]
    assert {r["urn"] for r in protected} == life["protects"] and protected
    assert all(identity(r)[0] == "Namespace" for r in protected)
    result = ws.destroy(stack, check=False, preview=True)
    print("\n" + result.describe(12))
    assert result.returncode != 0
    for r in protected:
        assert r["urn"] in result.output or identity(r)[2] in result.output, result.describe()
    assert "protected" in result.output, result.describe()
    # Refused before deleting anything.
    assert assert_state_matches_cluster(e2e.kube, ws.export(stack), _render(life, "destroy-refused")).uids() == before.uids()
    life["protected"] = protected


def test_destroy_after_unprotect_removes_all_but_the_retained(e2e, life):
    ws, stack = life["ws"], life["stack"]
    before = life["snapshot"]
    for r in life["protected"]:
        ws("state", "unprotect", r["urn"], "--stack", stack, "--yes")
    retained = {k for k, r in before.by_key.items() if r.get("retainOnDelete")}
    assert ("", "Namespace", None, "workspace-1") in retained
    ws.destroy(stack)
    assert kubernetes_resources(ws.export(stack)) == []
    for k, uid in before.uids().items():
        live = e2e.kube.get(before.resource_arg(k), k[3], k[2])
        if k in retained:
            assert live is not None and live["metadata"]["uid"] == uid, f"retained {k} must stay"
        else:
            assert live is None, f"{k} should be gone"
    # What an earlier removal retained is still there too.
    assert e2e.kube.get("namespace", "workspace-2") is not None
