"""Gateway API tenants (`gateway.api: gateway-api`): a Gateway of class istio and a route per
route, valid against Gateway API v1.5.1, installed after the Gateway API's CRDs, with the same
namespace and isolation as an Istio-Gateway tenant, and no gateway chart or IstioOperator."""

from __future__ import annotations

import copy

import pulumi
import pytest
import yaml

from builders.gateway_api import NAME_OVERRIDE, SERVICE_TYPE, TLS_TERMINATE_MODE, kubernetes_gateway
from builders.isolation import gateway_pod_label
from components.gateway_api_crds import retain
from render.engine import PROJECT_ROOT, run_program
from tenants import ConfigError, parse_tenants
from tenants.install import DEFAULT_GATEWAY_API_CRDS, DEFAULT_TCP_ROUTE_CRD, GATEWAY_API_VERSION
from tenants.stack import load_settings
from tests.support import GATEWAY_API_VERSION as REFERENCE_VERSION
from tests.support import REFERENCE_RELATIVE, find, gateway_api_crds, objects, of_kind, reference, run, schema_errors

GROUP = "gateway.networking.k8s.io"
CRDS_TYPE = "istio-multitenancy:index:GatewayApiCrds"
CONFIG_GROUP = "kubernetes:yaml/v2:ConfigGroup"
REFERENCE_CRDS = f"{REFERENCE_RELATIVE}/gateway-api/{REFERENCE_VERSION}"

SHOP = {
    "name": "shop",
    "gateway": {
        "api": "gateway-api",
        "labels": {"istio": "gw-shop", "team": "shop"},
        "service": {"type": "NodePort", "annotations": {"external-dns.alpha.kubernetes.io/hostname": "shop.example.com"}},
        "servers": [
            {"port": 80, "hosts": ["shop.example.com", "*.shop.example.com"]},
            {"port": 443, "protocol": "HTTPS", "hosts": ["shop.example.com"],
             "tls": {"mode": "SIMPLE", "credentialName": "shop-tls", "issuer": "letsencrypt"}},
            {"port": 8443, "protocol": "HTTPS", "hosts": ["admin.shop.example.com"],
             "tls": {"mode": "MUTUAL", "credentialName": "admin-tls"}},
            {"port": 5432, "protocol": "TCP", "name": "postgres"},
            {"port": 6379, "protocol": "TLS", "hosts": ["cache.shop.example.com"],
             "tls": {"mode": "SIMPLE", "credentialName": "cache-tls"}},
            {"port": 9443, "protocol": "TLS", "hosts": ["db.shop.example.com", "ro.db.shop.example.com"],
             "tls": {"mode": "PASSTHROUGH"}},
        ],
    },
    "routes": [
        {"name": "web", "http": [
            {"match": [{"prefix": "/api"}, {"exact": "/healthz"}, {"regex": "/v[0-9]+/.*"}], "to": {"service": "api", "port": 9090}},
            {"to": {"service": "web", "port": 8080}},
        ]},
        {"name": "admin", "hosts": ["admin.shop.example.com"], "http": [{"to": {"service": "admin", "port": 8080}}]},
        {"name": "postgres", "tcp": {"port": 5432, "to": {"service": "postgres", "port": 5432}}},
        {"name": "cache", "tcp": {"port": 6379, "to": {"service": "redis", "port": 6379}}},
        {"name": "db", "hosts": ["db.shop.example.com"], "tls": {"to": {"service": "db", "port": 5432}}},
        {"name": "db-ro", "hosts": ["ro.db.shop.example.com"], "tls": {"port": 9443, "to": {"service": "db-ro", "port": 5432}}},
    ],
    "exports": [{"service": "api", "to": ["web"]}],
}
WEB = {"name": "web", "imports": [{"tenant": "shop", "service": "api"}]}


def tenants_yaml(*tenants: dict) -> str:
    return yaml.safe_dump({"tenants": list(tenants)}, sort_keys=False)


@pytest.fixture(scope="module")
def shop_run(tmp_path_factory):
    return run("dev", tenants_yaml(SHOP, WEB), tmp_path_factory.mktemp("shop"))


@pytest.fixture(scope="module")
def shop_objects(shop_run):
    return objects(shop_run)


def gateway_api_objects(objs: list[dict]) -> list[dict]:
    return [o for o in objs if o["apiVersion"].startswith(GROUP + "/")]


# --- The objects -------------------------------------------------------------------------


def test_every_gateway_api_object_validates_against_v1_5_1(shop_objects):
    emitted = gateway_api_objects(shop_objects)
    assert sorted(o["kind"] for o in emitted) == ["Gateway", "HTTPRoute", "HTTPRoute", "TCPRoute", "TCPRoute", "TLSRoute", "TLSRoute"]
    assert {o["metadata"]["namespace"] for o in emitted} == {"shop"}
    for obj in emitted:
        assert schema_errors(obj) == [], obj["metadata"]["name"]


def test_the_schema_check_catches_a_broken_gateway_api_object(shop_objects):
    gateway = copy.deepcopy(find(shop_objects, "Gateway", "shop-gateway", "shop"))
    gateway["spec"]["listeners"][0]["tls"] = {"mode": "Sideways"}
    gateway["spec"]["listenerz"] = []
    assert len(schema_errors(gateway)) == 2


def _listener_rules(gateway: dict) -> list[str]:
    """The Gateway CRD's CEL validations of listeners (which a JSON Schema check cannot run)."""
    listeners = gateway["spec"]["listeners"]
    broken = []
    if len({l["name"] for l in listeners}) != len(listeners):
        broken.append("Listener name must be unique within the Gateway")
    if len({(l["port"], l["protocol"], l.get("hostname")) for l in listeners}) != len(listeners):
        broken.append("Combination of port, protocol and hostname must be unique for each listener")
    for l in listeners:
        tls = l.get("tls")
        if l["protocol"] in ("HTTP", "TCP", "UDP") and tls is not None:
            broken.append("tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']")
        if l["protocol"] == "HTTPS" and tls is not None and tls.get("mode", "Terminate") != "Terminate":
            broken.append("tls mode must be Terminate for protocol HTTPS")
        if l["protocol"] == "TLS" and not (tls or {}).get("mode"):
            broken.append("tls mode must be set for protocol TLS")
        if l["protocol"] in ("TCP", "UDP") and l.get("hostname"):
            broken.append("hostname must not be specified for protocols ['TCP', 'UDP']")
        if tls and tls.get("mode", "Terminate") == "Terminate" and not (tls.get("certificateRefs") or tls.get("options")):
            broken.append("certificateRefs or options must be specified when mode is Terminate")
    return broken


def test_listeners_keep_the_gateway_crds_own_rules(shop_objects):
    gateway = find(shop_objects, "Gateway", "shop-gateway", "shop")
    assert _listener_rules(gateway) == []
    duplicated = copy.deepcopy(gateway)
    duplicated["spec"]["listeners"].append(dict(duplicated["spec"]["listeners"][0]))
    assert len(_listener_rules(duplicated)) == 2  # the check itself finds what it looks for


def test_the_gateway(shop_objects):
    gateway = find(shop_objects, "Gateway", "shop-gateway", "shop")
    spec = gateway["spec"]
    assert spec["gatewayClassName"] == "istio"
    # The generated pods carry the tenant's gateway labels, and everything generated the tenant
    # label (the platform's objects, which the tenant may not change); the Service its type and annotations.
    assert spec["infrastructure"] == {
        "labels": {**SHOP["gateway"]["labels"], "istio-multitenancy.io/tenant": "shop"},
        "annotations": SHOP["gateway"]["service"]["annotations"],
    }
    assert gateway["metadata"]["annotations"] == {NAME_OVERRIDE: "shop-ingressgw", SERVICE_TYPE: "NodePort"}
    listeners = {(l["port"], l.get("hostname")): l for l in spec["listeners"]}
    assert sorted(listeners) == sorted([
        (80, "shop.example.com"), (80, "*.shop.example.com"), (443, "shop.example.com"),
        (8443, "admin.shop.example.com"), (5432, None), (6379, "cache.shop.example.com"),
        (9443, "db.shop.example.com"), (9443, "ro.db.shop.example.com"),
    ])
    assert all(l["allowedRoutes"] == {"namespaces": {"from": "Same"}} for l in spec["listeners"])
    assert listeners[(5432, None)]["protocol"] == "TCP" and listeners[(5432, None)]["name"] == "postgres"
    assert listeners[(443, "shop.example.com")]["tls"] == {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": "shop-tls"}]}
    assert listeners[(8443, "admin.shop.example.com")]["tls"]["options"] == {TLS_TERMINATE_MODE: "MUTUAL"}
    assert listeners[(6379, "cache.shop.example.com")]["tls"]["mode"] == "Terminate"
    assert {listeners[(9443, h)]["tls"]["mode"] for h in ("db.shop.example.com", "ro.db.shop.example.com")} == {"Passthrough"}


def test_certificates_are_secrets_of_the_tenants_own_namespace(shop_objects):
    gateway = find(shop_objects, "Gateway", "shop-gateway", "shop")
    refs = [ref for l in gateway["spec"]["listeners"] for ref in (l.get("tls") or {}).get("certificateRefs", [])]
    assert {r["name"] for r in refs} == {"shop-tls", "admin-tls", "cache-tls"}
    assert all(r["kind"] == "Secret" and "namespace" not in r for r in refs)  # the Gateway's own namespace
    certificate = find(shop_objects, "Certificate", "shop-tls", "shop")  # cert-manager writes it there
    assert certificate["spec"]["secretName"] == "shop-tls"


def test_one_route_per_route_attached_to_the_tenants_gateway(shop_objects):
    routes = {o["metadata"]["name"]: o for o in gateway_api_objects(shop_objects) if o["kind"] != "Gateway"}
    assert {name: o["kind"] for name, o in routes.items()} == {
        "web": "HTTPRoute", "admin": "HTTPRoute", "postgres": "TCPRoute", "cache": "TCPRoute", "db": "TLSRoute", "db-ro": "TLSRoute",
    }
    assert {routes["postgres"]["apiVersion"], routes["db"]["apiVersion"]} == {f"{GROUP}/v1alpha2", f"{GROUP}/v1"}
    for route in routes.values():
        (parent,) = route["spec"]["parentRefs"]
        assert parent["name"] == "shop-gateway" and "namespace" not in parent
    assert routes["postgres"]["spec"]["parentRefs"][0]["port"] == 5432
    assert "port" not in routes["db"]["spec"]["parentRefs"][0]
    assert routes["web"]["spec"]["hostnames"] == ["shop.example.com", "*.shop.example.com", "admin.shop.example.com"]
    assert routes["db"]["spec"]["hostnames"] == ["db.shop.example.com"]
    assert "hostnames" not in routes["postgres"]["spec"]
    (api, web) = routes["web"]["spec"]["rules"]
    assert api["matches"] == [
        {"path": {"type": "PathPrefix", "value": "/api"}},
        {"path": {"type": "Exact", "value": "/healthz"}},
        {"path": {"type": "RegularExpression", "value": "/v[0-9]+/.*"}},
    ]
    assert api["backendRefs"] == [{"name": "api", "port": 9090}]
    assert web == {"backendRefs": [{"name": "web", "port": 8080}]}  # no match: the CRD's default, every path
    assert routes["db-ro"]["spec"]["rules"] == [{"backendRefs": [{"name": "db-ro", "port": 5432}]}]


def test_a_wildcard_server_leaves_http_hostnames_open(tmp_path):
    tenant = {"name": "any", "gateway": {"api": "gateway-api"}, "routes": [{"name": "web", "http": [{"to": {"service": "web", "port": 80}}]}]}
    objs = objects(run("dev", tenants_yaml(tenant), tmp_path))
    gateway = find(objs, "Gateway", "any-gateway", "any")
    assert [(l["name"], l["port"], l["protocol"]) for l in gateway["spec"]["listeners"]] == [("http-80", 80, "HTTP")]
    assert "hostname" not in gateway["spec"]["listeners"][0]
    route = find(objs, "HTTPRoute", "web", "any")
    assert "hostnames" not in route["spec"]
    assert SERVICE_TYPE not in gateway["metadata"]["annotations"]  # LoadBalancer is Istio's default
    assert "annotations" not in gateway["spec"]["infrastructure"]


# --- Istio deploys the gateway: no chart, no IstioOperator, same isolation ------------------


def _as_istio_tenant(tenant: dict) -> dict:
    tenant = copy.deepcopy(tenant)
    tenant["gateway"]["api"] = "istio"
    return tenant


@pytest.fixture(scope="module")
def istio_twin_objects(tmp_path_factory):
    return objects(run("dev", tenants_yaml(_as_istio_tenant(SHOP), WEB), tmp_path_factory.mktemp("twin")))


def test_no_gateway_chart_and_no_istio_gateway_for_a_gateway_api_tenant(shop_run, shop_objects):
    charts = [r for r in shop_run.registrations if r.type == "kubernetes:helm.sh/v4:Chart"]
    assert [c.name for c in charts if c.name.startswith("shop/")] == []
    assert [c.name for c in charts if c.name.startswith("web/")] == ["web/web-ingressgw"]
    # The observability add-ons are off by default: the platform has no Istio Gateway either.
    assert [g["metadata"]["namespace"] for g in of_kind(shop_objects, "Gateway") if g["apiVersion"].startswith("networking.istio.io")] == [
        "web"
    ]
    assert [v for v in of_kind(shop_objects, "VirtualService") if v["metadata"]["namespace"] == "shop"] == []


def test_no_istio_operator_on_the_operator_path_either_it_refuses_the_tenant(tmp_path):
    with pytest.raises(pulumi.RunError) as caught:
        run_program("classic", str(_write(tmp_path, tenants_yaml(SHOP, WEB))))
    lines = str(caught.value).splitlines()
    assert lines == [
        f"{tmp_path / 'tenants.yaml'}:4: tenants[shop].gateway.api: gateway.api gateway-api needs installMethod: helm "
        "(Istio 1.30, Gateway API v1.5.1); the operator install (Istio 1.22 to 1.23) serves tenants with gateway.api istio only"
    ]
    assert [r.type for r in caught.value.registrations] == ["pulumi:pulumi:Stack"]


def _write(tmp_path, text: str):
    path = tmp_path / "tenants.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _isolation(objs: list[dict]) -> list[dict]:
    gateway_kinds = {("networking.istio.io/v1", "Gateway"), ("networking.istio.io/v1", "VirtualService")}
    return [
        o for o in objs
        if o["metadata"].get("namespace") in ("shop", "web")
        and not o["apiVersion"].startswith(GROUP + "/")
        and (o["apiVersion"], o["kind"]) not in gateway_kinds
    ]


def test_namespaces_and_isolation_are_the_same_as_an_istio_gateway_tenants(shop_objects, istio_twin_objects):
    assert _isolation(shop_objects) == _isolation(istio_twin_objects)
    assert of_kind(shop_objects, "Namespace") == of_kind(istio_twin_objects, "Namespace")


def test_isolation_still_selects_the_generated_gateway_pods(shop_objects):
    pod_labels = find(shop_objects, "Gateway", "shop-gateway", "shop")["spec"]["infrastructure"]["labels"]
    policy = find(shop_objects, "AuthorizationPolicy", "allow-gateway-ingress", "shop")
    assert policy["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    network = find(shop_objects, "NetworkPolicy", "allow-tenant-ingress", "shop")
    (expression,) = network["spec"]["podSelector"]["matchExpressions"]
    key, value = gateway_pod_label(parse_tenants(tenants_yaml(SHOP, WEB), "t.yaml").tenants[0])
    assert (expression["key"], expression["values"]) == (key, [value]) and pod_labels[key] == value


def test_the_generated_gateway_lacks_only_the_seccomp_profile_that_istiods_defaults_add():
    """What `restricted` asks of a pod, read off the template istiod 1.30.3 renders a Gateway's
    Deployment from (pilot's kube-gateway.yaml). The class defaults (builders/mesh_settings.py)
    add the seccomp profile as a strategic merge; that istiod applies them is for a real cluster."""
    template = reference("istio", "1.30.3", "charts", "istiod", "files", "kube-gateway.yaml").read_text()
    (deployment,) = [doc for doc in template.split("\n---\n") if "\nkind: Deployment\n" in doc]
    pod_security = deployment.split("      securityContext:\n", 1)[1].split("      serviceAccountName:", 1)[0]
    # Unless istiod's own values say otherwise: the unprivileged-ports sysctl (allowed at every level), and a
    # seccomp profile only when `gateways.seccompProfile` is set, which Sail's `Istio` cannot carry.
    assert "net.ipv4.ip_unprivileged_port_start" in pod_security and "if .Values.gateways.seccompProfile" in pod_security
    container = deployment.split("        securityContext:\n", 1)[1].split("        ports:", 1)[0]
    for line in ("drop:\n            - ALL", "allowPrivilegeEscalation: false", "privileged: false", "runAsNonRoot: true"):
        assert line in container
    assert "hostPath" not in deployment and "hostNetwork" not in deployment and "hostPort" not in deployment


def test_outputs_name_the_service_istio_generates(shop_run):
    # The name-override annotation makes Istio name the Deployment and Service after the gateway.
    assert shop_run.outputs["tenants"]["shop"]["gatewayService"] == "shop-ingressgw"


# --- The Gateway API's CRDs: once, before any Gateway API object ----------------------------


def test_crds_are_installed_once_before_every_gateway_api_object(shop_run):
    (component,) = [r for r in shop_run.registrations if r.type == CRDS_TYPE]
    (group,) = [r for r in shop_run.registrations if r.type == CONFIG_GROUP]
    assert group.parent == component.urn
    assert group.inputs["files"] == [DEFAULT_GATEWAY_API_CRDS, DEFAULT_TCP_ROUTE_CRD]
    emitted = [r for r in shop_run.registrations if r.is_kubernetes_object and r.inputs["apiVersion"].startswith(GROUP + "/")]
    assert len(emitted) == 7
    for r in emitted:
        assert component.urn in r.dependencies or group.urn in r.dependencies, r.name


def test_no_crds_without_a_gateway_api_tenant(tmp_path):
    # prod's tenants all use Istio Gateways (dev has one Gateway API tenant).
    program = run("dev", (PROJECT_ROOT / "tenants" / "prod.yaml").read_text(encoding="utf-8"), tmp_path)
    assert [r for r in program.registrations if r.type in (CRDS_TYPE, CONFIG_GROUP)] == []


def test_tcp_route_crd_only_for_tcp(tmp_path):
    tenant = {"name": "any", "gateway": {"api": "gateway-api"}}
    program = run("dev", tenants_yaml(tenant), tmp_path)
    (group,) = [r for r in program.registrations if r.type == CONFIG_GROUP]
    assert group.inputs["files"] == [DEFAULT_GATEWAY_API_CRDS]


def test_the_default_crds_are_the_release_istio_builds_against():
    assert GATEWAY_API_VERSION == REFERENCE_VERSION
    assert DEFAULT_GATEWAY_API_CRDS.endswith(f"/{GATEWAY_API_VERSION}/standard-install.yaml")
    assert f"/{GATEWAY_API_VERSION}/config/crd/experimental/" in DEFAULT_TCP_ROUTE_CRD


def test_crds_are_retained_when_they_leave_the_program():
    args = pulumi.ResourceTransformArgs(
        custom=True, type_="kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition", name="x", props={}, opts=pulumi.ResourceOptions()
    )
    assert retain(args).opts.retain_on_delete is True


def _settings(tmp_path, **stack) -> object:
    path = _write(tmp_path, tenants_yaml(SHOP, WEB))
    return load_settings("unit", {"tenantsFile": str(path), **stack}, PROJECT_ROOT)


def test_a_local_directory_of_crds_and_what_it_holds_covers_every_kind_emitted(tmp_path, shop_objects):
    reference("gateway-api", REFERENCE_VERSION)  # a one-line failure when the reference data is missing
    install = _settings(
        tmp_path, gatewayApiCrds=REFERENCE_CRDS, gatewayApiTcpRouteCrd=f"{REFERENCE_CRDS}/experimental/{GROUP}_tcproutes.yaml"
    ).install
    assert install.gateway_api.manifests == (f"{REFERENCE_CRDS}/*.yaml", f"{REFERENCE_CRDS}/experimental/{GROUP}_tcproutes.yaml")
    served = {(f"{d['spec']['group']}/{v['name']}", d["spec"]["names"]["kind"]) for d in gateway_api_crds() for v in d["spec"]["versions"] if v["served"]}
    assert {(o["apiVersion"], o["kind"]) for o in gateway_api_objects(shop_objects)} <= served


def test_preinstalled_crds_are_left_alone(tmp_path):
    install = _settings(tmp_path, gatewayApiCrds="preinstalled", gatewayApiTcpRouteCrd="preinstalled").install
    assert install.gateway_api.manifests == ()


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("gatewayApiCrds", "crds/missing.yaml", "'crds/missing.yaml' is no https:// URL, file or directory (looked for {root}/crds/missing.yaml)"),
        ("gatewayApiCrds", "http://example.com/crds.yaml", "'http://example.com/crds.yaml' is not an https:// URL, a file or a directory of YAML files (or 'preinstalled')"),
        ("gatewayApiTcpRouteCrd", "tests", "'tests' holds no .yaml file (looked in {root}/tests)"),
    ],
)
def test_bad_crd_sources(tmp_path, key, value, message):
    with pytest.raises(ConfigError) as caught:
        _settings(tmp_path, **{key: value})
    assert str(caught.value).splitlines() == [f"Pulumi.unit.yaml: istio-multitenancy:{key}: {message.format(root=PROJECT_ROOT)}"]


def test_crd_settings_are_the_helm_paths(tmp_path):
    path = _write(tmp_path, "tenants: []\n")
    with pytest.raises(ConfigError) as caught:
        load_settings("unit", {"tenantsFile": str(path), "installMethod": "operator", "gatewayApiCrds": "preinstalled"}, PROJECT_ROOT)
    assert str(caught.value).splitlines() == [
        "Pulumi.unit.yaml: istio-multitenancy:gatewayApiCrds: gatewayApiCrds is a setting of installMethod: helm or sail; "
        "installMethod: operator does not read it"
    ]


# --- istiod ------------------------------------------------------------------------------


def _istiod_env(program) -> dict:
    (istiod,) = [r for r in program.registrations if r.type == "kubernetes:helm.sh/v4:Chart" and r.name.endswith("/istiod")]
    return istiod.inputs["values"]["env"]


def test_istiod_serves_alpha_gateway_api_for_tcp_and_tls_listeners(shop_run, dev_run, tmp_path):
    assert _istiod_env(shop_run)["PILOT_ENABLE_ALPHA_GATEWAY_API"] == "true"
    assert "PILOT_ENABLE_ALPHA_GATEWAY_API" not in _istiod_env(dev_run)
    http_only = run("dev", tenants_yaml({"name": "any", "gateway": {"api": "gateway-api"}}), tmp_path)
    assert "PILOT_ENABLE_ALPHA_GATEWAY_API" not in _istiod_env(http_only)


def _sail_istiod_envs(program) -> dict[str, dict]:
    return {o["metadata"]["name"]: o["spec"]["values"]["pilot"]["env"] for o in of_kind(objects(program), "Istio")}


@pytest.mark.parametrize("meshes", [False, True], ids=["one-control-plane", "meshes"])
def test_sail_istiods_serve_alpha_gateway_api_for_tcp_and_tls_listeners(meshes, tmp_path):
    """The Sail path gives every `Istio` what the Helm path gives istiod: a TCP listener needs the alpha support."""
    mesh_doc = {"meshes": [{"name": "shop-mesh", "revisions": [{"name": "1-30-3"}]}, {"name": "other"}]} if meshes else {}
    text = yaml.safe_dump({**mesh_doc, "tenants": [SHOP, WEB]}, sort_keys=False)
    (tmp_path / "tcp").mkdir(), (tmp_path / "http").mkdir()
    envs = _sail_istiod_envs(run("meshes", text, tmp_path / "tcp"))
    assert set(envs) == ({"1-30-3", "other"} if meshes else {"default"})
    assert all(env["PILOT_ENABLE_ALPHA_GATEWAY_API"] == "true" for env in envs.values()), envs
    http_only = yaml.safe_dump({**mesh_doc, "tenants": [{"name": "any", "gateway": {"api": "gateway-api"}}]}, sort_keys=False)
    envs = _sail_istiod_envs(run("meshes", http_only, tmp_path / "http"))
    assert envs and not any("PILOT_ENABLE_ALPHA_GATEWAY_API" in env for env in envs.values()), envs


def test_the_builder_alone_matches_the_program(shop_objects):
    tenant = parse_tenants(tenants_yaml(SHOP, WEB), "t.yaml").tenants[0]
    assert kubernetes_gateway(tenant) == find(shop_objects, "Gateway", "shop-gateway", "shop")
    # and the reference the tests validate against is the one the program defaults to
    assert reference("gateway-api", GATEWAY_API_VERSION, "experimental", f"{GROUP}_tcproutes.yaml").is_file()
