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

from .model import InstallMethod, Profile, Protocol, RouteKind, StackSettings, TenantsFile

# Istio's chart locations since 2026 (istio.io, "Retirement of GCP artifacts"): HTTP and OCI.
DEFAULT_CHART_REPOSITORY = "https://blob.istio.io/istio-release/charts"
OCI_CHART_REPOSITORY = "oci://ghcr.io/istio/release/charts"
# Removed in December 2026: a stack still pointing there would fail once it is gone.
RETIRED_CHART_REPOSITORY = "istio-release.storage.googleapis.com"
DEFAULT_IMAGE_HUB = "docker.io/istio"
# The charts the Helm install uses, by their published names.
HELM_CHARTS = ("base", "istiod", "gateway", "cni")
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
    kubernetes: str  # the oldest Kubernetes the releases support: charts are rendered offline against it
    hints: dict[str, str]  # profile -> why this method does not take it, and what to use
    gateway_api: Optional[str] = None  # why gateway-api tenants cannot be installed; None: they can


SUPPORT: dict[InstallMethod, Support] = {
    # The in-cluster operator ships up to 1.23; networking.istio.io/v1 (which we emit) is served from 1.22.
    InstallMethod.OPERATOR: Support(
        versions=lambda release: release[:2] in ((1, 22), (1, 23)),
        described="1.22 to 1.23",
        default_version="1.23.6",
        profiles=tuple(p.value for p in Profile),
        keys=(),
        kubernetes="1.27.0",
        hints={},
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
        kubernetes="1.32.0",
        hints={
            "minimal": "the istiod chart installs no gateway, so `default` is what `minimal` was",
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
    charts: Optional[ChartSource] = None  # the Helm install only
    gateway_api: GatewayApi = GatewayApi()


def _release(version: str) -> Release:
    major, minor, patch = (int(part) for part in version.split("."))
    return major, minor, patch


def version_problem(method: InstallMethod, version: str) -> Optional[str]:
    """Why `method` cannot install Istio `version`, naming what to use instead; None when it can."""
    release = _release(version)
    if SUPPORT[method].versions(release):
        return None
    if method == InstallMethod.OPERATOR:
        if release >= (1, 24, 0):
            return (
                f"Istio {version} has no in-cluster operator (removed upstream in 1.24); the operator install "
                f"supports 1.22 to 1.23 (1.23.6 is the newest); use installMethod: helm for current Istio"
            )
        return f"Istio {version} does not serve networking.istio.io/v1; the operator install supports 1.22 to 1.23"
    helm = SUPPORT[InstallMethod.HELM]
    message = (
        f"Istio {version} is not validated for installMethod: helm, which supports Istio {helm.described}: "
        f"use istioVersion {helm.default_version}"
    )
    if SUPPORT[InstallMethod.OPERATOR].versions(release):
        message += ", or installMethod: operator for Istio 1.22 to 1.23"
    return message


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


def _directory_problem(directory: str, root: Path) -> Optional[str]:
    path = Path(directory)
    full = path if path.is_absolute() else root / path
    if not full.is_dir():
        return f"{directory!r} is not a directory (looked for {full})"
    missing = [chart for chart in HELM_CHARTS if _chart_name(full / chart / "Chart.yaml") != chart]
    if missing:
        return (
            f"{directory!r} lacks Istio's chart(s) {', '.join(missing)}: it must hold "
            f"{', '.join(f'{c}/' for c in HELM_CHARTS)} each with its Chart.yaml"
        )
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
        "gatewayApiCrds": settings.gateway_api_crds,
        "gatewayApiTcpRouteCrd": settings.gateway_api_tcp_route_crd,
    }
    for key, value in given.items():
        if value is not None and key not in support.keys:
            problems.append((key, f"{key} is a setting of installMethod: helm; installMethod: {method.value} does not read it"))
    if method != InstallMethod.HELM:
        return problems
    if settings.chart_repository is not None and settings.chart_directory is not None:
        problems.append(("chartDirectory", "set chartRepository or chartDirectory, not both"))
    for key, value, check in (
        ("chartRepository", settings.chart_repository, _repository_problem),
        ("chartDirectory", settings.chart_directory, lambda d: _directory_problem(d, root)),
        ("imageHub", settings.image_hub, _hub_problem),
        ("gatewayApiCrds", settings.gateway_api_crds, lambda m: _manifest_problem(m, root)),
        ("gatewayApiTcpRouteCrd", settings.gateway_api_tcp_route_crd, lambda m: _manifest_problem(m, root)),
    ):
        problem = check(value) if value is not None else None
        if problem:
            problems.append((key, problem))
    return problems


def installation(settings: StackSettings, config: TenantsFile, root: Path) -> Installation:
    """The resolved installation of settings `installation_problems` found nothing wrong with,
    for the tenants file `config`."""
    method = settings.install_method
    support = SUPPORT[method]
    version = settings.istio_version or support.default_version
    charts = None
    if method == InstallMethod.HELM:
        directory = settings.chart_directory
        repository = None if directory else settings.chart_repository or DEFAULT_CHART_REPOSITORY
        charts = ChartSource(version=version, repository=repository, directory=directory)
    return Installation(
        method=method,
        istio_version=version,
        image_hub=settings.image_hub or DEFAULT_IMAGE_HUB,
        charts=charts,
        gateway_api=gateway_api_needs(settings, config, root),
    )


def tenants_file_rules(method: InstallMethod) -> Callable[[TenantsFile], list[tuple[tuple, str]]]:
    """The rules a tenants file must also meet for this install method, as loader findings."""
    support = SUPPORT[method]

    def check(config: TenantsFile) -> list[tuple[tuple, str]]:
        findings: list[tuple[tuple, str]] = []
        profile = config.control_plane.profile
        if profile not in support.profiles:
            hint = support.hints.get(profile)
            message = (
                f"profile {profile!r} is not one installMethod: {method.value} takes; "
                f"use {', '.join(support.profiles[:-1])} or {support.profiles[-1]}"
            )
            findings.append((("controlPlane", "profile"), message + (f" ({hint})" if hint else "")))
        if support.gateway_api is not None:
            findings += [
                (("tenants", i, "gateway", "api"), support.gateway_api)
                for i, tenant in enumerate(config.tenants) if tenant.uses_gateway_api
            ]
        return findings

    return check
