"""The input of the L7 proof (verify/istio, issue 18): a stack rendered with its charts expanded,
split into what istiod reads, and what the tenants file says must follow from it.

    python -m verify.istio_input STACK [--tenants FILE] [--name NAME] [--out DIR]

writes DIR (default build/verify/NAME, NAME defaulting to STACK):
- `config.yaml`: the render's Istio configuration (istiod's config store);
- `kube.yaml`: namespaces, Services, ServiceAccounts, Deployments and Gateway API objects of the
  render, the gateway Services the in-cluster operator creates from its IstioOperators, and one
  synthetic workload per service the tenants file names (`verify.workloads`);
- `expect.json`: each mesh's meshConfig and istiod environment exactly as the render sets them,
  and per tenant what must hold: its routes through its own gateway, the cross-tenant calls a
  sidecar must not make (or, exported and imported, must), the identities its workloads admit.

Charts come from the reference copies beside the repository (as e2e/stacks.yaml takes them);
`HELM_BIN` (or helm on PATH) expands them. Exit 2 with one line when the input cannot be made.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

import yaml

from builders.tenant import service_host
from render.charts import expand, helm_binary
from render.engine import NAMESPACE, PROJECT_ROOT, read_stack_config, run_program_file, tenants_argument
from render.output import kubernetes_objects
from tenants.errors import ConfigError
from tenants.model import InstallMethod, RouteKind, Server, Tenant, TenantsFile, dns_part
from tenants.stack import load_settings, project_values
from verify.workloads import named_services, pod_labels

REFERENCE = PROJECT_ROOT.parent / "shared" / "reference"
ADDON_CHARTS = REFERENCE / "addons"
# The charts `make e2e` installs (e2e/stacks.yaml): no chart repository is reachable here.
CHARTS = REFERENCE / "istio" / "1.30.3" / "charts"
GATEWAY_API_CRDS = REFERENCE / "gateway-api" / "v1.5.1"
CHART_PATHS = {
    InstallMethod.HELM: {"chartDirectory": CHARTS, "gatewayApiCrds": GATEWAY_API_CRDS},
    InstallMethod.SAIL: {"chartDirectory": CHARTS, "gatewayApiCrds": GATEWAY_API_CRDS,
                         "sailChartDirectory": REFERENCE / "sail-operator" / "1.30.3" / "chart"},
}
ISTIO_GROUPS = ("networking.istio.io", "security.istio.io", "telemetry.istio.io", "extensions.istio.io")
GATEWAY_API_GROUP = "gateway.networking.k8s.io"
KUBE_KINDS = {("v1", "Namespace"), ("v1", "Service"), ("v1", "ServiceAccount"), ("apps/v1", "Deployment")}
TRUST_DOMAIN = "cluster.local"
# A host no tenant serves, sent where a server answers any host ("*").
ANY_HOST = "verify.invalid"


class InputError(Exception):
    pass


def _group(obj: dict) -> str:
    api_version = obj.get("apiVersion", "")
    return api_version.split("/")[0] if "/" in api_version else ""


def is_istio_config(obj: dict) -> bool:
    return _group(obj) in ISTIO_GROUPS


def is_kube_input(obj: dict) -> bool:
    return (obj.get("apiVersion"), obj.get("kind")) in KUBE_KINDS or _group(obj) == GATEWAY_API_GROUP


@dataclass
class Rendered:
    objects: list[dict]  # the program's objects and its charts', as manifests.yaml holds them
    registrations: list  # render.engine.Registration, for chart values
    tenants: TenantsFile
    install_method: InstallMethod


def _with_addon_charts(tenants_path: Path, stack: str) -> Path:
    """A copy of the tenants file whose add-on charts come from the reference copies."""
    doc = yaml.safe_load(tenants_path.read_text(encoding="utf-8"))
    doc.setdefault("observability", {}).pop("chartRepository", None)
    doc["observability"]["chartDirectory"] = str(ADDON_CHARTS)
    copy = PROJECT_ROOT / "build" / "verify" / f"{stack}-tenants.yaml"
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return copy


def render_stack(stack: str, tenants_file: Optional[str] = None) -> Rendered:
    """Render `stack` as `python -m render` does, with every chart from the reference copies, expanded."""
    config = read_stack_config(stack)
    if tenants_file:
        config[f"{NAMESPACE}:tenantsFile"] = tenants_argument(tenants_file)
    first = load_settings(stack, project_values(config), PROJECT_ROOT)
    method = first.stack.install_method
    obs = first.tenants.observability
    if obs.install and not obs.chart_directory and ADDON_CHARTS.exists():
        # The add-ons' charts from the reference copies too (e2e/stacks.yaml's tenantsPaths does the same).
        config[f"{NAMESPACE}:tenantsFile"] = str(_with_addon_charts(first.tenants_path, stack))
    for key, path in CHART_PATHS.get(method, {}).items():
        if path.exists():
            config.setdefault(f"{NAMESPACE}:{key}", str(path))
    settings = load_settings(stack, project_values(config), PROJECT_ROOT)
    run = run_program_file(PROJECT_ROOT / "__main__.py", stack, config)
    helm = helm_binary()
    expansions = expand(run, helm) if helm else []
    failed = [e for e in expansions if not e.expanded]
    charts = [r for r in run.registrations if r.type == "kubernetes:helm.sh/v4:Chart"]
    if charts and (helm is None or failed):
        why = failed[0].status if failed else "no helm: set HELM_BIN or put helm on PATH"
        raise InputError(f"{stack}: its charts must be expanded for the proof ({why})")
    objects = kubernetes_objects(run) + [obj for e in expansions for obj in e.objects]
    return Rendered(objects, run.registrations, settings.tenants, settings.stack.install_method)


# --- Meshes: which control plane, with what settings --------------------------------------


def _chart_values(rendered: Rendered, chart: str) -> list[dict]:
    # A chart from a repository is named; from chartDirectory, it is a path ending in its name.
    return [
        r.inputs for r in rendered.registrations
        if r.type == "kubernetes:helm.sh/v4:Chart" and Path(str(r.inputs.get("chart", ""))).name == chart
    ]


def control_planes(rendered: Rendered) -> dict[str, dict]:
    """Control-plane namespace -> its meshConfig and istiod env, read from the render (the istiod
    chart's values, the IstioOperator's spec, the Sail Istio's values), never recomputed."""
    found: dict[str, list[dict]] = {}
    for inputs in _chart_values(rendered, "istiod"):
        values = inputs.get("values") or {}
        found.setdefault(inputs["namespace"], []).append({"meshConfig": values.get("meshConfig") or {}, "env": values.get("env") or {}})
    for obj in rendered.objects:
        spec = obj.get("spec") or {}
        if obj.get("kind") == "IstioOperator" and spec.get("profile") != "empty":
            env = ((spec.get("values") or {}).get("pilot") or {}).get("env") or {}
            found.setdefault(obj["metadata"]["namespace"], []).append({"meshConfig": spec.get("meshConfig") or {}, "env": env})
        if obj.get("kind") == "Istio" and _group(obj) == "sailoperator.io":
            values = spec.get("values") or {}
            env = (values.get("pilot") or {}).get("env") or {}
            found.setdefault(spec.get("namespace", "istio-system"), []).append({"meshConfig": values.get("meshConfig") or {}, "env": env})
    planes = {}
    for namespace, settings in found.items():
        # Revisions of one mesh must agree, or the proof would hold for one revision only.
        if any(s != settings[0] for s in settings[1:]):
            raise InputError(f"control plane {namespace}: its revisions set different meshConfig or env; prove them one by one")
        planes[namespace] = settings[0]
    if not planes:
        raise InputError("the render holds no control plane (istiod chart, IstioOperator or Sail Istio)")
    return planes


def mesh_of(config: TenantsFile, tenant: Tenant) -> str:
    """The control-plane namespace whose istiod serves the tenant."""
    if config.meshes:
        by_name = {mesh.name: mesh for mesh in config.meshes}
        return by_name[tenant.mesh or config.meshes[0].name].namespace_name
    return config.control_plane.namespace


# --- Gateways -----------------------------------------------------------------------------


def _selects(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _operator_gateway(rendered: Rendered, tenant: Tenant) -> Optional[dict]:
    for obj in rendered.objects:
        if obj.get("kind") != "IstioOperator":
            continue
        for gw in ((obj.get("spec") or {}).get("components") or {}).get("ingressGateways") or []:
            if gw.get("name") == tenant.gateway_name and gw.get("namespace") == tenant.namespace_name:
                return gw
    return None


def operator_gateway_service(tenant: Tenant, gw: dict) -> dict:
    """The Service the in-cluster operator creates for an ingressGateways entry (its k8s.service)."""
    service = (gw.get("k8s") or {}).get("service") or {}
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": tenant.gateway_name, "namespace": tenant.namespace_name, "labels": dict(gw.get("label") or {})},
        "spec": {"type": service.get("type", "LoadBalancer"), "selector": dict(gw.get("label") or {}), "ports": service.get("ports") or []},
    }


def gateway_facts(rendered: Rendered, tenant: Tenant) -> dict:
    """The tenant's gateway pods as they will run: labels, service account, and the port each server
    listens on (its Service's target port), from the objects that deploy them."""
    ns = tenant.namespace_name
    if tenant.uses_gateway_api:
        gw = _kubernetes_gateway(rendered, tenant)
        service = istiod_gateway_service(gw)
        return {"labels": dict(service["spec"]["selector"]) | _infrastructure_labels(gw), "serviceAccount": service["metadata"]["name"],
                "serviceAccountFrom": "istiod", "targetPorts": {}}
    deployments = [
        o for o in rendered.objects
        if o.get("kind") == "Deployment" and o["metadata"].get("namespace") == ns
        and _selects(tenant.gateway_labels, (((o.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {})
    ]
    services = [o for o in rendered.objects if o.get("kind") == "Service" and o["metadata"].get("namespace") == ns]
    if deployments:
        template = deployments[0]["spec"]["template"]
        labels = dict(template["metadata"]["labels"])
        account = template.get("spec", {}).get("serviceAccountName") or "default"
        source = "render"
    else:
        gw = _operator_gateway(rendered, tenant)
        if gw is None:
            raise InputError(f"{tenant.name}: no Deployment or IstioOperator in the render runs gateway {tenant.gateway_name}")
        labels = dict(gw.get("label") or {})
        # The operator names the account <gateway>-service-account (its gateway template).
        account, source = f"{tenant.gateway_name}-service-account", "operator"
        services = [operator_gateway_service(tenant, gw)]
    targets = {}
    for service in services:
        if _selects((service.get("spec") or {}).get("selector") or {}, labels):
            for port in service["spec"].get("ports") or []:
                if isinstance(port.get("targetPort"), int):
                    targets[str(port["port"])] = port["targetPort"]
    return {"labels": labels, "serviceAccount": account, "serviceAccountFrom": source, "targetPorts": targets}


NAME_OVERRIDE = "gateway.istio.io/name-override"
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"


def _kubernetes_gateway(rendered: Rendered, tenant: Tenant) -> dict:
    for obj in rendered.objects:
        if obj.get("kind") == "Gateway" and _group(obj) == GATEWAY_API_GROUP and obj["metadata"].get("namespace") == tenant.namespace_name:
            return obj
    raise InputError(f"{tenant.name}: the render holds no Gateway API Gateway in {tenant.namespace_name}")


def _infrastructure_labels(gw: dict) -> dict:
    return dict(((gw.get("spec") or {}).get("infrastructure") or {}).get("labels") or {})


def istiod_gateway_service(gw: dict) -> dict:
    """The Service istiod deploys for a Gateway API Gateway of its class (its gateway template):
    named `<gateway>-<class>` or by the name-override annotation, selecting the pods it labels
    with the Gateway's name, one port per listener port. Its Deployment and account take the same name."""
    meta = gw["metadata"]
    spec = gw.get("spec") or {}
    name = (meta.get("annotations") or {}).get(NAME_OVERRIDE) or f"{meta['name']}-{spec.get('gatewayClassName')}"
    ports = sorted({(l["port"], l["protocol"]) for l in spec.get("listeners") or []})
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": meta["namespace"], "labels": {GATEWAY_NAME_LABEL: meta["name"]}},
        "spec": {
            "selector": {GATEWAY_NAME_LABEL: meta["name"]},
            "ports": [{"name": f"{protocol.lower()}-{port}", "port": port, "targetPort": port, "protocol": "TCP"} for port, protocol in ports],
        },
    }


def installer_services(rendered: Rendered) -> list[dict]:
    """Gateway Services the render does not hold but its installers create: the in-cluster
    operator's (from its IstioOperators) and istiod's (for Gateway API Gateways)."""
    out = []
    for tenant in rendered.tenants.tenants:
        if tenant.uses_gateway_api:
            out.append(istiod_gateway_service(_kubernetes_gateway(rendered, tenant)))
            continue
        gw = _operator_gateway(rendered, tenant)
        if gw is not None:
            out.append(operator_gateway_service(tenant, gw))
    return out


# --- Expectations ---------------------------------------------------------------------------


def _example_host(host: str, tenant: Tenant) -> str:
    host = dns_part(host)
    if host == "*":
        return f"{tenant.name}.{ANY_HOST}"
    return "www" + host[1:] if host.startswith("*") else host


def _serves(server: Server, host: str) -> bool:
    for served in (dns_part(h) for h in server.hosts):
        if served == "*" or served == host or (served.startswith("*.") and host.endswith(served[1:])):
            return True
    return False


def _path(rule) -> Optional[str]:
    for match in rule.match:
        if match.exact:
            return match.exact
        if match.prefix:
            return match.prefix
    return "/" if not rule.match else None  # a regex alone: no path is derived from it


def route_calls(tenant: Tenant) -> list[dict]:
    """Every (route, host, server, destination) the file declares: what a client of the gateway sends."""
    calls = []
    for route in tenant.routes:
        for server in tenant.route_servers(route):
            hosts = [h for h in tenant.route_hosts(route) if route.kind == RouteKind.TCP or _serves(server, _example_host(h, tenant))]
            if route.kind == RouteKind.TCP:
                hosts = hosts[:1] or ["*"]
            for host in hosts:
                base = {
                    "route": route.name, "kind": route.kind.value, "port": server.port, "protocol": server.protocol.value,
                    "tlsMode": server.tls.mode.value if server.tls else "", "credentialName": (server.tls.credential_name or "") if server.tls else "",
                    "host": _example_host(host, tenant), "wildcard": "*" in dns_part(host),
                }
                if route.kind == RouteKind.HTTP:
                    for rule in route.http:
                        path = _path(rule)
                        if path is not None:
                            calls.append({**base, "path": path, "service": rule.to.service, "servicePort": rule.to.port})
                else:
                    to = (route.tcp or route.tls).to
                    calls.append({**base, "path": "", "service": to.service, "servicePort": to.port})
    return calls


def _principal(namespace: str, account: str) -> str:
    return f"spiffe://{TRUST_DOMAIN}/ns/{namespace}/sa/{account}"


def expectations(rendered: Rendered, stack: str) -> dict:
    config = rendered.tenants
    planes = control_planes(rendered)
    services = named_services(config)
    by_tenant: dict[str, list] = {}
    for service in services:
        by_tenant.setdefault(service.tenant, []).append(service)
    tenants = {t.name: t for t in config.tenants}
    gateways = {t.name: gateway_facts(rendered, t) for t in config.tenants}
    # Every identity that could call: each workload's and gateway's account, plus each namespace's
    # `default` account (a pod a tenant admin starts without naming one).
    identities = set()
    for t in config.tenants:
        identities.add((t.namespace_name, gateways[t.name]["serviceAccount"]))
        identities.add((t.namespace_name, "default"))
    for service in services:
        identities.add((service.namespace, service.name))
    for namespace in planes:
        identities.add((namespace, "default"))
    exported = {(owner.name, e.service, to) for owner in config.tenants for e in owner.exports for to in e.to}
    imported = {(wanted.tenant, wanted.service, t.name) for t in config.tenants for wanted in t.imports}
    shared = exported & imported

    out_tenants = []
    for t in config.tenants:
        workloads = []
        for service in by_tenant.get(t.name, []):
            importers = {tenants[c].namespace_name for (owner, name, c) in shared if owner == t.name and name == service.name}
            admitted = sorted(_principal(ns, sa) for ns, sa in identities if ns == t.namespace_name or ns in importers)
            denied = sorted(_principal(ns, sa) for ns, sa in identities if not (ns == t.namespace_name or ns in importers))
            workloads.append({
                "name": service.name, "labels": pod_labels(service), "serviceAccount": service.name,
                "ports": [{"port": p.port, "name": p.name, "protocol": p.protocol} for p in service.ports],
                "admitted": admitted, "denied": denied,
            })
        out_tenants.append({
            "name": t.name, "namespace": t.namespace_name, "mesh": mesh_of(config, t),
            "gateway": {"name": t.gateway_name, "api": t.gateway.api.value, **gateways[t.name]},
            "hosts": [h for h in t.served_dns_names if "*" not in h],
            # What its proxies may take configuration from (the Sidecar's egress, as istiod scopes it):
            # its own namespace, its control plane's, and each imported service.
            "egress": {
                "namespaces": sorted({t.namespace_name, mesh_of(config, t)}),
                "hosts": sorted(
                    f"{tenants[owner].namespace_name}/{service_host(name, tenants[owner].namespace_name)}"
                    for (owner, name, consumer) in shared if consumer == t.name
                ),
            },
            "routes": route_calls(t), "workloads": workloads,
        })
    calls = []
    for caller in config.tenants:
        for service in services:
            if service.tenant == caller.name or mesh_of(config, caller) != mesh_of(config, tenants[service.tenant]):
                continue
            for port in service.ports:
                calls.append({
                    "from": caller.name, "to": service.tenant, "service": service.name,
                    "host": service_host(service.name, service.namespace), "port": port.port, "protocol": port.protocol,
                    "allowed": (service.tenant, service.name, caller.name) in shared,
                })
    # Across meshes: the other mesh's services, its gateways' among them, must not even be known.
    known = [(s.tenant, service_host(s.name, s.namespace)) for s in services]
    known += [(t.name, service_host(t.gateway_name, t.namespace_name)) for t in config.tenants if not t.uses_gateway_api]
    hidden = [
        {"from": caller.name, "to": owner, "host": host}
        for caller in config.tenants for owner, host in known
        if mesh_of(config, caller) != mesh_of(config, tenants[owner])
    ]
    return {
        "stack": stack,
        "trustDomain": TRUST_DOMAIN,
        "meshes": [{"namespace": ns, **settings} for ns, settings in sorted(planes.items())],
        "tenants": out_tenants,
        "calls": calls,
        "hidden": hidden,
    }


def _dump_all(objects: Iterable[dict]) -> str:
    return "\n---\n".join(yaml.safe_dump(o, sort_keys=True, width=120) for o in objects) + "\n"


EXPORT_TO = "networking.istio.io/exportTo"


def export_annotations(config: TenantsFile, workloads: list[dict]) -> list[dict]:
    """An exporter annotates its Service with the importers' namespaces (docs/isolation.md,
    `service-export-only-to-importers`): meshConfig's defaultServiceExportTo hides it otherwise."""
    by_name = {t.name: t for t in config.tenants}
    importers: dict[tuple[str, str], set[str]] = {}
    for t in config.tenants:
        for wanted in t.imports:
            owner = by_name.get(wanted.tenant)
            if owner and any(e.service == wanted.service and t.name in e.to for e in owner.exports):
                importers.setdefault((owner.namespace_name, wanted.service), set()).add(t.namespace_name)
    for obj in workloads:
        key = (obj["metadata"].get("namespace"), obj["metadata"]["name"])
        if obj["kind"] == "Service" and key in importers:
            annotations = obj["metadata"].setdefault("annotations", {})
            annotations[EXPORT_TO] = ",".join([".", *sorted(importers[key])])
    return workloads


def write_input(rendered: Rendered, stack: str, out: Path, extra_kube: Iterable[dict] = ()) -> dict:
    from verify.workloads import synthetic_workloads

    expect = expectations(rendered, stack)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(_dump_all(o for o in rendered.objects if is_istio_config(o)), encoding="utf-8")
    kube = [o for o in rendered.objects if is_kube_input(o)] + installer_services(rendered)
    kube += export_annotations(rendered.tenants, synthetic_workloads(rendered.tenants)) + list(extra_kube)
    (out / "kube.yaml").write_text(_dump_all(kube), encoding="utf-8")
    (out / "expect.json").write_text(json.dumps(expect, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return expect


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m verify.istio_input", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", metavar="STACK")
    parser.add_argument("--tenants", metavar="FILE", help="render with this tenants file instead of the stack's")
    parser.add_argument("--name", help="the case's name (default: STACK)")
    parser.add_argument("--out", type=Path, help="output directory (default: build/verify/NAME)")
    args = parser.parse_args(argv)
    name = args.name or args.stack
    out = args.out or PROJECT_ROOT / "build" / "verify" / name
    try:
        rendered = render_stack(args.stack, args.tenants)
        expect = write_input(rendered, name, out)
    except (InputError, ConfigError) as err:
        print(f"verify input {name}: {err}", file=sys.stderr)
        return 2
    routes = sum(len(t["routes"]) for t in expect["tenants"])
    print(f"verify input {name}: {len(expect['tenants'])} tenants, {routes} route calls, {len(expect['calls'])} sidecar calls -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
