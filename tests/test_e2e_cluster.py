"""e2e/cluster's failure paths, without Go or any built tool: one line naming what failed and how
to fix it, a non-zero exit, and nothing left running. (Its success path runs in `make e2e`.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLUSTER = ROOT / "e2e" / "cluster"
TOOLS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kubectl")


def _cluster(build: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(CLUSTER), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "E2E_BUILD_DIR": str(build), **env},
    )


def _ours(build: Path) -> list[str]:
    """Processes whose command line names the build folder."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(build) in cmdline and "pytest" not in cmdline:
                found.append(cmdline)
    return found


def _fake_tools(build: Path, etcd_script: str) -> None:
    bin_dir = build / "bin"
    bin_dir.mkdir(parents=True)
    for tool in TOOLS:
        path = bin_dir / tool
        path.write_text(etcd_script if tool == "etcd" else "#!/bin/sh\nexit 1\n")
        path.chmod(0o755)


def test_missing_tools_are_named_with_the_fix(tmp_path):
    result = _cluster(tmp_path, "up")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "etcd" in lines[0] and "kube-apiserver" in lines[0] and "make e2e-tools" in lines[0]
    assert not (tmp_path / "kubeconfig").exists()


def test_a_component_that_exits_is_named_with_its_log(tmp_path):
    _fake_tools(tmp_path, "#!/bin/sh\necho 'etcdmain: listen tcp: address already in use' >&2\nexit 3\n")
    result = _cluster(tmp_path, "up")
    assert result.returncode == 1
    line = result.stderr.strip()
    assert "\n" not in line
    assert "etcd exited with code 3" in line and "address already in use" in line
    assert _ours(tmp_path) == []
    assert _cluster(tmp_path, "status").returncode == 1


def test_a_component_that_never_becomes_ready_is_stopped(tmp_path):
    # Never healthy: the start times out, and the process (and its child) must not survive it.
    # (The child's command line names the tool's path, so a survivor would be seen.)
    _fake_tools(tmp_path, "#!/bin/sh\nsh -c 'sleep 300; true' \"$0\" &\nwait\n")
    result = _cluster(tmp_path, "up", E2E_START_TIMEOUT="2")
    assert result.returncode == 1
    assert "etcd not healthy after 2 s" in result.stderr
    assert _ours(tmp_path) == []


def test_down_without_a_cluster_says_so(tmp_path):
    result = _cluster(tmp_path, "down")
    assert result.returncode == 0
    assert "nothing was running" in result.stdout


@pytest.mark.parametrize("args", [[], ["start"], ["up", "now"]])
def test_usage(tmp_path, args):
    result = _cluster(tmp_path, *args)
    assert result.returncode == 2
    assert "usage: e2e/cluster up|down|status" in result.stderr
