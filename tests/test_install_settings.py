"""The install method in the stack settings: its defaults, where charts come from, what each method
refuses (with the stack or tenants file, the line and the key), and the profiles each one takes."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pulumi
import pytest
import yaml

from render.engine import PROJECT_ROOT, read_stack_config, run_program
from tenants import ConfigError
from tenants.install import DEFAULT_CHART_REPOSITORY, HELM_CHARTS, SUPPORT
from tenants.model import InstallMethod, Profile
from tenants.stack import load_settings, project_values
from tests.support import REFERENCE_RELATIVE, reference

KEY = "istio-multitenancy"
CHARTS = f"{REFERENCE_RELATIVE}/istio/1.30.3/charts"


def settings(config: dict, root: Path = PROJECT_ROOT):
    return load_settings("unit", {"tenantsFile": "tenants/dev.yaml", **config}, root)


def errors(config: dict, root: Path = PROJECT_ROOT) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        settings(config, root)
    return str(caught.value).splitlines()


def test_helm_is_the_default_with_the_newest_validated_release():
    install = settings({}).install
    assert install.method == InstallMethod.HELM
    assert install.istio_version == "1.30.3" == SUPPORT[InstallMethod.HELM].default_version
    assert install.image_hub == "docker.io/istio"
    assert (install.charts.repository, install.charts.directory, install.charts.version) == (DEFAULT_CHART_REPOSITORY, None, "1.30.3")


def test_the_default_repository_is_istios_current_location():
    # Istio moved its charts (istio.io, 2026-08-21): the Google Cloud location is removed in
    # December 2026 and never had 1.31; blob.istio.io holds every version.
    assert DEFAULT_CHART_REPOSITORY == "https://blob.istio.io/istio-release/charts"


def test_the_operator_defaults_to_its_newest_release():
    install = load_settings("unit", {"tenantsFile": "tenants/classic.yaml", "installMethod": "operator"}, PROJECT_ROOT).install
    assert (install.method, install.istio_version, install.charts) == (InstallMethod.OPERATOR, "1.23.6", None)


@pytest.mark.parametrize("repository", ["oci://ghcr.io/istio/release/charts", "https://charts.mirror.example.com/istio"])
def test_a_repository_or_a_mirror(repository):
    charts = settings({"chartRepository": repository}).install.charts
    assert (charts.repository, charts.directory) == (repository, None)


@pytest.mark.parametrize("directory", [CHARTS, str((PROJECT_ROOT / CHARTS).resolve())], ids=["relative", "absolute"])
def test_a_local_chart_directory(directory):
    reference("istio", "1.30.3", "charts")  # a one-line failure when the reference data is missing
    charts = settings({"chartDirectory": directory}).install.charts
    assert (charts.repository, charts.directory) == (None, directory)


def test_an_unknown_method_is_refused():
    assert errors({"installMethod": "istioctl"}) == [f"Pulumi.unit.yaml: {KEY}:installMethod: 'istioctl' is not allowed; use one of helm, operator, sail"]


@pytest.mark.parametrize(
    "config, key, message",
    [
        (
            {"chartRepository": "https://istio-release.storage.googleapis.com/charts"},
            "chartRepository",
            "'https://istio-release.storage.googleapis.com/charts' is Istio's former Google Cloud chart location, "
            "removed in December 2026; use https://blob.istio.io/istio-release/charts or oci://ghcr.io/istio/release/charts",
        ),
        (
            {"chartRepository": "ftp://charts.example.com"},
            "chartRepository",
            "'ftp://charts.example.com' is not a chart repository: give an https:// or oci:// URL "
            "(for example https://blob.istio.io/istio-release/charts)",
        ),
        (
            {"chartDirectory": f"{REFERENCE_RELATIVE}/istio/1.30.3"},
            "chartDirectory",
            f"'{REFERENCE_RELATIVE}/istio/1.30.3' lacks Istio's chart(s) base, istiod, gateway, cni: it must hold "
            "base/, istiod/, gateway/, cni/ each with its Chart.yaml",
        ),
        (
            {"imageHub": "https://docker.io/istio"},
            "imageHub",
            "'https://docker.io/istio' is not an image registry path (for example docker.io/istio or "
            "registry.example.com:5000/istio; no scheme, no tag)",
        ),
        (
            {"chartRepository": DEFAULT_CHART_REPOSITORY, "chartDirectory": CHARTS},
            "chartDirectory",
            "set chartRepository or chartDirectory, not both",
        ),
    ],
    ids=["retired-google-location", "not-a-url", "not-a-chart-directory", "hub-with-scheme", "both-sources"],
)
def test_bad_chart_sources(config, key, message):
    if "chartDirectory" in config:
        reference("istio", "1.30.3", "charts")  # a one-line failure when the reference data is missing
    assert errors(config) == [f"Pulumi.unit.yaml: {KEY}:{key}: {message}"]


def test_a_missing_chart_directory_names_where_it_looked(tmp_path):
    assert errors({"chartDirectory": "charts"}, tmp_path) == [
        f"Pulumi.unit.yaml: {KEY}:chartDirectory: 'charts' is not a directory (looked for {tmp_path / 'charts'})"
    ]


def test_a_directory_missing_one_chart_names_it(tmp_path):
    for chart in HELM_CHARTS[:-1]:
        (tmp_path / chart).mkdir()
        (tmp_path / chart / "Chart.yaml").write_text(f"name: {chart}\nversion: 1.0.0\n", encoding="utf-8")
    (tmp_path / "cni").mkdir()
    (tmp_path / "cni" / "Chart.yaml").write_text("name: istio-cni\n", encoding="utf-8")  # the wrong chart
    assert errors({"chartDirectory": str(tmp_path)}) == [
        f"Pulumi.unit.yaml: {KEY}:chartDirectory: {str(tmp_path)!r} lacks Istio's chart(s) cni: it must hold "
        "base/, istiod/, gateway/, cni/ each with its Chart.yaml"
    ]


@pytest.mark.parametrize(
    "key, value, readers",
    [("chartRepository", DEFAULT_CHART_REPOSITORY, "helm or sail"), ("chartDirectory", CHARTS, "helm or sail"), ("imageHub", "docker.io/istio", "helm")],
)
def test_helm_settings_on_the_operator_are_refused(key, value, readers):
    config = {"tenantsFile": "tenants/classic.yaml", "installMethod": "operator", key: value}
    with pytest.raises(ConfigError) as caught:
        load_settings("unit", config, PROJECT_ROOT)
    assert str(caught.value) == (
        f"Pulumi.unit.yaml: {KEY}:{key}: {key} is a setting of installMethod: {readers}; installMethod: operator does not read it"
    )


def test_every_problem_at_once():
    found = errors({"istioVersion": "1.31.1", "chartRepository": "ftp://x", "imageHub": "Docker.io"})
    assert [line.split(": ")[1] for line in found] == [f"{KEY}:istioVersion", f"{KEY}:chartRepository", f"{KEY}:imageHub"]


# --- Profiles per method --------------------------------------------------------------------


def test_helm_takes_the_profiles_istios_charts_ship_that_install_istiod():
    """Every profile file of the 1.30.3 charts, but those for other setups, and `default` (no file)."""
    charts = reference("istio", "1.30.3", "charts")
    shipped = {
        path.stem.removeprefix("profile-")
        for path in (charts / "istiod" / "files").glob("profile-*.yaml")
        if not path.stem.startswith(("profile-compatibility-version-", "profile-platform-"))
    }
    # remote: istiod of another cluster; ambient: needs ztunnel, which is not installed.
    assert set(SUPPORT[InstallMethod.HELM].profiles) == shipped - {"remote", "ambient"} | {"default"}
    for profile in set(SUPPORT[InstallMethod.HELM].profiles) - {"default"}:
        for chart in HELM_CHARTS:
            assert (charts / chart / "files" / f"profile-{profile}.yaml").is_file(), (chart, profile)


def test_the_operator_takes_every_profile_of_the_model():
    assert set(SUPPORT[InstallMethod.OPERATOR].profiles) == {p.value for p in Profile}
    assert set(SUPPORT[InstallMethod.HELM].profiles) < set(SUPPORT[InstallMethod.OPERATOR].profiles)


def _tenants(tmp_path: Path, profile: str) -> str:
    path = tmp_path / "tenants.yaml"
    path.write_text(f"controlPlane:\n  namespace: istio-system\n  profile: {profile}\ntenants: []\n", encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    "profile, hint",
    [
        ("minimal", " (the istiod chart installs no gateway, so `default` is what `minimal` was)"),
        ("ambient", " (ambient needs ztunnel, which this program does not install: its tenants run sidecars)"),
        ("openshift", ""),
    ],
)
def test_a_profile_helm_does_not_take_is_an_error_in_the_tenants_file(tmp_path, profile, hint):
    tenants = _tenants(tmp_path, profile)
    with pytest.raises(ConfigError) as caught:
        load_settings("unit", {"tenantsFile": tenants}, PROJECT_ROOT)
    assert str(caught.value) == (
        f"{tenants}:3: controlPlane.profile: profile {profile!r} is not one installMethod: helm takes; "
        f"use default, demo, preview or stable{hint}"
    )


@pytest.mark.parametrize("profile", ["minimal", "ambient", "openshift"])
def test_the_operator_still_takes_them(tmp_path, profile):
    config = {"tenantsFile": _tenants(tmp_path, profile), "installMethod": "operator"}
    assert load_settings("unit", config, PROJECT_ROOT).tenants.control_plane.profile == profile


# --- Through the program, as `pulumi up` runs it --------------------------------------------


@pytest.fixture
def project(tmp_path) -> Path:
    for name in ("__main__.py", "tenants", "builders", "components"):
        (tmp_path / name).symlink_to(PROJECT_ROOT / name)
    return tmp_path


def test_the_program_names_the_stack_file_line_and_registers_nothing(project):
    (project / "Pulumi.test.yaml").write_text(
        textwrap.dedent(
            f"""\
            config:
              {KEY}:tenantsFile: tenants/dev.yaml
              {KEY}:installMethod: operator
              {KEY}:chartDirectory: {CHARTS}
            """
        ),
        encoding="utf-8",
    )
    with pytest.raises(pulumi.RunError) as caught:
        run_program("test", root=project)
    assert str(caught.value) == (
        f"Pulumi.test.yaml:4: {KEY}:chartDirectory: chartDirectory is a setting of installMethod: helm or sail; "
        "installMethod: operator does not read it"
    )
    assert [r.type for r in caught.value.registrations] == ["pulumi:pulumi:Stack"]


@pytest.mark.parametrize("stack, method, version", [("dev", "helm", "1.30.3"), ("prod", "helm", "1.30.3"), ("classic", "operator", "1.23.6")])
def test_the_stacks_install_methods(stack, method, version):
    config = project_values(read_stack_config(stack))
    assert (config.get("installMethod"), config.get("istioVersion")) == (method, version)
    # dev and prod use Istio's own repository; tests and e2e point chartDirectory elsewhere by config.
    assert "chartRepository" not in config and "chartDirectory" not in config
    document = yaml.safe_load((PROJECT_ROOT / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))
    assert set(document) == {"config"}


def test_a_chart_directory_serves_one_istio_version_to_every_revision():
    # The meshes file's canary runs 1-30-2 (1.30.2) beside 1-30-3: from Istio's repository, each
    # revision gets its own version's charts; one local directory would give 1.30.2 the 1.30.3 templates.
    reference("istio", "1.30.3", "charts")  # a one-line failure when the reference data is missing
    assert settings({"tenantsFile": "tenants/meshes.yaml", "installMethod": "helm"}).install.charts.repository
    assert errors({"tenantsFile": "tenants/meshes.yaml", "installMethod": "helm", "chartDirectory": CHARTS}) == [
        "tenants/meshes.yaml:12: meshes[usergroup-1].revisions[1-30-2].version: chartDirectory holds one version of "
        "Istio's charts, the stack's istioVersion 1.30.3; a revision of 1.30.2 would run 1.30.3's templates: "
        "set chartRepository instead, or give this revision version 1.30.3"
    ]


def test_on_sail_a_chart_directory_gives_only_the_gateway_chart_and_any_revision_may_use_it():
    # The Sail operator brings istiod's charts of each version; chartDirectory serves the gateways.
    reference("istio", "1.30.3", "charts")
    sail_chart = f"{REFERENCE_RELATIVE}/sail-operator/1.30.3/chart"
    meshes = settings({"tenantsFile": "tenants/meshes.yaml", "installMethod": "sail", "chartDirectory": CHARTS, "sailChartDirectory": sail_chart})
    assert {r.version for m in meshes.tenants.meshes for r in m.revisions or ()} >= {"1.30.2", "1.30.3"}
