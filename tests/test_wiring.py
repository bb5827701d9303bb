"""What the program registers: parents, the explicit provider, dependencies, unique URNs, selectors,
on both install paths (the Helm path's own ordering: tests/test_install_paths.py)."""

from collections import Counter

import pytest

from render.engine import ProgramRun, Registration
from tests.support import charts, objects, of_kind, plain, registration_of, run

COMPONENT = "istio-multitenancy:index:"
PROVIDER_URN = "urn:pulumi:dev::istio-multitenancy::pulumi:providers:kubernetes::kubernetes"


def _many_tenants(count: int) -> str:
    lines = ["tenants:"]
    for i in range(count):
        lines.append(f"  - name: team-{i}")
        lines.append("    routes: [{name: web, http: [{to: {service: web, port: 8080}}]}]")
    return "\n".join(lines) + "\n"


def _component(program: ProgramRun, kind: str, name: str) -> Registration:
    (match,) = [r for r in program.registrations if r.type == COMPONENT + kind and r.name == name]
    return match


def _descendants(program: ProgramRun, root: Registration) -> list[Registration]:
    children: dict[str, list[Registration]] = {}
    for r in program.registrations:
        children.setdefault(r.parent, []).append(r)
    out, todo = [], [root.urn]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child.urn)
    return out


@pytest.mark.parametrize(
    "stack, install, tenants", [("dev", {"IstioHelmInstall": 1, "GatewayApiCrds": 1}, 3), ("classic", {"IstioOperatorInstall": 1, "ObservabilityAddons": 1}, 2)]
)
def test_components_and_types(stack, install, tenants):
    counts = Counter(r.type for r in run(stack).registrations if r.type.startswith(COMPONENT))
    expected = {COMPONENT + kind: count for kind, count in install.items()}
    assert counts == {
        **expected, COMPONENT + "PlatformControlPlane": 1, COMPONENT + "TenantAdmission": 1, COMPONENT + "TenantMesh": tenants,
    }


@pytest.fixture(scope="module", params=["dev", "classic"])
def program(request) -> ProgramRun:
    return run(request.param)


def test_every_kubernetes_object_uses_the_explicit_provider(program):
    (provider,) = [r for r in program.registrations if r.type == "pulumi:providers:kubernetes"]
    assert provider.urn == PROVIDER_URN.replace(":dev::", f":{program.stack}::")
    assert provider.inputs.get("context") == f"kind-istio-{program.stack}"  # from Pulumi.<stack>.yaml
    # Day 2 changes the admission parameters ConfigMap: updated in place, never replaced (e2e test_3).
    assert provider.inputs.get("enableConfigMapMutable") in (True, "true")
    k8s = [r for r in program.registrations if r.is_kubernetes_object] + charts(program)
    assert k8s and all(r.provider == provider.urn for r in k8s)


def test_kubernetes_objects_are_parented_by_their_component(program):
    for r in program.registrations:
        if r.is_kubernetes_object or r in charts(program):
            assert COMPONENT in r.parent, r.urn
    for tenant in ("workspace-1", "workspace-2"):
        mesh = _component(program, "TenantMesh", tenant)
        children = _descendants(program, mesh)
        namespaces = {
            c.inputs["metadata"].get("namespace") if c.is_kubernetes_object else c.inputs["namespace"]
            for c in children if c.inputs.get("kind") != "Namespace"
        }
        # A tenant's objects live in its namespace, except its gateway IstioOperator (read by the operator in istio-system).
        assert namespaces <= ({tenant, "istio-system"} if program.stack == "classic" else {tenant})
        assert all(c.name.startswith(f"{tenant}/") for c in children)


def test_istio_operators_wait_for_the_operator_install(classic_run):
    crd = registration_of(classic_run, "CustomResourceDefinition", "istiooperators.install.istio.io")
    operator = registration_of(classic_run, "Deployment", "istio-operator", "istio-operator")
    for iop in (r for r in classic_run.registrations if r.is_kubernetes_object and r.inputs["kind"] == "IstioOperator"):
        assert crd.urn in iop.dependencies and operator.urn in iop.dependencies, iop.urn
        assert iop.inputs["metadata"]["annotations"]["pulumi.com/waitFor"] == "jsonpath={.status.status}=HEALTHY"


def test_operator_starts_after_crd_rbac_and_namespace(classic_run):
    deployment = registration_of(classic_run, "Deployment", "istio-operator", "istio-operator")
    for kind, name, ns in [
        ("CustomResourceDefinition", "istiooperators.install.istio.io", None),
        ("Namespace", "istio-operator", None),
        ("ServiceAccount", "istio-operator", "istio-operator"),
        ("ClusterRoleBinding", "istio-operator", None),
    ]:
        assert registration_of(classic_run, kind, name, ns).urn in deployment.dependencies, kind


def test_istio_config_waits_for_the_control_plane(classic_run):
    control_plane = registration_of(classic_run, "IstioOperator", "platform-istiocontrolplane", "istio-system")
    for r in classic_run.registrations:
        if not r.is_kubernetes_object or r.inputs["kind"] in ("IstioOperator",) or ".istio.io/" not in r.inputs["apiVersion"]:
            continue
        if r.inputs["kind"] == "Gateway" and r.inputs["metadata"]["namespace"] != "istio-system":
            continue  # waits on its gateway IstioOperator, which waits on the control plane (below)
        assert control_plane.urn in r.dependencies, r.urn


def test_tenant_ordering(classic_run):
    control_plane = registration_of(classic_run, "IstioOperator", "platform-istiocontrolplane", "istio-system")
    for tenant, gateway_name in (("workspace-1", "wk1-ingressgw"), ("workspace-2", "wk2-ingressgw")):
        namespace = registration_of(classic_run, "Namespace", tenant)
        gateway_operator = registration_of(classic_run, "IstioOperator", gateway_name, "istio-system")
        assert {namespace.urn, control_plane.urn} <= set(gateway_operator.dependencies)
        gateway = registration_of(classic_run, "Gateway", f"{tenant}-gateway", tenant)
        assert gateway_operator.urn in gateway.dependencies
        for child in _descendants(classic_run, _component(classic_run, "TenantMesh", tenant)):
            if child.is_kubernetes_object and child.inputs["kind"] != "Namespace":
                assert namespace.urn in child.dependencies, child.urn


def test_tenants_are_independent(program):
    owned = {
        tenant: {r.urn for r in _descendants(program, _component(program, "TenantMesh", tenant))}
        for tenant in ("workspace-1", "workspace-2")
    }
    for tenant, urns in owned.items():
        others = set().union(*(u for t, u in owned.items() if t != tenant))
        for r in program.registrations:
            if r.urn in urns:
                assert not (set(r.dependencies) & others), r.urn


@pytest.mark.parametrize("stack", ["dev", "classic"])
@pytest.mark.parametrize("count", [2, 40])
def test_no_two_resources_share_a_urn(tmp_path, count, stack):
    program = run(stack, tenants_yaml=_many_tenants(count), tmp_path=tmp_path)
    urns = Counter(r.urn for r in program.registrations)
    assert [u for u, n in urns.items() if n > 1] == []
    assert sum(1 for r in program.registrations if r.type == COMPONENT + "TenantMesh") == count


def _gateway_pods(program: ProgramRun) -> list[tuple[str, dict]]:
    """(namespace, labels) of every gateway the install would deploy, the platform's included."""
    objs = objects(program)
    pods = []
    if of_kind(objs, "IstioOperator"):
        # The demo profile's gateways, then one per gateway IstioOperator.
        pods.append(("istio-system", {"istio": "ingressgateway", "app": "istio-ingressgateway"}))
        pods.append(("istio-system", {"istio": "egressgateway", "app": "istio-egressgateway"}))
        for iop in of_kind(objs, "IstioOperator"):
            for gw in iop["spec"].get("components", {}).get("ingressGateways", []):
                if "label" in gw:
                    pods.append((gw["namespace"], gw["label"]))
    for chart in charts(program):
        if chart.inputs["chart"].endswith("gateway"):
            values = plain(chart.inputs["values"])
            # The chart's own `app` and `istio` labels default to the gateway's name.
            name = values["name"]
            pods.append((chart.inputs["namespace"], {"app": name, "istio": name.removeprefix("istio-"), **values["labels"]}))
    return pods


@pytest.mark.parametrize("stack", ["dev", "classic"])
@pytest.mark.parametrize("tenants", ["stack", 25])
def test_each_gateway_selects_exactly_its_own_gateway_pods(tmp_path, tenants, stack):
    program = run(stack) if tenants == "stack" else run(stack, tenants_yaml=_many_tenants(tenants), tmp_path=tmp_path)
    objs = objects(program)
    pods = _gateway_pods(program)
    assert len(pods) >= 3
    for gateway in of_kind(objs, "Gateway"):
        if gateway["apiVersion"].startswith("gateway.networking.k8s.io/"):
            continue  # a Gateway API Gateway selects nothing: Istio deploys its own pods
        selector = gateway["spec"]["selector"]
        # Cluster-wide, not only within the namespace: isolation must not rest on one istiod flag.
        selected = [(ns, labels) for ns, labels in pods if selector.items() <= labels.items()]
        assert len(selected) == 1, (gateway["metadata"], selected)
        assert selected[0][0] == gateway["metadata"]["namespace"]
