"""Isolation invariants for generated tenants files, checked on the pure builders.

Each example is a valid multi-tenant file: random names and namespaces, gateway label sets that
satisfy the rules, random exports, each imported or not by its consumer. What the file grants
is computed here from the generated plan, independently of the program's own `Sharing`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders.control_plane import CONTROL_PLANE_GATEWAY_SELECTOR, mesh_wide_mtls
from builders.isolation import Sharing, tenant_isolation
from builders.meta import TENANT_LABEL
from builders.tenant import gateway_operator, tenant_gateway, tenant_namespace
from tenants import ConfigError, parse_tenants
from tenants.model import TenantsFile
from tests.isolation_support import (
    CANONICAL_SERVICE_LABEL,
    in_namespace,
    mesh_admits,
    network_admits,
    network_admits_on,
    network_egress_allows,
    policy_namespaces,
    sidecar_hosts,
)
from tests.support import run, schema_errors

SERVICES = ("api", "web", "db", "search")
NAMES = st.from_regex(r"[a-z][a-z0-9]{0,7}", fullmatch=True).filter(lambda n: n != "default")
QUOTAS = st.fixed_dictionaries({"cpu": st.sampled_from(["500m", "2", "16"]), "memory": st.sampled_from(["512Mi", "4Gi", "64Gi"]), "pods": st.integers(1, 500)})


@dataclass
class Plan:
    """A generated file and what it grants, worked out from the generation itself."""

    text: str
    control_plane: str
    namespaces: dict[str, str]  # tenant -> namespace
    grants: set[tuple[str, str, str]] = field(default_factory=set)  # (owner, service, consumer), imported too
    quotas: dict[str, dict] = field(default_factory=dict)
    admins: dict[str, bool] = field(default_factory=dict)
    pod_security: dict[str, str] = field(default_factory=dict)
    decommission: dict[str, bool] = field(default_factory=dict)


@st.composite
def plans(draw) -> Plan:
    names = draw(st.lists(NAMES, min_size=1, max_size=6, unique=True))
    control_plane = draw(st.sampled_from(["istio-system", "mesh-system"]))
    plan = Plan("", control_plane, {})
    tenants = []
    for name in names:
        tenant: dict = {"name": name}
        plan.namespaces[name] = name
        if draw(st.booleans()):
            tenant["namespace"] = plan.namespaces[name] = f"ns-{name}"
        servers = [{"port": 80, "protocol": "HTTP", "hosts": [f"{name}.example.com"]}]
        if draw(st.booleans()):
            tls = {"mode": "SIMPLE", "credentialName": f"{name}-tls"}
            if draw(st.booleans()):
                tls["issuer"] = "letsencrypt"
            servers.append({"port": 443, "protocol": "HTTPS", "hosts": [f"{name}.example.com"], "tls": tls})
        tenant["gateway"] = {"servers": servers}
        style = draw(st.sampled_from(["default", "own", "own+shared"]))
        if style != "default":
            # A pair unique to the tenant, possibly with pairs other tenants share.
            labels = {"gateway-of": name}
            if style == "own+shared":
                labels |= draw(st.dictionaries(st.sampled_from(["tier", "app", "team"]), st.sampled_from(["edge", "public", "gw"]), min_size=1))
            tenant["gateway"]["labels"] = labels
        plan.admins[name] = draw(st.booleans())
        if plan.admins[name]:
            tenant["admins"] = {"users": [f"{name}@example.com"], "groups": draw(st.lists(st.sampled_from(["ops", "dev"]), unique=True))}
        if draw(st.booleans()):
            tenant["quota"] = plan.quotas[name] = draw(QUOTAS)
        level = draw(st.sampled_from([None, "restricted", "baseline"]))
        if level:
            tenant["podSecurity"] = level
        plan.pod_security[name] = level or "restricted"
        plan.decommission[name] = draw(st.booleans())
        if plan.decommission[name]:
            tenant["decommission"] = True
        tenants.append(tenant)

    by_name = {t["name"]: t for t in tenants}
    offers = draw(st.lists(st.tuples(st.sampled_from(names), st.sampled_from(SERVICES), st.sampled_from(names), st.booleans()), max_size=8))
    exports: dict[tuple[str, str], list[str]] = {}
    for owner, service, consumer, imported in offers:
        if owner == consumer or consumer in exports.get((owner, service), []):
            continue
        exports.setdefault((owner, service), []).append(consumer)
        if imported:
            by_name[consumer].setdefault("imports", []).append({"tenant": owner, "service": service})
            plan.grants.add((owner, service, consumer))
    for (owner, service), consumers in exports.items():
        by_name[owner].setdefault("exports", []).append({"service": service, "to": consumers})
    plan.text = yaml.safe_dump({"controlPlane": {"namespace": control_plane}, "tenants": tenants}, sort_keys=False)
    return plan


def _build(plan: Plan) -> tuple[TenantsFile, dict[str, list[dict]]]:
    config = parse_tenants(plan.text, "generated.yaml")  # valid by construction: must load
    sharing = Sharing.of(config)
    built = {}
    for tenant in config.tenants:
        isolation = tenant_isolation(tenant, plan.control_plane, sharing)
        built[tenant.name] = [tenant_namespace(tenant), tenant_gateway(tenant), *isolation.istio, *isolation.kubernetes, isolation.quota, *isolation.access]
    return config, built


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(plans())
def test_every_tenant_is_isolated_except_for_what_it_grants(plan):
    config, built = _build(plan)
    everything = [obj for objs in built.values() for obj in objs]
    cp = plan.control_plane
    # Gateway pods as the operators deploy them: the platform's, then each tenant's.
    pods = [(cp, {**CONTROL_PLANE_GATEWAY_SELECTOR, "app": "istio-ingressgateway"})]
    for t in config.tenants:
        for gw in gateway_operator(t, config.control_plane)["spec"]["components"]["ingressGateways"]:
            pods.append((gw["namespace"], gw["label"]))
    assert [p for p in pods if CONTROL_PLANE_GATEWAY_SELECTOR.items() <= p[1].items()] == pods[:1]

    for tenant in config.tenants:
        name, ns, objs = tenant.name, plan.namespaces[tenant.name], built[tenant.name]
        namespace, *objs = objs
        assert {o["metadata"]["namespace"] for o in objs} == {ns}  # nothing outside its namespace

        # Pod Security: the tenant's level, never below baseline, restricted warned about.
        labels = namespace["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == plan.pod_security[name] in ("restricted", "baseline")
        assert labels["pod-security.kubernetes.io/warn"] == "restricted"

        # Exactly one gateway pod set matches its Gateway, cluster-wide: its own.
        (gateway,) = in_namespace(objs, "Gateway", ns)
        selected = [p for p in pods if gateway["spec"]["selector"].items() <= p[1].items()]
        # (its pods carry the tenant label too, which makes them the platform's objects)
        assert selected == [(ns, {**tenant.gateway_labels, TENANT_LABEL: tenant.name})]
        # Only VirtualServices of its own namespace bind to its hosts.
        assert all(host.startswith(("./", f"{ns}/")) for server in gateway["spec"]["servers"] for host in server["hosts"])

        (pa,) = in_namespace(objs, "PeerAuthentication", ns)
        assert pa["spec"] == {"mtls": {"mode": "STRICT"}}

        consumers = {c for owner, _, c in plan.grants if owner == name}
        assert policy_namespaces(objs, ns) == {ns} | {plan.namespaces[c] for c in consumers}

        imports = {f"{plan.namespaces[o]}/{s}.{plan.namespaces[o]}.svc.cluster.local" for o, s, c in plan.grants if c == name}
        hosts = sidecar_hosts(objs, ns)
        assert hosts[:2] == ["./*", f"{cp}/*"] and sorted(hosts[2:]) == sorted(imports)

        (quota,) = in_namespace(objs, "ResourceQuota", ns)
        wanted = plan.quotas.get(name, {"cpu": "4", "memory": "8Gi", "pods": 50})
        hard = quota["spec"]["hard"]
        assert (hard["requests.cpu"], hard["requests.memory"], hard["pods"]) == (wanted["cpu"], wanted["memory"], str(wanted["pods"]))
        exposed = tenant.gateway.service.type.value != "ClusterIP"
        assert hard["services.loadbalancers"] == ("1" if tenant.gateway.service.type.value == "LoadBalancer" else "0")
        # One node port per gateway Service port (the status port and each server's), and the file's own.
        gateway_ports = 1 + len({s.port for s in tenant.gateway.servers}) if exposed else 0
        assert int(hard["services.nodeports"]) == gateway_ports + tenant.quota.node_ports
        assert len(in_namespace(objs, "LimitRange", ns)) == 1

        bindings = [o for o in objs if o["kind"] in ("RoleBinding", "ClusterRoleBinding")]
        assert [(b["kind"], b["metadata"]["namespace"]) for b in bindings] == ([("RoleBinding", ns)] if plan.admins[name] else [])

    # Who reaches whom, judged as Istio and Kubernetes would.
    for owner in config.tenants:
        ns = plan.namespaces[owner.name]
        workloads = {s: {"app": s, CANONICAL_SERVICE_LABEL: s} for s in SERVICES}
        for source in config.tenants:
            source_ns = plan.namespaces[source.name]
            imports_any = any(o == owner.name and c == source.name for o, _, c in plan.grants)
            for service, pod in workloads.items():
                granted = source is owner or (owner.name, service, source.name) in plan.grants
                assert mesh_admits(everything, ns, pod, source_ns, cp) == granted, (owner.name, service, source.name)
                assert network_admits(everything, ns, pod, source_ns) == (source is owner or imports_any)
            assert mesh_admits(everything, ns, owner.gateway_labels, source_ns, cp)  # the public entry point
        assert network_admits(everything, ns, owner.gateway_labels, None)
        # The control plane's namespace (the scraper's by default): the proxy's metrics ports only.
        assert not network_admits(everything, ns, {}, cp)
        cp_labels = {"kubernetes.io/metadata.name": cp}
        assert all(network_admits_on(everything, ns, {}, cp_labels, port) for port in (15020, 15090))
        assert not any(network_admits_on(everything, ns, {}, cp_labels, port) for port in (15021, 8080))
        assert not network_admits(everything, ns, {}, None)
        # One gateway label stands for the gateway below the mesh (a selector cannot negate a
        # set of labels): a pod carrying that pair alone is open, one carrying any other is not.
        opened = [key for key, value in owner.gateway_labels.items() if network_admits(everything, ns, {key: value}, None)]
        assert opened == [("istio" if "istio" in owner.gateway_labels else min(owner.gateway_labels))]

        # Egress: every pod, the gateway's too, reaches its own namespace, the tenants it imports
        # from, DNS and istiod, and nothing else; never the cloud metadata address.
        imported_from = {plan.namespaces[o] for o, _, c in plan.grants if c == owner.name}
        for pod in ({}, owner.gateway_labels, {"app": "api"}):
            out = lambda **to: network_egress_allows(everything, ns, pod, port=8080, **to)  # noqa: E731
            for other in config.tenants:
                other_ns = plan.namespaces[other.name]
                assert out(to_namespace=other_ns) == (other_ns == ns or other_ns in imported_from), (owner.name, other.name)
            assert not out(to_ip="169.254.169.254") and not out(to_ip="8.8.8.8")
            assert network_egress_allows(everything, ns, pod, to_namespace=cp, port=15012)
            assert not network_egress_allows(everything, ns, pod, to_namespace=cp, port=15010)
            assert network_egress_allows(everything, ns, pod, to_namespace="kube-system", port=53, protocol="UDP")


@settings(max_examples=20, deadline=None)
@given(plans())
def test_generated_objects_validate(plan):
    config, built = _build(plan)
    objs = [mesh_wide_mtls(config.control_plane)] + [o for objs in built.values() for o in objs]
    for obj in objs:
        if obj["kind"] != "Certificate":  # no cert-manager schema in the reference data; see test_isolation
            assert schema_errors(obj) == [], obj["metadata"]


# --- What a removal leaves, and who owns which host ------------------------------------------

PROTECTIONS = {"PeerAuthentication", "AuthorizationPolicy", "Sidecar", "NetworkPolicy", "ResourceQuota", "LimitRange"}


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(plans())
def test_every_retained_namespace_keeps_its_protections(tmp_path, plan):
    """Removing a tenant leaves its namespace unless it is decommissioned; whatever protects the
    namespace must be left with it, and only then."""
    program = run(tenants_yaml=plan.text, tmp_path=tmp_path)
    owner = {ns: name for name, ns in plan.namespaces.items()}
    for registration in program.registrations:
        if not registration.is_kubernetes_object:
            continue
        metadata = registration.inputs["metadata"]
        ns = metadata.get("namespace") if registration.inputs["kind"] != "Namespace" else metadata["name"]
        if ns not in owner:
            continue
        retained = registration.retain_on_delete
        if registration.inputs["kind"] in PROTECTIONS | {"Namespace"}:
            assert retained == (not plan.decommission[owner[ns]]), (registration.inputs["kind"], metadata)
        else:
            assert not retained, (registration.inputs["kind"], metadata)  # routes, gateway, access leave with the tenant


LABELS = st.sampled_from(["shop", "api", "eu", "www"])
DOMAINS = st.sampled_from(["example.com", "example.org", "shop.example.com"])
HOSTS = st.one_of(
    st.builds(lambda a, d: f"{a}.{d}", LABELS, DOMAINS),
    st.builds(lambda d: f"*.{d}", DOMAINS),
    st.builds(lambda a, d: f"*.{a}.{d}", LABELS, DOMAINS),
)


def _covers(pattern: str, name: str) -> bool:
    """Istio's matching of one concrete name (brute force, independent of tenants/rules.py)."""
    return pattern == name or (pattern.startswith("*.") and name.endswith(pattern[1:]))


def _overlap(a: str, b: str) -> bool:
    """Some concrete name matches both: try the names each host stands for, one level deeper."""
    candidates = {h.replace("*", "x") for h in (a, b)} | {h.replace("*", "x.y") for h in (a, b)}
    return any(_covers(a, name) and _covers(b, name) for name in candidates)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(HOSTS, min_size=1, max_size=3, unique=True), min_size=2, max_size=4))
def test_no_two_tenants_hosts_overlap(claims):
    tenants = [{"name": f"t{i}", "gateway": {"servers": [{"port": 80, "hosts": hosts}]}} for i, hosts in enumerate(claims)]
    text = yaml.safe_dump({"observability": {"domain": "obs.example.net"}, "tenants": tenants})
    overlapping = {
        (i, j) for i in range(len(claims)) for j in range(i + 1, len(claims))
        if any(_overlap(a, b) for a in claims[i] for b in claims[j])
    }
    try:
        parse_tenants(text, "generated.yaml")
    except ConfigError as err:
        # Every overlapping pair is reported at the later tenant, naming the earlier one; nothing else is.
        named = set()
        for problem in err.problems:
            later = int(re.match(r"tenants\[t(\d+)\]", problem.path).group(1))
            (earlier,) = {int(n) for n in re.findall(r"'t(\d+)'", problem.message)} - {later}
            named.add((earlier, later))
        assert named == overlapping, [str(p) for p in err.problems]
    else:
        assert overlapping == set()
