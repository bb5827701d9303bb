"""The observability add-ons (issue 20) on the operator path: the `classic` stack's tenants file with
a login (`observability.oidc`), its add-on charts from ../shared/reference/addons. After `pulumi up`:
the add-ons' Deployments are Available (kwok runs their pods), the CUSTOM AuthorizationPolicy and
the extension providers are in the cluster as the program wrote them, and a tenant admin,
impersonated with `kubectl --as`, reads what Kiali shows them in their namespace, nothing in
another tenant's, and can change no add-on object."""

from __future__ import annotations

import pytest
import yaml

from harness.kube import condition
from harness.procs import wait_until
from harness.render import render

from conftest import BUILD

STACK = "classic"
ADDONS_NAMESPACE = "istio-system"
DEPLOYMENTS = ("prometheus", "grafana", "kiali", "jaeger", "oauth2-proxy")
ADMINS = {"workspace-1": "alice@example.com", "workspace-2": "bob@example.com"}
# What Kiali reads with the user's own identity, in a tenant's namespace.
KIALI_READS = (
    "pods", "services", "deployments.apps", "virtualservices.networking.istio.io", "gateways.networking.istio.io",
    "authorizationpolicies.security.istio.io", "peerauthentications.security.istio.io", "sidecars.networking.istio.io",
)
SECRET = "addons-oidc"  # named by the file; not created (see below)
PLATFORM_GROUP = "platform-admins"  # the only group oauth2-proxy lets through to Grafana, Prometheus, Jaeger


@pytest.fixture(scope="module")
def observed(e2e, stacks, new_workspace, reset_cluster):
    ws = new_workspace("observability", STACK, stacks["all"][STACK])
    path = ws.tenants_path(STACK)
    doc = yaml.safe_load(path.read_text())
    obs = doc["observability"]
    obs.pop("exposure", None)
    obs["oidc"] = {"issuer": "https://login.example.com", "clientId": "istio-addons", "clientSecret": SECRET, "platformGroups": [PLATFORM_GROUP]}
    for tenant in doc["tenants"]:
        tenant["admins"] = {"users": [ADMINS[tenant["name"]]]}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    ctx = {"ws": ws, "seen": []}
    rendered = render(ws, STACK, BUILD / "render" / "observability")
    ctx["seen"].extend(rendered.objects)
    # The Secret a platform team creates for oauth2-proxy and Kiali is left out: kwok starts no
    # container, and the program's own Namespace must be the one Pulumi creates.
    result = ws.up(STACK)
    print(f"\npulumi up ({len(rendered.resources)} resources): {result.seconds:.1f} s")
    yield ctx
    for r in ws.export(STACK):
        if r.get("protect"):
            ws("state", "unprotect", r["urn"], "--stack", STACK, "--yes")
    ws.destroy(STACK, check=False)
    reset_cluster(ctx["seen"])


def test_the_addons_deploy_and_become_available(e2e, observed):
    def available() -> bool:
        live = [e2e.kube.get("deployment", name, ADDONS_NAMESPACE) for name in DEPLOYMENTS]
        return all(d is not None and condition(d, "Available") == "True" for d in live)

    wait_until(available, 180, f"Deployments {', '.join(DEPLOYMENTS)} Available in {ADDONS_NAMESPACE}")


def test_the_login_policy_and_the_extension_providers_are_accepted(e2e, observed):
    policy = e2e.kube.get("authorizationpolicies.security.istio.io", "observability-login", ADDONS_NAMESPACE)
    assert policy is not None and policy["spec"]["action"] == "CUSTOM" and policy["spec"]["provider"] == {"name": "oauth2-proxy"}
    # The mesh-wide add-ons behind it, for the platform's group alone; Kiali on its own login.
    guarded = {h.split(":")[0].split(".")[0] for rule in policy["spec"]["rules"] for to in rule["to"] for h in to["operation"]["hosts"]}
    assert guarded == {"grafana", "prometheus", "tracing"}
    proxy = e2e.kube.get("deployment", "oauth2-proxy", ADDONS_NAMESPACE)
    args = proxy["spec"]["template"]["spec"]["containers"][0]["args"]
    assert f"--allowed-group={PLATFORM_GROUP}" in args
    operator = e2e.kube.get("istiooperators.install.istio.io", "platform-istiocontrolplane", ADDONS_NAMESPACE)
    providers = {p["name"]: p for p in operator["spec"]["meshConfig"]["extensionProviders"]}
    assert providers["oauth2-proxy"]["envoyExtAuthzHttp"]["service"] == f"oauth2-proxy.{ADDONS_NAMESPACE}.svc.cluster.local"
    assert providers["jaeger"]["opentelemetry"]["port"] == 4317
    telemetry = e2e.kube.get("telemetries.telemetry.istio.io", "mesh-default", ADDONS_NAMESPACE)
    assert telemetry["spec"]["tracing"][0]["providers"] == [{"name": "jaeger"}]


def _can(e2e, user: str, verb: str, resource: str, namespace: str) -> bool:
    result = e2e.kube("auth", "can-i", verb, resource, "-n", namespace, "--as", user, check=False)
    return result.stdout.strip() == "yes"


@pytest.mark.parametrize("tenant", sorted(ADMINS))
def test_a_tenant_admin_reads_what_kiali_shows_in_their_namespace_only(e2e, observed, tenant):
    user = ADMINS[tenant]
    other = next(t for t in ADMINS if t != tenant)
    for resource in KIALI_READS:
        assert _can(e2e, user, "list", resource, tenant), (user, resource, tenant)
        assert not _can(e2e, user, "list", resource, other), (user, resource, other)
        assert not _can(e2e, user, "list", resource, ADDONS_NAMESPACE), (user, resource, ADDONS_NAMESPACE)
    # As Kiali asks, with the user's identity: their namespace answers, the other's refuses.
    e2e.kube("get", "virtualservices.networking.istio.io,pods", "-n", tenant, "--as", user)
    refused = e2e.kube("get", "virtualservices.networking.istio.io", "-n", other, "--as", user, check=False)
    assert refused.returncode != 0 and "forbidden" in refused.stderr.lower(), refused.stderr


@pytest.mark.parametrize("tenant", sorted(ADMINS))
def test_a_tenant_admin_changes_no_addon_object(e2e, observed, tenant):
    user = ADMINS[tenant]
    for verb in ("create", "update", "patch", "delete"):
        for resource in ("deployments.apps", "configmaps", "secrets", "services", "networkpolicies.networking.k8s.io",
                         "authorizationpolicies.security.istio.io", "telemetries.telemetry.istio.io"):
            assert not _can(e2e, user, verb, resource, ADDONS_NAMESPACE), (user, verb, resource)
    for verb in ("update", "patch", "delete"):
        for resource in ("clusterroles.rbac.authorization.k8s.io/kiali-viewer",
                         "clusterroles.rbac.authorization.k8s.io/istio-multitenancy-mesh-viewer"):
            result = e2e.kube("auth", "can-i", verb, resource, "--as", user, check=False)
            assert result.stdout.strip() == "no", (user, verb, resource)
    refused = e2e.kube("delete", "deployment", "kiali", "-n", ADDONS_NAMESPACE, "--as", user, "--dry-run=server", check=False)
    assert refused.returncode != 0 and "forbidden" in refused.stderr.lower(), refused.stderr


@pytest.mark.parametrize("tenant", sorted(ADMINS))
def test_the_scraper_namespace_reaches_a_tenants_metrics_ports_only(e2e, observed, tenant):
    """As the API server stored it: the tenant's own namespace on every port, the add-ons'
    namespace (the scraper's) on the proxies' metrics ports 15020 and 15090 alone."""
    policy = e2e.kube.get("networkpolicies.networking.k8s.io", "allow-tenant-ingress", tenant)
    rules = {
        tuple(peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for peer in rule["from"]):
        sorted(port["port"] for port in rule.get("ports", []))
        for rule in policy["spec"]["ingress"]
    }
    assert rules == {(tenant,): [], (ADDONS_NAMESPACE,): [15020, 15090]}
