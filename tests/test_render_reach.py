"""What users see of reachability: `render reach` (table and picture), `render validate STACK`
failing on a path the tenants file does not declare, and `render diff`'s first section."""

import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import pytest

pytest.importorskip("nca", reason="network-config-analyzer is not installed (requirements-dev.txt)")

import builders.isolation  # noqa: E402
from render import commands  # noqa: E402
from render.engine import PROJECT_ROOT  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"

SHARED = """
tenants:
  - name: shop-a
    exports:
      - {service: api, to: [shop-b]}
    routes:
      - {name: api, http: [{to: {service: api, port: 9000}}]}
  - name: shop-b
    namespace: b-prod
{imports}
"""


def test_reach_prints_the_matrix_by_tenant_and_draws_it(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "render", "reach", "dev", "--out", str(tmp_path)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.startswith("from \\ to"))
    assert header.split()[3:] == ["workspace-1", "workspace-2", "workspace-3", "platform"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[lines.index(header) + 1:] if line.strip()}
    assert rows["internet"][:3] == ["80,15021"] * 3
    assert rows["workspace-1"] == ["(itself)", "-", "-", "53,53/udp,15012"]
    assert any(line.startswith("reachability: ") and line.endswith("all as declared") for line in lines)
    picture = ElementTree.parse(tmp_path / "reach.svg").getroot()
    texts = [t.text for t in picture.iter(f"{SVG}text")]
    for tenant in ("workspace-1", "workspace-2", "workspace-3"):
        assert f"{tenant} (ns {tenant})" in texts
    assert "▶ wk1-ingressgw :80" in texts and "internet" in texts


def test_validate_fails_on_a_path_the_tenants_file_does_not_declare(monkeypatch, capsys):
    honest = builders.isolation.tenant_network_policy

    def open_to_every_namespace(*args, **kwargs):
        policy = honest(*args, **kwargs)
        policy["spec"]["ingress"] = [{"from": [{"namespaceSelector": {}}]}]
        return policy

    monkeypatch.setattr(builders.isolation, "tenant_network_policy", open_to_every_namespace)
    assert commands.validate("dev", None) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "ok: 3 tenants" and "not as declared" in lines[1]
    assert "  kube-system/coredns -> workspace-1/productpage:15020,15021,15090 allowed by NetworkPolicy " \
        "workspace-1/allow-tenant-ingress, not declared" in lines


def test_diff_starts_with_the_paths_that_open(tmp_path, capsys):
    renders = {}
    for side, imports in (("base", ""), ("head", "    imports:\n      - {tenant: shop-a, service: api}\n")):
        tenants = tmp_path / f"{side}.yaml"
        tenants.write_text(SHARED.replace("{imports}\n", imports), encoding="utf-8")
        renders[side] = tmp_path / side
        assert commands.render("dev", str(tenants), renders[side], expand_charts=False) == 0
    capsys.readouterr()
    assert commands.diff(renders["base"], renders["head"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("reachability: ") and " paths open, 0 close" in out[0]
    opened = out[1:out.index("")]
    assert "+ b-prod/shop-b-ingressgw -> shop-a/api:9000,15020,15021,15090" in opened, opened
    assert all(line.startswith("+ b-prod/") and "-> shop-a/" in line for line in opened), opened
    # The same render twice: no reachability section.
    assert commands.diff(renders["head"], renders["head"]) == 0
    assert not capsys.readouterr().out.startswith("reachability")


def test_the_readme_picture_is_what_reach_draws_for_the_library_example(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "render", "reach", "dev", "--tenants", "examples/library/tenants.yaml", "--out", str(tmp_path)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    committed = (PROJECT_ROOT / "docs" / "reach.svg").read_text(encoding="utf-8")
    assert (tmp_path / "reach.svg").read_text(encoding="utf-8") == committed, (
        "docs/reach.svg is stale: python -m render reach dev --tenants examples/library/tenants.yaml, then copy build/dev/reach.svg"
    )
    # The export is drawn: an arrow labelled with the service and its port.
    assert ">api:8080</text>" in committed


def test_diff_says_so_when_the_base_render_records_no_tenants(tmp_path, capsys):
    for side in ("base", "head"):
        assert commands.render("dev", None, tmp_path / side, expand_charts=False) == 0
    (tmp_path / "base" / "stack.json").unlink()
    capsys.readouterr()
    assert commands.diff(tmp_path / "base", tmp_path / "head") == 0  # the objects are the same
    assert capsys.readouterr().out.splitlines()[0] == (
        "reachability: not compared (the base render has no stack.json: rendered by code older than this section)"
    )


def test_diff_leaves_reachability_out_past_its_tenant_limit(tmp_path, capsys, monkeypatch):
    """The analyzer compares every pair: past `MAX_TENANTS` (1,000 tenants took gigabytes and
    minutes) the diff and validate say so in one line; the diff compares the objects alone."""
    from render import reach

    for side in ("base", "head"):
        tenants = tmp_path / f"{side}.yaml"
        tenants.write_text(SHARED.replace("{imports}\n", "" if side == "base" else "    imports:\n      - {tenant: shop-a, service: api}\n"), encoding="utf-8")
        assert commands.render("dev", str(tenants), tmp_path / side, expand_charts=False) == 0
    monkeypatch.setattr(reach, "MAX_TENANTS", 1)
    monkeypatch.setattr("verify.analyzer.compute", lambda *a, **k: pytest.fail("the analyzer ran past the limit"))
    capsys.readouterr()
    assert commands.diff(tmp_path / "base", tmp_path / "head") == 1
    assert capsys.readouterr().out.splitlines()[0].startswith("reachability: not computed for 2 tenants: ")
    assert commands.validate("dev", str(tmp_path / "head.yaml")) == 0
    assert capsys.readouterr().out.splitlines() == ["ok: 2 tenants", reach._too_many(2)]
