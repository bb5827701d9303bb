"""`python -m render validate [STACK | --tenants FILE]`: `ok: N tenants` and exit 0, or the errors on stderr and exit 2.

The error lines themselves are asserted case by case in test_tenants_errors.py.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml

from render.engine import PROJECT_ROOT
from verify.analyzer import analyzer_available

DEV_TENANTS = PROJECT_ROOT / "tenants" / "dev.yaml"


def validate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "render", "validate", *args],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
    )


def tenant_count(path) -> int:
    return len(yaml.safe_load(path.read_text(encoding="utf-8"))["tenants"])


@pytest.mark.parametrize("args", [["dev"], ["--tenants", "tenants/dev.yaml"], ["--tenants", str(DEV_TENANTS)]])
def test_a_valid_file_prints_ok_and_the_tenant_count(args):
    result = validate(*args)
    lines = result.stdout.splitlines()
    assert (result.returncode, lines[0], result.stderr) == (0, f"ok: {tenant_count(DEV_TENANTS)} tenants", "")
    # With a stack, its render's reachability is checked too (test_verify_reach.py), when the analyzer is installed.
    reach = args[0] == "dev" and analyzer_available()
    assert len(lines) == (2 if reach else 1), lines
    assert not reach or re.fullmatch(r"reachability: \d+ open paths; \d+ endpoint pairs compared with the tenants file, all as declared", lines[1]), lines


def many_tenants(count: int) -> dict:
    """A file at scale: every tenant with its own host, an HTTPS server and an export to the next."""
    tenants = []
    for i in range(count):
        name = f"team-{i:04d}"
        host = f"{name}.apps.example.com"
        tenant = {
            "name": name,
            "gateway": {
                "servers": [
                    {"port": 80, "hosts": [host]},
                    {"port": 443, "protocol": "HTTPS", "hosts": [host], "tls": {"mode": "SIMPLE", "credentialName": f"{name}-tls"}},
                ]
            },
            "routes": [{"name": "web", "http": [{"match": [{"prefix": "/"}], "to": {"service": "web", "port": 8080}}]}],
        }
        if i + 1 < count:
            tenant["exports"] = [{"service": "api", "to": [f"team-{i + 1:04d}"]}]
        if i > 0:
            tenant["imports"] = [{"tenant": f"team-{i - 1:04d}", "service": "api"}]
        tenants.append(tenant)
    return {"tenants": tenants}


def test_a_thousand_tenants_validate(tmp_path):
    path = tmp_path / "tenants.yaml"
    path.write_text(yaml.safe_dump(many_tenants(1000)), encoding="utf-8")
    result = validate("--tenants", str(path))
    assert (result.returncode, result.stdout, result.stderr) == (0, "ok: 1000 tenants\n", "")


def test_a_stack_with_another_tenants_file_checks_both(tmp_path):
    path = tmp_path / "tenants.yaml"
    path.write_text("tenants: [{name: solo}]\n", encoding="utf-8")
    result = validate("dev", "--tenants", str(path))
    assert (result.returncode, result.stdout.splitlines()[0], result.stderr) == (0, "ok: 1 tenants", "")


def test_an_unknown_stack_is_one_line():
    result = validate("nosuch")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "Pulumi.nosuch.yaml: no such stack file (stack 'nosuch'); create it with `pulumi stack init nosuch`\n"
    )


def test_neither_stack_nor_file_is_a_usage_error():
    result = validate()
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines()[-1] == "python -m render validate: error: name a STACK or --tenants FILE"


def test_errors_go_to_stderr_only(tmp_path):
    path = tmp_path / "tenants.yaml"
    path.write_text("tenants: [{name: a, gatway: {}}]\n", encoding="utf-8")
    result = validate("--tenants", str(path))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith(f"{path}:1: tenants[a].gatway: unknown field 'gatway' (did you mean 'gateway'?)")
    assert "Traceback" not in result.stderr
