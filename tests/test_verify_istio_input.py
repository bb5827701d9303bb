"""The L7 proof's input (verify/istio_input.py): settings read from the render, expectations from the file.

Rendered on the operator path (classic), which has no chart to expand: no helm needed.
"""

import pytest
import yaml

from builders.mesh_settings import hardened_mesh_config, hardened_pilot_env
from verify.istio_input import EXPORT_TO, InputError, render_stack, write_input

PROTOCOLS = "verify/tenants/protocols.yaml"


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("input")
    expect = write_input(render_stack("classic", PROTOCOLS), "protocols", out)
    return out, expect


def _tenant(expect, name):
    return next(t for t in expect["tenants"] if t["name"] == name)


def test_mesh_settings_are_read_from_the_render(written):
    _, expect = written
    [mesh] = expect["meshes"]
    assert mesh["namespace"] == "istio-system"
    assert mesh["meshConfig"] == hardened_mesh_config()
    assert mesh["env"] == hardened_pilot_env()


def test_only_the_exported_and_imported_service_is_an_allowed_call(written):
    _, expect = written
    allowed = [(c["from"], c["host"], c["port"]) for c in expect["calls"] if c["allowed"]]
    assert allowed == [("bank", "catalog.shop.svc.cluster.local", 8080)]
    denied = {(c["from"], c["to"]) for c in expect["calls"] if not c["allowed"]}
    assert {("shop", "bank"), ("blog", "shop"), ("bank", "shop"), ("shop", "blog")} <= denied


def test_rbac_admits_the_namespace_and_importers_of_exports_only(written):
    _, expect = written
    workloads = {w["name"]: w for w in _tenant(expect, "shop")["workloads"]}
    catalog, web = workloads["catalog"], workloads["web"]
    assert "spiffe://cluster.local/ns/bank-ns/sa/teller" in catalog["admitted"]
    assert "spiffe://cluster.local/ns/bank-ns/sa/teller" in web["denied"]
    assert "spiffe://cluster.local/ns/shop/sa/shop-gw-service-account" in web["admitted"]
    assert all("/ns/shop/" in p or "/ns/bank-ns/" in p for p in catalog["admitted"])
    assert all("/ns/shop/" not in p for p in web["denied"])
    assert "spiffe://cluster.local/ns/istio-system/sa/default" in web["denied"]


def test_route_calls_cover_each_kind_of_server(written):
    _, expect = written
    routes = {(r["route"], r["protocol"], r["port"], r["path"]): r for r in _tenant(expect, "shop")["routes"]}
    # Each rule of an HTTP route, by a path it matches: /cart to web:8080, the rest to web:9090.
    cart, rest = routes[("web", "HTTPS", 443, "/cart")], routes[("web", "HTTPS", 443, "/")]
    assert (cart["host"], cart["credentialName"], cart["servicePort"], rest["servicePort"]) == ("shop.example.com", "shop-tls", 8080, 9090)
    assert routes[("vault", "TLS", 8443, "")]["tlsMode"] == "PASSTHROUGH"
    assert routes[("db", "TCP", 5432, "")]["service"] == "db"
    assert routes[("rpc", "HTTP2", 8080, "/")]["host"] == "rpc.shop.example.com"
    # The operator's gateway listens on the target port its Service maps the server port to.
    assert _tenant(expect, "bank")["gateway"]["targetPorts"]["80"] == 8080


def test_the_exporter_annotates_its_service_for_its_importers(written):
    out, _ = written
    services = {d["metadata"]["name"]: d for d in yaml.safe_load_all((out / "kube.yaml").read_text()) if d and d["kind"] == "Service"}
    assert services["catalog"]["metadata"]["annotations"][EXPORT_TO] == ".,bank-ns"
    assert EXPORT_TO not in services["web"]["metadata"].get("annotations", {})


def test_a_render_whose_charts_cannot_be_expanded_is_refused(monkeypatch):
    monkeypatch.setattr("verify.istio_input.helm_binary", lambda: None)
    with pytest.raises(InputError, match="charts must be expanded"):
        render_stack("dev")
