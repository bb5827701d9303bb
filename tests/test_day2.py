"""Day-2 safety: a second stack, stable identity, nothing lost, ordered first deploys, outputs."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import yaml

from builders.meta import TENANT_LABEL
from components.tenant_removal import TYPE as REMOVAL_TYPE
from render.engine import PROJECT_ROOT, ProgramRun, read_stack_config
from render.output import resources_json
from tests.support import chart_values, deployed_gateway, find, objects, of_kind, registration_of, run, schema_errors

TENANT_MESH = "istio-multitenancy:index:TenantMesh"
WAIT_FOR = "pulumi.com/waitFor"

# Two servers and two routes per tenant, one route answering every served host: the cases
# where the order in the file could leak into the objects.
ORDERED = {
    "tenants": [
        {
            "name": name,
            "gateway": {
                "servers": [
                    {"port": 80, "protocol": "HTTP", "hosts": [f"{name}.example.com"]},
                    {"port": 443, "protocol": "HTTPS", "hosts": [f"api.{name}.example.com"],
                     "tls": {"mode": "SIMPLE", "credentialName": f"{name}-tls"}},
                ]
            },
            "routes": [
                {"name": "web", "http": [{"to": {"service": "web", "port": 8080}}]},
                {"name": "api", "hosts": [f"api.{name}.example.com"], "http": [{"to": {"service": "api", "port": 9090}}]},
            ],
        }
        for name in ("alpha", "bravo", "charlie")
    ]
}


def run_document(document: dict, tmp_path: Path, stack: str = "dev") -> ProgramRun:
    tmp_path.mkdir(parents=True, exist_ok=True)
    return run(stack, yaml.safe_dump(document, sort_keys=False), tmp_path)


def registrations(program: ProgramRun) -> dict[str, tuple]:
    """Everything the engine is told per URN; registration order left out."""
    return {
        r.urn: (r.type, r.parent, r.provider, r.dependencies, r.protect, r.retain_on_delete, r.aliases, r.inputs)
        for r in program.registrations
    }


@pytest.fixture(scope="module")
def prod_run() -> ProgramRun:
    return run("prod")


# --- A second stack ---------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "prod", "classic", "meshes"])
def test_every_object_of_each_stack_matches_its_upstream_schema(stack):
    errors = {f"{o['kind']} {o['metadata']['name']}": schema_errors(o) for o in objects(run(stack))}
    assert {name: e for name, e in errors.items() if e} == {}


def _field_refs(node) -> list[dict]:
    if isinstance(node, dict):
        return ([node["fieldRef"]] if isinstance(node.get("fieldRef"), dict) else []) + [r for v in node.values() for r in _field_refs(v)]
    return [r for v in node for r in _field_refs(v)] if isinstance(node, list) else []


@pytest.mark.parametrize("stack", ["dev", "prod", "classic", "meshes"])
def test_every_field_ref_names_the_api_version_the_server_would_default(stack):
    # A fieldRef is atomic to server-side apply: sent without apiVersion, the stored one (v1)
    # differs, and the next apply by another field manager (the update after an interrupted
    # `pulumi up`) is a conflict (e2e test_4).
    refs = [(o["kind"], o["metadata"]["name"], r) for o in objects(run(stack)) for r in _field_refs(o)]
    assert [r for r in refs if "apiVersion" not in r[2]] == []
    if stack == "classic":
        assert refs  # the operator's Deployment has one


def test_prod_talks_to_another_cluster(dev_run, prod_run):
    def context(program: ProgramRun) -> str:
        (provider,) = [r for r in program.registrations if r.type == "pulumi:providers:kubernetes"]
        return provider.inputs["context"]

    assert context(prod_run) == read_stack_config("prod")["istio-multitenancy:kubeContext"]
    assert context(prod_run) != context(dev_run)


def test_prod_replicates_the_control_plane_and_every_gateway(prod_run):
    tenants = yaml.safe_load((PROJECT_ROOT / "tenants" / "prod.yaml").read_text())
    replicas = tenants["controlPlane"]["replicas"]
    istiod = chart_values(prod_run, "istiod", "istio-system")
    assert istiod["replicaCount"] == istiod["autoscaleMin"] == replicas["pilot"] > 1
    assert deployed_gateway(prod_run, "istio-ingressgateway", "istio-system").replicas == replicas["ingressGateway"] > 1
    for tenant in tenants["tenants"]:
        gateway = deployed_gateway(prod_run, tenant["gateway"]["name"], tenant["name"])
        assert gateway.replicas == tenant["gateway"]["replicas"] > 1


def test_prod_tenants_serve_only_https_on_explicit_hosts(prod_run):
    gateways = [g for g in of_kind(objects(prod_run), "Gateway") if TENANT_LABEL in g["metadata"].get("labels", {})]
    assert gateways
    for gateway in gateways:
        for server in gateway["spec"]["servers"]:
            assert server["port"]["protocol"] == "HTTPS"
            assert server["tls"]["mode"] == "SIMPLE" and server["tls"]["credentialName"]
            assert "*" not in server["hosts"]
    for service in of_kind(objects(prod_run), "VirtualService"):
        assert "*" not in service["spec"]["hosts"]


# --- Stable identity ----------------------------------------------------------------------


def test_reordering_tenants_servers_and_routes_changes_nothing(tmp_path):
    reordered = copy.deepcopy(ORDERED)
    reordered["tenants"].reverse()
    for tenant in reordered["tenants"]:
        tenant["gateway"]["servers"].reverse()
        tenant["routes"].reverse()
    first = registrations(run_document(ORDERED, tmp_path / "a"))
    second = registrations(run_document(reordered, tmp_path / "b"))
    assert first.keys() == second.keys()
    assert [urn for urn in first if first[urn] != second[urn]] == []


def test_the_registration_comparison_sees_a_real_change(tmp_path):
    # The comparison above must be able to fail: another route changes the registrations.
    changed = copy.deepcopy(ORDERED)
    changed["tenants"][0]["routes"].append({"name": "extra", "http": [{"to": {"service": "x", "port": 1}}]})
    assert registrations(run_document(ORDERED, tmp_path / "a")) != registrations(run_document(changed, tmp_path / "b"))


def test_every_child_of_a_tenant_is_named_after_the_tenant(dev_run):
    by_urn = dev_run.by_urn()
    children = [r for r in dev_run.registrations if by_urn.get(r.parent) and by_urn[r.parent].type == TENANT_MESH]
    assert children
    for child in children:
        assert child.name.startswith(by_urn[child.parent].name + "/"), child.urn


def _inherited_alias(child_urn: str, new_parent: str, old_parent: str) -> str:
    """The URN Pulumi derives for a child from its parent's alias (`inherited_child_alias`)."""
    prefix, _, name = child_urn.rpartition("::")
    assert name.startswith(new_parent)
    return f"{prefix}::{old_parent}{name[len(new_parent):]}"


def test_a_rename_with_previous_names_keeps_every_resource_that_keeps_its_object(tmp_path):
    before = {"tenants": [{"name": "payments", "routes": ORDERED["tenants"][0]["routes"][:1]}]}
    after = copy.deepcopy(before)
    after["tenants"][0].update(
        name="billing", previousNames=["payments"], namespace="payments", gateway={"name": "payments-ingressgw"}
    )
    old, new = run_document(before, tmp_path / "old"), run_document(after, tmp_path / "new")

    component = next(r for r in new.registrations if r.type == TENANT_MESH)
    assert component.name == "billing"
    assert {"spec": {"name": "payments", "parentUrn": ""}} in component.aliases

    def identity(r) -> tuple:
        if r.type == "kubernetes:helm.sh/v4:Chart":
            # The chart's objects are named after their own namespace and name (no prefix): a
            # pinned namespace and gateway keep them whatever the chart resource is called.
            assert r.inputs["resourcePrefix"] == ""
            return "Chart", r.inputs["namespace"], r.inputs["name"]
        if r.type == REMOVAL_TYPE:
            return "TenantRemoval", r.inputs["namespace"]
        return r.inputs["kind"], r.inputs["metadata"].get("namespace"), r.inputs["metadata"]["name"]

    old_urns = {identity(r): r.urn for r in old.registrations if r.is_kubernetes_object or r.type.endswith(":Chart") or r.type == REMOVAL_TYPE}
    replaced = []
    for child in new.registrations:
        if child.parent != component.urn:
            continue
        assert child.name.startswith("billing/")
        if identity(child) in old_urns:
            assert _inherited_alias(child.urn, "billing", "payments") == old_urns[identity(child)]
        else:
            replaced.append(identity(child))
    # With the namespace and the gateway pinned, only the Gateway object, named after the
    # tenant, is replaced; everything else (the namespace first) keeps its identity.
    assert replaced == [("Gateway", "payments", "billing-gateway")]


def test_an_unpinned_rename_would_move_the_namespace(tmp_path):
    renamed = {"tenants": [{"name": "billing", "previousNames": ["payments"]}]}
    namespaces = [o["metadata"]["name"] for o in of_kind(objects(run_document(renamed, tmp_path)), "Namespace")]
    assert "billing" in namespaces and "payments" not in namespaces


# --- Nothing lost -------------------------------------------------------------------------


def _namespace_entry(program: ProgramRun, namespace: str) -> dict:
    entries = json.loads(resources_json(program))
    (entry,) = [e for e in entries if e["type"] == "kubernetes:core/v1:Namespace" and e["urn"].endswith(f"/{namespace}")]
    return entry


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_tenant_namespaces_are_retained_when_the_tenant_is_removed(stack):
    program = run(stack)
    tenants = yaml.safe_load((PROJECT_ROOT / "tenants" / f"{stack}.yaml").read_text())["tenants"]
    for tenant in tenants:
        options = _namespace_entry(program, tenant.get("namespace", tenant["name"]))["options"]
        assert options["retainOnDelete"] is True
        assert options["protect"] is False  # a retained namespace can still be removed from the stack


def test_decommission_lets_the_namespace_go(tmp_path):
    document = {"tenants": [{"name": "keep"}, {"name": "leaving", "decommission": True}]}
    program = run_document(document, tmp_path)
    assert _namespace_entry(program, "keep")["options"]["retainOnDelete"] is True
    assert _namespace_entry(program, "leaving")["options"]["retainOnDelete"] is False
    assert registration_of(program, "Namespace", "leaving").retain_on_delete is False


@pytest.mark.parametrize(
    "stack, namespace", [("classic", "istio-operator"), ("classic", "istio-system"), ("dev", "istio-system")]
)
def test_platform_namespaces_are_protected(stack, namespace):
    assert registration_of(run(stack), "Namespace", namespace).protect is True


# --- First deploy in one `pulumi up` (the Helm path's ordering: tests/test_install_paths.py) ----


def test_both_istio_operator_kinds_wait_for_healthy(classic_run):
    operators = of_kind(objects(classic_run), "IstioOperator")
    assert len(operators) == 3  # the control plane and one gateway per tenant
    for operator in operators:
        assert operator["metadata"]["annotations"][WAIT_FOR] == "jsonpath={.status.status}=HEALTHY"


def test_tenant_objects_wait_for_the_control_plane_and_their_gateway(classic_run):
    control_plane = registration_of(classic_run, "IstioOperator", "platform-istiocontrolplane", "istio-system")
    crd = registration_of(classic_run, "CustomResourceDefinition", "istiooperators.install.istio.io")
    assert crd.urn in control_plane.dependencies
    for tenant, gateway_name in (("workspace-1", "wk1-ingressgw"), ("workspace-2", "wk2-ingressgw")):
        operator = registration_of(classic_run, "IstioOperator", gateway_name, "istio-system")
        assert control_plane.urn in operator.dependencies
        gateway = registration_of(classic_run, "Gateway", f"{tenant}-gateway", tenant)
        assert operator.urn in gateway.dependencies
        route = registration_of(classic_run, "VirtualService", "bookinfo", tenant)
        assert control_plane.urn in route.dependencies


def test_requirements_pin_the_pulumi_kubernetes_that_honours_wait_for():
    text = (PROJECT_ROOT / "requirements.txt").read_text()
    (bound,) = re.findall(r"^pulumi-kubernetes>=([0-9.]+)", text, re.M)
    assert tuple(int(p) for p in bound.split(".")) >= (4, 18, 4)


# --- Stack outputs ------------------------------------------------------------------------


def test_outputs_describe_each_tenant_as_the_file_configures_it(tmp_path):
    document = {
        "observability": {
            "domain": "ops.example.org", "credentialName": "ops-tls", "addons": {"kiali": True, "prometheus": True, "tracing": True},
            "oidc": {"issuer": "https://login.example.org", "clientId": "ops", "clientSecret": "ops-oidc", "platformGroups": ["ops"]},
        },
        "tenants": [
            {"name": "plain"},
            {"name": "custom", "namespace": "team-custom",
             "gateway": {"name": "edge", "labels": {"gw": "custom"},
                         "servers": [{"port": 8443, "protocol": "HTTPS", "hosts": ["a.example.org", "b.example.org"],
                                      "tls": {"mode": "SIMPLE", "credentialName": "custom-tls"}}]}},
        ],
    }
    outputs = run_document(document, tmp_path).outputs
    assert outputs["tenants"]["plain"] == {
        "namespace": "plain",
        "gatewayService": "plain-ingressgw",
        "gatewayServiceHost": "plain-ingressgw.plain.svc.cluster.local",
        "selector": {"istio": "ingressgateway-plain", "app": "istio-ingressgateway-plain"},
        "hosts": ["*"],
    }
    assert outputs["tenants"]["custom"] == {
        "namespace": "team-custom",
        "gatewayService": "edge",
        "gatewayServiceHost": "edge.team-custom.svc.cluster.local",
        "selector": {"gw": "custom"},
        "hosts": ["a.example.org", "b.example.org"],
    }
    assert outputs["observability"] == {
        # Who gets past each login: the mesh-wide add-ons let only the platform's groups through.
        "kiali": {"url": "https://kiali.ops.example.org", "login": True,
                  "readers": "anyone the issuer logs in: the namespaces their own Kubernetes RBAC lets them read"},
        "prometheus": {"url": "https://prometheus.ops.example.org", "login": True,
                       "readers": "the platform's groups (ops): every tenant's data"},
        "tracing": {"url": "https://tracing.ops.example.org", "login": True,
                    "readers": "the platform's groups (ops): every tenant's data"},
    }


@pytest.mark.parametrize("stack", ["prod", "classic"])
def test_output_selectors_are_what_the_tenant_gateways_select(stack):
    program = run(stack)
    for name, tenant in program.outputs["tenants"].items():
        gateway = find(objects(program), "Gateway", f"{name}-gateway", tenant["namespace"])
        assert gateway["spec"]["selector"] == tenant["selector"]
        deployed = deployed_gateway(program, tenant["gatewayService"], tenant["namespace"])
        assert tenant["selector"].items() <= deployed.labels.items()


def test_a_destroy_keeps_the_admission_params_keeper_and_removes_the_rules(prod_run):
    # kubernetes/kubernetes#130887: the keeper must outlive a destroy, the rules must not.
    admission = "istio-multitenancy:index:TenantAdmission"
    for kind in ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"):
        keeper = registration_of(prod_run, kind, "istio-multitenancy-keep-params")
        assert keeper.retain_on_delete is True and admission in keeper.parent
        rules = [r for r in prod_run.registrations if r.is_kubernetes_object and r.inputs.get("kind") == kind and r is not keeper]
        assert rules and not [r.urn for r in rules if r.retain_on_delete]
