"""The CI workflows: valid for GitHub, clean for zizmor, least privilege, and their scripts work."""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from render.engine import PROJECT_ROOT

WORKFLOWS = PROJECT_ROOT / ".github" / "workflows"
FILES = [WORKFLOWS / "preview.yml", WORKFLOWS / "deploy.yml"]
BIN = Path(sys.executable).parent
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


def load(path: Path) -> dict:
    # YAML 1.1 reads the `on:` key as True.
    document = yaml.safe_load(path.read_text())
    document["on"] = document.pop(True, document.get("on"))
    return document


def steps(document: dict):
    for job in document["jobs"].values():
        yield from job.get("steps", [])


def step_named(document: dict, job: str, step_id: str) -> dict:
    return next(s for s in document["jobs"][job]["steps"] if s.get("id") == step_id)


def stacks() -> list[str]:
    return sorted(Path(p).name[len("Pulumi."):-len(".yaml")] for p in glob.glob(str(PROJECT_ROOT / "Pulumi.*.yaml")))


def test_the_workflows_match_githubs_schema():
    result = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, FILES)],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing():
    result = subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--no-progress", *map(str, FILES)],
        capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings" in result.stdout


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_actions_are_pinned_to_commits_and_checkouts_keep_no_credentials(path):
    text = path.read_text()
    document = load(path)
    for step in steps(document):
        if "uses" not in step:
            continue
        assert PINNED.match(step["uses"]), step["uses"]
        # The version the SHA stands for, for the reader and for update tools.
        assert re.search(re.escape(step["uses"]) + r" # v\d+\.\d+\.\d+\n", text), step["uses"]
        if step["uses"].startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_job_asks_for_the_least_it_needs(path):
    document = load(path)
    assert document["permissions"] == {}
    allowed = {"contents": "read", "pull-requests": "write"}
    for name, job in document["jobs"].items():
        assert job["permissions"], name
        assert all(allowed.get(scope) == level for scope, level in job["permissions"].items()), (name, job["permissions"])


def test_pull_requests_are_previewed_per_stack_with_comments():
    document = load(WORKFLOWS / "preview.yml")
    assert list(document["on"]) == ["pull_request"]  # never pull_request_target: PR code runs here
    job = document["jobs"]["preview"]
    assert job["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.stacks) }}"
    (pulumi,) = [s for s in job["steps"] if s.get("uses", "").startswith("pulumi/actions@") and "with" in s]
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["comment-on-pr"] is True
    assert pulumi["with"]["stack-name"] == "${{ matrix.stack }}"
    assert pulumi["with"]["policyPacks"] == "policy"
    _assert_sharded_stacks_run_deploy(job, pulumi, "preview")


def test_the_render_diff_needs_no_credentials_and_the_commenter_runs_no_code():
    document = load(WORKFLOWS / "preview.yml")
    render = document["jobs"]["render-diff"]
    assert "secrets." not in yaml.safe_dump(render) and "environment" not in render
    assert render["permissions"] == {"contents": "read"}
    comment = document["jobs"]["comment"]
    assert not any("uses" in s for s in comment["steps"])  # no checkout: nothing from the pull request runs


def test_merges_deploy_each_stack_behind_its_environment():
    document = load(WORKFLOWS / "deploy.yml")
    assert document["on"] == {"push": {"branches": ["main"]}}
    job = document["jobs"]["up"]
    assert job["environment"] == "${{ matrix.stack }}"
    assert job["strategy"]["max-parallel"] == 1
    (pulumi,) = [s for s in job["steps"] if s.get("uses", "").startswith("pulumi/actions@") and "with" in s]
    assert pulumi["with"]["command"] == "up"
    assert document["concurrency"]["cancel-in-progress"] is False
    _assert_sharded_stacks_run_deploy(job, pulumi, "up")


def _assert_sharded_stacks_run_deploy(job: dict, pulumi: dict, op: str) -> None:
    """One stack: the Pulumi action. Sharded (its plain preview and up are refused): the CLI
    alone, then `python -m deploy OP` with the same policy pack."""
    one, sharded = "steps.layout.outputs.shards == '1'", "steps.layout.outputs.shards != '1'"
    assert pulumi["if"] == one
    names = [s.get("id") or s.get("uses", "").partition("@")[0] for s in job["steps"]]
    assert names.index("layout") < names.index("sharded")
    installer = job["steps"][names.index("sharded") - 1]
    assert installer["uses"] == pulumi["uses"] and "with" not in installer and installer["if"] == sharded
    step = job["steps"][names.index("sharded")]
    assert step["if"] == sharded
    assert f'-m deploy {op} --stack "$STACK" --policy-pack policy' in step["run"]
    assert step["env"]["STACK"] == "${{ matrix.stack }}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_the_layout_step_tells_one_stack_from_a_sharded_one(path, tmp_path):
    """Its own script: `python -m deploy shards` of the stack, 1 for one stack."""
    job = "preview" if path.name == "preview.yml" else "up"
    script = step_named(load(path), job, "layout")["run"]

    def shards(project: Path) -> str:
        output = tmp_path / "output"
        output.unlink(missing_ok=True)
        env = {**os.environ, "GITHUB_OUTPUT": str(output), "STACK": "dev"}
        subprocess.run(["bash", "-e", "-c", script], cwd=project, env=env, check=True)
        return output.read_text().strip()

    assert shards(PROJECT_ROOT) == "shards=1"
    project = tmp_path / "project"
    _copy_project(project)
    (project / ".venv").symlink_to(PROJECT_ROOT / ".venv")
    stack_file = project / "Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text() + "  istio-multitenancy:tenantShards: 3\n")
    assert shards(project) == "shards=3"
    # A tenants file it cannot read stops the step (and the job) there, not at a guessed layout.
    (project / "tenants" / "dev.yaml").write_text("tenants: [")
    with pytest.raises(subprocess.CalledProcessError):
        shards(project)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_the_stack_list_is_every_pulumi_stack_file(path, tmp_path):
    script = step_named(load(path), "stacks", "list")["run"]
    output = tmp_path / "output"
    subprocess.run(["bash", "-e", "-c", script], cwd=PROJECT_ROOT, env={**os.environ, "GITHUB_OUTPUT": str(output)}, check=True)
    key, _, value = output.read_text().strip().partition("=")
    assert key == "stacks"
    assert json.loads(value) == stacks()
    assert {"dev", "prod"} <= set(stacks())


def _copy_project(destination: Path) -> None:
    ignore = shutil.ignore_patterns(".venv", "build", ".git", "__pycache__", ".pytest_cache", ".hypothesis")
    shutil.copytree(PROJECT_ROOT, destination, ignore=ignore)


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="no git: the render diff renders the base commit in a git worktree")
def test_the_render_diff_step_reports_each_stack(tmp_path):
    """The step's own script, on a pull request that changes one dev tenant's hosts: the base is a
    commit of a repository, which `render diff --base` renders in a worktree of its own."""
    pr = tmp_path / "pr"
    _copy_project(pr)
    _git(pr, "init", "--quiet")
    _git(pr, "add", "-A")
    _git(pr, "commit", "--quiet", "-m", "base")
    base = _git(pr, "rev-parse", "HEAD")
    (pr / ".venv").symlink_to(PROJECT_ROOT / ".venv")
    dev = pr / "tenants" / "dev.yaml"
    assert 'hosts: ["*"]' in dev.read_text()
    # workspace-1's server and route come first in the file.
    dev.write_text(dev.read_text().replace('hosts: ["*"]', 'hosts: ["shop.example.com"]', 2))
    script = step_named(load(WORKFLOWS / "preview.yml"), "render-diff", "diff")["run"]
    runner_temp, output = tmp_path / "runner", tmp_path / "output"
    runner_temp.mkdir()
    env = {**os.environ, "RUNNER_TEMP": str(runner_temp), "GITHUB_OUTPUT": str(output), "BASE_SHA": base}
    result = subprocess.run(["bash", "-e", "-c", script], cwd=pr, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr

    text = output.read_text()
    assert text.startswith("report<<report-")
    assert "### stack `dev`" in text and "### stack `prod`" in text
    dev_report = text.split("### stack `dev`")[1].split("### stack `prod`")[0]
    assert "~ Gateway.networking.istio.io workspace-1/workspace-1-gateway" in dev_report
    assert "workspace-2" not in dev_report
    prod_report = text.split("### stack `prod`")[1]
    assert "no changes" in prod_report
    assert _git(pr, "worktree", "list").count("\n") == 0  # the base's worktree is gone
