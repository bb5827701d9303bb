"""Several meshes, as the program registers them on each install method, and what a canary step
changes: two renders compared with `render diff`."""

from __future__ import annotations

import copy

import pulumi
import pytest
import yaml

from builders.meshes import MESH_LABEL
from render.diff import PLATFORM, compare, load_render
from render.engine import PROJECT_ROOT, run_program
from tests.isolation_support import label_selector_selects, sidecar_hosts
from tests.support import chart_values, charts, find, objects, of_kind, registration_of, run
from tests.test_diff import render_dir

MESHES = yaml.safe_load((PROJECT_ROOT / "tenants" / "meshes.yaml").read_text())
# The same tenants file on both methods that install meshes: dev is Helm, meshes is Sail.
STACKS = {"helm": "dev", "sail": "meshes"}
TENANT_MESH = {"app-ns-1": "usergroup-1", "app-ns-4": "usergroup-1", "app-ns-2": "usergroup-2", "app-ns-3": "usergroup-2"}


@pytest.fixture(scope="module", params=sorted(STACKS))
def method(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def program(method, tmp_path_factory):
    return run(STACKS[method], yaml.safe_dump(MESHES), tmp_path_factory.mktemp(method))


@pytest.fixture(scope="module")
def objs(program):
    return objects(program)


def _discovery_selectors(program, method: str) -> dict[str, list[dict]]:
    """Control plane (by revision) -> its discovery selectors, as the method hands them to Istio."""
    if method == "helm":
        values = [v for v in (chart_values(program, r.inputs["name"], r.inputs["namespace"]) for r in charts(program)) if "revision" in v and "meshConfig" in v]
        return {v["revision"]: v["meshConfig"]["discoverySelectors"] for v in values}
    return {o["metadata"]["name"]: o["spec"]["values"]["meshConfig"]["discoverySelectors"] for o in of_kind(objects(program), "Istio")}


def test_every_namespace_is_discovered_by_the_control_planes_of_exactly_one_mesh(program, objs, method):
    selectors = _discovery_selectors(program, method)
    assert set(selectors) == {"1-30-2", "1-30-3", "usergroup-2"}
    mesh_of_revision = {"1-30-2": "usergroup-1", "1-30-3": "usergroup-1", "usergroup-2": "usergroup-2"}
    for ns in of_kind(objs, "Namespace"):
        labels = ns["metadata"]["labels"]
        meshes = {mesh_of_revision[r] for r, sel in selectors.items() if any(label_selector_selects(s, labels) for s in sel)}
        expected = TENANT_MESH.get(ns["metadata"]["name"], ns["metadata"]["name"])
        if ns["metadata"]["name"] in ("sail-operator", "istio-cni"):
            assert meshes == set()  # the operator and the node agent are in no mesh
        else:
            assert meshes == {expected}, ns["metadata"]["name"]


def test_tenant_namespaces_choose_their_revision_or_tag(objs):
    labels = {t: find(objs, "Namespace", t)["metadata"]["labels"] for t in TENANT_MESH}
    assert {t: (l[MESH_LABEL], l["istio.io/rev"]) for t, l in labels.items()} == {
        "app-ns-1": ("usergroup-1", "ug1-stable"),
        "app-ns-4": ("usergroup-1", "ug1-canary"),
        "app-ns-2": ("usergroup-2", "usergroup-2"),
        "app-ns-3": ("usergroup-2", "usergroup-2"),
    }
    assert not any("istio-injection" in l for l in labels.values())


def test_gateways_run_on_their_tenants_revision(program):
    for tenant, label in {"app-ns-1": "ug1-stable", "app-ns-4": "ug1-canary", "app-ns-2": "usergroup-2"}.items():
        assert chart_values(program, f"{tenant}-ingressgw", tenant)["revision"] == label
    # The platform mesh's ingress gateway (observability) runs on its mesh's default revision.
    assert chart_values(program, "istio-ingressgateway", "usergroup-1")["revision"] == "ug1-stable"


def test_isolation_objects_name_the_tenants_own_mesh(objs):
    for tenant, mesh in TENANT_MESH.items():
        assert sidecar_hosts(objs, tenant) == ["./*", f"{mesh}/*"]
        policy = find(objs, "NetworkPolicy", "allow-tenant-ingress", tenant)
        sources = [[p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for p in rule["from"]] for rule in policy["spec"]["ingress"]]
        # Its own namespace on every port; its mesh's namespace (the scraper's, by default) on the metrics ports.
        assert sources == [[tenant], [mesh]]
        assert policy["spec"]["ingress"][1]["ports"] == [{"protocol": "TCP", "port": 15020}, {"protocol": "TCP", "port": 15090}]


def test_each_mesh_enforces_strict_mtls_in_its_namespace(objs):
    for mesh in ("usergroup-1", "usergroup-2"):
        assert find(objs, "PeerAuthentication", "default", mesh)["spec"] == {"mtls": {"mode": "STRICT"}}


def test_a_tenants_istio_objects_wait_for_its_own_mesh_only(program):
    sidecar = registration_of(program, "Sidecar", "default", "app-ns-2")
    waits_for = " ".join(sidecar.dependencies)
    assert "usergroup-2" in waits_for and "usergroup-1/" not in waits_for


def test_sail_waits_for_each_control_plane_and_tag():
    objs = objects(run("meshes"))
    assert {o["metadata"]["name"]: o["metadata"]["annotations"]["pulumi.com/waitFor"] for o in objs if o["apiVersion"].startswith("sailoperator.io")} == {
        "1-30-2": "condition=Ready",
        "1-30-3": "condition=Ready",
        "usergroup-2": "condition=Ready",
        "default": "condition=Ready",  # the CNI node agent
        "ug1-stable": "condition=Reconciled",
        "ug1-canary": "condition=Reconciled",
    }


# --- Canary steps, compared with `render diff` -------------------------------------------------


def _diff(method: str, tmp_path, change) -> dict:
    moved = copy.deepcopy(MESHES)
    change(moved)
    stack = STACKS[method]
    report = compare(load_render(render_dir(tmp_path, "base", MESHES, stack)), load_render(render_dir(tmp_path, "new", moved, stack)))
    return {name: group for name, group in report.groups.items() if group}


def _changed(group) -> dict[tuple, list[str]]:
    return {(c.key[1], c.key[2], c.key[3]): [f for f in c.fields if not f.startswith("pulumi.dependencies")] for c in group.changed}


def test_moving_a_tag_changes_only_the_tags_objects(method, tmp_path):
    groups = _diff(method, tmp_path, lambda doc: doc["meshes"][0]["tags"].update({"ug1-stable": "1-30-3"}))
    assert list(groups) == [PLATFORM]  # no tenant's objects, no namespace
    platform = groups[PLATFORM]
    assert (platform.added, platform.removed, platform.resources) == ([], [], [])
    if method == "helm":
        assert _changed(platform) == {
            ("Service", "usergroup-1", "istiod-revision-tag-ug1-stable"): [
                'metadata.labels.istio.io/rev: "1-30-2" -> "1-30-3"',
                'spec.selector.istio.io/rev: "1-30-2" -> "1-30-3"',
            ],
            ("MutatingWebhookConfiguration", "", "istio-revision-tag-ug1-stable-usergroup-1"): [
                'metadata.labels.istio.io/rev: "1-30-2" -> "1-30-3"',
                'webhooks[name=rev.namespace.sidecar-injector.istio.io].clientConfig.service.name: "istiod-1-30-2" -> "istiod-1-30-3"',
                'webhooks[name=rev.object.sidecar-injector.istio.io].clientConfig.service.name: "istiod-1-30-2" -> "istiod-1-30-3"',
            ],
        }
    else:
        assert _changed(platform) == {("IstioRevisionTag", "", "ug1-stable"): ['spec.targetRef.name: "1-30-2" -> "1-30-3"']}


def test_moving_one_tenant_to_the_canary_changes_only_its_label_and_gateway(method, tmp_path):
    groups = _diff(method, tmp_path, lambda doc: doc["tenants"][0].update({"revision": "ug1-canary"}))
    assert list(groups) == ["app-ns-1"]
    group = groups["app-ns-1"]
    assert (group.added, group.removed) == ([], [])
    assert _changed(group) == {("Namespace", "", "app-ns-1"): ['metadata.labels.istio.io/rev: "ug1-stable" -> "ug1-canary"']}
    assert group.resources == [
        "~ kubernetes:helm.sh/v4:Chart app-ns-1/app-ns-1-ingressgw",
        '    pulumi.inputs.values.revision: "ug1-stable" -> "ug1-canary"',
    ]


# --- What each install method refuses ------------------------------------------------------------


def test_the_operator_stack_refuses_meshes_and_registers_nothing(tmp_path):
    path = tmp_path / "tenants.yaml"
    path.write_text(yaml.safe_dump(MESHES), encoding="utf-8")
    with pytest.raises(pulumi.RunError) as caught:
        run_program("classic", str(path))
    assert str(caught.value).splitlines() == [
        f"{path}:1: meshes: installMethod: operator installs the one platform control plane (the in-cluster operator "
        "runs one Istio version, 1.22 or 1.23, for the whole cluster); several meshes and revisions need installMethod: helm or sail"
    ]
    assert [r.type for r in caught.value.registrations] == ["pulumi:pulumi:Stack"]


def test_every_chart_value_of_the_meshes_is_a_setting_of_its_chart():
    """The Helm path's istiod releases per revision and gateways with a revision, against Istio
    1.30.3's charts (values.yaml keys; the gateway chart's values.schema.json)."""
    from tests.test_helm_values import schema_errors as gateway_schema_errors
    from tests.test_helm_values import unknown_keys

    program = run_program(STACKS["helm"], str(PROJECT_ROOT / "tenants" / "meshes.yaml"))
    registered = [(c.inputs["chart"], c.inputs["namespace"], c.inputs["name"], chart_values(program, c.inputs["name"], c.inputs["namespace"])) for c in charts(program)]
    assert {chart for chart, *_ in registered} == {"base", "cni", "istiod", "gateway"}
    problems = {f"{chart} {ns}/{name}": unknown_keys(chart, values) for chart, ns, name, values in registered}
    problems.update({f"schema {ns}/{name}": gateway_schema_errors(values) for chart, ns, name, values in registered if chart == "gateway"})
    assert {release: keys for release, keys in problems.items() if keys} == {}


def test_stack_outputs_say_each_tenants_mesh_and_revision(program):
    tenants = program.outputs["tenants"]
    assert {name: (t["mesh"], t["revision"]) for name, t in tenants.items()} == {
        "app-ns-1": ("usergroup-1", "ug1-stable"),
        "app-ns-4": ("usergroup-1", "ug1-canary"),
        "app-ns-2": ("usergroup-2", "usergroup-2"),
        "app-ns-3": ("usergroup-2", "usergroup-2"),
    }


def test_a_tenant_gets_certificates_from_its_own_meshs_istiod_only(objs):
    from tests.isolation_support import network_admits_on

    meshes = {m["name"]: m.get("namespace", m["name"]) for m in MESHES["meshes"]}
    for tenant_ns, mesh in TENANT_MESH.items():
        source = {"kubernetes.io/metadata.name": tenant_ns, MESH_LABEL: mesh}
        for other, namespace in meshes.items():
            # XDS and the CA of its own mesh; another mesh's 15012 is closed, its webhooks open (the API server's).
            assert network_admits_on(objs, namespace, {"app": "istiod"}, source, 15012) == (other == mesh)
            assert network_admits_on(objs, namespace, {"app": "istiod"}, source, 15017)
    # Only the platform mesh (the first) carries the platform gateway's opening.
    first, *others = meshes.values()
    find(objs, "NetworkPolicy", "ingress-gateway", first)
    assert all(not [p for p in of_kind(objs, "NetworkPolicy") if p["metadata"]["namespace"] == ns and p["metadata"]["name"] == "ingress-gateway"] for ns in others)
