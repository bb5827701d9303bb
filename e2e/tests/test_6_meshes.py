"""Several meshes in one cluster (issue 12), on the Helm path: the `meshes` stack's tenants file
(two meshes modelled on Istio's multiple-control-planes guide, usergroup-1 with a stable and a
canary revision, usergroup-2 with one) installed with `installMethod: helm`. Each istiod becomes
Ready; each tenant namespace belongs to exactly one mesh, judged by the live istiods' discovery
selectors against the live namespace labels; a tag move and a tenant move change only labels,
tags and webhooks; `pulumi destroy` and the reset leave the cluster as it was found."""

from __future__ import annotations

import pytest
import yaml

from harness.kube import condition
from harness.procs import wait_until
from harness.render import render
from harness.state import assert_state_matches_cluster, changes, resource_arg
from tests.isolation_support import label_selector_selects

from conftest import BUILD

STACK = "meshes"
MESH_LABEL = "istio-multitenancy.io/mesh"
REV_LABEL = "istio.io/rev"
# Cluster-scoped kinds the stack creates: the cluster must hold the same names of them after destroy.
CLUSTER_KINDS = (
    "namespaces", "customresourcedefinitions", "clusterroles", "clusterrolebindings",
    "mutatingwebhookconfigurations", "validatingwebhookconfigurations",
    "validatingadmissionpolicies", "validatingadmissionpolicybindings",
)


def _cluster_names(kube) -> dict[str, set[str]]:
    return {kind: {o["metadata"]["name"] for o in kube.list(kind)} for kind in CLUSTER_KINDS}


@pytest.fixture(scope="module")
def meshes(e2e, stacks, new_workspace, reset_cluster):
    # The stack's own file on the Helm path: its charts (and the Gateway API CRDs) from the
    # reference copies that e2e/stacks.yaml names; the Sail chart does not apply to `helm`.
    paths = stacks["all"][STACK]
    overrides = {"installMethod": "helm", "chartDirectory": paths["chartDirectory"], "gatewayApiCrds": paths["gatewayApiCrds"]}
    ws = new_workspace("meshes-helm", STACK, overrides)
    ctx = {"ws": ws, "tenants_file": ws.tenants_path(STACK), "seen": [], "found": _cluster_names(e2e.kube)}
    # One chart directory holds one Istio version (the program refuses revisions of another):
    # every revision runs the reference charts' 1.30.3, still two istiods side by side per mesh.
    _edit_tenants(ctx, lambda doc: [r.update(version="1.30.3") for m in doc["meshes"] for r in m.get("revisions") or ()])
    yield ctx
    reset_cluster(ctx["seen"])


def _render(meshes, name: str):
    rendered = render(meshes["ws"], STACK, BUILD / "render" / f"meshes-{name}")
    meshes["seen"].extend(rendered.objects)
    return rendered


def _model(meshes):
    from tenants.loader import load_tenants

    return load_tenants(meshes["tenants_file"])


def _edit_tenants(meshes, edit) -> None:
    doc = yaml.safe_load(meshes["tenants_file"].read_text())
    edit(doc)
    meshes["tenants_file"].write_text(yaml.safe_dump(doc, sort_keys=False))


def _mesh_of_tenant(doc: dict) -> dict[str, str]:
    """Tenant namespace -> mesh name, as the file says it (default: the first mesh)."""
    first = doc["meshes"][0]["name"]
    return {t.get("namespace", t["name"]): t.get("mesh", first) for t in doc["tenants"]}


def _istiods(kube, namespace: str) -> dict[str, dict]:
    """The live istiod Deployments of a mesh namespace by the revision they run (their REVISION env)."""
    found = {}
    for d in kube.list("deployments", namespace, selector="app=istiod"):
        env = {e["name"]: e.get("value") for e in d["spec"]["template"]["spec"]["containers"][0].get("env", [])}
        found[env["REVISION"]] = d
    return found


def _ready(kube, deployment: dict) -> bool:
    live = kube.get("deployment", deployment["metadata"]["name"], deployment["metadata"]["namespace"])
    if live is None or condition(live, "Available") != "True":
        return False
    selector = ",".join(f"{k}={v}" for k, v in live["spec"]["selector"]["matchLabels"].items())
    pods = kube.list("pods", live["metadata"]["namespace"], selector=selector)
    return bool(pods) and all(condition(p, "Ready") == "True" for p in pods)


def _live_selectors(kube, namespace: str, revision: str) -> list[dict]:
    """The discovery selectors istiod of `revision` reads: meshConfig in ConfigMap istio-<revision>."""
    cm = kube.get("configmap", f"istio-{revision}", namespace)
    assert cm is not None, f"{namespace}: no ConfigMap istio-{revision}"
    return yaml.safe_load(cm["data"]["mesh"]).get("discoverySelectors") or []


def _targets(webhook_configuration: dict) -> set[tuple[str, str]]:
    return {(w["clientConfig"]["service"]["namespace"], w["clientConfig"]["service"]["name"]) for w in webhook_configuration["webhooks"]}


def _revision_behind(kube, mesh, rev_or_tag: str) -> str:
    """The revision a namespace's `istio.io/rev` stands for: itself, or the revision its tag's
    Service selects (the tag's injection webhook must call the same istiod)."""
    service = kube.get("service", f"istiod-revision-tag-{rev_or_tag}", mesh.namespace_name)
    if service is None:
        return rev_or_tag
    revision = service["spec"]["selector"][REV_LABEL]
    hooks = kube.list("mutatingwebhookconfigurations", selector=f"istio.io/tag={rev_or_tag},{MESH_LABEL}={mesh.name}")
    assert len(hooks) == 1, f"tag {rev_or_tag}: webhooks {[h['metadata']['name'] for h in hooks]}"
    assert _targets(hooks[0]) == {(mesh.namespace_name, f"istiod-{revision}")}, (rev_or_tag, _targets(hooks[0]))
    return revision


# --- the API server's admission parameters ------------------------------------------------------

PROBE = "e2e-params-probe"


def _probe_objects(generation: int) -> list[dict]:
    """A ConfigMap-parameter policy and binding (Deny when the parameters are missing), as the
    program's admission rules are, judging Services in the probe namespace."""
    admission = "admissionregistration.k8s.io/v1"
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{PROBE}-{generation}", "namespace": PROBE}, "data": {"ok": "yes"}},
        {"apiVersion": admission, "kind": "ValidatingAdmissionPolicy", "metadata": {"name": PROBE}, "spec": {
            "failurePolicy": "Fail", "paramKind": {"apiVersion": "v1", "kind": "ConfigMap"},
            "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["services"]}]},
            "validations": [{"expression": "params.data.ok == 'yes'"}]}},
        {"apiVersion": admission, "kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": PROBE}, "spec": {
            "policyName": PROBE, "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": PROBE}}},
            "paramRef": {"name": f"{PROBE}-{generation}", "namespace": PROBE, "parameterNotFoundAction": "Deny"}}},
    ]


def _probe_verdict(kube) -> str:
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "probe", "namespace": PROBE},
               "spec": {"ports": [{"port": 80}]}}
    result = kube("create", "--dry-run=server", "-f", "-", input=yaml.safe_dump(service), check=False)
    return "admitted" if result.returncode == 0 else result.stderr.strip()


def test_admission_parameters_are_found_after_every_binding_was_removed(e2e):
    """What `pulumi destroy` followed by `pulumi up` does to the program's admission rules: all
    bindings of ConfigMap-parameter policies removed, then new ones with a new ConfigMap. On the
    e2e cluster a binding the suite never removes (localcluster.py: kubernetes#130887) keeps the
    API server finding the new parameters; without it this refuses with `no params found`."""
    if e2e.mode != "local":
        pytest.skip("on a cluster of your own, removing every binding could stop its ConfigMap informer until the API server restarts")
    e2e.kube("create", "namespace", PROBE)
    try:
        for generation in (1, 2):
            objects = _probe_objects(generation)
            e2e.kube.apply(objects)
            # The policy source refreshes within a second or so: poll until the new binding judges.
            wait_until(lambda: _probe_verdict(e2e.kube) == "admitted", 30, f"generation {generation}: a Service admitted with its parameters found (last: {_probe_verdict(e2e.kube)})")
            for obj in reversed(objects[1:]):
                e2e.kube("delete", resource_arg(obj["apiVersion"], obj["kind"]), obj["metadata"]["name"], "--wait=true")
            wait_until(lambda: e2e.kube.get("validatingadmissionpolicybinding", PROBE) is None, 30, "the probe binding to be gone")
    finally:
        for obj in reversed(_probe_objects(0)[1:]):
            e2e.kube("delete", resource_arg(obj["apiVersion"], obj["kind"]), obj["metadata"]["name"], "--ignore-not-found")
        e2e.kube.delete_namespaces([PROBE])


# --- install ------------------------------------------------------------------------------------


def test_up_installs_two_meshes_side_by_side(e2e, meshes):
    ws = meshes["ws"]
    rendered = _render(meshes, "initial")
    charted = [r for r in rendered.resources if r["type"] == "kubernetes:helm.sh/v4:Chart"]
    # render lists a chart's objects only when helm expanded it: then the state can be compared one to one.
    assert charted and all(r.get("expansion") == "expanded" for r in charted), [(r["urn"], r.get("expansion")) for r in charted]
    meshes["protects"] = rendered.protected()
    result = ws.up(STACK, check=False)
    (ws.path.parent / "up.log").write_text(result.output)
    # The engine's errors, not only the stack outputs the CLI prints last.
    assert result.returncode == 0, "\n".join(line for line in result.output.splitlines() if "error" in line.lower()) or result.describe()
    print(f"\npulumi up ({len(rendered.resources)} resources, {len(rendered.objects)} objects): {result.seconds:.1f} s")
    snap = assert_state_matches_cluster(e2e.kube, ws.export(STACK), rendered)
    for obj in rendered.objects:
        live = snap.live(obj)
        for k, v in (obj["metadata"].get("labels") or {}).items():
            assert live["metadata"]["labels"].get(k) == v, (obj["kind"], obj["metadata"]["name"], k)
    meshes["snapshot"] = snap


def test_each_mesh_runs_one_ready_istiod_per_revision(e2e, meshes):
    for mesh in _model(meshes).meshes:
        expected = {r.name for r in mesh.revision_list}
        istiods = _istiods(e2e.kube, mesh.namespace_name)
        assert set(istiods) == expected, (mesh.name, sorted(istiods))
        for revision, deployment in istiods.items():
            wait_until(lambda: _ready(e2e.kube, deployment), 180, f"istiod {mesh.namespace_name}/{deployment['metadata']['name']} Available, its pods Ready")
            assert deployment["metadata"]["name"] == f"istiod-{revision}"


def test_each_tenant_namespace_joins_exactly_one_mesh(e2e, meshes):
    doc = yaml.safe_load(meshes["tenants_file"].read_text())
    mesh_of = _mesh_of_tenant(doc)
    model = {m.name: m for m in _model(meshes).meshes}
    # What each istiod discovers, from the selectors it reads and the labels the namespaces carry.
    namespaces = {n["metadata"]["name"]: n["metadata"].get("labels", {}) for n in e2e.kube.list("namespaces")}
    seen_by: dict[tuple[str, str], set[str]] = {}
    for mesh in model.values():
        for revision in _istiods(e2e.kube, mesh.namespace_name):
            selectors = _live_selectors(e2e.kube, mesh.namespace_name, revision)
            assert selectors, f"istiod {revision} of {mesh.name} has no discovery selectors: it would see every namespace"
            seen_by[mesh.name, revision] = {n for n, labels in namespaces.items() if any(label_selector_selects(s, labels) for s in selectors)}
    # Each istiod sees only its own mesh: its namespace and its tenants', nothing else of the cluster.
    for (mesh_name, revision), seen in seen_by.items():
        own = {model[mesh_name].namespace_name} | {ns for ns, m in mesh_of.items() if m == mesh_name}
        assert seen == own, (mesh_name, revision, sorted(seen))
    for namespace, mesh_name in mesh_of.items():
        labels = namespaces[namespace]
        assert {m for (m, _), seen in seen_by.items() if namespace in seen} == {mesh_name}, namespace
        assert labels.get(MESH_LABEL) == mesh_name and "istio-injection" not in labels, (namespace, labels)
        mesh = model[mesh_name]
        revision = _revision_behind(e2e.kube, mesh, labels[REV_LABEL])
        assert revision in {r.name for r in mesh.revision_list}, (namespace, labels[REV_LABEL], revision)
    print(f"\nnamespaces each istiod discovers: { {f'{m}/{r}': sorted(s) for (m, r), s in seen_by.items()} }")


def test_each_revision_has_its_webhooks_and_configmaps(e2e, meshes):
    for mesh in _model(meshes).meshes:
        ns = mesh.namespace_name
        for revision in (r.name for r in mesh.revision_list):
            for name in (f"istio-{revision}", f"istio-sidecar-injector-{revision}"):
                assert e2e.kube.get("configmap", name, ns) is not None, f"{ns}: no ConfigMap {name}"
            service = e2e.kube.get("service", f"istiod-{revision}", ns)
            assert service is not None and service["spec"]["selector"][REV_LABEL] == revision
            for kind in ("mutatingwebhookconfigurations", "validatingwebhookconfigurations"):
                # The revision's own (the chart's), not a tag's pointing at it.
                hooks = [h for h in e2e.kube.list(kind, selector=f"{REV_LABEL}={revision},!istio.io/tag")]
                assert len(hooks) == 1, (kind, revision, [h["metadata"]["name"] for h in hooks])
                assert _targets(hooks[0]) == {(ns, f"istiod-{revision}")}, (kind, revision, _targets(hooks[0]))


def test_preview_after_up_shows_no_change(meshes):
    meshes["ws"].preview(STACK, "--expect-no-changes")


# --- canary moves -------------------------------------------------------------------------------


def _only_updates(steps: list[dict]) -> list[tuple[str, str]]:
    assert steps, "the move changes something"
    assert {s["op"] for s in steps} == {"update"}, [(s["op"], s["urn"]) for s in steps]
    return sorted((s["urn"].split("::")[2].rsplit("$", 1)[-1], s["urn"].split("::")[-1]) for s in steps)


def test_a_tag_move_updates_only_the_tags_objects(e2e, meshes):
    ws = meshes["ws"]
    mesh = next(m for m in _model(meshes).meshes if len(m.revision_list) > 1)
    tag = mesh.default_revision  # the tag the mesh's tenants follow unless they name another
    old = mesh.tags[tag]
    new = next(r.name for r in mesh.revision_list if r.name != old)
    before = meshes["snapshot"].uids()

    def move(doc):
        next(m for m in doc["meshes"] if m["name"] == mesh.name)["tags"][tag] = new

    _edit_tenants(meshes, move)
    updated = _only_updates(changes(ws.preview_json(STACK)))
    print(f"\ntag {tag}: {old} -> {new}: {updated}")
    # The tag's injection webhook and its Service, nothing else: no namespace, no istiod, no other tag.
    assert sorted(kind.rsplit(":", 1)[-1] for kind, _ in updated) == ["MutatingWebhookConfiguration", "Service"], updated
    assert all(name.endswith((f"istio-revision-tag-{tag}-{mesh.namespace_name}", f"istiod-revision-tag-{tag}")) for _, name in updated), updated
    ws.up(STACK)
    snap = assert_state_matches_cluster(e2e.kube, ws.export(STACK), _render(meshes, "tag-moved"))
    assert snap.uids() == before, "a tag move replaces nothing"
    followers = [ns for ns, labels in ((n["metadata"]["name"], n["metadata"].get("labels", {})) for n in e2e.kube.list("namespaces"))
                 if labels.get(REV_LABEL) == tag]
    assert followers
    for ns in followers:
        assert _revision_behind(e2e.kube, mesh, tag) == new, ns
    ws.preview(STACK, "--expect-no-changes")
    meshes["snapshot"] = snap


def test_moving_one_tenant_to_the_canary_relabels_only_its_namespace(e2e, meshes):
    ws = meshes["ws"]
    mesh = next(m for m in _model(meshes).meshes if len(m.revision_list) > 1)
    doc = yaml.safe_load(meshes["tenants_file"].read_text())
    tenant = next(t for t in doc["tenants"] if t.get("mesh", doc["meshes"][0]["name"]) == mesh.name and "revision" not in t)
    namespace = tenant.get("namespace", tenant["name"])
    canary = next(t for t in sorted(mesh.tags) if t != e2e.kube.get("namespace", namespace)["metadata"]["labels"][REV_LABEL])
    before = meshes["snapshot"].uids()

    def move(doc):
        next(t for t in doc["tenants"] if t["name"] == tenant["name"])["revision"] = canary

    _edit_tenants(meshes, move)
    steps = changes(ws.preview_json(STACK))
    updated = _only_updates(steps)
    print(f"\ntenant {tenant['name']} -> {canary}: {updated}")
    # Its namespace's label, and its gateway (which runs with its revision): nothing of another tenant.
    assert all(name.startswith(f"{tenant['name']}/") for _, name in updated), updated
    ws.up(STACK)
    snap = assert_state_matches_cluster(e2e.kube, ws.export(STACK), _render(meshes, "tenant-moved"))
    assert snap.uids() == before, "a tenant move replaces nothing"
    labels = e2e.kube.get("namespace", namespace)["metadata"]["labels"]
    assert labels[REV_LABEL] == canary and labels[MESH_LABEL] == mesh.name and "istio-injection" not in labels
    ws.preview(STACK, "--expect-no-changes")
    meshes["snapshot"] = snap


# --- teardown -----------------------------------------------------------------------------------


def test_destroy_and_reset_leave_the_cluster_as_found(e2e, meshes, reset_cluster):
    ws = meshes["ws"]
    protected = [r for r in ws.export(STACK) if r.get("protect")]
    assert {r["urn"] for r in protected} == meshes["protects"] and protected
    for r in protected:
        ws("state", "unprotect", r["urn"], "--stack", STACK, "--yes")
    result = ws.destroy(STACK)
    print(f"\npulumi destroy: {result.seconds:.1f} s")
    # Only what the program retains on delete is left: the tenants' namespaces and what is in them,
    # and the admission parameters keeper.
    for k, r in meshes["snapshot"].by_key.items():
        live = e2e.kube.get(resource_arg(r["outputs"]["apiVersion"], k[1]), k[3], k[2])
        if not r.get("retainOnDelete"):
            assert live is None, f"{k} should be gone"
    reset_cluster(meshes["seen"])
    assert _cluster_names(e2e.kube) == meshes["found"]
