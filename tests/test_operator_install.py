"""IstioOperatorInstall matches what `istioctl operator init` installs for 1.23.6 (chart + golden output)."""

import yaml

from builders.operator import operator_objects
from tests.support import find, reference

VERSION = "1.23.6"
GOLDEN_NAMESPACE = "operator-test-namespace"


def _golden(kind: str, file: str = "operator-init.yaml") -> dict:
    docs = [d for d in yaml.safe_load_all(reference("istio", "istio-operator-golden", file).read_text()) if d]
    (doc,) = [d for d in docs if d["kind"] == kind]
    return doc


def _only_document(text: str) -> dict:
    (doc,) = [d for d in yaml.safe_load_all(text) if d]
    return doc


def _in_our_namespace(obj: dict) -> dict:
    """The golden file was rendered into a test namespace; ours is istio-operator."""
    text = yaml.safe_dump(obj).replace(GOLDEN_NAMESPACE, "istio-operator")
    return yaml.safe_load(text)


def _ours(kind: str) -> dict:
    return find(operator_objects(VERSION, ["istio-system"]), kind, "istio-operator", None if kind.startswith("Cluster") else "istio-operator")


def test_installs_exactly_the_operator_init_kinds_plus_namespace():
    kinds = [o["kind"] for o in operator_objects(VERSION, ["istio-system"])]
    golden = sorted(d["kind"] for d in yaml.safe_load_all(reference("istio", "istio-operator-golden", "operator-init.yaml").read_text()) if d)
    assert sorted(k for k in kinds if k != "Namespace") == golden
    assert kinds.count("Namespace") == 1


def test_crd_is_the_upstream_crd():
    upstream = _only_document(reference("istio", "crd-operator.yaml").read_text())
    ours = find(operator_objects(VERSION, ["istio-system"]), "CustomResourceDefinition", "istiooperators.install.istio.io")
    assert ours == upstream


def test_cluster_role_rules_are_the_charts():
    template = reference("istio", "istio-operator-chart", "templates", "clusterrole.yaml").read_text()
    chart = _only_document("\n".join(line for line in template.splitlines() if "{{" not in line))
    assert _ours("ClusterRole")["rules"] == chart["rules"]
    # The older golden file lacks telemetry/extensions; everything it grants we grant too.
    for rule in _golden("ClusterRole")["rules"]:
        assert rule in chart["rules"]


def test_binding_account_service_match_golden():
    for kind in ("ClusterRoleBinding", "ServiceAccount", "Service"):
        golden = _in_our_namespace(_golden(kind))
        ours = _ours(kind)
        assert {k: v for k, v in ours.items() if k != "metadata"} == {k: v for k, v in golden.items() if k != "metadata"}, kind
        assert ours["metadata"]["name"] == golden["metadata"]["name"]
        assert ours["metadata"].get("namespace") == golden["metadata"].get("namespace")


def test_deployment_matches_golden_with_release_values():
    golden = _in_our_namespace(_golden("Deployment"))
    container = golden["spec"]["template"]["spec"]["containers"][0]
    container["image"] = f"docker.io/istio/operator:{VERSION}"
    env = {e["name"]: e for e in container["env"]}
    env["WATCH_NAMESPACE"]["value"] = "istio-system"
    # The golden file leaves fieldRef.apiVersion to the API server's default; we send that default
    # (a server-side apply after an interrupted `pulumi up` conflicts otherwise: e2e test_4).
    env["POD_NAME"]["valueFrom"]["fieldRef"].setdefault("apiVersion", "v1")
    ours = _ours("Deployment")
    assert ours["spec"] == golden["spec"]
    assert ours["metadata"] == golden["metadata"]


def test_namespace_labels_match_istioctl():
    golden = _golden("Namespace", "operator-remove.yaml")
    assert _ours_namespace()["metadata"] == golden["metadata"]


def _ours_namespace() -> dict:
    return find(operator_objects(VERSION, ["istio-system"]), "Namespace", "istio-operator")


def test_version_and_watched_namespaces_flow_through():
    objs = operator_objects("1.22.8", ["mesh-a", "mesh-b"])
    container = find(objs, "Deployment", "istio-operator", "istio-operator")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "docker.io/istio/operator:1.22.8"
    assert {"name": "WATCH_NAMESPACE", "value": "mesh-a,mesh-b"} in container["env"]
