"""`python -m render diff`: object-level differences between two renders, grouped by tenant."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from render.__main__ import main
from builders.meta import TENANT_LABEL
from render.diff import compare, describe, field_changes, format_report, load_render, object_key
from render.engine import PROJECT_ROOT
from render.output import manifests_yaml, resources_json
from tests.support import run

DEV = yaml.safe_load((PROJECT_ROOT / "tenants" / "dev.yaml").read_text())
# The operator path renders each tenant's gateway as an object (its IstioOperator), so a move shows.
CLASSIC = yaml.safe_load((PROJECT_ROOT / "tenants" / "classic.yaml").read_text())


def render_dir(tmp_path: Path, label: str, document: dict, stack: str = "dev") -> Path:
    """Render `document` (a tenants file as data) the way `python -m render` writes it."""
    work = tmp_path / f"{label}-input"
    work.mkdir()
    program = run(stack, yaml.safe_dump(document, sort_keys=False), work)
    out = tmp_path / label
    out.mkdir()
    (out / "manifests.yaml").write_text(manifests_yaml(program), encoding="utf-8")
    (out / "resources.json").write_text(resources_json(program), encoding="utf-8")
    return out


def tenant(document: dict, name: str) -> dict:
    return next(t for t in document["tenants"] if t["name"] == name)


def changed_keys(report) -> set[tuple]:
    return {c.key for group in report.groups.values() for c in group.changed}


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return render_dir(tmp_path_factory.mktemp("base"), "base", DEV)


@pytest.fixture(scope="module")
def classic_base(tmp_path_factory) -> Path:
    return render_dir(tmp_path_factory.mktemp("classic-base"), "base", CLASSIC, "classic")


def diff(base: Path, tmp_path: Path, document: dict, stack: str = "dev"):
    new = render_dir(tmp_path, "new", document, stack)
    return compare(load_render(base), load_render(new)), new


def test_the_same_render_twice_is_identical_and_exits_0(base, tmp_path, capsys):
    again = render_dir(tmp_path, "again", DEV)
    report = compare(load_render(base), load_render(again))
    assert report.identical
    assert main(["diff", str(base), str(again)]) == 0
    assert "no changes" in capsys.readouterr().out


def test_changing_one_tenant_shows_changes_for_that_tenant_only(base, tmp_path, capsys):
    document = copy.deepcopy(DEV)
    server = tenant(document, "workspace-2")["gateway"]["servers"][0]
    server["hosts"] = ["shop.example.com"]
    tenant(document, "workspace-2")["routes"][0]["hosts"] = ["shop.example.com"]
    report, new = diff(base, tmp_path, document)

    # Besides the tenant's own objects, only its keys in the admission parameters change.
    assert sorted(t for t, g in report.groups.items() if g) == ["platform", "workspace-2"]
    (params,) = report.groups["platform"].changed
    assert params.key == ("", "ConfigMap", "istio-system", "istio-multitenancy-tenants")
    assert params.fields == [
        'data.workspace-2.anyHost: "true" -> "false"',
        r'data.workspace-2.hosts: "^$" -> "^(shop\\.example\\.com)$"',
    ]
    group = report.groups["workspace-2"]
    assert not group.added and not group.removed
    assert {(c.key[1], c.key[2], c.key[3]) for c in group.changed} == {
        ("Gateway", "workspace-2", "workspace-2-gateway"),
        ("VirtualService", "workspace-2", "bookinfo"),
    }
    gateway = next(c for c in group.changed if c.key[1] == "Gateway")
    assert gateway.fields == ['spec.servers[0].hosts[0]: "./*" -> "./shop.example.com"']

    assert main(["diff", str(base), str(new)]) == 1
    out = capsys.readouterr().out
    assert "tenant workspace-2" in out and "tenant workspace-1" not in out


def test_changing_one_tenant_among_many_touches_only_that_tenant(tmp_path):
    def many(port_of_t7: int) -> dict:
        tenants = [
            {"name": f"t{i}", "gateway": {"servers": [{"port": port_of_t7 if i == 7 else 80, "hosts": [f"t{i}.example.com"]}]},
             "routes": [{"name": "web", "http": [{"to": {"service": "web", "port": 8080}}]}]}
            for i in range(12)
        ]
        return {"tenants": tenants}

    old, new = render_dir(tmp_path, "old", many(80)), render_dir(tmp_path, "new", many(8080))
    report = compare(load_render(old), load_render(new))
    assert [t for t, g in report.groups.items() if g] == ["t7"]
    # The quota's node ports count the gateway's Service ports, as many as before.
    assert {k[1] for k in changed_keys(report)} == {"Gateway"}
    # And the port its gateway's Service opens, in the gateway chart's values.
    (chart, *fields) = report.groups["t7"].resources
    assert chart.startswith("~ kubernetes:helm.sh/v4:Chart t7/")
    # Ports are a list of named items: one gone, one new, each by its name.
    assert [f.strip().split(": ")[0] for f in fields] == [
        "pulumi.inputs.values.service.ports[name=http-80]", "pulumi.inputs.values.service.ports[name=http-8080]",
    ]
    assert fields[1].endswith('-> {"name": "http-8080", "port": 8080, "protocol": "TCP", "targetPort": 8080}')


def test_a_new_tenant_is_listed_as_added(base, tmp_path):
    document = copy.deepcopy(DEV)
    document["tenants"].append({"name": "workspace-4"})
    report, _ = diff(base, tmp_path, document)
    group = report.groups["workspace-4"]
    assert group.title == "tenant workspace-4 (new)"
    assert ("", "Namespace", "", "workspace-4") in group.added
    assert any(line.startswith("+ istio-multitenancy:index:TenantMesh workspace-4") for line in group.resources)
    # The platform's change: the new tenant's keys in the admission parameters.
    assert sorted(t for t, g in report.groups.items() if g) == ["platform", "workspace-4"]


def protections(ns: str) -> list[tuple[str, str, str, str]]:
    """What protects a tenant namespace, and stays with it when the tenant is removed (sorted as the report sorts)."""
    return sorted([
        ("", "LimitRange", ns, "tenant-limits"),
        ("", "Namespace", "", ns),
        ("", "ResourceQuota", ns, "tenant-quota"),
        ("networking.istio.io", "Sidecar", ns, "default"),
        ("networking.k8s.io", "NetworkPolicy", ns, "allow-tenant-ingress"),
        ("networking.k8s.io", "NetworkPolicy", ns, "restrict-tenant-egress"),
        ("security.istio.io", "AuthorizationPolicy", ns, "allow-gateway-ingress"),
        ("security.istio.io", "AuthorizationPolicy", ns, "allow-same-namespace"),
        ("security.istio.io", "PeerAuthentication", ns, "default"),
    ])


def test_removing_a_tenant_says_its_namespace_is_retained(base, tmp_path):
    document = copy.deepcopy(DEV)
    document["tenants"] = [t for t in document["tenants"] if t["name"] != "workspace-2"]
    report, _ = diff(base, tmp_path, document)

    group = report.groups["workspace-2"]
    assert group.title == "tenant workspace-2 (removed)"
    removed = dict(group.removed)
    assert "retained" in removed[("", "Namespace", "", "workspace-2")]
    assert removed[("networking.istio.io", "Gateway", "workspace-2", "workspace-2-gateway")] == ""
    # The workloads stay, and so does everything that protects them.
    assert report.retained == protections("workspace-2")
    text = format_report(report, "old", "new")
    assert "- Namespace workspace-2  [retained" in text
    assert "left in the cluster" in text


def test_decommission_first_shows_the_flip_then_nothing_is_retained(base, tmp_path):
    document = copy.deepcopy(DEV)
    tenant(document, "workspace-2")["decommission"] = True
    report, marked = diff(base, tmp_path, document)
    changes = report.groups["workspace-2"].changed
    assert sorted(change.key for change in changes) == protections("workspace-2")
    assert all(change.fields == ["pulumi.options.retainOnDelete: true -> false"] for change in changes)

    removed = copy.deepcopy(document)
    removed["tenants"] = [t for t in removed["tenants"] if t["name"] != "workspace-2"]
    after = render_dir(tmp_path, "removed", removed)
    report = compare(load_render(marked), load_render(after))
    assert report.retained == []
    assert dict(report.groups["workspace-2"].removed)[("", "Namespace", "", "workspace-2")] == ""


def test_a_rename_without_previous_names_gets_a_hint(base, tmp_path):
    document = copy.deepcopy(DEV)
    renamed = tenant(document, "workspace-2")
    renamed["name"], renamed["namespace"] = "payments", "workspace-2"
    report, _ = diff(base, tmp_path, document)
    (hint,) = report.hints
    assert "'payments' looks like tenant 'workspace-2' renamed (same namespace workspace-2 and gateway wk2-ingressgw)" in hint
    assert "previousNames: [workspace-2]" in hint


def test_a_rename_with_previous_names_reads_as_one_tenant(base, tmp_path):
    document = copy.deepcopy(DEV)
    renamed = tenant(document, "workspace-2")
    renamed.update(name="payments", namespace="workspace-2", previousNames=["workspace-2"])
    report, _ = diff(base, tmp_path, document)

    assert report.hints == [] and report.moves == [] and report.warnings == []
    assert sorted(t for t, g in report.groups.items() if g) == ["payments", "platform"]
    # The parameters, and the frozen rule's binding, which lists the tenants by name (the renamed
    # tenant's namespace must not read as a removed tenant's).
    changed = {c.key[-1]: c for c in report.groups["platform"].changed}
    assert set(changed) == {"istio-multitenancy-tenants", "istio-multitenancy-removed-tenant-frozen"}
    params = changed["istio-multitenancy-tenants"]
    assert params.fields == ['data.workspace-2.tenant: "workspace-2" -> "payments"']
    group = report.groups["payments"]
    assert group.title == "tenant payments (renamed from workspace-2: previousNames)"
    # The namespace keeps its identity (and so its workloads); only its tenant label changes.
    namespace = next(c for c in group.changed if c.key == ("", "Namespace", "", "workspace-2"))
    assert 'metadata.labels.istio-multitenancy.io/tenant: "workspace-2" -> "payments"' in namespace.fields
    assert all("pulumi" not in line for line in namespace.fields)
    # The Gateway is named after the tenant: it is replaced, which loses no workload.
    assert ("networking.istio.io", "Gateway", "workspace-2", "workspace-2-gateway") in dict(group.removed)
    assert ("networking.istio.io", "Gateway", "workspace-2", "payments-gateway") in group.added
    assert any("TenantMesh payments" in line for line in group.resources)


def test_a_rename_without_previous_names_warns_of_every_object_that_changes_resource(classic_base, tmp_path, capsys):
    base = classic_base
    document = copy.deepcopy(CLASSIC)
    renamed = tenant(document, "workspace-2")
    renamed["name"], renamed["namespace"] = "payments", "workspace-2"
    report, new = diff(base, tmp_path, document, "classic")

    # Every object of the tenant that is in both renders: the same object, another Pulumi resource.
    old_render, new_render = load_render(base), load_render(new)
    kept = sorted((k for k, h in old_render.heads.items() if h.tenant == "workspace-2" and k in new_render.heads), key=describe)
    assert [move.split(": ", 1)[0] for move in report.moves] == [describe(k) for k in kept]
    assert "IstioOperator.install.istio.io istio-system/wk2-ingressgw: workspace-2/wk2-ingressgw in TenantMesh workspace-2 -> " \
        "payments/wk2-ingressgw in TenantMesh payments" in report.moves
    assert "Namespace workspace-2: workspace-2/workspace-2 in TenantMesh workspace-2 -> payments/workspace-2 in TenantMesh " \
        "payments  [retainOnDelete: the delete leaves the object]" in report.moves
    assert main(["diff", str(base), str(new)]) == 1
    out = capsys.readouterr().out
    assert "warnings:\n  these objects stay the same Kubernetes objects under another Pulumi resource: `pulumi up` creates " \
        "the new resource, then deletes the old one and the object with it" in out
    assert f"    {report.moves[0]}\n" in out


DEFAULT_NAMES_FOLLOW = (
    "tenant 'payments' (was 'workspace-2'): its gateway's name workspace-2-ingressgw -> payments-ingressgw and labels "
    "{app: istio-ingressgateway-workspace-2, istio: ingressgateway-workspace-2} -> {app: istio-ingressgateway-payments, "
    "istio: ingressgateway-payments} follow the tenant's name, so the gateway is replaced, with a new external address; "
    "to keep it, pin them in the tenants file: `gateway: {name: workspace-2-ingressgw, labels: {app: "
    "istio-ingressgateway-workspace-2, istio: ingressgateway-workspace-2}}`"
)


def _rename_keeping_default_gateway_names(tmp_path, document: dict, stack: str):
    """workspace-2 without a pinned gateway name and labels, renamed to payments with previousNames:
    (base render, the diff's report, the renamed tenant's entry in `document`)."""
    document = copy.deepcopy(document)
    del tenant(document, "workspace-2")["gateway"]["name"], tenant(document, "workspace-2")["gateway"]["labels"]
    base = render_dir(tmp_path, "base", document, stack)
    renamed = tenant(document, "workspace-2")
    renamed.update(name="payments", namespace="workspace-2", previousNames=["workspace-2"])
    report, _ = diff(base, tmp_path, document, stack)
    assert report.moves == [] and report.hints == []
    assert report.warnings == [DEFAULT_NAMES_FOLLOW]
    return base, document, renamed


def test_a_rename_keeping_default_gateway_names_warns_that_the_gateway_is_replaced(tmp_path):
    base, document, renamed = _rename_keeping_default_gateway_names(tmp_path, CLASSIC, "classic")
    # As the warning says: pinned, the gateway's IstioOperator stays as it is.
    renamed["gateway"].update(name="workspace-2-ingressgw", labels={"app": "istio-ingressgateway-workspace-2", "istio": "ingressgateway-workspace-2"})
    pinned = compare(load_render(base), load_render(render_dir(tmp_path, "pinned", document, "classic")))
    assert pinned.warnings == [] and pinned.moves == []
    operator = ("install.istio.io", "IstioOperator", "istio-system", "workspace-2-ingressgw")
    group = pinned.groups["payments"]
    assert operator not in dict(group.removed) and operator not in group.added
    (change,) = [c for c in group.changed if c.key == operator]
    # The tenant label follows the tenant (on the IstioOperator and on everything it deploys), as on the Helm path.
    assert change.fields == [
        'metadata.labels.istio-multitenancy.io/tenant: "workspace-2" -> "payments"',
        'spec.components.ingressGateways[name=workspace-2-ingressgw].label.istio-multitenancy.io/tenant: "workspace-2" -> "payments"',
    ]


# The Helm path (stack dev): a tenant's gateway is a Helm release, a Chart resource whose objects are
# known only where `helm template` expands it. Without helm, the chart resource itself tells.
WK2_RELEASE = "Helm release workspace-2/wk2-ingressgw (chart gateway): workspace-2/wk2-ingressgw in TenantMesh workspace-2 -> " \
    "payments/wk2-ingressgw in TenantMesh payments"


def _renamed_without_previous_names(document: dict) -> dict:
    document = copy.deepcopy(document)
    tenant(document, "workspace-2").update(name="payments", namespace="workspace-2")
    return document


def test_on_the_helm_path_a_rename_without_previous_names_warns_that_the_gateway_release_moves(base, tmp_path, capsys):
    report, new = diff(base, tmp_path, _renamed_without_previous_names(DEV))
    index = report.moves.index(WK2_RELEASE)
    assert report.moves[index + 1].startswith("  and every object it renders (not listed: the chart was not expanded")
    # The platform's releases keep their resources: only the renamed tenant's moves.
    assert [m for m in report.moves if m.startswith("Helm release")] == [WK2_RELEASE]
    assert main(["diff", str(base), str(new)]) == 1
    assert f"    {WK2_RELEASE}\n" in capsys.readouterr().out


def test_on_the_helm_path_a_rename_keeping_default_gateway_names_warns_that_the_gateway_is_replaced(tmp_path):
    base, document, renamed = _rename_keeping_default_gateway_names(tmp_path, DEV, "dev")
    # As the warning says: pinned, the release keeps its name and only its tenant label changes.
    renamed["gateway"].update(name="workspace-2-ingressgw", labels={"app": "istio-ingressgateway-workspace-2", "istio": "ingressgateway-workspace-2"})
    pinned = compare(load_render(base), load_render(render_dir(tmp_path, "pinned", document)))
    assert pinned.warnings == [] and pinned.moves == []
    lines = pinned.groups["payments"].resources
    chart = lines.index("~ kubernetes:helm.sh/v4:Chart payments/workspace-2-ingressgw")
    assert lines[chart + 1] == '    pulumi.inputs.values.labels.istio-multitenancy.io/tenant: "workspace-2" -> "payments"'
    assert not any(line.startswith(("+", "-")) for line in lines)


def _expanded_render(tmp_path: Path, label: str, document: dict, helm: str) -> Path:
    """Render `document` on the Helm path with its charts expanded from the reference charts."""
    from render.charts import expand
    from render.engine import run_program
    from tests.test_helm_template import _project

    root = tmp_path / f"{label}-project"
    root.mkdir()
    _project(root, yaml.safe_dump(document, sort_keys=False))
    program = run_program("charts", root=root)
    expansions = expand(program, helm, root)
    assert all(e.expanded for e in expansions), [e.status for e in expansions]
    out = tmp_path / label
    out.mkdir()
    (out / "manifests.yaml").write_text(manifests_yaml(program, expansions), encoding="utf-8")
    (out / "resources.json").write_text(resources_json(program, expansions), encoding="utf-8")
    return out


def test_with_helm_a_rename_without_previous_names_lists_the_gateway_releases_objects(tmp_path):
    from render.charts import helm_binary

    helm = helm_binary()
    if helm is None:
        pytest.skip("no helm (set HELM_BIN or put helm on PATH)")
    base = _expanded_render(tmp_path, "base", DEV, helm)
    new = _expanded_render(tmp_path, "new", _renamed_without_previous_names(DEV), helm)
    report = compare(load_render(base), load_render(new))
    index = report.moves.index(WK2_RELEASE)
    rendered = [m for m in report.moves[index + 1:] if m.startswith("  ")]
    children = sorted(describe(k) for k, h in load_render(base).heads.items() if h.chart == "workspace-2/wk2-ingressgw")
    assert len(children) >= 3  # Deployment, Service, ServiceAccount at least
    assert [m.split(": ", 1)[0].strip() for m in rendered[:len(children)]] == children
    assert "  Deployment.apps workspace-2/wk2-ingressgw: rendered by it" in rendered


def test_a_new_api_version_moves_an_object_unless_its_resource_has_the_old_type_as_alias(classic_base, tmp_path):
    base = classic_base
    old = tmp_path / "old"
    old.mkdir()
    manifests, resources = (base / "manifests.yaml").read_text(), (base / "resources.json").read_text()
    # The base as an older release would have rendered it: the gateway in v1beta1, the operator in apps/v1beta1.
    gateway_type, deployment_type = "kubernetes:networking.istio.io/v1:Gateway", "kubernetes:apps/v1:Deployment"
    assert gateway_type in resources and deployment_type in resources
    (old / "resources.json").write_text(
        resources.replace(gateway_type, "kubernetes:networking.istio.io/v1beta1:Gateway").replace(deployment_type, "kubernetes:apps/v1beta1:Deployment")
    )
    documents = list(yaml.safe_load_all(manifests))
    for obj in documents:
        if obj["kind"] == "Gateway":
            obj["apiVersion"] = "networking.istio.io/v1beta1"
        elif obj["kind"] == "Deployment":
            obj["apiVersion"] = "apps/v1beta1"
    (old / "manifests.yaml").write_text(yaml.safe_dump_all(documents, sort_keys=True))
    report = compare(load_render(old), load_render(base))
    gateways = sorted(describe(object_key(o)) for o in documents if o["kind"] == "Gateway")
    # pulumi-kubernetes gives Deployment its former types as aliases; an Istio kind has none.
    assert [move.split(": ", 1)[0] for move in report.moves] == gateways


def test_a_rename_that_moves_the_namespace_is_pointed_out(base, tmp_path):
    document = copy.deepcopy(DEV)
    renamed = tenant(document, "workspace-2")
    renamed.update(name="payments", previousNames=["workspace-2"])
    report, _ = diff(base, tmp_path, document)
    assert any("moves to namespace payments" in h and "namespace: workspace-2" in h for h in report.hints)
    assert report.retained == protections("workspace-2")


def test_field_changes_compare_named_lists_by_name():
    old = {"spec": {"containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:1"}]}}
    new = {"spec": {"containers": [{"name": "a", "image": "x:2"}, {"name": "b", "image": "y:1"}]}}
    assert list(field_changes(old, new)) == ['spec.containers[name=a].image: "x:1" -> "x:2"']


def test_field_changes_show_added_and_removed_keys():
    assert list(field_changes({"a": 1}, {"b": 2})) == ["a: 1 -> (none)", "b: (none) -> 2"]
    assert list(field_changes({"l": [1, 2]}, {"l": [1]})) == ["l: [1, 2] -> [1]"]


def test_prod_differs_from_dev_in_the_platform_and_both_tenants(tmp_path):
    dev, prod = tmp_path / "dev", tmp_path / "prod"
    for stack, out in (("dev", dev), ("prod", prod)):
        program = run(stack)
        out.mkdir()
        (out / "manifests.yaml").write_text(manifests_yaml(program), encoding="utf-8")
        (out / "resources.json").write_text(resources_json(program), encoding="utf-8")
    report = compare(load_render(dev), load_render(prod))
    assert {"platform", "workspace-1", "workspace-2"} <= {t for t, g in report.groups.items() if g}
    assert any("pulumi.inputs.context" in line for line in report.groups["platform"].resources)


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda d: None, "not a directory"),
        (lambda d: d.mkdir(), "no manifests.yaml here"),
        (lambda d: (d.mkdir(), (d / "manifests.yaml").write_text("a: [")), "not valid YAML"),
        (lambda d: (d.mkdir(), (d / "manifests.yaml").write_text("- 1\n")), "document 1 is not a Kubernetes object"),
        (
            lambda d: (d.mkdir(), (d / "manifests.yaml").write_text("kind: Namespace\nmetadata: {name: a}\n"), (d / "resources.json").write_text("{")),
            "not valid JSON",
        ),
        (
            lambda d: (d.mkdir(), (d / "manifests.yaml").write_text("kind: Namespace\nmetadata: {name: a}\n"), (d / "resources.json").write_text("{}")),
            "expected a list of resources",
        ),
    ],
)
def test_unusable_input_exits_2_with_the_reason(base, tmp_path, capsys, setup, message):
    broken = tmp_path / "broken"
    setup(broken)
    assert main(["diff", str(base), str(broken)]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and str(broken) in captured.err
    assert "Traceback" not in captured.err and captured.out == ""


def test_a_render_directory_reads_as_a_full_yaml_parse_would(base):
    loaded = load_render(base)
    documents = list(yaml.safe_load_all((base / "manifests.yaml").read_text()))
    assert len(loaded.texts) == len(documents)
    for obj in documents:
        key = object_key(obj)
        assert loaded.object(key) == obj
        assert loaded.tenant_of(key) == obj["metadata"].get("labels", {}).get(TENANT_LABEL, "platform")


def test_manifests_written_another_way_compare_by_their_objects(base, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    objects = list(yaml.safe_load_all((base / "manifests.yaml").read_text()))
    (other / "manifests.yaml").write_text("# reformatted\n" + yaml.safe_dump_all(objects[::-1], default_flow_style=True))
    (other / "resources.json").write_text((base / "resources.json").read_text())
    assert compare(load_render(base), load_render(other)).identical
    objects[0]["metadata"]["annotations"] = {"note": "x"}
    (other / "manifests.yaml").write_text(yaml.safe_dump_all(objects, default_flow_style=True))
    (change,) = changed_keys(compare(load_render(base), load_render(other)))
    assert change == object_key(objects[0])
