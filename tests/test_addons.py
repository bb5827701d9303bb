"""The observability add-ons (issue 20): their settings, the values of their charts (checked against
the charts in ../shared/reference/addons), and what the program registers on each install path."""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import pytest
import yaml

from builders.addons import TENANT_DASHBOARDS, addon_releases, dashboard_presets
from builders.telemetry import KIALI_VIEWER_ROLE, extension_providers, kiali_viewer_role
from render.charts import helm_binary, template
from render.engine import ProgramFailed, run_program
from tenants.loader import parse_tenants
from tenants.model import MESH_WIDE_ADDONS, InstallMethod
from tenants.observability import ADDON_CHARTS, _satisfies, kubernetes_problems
from tests.support import chart_values, charts, find, objects, of_kind, reference, run, schema_errors

OIDC = "oidc: {issuer: 'https://login.example.com', clientId: addons, clientSecret: addons-oidc, platformGroups: [platform-admins]}"
ROUTED = f"""
observability:
  install: true
  domain: obs.example.org
  credentialName: obs-tls
  samplingRate: 12.5
  {OIDC}
  addons: {{kiali: true, grafana: true, prometheus: false, tracing: true}}
tenants:
  - name: shop
    admins: {{users: [alice@example.com], groups: [shop-admins]}}
  - name: blog
    namespace: team-blog
    admins: {{groups: [blog-admins]}}
"""
PORT_FORWARD = """
observability: {install: true, exposure: port-forward, addons: {kiali: true}}
tenants:
  - name: shop
    admins: {users: [alice@example.com]}
"""


# --- Settings --------------------------------------------------------------------------------

BAD = {
    "route-without-login": ("observability: {credentialName: c, addons: {grafana: true}}", "observability.addons", "grafana"),
    "issuer-not-https": (
        "observability: {oidc: {issuer: 'http://login.example.com', clientId: a, clientSecret: s}}",
        "observability.oidc.issuer", "'http://login.example.com' is not an https:// URL",
    ),
    "secret-not-a-label": (
        "observability: {oidc: {issuer: 'https://login.example.com', clientId: a, clientSecret: Oidc_Secret}}",
        "observability.oidc.clientSecret", "'Oidc_Secret' is not a DNS-1123 label",
    ),
    "sampling-above-100": ("observability: {samplingRate: 101}", "observability.samplingRate", "101 is not a percentage"),
    "sampling-below-0": ("observability: {samplingRate: -0.5}", "observability.samplingRate", "-0.5 is not a percentage"),
    "gateway-without-login": ("observability: {exposure: gateway}", "observability.exposure", "set observability.oidc"),
    "exposure-unknown": ("observability: {exposure: public}", "observability.exposure", "public"),
    "mesh-wide-route-without-platform-groups": (
        "observability: {credentialName: c, oidc: {issuer: 'https://login.example.com', clientId: a, clientSecret: s}, "
        "addons: {kiali: true, prometheus: true}}",
        "observability.oidc.platformGroups", "required while prometheus is routed",
    ),
    "platform-group-with-a-comma": (
        "observability: {oidc: {issuer: 'https://login.example.com', clientId: a, clientSecret: s, platformGroups: ['ops,dev']}}",
        "observability.oidc.platformGroups[0]", "'ops,dev'",
    ),
    "routed-addons-elsewhere": (
        f"observability: {{install: true, namespace: monitoring, credentialName: c, {OIDC}, addons: {{kiali: true}}}}",
        "observability.namespace", "namespace 'monitoring' is not the control-plane namespace 'istio-system'",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_observability_settings_name_file_field_and_value_and_register_nothing(tmp_path, name):
    text, field, message = BAD[name]
    with pytest.raises(ProgramFailed) as failed:
        run(tenants_yaml=text + "\ntenants: []\n", tmp_path=tmp_path)
    assert re.search(rf"tenants\.yaml:1: {re.escape(field)}: .*{re.escape(message)}", str(failed.value)), str(failed.value)
    assert [r.type for r in failed.value.registrations] == ["pulumi:pulumi:Stack"]  # the stack alone: nothing of ours


def test_kiali_alone_needs_no_platform_group_and_no_login_policy(tmp_path):
    """Kiali shows each user their own namespaces: routed alone, it is behind its own OpenID login,
    and oauth2-proxy guards nothing."""
    text = ("observability: {install: true, credentialName: c, oidc: {issuer: 'https://login.example.com', clientId: a, "
            "clientSecret: s}, addons: {kiali: true}}\ntenants: [{name: shop}]\n")
    objs = objects(run(tenants_yaml=text, tmp_path=tmp_path))
    assert of_kind(objs, "AuthorizationPolicy") and not [p for p in of_kind(objs, "AuthorizationPolicy") if p["spec"].get("action") == "CUSTOM"]
    assert {vs["spec"]["hosts"][0] for vs in of_kind(objs, "VirtualService") if vs["metadata"]["namespace"] == "istio-system"} == {"kiali.example.com"}


def test_port_forward_keeps_the_routes_off_without_a_login():
    config = parse_tenants("observability: {exposure: port-forward, addons: {kiali: true}}\ntenants: []\n")
    assert not config.observability.routed


@pytest.mark.parametrize(
    "release, constraint, fits",
    [
        ((1, 27, 0), ">=1.19.0-0", True), ((1, 18, 9), ">=1.19.0-0", False),
        ((1, 30, 0), "^1.25.0-0", True), ((1, 24, 0), "^1.25.0-0", False), ((2, 0, 0), "^1.25.0-0", False),
        ((1, 21, 0), ">= 1.21-0", True), ((1, 20, 0), ">= 1.21-0", False),
        ((1, 28, 0), ">=1.28.0-0, <1.31.0-0", True), ((1, 31, 0), ">=1.28.0-0 <1.31.0-0", False),
        ((1, 27, 0), "~1.27.0 || >=1.30", True), ((1, 29, 0), "~1.27.0 || >=1.30", False), ((1, 36, 0), "", True),
    ],
)
def test_kube_version_constraints_read_as_helm_reads_them(release, constraint, fits):
    assert _satisfies(release, constraint) is fits


def test_the_pinned_charts_are_the_reference_charts():
    for addon, pinned in ADDON_CHARTS.items():
        chart = yaml.safe_load(reference("addons", pinned.chart, "Chart.yaml").read_text())
        assert chart["name"] == pinned.chart
        # The kiali-server source tree says 0.0.0: its release stamps the tag's version.
        assert chart["version"] in (pinned.version, "0.0.0"), addon
        assert chart.get("kubeVersion", "") == pinned.kube_version, addon


def test_every_addon_fits_the_classic_kubernetes_releases_and_a_misfit_is_refused(monkeypatch, tmp_path):
    assert kubernetes_problems(InstallMethod.OPERATOR) == []
    newer = replace(ADDON_CHARTS["grafana"], kube_version=">=1.29.0-0")
    monkeypatch.setitem(ADDON_CHARTS, "grafana", newer)
    (problem,) = kubernetes_problems(InstallMethod.OPERATOR)
    assert "grafana chart 12.11.1 needs Kubernetes >=1.29.0-0" in problem and "1.27, 1.28 do not fit" in problem
    with pytest.raises(ProgramFailed) as failed:
        run("classic")
    assert "tenants/classic.yaml:" in str(failed.value) and "observability.install: install: true is refused" in str(failed.value)
    assert [r.type for r in failed.value.registrations] == ["pulumi:pulumi:Stack"]  # the stack alone: nothing of ours


# --- Chart values, against the charts -------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _values_yaml(chart: str) -> dict:
    return yaml.safe_load(reference("addons", chart, "values.yaml").read_text())


@functools.lru_cache(maxsize=None)
def _template_paths(chart: str) -> frozenset[str]:
    """`.Values.a.b` paths the chart's templates read (values.yaml comments some of them out)."""
    root = reference("addons", chart, "templates")
    text = "\n".join(p.read_text() for p in Path(root).rglob("*") if p.is_file())
    return frozenset(re.findall(r"\.Values\.([A-Za-z0-9_.]+)", text))


# Mappings whose keys are the application's own configuration, not the chart's settings.
FREE_FORM = {
    "kiali-server": {("auth",), ("external_services",), ("server",), ("deployment",)},
    "grafana": {("grafana.ini",), ("datasources",), ("dashboardProviders",), ("dashboards",)},
    "prometheus": {("serverFiles",)},
    "oauth2-proxy": {("extraArgs",)},
}


def unknown_keys(chart: str, values: dict) -> list[str]:
    free = FREE_FORM.get(chart, set())

    def walk(value: Any, default: Any, path: tuple) -> Iterator[str]:
        if path in free or not isinstance(value, dict) or (isinstance(default, dict) and not default and path):
            return
        for key, item in value.items():
            here = path + (key,)
            if isinstance(default, dict) and key in default:
                yield from walk(item, default[key], here)
            elif ".".join(here) not in _template_paths(chart) and not (not path and key in ("fullnameOverride",)):
                yield ".".join(here)

    return list(walk(values, _values_yaml(chart), ()))


def _schema_errors(chart: str, values: dict) -> list[str]:
    schema_file = reference("addons", chart).joinpath("values.schema.json")
    if not schema_file.exists():
        return []
    # The chart's own defaults merged under ours, as Helm validates them.
    validator = jsonschema.Draft7Validator(json.loads(schema_file.read_text()))
    merged = _merge(_values_yaml(chart), values)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(merged)]


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        return {**base, **{k: _merge(base.get(k), v) for k, v in over.items()}}
    return over


def _releases(text: str):
    return addon_releases(parse_tenants(text), ["istio-system"])


@pytest.mark.parametrize("text", [ROUTED, PORT_FORWARD], ids=["routed", "port-forward"])
def test_every_value_is_a_setting_of_its_chart_and_passes_its_schema(text):
    releases = _releases(text)
    assert set(releases) == (set(ADDON_CHARTS) if "oidc" in text else set(ADDON_CHARTS) - {"oauth2-proxy"})
    for release in releases.values():
        assert unknown_keys(release.chart, release.values) == [], release.chart
        assert _schema_errors(release.chart, release.values) == [], release.chart
    assert reference("addons", "prometheus", "values.schema.json").exists()  # the one schema is really checked


def test_a_wrong_value_fails_the_checks():
    values = _releases(ROUTED)["prometheus"].values
    assert unknown_keys("prometheus", {**values, "serverr": {}}) == ["serverr"]
    assert _schema_errors("prometheus", {**values, "server": {**values["server"], "replicaCount": "two"}})


def test_kiali_runs_on_the_users_identity_read_only():
    routed, forwarded = _releases(ROUTED)["kiali"].values, _releases(PORT_FORWARD)["kiali"].values
    assert routed["auth"]["strategy"] == "openid" and routed["auth"]["openid"]["issuer_uri"] == "https://login.example.com"
    assert forwarded["auth"] == {"strategy": "token"}
    for values in (routed, forwarded):
        assert values["deployment"]["view_only_mode"] is True
        services = values["external_services"]
        assert services["prometheus"]["url"] == "http://prometheus.istio-system.svc.cluster.local:9090"
        assert services["grafana"]["internal_url"] == "http://grafana.istio-system.svc.cluster.local:3000"
        assert services["tracing"]["internal_url"] == "http://jaeger.istio-system.svc.cluster.local:16686"


def test_grafana_is_never_anonymous_and_gives_each_tenant_its_folder():
    values = _releases(ROUTED)["grafana"].values
    assert values["grafana.ini"]["auth.anonymous"] == {"enabled": False}
    assert values["grafana.ini"]["auth.proxy"]["header_name"] == "X-Auth-Request-Email"
    assert "auth.proxy" not in _releases(PORT_FORWARD)["grafana"].values["grafana.ini"]
    (source,) = values["datasources"]["datasources.yaml"]["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus.istio-system.svc.cluster.local:9090"
    folders = {p["name"]: p["folder"] for p in values["dashboardProviders"]["dashboardproviders.yaml"]["providers"]}
    assert folders == {"istio": "istio", "tenant-shop": "shop", "tenant-blog": "blog"}
    blog = values["dashboards"]["tenant-blog"]
    assert set(blog) == {"workload", "service"}
    assert {"name": "namespace", "value": "team-blog"} in blog["workload"]["datasource"]


def test_grafana_is_one_organization_of_viewers_without_pretended_team_sync():
    """What docs/isolation.md says of Grafana ("the platform team's, not the tenants'"): one
    organization, one data source, every user a Viewer, and no group header that only
    Enterprise's team sync reads; so only the platform's groups get past its login (below)."""
    values = _releases(ROUTED)["grafana"].values
    ini = values["grafana.ini"]
    assert ini["users"] == {"allow_sign_up": False, "auto_assign_org_role": "Viewer"}
    assert "headers" not in ini["auth.proxy"]
    assert not {section for section in ini if section.startswith(("auth.generic_oauth", "auth.jwt", "auth.ldap"))}
    assert {p["orgId"] for p in values["dashboardProviders"]["dashboardproviders.yaml"]["providers"]} == {1}
    assert [s["name"] for s in values["datasources"]["datasources.yaml"]["datasources"]] == ["Prometheus"]


@functools.cache
def istio_dashboard(file: str) -> str:
    """One of Istio's dashboards as its release ships it (samples/addons/grafana.yaml of the reference)."""
    manifests = reference("istio") / "1.30.3" / "samples" / "addons" / "grafana.yaml"
    for doc in yaml.safe_load_all(manifests.read_text(encoding="utf-8")):
        if doc and file in (doc.get("data") or {}):
            return doc["data"][file]
    raise LookupError(file)


def chart_substitution(text: str, preset: dict) -> str:
    """The grafana chart's `sed -E 's/\\$\\{?NAME\\}?/VALUE/g'` for one preset, in Python (the helm
    test below runs the rendered script's own sed): in VALUE, `&` is the match, `\\x` is x."""
    def replacement(match: re.Match) -> str:
        out, chars = [], iter(preset["value"])
        for char in chars:
            out.append(match.group(0) if char == "&" else next(chars) if char == "\\" else char)
        return "".join(out)
    return re.sub(r"\$\{?" + preset["name"] + r"\}?", replacement, text)


def namespace_selectors(dashboard: dict) -> set[tuple[str, str]]:
    """Every `<label>namespace` matcher of the dashboard's queries and variables, with its value."""
    found: set[tuple[str, str]] = set()
    for query in queries(dashboard):
        found |= set(re.findall(r'(\w*namespace)=~?"([^"]*)"', query))
    return found


def queries(node) -> Iterator[str]:
    """The PromQL of a dashboard: its panels' `expr` and its variables' `query` and `definition`
    (not a variable's `regex`, which extracts a value from the results)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "query", "definition") and isinstance(value, str):
                yield value
            else:
                yield from queries(value)
    elif isinstance(node, list):
        for item in node:
            yield from queries(item)


def preset_dashboard(name: str, file: str, namespace: str, substitute=chart_substitution) -> dict:
    text = istio_dashboard(file)
    for preset in dashboard_presets(name, namespace):
        text = substitute(text, preset)
    return json.loads(text)


@pytest.mark.parametrize("name", sorted(TENANT_DASHBOARDS))
def test_each_tenant_dashboard_is_preset_to_the_tenants_namespace_only(name):
    dashboard = preset_dashboard(name, TENANT_DASHBOARDS[name], "team-blog")
    text = json.dumps(dashboard)
    # No variable that picks a namespace or a service is left free in a query...
    assert not re.search(r"\$\{?(namespace|dstns)\b", text)
    # ...every namespace a query names is the tenant's (the source namespace stays a choice among its clients')...
    assert {value for _, value in namespace_selectors(dashboard)} <= {"team-blog", "$srcns"}
    assert ("destination_workload_namespace", "team-blog") in namespace_selectors(dashboard)
    # ...and every query of a service asks for the tenant's services only.
    services = [m for query in queries(dashboard) for m in re.findall(r'destination_service="\$service"(, destination_service_namespace="([^"]*)")?', query)]
    if name == "service":
        assert services and all(namespace == "team-blog" for _, namespace in services)
    assert dashboard["templating"]["list"]  # still a dashboard with its variables


def test_the_service_dashboard_without_presets_would_show_every_namespace():
    """The check above can fail: Istio's own dashboard leaves its queries to the drop-downs."""
    text = istio_dashboard(TENANT_DASHBOARDS["service"])
    assert "$dstns" in text and "destination_service_namespace" not in text


def test_prometheus_scrapes_istiod_and_the_merged_metrics_port_only():
    jobs = _releases(ROUTED)["prometheus"].values["serverFiles"]["prometheus.yml"]["scrape_configs"]
    assert [j["job_name"] for j in jobs] == ["istiod", "envoy-stats"]
    keep_port = [r for r in jobs[1]["relabel_configs"] if r["source_labels"] == ["__meta_kubernetes_pod_annotation_prometheus_io_port"]]
    assert keep_port == [{"source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_port"], "action": "keep", "regex": "15020"}]


# --- What the program registers, on every install path ---------------------------------------------


MESHES = "meshes: [{name: platform, namespace: istio-system}, {name: other}, {name: third, namespace: mesh-three}]\n"
# Each mesh's root namespace (its control plane's namespace), by the stack the fixture runs.
ROOTS = {"dev": ["istio-system"], "classic": ["istio-system"], "meshes": ["istio-system", "other", "mesh-three"]}


@pytest.fixture(scope="module", params=["dev", "classic", "meshes", "meshes-sail"])
def routed_run(request, tmp_path_factory):
    text = ROUTED
    if request.param.startswith("meshes"):
        text = MESHES + ROUTED.replace("  - name: blog\n", "  - name: blog\n    mesh: other\n")
    path = tmp_path_factory.mktemp(request.param) / "tenants.yaml"
    path.write_text(text, encoding="utf-8")
    # The meshes stack installs with Sail; the same file on the Helm charts runs on dev.
    stack = {"meshes": "dev", "meshes-sail": "meshes"}.get(request.param, request.param)
    return request.param, run_program(stack, str(path))


def _roots(name: str) -> list[str]:
    return ROOTS[name.removesuffix("-sail")]


def _mesh_configs(name: str, program) -> list[dict]:
    """Every istiod's meshConfig: the IstioOperator's, each Sail `Istio`'s, each istiod chart's."""
    objs = objects(program)
    if name == "classic":
        return [find(objs, "IstioOperator", "platform-istiocontrolplane", "istio-system")["spec"]["meshConfig"]]
    if name == "meshes-sail":
        return [istio["spec"]["values"]["meshConfig"] for istio in of_kind(objs, "Istio")]
    return [chart_values(program, c.inputs["name"], c.inputs["namespace"])["meshConfig"]
            for c in charts(program) if c.inputs["name"].startswith("istiod")]


def test_every_install_path_wires_tracing_and_the_login_into_the_mesh(routed_run):
    name, program = routed_run
    config = parse_tenants(ROUTED)
    mesh_configs = _mesh_configs(name, program)
    assert len(mesh_configs) == len(_roots(name))
    for mesh_config in mesh_configs:
        assert mesh_config["extensionProviders"] == extension_providers(config.observability)
    providers = {p["name"]: p for p in extension_providers(config.observability)}
    assert providers["jaeger"]["opentelemetry"] == {"service": "jaeger.istio-system.svc.cluster.local", "port": 4317}
    assert providers["oauth2-proxy"]["envoyExtAuthzHttp"]["service"] == "oauth2-proxy.istio-system.svc.cluster.local"
    objs = objects(program)
    root = "istio-system"
    # Every mesh's proxies trace: a mesh-wide Telemetry in each mesh's root namespace, none elsewhere.
    telemetries = of_kind(objs, "Telemetry")
    assert sorted(t["metadata"]["namespace"] for t in telemetries) == sorted(_roots(name))
    for telemetry in telemetries:
        assert telemetry["metadata"]["name"] == "mesh-default"
        assert telemetry["spec"]["tracing"] == [{"providers": [{"name": "jaeger"}], "randomSamplingPercentage": 12.5}]
        assert schema_errors(telemetry) == []
    telemetry = find(objs, "Telemetry", "mesh-default", root)
    policy = find(objs, "AuthorizationPolicy", "observability-login", root)
    assert policy["spec"]["action"] == "CUSTOM" and policy["spec"]["provider"] == {"name": "oauth2-proxy"}
    assert policy["spec"]["selector"] == {"matchLabels": {"istio": "ingressgateway"}}
    hosts = policy["spec"]["rules"][0]["to"][0]["operation"]["hosts"]
    routed = {vs["spec"]["hosts"][0] for vs in of_kind(objs, "VirtualService") if vs["metadata"]["namespace"] == root}
    # Every routed add-on whose data is mesh-wide is behind oauth2-proxy; Kiali, on its own login, is not.
    assert {h for h in hosts if not h.endswith(":*")} == {h for h in routed if h.split(".")[0] in MESH_WIDE_ADDONS}
    assert "kiali.obs.example.org" in routed and {"grafana.obs.example.org", "tracing.obs.example.org"} <= set(hosts)
    for vs in of_kind(objs, "VirtualService"):
        if vs["metadata"]["namespace"] == root:
            destination = vs["spec"]["http"][0]["route"][0]["destination"]["host"]
            assert destination.endswith(".istio-system.svc.cluster.local")
    for obj in [telemetry, policy]:
        assert schema_errors(obj) == []


def test_the_addons_are_charts_at_their_pinned_versions(routed_run):
    _, program = routed_run
    registered = {c.inputs["name"]: c.inputs for c in charts(program) if c.inputs["namespace"] == "istio-system"}
    for addon, pinned in ADDON_CHARTS.items():
        release = "kiali" if addon == "kiali" else addon
        inputs = registered[release]
        assert inputs["chart"] == pinned.chart and inputs["version"] == pinned.version
        assert inputs["repositoryOpts"] == {"repo": pinned.repository}


def test_tenant_admins_may_read_their_mesh_configuration_only(routed_run):
    _, program = routed_run
    objs = objects(program)
    role = find(objs, "ClusterRole", "istio-multitenancy-mesh-viewer")
    assert {verb for rule in role["rules"] for verb in rule["verbs"]} == {"get", "list", "watch"}
    shop = find(objs, "RoleBinding", "tenant-admins-mesh-viewer", "shop")
    assert shop["roleRef"]["name"] == "istio-multitenancy-mesh-viewer"
    assert {s["name"] for s in shop["subjects"]} == {"alice@example.com", "shop-admins"}
    assert {s["name"] for s in find(objs, "RoleBinding", "tenant-admins-mesh-viewer", "team-blog")["subjects"]} == {"blog-admins"}


def test_without_a_login_nothing_is_routed_and_the_outputs_say_port_forward(tmp_path):
    program = run(tenants_yaml=PORT_FORWARD, tmp_path=tmp_path)
    objs = objects(program)
    assert of_kind(objs, "AuthorizationPolicy") == [o for o in of_kind(objs, "AuthorizationPolicy") if o["metadata"]["namespace"] == "shop"]
    assert [o for o in of_kind(objs, "VirtualService") if o["metadata"]["namespace"] == "istio-system"] == []
    assert "oauth2-proxy" not in {c.inputs["name"] for c in charts(program)}
    outputs = program.outputs["observability"]
    assert outputs["kiali"] == {
        "url": "http://localhost:20001", "login": True, "portForward": "kubectl -n istio-system port-forward svc/kiali 20001",
    }
    assert outputs["prometheus"]["login"] is False


def test_routed_outputs_say_a_login_protects_them(routed_run):
    name, program = routed_run
    outputs = program.outputs["observability"]
    assert outputs["kiali"] == {
        "url": "https://kiali.obs.example.org", "login": True,
        "readers": "anyone the issuer logs in: the namespaces their own Kubernetes RBAC lets them read",
    }
    assert outputs["grafana"]["readers"] == "the platform's groups (platform-admins): every tenant's data"
    assert outputs["prometheus"]["url"] == "http://localhost:9090"  # installed, not routed


def test_a_chart_directory_is_used_for_every_addon(tmp_path):
    directory = str(reference("addons"))
    program = run(tenants_yaml=PORT_FORWARD.replace("install: true,", f"install: true, chartDirectory: '{directory}',"), tmp_path=tmp_path)
    addons = {c.inputs["name"]: c.inputs for c in charts(program) if c.inputs["namespace"] == "istio-system" and "version" not in c.inputs}
    assert {inputs["chart"] for inputs in addons.values()} == {f"{directory}/{c.chart}" for a, c in ADDON_CHARTS.items() if a != "oauth2-proxy"}


def test_a_chart_directory_without_the_charts_is_an_error(tmp_path):
    with pytest.raises(ProgramFailed, match=r"observability.chartDirectory: .* lacks the add-on chart\(s\) prometheus, grafana"):
        run(tenants_yaml=PORT_FORWARD.replace("install: true,", f"install: true, chartDirectory: '{tmp_path}',"), tmp_path=tmp_path)


# --- `helm template` of every add-on chart with the program's values ----------------------------------

HELM = helm_binary()


@pytest.fixture(scope="module")
def templated(tmp_path_factory) -> dict[str, list[dict]]:
    """Each add-on chart of ../shared/reference/addons, rendered by helm with what the program registers."""
    if HELM is None:
        pytest.skip("no helm (set HELM_BIN or put helm on PATH)")
    directory = str(reference("addons"))
    path = tmp_path_factory.mktemp("templated") / "tenants.yaml"
    path.write_text(ROUTED.replace("install: true", f"install: true\n  chartDirectory: '{directory}'"), encoding="utf-8")
    program = run_program("dev", str(path))
    addons = [c for c in charts(program) if c.inputs["chart"].startswith(directory)]
    assert len(addons) == len(ADDON_CHARTS)
    return {c.inputs["name"]: template(HELM, c.inputs) for c in addons}


def test_every_addon_chart_renders_with_the_programs_values(templated):
    deployments = {o["metadata"]["name"] for objs in templated.values() for o in objs if o["kind"] == "Deployment"}
    assert deployments == {"prometheus", "grafana", "kiali", "jaeger", "oauth2-proxy"}
    problems = {f"{o['kind']} {o['metadata']['name']}": schema_errors(o) for objs in templated.values() for o in objs}
    assert {k: v for k, v in problems.items() if v} == {}


def test_rendered_kiali_is_read_only_and_grafana_never_anonymous(templated):
    assert [o for o in templated["kiali"] if o["kind"] in ("ClusterRole", "Role")] == []  # the program's own role instead
    (binding,) = [o for o in templated["kiali"] if o["kind"] == "ClusterRoleBinding"]
    assert binding["roleRef"]["name"] == KIALI_VIEWER_ROLE
    (config,) = [o for o in templated["kiali"] if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "kiali"]
    kiali = yaml.safe_load(config["data"]["config.yaml"])
    assert kiali["deployment"]["view_only_mode"] is True and kiali["auth"]["strategy"] == "openid"
    (ini,) = [o["data"]["grafana.ini"] for o in templated["grafana"] if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "grafana"]
    assert re.search(r"\[auth\.anonymous\]\nenabled = false", ini), ini


def test_rendered_oauth2_proxy_lets_only_the_platform_groups_through(templated):
    (deployment,) = [o for o in templated["oauth2-proxy"] if o["kind"] == "Deployment"]
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--allowed-group=platform-admins" in args
    assert "--scope=openid email profile groups" in args and "--oidc-groups-claim=groups" in args


def test_the_kiali_role_writes_nothing():
    verbs = {(tuple(r["resources"]), v) for r in kiali_viewer_role()["rules"] for v in r["verbs"]}
    assert {v for _, v in verbs} == {"get", "list", "watch", "create"}
    assert [resources for resources, v in verbs if v == "create"] == [("tokenreviews",)]


def test_tenants_reach_only_jaegers_receiver_and_grafana_only_the_gateway_and_kiali(routed_run):
    _, program = routed_run
    objs = objects(program)
    egress = find(objs, "NetworkPolicy", "restrict-tenant-egress", "shop")["spec"]["egress"]
    to_addons = [rule for rule in egress if any(peer.get("namespaceSelector", {}).get("matchLabels", {}).get(
        "kubernetes.io/metadata.name") == "istio-system" and "podSelector" in peer for peer in rule.get("to", []))]
    assert to_addons == [{"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-system"}},
                                  "podSelector": {"matchLabels": {"app.kubernetes.io/name": "jaeger"}}}],
                          "ports": [{"protocol": "TCP", "port": 4317}]}]
    grafana = find(objs, "NetworkPolicy", "grafana-ingress", "istio-system")["spec"]
    peers = [p["podSelector"]["matchLabels"] for p in grafana["ingress"][0]["from"]]
    assert peers == [{"istio": "ingressgateway"}, {"app.kubernetes.io/name": "kiali"}]
    assert schema_errors(find(objs, "NetworkPolicy", "grafana-ingress", "istio-system")) == []


def test_without_the_addons_the_tenants_egress_is_unchanged(tmp_path):
    objs = objects(run(tenants_yaml="tenants:\n  - name: shop\n", tmp_path=tmp_path))
    egress = find(objs, "NetworkPolicy", "restrict-tenant-egress", "shop")["spec"]["egress"]
    assert not [r for r in egress if any("podSelector" in p for p in r.get("to", []))]


def test_addons_in_a_namespace_of_their_own(tmp_path):
    program = run(tenants_yaml=PORT_FORWARD.replace("install: true,", "install: true, namespace: monitoring,"), tmp_path=tmp_path)
    objs = objects(program)
    assert find(objs, "Namespace", "monitoring")["metadata"]["labels"]["istio-injection"] == "disabled"
    assert {c.inputs["namespace"] for c in charts(program) if c.inputs["name"] in ("prometheus", "grafana", "kiali", "jaeger")} == {"monitoring"}
    # istiod's metrics are open to the scraper's namespace, the tenants' proxies send traces there.
    istiod = find(objs, "NetworkPolicy", "istiod-ingress", "istio-system")["spec"]["ingress"]
    assert {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
            "ports": [{"protocol": "TCP", "port": 15014}]} in istiod
    egress = find(objs, "NetworkPolicy", "restrict-tenant-egress", "shop")["spec"]["egress"]
    assert any(p.get("namespaceSelector", {}).get("matchLabels") == {"kubernetes.io/metadata.name": "monitoring"}
               for rule in egress for p in rule.get("to", []))
    assert parse_tenants(PORT_FORWARD.replace("install: true,", "install: true, namespace: monitoring,")).observability.namespace == "monitoring"


def test_the_rendered_download_script_presets_every_tenant_dashboard(templated, tmp_path):
    """The chart's own download script, with the program's presets, run on Istio's dashboards:
    each tenant folder's dashboards name that tenant's namespace and no other."""
    if shutil.which("sed") is None:
        pytest.skip("no sed")
    (script,) = [o["data"]["download_dashboards.sh"] for o in templated["grafana"] if "download_dashboards.sh" in (o.get("data") or {})]
    namespaces = {"tenant-shop": "shop", "tenant-blog": "team-blog"}
    for block in script.split("curl ")[1:]:
        target = re.search(r'> "/var/lib/grafana/dashboards/([^/]+)/([^/]+)\.json"', block)
        if target is None or target.group(1) not in namespaces:
            continue
        folder, name = target.groups()
        seds = re.findall(r"\| sed -E '(/-- \.\* --/! s/.*)' ", block)
        assert seds, block
        text = istio_dashboard(TENANT_DASHBOARDS[name])
        for expression in seds:
            text = subprocess.run(["sed", "-E", expression], input=text, capture_output=True, text=True, check=True).stdout
        dashboard = json.loads(text)
        assert {value for _, value in namespace_selectors(dashboard)} <= {namespaces[folder], "$srcns"}, folder
        assert dashboard == preset_dashboard(name, TENANT_DASHBOARDS[name], namespaces[folder]), folder


def test_every_addon_chart_renders_the_same_twice(templated, tmp_path_factory):
    """Nothing random (a generated password or signing key) in what the charts render: else every
    `pulumi up` would update the add-ons (what e2e's `preview --expect-no-changes` caught)."""
    directory = str(reference("addons"))
    path = tmp_path_factory.mktemp("again") / "tenants.yaml"
    path.write_text(ROUTED.replace("install: true", f"install: true\n  chartDirectory: '{directory}'"), encoding="utf-8")
    program = run_program("dev", str(path))
    again = {c.inputs["name"]: template(HELM, c.inputs) for c in charts(program) if c.inputs["chart"].startswith(directory)}
    assert again == templated
    empty = [o["metadata"]["name"] for objs in templated.values() for o in objs if o["kind"] in ("ClusterRole", "Role") and not o.get("rules")]
    assert empty == []
