"""The observability add-ons as Helm releases: Prometheus, Grafana, Kiali, Jaeger and (with a login)
oauth2-proxy, each from its upstream chart at the version `tenants.observability` pins.

Istio's integrations as istio.io documents them: Prometheus scrapes istiod (15014) and every proxy's
merged metrics (15020); Grafana reads Prometheus and Istio's dashboards; Kiali knows Prometheus,
Grafana and Jaeger; Jaeger receives the proxies' traces over OpenTelemetry. None is anonymous: Kiali
asks for the user's own identity (OIDC, else a token) and sees what their RBAC lets them see.
Every value is a key of the chart's values.yaml, or allowed by its values.schema.json
(tests/test_addons.py checks both, and `helm template` of each chart).
"""

from __future__ import annotations

from typing import Optional

from tenants.install import ChartSource
from tenants.model import Observability, Tenant, TenantsFile
from tenants.observability import ADDON_CHARTS, OAUTH2_PROXY

from .helm_values import ChartRelease
from .addon_services import GRAFANA, JAEGER_QUERY, KIALI, MERGED_METRICS_PORT, OAUTH2_PROXY_SERVICE, PROMETHEUS, service_url

GRAFANA_ADMIN_SECRET = "grafana-admin"  # admin-user and admin-password, created by the platform team
KIALI_SECRET = "kiali"  # the kiali-server chart's default Secret, read when there is no OIDC Secret
KIALI_IMAGE = "v2.29.0"  # the kiali-server chart's source tree leaves its tag to the release: its own
# Istio's dashboards of the Istio release the charts validate (raw files of its manifests/addons).
ISTIO_DASHBOARDS = "https://raw.githubusercontent.com/istio/istio/1.30.3/manifests/addons/dashboards"
PLATFORM_DASHBOARDS = {
    "istio-mesh": "istio-mesh-dashboard.json", "istio-service": "istio-service-dashboard.json",
    "istio-workload": "istio-workload-dashboard.json", "istio-performance": "istio-performance-dashboard.json",
    "istio-control-plane": "pilot-dashboard.json",
}
TENANT_DASHBOARDS = {"workload": "istio-workload-dashboard.json", "service": "istio-service-dashboard.json"}
# The chart's download step runs `sed -E 's/\$\{?NAME\}?/VALUE/g'` over a dashboard for each
# {name, value} of its `datasource` list (VALUE a sed replacement: `&` is the matched variable).
# In Istio's service dashboard every query names its service as `destination_service=\"$service\"`
# (inside a JSON string): the matched variable, then the namespace's own selector, keeps each
# query to services of that namespace whichever service the drop-down offers (the dashboard's
# header, which prints `$service`, prints the added selector too).
SERVICE_IN_NAMESPACE = r'&\\", destination_service_namespace=\\"{namespace}'
# Restricted Pod Security, as the add-ons' own charts allow it.
_RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True,
    "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"},
}


def addon_source(obs: Observability, addon: str) -> ChartSource:
    """Where one add-on's chart comes from: the file's directory or repository, else its upstream one."""
    chart = ADDON_CHARTS[addon]
    if obs.chart_directory is not None:
        return ChartSource(version=chart.version, directory=obs.chart_directory)
    return ChartSource(version=chart.version, repository=obs.chart_repository or chart.repository)


def scrape_configs(control_plane_namespaces: list[str]) -> list[dict]:
    """istiod's metrics, and every sidecar's and gateway's merged metrics (the pods Istio's injection
    annotates with `prometheus.io/port: 15020`), nothing else: the NetworkPolicies let the scraper
    reach only those ports."""
    pods = {"role": "pod"}
    return [
        {
            "job_name": "istiod",
            "kubernetes_sd_configs": [{"role": "endpoints", "namespaces": {"names": sorted(control_plane_namespaces)}}],
            "relabel_configs": [
                {"source_labels": ["__meta_kubernetes_service_name", "__meta_kubernetes_endpoint_port_name"],
                 "action": "keep", "regex": "istiod.*;http-monitoring"},
            ],
        },
        {
            "job_name": "envoy-stats",
            "metrics_path": "/stats/prometheus",
            "kubernetes_sd_configs": [pods],
            "relabel_configs": [
                {"source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"], "action": "keep", "regex": "true"},
                {"source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_port"], "action": "keep", "regex": str(MERGED_METRICS_PORT)},
                {"source_labels": ["__address__"], "action": "replace", "regex": r"([^:]+)(?::\d+)?",
                 "replacement": f"$1:{MERGED_METRICS_PORT}", "target_label": "__address__"},
                {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
                {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
            ],
        },
    ]


def prometheus_release(obs: Observability, control_plane_namespaces: list[str]) -> ChartRelease:
    """The server alone (no Alertmanager, exporters or push gateway), scraping what Istio documents."""
    values = {
        "alertmanager": {"enabled": False},
        "kube-state-metrics": {"enabled": False},
        "prometheus-node-exporter": {"enabled": False},
        "prometheus-pushgateway": {"enabled": False},
        "configmapReload": {"prometheus": {"enabled": False}},
        "server": {
            "fullnameOverride": PROMETHEUS[0],
            "service": {"servicePort": PROMETHEUS[1]},
            "persistentVolume": {"enabled": False},
            "global": {"scrape_interval": "15s"},
            "containerSecurityContext": dict(_RESTRICTED_CONTAINER),
        },
        # The chart's default jobs (the API server, nodes, every annotated pod and service) replaced by Istio's.
        "serverFiles": {"prometheus.yml": {"scrape_configs": scrape_configs(control_plane_namespaces)}},
    }
    return ChartRelease("prometheus", "prometheus", obs.namespace, values)


def _tenant_provider(tenant: Tenant) -> dict:
    return {
        "name": f"tenant-{tenant.name}", "orgId": 1, "folder": tenant.name, "type": "file", "disableDeletion": True,
        "editable": False, "options": {"path": f"/var/lib/grafana/dashboards/tenant-{tenant.name}"},
    }


def dashboard_presets(dashboard: str, namespace: str) -> list[dict]:
    """What the chart substitutes in one of Istio's dashboards for a tenant's folder: the data
    source, and every variable that picks a namespace or a service, so that each query of the
    dashboard is about `namespace` alone. The workload dashboard's `$namespace`; the service
    dashboard's destination namespace (`$dstns`) and its `$service`, kept to the namespace's
    services. The source namespace (`$srcns`) stays a choice: in these dashboards it only narrows
    which clients of the namespace's own workloads and services are shown."""
    presets = [{"name": "datasource", "value": "prometheus"}]
    if dashboard == "workload":
        presets.append({"name": "namespace", "value": namespace})
    elif dashboard == "service":
        presets += [
            {"name": "dstns", "value": namespace},
            {"name": "service", "value": SERVICE_IN_NAMESPACE.format(namespace=namespace)},
        ]
    return presets


def tenant_dashboards(tenant: Tenant) -> dict:
    """Istio's workload and service dashboards for one tenant's folder, preset to the tenant's
    namespace (the chart's download step substitutes the presets, as it does a data source), so
    the folder shows that namespace's workloads and services from the start."""
    return {
        name: {
            "url": f"{ISTIO_DASHBOARDS}/{file}",
            "title": f"{tenant.name}: Istio {name.capitalize()} Dashboard",
            "datasource": dashboard_presets(name, tenant.namespace_name),
        }
        for name, file in TENANT_DASHBOARDS.items()
    }


def grafana_ini(obs: Observability) -> dict:
    """No anonymous access, no sign-up form. With OIDC, Grafana takes the user oauth2-proxy vouched
    for (its headers, which only the platform gateway adds: no tenant reaches Grafana's pod), and
    every user is a Viewer; without, only the chart's admin login (through port-forward)."""
    ini: dict = {
        "auth.anonymous": {"enabled": False},
        "users": {"allow_sign_up": False, "auto_assign_org_role": "Viewer"},
        "server": {"root_url": f"https://grafana.{obs.domain}" if obs.routed else f"http://localhost:{GRAFANA[1]}"},
    }
    if obs.routed:
        # No `Groups:` header: Grafana reads it for team sync, which only Grafana Enterprise has
        # (docs/isolation.md, "Grafana is not a tenant boundary").
        ini["auth.proxy"] = {
            "enabled": True, "header_name": "X-Auth-Request-Email", "header_property": "email", "auto_sign_up": True,
        }
    return ini


def grafana_release(config: TenantsFile) -> ChartRelease:
    obs = config.observability
    prometheus = {
        "name": "Prometheus", "uid": "prometheus", "type": "prometheus", "access": "proxy", "isDefault": True,
        "url": service_url(PROMETHEUS, obs.namespace), "editable": False,
    }
    providers = [
        {"name": "istio", "orgId": 1, "folder": "istio", "type": "file", "disableDeletion": True, "editable": False,
         "options": {"path": "/var/lib/grafana/dashboards/istio"}},
        *(_tenant_provider(t) for t in config.tenants),
    ]
    dashboards = {"istio": {name: {"url": f"{ISTIO_DASHBOARDS}/{file}", "datasource": [{"name": "datasource", "value": "prometheus"}]}
                            for name, file in PLATFORM_DASHBOARDS.items()}}
    dashboards.update({f"tenant-{t.name}": tenant_dashboards(t) for t in config.tenants})
    values: dict = {
        "fullnameOverride": GRAFANA[0],
        "service": {"port": GRAFANA[1]},
        "testFramework": {"enabled": False},
        "grafana.ini": grafana_ini(obs),
        "datasources": {"datasources.yaml": {"apiVersion": 1, "datasources": [prometheus]}},
        "dashboardProviders": {"dashboardproviders.yaml": {"apiVersion": 1, "providers": providers}},
        "dashboards": dashboards,
        # No API access: no sidecar reads dashboards from ConfigMaps (and an empty ClusterRole diffs forever).
        "rbac": {"create": False},
    }
    # Nothing random in the rendered chart (a new admin password at every render would update the
    # Deployment at every `pulumi up`): behind the login there is no admin account to create;
    # without it, the admin's password is the platform team's Secret.
    if obs.routed:
        values["env"] = {"GF_SECURITY_DISABLE_INITIAL_ADMIN_CREATION": "true"}
    else:
        values["admin"] = {"existingSecret": GRAFANA_ADMIN_SECRET}
    return ChartRelease("grafana", "grafana", obs.namespace, values)


def kiali_release(obs: Observability, control_plane_namespace: str) -> ChartRelease:
    """Kiali on the user's own identity (openid with a login, else a token), read-only: its service
    account gets the chart's viewer ClusterRole, and each user sees only the namespaces their own
    RBAC lets them read."""
    auth: dict = {"strategy": "token"}
    deployment: dict = {
        "view_only_mode": True, "instance_name": KIALI[0], "image_version": KIALI_IMAGE, "version_label": KIALI_IMAGE,
        "cluster_wide_access": True,
    }
    if obs.oidc is not None:
        auth = {
            "strategy": "openid",
            "openid": {
                "client_id": obs.oidc.client_id, "issuer_uri": obs.oidc.issuer, "disable_rbac": False,
                "username_claim": "email", "scopes": ["openid", "email", "groups"],
            },
        }
        # Kiali reads its OIDC client secret as `oidc-secret` of this Secret.
        deployment["secret_name"] = obs.oidc.client_secret
    # Kiali signs its session tokens with this key; the chart would make up a new one at every render.
    signing = f"secret:{obs.oidc.client_secret if obs.oidc is not None else KIALI_SECRET}:signing-key"
    values = {
        "auth": auth,
        "deployment": deployment,
        "login_token": {"signing_key": signing},
        # Its ClusterRole is the program's (telemetry.kiali_viewer_role): the chart's viewer role
        # also lets Kiali open port-forwards into any pod.
        "skipResources": ["clusterrole"],
        "server": {"port": KIALI[1], "web_fqdn": f"kiali.{obs.domain}" if obs.routed else ""},
        "external_services": {
            "istio": {"root_namespace": control_plane_namespace},
            "prometheus": {"enabled": True, "url": service_url(PROMETHEUS, obs.namespace)},
            "grafana": {
                "enabled": True, "internal_url": service_url(GRAFANA, obs.namespace),
                "external_url": f"https://grafana.{obs.domain}" if obs.routed else f"http://localhost:{GRAFANA[1]}",
            },
            "tracing": {
                "enabled": True, "provider": "jaeger", "use_grpc": False,
                "internal_url": service_url(JAEGER_QUERY, obs.namespace),
                "external_url": f"https://tracing.{obs.domain}" if obs.routed else f"http://localhost:{JAEGER_QUERY[1]}",
            },
        },
    }
    return ChartRelease("kiali-server", "kiali", obs.namespace, values)


def jaeger_release(obs: Observability) -> ChartRelease:
    """Jaeger v2 all-in-one (in-memory storage): OTLP from the proxies, the query UI on 16686."""
    values = {"fullnameOverride": JAEGER_QUERY[0], "jaeger": {"enabled": True, "replicas": 1}}
    return ChartRelease("jaeger", "jaeger", obs.namespace, values)


def oauth2_proxy_release(obs: Observability) -> Optional[ChartRelease]:
    """The login of the mesh-wide add-ons' routes: Envoy asks it about every request to their hosts
    (Istio's ext_authz); it answers 200 to a valid session of a platform group's member, else sends
    the browser to the issuer (or refuses: 403)."""
    if obs.oidc is None:
        return None
    values = {
        "fullnameOverride": OAUTH2_PROXY_SERVICE[0],
        "config": {
            "existingSecret": obs.oidc.client_secret,
            # The client id is not secret: it is given here, the secret and cookie key from the Secret.
            "requiredSecretKeys": ["client-secret", "cookie-secret"],
            "clientID": obs.oidc.client_id,
        },
        "extraArgs": {
            "provider": "oidc", "oidc-issuer-url": obs.oidc.issuer, "client-id": obs.oidc.client_id,
            "oidc-groups-claim": obs.oidc.groups_claim, "email-domain": "*", "upstream": "static://200",
            "reverse-proxy": True, "set-xauthrequest": True, "skip-provider-button": True,
            "cookie-domain": f".{obs.domain}", "whitelist-domain": f".{obs.domain}", "cookie-secure": True,
            # The groups claim is in the ID token only when asked for (Kiali asks the same).
            "scope": "openid email profile groups",
        },
        "service": {"portNumber": OAUTH2_PROXY_SERVICE[1]},
    }
    if obs.oidc.platform_groups:
        # It guards only the mesh-wide add-ons (telemetry.login_policy): the platform's groups alone.
        # One flag, comma-separated (a string list; group names hold no commas, tenants.model).
        values["extraArgs"]["allowed-group"] = ",".join(obs.oidc.platform_groups)
    return ChartRelease(OAUTH2_PROXY, OAUTH2_PROXY, obs.namespace, values)


def addon_releases(config: TenantsFile, control_plane_namespaces: list[str]) -> dict[str, ChartRelease]:
    """Every add-on release, by the key of `ADDON_CHARTS`; none unless `observability.install`."""
    obs = config.observability
    if not obs.install:
        return {}
    releases = {
        "prometheus": prometheus_release(obs, control_plane_namespaces),
        "grafana": grafana_release(config),
        "kiali": kiali_release(obs, control_plane_namespaces[0]),
        "jaeger": jaeger_release(obs),
    }
    proxy = oauth2_proxy_release(obs)
    if proxy is not None:
        releases[OAUTH2_PROXY] = proxy
    return releases
