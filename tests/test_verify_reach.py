"""Reachability computed by network-config-analyzer equals what the tenants file declares, on every
stack; broken renders fail with the path named; a tenant's own objects open nothing into others."""

import copy

import pytest

pytest.importorskip("nca", reason="network-config-analyzer is not installed (requirements-dev.txt)")

from tenants import load_tenants, parse_tenants  # noqa: E402
from tenants.model import InstallMethod  # noqa: E402
from tests.admission_support import Request, refusals  # noqa: E402
from tests.support import find, objects, run  # noqa: E402
from verify.hostile import hostile_check, hostile_objects  # noqa: E402
from verify.present import breach_lines  # noqa: E402
from verify.reach import check  # noqa: E402

STACKS = {"dev": InstallMethod.HELM, "prod": InstallMethod.HELM, "classic": InstallMethod.OPERATOR, "meshes": InstallMethod.SAIL}

# shop-a exports api to shop-b, which imports it; shop-c shares nothing; b lives in b-prod.
SHARING = """
tenants:
  - name: shop-a
    exports:
      - {service: api, to: [shop-b]}
    routes:
      - {name: web, http: [{to: {service: web, port: 8080}}]}
      - {name: api, hosts: [api.example.com], http: [{to: {service: api, port: 9000}}]}
    gateway:
      servers:
        - {port: 80, hosts: [shop-a.example.com, api.example.com]}
  - name: shop-b
    namespace: b-prod
    imports:
      - {tenant: shop-a, service: api}
    gateway:
      servers:
        - {port: 80, hosts: [shop-b.example.com]}
  - name: shop-c
    gateway:
      servers:
        - {port: 80, hosts: [shop-c.example.com]}
"""


@pytest.fixture(scope="module")
def sharing(tmp_path_factory):
    program = run("dev", SHARING, tmp_path_factory.mktemp("sharing"))
    return objects(program), parse_tenants(SHARING)


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_every_stack_reaches_exactly_what_its_tenants_file_declares(stack):
    result = check(objects(run(stack)), load_tenants(f"tenants/{stack}.yaml"), STACKS[stack])
    assert [str(d) for d in result.differences] == []
    # Not vacuous: each tenant's gateway is open to the internet and each tenant reaches DNS.
    config = load_tenants(f"tenants/{stack}.yaml")
    for tenant in config.tenants:
        assert ("internet", f"{tenant.namespace_name}/{tenant.gateway_name}") in result.computed
        assert (f"{tenant.namespace_name}/{tenant.gateway_name}", "kube-system/coredns") in result.computed


def test_an_import_opens_the_exported_service_and_nothing_else(sharing):
    objs, config = sharing
    result = check(objs, config)
    assert result.ok, [str(d) for d in result.differences]
    # The importer reaches the exported service's own port; not the exporter's other service's.
    assert ("TCP", 9000) in result.computed[("b-prod/shop-b-ingressgw", "shop-a/api")]
    assert ("TCP", 8080) not in result.computed.get(("b-prod/shop-b-ingressgw", "shop-a/web"), frozenset())
    # No other tenant reaches shop-c, nor does shop-a reach its importer.
    assert not [key for key in result.computed if key[1].startswith("shop-c/") and key[0].startswith(("shop-a/", "b-prod/"))]
    assert not [key for key in result.computed if key[0].startswith("shop-a/") and key[1].startswith("b-prod/")]


def _replace(objs, kind, name, namespace, change):
    broken = copy.deepcopy(objs)
    change(find(broken, kind, name, namespace))
    return broken


def test_a_tenant_network_policy_opened_to_all_namespaces_fails_with_the_path(sharing):
    objs, config = sharing

    def open_to_all(policy):
        policy["spec"]["ingress"] = [{"from": [{"namespaceSelector": {}}]}]

    result = check(_replace(objs, "NetworkPolicy", "allow-tenant-ingress", "shop-a", open_to_all), config)
    # The platform's pods have no egress policy: below the mesh they now reach shop-a's pods on the
    # proxy's own ports (the sidecars' STRICT mTLS still refuses them on the services' ports):
    # DNS on all three, the control plane's on the health port (the metrics ports were its already).
    assert sorted(map(str, result.differences)) == sorted(
        [f"kube-system/coredns -> shop-a/{service}:15020,15021,15090 allowed by NetworkPolicy shop-a/allow-tenant-ingress, not declared"
         for service in ("api", "web")]
        + [f"istio-system/{pod} -> shop-a/{service}:15021 allowed by NetworkPolicy shop-a/allow-tenant-ingress, not declared"
           for pod in ("istio-ingressgateway", "istiod") for service in ("api", "web")]
    )


def test_the_control_plane_reaches_a_tenants_pods_on_their_metrics_ports_only(sharing):
    """Before, the tenant's NetworkPolicy admitted its control-plane namespace on every port; a
    rule of the policy that does so again is a difference of the map."""
    objs, config = sharing

    def control_plane_on_every_port(policy):
        scraper = next(rule for rule in policy["spec"]["ingress"] if "ports" in rule)
        assert [p["port"] for p in scraper["ports"]] == [15020, 15090]
        del scraper["ports"]

    assert check(objs, config).differences == []
    result = check(_replace(objs, "NetworkPolicy", "allow-tenant-ingress", "shop-a", control_plane_on_every_port), config)
    assert sorted(map(str, result.differences)) == [
        f"istio-system/{pod} -> shop-a/{service}:15021 allowed by NetworkPolicy shop-a/allow-tenant-ingress, not declared"
        for pod in ("istio-ingressgateway", "istiod") for service in ("api", "web")
    ]


def test_the_installed_scraper_in_its_own_namespace_reads_every_meshs_tenants_metrics_only(tmp_path):
    """Prometheus installed in `monitoring`, tenants in two meshes: the scraper reaches each
    tenant's proxies on 15020 and 15090, the meshes' own namespaces nothing of the tenants' pods."""
    text = "meshes: [{name: one, namespace: istio-system}, {name: two}]\nobservability: {install: true, namespace: monitoring}\n" + SHARING.replace(
        "  - name: shop-c\n", "  - name: shop-c\n    mesh: one\n")
    text = text.replace("  - name: shop-a\n", "  - name: shop-a\n    mesh: two\n").replace("  - name: shop-b\n", "  - name: shop-b\n    mesh: two\n")
    config = parse_tenants(text)
    result = check(objects(run("meshes", text, tmp_path)), config, InstallMethod.SAIL)
    assert [str(d) for d in result.differences] == []
    metrics = frozenset({("TCP", 15020), ("TCP", 15090)})
    for workload in ("shop-a/api", "shop-a/web"):
        assert result.computed[("monitoring/prometheus", workload)] == metrics
        assert not [src for src, dst in result.computed if dst == workload and src.startswith(("istio-system/", "two/"))]


ADDONS = (
    "observability: {install: true, domain: obs.example.org, credentialName: obs-tls, "
    "oidc: {issuer: 'https://login.example.com', clientId: addons, clientSecret: addons-oidc, platformGroups: [platform-admins]}, addons: {kiali: true, grafana: true}}\n"
)


def test_tenants_reach_the_installed_addons_only_on_jaegers_receiver(tmp_path):
    config = parse_tenants(ADDONS + SHARING)
    objs = objects(run("dev", ADDONS + SHARING, tmp_path))
    result = check(objs, config)
    assert [str(d) for d in result.differences] == []
    addons = {e.key for e in result.endpoints if e.namespace == "istio-system" and e.role in ("grafana", "kiali", "tracing", "login", "scraper")}
    assert addons == {f"istio-system/{name}" for name in ("grafana", "kiali", "jaeger", "oauth2-proxy", "prometheus")}
    reached = {(src, dst): ports for (src, dst), ports in result.computed.items() if dst in addons and src.startswith(("shop-a/", "b-prod/", "shop-c/"))}
    assert reached and set(reached.values()) == {frozenset({("TCP", 4317)})}
    assert {dst for _, dst in reached} == {"istio-system/jaeger"}

    # Opened to every namespace, the add-ons' ports are differences naming the policies that open them.
    def open_ingress(policy):
        policy["spec"]["ingress"] = [{"from": [{"namespaceSelector": {}}]}]

    def open_egress(policy):
        policy["spec"]["egress"] = [{}]

    broken = _replace(_replace(objs, "NetworkPolicy", "observability-addons", "istio-system", open_ingress),
                      "NetworkPolicy", "restrict-tenant-egress", "shop-c", open_egress)
    lines = [str(d) for d in check(broken, config).differences]
    for addon, port in (("grafana", 3000), ("kiali", 20001), ("oauth2-proxy", 4180), ("prometheus", 9090)):
        assert any(line.startswith(f"shop-c/shop-c-ingressgw -> istio-system/{addon}:") and str(port) in line for line in lines), (addon, lines)
    assert not [line for line in lines if not line.startswith("shop-c/")]


def test_the_imports_authorization_rule_removed_fails_with_the_path(sharing):
    objs, config = sharing

    def no_rules(policy):
        policy["spec"]["rules"] = []

    result = check(_replace(objs, "AuthorizationPolicy", "allow-export-api", "shop-a", no_rules), config)
    assert [str(d) for d in result.differences] == ["b-prod/shop-b-ingressgw -> shop-a/api:9000 declared, closed"]


def test_a_tenants_egress_policy_removed_fails_with_each_path_and_what_allows_it():
    objs, config = objects(run("dev")), load_tenants("tenants/dev.yaml")
    broken = [o for o in objs if not (o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == "restrict-tenant-egress"
                                      and o["metadata"]["namespace"] == "workspace-2")]
    lines = [str(d) for d in check(broken, config).differences]
    assert "workspace-2/productpage -> istio-system/istiod:15017 allowed by NetworkPolicy istio-system/istiod-ingress, not declared" in lines
    assert "workspace-2/productpage -> kube-system/coredns:9153 allowed: no policy closes it, not declared" in lines
    assert "workspace-2/wk2-ingressgw -> workspace-1/wk1-ingressgw:80,15020,15021,15090 allowed: no policy closes it, not declared" in lines
    assert all(line.startswith("workspace-2/") for line in lines), lines


# --- Hostile additions --------------------------------------------------------------------

TENANT_ADMIN = ("alice@example.com", ("system:authenticated", "workspace-1-admins"))


def _admitted_by(objs):
    namespaces = {o["metadata"]["name"]: o["metadata"].get("labels", {}) for o in objs if o["kind"] == "Namespace"}

    def admitted(obj):
        return not refusals(objs, namespaces, Request("CREATE", obj, None, *TENANT_ADMIN))

    return admitted


@pytest.fixture(scope="module", params=sorted(STACKS))
def first_tenant_breaches(request):
    """What the first tenant of each stack opens with every object admission lets its admin create."""
    stack = request.param
    objs, config = objects(run(stack)), load_tenants(f"tenants/{stack}.yaml")
    tenant = config.tenants[0]
    breaches = hostile_check(objs, config, STACKS[stack], tenants=[tenant.name], admitted=_admitted_by(objs))
    return tenant, breaches


def test_a_tenants_own_objects_open_nothing_into_others(first_tenant_breaches):
    _, breaches = first_tenant_breaches
    assert breach_lines(breaches) == []


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_admission_refuses_the_egress_policy_that_opened_the_hole(stack):
    """The second review's egress hole (egress to `namespaceSelector: {}`): admission refuses it now,
    which is why the hostile check above finds nothing; the test below shows what it would open."""
    objs, config = objects(run(stack)), load_tenants(f"tenants/{stack}.yaml")
    admitted = _admitted_by(objs)
    hostile = {o["metadata"]["name"]: o for o in hostile_objects(config.tenants[0])}
    assert not admitted(hostile["intruder-egress-to-every-namespace"])


def test_a_tenant_egress_policy_to_every_namespace_is_caught_whatever_admission_says():
    """Without asking admission: the check itself finds what such a policy opens into another tenant."""
    objs, config = objects(run("dev")), load_tenants("tenants/dev.yaml")
    lines = breach_lines(hostile_check(objs, config, tenants=["workspace-1"]))
    assert any(
        "workspace-1/intruder-no-sidecar" in line and "-> workspace-2/wk2-ingressgw:80," in line
        and "by NetworkPolicy workspace-1/intruder-egress-to-every-namespace" in line
        for line in lines
    ), lines


def test_hostile_objects_that_open_only_the_tenant_itself_are_no_breach(sharing):
    objs, config = sharing

    def only_ingress_and_mesh(obj):
        return not (obj["kind"] == "NetworkPolicy" and obj["spec"].get("policyTypes") == ["Egress"])

    breaches = hostile_check(objs, config, tenants=["shop-c"], admitted=only_ingress_and_mesh)
    assert breach_lines(breaches) == []
