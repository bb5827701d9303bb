"""Where the installed add-ons answer: the Services their releases (builders/addons.py) create,
which the routes, the mesh's extension providers and the add-ons themselves point at."""

from __future__ import annotations

# Service name and port of each add-on, as its release names it; the routes' destinations.
PROMETHEUS = ("prometheus", 9090)
GRAFANA = ("grafana", 3000)
KIALI = ("kiali", 20001)
JAEGER_QUERY = ("jaeger", 16686)
JAEGER_OTLP_GRPC = 4317
OAUTH2_PROXY_SERVICE = ("oauth2-proxy", 80)
OAUTH2_PROXY_POD_PORT = 4180  # the chart's container port behind that Service
# The routes' add-on names (tenants.model.Addons) -> the installed Services.
INSTALLED_SERVICES = {"kiali": KIALI, "grafana": GRAFANA, "prometheus": PROMETHEUS, "tracing": JAEGER_QUERY}
MERGED_METRICS_PORT = 15020  # the proxy's merged metrics: Envoy's and the application's (Istio's prometheus annotations)
ENVOY_METRICS_PORT = 15090  # Envoy's own /stats/prometheus
# What the scraper may reach of every proxy, a tenant's included; nothing else of a tenant's pods.
PROXY_METRICS_PORTS = (MERGED_METRICS_PORT, ENVOY_METRICS_PORT)


def service_host(service: tuple[str, int], namespace: str) -> str:
    return f"{service[0]}.{namespace}.svc.cluster.local"


def service_url(service: tuple[str, int], namespace: str) -> str:
    return f"http://{service_host(service, namespace)}:{service[1]}"
