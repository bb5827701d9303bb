"""Stack settings (Pulumi.<stack>.yaml): the install method and Istio version, unknown keys, and the tenants file they name.

The settings are checked by `load_settings` for `render validate`, and by the program itself
under `pulumi up`, which must see every key of the project (a misspelt one included).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pulumi
import pytest

from render.engine import PROJECT_ROOT, read_stack_config, run_program
from tenants import ConfigError
from tenants.stack import load_settings, project_values

KEY = "istio-multitenancy"
OPERATOR_GONE = (
    "has no in-cluster operator (removed upstream in 1.24); the operator install supports 1.22 to 1.23 "
    "(1.23.6 is the newest); use installMethod: helm for current Istio"
)
HELM_UNVALIDATED = (
    "is not validated for installMethod: helm, which supports Istio 1.30 (validated with the 1.30.3 charts): "
    "use istioVersion 1.30.3"
)
ALLOWED_KEYS = (
    "chartDirectory, chartRepository, gatewayApiCrds, gatewayApiTcpRouteCrd, imageHub, installMethod, istioVersion, "
    "kubeClientBurst, kubeClientQps, kubeContext, sailChartDirectory, sailChartRepository, shard, tenantShards, tenantsFile"
)


def settings_errors(config: dict, root: Path = PROJECT_ROOT, stack: str = "unit") -> list[str]:
    """The error lines for these settings; stack "unit" has no stack file (so no line numbers)."""
    with pytest.raises(ConfigError) as caught:
        load_settings(stack, {"tenantsFile": "tenants/dev.yaml", **config}, root)
    return str(caught.value).splitlines()


@pytest.mark.parametrize("version", ["1.23", "latest", "1.23.6-rc.0", "v1.23.6", "1.23.6 "])
def test_istio_version_must_be_x_y_z(version):
    assert settings_errors({"istioVersion": version}) == [
        f"Pulumi.unit.yaml: {KEY}:istioVersion: {version!r} is not a version X.Y.Z (for example 1.23.6)"
    ]


@pytest.mark.parametrize("version", ["1.24.0", "1.24.6", "1.30.3", "2.0.0"])
def test_operator_install_is_refused_from_istio_1_24(version):
    assert settings_errors({"installMethod": "operator", "istioVersion": version}) == [
        f"Pulumi.unit.yaml: {KEY}:istioVersion: Istio {version} {OPERATOR_GONE}"
    ]


def test_istio_before_1_22_is_refused():
    assert settings_errors({"installMethod": "operator", "istioVersion": "1.21.6"}) == [
        f"Pulumi.unit.yaml: {KEY}:istioVersion: Istio 1.21.6 does not serve networking.istio.io/v1; "
        "the operator install supports 1.22 to 1.23"
    ]


@pytest.mark.parametrize("version", ["1.22.0", "1.23.6"])
def test_operator_versions_are_accepted(version):
    config = {"tenantsFile": "tenants/classic.yaml", "installMethod": "operator", "istioVersion": version}
    settings = load_settings("unit", config, PROJECT_ROOT)
    assert settings.install.istio_version == version


@pytest.mark.parametrize("version", ["1.24.6", "1.29.4", "1.31.1", "2.0.0"])
def test_helm_install_is_refused_for_releases_not_validated(version):
    assert settings_errors({"istioVersion": version}) == [f"Pulumi.unit.yaml: {KEY}:istioVersion: Istio {version} {HELM_UNVALIDATED}"]


@pytest.mark.parametrize("version", ["1.22.8", "1.23.6"])
def test_helm_install_of_an_operator_release_points_to_the_operator(version):
    assert settings_errors({"istioVersion": version}) == [
        f"Pulumi.unit.yaml: {KEY}:istioVersion: Istio {version} {HELM_UNVALIDATED}, "
        "or installMethod: operator for Istio 1.22 to 1.23"
    ]


@pytest.mark.parametrize("version", ["1.30.0", "1.30.2", "1.30.3"])
def test_helm_takes_every_1_30_patch_release(version):
    settings = load_settings("unit", {"tenantsFile": "tenants/dev.yaml", "istioVersion": version}, PROJECT_ROOT)
    assert settings.install.istio_version == version
    assert settings.install.charts.version == version


@pytest.mark.parametrize(("method", "version", "newest"), [("helm", "1.30.99", "1.30.3"), ("operator", "1.23.9", "1.23.6")])
def test_a_patch_past_the_newest_release_is_refused_as_unknown(method, version, newest):
    minor = newest.rsplit(".", 1)[0]
    assert settings_errors({"installMethod": method, "istioVersion": version}) == [
        f"Pulumi.unit.yaml: {KEY}:istioVersion: Istio {version} is not a known release: the newest {minor} release is "
        f"{newest} (the releases this project knows, ISTIO_RELEASES in tenants/install.py): use istioVersion {newest}"
    ]


def test_an_unknown_key_is_an_error_with_a_hint():
    assert settings_errors({"istioVersoin": "1.23.6"}) == [
        f"Pulumi.unit.yaml: {KEY}:istioVersoin: unknown field 'istioVersoin' (did you mean 'istioVersion'?); "
        f"allowed: {ALLOWED_KEYS}"
    ]


def test_the_tenants_file_defaults_to_the_stack_name():
    with pytest.raises(ConfigError) as caught:
        load_settings("nowhere", {}, PROJECT_ROOT)
    assert str(caught.value) == "tenants/nowhere.yaml: no such tenants file"


def test_project_values_keep_this_projects_keys_only():
    config = {f"{KEY}:istioVersion": "1.23.6", "kubernetes:context": "kind", "tenantsFile": "t.yaml"}
    # A key without a namespace in Pulumi.<stack>.yaml is the project's.
    assert project_values(config) == {"istioVersion": "1.23.6", "tenantsFile": "t.yaml"}


@pytest.fixture
def project(tmp_path) -> Path:
    """A copy of the project's layout whose stack files a test may write: the code is linked."""
    for name in ("__main__.py", "tenants", "builders", "components"):
        (tmp_path / name).symlink_to(PROJECT_ROOT / name)
    return tmp_path


def write_stack(root: Path, stack: str, body: str) -> None:
    (root / f"Pulumi.{stack}.yaml").write_text(textwrap.dedent(body).lstrip("\n"), encoding="utf-8")


def test_stack_errors_give_the_line_in_the_stack_file(project):
    write_stack(
        project,
        "test",
        f"""
        config:
          {KEY}:tenantsFile: tenants/dev.yaml
          {KEY}:installMethod: operator
          {KEY}:istioVersion: 1.24.6
        """,
    )
    config = project_values(read_stack_config("test", project))
    assert settings_errors(config, project, "test") == [f"Pulumi.test.yaml:4: {KEY}:istioVersion: Istio 1.24.6 {OPERATOR_GONE}"]


@pytest.mark.parametrize(
    "body, expected",
    [
        (
            f"""
            config:
              {KEY}:tenantsFile: tenants/dev.yaml
              {KEY}:istioVersoin: 1.23.6
            """,
            f"Pulumi.test.yaml:3: {KEY}:istioVersoin: unknown field 'istioVersoin' (did you mean 'istioVersion'?); "
            f"allowed: {ALLOWED_KEYS}",
        ),
        (
            f"""
            config:
              {KEY}:tenantsFile: tenants/dev.yaml
              {KEY}:installMethod: operator
              {KEY}:istioVersion: 1.30.3
            """,
            f"Pulumi.test.yaml:4: {KEY}:istioVersion: Istio 1.30.3 {OPERATOR_GONE}",
        ),
        (
            f"""
            config:
              {KEY}:tenantsFile: tenants/missing.yaml
            """,
            "tenants/missing.yaml: no such tenants file",
        ),
    ],
    ids=["misspelt-key", "operator-istio-1.30", "missing-tenants-file"],
)
def test_the_program_refuses_bad_stack_settings_and_registers_nothing(project, body, expected):
    """As `pulumi up` runs it: the program reads every key of the project, not only the known ones."""
    write_stack(project, "test", body)
    with pytest.raises(pulumi.RunError) as caught:
        run_program("test", root=project)
    assert str(caught.value).splitlines() == [expected]
    assert [r.type for r in caught.value.registrations] == ["pulumi:pulumi:Stack"]


def test_the_program_accepts_a_key_written_without_the_project_namespace(project):
    write_stack(
        project,
        "test",
        """
        config:
          tenantsFile: tenants/dev.yaml
          istioVersion: 1.30.3
        """,
    )
    run = run_program("test", root=project)
    assert any(r.type == "istio-multitenancy:index:TenantMesh" for r in run.registrations)
