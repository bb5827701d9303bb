"""Property: whatever a tenants file holds, the loader returns the model or raises ConfigError.

Generated files: structurally valid ones (which may still break cross-tenant rules), the same
with one part mutated (a random value, a key removed, added or misspelt), random YAML data, and
random text. No other exception may escape; every error line names the file, one problem per
line; and a file the program accepts passes the editor's schema too.
"""

from __future__ import annotations

import copy
import json

import jsonschema
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tenants import ConfigError, TenantsFile, parse_tenants
from tenants.schema import SCHEMA_PATH

FILE = "tenants.yaml"
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SCHEMA = jsonschema.Draft7Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))

names = st.from_regex(r"[a-z]([-a-z0-9]{0,8}[a-z0-9])?", fullmatch=True)
hosts = st.one_of(
    st.just("*"),
    st.builds(lambda sub, wild: f"{'*.' if wild else ''}{sub}.example.com", names, st.booleans()),
    st.builds(lambda sub: f"./{sub}.example.com", names),
)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
    st.text(max_size=30), names, hosts, st.sampled_from(["HTTP", "HTTPS", "TLS", "SIMPLE", "PASSTHROUGH", "80", "*"]),
)
junk = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=12), st.integers(), names), inner, max_size=4),
    ),
    max_leaves=12,
)


@st.composite
def servers(draw) -> dict:
    server: dict = {"port": draw(st.integers(1, 65535))}
    protocol = draw(st.sampled_from(["HTTP", "HTTPS", "HTTP2", "GRPC", "TCP", "TLS", None]))
    if protocol:
        server["protocol"] = protocol
    if draw(st.booleans()):
        server["hosts"] = draw(st.lists(hosts, min_size=1, max_size=3, unique=True))
    if protocol in ("HTTPS", "TLS") or draw(st.booleans()):
        mode = draw(st.sampled_from(["SIMPLE", "MUTUAL", "PASSTHROUGH", "ISTIO_MUTUAL", "OPTIONAL_MUTUAL"]))
        tls: dict = {"mode": mode}
        if draw(st.booleans()):
            tls["credentialName"] = draw(names)
        server["tls"] = tls
    return server


@st.composite
def tenants(draw, name: str, others: list[str]) -> dict:
    tenant: dict = {"name": name}
    if draw(st.booleans()):
        tenant["namespace"] = draw(names)
    gateway: dict = {}
    if draw(st.booleans()):
        gateway["labels"] = draw(st.dictionaries(st.sampled_from(["istio", "app", "team"]), names, min_size=1, max_size=3))
    if draw(st.booleans()):
        gateway["servers"] = draw(st.lists(servers(), min_size=1, max_size=3))
    if draw(st.booleans()):
        gateway["service"] = {"type": draw(st.sampled_from(["LoadBalancer", "NodePort", "ClusterIP"]))}
        if draw(st.booleans()):
            gateway["service"]["annotations"] = {
                draw(st.sampled_from(["service.beta.kubernetes.io/aws-load-balancer-scheme", "example.com/owner"])): draw(names)
            }
    if draw(st.booleans()):
        gateway["api"] = draw(st.sampled_from(["istio", "gateway-api"]))
    if gateway:
        tenant["gateway"] = gateway
    routes = []
    for route_name in draw(st.lists(names, max_size=3, unique=True)):
        to = {"service": draw(names), "port": draw(st.integers(1, 65535))}
        kind = draw(st.sampled_from(["http", "http", "tcp", "tls"]))
        route: dict = {"name": route_name}
        if kind == "http":
            route["http"] = [{"to": to}]
            if draw(st.booleans()):
                route["http"][0]["match"] = [draw(st.sampled_from([{"prefix": "/"}, {"exact": "/x"}, {"regex": "/v[0-9]+"}]))]
        else:
            route[kind] = {"to": to}
            if draw(st.booleans()):
                route[kind]["port"] = draw(st.sampled_from([s["port"] for s in gateway.get("servers", [])] or [80]))
        if kind != "tcp" and draw(st.booleans()):
            route["hosts"] = draw(st.lists(hosts.filter(lambda h: "/" not in h), min_size=1, max_size=2, unique=True))
        routes.append(route)
    if routes:
        tenant["routes"] = routes
    if others and draw(st.booleans()):
        tenant["exports"] = [{"service": draw(names), "to": draw(st.lists(st.sampled_from(others), min_size=1, max_size=2, unique=True))}]
    if others and draw(st.booleans()):
        tenant["imports"] = [{"tenant": draw(st.sampled_from(others)), "service": draw(names)}]
    if draw(st.booleans()):
        tenant["quota"] = {"cpu": draw(st.sampled_from(["500m", "2", 1, 0.5])), "pods": draw(st.integers(1, 100))}
    if draw(st.booleans()):
        tenant["decommission"] = draw(st.booleans())
    return tenant


@st.composite
def documents(draw) -> dict:
    tenant_names = draw(st.lists(names, max_size=4, unique=True))
    document: dict = {"tenants": [draw(tenants(n, [o for o in tenant_names if o != n])) for n in tenant_names]}
    if draw(st.booleans()):
        document["controlPlane"] = {"namespace": draw(names), "profile": draw(st.sampled_from(["demo", "default"]))}
    if draw(st.booleans()):
        document["observability"] = {"domain": f"{draw(names)}.example.com"}
    return document


def _places(node):
    """Every (container, key) in a document: where a mutation can strike."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield node, key
            yield from _places(value)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield node, i
            yield from _places(value)


@st.composite
def mutated_documents(draw) -> dict:
    document = copy.deepcopy(draw(documents()))
    places = list(_places(document))
    if not places:
        return draw(junk)
    container, key = draw(st.sampled_from(places))
    how = draw(st.sampled_from(["replace", "delete", "add-key", "rename-key"]))
    if how == "replace" or not isinstance(container, dict):
        container[key] = draw(junk)
    elif how == "delete":
        del container[key]
    elif how == "add-key":
        container[draw(st.one_of(st.text(max_size=12), names))] = draw(junk)
    else:
        container[draw(st.text(max_size=12))] = container.pop(key)
    return document


def dump(document) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def check(text: str) -> TenantsFile | None:
    """The property itself; returns the model when the file loads."""
    try:
        return parse_tenants(text, FILE)
    except ConfigError as err:
        lines = str(err).splitlines()
        assert err.problems and len(lines) == len(err.problems), lines
        assert all(line.startswith(f"{FILE}:") for line in lines), lines
        return None


@SETTINGS
@given(documents())
def test_generated_files_load_or_raise_config_error(document):
    if check(dump(document)) is not None:
        assert list(SCHEMA.iter_errors(document)) == [], "the program accepts a file the schema refuses"


@SETTINGS
@given(mutated_documents())
@example({"tenants": [{"name": []}]})  # once crashed: an unhashable name in a tenant that fails the model
def test_mutated_files_load_or_raise_config_error(document):
    if check(dump(document)) is not None:
        assert list(SCHEMA.iter_errors(document)) == [], "the program accepts a file the schema refuses"


@SETTINGS
@given(junk)
def test_random_data_loads_or_raises_config_error(data):
    check(dump(data))


@SETTINGS
@given(
    st.one_of(
        st.text(max_size=60),
        st.text(alphabet=st.sampled_from(list("tenants:-[]{}&*!|>'\"#\t\n ,?%@`name80/.\\é\x00\x85\u2028")), max_size=80),
    )
)
def test_random_text_loads_or_raises_config_error(text):
    check(text)


@SETTINGS
@given(documents(), st.data())
def test_damaged_text_loads_or_raises_config_error(document, data):
    text = dump(document)
    at = data.draw(st.integers(0, len(text)))
    cut = data.draw(st.integers(0, 5))
    inserted = data.draw(st.text(max_size=3))
    check(text[:at] + inserted + text[at + cut:])
