"""The render's chart expansion and what the diff makes of it, driven by a stand-in `helm`.

The stand-in prints one object per chart describing how it was called (chart, version, repository,
namespace, flags, values), so these tests check the plumbing (the command line, the marks in
manifests.yaml, the expansion status in resources.json, the diff's rules) on any machine. What the
real charts render is tests/test_helm_template.py's business, where a real helm is at hand.
"""

from __future__ import annotations

import copy
import json
import os
import stat
import sys
from pathlib import Path

import pytest
import yaml

from render import charts, commands
from render.charts import BUILT_HELM, KUBERNETES_VERSION, template_command
from render.diff import compare, format_report, load_render
from render.engine import PROJECT_ROOT

FAKE_HELM = f"""#!{sys.executable}
import json, os, sys
args = sys.argv[1:]
if args[:1] == ["version"]:
    print("v0.0.0-fake")
    sys.exit(0)
if os.environ.get("FAKE_HELM_FAIL"):
    print("Error: looks like the chart repository is unreachable", file=sys.stderr)
    sys.exit(1)
name, chart, opts = args[1], args[2], args[3:]
option = lambda flag: opts[opts.index(flag) + 1] if flag in opts else ""
values = json.load(open(option("--values")))
print("---")
print(json.dumps({{
    "apiVersion": "v1", "kind": "ConfigMap",
    "metadata": {{"name": name + "-rendered", "labels": {{k: v for k, v in values.get("labels", {{}}).items() if "/" in k}}}},
    "data": {{
        "chart": chart, "version": option("--version"), "repo": option("--repo"), "namespace": option("--namespace"),
        "kubeVersion": option("--kube-version"),
        "flags": " ".join(f for f in opts if f in ("--include-crds", "--no-hooks")),
        "values": json.dumps(values, sort_keys=True),
    }},
}}))
"""
DEV = yaml.safe_load((PROJECT_ROOT / "tenants" / "dev.yaml").read_text(encoding="utf-8"))


@pytest.fixture
def fake_helm(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "bin" / "helm"
    path.parent.mkdir()
    path.write_text(FAKE_HELM, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("HELM_BIN", str(path))
    return path


@pytest.fixture
def no_helm(monkeypatch, tmp_path):
    monkeypatch.delenv("HELM_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(charts, "BUILT_HELM", tmp_path / "not-built" / "helm")


def test_without_helm_on_path_render_finds_the_one_make_helm_built(tmp_path, monkeypatch, no_helm):
    assert charts.helm_binary() is None
    built = tmp_path / "build" / "e2e" / "bin" / "helm"
    built.parent.mkdir(parents=True)
    built.write_text(FAKE_HELM, encoding="utf-8")
    built.chmod(built.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(charts, "BUILT_HELM", built)
    assert charts.helm_binary() == str(built)


def test_make_helm_builds_helm_alone_where_render_looks():
    makefile = (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")
    assert "\nhelm:\n\t$(PYTHON) e2e/tools/build helm\n" in makefile
    assert BUILT_HELM == PROJECT_ROOT / "build" / "e2e" / "bin" / "helm"  # where e2e/tools/build links it


def render(tmp_path: Path, name: str, document: dict, capsys, **options) -> tuple[Path, str]:
    tenants = tmp_path / f"{name}.yaml"
    tenants.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    out = tmp_path / name
    assert commands.render("dev", str(tenants), out, **options) == 0
    return out, capsys.readouterr().out


def _chart_entries(out: Path) -> dict[str, dict]:
    entries = json.loads((out / "resources.json").read_text())
    return {e["urn"].rsplit("::", 1)[-1]: e for e in entries if e["type"] == "kubernetes:helm.sh/v4:Chart"}


def test_without_helm_the_render_says_so_and_keeps_the_values(tmp_path, capsys, no_helm):
    out, printed = render(tmp_path, "plain", DEV, capsys)
    assert "charts were not expanded (no helm on PATH)" in printed
    assert "get helm from https://helm.sh/docs/intro/install/, or `make helm` builds it into build/e2e/bin" in printed
    entries = _chart_entries(out)
    assert len(entries) == 6
    for entry in entries.values():
        assert entry["expansion"] == "not expanded: no helm on PATH"
        assert entry["inputs"]["values"] and entry["inputs"]["namespace"]
    assert "# chart: " not in (out / "manifests.yaml").read_text()


def test_with_helm_every_chart_is_expanded_and_marked(tmp_path, capsys, fake_helm):
    out, printed = render(tmp_path, "expanded", DEV, capsys)
    assert "charts: 6 of 6 expanded with helm v0.0.0-fake: 6 objects" in printed
    assert {e["expansion"] for e in _chart_entries(out).values()} == {"expanded"}
    text = (out / "manifests.yaml").read_text()
    marked = [chunk for chunk in text.split("\n---\n") if chunk.startswith("# chart: ")]
    assert len(marked) == 6
    rendered = {doc["metadata"]["name"]: doc for doc in yaml.safe_load_all(text) if doc["kind"] == "ConfigMap"}
    istiod = rendered["istiod-rendered"]
    # The provider's settings: the release's namespace, CRDs in, no hooks, the oldest supported Kubernetes.
    assert istiod["metadata"]["namespace"] == "istio-system"
    assert istiod["data"] | {"values": None} == {
        "chart": "istiod", "version": "1.30.3", "repo": "https://blob.istio.io/istio-release/charts",
        "namespace": "istio-system", "kubeVersion": KUBERNETES_VERSION, "flags": "--include-crds --no-hooks", "values": None,
    }
    assert json.loads(istiod["data"]["values"])["env"] == {"PILOT_SCOPE_GATEWAY_TO_NAMESPACE": "true", "ENABLE_DEBUG_ON_HTTP": "false", "PILOT_JWT_ENABLE_REMOTE_JWKS": "envoy"}
    assert rendered["wk1-ingressgw-rendered"]["metadata"]["namespace"] == "workspace-1"
    assert f"# chart: workspace-1/wk1-ingressgw\n" in text


def test_a_failing_helm_is_reported_per_chart_and_the_render_goes_on(tmp_path, capsys, fake_helm, monkeypatch):
    monkeypatch.setenv("FAKE_HELM_FAIL", "1")
    out, printed = render(tmp_path, "failing", DEV, capsys)
    expected = "not expanded: helm template failed: Error: looks like the chart repository is unreachable"
    assert {e["expansion"] for e in _chart_entries(out).values()} == {expected}
    assert f"charts {expected}" in printed


def test_no_expand_runs_no_helm(tmp_path, capsys, fake_helm):
    out, printed = render(tmp_path, "skipped", DEV, capsys, expand_charts=False)
    assert "charts not expanded: --no-expand" in printed
    assert "# chart: " not in (out / "manifests.yaml").read_text()


def test_two_expanded_renders_are_byte_identical(tmp_path, capsys, fake_helm):
    first, _ = render(tmp_path, "one", DEV, capsys)
    second, _ = render(tmp_path, "two", DEV, capsys)
    for name in ("manifests.yaml", "resources.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes()


def _more_replicas() -> dict:
    document = copy.deepcopy(DEV)
    document["tenants"][1]["gateway"]["replicas"] = 3
    return document


def test_the_diff_compares_chart_objects_when_both_sides_were_expanded(tmp_path, capsys, fake_helm):
    old, _ = render(tmp_path, "old", DEV, capsys)
    new, _ = render(tmp_path, "new", _more_replicas(), capsys)
    report = compare(load_render(old), load_render(new))
    assert set(report.groups) == {"workspace-2"}  # the chart's objects carry the tenant label
    (change,) = report.groups["workspace-2"].changed
    assert change.key == ("", "ConfigMap", "workspace-2", "wk2-ingressgw-rendered")
    assert change.fields[0].startswith("data.values: ")
    assert report.notes == []
    # The chart's values show on its resource, too.
    lines = report.groups["workspace-2"].resources
    assert lines[0] == "~ kubernetes:helm.sh/v4:Chart workspace-2/wk2-ingressgw"
    assert '    pulumi.inputs.values.autoscaling: (none) -> {"enabled": true, "maxReplicas": 5, "minReplicas": 3}' in lines


def test_the_diff_compares_values_only_when_one_side_was_not_expanded(tmp_path, capsys, fake_helm, monkeypatch):
    old, _ = render(tmp_path, "old", DEV, capsys)
    monkeypatch.setenv("HELM_BIN", "")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(charts, "BUILT_HELM", tmp_path / "not-built" / "helm")
    new, _ = render(tmp_path, "new", _more_replicas(), capsys)
    report = compare(load_render(old), load_render(new))
    assert report.notes == [
        "charts expanded on one side only (their values are compared, not their objects): " + ", ".join(sorted(_chart_entries(new)))
    ]
    assert not any(group.removed for group in report.groups.values())  # the objects are not "removed"
    text = format_report(report, "old", "new")
    assert report.notes[0] in text.splitlines()[3]  # under the two summary lines
    assert "pulumi.inputs.values.autoscaling" in text and "pulumi.expansion" in text


def test_the_command_line_for_each_chart_source(tmp_path):
    values = tmp_path / "values.json"
    assert template_command("helm", {"name": "istiod", "chart": "oci://ghcr.io/istio/release/charts/istiod", "version": "1.30.3",
                                     "namespace": "istio-system"}, values) == [
        "helm", "template", "istiod", "oci://ghcr.io/istio/release/charts/istiod", "--version", "1.30.3",
        "--namespace", "istio-system", "--include-crds", "--no-hooks", "--kube-version", KUBERNETES_VERSION, "--values", str(values),
    ]
    local = template_command("helm", {"name": "istio-base", "chart": "../charts/base", "namespace": "istio-system"}, values)
    assert "--version" not in local and "--repo" not in local
    assert os.path.basename(local[3]) == "base"
