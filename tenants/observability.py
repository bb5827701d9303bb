"""The observability add-ons' charts: pinned versions, where they come from, and whether the stack's
Kubernetes fits them. Rules that need the stack (its install method, the project root) live here;
rules of the file alone are in `tenants.rules`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from .install import _chart_name, _full, _repository_problem
from .model import InstallMethod, TenantsFile


@dataclass(frozen=True)
class AddonChart:
    chart: str  # the chart's published name (its Chart.yaml `name`)
    version: str  # the pinned chart version
    repository: str  # the chart's upstream Helm repository
    kube_version: str  # its Chart.yaml `kubeVersion` (with those of the subcharts it turns on); "" for none


# Pinned: values are built and checked (schemas, `helm template`) against exactly these
# (../shared/reference/addons; tests/test_observability.py compares the constraints with the charts).
ADDON_CHARTS = {
    "prometheus": AddonChart("prometheus", "29.27.0", "https://prometheus-community.github.io/helm-charts", ">=1.19.0-0"),
    "grafana": AddonChart("grafana", "12.11.1", "https://grafana-community.github.io/helm-charts", "^1.25.0-0"),
    "kiali": AddonChart("kiali-server", "2.29.0", "https://kiali.org/helm-charts", ""),
    "jaeger": AddonChart("jaeger", "4.11.1", "https://jaegertracing.github.io/helm-charts", ">= 1.21-0"),
    "oauth2-proxy": AddonChart("oauth2-proxy", "10.7.0", "https://oauth2-proxy.github.io/manifests", ">=1.16.0-0"),
}
OAUTH2_PROXY = "oauth2-proxy"

# The Kubernetes releases each install method's Istio supports (istio.io's support table): the
# operator path is Istio 1.22-1.23 on Kubernetes 1.27 to 1.30, as the classic stack documents.
KUBERNETES_RANGES: dict[InstallMethod, tuple[tuple[int, int], tuple[int, int]]] = {
    InstallMethod.OPERATOR: ((1, 27), (1, 30)),
    InstallMethod.SAIL: ((1, 30), (1, 36)),
    InstallMethod.HELM: ((1, 32), (1, 36)),
}

_COMPARISON = re.compile(r"(>=|<=|!=|>|<|=|\^|~)?\s*v?([0-9]+)(?:\.([0-9x*]+))?(?:\.([0-9x*]+))?(?:-[0-9A-Za-z.-]+)?")


def _satisfies(release: tuple[int, int, int], constraint: str) -> bool:
    """Whether a Kubernetes release meets a Helm `kubeVersion` constraint (Masterminds semver: `||`
    between alternatives, `,` or spaces between terms; pre-release suffixes such as `-0` only widen
    the match to pre-releases, which a release is not)."""
    if not constraint.strip():
        return True
    return any(all(_term(release, t) for t in _terms(alternative)) for alternative in constraint.split("||"))


def _terms(alternative: str) -> list[re.Match]:
    terms, text = [], alternative.replace(",", " ").strip()
    while text:
        match = _COMPARISON.match(text)
        if not match:
            raise ValueError(f"unreadable kubeVersion constraint {alternative!r}")
        terms.append(match)
        text = text[match.end():].strip()
    return terms


def _term(release: tuple[int, int, int], match: re.Match) -> bool:
    operator = match.group(1) or "="
    parts = [p for p in match.group(2, 3, 4) if p is not None and p not in ("x", "*")]
    bound = tuple(int(p) for p in parts) + (0,) * (3 - len(parts))
    if operator == "^":
        return bound <= release < (bound[0] + 1, 0, 0)
    if operator == "~":
        return bound <= release < (bound[0], bound[1] + 1, 0)
    compared = release[: len(parts)] if operator == "=" else release
    wanted = bound[: len(parts)] if operator == "=" else bound
    return {"=": compared == wanted, "!=": release != bound, ">=": release >= bound, ">": release > bound,
            "<=": release <= bound, "<": release < bound}[operator]


def kubernetes_problems(method: InstallMethod) -> list[str]:
    """Why an add-on chart cannot be installed on every Kubernetes release `method` supports (none when all fit)."""
    (major, low), (_, high) = KUBERNETES_RANGES[method]
    problems = []
    for addon, chart in ADDON_CHARTS.items():
        misfits = [f"{major}.{minor}" for minor in range(low, high + 1) if not _satisfies((major, minor, 0), chart.kube_version)]
        if misfits:
            problems.append(
                f"the {chart.chart} chart {chart.version} needs Kubernetes {chart.kube_version}, and installMethod: "
                f"{method.value} runs on Kubernetes {major}.{low} to {major}.{high}: {', '.join(misfits)} do not fit"
            )
    return problems


def _directory_problem(directory: str, root: Path) -> Optional[str]:
    full = _full(directory, root)
    if not full.is_dir():
        return f"{directory!r} is not a directory (looked for {full})"
    missing = [chart.chart for chart in ADDON_CHARTS.values() if _chart_name(full / chart.chart / "Chart.yaml") != chart.chart]
    if missing:
        return f"{directory!r} lacks the add-on chart(s) {', '.join(missing)}: each must be a folder of its name with its Chart.yaml"
    return None


def observability_rules(method: InstallMethod, root: Path) -> Callable[[TenantsFile], list[tuple[tuple, str]]]:
    """The rules `observability` must also meet on this stack: its charts' source, and (with
    `install`) the Kubernetes releases of the install method."""

    def check(config: TenantsFile) -> list[tuple[tuple, str]]:
        obs = config.observability
        findings: list[tuple[tuple, str]] = []
        if obs.chart_repository is not None and obs.chart_directory is not None:
            findings.append((("observability", "chartDirectory"), "set chartRepository or chartDirectory, not both"))
        if obs.chart_repository is not None:
            problem = _repository_problem(obs.chart_repository)
            if problem:
                findings.append((("observability", "chartRepository"), problem))
        if obs.chart_directory is not None:
            problem = _directory_problem(obs.chart_directory, root)
            if problem:
                findings.append((("observability", "chartDirectory"), problem))
        if obs.install:
            findings += [(("observability", "install"), f"install: true is refused: {p}") for p in kubernetes_problems(method)]
        return findings

    return check
