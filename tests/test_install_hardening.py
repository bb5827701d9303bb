"""Every install method gives the same protections (issue 11): istiod's hardened mesh settings and
environment, Istio CNI, the NetworkPolicy in front of every istiod, gateway pods that pass the
`restricted` Pod Security level, and admission parameters and exemptions that fit the file's
control planes, whether the file has one mesh or several."""

from __future__ import annotations

import pytest
import yaml

from builders.admission import PARAMS_NAME, platform_users
from builders.mesh_settings import gateway_chart_pod_security_context, gateway_pod_security_context, hardened_mesh_config, hardened_pilot_env
from render.engine import PROJECT_ROOT, ProgramRun
from tenants.loader import parse_tenants
from tests.support import chart_values, charts, deployed_gateway, find, objects, of_kind, registration_of, run

DEV = (PROJECT_ROOT / "tenants" / "dev.yaml").read_text(encoding="utf-8")
MESHES = (PROJECT_ROOT / "tenants" / "meshes.yaml").read_text(encoding="utf-8")
# (stack, tenants file): every install method, with one control plane and with several meshes.
SETUPS = {
    "operator": ("classic", None),
    "helm": ("dev", None),
    "sail": ("meshes", DEV),
    "helm-meshes": ("dev", MESHES),
    "sail-meshes": ("meshes", None),
}


@pytest.fixture(scope="module", params=sorted(SETUPS))
def setup(request, tmp_path_factory) -> tuple[str, ProgramRun, str]:
    stack, tenants = SETUPS[request.param]
    text = tenants if tenants is not None else (PROJECT_ROOT / "tenants" / f"{stack}.yaml").read_text(encoding="utf-8")
    return request.param, run(stack, tenants, tmp_path_factory.mktemp(request.param) if tenants else None), text


def control_planes(program: ProgramRun) -> dict[str, dict]:
    """Each istiod as its install method configures it: name -> {namespace, meshConfig, env, cni}."""
    out = {}
    for iop in of_kind(objects(program), "IstioOperator"):
        spec = iop["spec"]
        if spec.get("profile") != "empty":  # the gateways' IstioOperators run no istiod
            values = spec["values"]
            out[iop["metadata"]["name"]] = {
                "namespace": iop["metadata"]["namespace"], "meshConfig": spec.get("meshConfig", {}),
                "env": values["pilot"]["env"], "cni": values["pilot"]["cni"]["enabled"] and spec["components"]["cni"]["enabled"],
            }
    for chart in charts(program):
        if chart.inputs["chart"].endswith("istiod"):
            values = chart_values(program, chart.inputs["name"], chart.inputs["namespace"])
            out[chart.inputs["name"]] = {
                "namespace": chart.inputs["namespace"], "meshConfig": values.get("meshConfig", {}), "env": values["env"],
                "cni": values["cni"]["enabled"], "gatewayClasses": values.get("gatewayClasses"),
            }
    for istio in of_kind(objects(program), "Istio"):
        values = istio["spec"]["values"]
        out[istio["metadata"]["name"]] = {
            "namespace": istio["spec"]["namespace"], "meshConfig": values.get("meshConfig", {}), "env": values["pilot"]["env"],
            "cni": values["pilot"]["cni"]["enabled"], "gatewayClasses": values.get("gatewayClasses"),
        }
    return out


def test_every_istiod_gets_the_hardened_mesh_settings(setup):
    name, program, text = setup
    planes = control_planes(program)
    config = parse_tenants(text, "tenants.yaml")
    assert len(planes) == (sum(len(m.revision_list) for m in config.meshes) if config.meshes else 1)
    for plane in planes.values():
        assert hardened_pilot_env().items() <= plane["env"].items()
        assert plane["env"]["PILOT_JWT_ENABLE_REMOTE_JWKS"] == "envoy"  # every install path, every mesh
        assert hardened_mesh_config().items() <= plane["meshConfig"].items()
        assert plane["cni"] is True  # injected pods need no istio-init with NET_ADMIN
        if name != "operator":  # Istio 1.23 deploys no Gateway API gateways here (the rules refuse such tenants)
            security = plane["gatewayClasses"]["istio"]["deployment"]["spec"]["template"]["spec"]["securityContext"]
            assert security == {"seccompProfile": {"type": "RuntimeDefault"}}


def test_the_cni_node_agent_is_installed(setup):
    name, program, _ = setup
    if name == "operator":
        return  # the IstioOperator's components.cni, checked above
    if name.startswith("helm"):
        assert [c.inputs["name"] for c in charts(program) if c.inputs["chart"].endswith("cni")] == ["istio-cni"]
    else:
        find(objects(program), "IstioCNI", "default")


def test_istiod_is_behind_its_network_policy_in_every_control_plane_namespace(setup):
    _, program, _ = setup
    objs = objects(program)
    namespaces = {plane["namespace"] for plane in control_planes(program).values()}
    assert namespaces
    for namespace in namespaces:
        find(objs, "NetworkPolicy", "default-deny-ingress", namespace)
        policy = find(objs, "NetworkPolicy", "istiod-ingress", namespace)
        assert policy["spec"]["podSelector"] == {"matchLabels": {"app": "istiod"}}
        opened = {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}
        assert opened == {15012, 15017, 15014}  # never 15010, the unauthenticated XDS port
    assert {p["metadata"]["namespace"] for p in of_kind(objs, "NetworkPolicy") if p["metadata"]["name"] == "istiod-ingress"} == namespaces


def test_every_tenant_gateway_pod_passes_restricted(setup):
    name, program, text = setup
    config = parse_tenants(text, "tenants.yaml")
    objs = objects(program)
    for tenant in config.tenants:
        labels = find(objs, "Namespace", tenant.namespace_name)["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == tenant.pod_security.value
        if tenant.uses_gateway_api:
            continue  # istiod's gatewayClasses defaults, checked above
        if name == "operator":
            iop = find(objs, "IstioOperator", tenant.gateway_name, config.control_plane.namespace)
            assert iop["spec"]["components"]["ingressGateways"][0]["k8s"]["securityContext"] == gateway_pod_security_context()
        else:
            values = chart_values(program, tenant.gateway_name, tenant.namespace_name)
            assert values["securityContext"] == gateway_chart_pod_security_context()


def test_admission_parameters_live_with_the_platform_control_plane(setup):
    _, program, text = setup
    config = parse_tenants(text, "tenants.yaml")
    platform = (config.meshes[0].namespace_name if config.meshes else config.control_plane.namespace)
    objs = objects(program)
    params = find(objs, "ConfigMap", PARAMS_NAME, platform)
    assert {key.partition(".")[0] for key in params["data"]} == {t.namespace_name for t in config.tenants}
    bindings = of_kind(objs, "ValidatingAdmissionPolicyBinding")
    assert bindings and all(b["spec"]["paramRef"]["namespace"] == platform for b in bindings if "paramRef" in b["spec"])
    # A tenant's namespace exists only once its parameters do: its rules hold from its first object on.
    params_urn = registration_of(program, "ConfigMap", PARAMS_NAME, platform).urn
    for tenant in config.tenants:
        assert params_urn in registration_of(program, "Namespace", tenant.namespace_name).dependencies


def test_every_istiod_is_a_platform_identity(setup):
    """istiod creates the Deployments and Services of Gateway API gateways in tenant namespaces."""
    _, program, text = setup
    config = parse_tenants(text, "tenants.yaml")
    users = platform_users(config)
    for name, plane in control_planes(program).items():
        # The istiod chart's service account on every method: `istiod`, or `istiod-<revision>` with
        # several meshes (a chart release `istiod-<revision>`, a Sail `Istio` named after the revision).
        account = f"istiod-{name.removeprefix('istiod-')}" if config.meshes else "istiod"
        assert f"system:serviceaccount:{plane['namespace']}:{account}" in users
    policy = of_kind(objects(program), "ValidatingAdmissionPolicy")[0]
    exempt = policy["spec"]["matchConditions"][0]["expression"]
    assert all(f"'{user}'" in exempt for user in users)


def test_exemptions_are_per_rule_and_per_install_method(setup):
    name, program, _ = setup
    policies = {p["metadata"]["name"].removeprefix("istio-multitenancy-"): p["spec"]["matchConditions"][0]["expression"]
                for p in of_kind(objects(program), "ValidatingAdmissionPolicy") if "keep-params" not in p["metadata"]["name"]}
    operator = "system:serviceaccount:istio-operator:istio-operator"
    cert_manager = "system:serviceaccount:cert-manager:cert-manager"
    gc = "system:serviceaccount:kube-system:generic-garbage-collector"
    for rule, expression in policies.items():
        # The operator acts for the platform on its own path only; no whole group of kube-system is exempt.
        assert (operator in expression) == (name == "operator"), rule
        assert "system:serviceaccounts:kube-system" not in expression
        # Kubernetes' controllers only where they write the platform's objects; cert-manager only where it must create.
        assert (gc in expression) == (rule in {"platform-objects-platform-only", "removed-tenant-frozen"}), rule
        assert (cert_manager in expression) == (rule in {"certificate-requests-platform-only", "node-port-only-where-allowed", "acme-orders-platform-only", "platform-objects-platform-only"}), rule


def test_a_mesh_that_sets_its_outbound_policy_keeps_it(tmp_path):
    meshes = yaml.safe_load(MESHES)
    meshes["meshes"][1]["meshConfig"]["outboundTrafficPolicy"] = {"mode": "ALLOW_ANY"}
    text = yaml.safe_dump(meshes)
    for stack in ("dev", "meshes"):
        planes = control_planes(run(stack, text, tmp_path))
        modes = {p["namespace"]: p["meshConfig"]["outboundTrafficPolicy"]["mode"] for p in planes.values()}
        assert modes == {"usergroup-1": "REGISTRY_ONLY", "usergroup-2": "ALLOW_ANY"}, stack
        for plane in planes.values():  # the rest of the hardening holds in that mesh too
            rest = {k: v for k, v in hardened_mesh_config().items() if k != "outboundTrafficPolicy"}
            assert rest.items() <= plane["meshConfig"].items()



def test_every_platform_namespace_denies_ingress_by_default(setup):
    name, program, _ = setup
    objs = objects(program)
    denied = {p["metadata"]["namespace"] for p in of_kind(objs, "NetworkPolicy") if p["metadata"]["name"] == "default-deny-ingress"}
    control = {plane["namespace"] for plane in control_planes(program).values()}
    operators = {"operator": {"istio-operator"}, "sail": {"sail-operator", "istio-cni"}}[name.split("-")[0]] if not name.startswith("helm") else set()
    # Every namespace the program runs the platform in; cert-manager's only where the file uses it
    # (these files name no issuer), kube-system is off by default.
    assert denied == control | operators
    for policy in of_kind(objs, "NetworkPolicy"):
        if policy["metadata"]["name"] == "default-deny-ingress":
            assert policy["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": []}


def test_every_tenant_gateway_carries_the_tenant_label(setup):
    """So the platform-objects rule protects the Deployment, Service, ServiceAccount and Role each method generates."""
    _, program, text = setup
    config = parse_tenants(text, "tenants.yaml")
    for tenant in config.tenants:
        if tenant.gateway.api.value == "gateway-api":
            (gateway,) = [g for g in of_kind(objects(program), "Gateway") if g["apiVersion"].startswith("gateway.networking.k8s.io/")
                          and g["metadata"]["namespace"] == tenant.namespace_name]
            labels = gateway["spec"]["infrastructure"]["labels"]
        else:
            labels = deployed_gateway(program, tenant.gateway_name, tenant.namespace_name).labels
        assert labels["istio-multitenancy.io/tenant"] == tenant.name and tenant.gateway_labels.items() <= labels.items()
