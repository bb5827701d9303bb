"""The L7 proof (verify/istio) fails, naming the path, on renders broken the ways a review would miss.

Each mutation edits the proof's input for verify's own case (the dev stack with
verify/tenants/protocols.yaml) as a broken render would be, and runs the cached test binary. Needs
the binary (`make verify` builds it, Go required) and helm; skipped without them.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from verify.run import BINARY, ROOT, helm_env

pytestmark = pytest.mark.skipif(not BINARY.exists(), reason="no L7 proof binary: `make verify` builds it (needs Go)")


def _helm() -> str | None:
    return helm_env().get("HELM_BIN") or shutil.which("helm")


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> Path:
    if not _helm():
        pytest.skip("no helm to expand the charts: HELM_BIN, build/e2e/bin/helm or helm on PATH")
    out = tmp_path_factory.mktemp("verify") / "protocols"
    done = subprocess.run(
        [sys.executable, "-m", "verify.istio_input", "dev", "--tenants", "verify/tenants/protocols.yaml", "--name", "protocols", "--out", str(out)],
        cwd=ROOT, env=helm_env(), capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr
    return out


def _prove(case_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BINARY), "-test.run", "TestTenancy", f"-input={case_dir}"],
        cwd=ROOT / "verify" / "istio", capture_output=True, text=True, timeout=600,
    )


def _mutated(case: Path, tmp_path: Path, file: str, edit) -> Path:
    """The case with `edit` applied to each object of `file`; an edit returning DROP removes the object."""
    out = tmp_path / "mutated"
    shutil.copytree(case, out)
    docs = [d for d in yaml.safe_load_all((out / file).read_text()) if d]
    results = [edit(d) for d in docs]
    assert any(results), f"the mutation found nothing to change in {file}"
    kept = [d for d, result in zip(docs, results) if result is not DROP]
    (out / file).write_text("\n---\n".join(yaml.safe_dump(d) for d in kept))
    return out


DROP = object()


def _named(obj: dict, kind: str, namespace: str, name: str) -> bool:
    meta = obj.get("metadata", {})
    return obj.get("kind") == kind and meta.get("namespace") == namespace and meta.get("name") == name


def test_the_unbroken_render_is_proven(case):
    done = _prove(case)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "verify protocols: ok:" in done.stdout


def _remove_import_rule(obj):
    if _named(obj, "AuthorizationPolicy", "shop", "allow-export-catalog"):
        obj["spec"]["rules"] = []
        return True
    return False


def _rename_gateway_account(obj):
    if _named(obj, "ServiceAccount", "shop", "shop-gw"):
        obj["metadata"]["name"] = "shop-gw-renamed"
        return True
    return False


def _change_route_port(obj):
    if _named(obj, "VirtualService", "shop", "web"):
        for rule in obj["spec"]["http"]:
            for route in rule["route"]:
                if route["destination"]["port"]["number"] == 8080:
                    route["destination"]["port"]["number"] = 8081
        return True
    return False


def _widen_sidecar(obj):
    if _named(obj, "Sidecar", "bank-ns", "default"):
        obj["spec"]["egress"] = [{"hosts": ["*/*"]}]
        return True
    return False


def _drop_gateway_ingress(obj):
    return DROP if _named(obj, "AuthorizationPolicy", "shop", "allow-gateway-ingress") else False


@pytest.mark.parametrize(
    "file, edit, path",
    [
        # bank imports shop's catalog: without the export's rule, the compiled RBAC refuses bank.
        ("config.yaml", _remove_import_rule, "spiffe://cluster.local/ns/bank-ns/sa/teller -> shop/catalog:8080"),
        ("kube.yaml", _rename_gateway_account, "gateway shop/shop-gw runs as service account shop-gw, which the render does not create"),
        ("config.yaml", _change_route_port, "internet -> shop gateway shop-gw:443 (HTTPS shop.example.com/cart) -> shop/web:8080"),
        ("config.yaml", _widen_sidecar, "proxies of bank-ns take configuration from */*"),
        # Without it the namespace's own ALLOW policy applies to the gateway: the internet is refused.
        ("config.yaml", _drop_gateway_ingress, "internet -> shop gateway shop-gw:5432 (TCP shop.verify.invalid) -> shop/db:5432: the gateway's compiled RBAC refuses"),
    ],
    ids=["import-rule-removed", "gateway-account-renamed", "route-port-changed", "sidecar-widened", "gateway-ingress-removed"],
)
def test_a_broken_render_fails_with_its_path(case, tmp_path, file, edit, path):
    done = _prove(_mutated(case, tmp_path, file, edit))
    assert done.returncode != 0, done.stdout
    assert path in done.stdout, done.stdout[-4000:]
    assert "verify protocols: FAILED" in done.stdout
