"""Several meshes: what the tenants file means, and what each mesh's control planes are told,
compared with upstream: Istio's multiple-control-planes guide, the istiod chart 1.30.3 and the
Sail operator 1.30.3 CRDs."""

from __future__ import annotations

import textwrap

import pytest

from builders.meshes import (
    MESH_LABEL, injection_labels, istiod_release, mesh_mtls, mesh_namespace, revision_labels, revision_tag_objects, tag_service,
    tag_webhook,
)
from builders.admission import istiod_users
from builders.helm_values import ISTIOD_RELEASE
from builders.sail import cni_resource, istio_resource, mesh_resources
from tenants import ConfigError, parse_tenants
from tenants.install import SAIL_ISTIO_VERSIONS, installation, tenants_file_rules, version_problem
from tenants.model import InstallMethod, StackSettings, TenantsFile
from render.engine import PROJECT_ROOT
from tenants.meshes import placement, resolve
from tests.mesh_support import (
    ISTIOD_CHART, chart_tag_service_spec, chart_tag_webhooks, guide_istio_operators, guide_namespace_labels, istiod_chart_keys,
    sail_chart_istio_versions, sail_meshconfig_validator, unknown_keys,
)
from tests.support import reference, reference_params, sail_crd, sail_schema_errors, schema_errors

HELM = installation(StackSettings(tenants_file="tenants.yaml", install_method=InstallMethod.HELM), TenantsFile(), PROJECT_ROOT)
# The guide's label key; the program labels namespaces with its own, MESH_LABEL.
GUIDE_LABEL = "usergroup"

# Upstream's guide, as a tenants file: two meshes, two application namespaces each. The guide
# has app-ns-1 in usergroup-1 and app-ns-2, app-ns-3 in usergroup-2; app-ns-4 is the second of usergroup-1.
GUIDE_FILE = """
meshes:
  - {name: usergroup-1}
  - {name: usergroup-2}
tenants:
  - {name: app-ns-1, mesh: usergroup-1}
  - {name: app-ns-4, mesh: usergroup-1}
  - {name: app-ns-2, mesh: usergroup-2}
  - {name: app-ns-3, mesh: usergroup-2}
"""

CANARY_FILE = """
meshes:
  - name: shop
    namespace: shop-system
    revisions:
      - {name: 1-30-2, version: 1.30.2}
      - {name: 1-30-3, version: 1.30.3}
    tags: {stable: 1-30-2, canary: 1-30-3}
    defaultRevision: stable
    meshConfig:
      outboundTrafficPolicy: {mode: REGISTRY_ONLY}
      accessLogFile: /dev/stdout
      accessLogEncoding: JSON
    replicas: {pilot: 2}
  - {name: lab, revisions: [{name: lab-1-30-3, version: 1.30.3}]}
tenants:
  - {name: cart}
  - {name: checkout, revision: canary}
  - {name: search, revision: 1-30-3}
  - {name: sandbox, mesh: lab}
"""


def istiod_values(mesh, revision) -> dict:
    return istiod_release(mesh, revision, HELM).values


def load(text: str):
    return parse_tenants(textwrap.dedent(text).lstrip("\n"), "tenants.yaml")


def _mesh(config, name):
    return next(m for m in config.meshes if m.name == name)


def _guide_label(labels: dict) -> dict:
    """The guide's labels, with its `usergroup` key spelt as the program's mesh label."""
    return {(MESH_LABEL if key == GUIDE_LABEL else key): value for key, value in labels.items()}


# --- The upstream guide, field by field ---------------------------------------------------


@pytest.mark.parametrize("operator", reference_params(guide_istio_operators, lambda iop: iop["spec"]["revision"]))
def test_istiod_values_match_the_guides_control_planes(operator):
    """revision, discovery selectors and istioNamespace as the guide's IstioOperator sets them."""
    spec = operator["spec"]
    mesh = _mesh(load(GUIDE_FILE), spec["revision"])
    (revision,) = mesh.revision_list
    values = istiod_values(mesh, revision)
    assert values["revision"] == spec["revision"]
    assert values["meshConfig"]["discoverySelectors"] == [
        {"matchLabels": _guide_label(selector["matchLabels"])} for selector in spec["meshConfig"]["discoverySelectors"]
    ]
    assert values["global"]["istioNamespace"] == spec["values"]["global"]["istioNamespace"] == operator["metadata"]["namespace"]
    # The guide's ENABLE_ENHANCED_RESOURCE_SCOPING is on by default since 1.22 (and gone in 1.25).
    assert "ENABLE_ENHANCED_RESOURCE_SCOPING" not in values["env"]


def test_namespaces_carry_the_labels_the_guide_gives_them():
    config = load(GUIDE_FILE)
    guide = guide_namespace_labels()
    ours = {m.namespace_name: mesh_namespace(m)["metadata"]["labels"] for m in config.meshes}
    ours.update({t.namespace_name: injection_labels(placement(config, t)) for t in config.tenants})
    for namespace, labels in guide.items():
        assert _guide_label(labels).items() <= ours[namespace].items(), namespace
    # The second application namespace of usergroup-1 is labelled as the guide labels its first.
    assert ours["app-ns-4"] == ours["app-ns-1"]
    # Revision labels only: Istio's revision webhooks skip namespaces labelled istio-injection.
    assert all("istio-injection" not in ours[t.namespace_name] for t in config.tenants)


def test_each_namespace_is_selected_by_exactly_one_mesh():
    config = load(GUIDE_FILE)
    namespaces = [mesh_namespace(m) for m in config.meshes]
    namespaces += [{"metadata": {"name": t.namespace_name, "labels": injection_labels(placement(config, t))}} for t in config.tenants]
    for ns in namespaces:
        labels = ns["metadata"]["labels"]
        selecting = [
            m.name for m in config.meshes
            for selector in istiod_values(m, m.revision_list[0])["meshConfig"]["discoverySelectors"]
            if selector["matchLabels"].items() <= labels.items()
        ]
        assert len(selecting) == 1, (ns["metadata"]["name"], selecting)


def test_each_mesh_namespace_enforces_strict_mtls():
    for mesh in load(GUIDE_FILE).meshes:
        policy = mesh_mtls(mesh)
        assert (policy["metadata"]["namespace"], policy["spec"]) == (mesh.namespace_name, {"mtls": {"mode": "STRICT"}})
        assert schema_errors(policy) == []


def test_a_file_without_meshes_keeps_injection_as_before():
    config = load("tenants: [{name: a}]\n")
    place = placement(config, config.tenants[0])
    assert (place.mesh, place.namespace, place.revision) == (None, "istio-system", None)
    assert injection_labels(place) == {"istio-injection": "enabled"}
    assert revision_labels(place) == {}
    meshes = load(GUIDE_FILE)
    assert revision_labels(placement(meshes, meshes.tenants[0])) == {"istio.io/rev": "usergroup-1"}


# --- Values checked against the istiod chart 1.30.3 ---------------------------------------

# Read by the chart's zzz_profile.yaml template, not listed in its values.yaml.
PROFILE_KEYS = {"profile", "platform"}


@pytest.mark.parametrize("text", [GUIDE_FILE, CANARY_FILE], ids=["guide", "canary"])
def test_istiod_values_use_only_keys_of_the_chart(text):
    known = istiod_chart_keys()
    for mesh in load(text).meshes:
        for revision in mesh.revision_list:
            values = istiod_values(mesh, revision)
            assert set(unknown_keys(values, known)) <= PROFILE_KEYS
            assert list(sail_meshconfig_validator().iter_errors(values["meshConfig"])) == []


def test_mesh_settings_reach_every_revision():
    mesh = _mesh(load(CANARY_FILE), "shop")
    for revision in mesh.revision_list:
        values = istiod_values(mesh, revision)
        assert values["revision"] == revision.name
        assert values["meshConfig"] == {
            # The hardening of every control plane (builders/mesh_settings.py) ...
            "ingressControllerMode": "OFF",
            "defaultVirtualServiceExportTo": ["."],
            "defaultDestinationRuleExportTo": ["."],
            "defaultServiceExportTo": ["."],
            # ... and the mesh's own settings.
            "discoverySelectors": [{"matchLabels": {MESH_LABEL: "shop"}}],
            "outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"},
            "accessLogFile": "/dev/stdout",
            "accessLogEncoding": "JSON",
        }
        # Two replicas that the chart's autoscaler does not scale back down.
        assert (values["replicaCount"], values["autoscaleMin"], values["autoscaleMax"]) == (2, 2, 5)
        assert values["env"] == {"PILOT_SCOPE_GATEWAY_TO_NAMESPACE": "true", "ENABLE_DEBUG_ON_HTTP": "false", "PILOT_JWT_ENABLE_REMOTE_JWKS": "envoy"}


def test_each_revision_is_a_release_of_its_own_with_its_version():
    mesh = _mesh(load(CANARY_FILE), "shop")
    releases = [istiod_release(mesh, r, HELM) for r in mesh.revision_list]
    assert [(r.chart, r.name, r.namespace) for r in releases] == [
        ("istiod", "istiod-1-30-2", "shop-system"),
        ("istiod", "istiod-1-30-3", "shop-system"),
    ]
    # Images of the revision's own release, whatever the stack's istioVersion.
    assert [r.values["global"]["tag"] for r in releases] == ["1.30.2", "1.30.3"]
    assert [r.values["global"]["istioNamespace"] for r in releases] == ["shop-system"] * 2
    demo = load("meshes: [{name: a, profile: demo}]\n").meshes[0]
    assert istiod_values(demo, demo.revision_list[0])["profile"] == "demo"


# --- Tenants on revisions and tags ----------------------------------------------------------


def test_tenants_are_labelled_with_their_tag_or_revision():
    config = load(CANARY_FILE)
    labels = {t.name: injection_labels(placement(config, t)) for t in config.tenants}
    assert labels == {
        "cart": {MESH_LABEL: "shop", "istio.io/rev": "stable"},
        "checkout": {MESH_LABEL: "shop", "istio.io/rev": "canary"},
        "search": {MESH_LABEL: "shop", "istio.io/rev": "1-30-3"},
        "sandbox": {MESH_LABEL: "lab", "istio.io/rev": "lab-1-30-3"},
    }
    shop = _mesh(config, "shop")
    assert [resolve(shop, name).name for name in ("stable", "canary", "1-30-3")] == ["1-30-2", "1-30-3", "1-30-3"]


def test_tag_objects_are_the_charts_revision_tag_objects():
    """The webhook and Service the istiod chart renders for `revisionTags: [stable]` on revision
    1-30-2, read from its templates: the program builds them itself, so a tag move updates them in place."""
    mesh = _mesh(load(CANARY_FILE), "shop")
    webhook, service = revision_tag_objects(mesh)["stable"]
    assert webhook["webhooks"] == chart_tag_webhooks("stable", "1-30-2", "shop-system")
    assert webhook["metadata"]["name"] == "istio-revision-tag-stable-shop-system"
    assert {"istio.io/tag": "stable", "istio.io/rev": "1-30-2"}.items() <= webhook["metadata"]["labels"].items()
    assert service["spec"] == chart_tag_service_spec("stable", "1-30-2")
    assert (service["metadata"]["name"], service["metadata"]["namespace"]) == ("istiod-revision-tag-stable", "shop-system")
    assert schema_errors(webhook) == [] and schema_errors(service) == []


def test_moving_a_tag_changes_only_where_its_objects_point():
    before = load(CANARY_FILE)
    after = load(CANARY_FILE.replace("tags: {stable: 1-30-2, canary: 1-30-3}", "tags: {stable: 1-30-3, canary: 1-30-3}"))
    old = revision_tag_objects(_mesh(before, "shop"))["stable"]
    new = revision_tag_objects(_mesh(after, "shop"))["stable"]
    assert [o["metadata"]["name"] for o in old] == [o["metadata"]["name"] for o in new]
    assert old != new
    as_text = [str(o).replace("1-30-2", "1-30-3") for o in old]
    assert as_text == [str(o) for o in new]
    # The tenants on the tag keep their label: only the tag's objects change.
    assert [injection_labels(placement(before, t)) for t in before.tenants] == [injection_labels(placement(after, t)) for t in after.tenants]
    assert [istiod_values(m, r) for m in before.meshes for r in m.revision_list] == [
        istiod_values(m, r) for m in after.meshes for r in m.revision_list
    ]


def test_a_tag_webhook_outside_istio_system_is_named_after_the_namespace_too():
    config = load("meshes: [{name: m, namespace: istio-system, revisions: [{name: r1}], tags: {stable: r1}}]\n")
    assert tag_webhook(config.meshes[0], "stable", "r1")["metadata"]["name"] == "istio-revision-tag-stable"
    assert tag_service(config.meshes[0], "stable", "r1")["metadata"]["namespace"] == "istio-system"


# --- Istio's default revision: the platform mesh keeps the istiod of a stack without meshes ---

DEFAULT_REVISION_FILE = """
meshes:
  - name: platform
    namespace: istio-system
    revisions: [{name: default}, {name: 1-30-3}]
    tags: {stable: default, canary: 1-30-3}
    defaultRevision: default
  - {name: lab, revisions: [{name: lab-1-30-3}]}
tenants:
  - {name: cart}
  - {name: checkout, revision: canary}
  - {name: search, revision: stable}
  - {name: sandbox, mesh: lab}
"""


def test_the_default_revision_is_the_istiod_release_without_a_revision():
    platform = _mesh(load(DEFAULT_REVISION_FILE), "platform")
    default, canary = platform.revision_list
    release = istiod_release(platform, default, HELM)
    # The release, and so its Deployment, Service and webhooks, keep the names of a stack without meshes.
    assert (release.name, release.namespace) == ("istiod", "istio-system") == (ISTIOD_RELEASE, "istio-system")
    assert "revision" not in release.values
    assert release.values["meshConfig"]["discoverySelectors"] == [{"matchLabels": {MESH_LABEL: "platform"}}]
    assert set(unknown_keys(release.values, istiod_chart_keys())) <= PROFILE_KEYS
    assert (istiod_release(platform, canary, HELM).name, istiod_values(platform, canary)["revision"]) == ("istiod-1-30-3", "1-30-3")


def test_tenants_on_the_default_revision_keep_istio_injection():
    config = load(DEFAULT_REVISION_FILE)
    places = {t.name: placement(config, t) for t in config.tenants}
    assert {name: injection_labels(place) for name, place in places.items()} == {
        "cart": {MESH_LABEL: "platform", "istio-injection": "enabled"},
        "checkout": {MESH_LABEL: "platform", "istio.io/rev": "canary"},
        "search": {MESH_LABEL: "platform", "istio.io/rev": "stable"},
        "sandbox": {MESH_LABEL: "lab", "istio.io/rev": "lab-1-30-3"},
    }
    # A Gateway API Gateway without istio.io/rev is deployed by the default revision, as without meshes.
    assert revision_labels(places["cart"]) == {} and revision_labels(places["checkout"]) == {"istio.io/rev": "canary"}


def test_a_tag_on_the_default_revision_points_at_istiod_as_the_chart_would():
    platform = _mesh(load(DEFAULT_REVISION_FILE), "platform")
    webhook, service = revision_tag_objects(platform)["stable"]
    assert webhook["webhooks"] == chart_tag_webhooks("stable", "default", "istio-system")
    assert {hook["clientConfig"]["service"]["name"] for hook in webhook["webhooks"]} == {"istiod"}
    # The chart selects `istio: pilot`, which every revision's pods carry; `istio.io/rev: default`
    # is the label the chart gives the default revision's pods alone (deployment.yaml).
    assert service["spec"]["selector"] == {"app": "istiod", "istio.io/rev": "default"}
    deployment = reference(*ISTIOD_CHART, "templates", "deployment.yaml").read_text()
    assert 'istio.io/rev: {{ .Values.revision | default "default" | quote }}' in deployment
    assert schema_errors(webhook) == [] and schema_errors(service) == []


def test_admission_knows_the_default_revisions_istiod():
    assert istiod_users(load(DEFAULT_REVISION_FILE)) == [
        "system:serviceaccount:istio-system:istiod", "system:serviceaccount:istio-system:istiod-1-30-3",
        "system:serviceaccount:lab:istiod-lab-1-30-3",
    ]


def test_on_sail_the_default_revision_is_the_istio_named_default():
    config = load(DEFAULT_REVISION_FILE)
    istios, tags = mesh_resources(_mesh(config, "platform"), "1.30.3")
    assert [i["metadata"]["name"] for i in istios] == ["default", "1-30-3"]
    assert {t["metadata"]["name"]: t["spec"]["targetRef"]["name"] for t in tags} == {"canary": "1-30-3", "stable": "default"}
    assert all(sail_schema_errors(obj) == [] for obj in istios + tags)


# --- Sail ----------------------------------------------------------------------------------


def test_sail_versions_are_those_the_sail_chart_ships():
    assert list(SAIL_ISTIO_VERSIONS) == sail_chart_istio_versions()
    enum = sail_crd("istios")["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["version"]["enum"]
    assert {f"v{v}" for v in SAIL_ISTIO_VERSIONS} <= set(enum)


@pytest.mark.parametrize("text", [GUIDE_FILE, CANARY_FILE], ids=["guide", "canary"])
def test_sail_resources_validate_against_the_sail_crds(text):
    for mesh in load(text).meshes:
        istios, tags = mesh_resources(mesh, "1.30.3")
        for obj in istios + tags:
            assert sail_schema_errors(obj) == [], obj["metadata"]["name"]


def test_sail_istio_resources_match_the_guide_and_the_helm_values():
    config = load(GUIDE_FILE)
    for operator in guide_istio_operators():
        spec = operator["spec"]
        mesh = _mesh(config, spec["revision"])
        (istio,), tags = mesh_resources(mesh, "1.30.3")
        # Sail names an InPlace Istio's revision after the Istio: the guide's revision.
        assert istio["metadata"]["name"] == spec["revision"]
        assert istio["spec"]["updateStrategy"] == {"type": "InPlace"}
        assert istio["spec"]["namespace"] == istio["spec"]["values"]["global"]["istioNamespace"] == operator["metadata"]["namespace"]
        helm = istiod_values(mesh, mesh.revision_list[0])
        assert istio["spec"]["values"]["meshConfig"] == helm["meshConfig"]
        assert istio["spec"]["values"]["pilot"]["env"] == helm["env"]
        assert istio["metadata"]["annotations"] == {"pulumi.com/waitFor": "condition=Ready"}
        assert tags == []


def test_a_mesh_with_two_revisions_is_two_sail_istios_and_tags_point_at_them():
    mesh = _mesh(load(CANARY_FILE), "shop")
    istios, tags = mesh_resources(mesh, "1.30.3")
    assert [(i["metadata"]["name"], i["spec"]["version"], i["spec"]["namespace"]) for i in istios] == [
        ("1-30-2", "v1.30.2", "shop-system"),
        ("1-30-3", "v1.30.3", "shop-system"),
    ]
    assert {t["metadata"]["name"]: t["spec"]["targetRef"] for t in tags} == {
        "canary": {"kind": "Istio", "name": "1-30-3"},
        "stable": {"kind": "Istio", "name": "1-30-2"},
    }
    # Cluster-scoped, as the CRDs are: no namespace on either kind.
    assert all("namespace" not in o["metadata"] for o in istios + tags)
    assert {sail_crd(p)["spec"]["scope"] for p in ("istios", "istiorevisiontags")} == {"Cluster"}


def test_a_revision_without_version_gets_the_stacks():
    mesh = load(GUIDE_FILE).meshes[0]
    assert istio_resource(mesh, mesh.revision_list[0], "1.30.2")["spec"]["version"] == "v1.30.2"


def test_sail_version_problem():
    assert version_problem(InstallMethod.SAIL, "1.30.3") is None
    assert version_problem(InstallMethod.SAIL, "1.31.1", "version") == (
        "Istio 1.31.1 is not a release the Sail operator 1.30.3 installs (1.28.0 to 1.30.3): use version 1.30.3"
    )
    assert version_problem(InstallMethod.SAIL, "1.30.5") == (
        "Istio 1.30.5 is not a release the Sail operator 1.30.3 installs (1.28.0 to 1.30.3): use istioVersion 1.30.3, "
        "or installMethod: helm"
    )


def test_the_cni_agent_validates_against_the_sail_crd():
    cni = cni_resource("1.30.3")
    assert sail_schema_errors(cni) == []
    # The IstioCNI CRD's own rule (x-kubernetes-validations): metadata.name must be 'default'.
    assert [v["rule"] for v in sail_crd("istiocnis")["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["x-kubernetes-validations"]] == [
        "self.metadata.name == 'default'"
    ]
    assert cni["metadata"]["name"] == "default"


def test_a_mesh_version_the_install_method_does_not_support_is_an_error():
    text = CANARY_FILE.replace("{name: 1-30-3, version: 1.30.3}", "{name: 1-31-1, version: 1.31.1}").replace(
        "canary: 1-30-3", "canary: 1-31-1").replace("revision: 1-30-3", "revision: 1-31-1")
    load(text)  # the file itself is sound
    with pytest.raises(ConfigError) as caught:
        parse_tenants(textwrap.dedent(text).lstrip("\n"), "tenants.yaml", tenants_file_rules(InstallMethod.HELM))
    assert str(caught.value).splitlines() == [
        "tenants.yaml:6: meshes[shop].revisions[1-31-1].version: Istio 1.31.1 is not validated for installMethod: helm, "
        "which supports Istio 1.30 (validated with the 1.30.3 charts): use version 1.30.3"
    ]


def test_the_operator_install_refuses_meshes_and_says_what_to_use():
    with pytest.raises(ConfigError) as caught:
        parse_tenants(textwrap.dedent(GUIDE_FILE).lstrip("\n"), "tenants.yaml", tenants_file_rules(InstallMethod.OPERATOR))
    assert str(caught.value).splitlines() == [
        "tenants.yaml:1: meshes: installMethod: operator installs the one platform control plane (the in-cluster "
        "operator runs one Istio version, 1.22 or 1.23, for the whole cluster); several meshes and revisions need "
        "installMethod: helm or sail"
    ]
    parse_tenants("tenants: [{name: a}]\n", "tenants.yaml", tenants_file_rules(InstallMethod.OPERATOR))


def test_each_mesh_profile_is_one_the_install_method_takes():
    with pytest.raises(ConfigError) as caught:
        parse_tenants("meshes: [{name: a}, {name: b, profile: minimal}]\n", "tenants.yaml", tenants_file_rules(InstallMethod.HELM))
    assert str(caught.value).splitlines() == [
        "tenants.yaml:1: meshes[b].profile: profile 'minimal' is not one installMethod: helm takes; use default, demo, "
        "preview or stable (the istiod chart installs no gateway, so `default` is what `minimal` was)"
    ]
