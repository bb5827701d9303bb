"""`render diff` shows a reviewer what matters: counts of every Pulumi resource, risky changes
first, content and fields of what decides reachability, repeated changes once. Long outputs are
golden files (tests/golden/)."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from render import diff as diff_module
from render.__main__ import main
from render.diff import compare, format_report, load_render
from render.engine import PROJECT_ROOT
from tests.diff_support import assert_golden, render_stack

DEV = yaml.safe_load((PROJECT_ROOT / "tenants" / "dev.yaml").read_text())


def tenant(document: dict, name: str) -> dict:
    return next(t for t in document["tenants"] if t["name"] == name)


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    return render_stack(tmp_path_factory.mktemp("dev") / "dev")


def report_text(old, new, verbose: bool = False) -> tuple:
    report = compare(load_render(old), load_render(new))
    return report, format_report(report, "base", "change", verbose)


def test_an_istio_patch_upgrade_counts_the_charts_and_says_upgraded(dev, tmp_path):
    old = render_stack(tmp_path / "old", istioVersion="1.30.2")
    report, text = report_text(old, dev)
    assert report.counts == {"to create": 0, "to delete": 0, "to update": 6, "to replace": 0}
    assert report.upgrades == ["6 charts upgraded: 1.30.2 -> 1.30.3"]
    assert text.splitlines()[1] == "Pulumi resources: 6 to update (6 charts upgraded: 1.30.2 -> 1.30.3)"
    assert report.alerts == []  # nothing replaced, no port, no CRD
    assert_golden("diff-istio-patch-upgrade", text)


def test_a_new_tenant_shows_its_objects_and_the_public_port_it_opens(dev, tmp_path):
    document = copy.deepcopy(DEV)
    document["tenants"].append({
        "name": "workspace-4",
        "gateway": {"servers": [{"port": 5432, "protocol": "TCP"}]},
        "routes": [{"name": "db", "tcp": {"port": 5432, "to": {"service": "postgres", "port": 5432}}}],
    })
    report, text = report_text(dev, render_stack(tmp_path / "new", tenants=document))
    assert "public ports 5432/TCP, 15021/TCP opened on LoadBalancer workspace-4/workspace-4-ingressgw" in report.alerts
    # Every Pulumi resource: the tenant's objects, its gateway chart and its component.
    group = report.groups["workspace-4"]
    assert [line for line in group.resources if line.startswith("+ ")] == [
        "+ kubernetes:helm.sh/v4:Chart workspace-4/workspace-4-ingressgw",
        "+ pulumi-python:dynamic/istio-multitenancy:TenantRemoval workspace-4/removal", "+ istio-multitenancy:index:TenantMesh workspace-4",
    ]
    # Updated: the admission parameters, and the frozen-namespace rule's list of current tenants.
    assert report.counts == {"to create": len(group.added) + 3, "to delete": 0, "to update": 2, "to replace": 0}
    assert "      tcp:" in text  # the VirtualService's content, by default
    assert_golden("diff-new-tenant-public-port", text)


def test_a_tcp_route_on_the_gateway_api_adds_the_experimental_crd_and_opens_a_port(dev, tmp_path):
    document = copy.deepcopy(DEV)
    ws3 = tenant(document, "workspace-3")
    ws3["gateway"]["servers"].append({"port": 5432, "protocol": "TCP"})
    ws3["routes"].append({"name": "db", "tcp": {"port": 5432, "to": {"service": "postgres", "port": 5432}}})
    report, text = report_text(dev, render_stack(tmp_path / "new", tenants=document))
    assert report.alerts[0].startswith("cluster-wide CRDs added: gateway.networking.k8s.io_tcproutes.yaml (")
    assert report.alerts[1] == "public port 5432/TCP opened on LoadBalancer workspace-3/wk3-ingressgw"
    # The listener is one named item of the list, not the whole list again.
    assert '    spec.listeners[name=tcp-5432]: (none) -> {"allowedRoutes": {"namespaces": {"from": "Same"}}, "name": "tcp-5432", "port": 5432, "protocol": "TCP"}' in text
    assert_golden("diff-gateway-api-tcp-route", text)


def test_a_removed_tenant_says_its_namespace_is_frozen_and_what_re_adding_does(dev, tmp_path):
    document = copy.deepcopy(DEV)
    document["tenants"] = [t for t in document["tenants"] if t["name"] != "workspace-3"]
    report, text = report_text(dev, render_stack(tmp_path / "new", tenants=document))
    notes = report.groups["workspace-3"].notes
    assert notes[0].startswith("its namespace workspace-3 stays in the cluster (retainOnDelete) and is frozen by admission")
    assert notes[1].startswith("`pulumi up` deletes the RoleBindings the tenant created, scales its Deployments")
    assert notes[2].startswith("adding tenant workspace-3 back (same name and namespace) needs `adopt: true`")
    # Its gateway was the last Gateway API one: the CRDs leave the program, and stay in the cluster.
    assert any(a.startswith("cluster-wide CRDs leave the program: standard-install.yaml") for a in report.alerts)
    assert_golden("diff-tenant-removed", text)


def test_moving_to_meshes_names_the_cause_of_the_protected_delete(dev, tmp_path):
    document = copy.deepcopy(DEV)
    del document["controlPlane"]
    document["meshes"] = [{"name": "platform", "profile": "demo"}]
    report, text = report_text(dev, render_stack(tmp_path / "new", tenants=document))
    protected = [a for a in report.alerts if "cannot be deleted (protect)" in a]
    assert protected == [
        "Namespace istio-system cannot be deleted (protect): `pulumi up` fails; cause: the move to `meshes:` puts the "
        "platform mesh in another namespace; set the first mesh's `namespace: istio-system` to keep it"
    ]
    assert "a tenant renamed" not in text  # not the rename hint: no tenant was renamed
    assert any(a.startswith("istiod replaced: istio-system/istiod -> platform/istiod-platform") for a in report.alerts)


def test_dependency_lines_are_hidden_and_repeated_changes_collapse_unless_verbose(dev, tmp_path):
    document = copy.deepcopy(DEV)
    document["controlPlane"]["namespace"] = "mesh-system"
    report, text = report_text(dev, render_stack(tmp_path / "new", tenants=document))
    policies = [c for c in report.groups["platform"].changed if c.key[1] == "ValidatingAdmissionPolicy"]
    assert len(policies) > 10
    # Policies whose change is the same collapse into one line each (the exemptions differ by rule,
    # so there are a few such groups); every changed policy is in exactly one line.
    lines = text.splitlines()
    same = " x ValidatingAdmissionPolicy.admissionregistration.k8s.io, the same change: "
    collapsed = {int(line.split()[1]): line for line in lines if line.startswith("~ ") and same in line}
    singles = [line for line in lines if line.startswith("~ ValidatingAdmissionPolicy.admissionregistration.k8s.io ")]
    assert sum(collapsed) + len(singles) == len(policies)
    largest = max(collapsed)
    assert largest > 4 and collapsed[largest].endswith(f"and {largest - 4} more")
    assert "pulumi.dependencies" not in text
    verbose = format_report(report, "base", "change", verbose=True)
    assert "pulumi.dependencies: + " in verbose
    assert sum(line.startswith("~ ValidatingAdmissionPolicy.") for line in verbose.splitlines()) == len(policies)


def test_a_section_added_through_the_hook_is_printed(dev, tmp_path, monkeypatch):
    monkeypatch.setattr(diff_module, "SECTIONS", [])
    document = copy.deepcopy(DEV)
    document["tenants"].append({"name": "workspace-4"})
    new = render_stack(tmp_path / "new", tenants=document)
    diff_module.register_section("reachability:", lambda old, new, report: [f"  {len(new.texts) - len(old.texts)} more objects"])
    diff_module.register_section("reachability:", lambda old, new, report: ["  twice"])  # one per title
    _, text = report_text(dev, new)
    assert text.endswith("\n\nreachability:\n  " + f"{len(load_render(new).texts) - len(load_render(dev).texts)} more objects")


@pytest.mark.skipif(shutil.which("git") is None, reason="no git: --base renders the base commit in a git worktree")
def test_diff_base_renders_the_base_commit_itself(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(PROJECT_ROOT, repo, ignore=shutil.ignore_patterns(".venv", "build", ".git", "__pycache__", ".pytest_cache", ".hypothesis"))
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e"}
    for command in (["init", "--quiet"], ["add", "-A"], ["commit", "--quiet", "-m", "base"]):
        subprocess.run(["git", *command], cwd=repo, check=True, env=env)
    dev_file = repo / "tenants" / "dev.yaml"
    dev_file.write_text(dev_file.read_text().replace('hosts: ["*"]', 'hosts: ["shop.example.com"]', 2))  # workspace-1's server and route

    def render_diff(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "render", "diff", *args], cwd=repo, capture_output=True, text=True, check=False)

    done = render_diff("--base", "HEAD", "--no-expand", "dev")
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith("render diff build/base/dev -> build/dev\n")
    assert "~ Gateway.networking.istio.io workspace-1/workspace-1-gateway" in done.stdout
    assert (repo / "build" / "base" / "dev" / "resources.json").exists()
    worktrees = subprocess.run(["git", "worktree", "list"], cwd=repo, capture_output=True, text=True).stdout
    assert worktrees.count("\n") == 1  # the base's worktree is removed
    missing = render_diff("--base", "no-such-ref", "dev")
    assert missing.returncode == 2 and "--base no-such-ref: not a commit" in missing.stderr
