"""`python -m render STACK`: the files users review, written deterministically."""

import asyncio
import gc
import json
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from render.engine import PROJECT_ROOT, run_program


def _render(out, *args) -> subprocess.CompletedProcess:
    # The program's own objects (chart expansion: tests/test_render_charts.py).
    return subprocess.run(
        [sys.executable, "-m", "render", "dev", "--out", str(out), "--no-expand", *args],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
    )


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    first, second = tmp_path_factory.mktemp("first"), tmp_path_factory.mktemp("second")
    results = [_render(first), _render(second)]
    for result in results:
        assert result.returncode == 0, result.stderr
    return first, second, results[0]


def test_two_runs_write_identical_bytes(rendered):
    first, second, _ = rendered
    for name in ("manifests.yaml", "resources.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_manifests_are_plain_kubernetes_in_a_stable_order(rendered, dev_objects):
    docs = list(yaml.safe_load_all((rendered[0] / "manifests.yaml").read_text()))
    assert docs == dev_objects  # the rendered file is exactly what the program registered
    scoped = [d["metadata"].get("namespace") is not None for d in docs]
    assert scoped == sorted(scoped), "cluster-scoped objects come first"
    keys = [(d["metadata"].get("namespace") or "", d["kind"], d["metadata"]["name"]) for d in docs if d["metadata"].get("namespace")]
    assert keys == sorted(keys)
    text = (rendered[0] / "manifests.yaml").read_text()
    assert "urn:pulumi" not in text and "__" not in text.replace("__init__", "")


def test_numbers_stay_integers(rendered):
    # The mock engine hands numbers back as floats; the render must not print 80.0.
    docs = list(yaml.safe_load_all((rendered[0] / "manifests.yaml").read_text()))
    gateway = next(d for d in docs if d["kind"] == "Gateway" and d["metadata"]["namespace"] == "workspace-1")
    assert type(gateway["spec"]["servers"][0]["port"]["number"]) is int
    assert ".0\n" not in (rendered[0] / "manifests.yaml").read_text()


def test_resources_json_has_one_entry_per_resource(rendered, dev_run):
    entries = json.loads((rendered[0] / "resources.json").read_text())
    assert sorted(e["urn"] for e in entries) == sorted(r.urn for r in dev_run.registrations)
    fields = {"urn", "type", "parent", "provider", "dependencies", "options"}
    assert all(fields <= set(e) for e in entries)
    assert all({"protect", "retainOnDelete"} <= set(e["options"]) for e in entries)
    namespace = next(e for e in entries if e["urn"].endswith("Namespace::workspace-1/workspace-1"))
    assert namespace["options"]["retainOnDelete"] is True
    platform = next(e for e in entries if e["urn"].endswith("Namespace::platform-istiocontrolplane/istio-system"))
    assert platform["options"]["protect"] is True
    assert not any("pulumi:pulumi:Stack$" in json.dumps(e) for e in entries)  # real-engine URNs


def test_summary_counts_resources_per_component(rendered, dev_run):
    stdout = rendered[2].stdout
    assert f"stack dev: {len(dev_run.registrations)} Pulumi resources" in stdout
    for tenant in ("workspace-1", "workspace-2"):
        count = sum(1 for r in dev_run.registrations if r.name == tenant or r.name.startswith(f"{tenant}/"))
        assert any(line.split()[:2] == ["TenantMesh", tenant] and line.split()[2] == str(count) for line in stdout.splitlines())


def test_unknown_stack_is_a_clean_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "render", "nosuchstack", "--out", str(tmp_path / "out")],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("Pulumi.nosuchstack.yaml: no such stack file")
    assert not (tmp_path / "out").exists()


def test_help_lists_every_command_with_its_arguments():
    from render.__main__ import SUBCOMMANDS, _diff_parser, _reach_parser, _render_parser, _validate_parser

    result = subprocess.run([sys.executable, "-m", "render", "--help"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == ""
    usage = result.stdout.split("\n\n")[0].splitlines()
    assert [line.split()[:4] for line in usage] == [
        ["usage:", "python", "-m", "render"],
        ["python", "-m", "render", "validate"],
        ["python", "-m", "render", "diff"],
        ["python", "-m", "render", "reach"],
    ]
    assert set(SUBCOMMANDS) == {"validate", "diff", "reach"}
    shown = " ".join(result.stdout.split())  # argparse wraps lines to the terminal's width
    for line, parser in zip(usage, (_render_parser(), _validate_parser(), _diff_parser(), _reach_parser())):
        for action in parser._actions:
            shown_in_usage = action.option_strings[0] if action.option_strings else action.metavar
            assert shown_in_usage in line and (action.metavar or "") in line, (shown_in_usage, line)
            assert " ".join(action.help.split()) in shown, action.help


def test_twenty_renders_leave_stderr_clean(tmp_path):
    # The noise came from event loops left to the garbage collector at exit, in some runs only.
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: _render(tmp_path / str(i)), range(20)))
    assert [r.returncode for r in results] == [0] * 20
    assert [r.stderr for r in results] == [""] * 20


def test_a_run_closes_its_event_loops_and_ends_its_threads():
    threads = set(threading.enumerate())
    run_program("dev")
    assert set(threading.enumerate()) - threads == set()
    open_loops = [o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop) and not o.is_closed()]
    assert open_loops == []
