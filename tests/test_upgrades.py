"""docs/upgrades.md, step by step under the mock engine: each change's render diff shows what the
page says, and no replace or delete it does not name."""

from __future__ import annotations

import copy

import pytest
import yaml

from render.diff import compare, describe, format_report, load_render
from render.engine import PROJECT_ROOT
from tenants import ConfigError
from tenants.stack import load_settings
from tests.diff_support import GOLDEN, assert_golden, render_stack

DEV = yaml.safe_load((PROJECT_ROOT / "tenants" / "dev.yaml").read_text())
PAGE = (PROJECT_ROOT / "docs" / "upgrades.md").read_text(encoding="utf-8")


def diff(old, new):
    report = compare(load_render(old), load_render(new))
    return report, format_report(report, "base", "change")


def only(counts: dict, **expected: int) -> None:
    """The Pulumi resource counts are `expected`, every other kind of change 0."""
    assert counts == {**{kind: 0 for kind in counts}, **expected}


def test_a_patch_upgrade_updates_six_charts_in_place_and_says_to_restart_workloads(tmp_path):
    report, text = diff(render_stack(tmp_path / "old", istioVersion="1.30.2"), render_stack(tmp_path / "new", istioVersion="1.30.3"))
    only(report.counts, **{"to update": 6})
    assert "Pulumi resources: 6 to update (6 charts upgraded: 1.30.2 -> 1.30.3)" in text and text.split("\n")[1] in PAGE
    assert report.alerts == []
    assert any("kubectl rollout restart deployment -n <tenant namespace>" in note for note in report.notes)


def test_a_release_past_the_newest_known_patch_is_refused():
    with pytest.raises(ConfigError) as caught:
        load_settings("dev", {"tenantsFile": "tenants/dev.yaml", "istioVersion": "1.30.99"}, PROJECT_ROOT)
    message = str(caught.value)
    assert "Istio 1.30.99 is not a known release: the newest 1.30 release is 1.30.3" in message
    assert "ISTIO_RELEASES in tenants/install.py" in message


def test_a_sail_minor_upgrade_upgrades_istio_in_place(tmp_path):
    old = render_stack(tmp_path / "old", installMethod="sail", istioVersion="1.29.6")
    report, text = diff(old, render_stack(tmp_path / "new", installMethod="sail", istioVersion="1.30.3"))
    only(report.counts, **{"to update": 5})
    words = "3 charts upgraded: 1.29.6 -> 1.30.3; Istio default upgraded: v1.29.6 -> v1.30.3; IstioCNI default upgraded: v1.29.6 -> v1.30.3"
    assert f"Pulumi resources: 5 to update ({words})" in text
    assert " ".join(words.split()) in " ".join(PAGE.split())
    assert report.alerts == []


def test_an_operator_minor_upgrade_is_the_operators_image(tmp_path):
    old = render_stack(tmp_path / "old", stack="classic", istioVersion="1.22.8")
    report, _ = diff(old, render_stack(tmp_path / "new", stack="classic", istioVersion="1.23.6"))
    only(report.counts, **{"to update": 1})
    assert report.upgrades == ["Deployment istio-operator upgraded: docker.io/istio/operator:1.22.8 -> docker.io/istio/operator:1.23.6"]
    assert report.alerts == []


def _meshes(namespace: str | None, keep_istiod: bool = True) -> dict:
    """dev.yaml moved to `meshes:` as the page says; `keep_istiod`: the first mesh runs Istio's `default` revision."""
    document = copy.deepcopy(DEV)
    control_plane = document.pop("controlPlane")
    mesh = {"name": "platform", "profile": control_plane["profile"]}
    if namespace:
        mesh["namespace"] = namespace
    if keep_istiod:
        mesh["revisions"] = [{"name": "default"}]
    document["meshes"] = [mesh]
    return document


# What the move must keep (the same Pulumi resources, updated in place): istiod (its chart or
# Sail's `Istio`, whose objects keep their names with it), the platform's ingress gateway and
# every namespace.
KEPT = {
    "helm": ["kubernetes:helm.sh/v4:Chart platform/istiod", "kubernetes:helm.sh/v4:Chart platform/istio-ingressgateway"],
    "sail": ["Istio.sailoperator.io default", "kubernetes:helm.sh/v4:Chart platform/istio-ingressgateway"],
}
NAMESPACES = ["istio-system", "workspace-1", "workspace-2", "workspace-3"]


@pytest.mark.parametrize("method", ["helm", "sail"])
def test_moving_to_meshes_on_istios_default_revision_replaces_nothing(tmp_path, method):
    old = render_stack(tmp_path / "old", installMethod=method)
    report, text = diff(old, render_stack(tmp_path / "new", tenants=_meshes("istio-system"), installMethod=method))
    assert report.alerts == [] and report.moves == [] and report.hints == []
    only(report.counts, **{"to update": 10})
    assert not any(group.added or group.removed for group in report.groups.values())
    lines = text.splitlines()
    for kept in KEPT[method]:
        assert f"- {kept}" not in lines and f"+ {kept}" not in lines
    assert [n for n in NAMESPACES if f"- Namespace {n}" in lines or f"+ Namespace {n}" in lines] == []
    # The tenants keep their injection label: only the mesh label, which the istiod's discovery selectors need, is added.
    assert "~ Namespace workspace-1\n    metadata.labels.istio-multitenancy.io/mesh: (none) -> \"platform\"\n\n" in text
    if method == "helm":
        assert "~ kubernetes:helm.sh/v4:Chart platform/istiod\n    pulumi.inputs.values.meshConfig.discoverySelectors:" in text
        assert_golden("diff-move-to-meshes", text)
    else:
        assert "~ Istio.sailoperator.io default\n" in text


def test_a_control_plane_with_a_name_of_its_own_moves_with_previous_names(tmp_path):
    named = copy.deepcopy(DEV)
    named["controlPlane"]["name"] = "main-mesh"
    moved = _meshes("istio-system")
    old = render_stack(tmp_path / "old", tenants=named)
    lost, _ = diff(old, render_stack(tmp_path / "lost", tenants=moved))
    assert any(alert.startswith("Namespace istio-system cannot be deleted (protect)") for alert in lost.alerts)
    moved["meshes"][0]["previousNames"] = ["main-mesh"]
    report, text = diff(old, render_stack(tmp_path / "new", tenants=moved))
    assert report.alerts == [] and report.moves == []
    only(report.counts, **{"to update": 10})
    assert "~ kubernetes:helm.sh/v4:Chart platform/istiod\n" in text


def test_the_page_shows_the_move_to_meshes_diff_as_rendered():
    golden = (GOLDEN / "diff-move-to-meshes.txt").read_text(encoding="utf-8")
    summary = golden.splitlines()[1]
    assert f"`{summary}`" in PAGE


def test_moving_to_meshes_on_the_mesh_own_revision_replaces_istiod_and_says_so(tmp_path):
    """Without `revisions: [{name: default}]`, the platform mesh runs revision `platform`: a new istiod."""
    report, text = diff(render_stack(tmp_path / "old"), render_stack(tmp_path / "new", tenants=_meshes("istio-system", keep_istiod=False)))
    assert report.alerts == ["istiod replaced: istio-system/istiod -> istio-system/istiod-platform: every sidecar and gateway must reconnect and be restarted onto the new one"]
    # One chart out, one in: the revision-less istiod and the platform revision's. Everything else is updated in place.
    assert report.counts["to create"] == report.counts["to delete"] == 1 and report.counts["to replace"] == 0
    assert "- kubernetes:helm.sh/v4:Chart platform/istiod\n+ kubernetes:helm.sh/v4:Chart platform/istiod-platform" in text
    assert not report.moves and not any(group.removed for group in report.groups.values())
    assert "~ Namespace istio-system" in text
    assert "`! istiod replaced: istio-system/istiod -> istio-system/istiod-platform`" in " ".join(PAGE.split())


def test_moving_to_meshes_without_the_namespace_names_that_cause(tmp_path):
    report, _ = diff(render_stack(tmp_path / "old"), render_stack(tmp_path / "new", tenants=_meshes(None)))
    assert any(
        alert.startswith("Namespace istio-system cannot be deleted (protect)") and "the move to `meshes:` puts the platform mesh in another namespace" in alert
        for alert in report.alerts
    )


def test_a_tenant_to_the_gateway_api_replaces_its_gateway_only(tmp_path):
    document = copy.deepcopy(DEV)
    workspace = next(t for t in document["tenants"] if t["name"] == "workspace-1")
    workspace["gateway"]["api"] = "gateway-api"
    report, text = diff(render_stack(tmp_path / "old"), render_stack(tmp_path / "new", tenants=document))
    assert report.alerts == [
        "gateway replaced in namespace workspace-1: wk1-ingressgw -> wk1-ingressgw (Istio's, from Gateway workspace-1-gateway): "
        "a new Deployment and Service, with a new external address"
    ]
    assert [t for t, g in report.groups.items() if g] == ["workspace-1"]
    group = report.groups["workspace-1"]
    assert sorted((k[0], k[1]) for k in group.added) == [("gateway.networking.k8s.io", "Gateway"), ("gateway.networking.k8s.io", "HTTPRoute")]
    assert sorted((k[0], k[1]) for k, _ in group.removed) == [("networking.istio.io", "Gateway"), ("networking.istio.io", "VirtualService")]
    # The namespace and its protections stay as they are (the quota, created after every other object
    # of the namespace, depends on the new ones instead of the old).
    assert [(describe(c.key), f) for c in group.changed for f in c.fields if not f.startswith("pulumi.dependencies")] == []
    assert [line for line in group.resources if line.startswith(("-", "+"))] == ["- kubernetes:helm.sh/v4:Chart workspace-1/wk1-ingressgw"]
    only(report.counts, **{"to create": 2, "to delete": 3, "to update": 1})  # to update: the quota's dependencies
    assert not any(line.startswith(("- Namespace", "+ Namespace")) for line in text.splitlines())
    assert_golden("diff-gateway-api-switch", text)


# The objects of istiod's release, the platform gateway's and base's default validation webhook,
# as the charts render them: each must be in both renders, rendered by the same Pulumi resource (a
# chart kept under its component's alias), never removed and added again.
ISTIOD, GATEWAY = ("platform-istiocontrolplane/istiod", "platform/istiod"), ("platform-istiocontrolplane/istio-ingressgateway", "platform/istio-ingressgateway")
KEPT_OBJECTS = {
    ("apps", "Deployment", "istio-system", "istiod"): ISTIOD,
    ("", "Service", "istio-system", "istiod"): ISTIOD,
    ("", "ServiceAccount", "istio-system", "istiod"): ISTIOD,
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration", "", "istio-sidecar-injector"): ISTIOD,
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration", "", "istiod-default-validator"): ("istio/istio-base",) * 2,
    ("apps", "Deployment", "istio-system", "istio-ingressgateway"): GATEWAY,
    ("", "Service", "istio-system", "istio-ingressgateway"): GATEWAY,
}


def test_with_helm_the_move_to_meshes_keeps_every_object_of_istiod_and_the_platform_gateway(tmp_path):
    from render.charts import helm_binary
    from tests.test_diff import _expanded_render

    helm = helm_binary()
    if helm is None:
        pytest.skip("no helm (set HELM_BIN or put helm on PATH)")
    old, new = (load_render(_expanded_render(tmp_path, label, doc, helm)) for label, doc in (("old", DEV), ("new", _meshes("istio-system"))))
    report = compare(old, new)
    assert report.alerts == [] and report.moves == [] and report.hints == []
    assert not any(group.added or group.removed for group in report.groups.values())
    assert report.counts["to create"] == report.counts["to delete"] == report.counts["to replace"] == 0
    for key, charts in KEPT_OBJECTS.items():
        assert key in old.heads and key in new.heads, key
        assert (old.heads[key].chart, new.heads[key].chart) == charts, key
    # What the move does change in istiod's objects: its discovery selectors, in its mesh ConfigMap.
    changed = {describe(c.key) for group in report.groups.values() for c in group.changed}
    assert "ConfigMap istio-system/istio" in changed
