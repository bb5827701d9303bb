"""The classic single-cluster multi-tenant setup, object by object: exactly on the operator path (the
`classic` stack, Istio 1.23.6), and the same setup on current Istio from its Helm charts (`dev`)."""

import pulumi
import pytest
import yaml

from render.engine import PROJECT_ROOT
from tests.support import chart_values, charts, deployed_gateway, find, of_kind, reference, run, objects, schema_errors

STACKS = ["classic", "dev"]

WORKSPACES = {
    "workspace-1": ("wk1-ingressgw", {"istio": "ingressgateway-1", "app": "istio-ingressgateway-1"}),
    "workspace-2": ("wk2-ingressgw", {"istio": "ingressgateway-2", "app": "istio-ingressgateway-2"}),
}


def _bookinfo_sample() -> tuple[dict, dict]:
    docs = [d for d in yaml.safe_load_all(reference("istio", "samples", "bookinfo-gateway.yaml").read_text()) if d]
    gateway = next(d for d in docs if d["kind"] == "Gateway")
    virtual_service = next(d for d in docs if d["kind"] == "VirtualService")
    return gateway, virtual_service


@pytest.fixture(scope="module", params=STACKS)
def stack_objects(request):
    return objects(run(request.param))


@pytest.mark.parametrize(
    "stack, platform, more", [("classic", {"istio-operator", "istio-system"}, set()), ("dev", {"istio-system"}, {"workspace-3"})]
)
def test_namespaces(stack, platform, more):
    namespaces = {o["metadata"]["name"]: o["metadata"].get("labels", {}) for o in of_kind(objects(run(stack)), "Namespace")}
    assert set(namespaces) == platform | {"workspace-1", "workspace-2"} | more  # dev: a Gateway API tenant too
    for workspace in WORKSPACES:
        assert namespaces[workspace]["istio-injection"] == "enabled"
    assert namespaces["istio-system"].get("istio-injection") != "enabled"


def test_operator_is_pinned_and_watches_the_control_plane(classic_objects):
    deployment = find(classic_objects, "Deployment", "istio-operator", "istio-operator")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "docker.io/istio/operator:1.23.6"
    assert {"name": "WATCH_NAMESPACE", "value": "istio-system"} in container["env"]
    service = find(classic_objects, "Service", "istio-operator", "istio-operator")
    assert service["spec"]["ports"] == [{"name": "http-metrics", "port": 8383, "targetPort": 8383, "protocol": "TCP"}]
    for kind in ("ServiceAccount",):
        find(classic_objects, kind, "istio-operator", "istio-operator")
    for kind in ("ClusterRole", "ClusterRoleBinding"):
        find(classic_objects, kind, "istio-operator")
    find(classic_objects, "CustomResourceDefinition", "istiooperators.install.istio.io")


def test_three_istio_operators(classic_objects):
    operators = {o["metadata"]["name"]: o for o in of_kind(classic_objects, "IstioOperator")}
    assert set(operators) == {"platform-istiocontrolplane", "wk1-ingressgw", "wk2-ingressgw"}
    assert all(o["metadata"]["namespace"] == "istio-system" for o in operators.values())
    assert operators["platform-istiocontrolplane"]["spec"]["profile"] == "demo"
    for workspace, (gateway_name, labels) in WORKSPACES.items():
        spec = operators[gateway_name]["spec"]
        assert spec["profile"] == "empty"
        (gateway,) = spec["components"]["ingressGateways"]
        k8s = gateway["k8s"]
        assert {k: v for k, v in gateway.items() if k != "k8s"} == {
            # The tenant label too: on everything the operator generates, which the tenant may then not change.
            "name": gateway_name, "namespace": workspace, "enabled": True, "label": {**labels, "istio-multitenancy.io/tenant": workspace},
        }
        # The health port and the one declared server, on the target port Istio's own default
        # gives port 80 (its gateway pods run unprivileged); nothing else is opened. The gateway's
        # pod passes the namespace's `restricted` Pod Security level.
        security = {"runAsUser": 1337, "runAsGroup": 1337, "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
        assert k8s == {"securityContext": security, "service": {"type": "LoadBalancer", "ports": [
            {"name": "status-port", "port": 15021, "targetPort": 15021, "protocol": "TCP"},
            {"name": "http-80", "port": 80, "targetPort": 8080, "protocol": "TCP"},
        ]}}


def test_five_charts_on_the_helm_path(dev_run):
    releases = {(c.inputs["chart"], c.inputs["name"], c.inputs["namespace"]) for c in charts(dev_run)}
    assert releases == {
        ("base", "istio-base", "istio-system"),
        ("cni", "istio-cni", "istio-system"),
        ("istiod", "istiod", "istio-system"),
        ("gateway", "istio-ingressgateway", "istio-system"),
        ("gateway", "wk1-ingressgw", "workspace-1"),
        ("gateway", "wk2-ingressgw", "workspace-2"),
    }
    assert chart_values(dev_run, "istiod", "istio-system")["profile"] == "demo"
    for workspace, (gateway_name, labels) in WORKSPACES.items():
        assert labels.items() <= deployed_gateway(dev_run, gateway_name, workspace).labels.items()
    assert of_kind(objects(dev_run), "IstioOperator") == []


def test_tenant_gateways_select_their_own_gateway(stack_objects):
    sample_gateway, _ = _bookinfo_sample()
    for workspace, (_, labels) in WORKSPACES.items():
        gateway = find(stack_objects, "Gateway", f"{workspace}-gateway", workspace)
        assert gateway["spec"]["selector"] == labels
        (server,) = gateway["spec"]["servers"]
        assert server["port"]["number"] == 80 and server["port"]["protocol"] == "HTTP"
        # Istio's sample serves `*`; ours is scoped to the gateway's namespace, so that no other
        # namespace's VirtualService binds to it.
        assert server["hosts"] == [f"./{h}" for h in sample_gateway["spec"]["servers"][0]["hosts"]]


def test_bookinfo_routes_match_istio_sample(stack_objects):
    _, sample = _bookinfo_sample()
    (sample_http,) = sample["spec"]["http"]
    for workspace in WORKSPACES:
        vs = find(stack_objects, "VirtualService", "bookinfo", workspace)
        assert vs["spec"]["hosts"] == sample["spec"]["hosts"]
        assert vs["spec"]["gateways"] == [f"{workspace}-gateway"]
        (http,) = vs["spec"]["http"]
        assert http["match"] == sample_http["match"]
        (destination,) = [r["destination"] for r in http["route"]]
        (sample_destination,) = [r["destination"] for r in sample_http["route"]]
        # Fully qualified in the tenant's own namespace; same service and port as the sample.
        assert destination["host"] == f"{sample_destination['host']}.{workspace}.svc.cluster.local"
        assert destination["port"] == sample_destination["port"]


def test_no_observability_route_is_published_by_default(dev_objects):
    # The add-ons carry no authentication of their own: nothing reaches them until a file turns them on.
    assert [o for o in of_kind(dev_objects, "Gateway") if o["metadata"]["namespace"] == "istio-system"] == []
    assert [o for o in of_kind(dev_objects, "VirtualService") if o["metadata"]["namespace"] == "istio-system"] == []


def test_the_classic_setup_installs_its_addons_and_publishes_no_route_without_a_login(classic_objects):
    # The blog's control-plane gateway routed to Kiali, Prometheus, Grafana and Jaeger with no login:
    # the classic stack now installs them and, until it names an OIDC login, serves them to port-forward only.
    assert [o for o in of_kind(classic_objects, "Gateway") if o["metadata"]["namespace"] == "istio-system"] == []
    assert [o for o in of_kind(classic_objects, "VirtualService") if o["metadata"]["namespace"] == "istio-system"] == []
    assert find(classic_objects, "Telemetry", "mesh-default", "istio-system")["spec"]["tracing"][0]["providers"] == [{"name": "jaeger"}]


OIDC = "oidc: {issuer: 'https://login.example.com', clientId: addons, clientSecret: addons-oidc, platformGroups: [platform-admins]}"
ALL_ADDONS = (
    f"observability: {{domain: obs.example.org, credentialName: obs-tls, {OIDC}, "
    "addons: {kiali: true, grafana: true, prometheus: true, tracing: true}}\ntenants: []\n"
)


@pytest.mark.parametrize("stack", STACKS)
def test_observability_routes_once_on_are_https_only(tmp_path, stack):
    objs = objects(run(stack, tenants_yaml=ALL_ADDONS, tmp_path=tmp_path))
    gateway = find(objs, "Gateway", "observability-gateway", "istio-system")
    assert gateway["spec"]["selector"] == {"istio": "ingressgateway"}
    (server,) = gateway["spec"]["servers"]
    assert server["port"] == {"number": 443, "name": "https-observability", "protocol": "HTTPS"}
    assert server["tls"] == {"mode": "SIMPLE", "credentialName": "obs-tls"}
    expected = {"kiali": 20001, "grafana": 3000, "prometheus": 9090, "tracing": 80}
    assert sorted(server["hosts"]) == sorted(f"./{a}.obs.example.org" for a in expected)
    for addon, port in expected.items():
        vs = find(objs, "VirtualService", addon, "istio-system")
        assert vs["spec"]["hosts"] == [f"{addon}.obs.example.org"]
        assert vs["spec"]["gateways"] == ["observability-gateway"]
        (route,) = vs["spec"]["http"][0]["route"]
        assert route["destination"] == {"host": f"{addon}.istio-system.svc.cluster.local", "port": {"number": port}}


@pytest.mark.parametrize("stack", STACKS)
def test_addons_switch_on_one_by_one(tmp_path, stack):
    program = run(
        stack,
        tenants_yaml=ALL_ADDONS.replace("grafana: true", "grafana: false").replace("tracing: true", "tracing: false"),
        tmp_path=tmp_path,
    )
    objs = objects(program)
    names = {o["metadata"]["name"] for o in of_kind(objs, "VirtualService")}
    assert names == {"kiali", "prometheus"}
    gateway = find(objs, "Gateway", "observability-gateway", "istio-system")
    assert gateway["spec"]["servers"][0]["hosts"] == ["./kiali.obs.example.org", "./prometheus.obs.example.org"]
    assert program.outputs["observability"] == {
        "kiali": {"url": "https://kiali.obs.example.org", "login": True,
                  "readers": "anyone the issuer logs in: the namespaces their own Kubernetes RBAC lets them read"},
        "prometheus": {"url": "https://prometheus.obs.example.org", "login": True,
                       "readers": "the platform's groups (platform-admins): every tenant's data"},
    }


@pytest.mark.parametrize("stack", STACKS)
def test_all_addons_off_means_no_observability_gateway(tmp_path, stack):
    addons = "{kiali: false, grafana: false, prometheus: false, tracing: false}"
    program = run(stack, tenants_yaml=f"observability: {{addons: {addons}}}\ntenants: []\n", tmp_path=tmp_path)
    objs = objects(program)
    assert of_kind(objs, "Gateway") == [] and of_kind(objs, "VirtualService") == []
    if stack == "dev":
        # The control plane's gateway then opens its health port only.
        service = deployed_gateway(program, "istio-ingressgateway", "istio-system").service
        assert [p["port"] for p in service["ports"]] == [15021]


def test_an_addon_without_a_certificate_is_an_error(tmp_path):
    with pytest.raises(pulumi.RunError, match=r"observability.addons: the add-ons on \(kiali\) are served over HTTPS only"):
        run(tenants_yaml=f"observability: {{{OIDC}, addons: {{kiali: true}}}}\ntenants: []\n", tmp_path=tmp_path)


@pytest.mark.parametrize("stack", STACKS)
def test_a_bare_tenant_gets_working_defaults(tmp_path, stack):
    program = run(stack, tenants_yaml="tenants:\n  - name: team-a\n", tmp_path=tmp_path)
    objs = objects(program)
    labels = {"istio": "ingressgateway-team-a", "app": "istio-ingressgateway-team-a"}
    find(objs, "Namespace", "team-a")
    deployed = deployed_gateway(program, "team-a-ingressgw", "team-a")
    assert labels.items() <= deployed.labels.items() and deployed.namespace == "team-a"
    gateway = find(objs, "Gateway", "team-a-gateway", "team-a")
    assert gateway["spec"]["selector"] == labels
    assert gateway["spec"]["servers"] == [{"port": {"number": 80, "name": "http-80", "protocol": "HTTP"}, "hosts": ["./*"]}]
    assert of_kind(objs, "VirtualService") == [o for o in of_kind(objs, "VirtualService") if o["metadata"]["namespace"] == "istio-system"]


def test_every_object_validates_against_upstream_schemas(stack_objects):
    problems = {f"{o['kind']} {o['metadata'].get('namespace', '')}/{o['metadata']['name']}": schema_errors(o) for o in stack_objects}
    assert {k: v for k, v in problems.items() if v} == {}


def test_schema_check_catches_what_the_api_server_would_prune():
    # The check itself must be able to fail: an unknown field and a fractional port.
    bad = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "x", "namespace": "y"},
        "spec": {"selector": {"a": "b"}, "servers": [{"port": {"number": 80.5, "name": "http", "protocol": "HTTP", "nmae": "x"}, "hosts": ["*"]}]},
    }
    errors = schema_errors(bad)
    assert any("nmae" in e for e in errors) and any("80.5" in e for e in errors)
    legacy = {"apiVersion": "install.istio.io/v1alpha1", "kind": "IstioOperator", "metadata": {"name": "x"},
              "spec": {"values": {"gateways": {"istio-ingressgateway": {"debug": "info"}}}}}
    assert any("debug" in e for e in schema_errors(legacy))


def test_replicas_are_a_floor_the_autoscaler_keeps(tmp_path):
    # Istio's profiles autoscale istiod and gateways from 1: a bare replicaCount would not hold.
    prod = (PROJECT_ROOT / "tenants" / "prod.yaml").read_text(encoding="utf-8")
    pinned = []
    for iop in of_kind(objects(run("classic", prod, tmp_path)), "IstioOperator"):
        components = iop["spec"].get("components", {})
        for component in [components.get("pilot", {}), *components.get("ingressGateways", [])]:
            k8s = component.get("k8s", {})
            if "replicaCount" in k8s:
                assert k8s["hpaSpec"]["minReplicas"] == k8s["replicaCount"] <= k8s["hpaSpec"]["maxReplicas"]
                pinned.append(k8s["replicaCount"])
    assert pinned and all(count == 3 for count in pinned)  # tenants/prod.yaml asks for 3 everywhere
    # The Helm path: the same floor in istiod's and every gateway chart's values.
    helm = run("prod")
    istiod = chart_values(helm, "istiod", "istio-system")
    assert istiod["autoscaleMin"] == istiod["replicaCount"] == 3 <= istiod["autoscaleMax"]
    gateways = [c for c in charts(helm) if c.inputs["chart"] == "gateway"]
    assert len(gateways) == 3
    for gateway in gateways:
        autoscaling = chart_values(helm, gateway.inputs["name"], gateway.inputs["namespace"])["autoscaling"]
        assert autoscaling["enabled"] and autoscaling["minReplicas"] == 3 <= autoscaling["maxReplicas"]


@pytest.mark.parametrize("stack", STACKS)
def test_default_route_hosts_and_outputs_name_plain_http_hosts(tmp_path, stack):
    tenants = """tenants:
  - name: team-a
    gateway:
      servers:
        - {port: 80, protocol: HTTP, hosts: [./web.example.com]}
        - {port: 5432, protocol: TCP, hosts: [db.example.com]}
    routes:
      - {name: web, http: [{to: {service: web, port: 8080}}]}
      - {name: db, tcp: {to: {service: postgres, port: 5432}}}
"""
    program = run(stack, tenants_yaml=tenants, tmp_path=tmp_path)
    vs = find(objects(program), "VirtualService", "web", "team-a")
    assert vs["spec"]["hosts"] == ["web.example.com"]  # not the TCP server's host, no `./`
    assert program.outputs["tenants"]["team-a"]["hosts"] == ["web.example.com", "db.example.com"]
