"""Stack settings (Pulumi.<stack>.yaml) and the tenants file they point to, validated together."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

from pydantic import ValidationError

from .errors import ConfigError, Problem
from .loader import load_tenants
from .model import StackSettings, TenantsFile

NAMESPACE = "istio-multitenancy"
KEYS = ("tenantsFile", "istioVersion", "kubeContext")
# The in-cluster operator ships up to 1.23; networking.istio.io/v1 (which we emit) is served from 1.22.
OPERATOR_VERSIONS = ((1, 22), (1, 23))


@dataclass(frozen=True)
class Settings:
    stack: StackSettings
    tenants: TenantsFile
    tenants_path: Path


def _version_problem(version: str) -> Optional[str]:
    minor = tuple(int(part) for part in version.split(".")[:2])
    if minor >= (1, 24):
        return (
            f"Istio {version} has no in-cluster operator (removed upstream in 1.24); "
            f"the operator install supports 1.22 to 1.23 (1.23.6 is the newest)"
        )
    if minor < OPERATOR_VERSIONS[0]:
        return f"Istio {version} does not serve networking.istio.io/v1; the operator install supports 1.22 to 1.23"
    return None


def load_settings(
    stack: str,
    config: Mapping[str, Optional[str]],
    root: Path,
    shown: Optional[str] = None,
    tenants_override: Optional[str] = None,
) -> Settings:
    """`config` holds the raw stack values by key (without the project prefix); `shown` names the stack file."""
    shown = shown or f"Pulumi.{stack}.yaml"
    raw = {key: value for key, value in config.items() if value is not None}
    if tenants_override:
        raw["tenantsFile"] = tenants_override
    raw.setdefault("tenantsFile", f"tenants/{stack}.yaml")
    try:
        settings = StackSettings.model_validate({"stack": stack, **raw})
    except ValidationError as err:
        raise ConfigError(
            [Problem(shown, None, f"{NAMESPACE}:{e['loc'][0]}", e["msg"]) for e in err.errors(include_url=False)]
        ) from None
    problem = _version_problem(settings.istio_version)
    if problem:
        raise ConfigError([Problem(shown, None, f"{NAMESPACE}:istioVersion", problem)])
    path = Path(settings.tenants_file)
    full = path if path.is_absolute() else root / path
    tenants = load_tenants(full, shown=settings.tenants_file)
    return Settings(stack=settings, tenants=tenants, tenants_path=full)
