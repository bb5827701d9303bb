"""Install methods: which Istio releases and profiles each one takes, and where its charts come from.

The stack settings choose the method (`installMethod`); everything a method accepts is in
`SUPPORT`, so that another method (the Sail operator, say) is one more entry and its own keys.
Each check returns `(key, message)` problems for the loader to report with the stack file's lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import yaml

from . import mesh_rules
from .model import InstallMethod, Observability, Profile, Protocol, RouteKind, StackSettings, TenantsFile

# Istio's chart locations since 2026 (istio.io, "Retirement of GCP artifacts"): HTTP and OCI.
DEFAULT_CHART_REPOSITORY = "https://blob.istio.io/istio-release/charts"
OCI_CHART_REPOSITORY = "oci://ghcr.io/istio/release/charts"
# Removed in December 2026: a stack still pointing there would fail once it is gone.
RETIRED_CHART_REPOSITORY = "istio-release.storage.googleapis.com"
DEFAULT_IMAGE_HUB = "docker.io/istio"
# The charts the Helm install uses, by their published names.
HELM_CHARTS = ("base", "istiod", "gateway", "cni")
# The Sail operator installs the control planes (and Istio's CRDs); Istio's gateway chart the gateways.
SAIL_ISTIO_CHARTS = ("gateway",)
SAIL_CHART = "sail-operator"
SAIL_OPERATOR_VERSION = "1.30.3"
# The Sail project's Helm repository (its README: `helm repo add sail-operator ...`).
DEFAULT_SAIL_CHART_REPOSITORY = "https://istio-ecosystem.github.io/sail-operator"
# The Istio releases Sail 1.30.3 ships images and charts for (its chart's `images.v1_X_Y.*`
# annotations; its CRD lists older names too, which it no longer installs).
SAIL_ISTIO_VERSIONS = tuple(
    [f"1.28.{p}" for p in range(11)] + [f"1.29.{p}" for p in range(7)] + [f"1.30.{p}" for p in range(4)]
)
# The newest patch of each Istio minor the install methods take, as published (istio.io's release
# announcements): a version past it is a typo or a release not out yet, refused before any chart
# or image is asked for. When Istio publishes a patch, raise its number here.
ISTIO_RELEASES: dict[tuple[int, int], int] = {(1, 22): 8, (1, 23): 6, (1, 28): 10, (1, 29): 6, (1, 30): 3}
# Istio's base chart ships Istio's CRDs only: the Gateway API's come from its own release, the one
# Istio 1.30 builds against. TCPRoute is in the experimental channel only (v1.5.1), so it is its
# own file; the safe-upgrades policy of the standard install lets a new experimental CRD be created.
GATEWAY_API_VERSION = "v1.5.1"
DEFAULT_GATEWAY_API_CRDS = (
    f"https://github.com/kubernetes-sigs/gateway-api/releases/download/{GATEWAY_API_VERSION}/standard-install.yaml"
)
DEFAULT_TCP_ROUTE_CRD = (
    f"https://raw.githubusercontent.com/kubernetes-sigs/gateway-api/{GATEWAY_API_VERSION}"
    "/config/crd/experimental/gateway.networking.k8s.io_tcproutes.yaml"
)
PREINSTALLED = "preinstalled"

_IMAGE_HUB = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9]([-a-z0-9._]*[a-z0-9])?)*")

Release = tuple[int, int, int]


@dataclass(frozen=True)
class Support:
    """What one install method accepts."""

    versions: Callable[[Release], bool]
    described: str  # the releases, as messages name them
    default_version: str  # the newest release validated
    profiles: tuple[str, ...]
    keys: tuple[str, ...]  # stack keys only this method reads
    charts: tuple[str, ...]  # Istio's charts it installs from (chartRepository or chartDirectory)
    kubernetes: str  # the oldest Kubernetes the releases support: charts are rendered offline against it
    hints: dict[str, str]  # profile -> why this method does not take it, and what to use
    refuses_meshes: Optional[str] = None  # why this method installs no `meshes:` (None: it does)
    gateway_api: Optional[str] = None  # why gateway-api tenants cannot be installed; None: they can


SUPPORT: dict[InstallMethod, Support] = {
    # The in-cluster operator ships up to 1.23; networking.istio.io/v1 (which we emit) is served from 1.22.
    InstallMethod.OPERATOR: Support(
        versions=lambda release: release[:2] in ((1, 22), (1, 23)),
        described="1.22 to 1.23",
        default_version="1.23.6",
        profiles=tuple(p.value for p in Profile),
        keys=(),
        charts=(),
        kubernetes="1.27.0",
        hints={},
        refuses_meshes=(
            "installMethod: operator installs the one platform control plane (the in-cluster operator runs one "
            "Istio version, 1.22 or 1.23, for the whole cluster); several meshes and revisions need installMethod: helm or sail"
        ),
        # Istio 1.23 builds against Gateway API v1.1, where TLSRoute is v1alpha2: v1.5.1's CRDs do
        # not serve it, and v1.1's would be refused by v1.5.1's safe-upgrades policy.
        gateway_api=(
            "gateway.api gateway-api needs installMethod: helm (Istio 1.30, Gateway API v1.5.1); the operator "
            "install (Istio 1.22 to 1.23) serves tenants with gateway.api istio only"
        ),
    ),
    # Validated against the 1.30.3 charts (values.yaml keys, the gateway's values.schema.json, and
    # `helm template` of every chart). Patch releases of 1.30 keep those values; later minors do not
    # promise to, so they are refused until they are validated too.
    InstallMethod.HELM: Support(
        versions=lambda release: release[:2] == (1, 30),
        described="1.30 (validated with the 1.30.3 charts)",
        default_version="1.30.3",
        profiles=("default", "demo", "preview", "stable"),
        keys=("chartRepository", "chartDirectory", "imageHub", "gatewayApiCrds", "gatewayApiTcpRouteCrd"),
        charts=HELM_CHARTS,
        kubernetes="1.32.0",
        hints={
            "minimal": "the istiod chart installs no gateway, so `default` is what `minimal` was",
            "ambient": "ambient needs ztunnel, which this program does not install: its tenants run sidecars",
        },
    ),
    # The Sail operator 1.30.3 and the Istio releases it installs; the gateways from Istio's chart.
    InstallMethod.SAIL: Support(
        versions=lambda release: ".".join(map(str, release)) in SAIL_ISTIO_VERSIONS,
        described=f"{SAIL_ISTIO_VERSIONS[0]} to {SAIL_ISTIO_VERSIONS[-1]} (the releases the Sail operator {SAIL_OPERATOR_VERSION} installs)",
        default_version=SAIL_ISTIO_VERSIONS[-1],
        profiles=("default", "demo", "preview", "stable", "openshift"),
        keys=("chartRepository", "chartDirectory", "sailChartRepository", "sailChartDirectory", "gatewayApiCrds", "gatewayApiTcpRouteCrd"),
        charts=SAIL_ISTIO_CHARTS,
        kubernetes="1.30.0",
        hints={
            "minimal": "Sail deploys no gateway, so `default` is what `minimal` was",
            "ambient": "ambient needs ztunnel, which this program does not install: its tenants run sidecars",
        },
    ),
}


@dataclass(frozen=True)
class ChartSource:
    """Where the Helm charts come from: a repository (https:// or oci://) or a local directory."""

    version: str
    repository: Optional[str] = None
    directory: Optional[str] = None  # as the stack file gives it; Pulumi runs from the project root


@dataclass(frozen=True)
class GatewayApi:
    """What the file's Gateway API tenants need of the installation."""

    manifests: tuple[str, ...] = ()  # CRD manifests to apply (URLs, files, globs); none when unused or preinstalled
    alpha: bool = False  # istiod must serve Gateway API's alpha features (TCP and TLS listeners, TCPRoute)


@dataclass(frozen=True)
class Installation:
    """The stack's install method, resolved: everything the components need to install Istio."""

    method: InstallMethod
    istio_version: str
    image_hub: str
    charts: Optional[ChartSource] = None  # Istio's charts: the Helm install and (its gateways) Sail
    sail_chart: Optional[ChartSource] = None  # the Sail operator's chart: the Sail install only
    gateway_api: GatewayApi = GatewayApi()
    observability: Optional[Observability] = None  # the file's: traces and logins the control planes wire in


def _release(version: str) -> Release:
    major, minor, patch = (int(part) for part in version.split("."))
    return major, minor, patch


def version_problem(method: InstallMethod, version: str, key: str = "istioVersion") -> Optional[str]:
    """Why `method` cannot install Istio `version`, naming what to use instead (as `key`); None when it can."""
    release = _release(version)
    if SUPPORT[method].versions(release):
        return _unknown_release(release, key)
    if method == InstallMethod.OPERATOR:
        if release >= (1, 24, 0):
            return (
                f"Istio {version} has no in-cluster operator (removed upstream in 1.24); the operator install "
                f"supports 1.22 to 1.23 (1.23.6 is the newest); use installMethod: helm for current Istio"
            )
        return f"Istio {version} does not serve networking.istio.io/v1; the operator install supports 1.22 to 1.23"
    if method == InstallMethod.SAIL:
        sail = SUPPORT[InstallMethod.SAIL]
        message = f"Istio {version} is not a release the Sail operator {SAIL_OPERATOR_VERSION} installs ({sail.described.split(' (')[0]}): use {key} {sail.default_version}"
        if SUPPORT[InstallMethod.HELM].versions(release):
            message += ", or installMethod: helm"
        return message
    helm = SUPPORT[InstallMethod.HELM]
    message = (
        f"Istio {version} is not validated for installMethod: helm, which supports Istio {helm.described}: "
        f"use {key} {helm.default_version}"
    )
    if SUPPORT[InstallMethod.OPERATOR].versions(release):
        message += ", or installMethod: operator for Istio 1.22 to 1.23"
    return message


def _unknown_release(release: Release, key: str) -> Optional[str]:
    """Why a version of a supported minor is no Istio release (a patch past the newest published); None when it is one."""
    newest = ISTIO_RELEASES.get(release[:2])
    if newest is None or release[2] <= newest:
        return None
    minor = ".".join(map(str, release[:2]))
    return (
        f"Istio {'.'.join(map(str, release))} is not a known release: the newest {minor} release is {minor}.{newest} "
        f"(the releases this project knows, ISTIO_RELEASES in tenants/install.py): use {key} {minor}.{newest}"
    )


def _repository_problem(url: str) -> Optional[str]:
    if RETIRED_CHART_REPOSITORY in url:
        return (
            f"{url!r} is Istio's former Google Cloud chart location, removed in December 2026; "
            f"use {DEFAULT_CHART_REPOSITORY} or {OCI_CHART_REPOSITORY}"
        )
    if not re.fullmatch(r"(https|oci)://[^\s/]+(/[^\s]*)?", url):
        return f"{url!r} is not a chart repository: give an https:// or oci:// URL (for example {DEFAULT_CHART_REPOSITORY})"
    return None


def _chart_name(chart_yaml: Path) -> Optional[str]:
    try:
        data = yaml.safe_load(chart_yaml.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    return data.get("name") if isinstance(data, dict) else None


def _directory_problem(directory: str, root: Path, charts: tuple[str, ...] = HELM_CHARTS) -> Optional[str]:
    full = _full(directory, root)
    if not full.is_dir():
        return f"{directory!r} is not a directory (looked for {full})"
    missing = [chart for chart in charts if _chart_name(full / chart / "Chart.yaml") != chart]
    if missing:
        return (
            f"{directory!r} lacks Istio's chart(s) {', '.join(missing)}: it must hold "
            f"{', '.join(f'{c}/' for c in charts)} each with its Chart.yaml"
        )
    return None


def _full(directory: str, root: Path) -> Path:
    path = Path(directory)
    return path if path.is_absolute() else root / path


def _sail_directory_problem(directory: str, root: Path) -> Optional[str]:
    full = _full(directory, root)
    if _chart_name(full / "Chart.yaml") != SAIL_CHART:
        return f"{directory!r} is not the Sail operator's chart (looked for {full / 'Chart.yaml'} naming {SAIL_CHART})"
    return None


def _hub_problem(hub: str) -> Optional[str]:
    if not _IMAGE_HUB.fullmatch(hub):
        return f"{hub!r} is not an image registry path (for example {DEFAULT_IMAGE_HUB} or registry.example.com:5000/istio; no scheme, no tag)"
    return None


def _manifest_problem(value: str, root: Path) -> Optional[str]:
    if value == PREINSTALLED or re.fullmatch(r"https://\S+", value):
        return None
    if "://" in value:
        return f"{value!r} is not an https:// URL, a file or a directory of YAML files (or {PREINSTALLED!r})"
    path = Path(value)
    full = path if path.is_absolute() else root / path
    if full.is_dir():
        return None if any(full.glob("*.yaml")) else f"{value!r} holds no .yaml file (looked in {full})"
    return None if full.is_file() else f"{value!r} is no https:// URL, file or directory (looked for {full})"


def _manifests(value: str, root: Path) -> tuple[str, ...]:
    """What `kubernetes.yaml.v2.ConfigGroup` reads: a URL or file as given, a directory's YAML files by glob."""
    if value == PREINSTALLED:
        return ()
    path = Path(value)
    full = path if path.is_absolute() else root / path
    return (f"{value.rstrip('/')}/*.yaml",) if "://" not in value and full.is_dir() else (value,)


def gateway_api_needs(settings: StackSettings, config: TenantsFile, root: Path) -> GatewayApi:
    """The CRDs and istiod setting the file's Gateway API tenants need (nothing without such tenants)."""
    if not any(t.uses_gateway_api for t in config.tenants):
        return GatewayApi()
    servers = [s for t in config.tenants if t.uses_gateway_api for s in t.gateway.servers]
    manifests = _manifests(settings.gateway_api_crds or DEFAULT_GATEWAY_API_CRDS, root)
    if any(s.route_kind == RouteKind.TCP for s in servers):
        manifests += _manifests(settings.gateway_api_tcp_route_crd or DEFAULT_TCP_ROUTE_CRD, root)
    # Istio serves TCP listeners and TCPRoute only with its alpha Gateway API support (its
    # listenerProtocolToIstio); TLS listeners are gated too in releases from before TLSRoute was v1.
    alpha = any(s.protocol in (Protocol.TCP, Protocol.TLS) or s.passes_tls_through for s in servers)
    return GatewayApi(manifests=manifests, alpha=alpha)


def installation_problems(settings: StackSettings, root: Path) -> list[tuple[str, str]]:
    """(key, message) for every setting the chosen method cannot use."""
    method = settings.install_method
    support = SUPPORT[method]
    problems: list[tuple[str, str]] = []
    if settings.istio_version is not None:
        problem = version_problem(method, settings.istio_version)
        if problem:
            problems.append(("istioVersion", problem))
    given = {
        "chartRepository": settings.chart_repository,
        "chartDirectory": settings.chart_directory,
        "imageHub": settings.image_hub,
        "sailChartRepository": settings.sail_chart_repository,
        "sailChartDirectory": settings.sail_chart_directory,
        "gatewayApiCrds": settings.gateway_api_crds,
        "gatewayApiTcpRouteCrd": settings.gateway_api_tcp_route_crd,
    }
    for key, value in given.items():
        if value is not None and key not in support.keys:
            readers = " or ".join(m.value for m, reader in SUPPORT.items() if key in reader.keys)
            problems.append((key, f"{key} is a setting of installMethod: {readers}; installMethod: {method.value} does not read it"))
    for repository, directory in (("chartRepository", "chartDirectory"), ("sailChartRepository", "sailChartDirectory")):
        if given[repository] is not None and given[directory] is not None and directory in support.keys:
            problems.append((directory, f"set {repository} or {directory}, not both"))
    for key, value, check in (
        ("chartRepository", settings.chart_repository, _repository_problem),
        ("chartDirectory", settings.chart_directory, lambda d: _directory_problem(d, root, support.charts)),
        ("imageHub", settings.image_hub, _hub_problem),
        ("sailChartRepository", settings.sail_chart_repository, _repository_problem),
        ("sailChartDirectory", settings.sail_chart_directory, lambda d: _sail_directory_problem(d, root)),
        ("gatewayApiCrds", settings.gateway_api_crds, lambda m: _manifest_problem(m, root)),
        ("gatewayApiTcpRouteCrd", settings.gateway_api_tcp_route_crd, lambda m: _manifest_problem(m, root)),
    ):
        problem = check(value) if value is not None and key in support.keys else None
        if problem:
            problems.append((key, problem))
    return problems


def installation(settings: StackSettings, config: TenantsFile, root: Path) -> Installation:
    """The resolved installation of settings `installation_problems` found nothing wrong with,
    for the tenants file `config`."""
    method = settings.install_method
    support = SUPPORT[method]
    version = settings.istio_version or support.default_version
    charts = sail_chart = None
    if support.charts:
        directory = settings.chart_directory
        repository = None if directory else settings.chart_repository or DEFAULT_CHART_REPOSITORY
        charts = ChartSource(version=version, repository=repository, directory=directory)
    if method == InstallMethod.SAIL:
        directory = settings.sail_chart_directory
        repository = None if directory else settings.sail_chart_repository or DEFAULT_SAIL_CHART_REPOSITORY
        sail_chart = ChartSource(version=SAIL_OPERATOR_VERSION, repository=repository, directory=directory)
    return Installation(
        method=method,
        istio_version=version,
        image_hub=settings.image_hub or DEFAULT_IMAGE_HUB,
        charts=charts,
        sail_chart=sail_chart,
        gateway_api=gateway_api_needs(settings, config, root),
        observability=config.observability,
    )


def charts_version(settings: StackSettings) -> Optional[str]:
    """With `chartDirectory` on the Helm path, the one Istio version every control plane installs:
    a directory holds one version of each chart (whose Chart.yaml may not say which: Istio's
    source tree has 1.0.0), and istiod's templates change between releases. None when charts come
    from a repository, and on `sail`, whose operator brings istiod's charts for every version."""
    if settings.chart_directory is None or settings.install_method != InstallMethod.HELM:
        return None
    return settings.istio_version or SUPPORT[settings.install_method].default_version


def tenants_file_rules(method: InstallMethod, directory_version: Optional[str] = None) -> Callable[[TenantsFile], list[tuple[tuple, str]]]:
    """The rules a tenants file must also meet for this install method (and, with `chartDirectory`,
    for the one Istio version its charts are: `charts_version`), as loader findings."""
    support = SUPPORT[method]

    def directory_problem(version: str) -> Optional[str]:
        if directory_version is None or version == directory_version:
            return None
        return (
            f"chartDirectory holds one version of Istio's charts, the stack's istioVersion {directory_version}; "
            f"a revision of {version} would run {directory_version}'s templates: set chartRepository instead, "
            f"or give this revision version {directory_version}"
        )

    def profile_problem(path: tuple, profile: str) -> list[tuple[tuple, str]]:
        if profile in support.profiles:
            return []
        hint = support.hints.get(profile)
        message = (
            f"profile {profile!r} is not one installMethod: {method.value} takes; "
            f"use {', '.join(support.profiles[:-1])} or {support.profiles[-1]}"
        )
        return [(path, message + (f" ({hint})" if hint else ""))]

    def gateway_api_problems(config: TenantsFile) -> list[tuple[tuple, str]]:
        if support.gateway_api is None:
            return []
        return [(("tenants", i, "gateway", "api"), support.gateway_api) for i, t in enumerate(config.tenants) if t.uses_gateway_api]

    def check(config: TenantsFile) -> list[tuple[tuple, str]]:
        if config.meshes is None:
            return profile_problem(("controlPlane", "profile"), config.control_plane.profile) + gateway_api_problems(config)
        if support.refuses_meshes:
            return [(("meshes",), support.refuses_meshes)] + gateway_api_problems(config)
        findings = [f for i, mesh in enumerate(config.meshes) for f in profile_problem(("meshes", i, "profile"), mesh.profile)]
        findings += gateway_api_problems(config)
        findings += mesh_rules.version_findings(config, lambda version: version_problem(method, version, "version"))
        return findings + mesh_rules.version_findings(config, directory_problem)

    return check
