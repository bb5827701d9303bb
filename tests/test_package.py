"""istio-multitenancy as an installable package (pyproject.toml) and a Pulumi component package (package/)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from render.engine import PROJECT_ROOT, run_program_file

EXAMPLE_TENANTS = PROJECT_ROOT / "examples" / "library" / "tenants.yaml"
COMPONENT = "istio-multitenancy:index:MultitenantMesh"


def _pyproject() -> dict:
    return tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_distribution_needs_what_the_program_needs():
    lines = (PROJECT_ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    required = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert _pyproject()["project"]["dependencies"] == required


def test_installed_the_library_imports_from_its_one_name_alone(tmp_path):
    """The layout pyproject.toml installs (each mapped package inside istio_multitenancy), imported
    by a Python that cannot see the repository: nothing is missing from the mapping."""
    setuptools = _pyproject()["tool"]["setuptools"]
    site = tmp_path / "site"
    for package in setuptools["packages"]:
        source = PROJECT_ROOT / setuptools["package-dir"].get(package, package.replace(".", "/"))
        shutil.copytree(source, site / package.replace(".", "/"), ignore=shutil.ignore_patterns("__pycache__", "*.yaml", ".venv"))
    script = (
        "import sys, istio_multitenancy as mt, tenants\n"
        "assert tenants.__file__.startswith(sys.argv[1]), tenants.__file__\n"
        "s = mt.load_settings('demo', {'tenantsFile': sys.argv[2]}, __import__('pathlib').Path('.'))\n"
        "print(callable(mt.build_stack), [t.name for t in s.tenants.tenants])\n"
    )
    # -I: no current directory, no PYTHONPATH, no user site: only the copied layout (and the venv's packages).
    result = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r}); exec({script!r})", str(site), str(EXAMPLE_TENANTS)],
        capture_output=True, text=True, cwd=tmp_path, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True ['shop', 'payments']"


def _schema_resource() -> dict:
    from pulumi.provider.experimental.component import ComponentProvider

    from istio_multitenancy.package import MultitenantMesh

    schema = json.loads(ComponentProvider([MultitenantMesh], "istio-multitenancy", None, "0.1.0").schema)
    return schema["resources"][COMPONENT]


def test_the_component_package_schema_is_generated_from_the_component():
    resource = _schema_resource()
    assert resource["isComponent"] is True
    assert resource["requiredInputs"] == ["tenants"]
    assert set(resource["inputProperties"]) == {"tenants", "settings", "kubeContext"}
    assert resource["properties"]["namespaces"]["additionalProperties"]["type"] == "string"


BIN = PROJECT_ROOT / "build" / "e2e" / "bin"


def _pulumi_cli() -> str | None:
    return str(BIN / "pulumi") if (BIN / "pulumi").exists() else shutil.which("pulumi")


@pytest.mark.skipif(_pulumi_cli() is None, reason="no Pulumi CLI (make e2e-tools links one into build/e2e/bin)")
@pytest.mark.skipif(
    not (BIN / "pulumi-resource-kubernetes").exists(),
    reason="the package's kubernetes provider plugin is not here to install offline (make e2e-tools builds it)",
)
def test_the_pulumi_cli_reads_the_package_schema(tmp_path):
    """`pulumi package get-schema` on a copy of package/ (its own venv, so the CLI's pip upgrade of
    the venv's tools does not touch the repository's), with the provider plugin installed from
    build/e2e/bin under the version the SDK asks for: no download."""
    from importlib.metadata import version

    package = tmp_path / "package"
    package.mkdir()
    main = (PROJECT_ROOT / "package" / "__main__.py").read_text(encoding="utf-8")
    (package / "__main__.py").write_text(main.replace("Path(__file__).resolve().parents[1]", repr(str(PROJECT_ROOT))), encoding="utf-8")
    (package / "PulumiPlugin.yaml").write_text("runtime: python\n", encoding="utf-8")
    # The CLI makes the copy a venv of its own and installs this into it (the program's packages).
    (package / "requirements.txt").write_text(f"-r {PROJECT_ROOT / 'requirements.txt'}\n", encoding="utf-8")
    venv_bin = PROJECT_ROOT / ".venv" / "bin"
    env = {
        **os.environ, "PULUMI_HOME": str(tmp_path / "home"), "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true", "PATH": os.pathsep.join([str(venv_bin), str(BIN), os.environ.get("PATH", "")]),
    }
    cli = _pulumi_cli()
    plugin = [cli, "plugin", "install", "resource", "kubernetes", version("pulumi_kubernetes"), "--file", str(BIN / "pulumi-resource-kubernetes")]
    subprocess.run(plugin, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=True)
    result = subprocess.run(
        [cli, "package", "get-schema", str(package)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    schema = json.loads(result.stdout)
    assert schema["name"] == "istio-multitenancy"
    # The CLI's venv may hold a newer SDK, which adds details (`plain`); the contract is the same.
    served, generated = schema["resources"][COMPONENT], _schema_resource()
    assert served["isComponent"] is True
    assert served["requiredInputs"] == generated["requiredInputs"]
    for key in ("inputProperties", "properties"):
        assert {name: prop.get("type") for name, prop in served[key].items()} == {
            name: prop.get("type") for name, prop in generated[key].items()
        }


def test_the_component_registers_the_program_under_itself(tmp_path):
    program = tmp_path / "__main__.py"
    program.write_text(
        "from pathlib import Path\n"
        "from istio_multitenancy.package import MultitenantMesh\n"
        f"MultitenantMesh('mesh', {{'tenants': Path({str(EXAMPLE_TENANTS)!r}).read_text()}})\n",
        encoding="utf-8",
    )
    component = run_program_file(program, "dev", {})
    stack = run_program_file(PROJECT_ROOT / "__main__.py", "dev", {"istio-multitenancy:tenantsFile": str(EXAMPLE_TENANTS)})
    mine = {(r.type, r.name) for r in component.registrations}
    assert mine - {(r.type, r.name) for r in stack.registrations} == {(COMPONENT, "mesh")}
    assert {(r.type, r.name) for r in stack.registrations} - mine == set()
    [root] = [r for r in component.registrations if r.type == COMPONENT]
    top = [r for r in component.registrations if r.parent == root.urn]
    assert {r.type for r in top} >= {"pulumi:providers:kubernetes", "istio-multitenancy:index:TenantAdmission", "istio-multitenancy:index:TenantMesh"}
    stack_urn = next(r.urn for r in component.registrations if r.type == "pulumi:pulumi:Stack")
    assert [r.name for r in component.registrations if r.parent == stack_urn] == ["mesh"]
