"""Stack settings (Pulumi.<stack>.yaml) and the tenants file they point to, validated together."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from pydantic import ValidationError

from .errors import ConfigError, Problem
from .install import Installation, charts_version, installation, installation_problems, tenants_file_rules
from .handoff import handed_tenants, text_digest
from .loader import error_message, parse_document, parse_tenants, read_text
from .model import StackSettings, TenantsFile
from .observability import observability_rules

NAMESPACE = "istio-multitenancy"


@dataclass(frozen=True)
class Settings:
    stack: StackSettings
    install: Installation
    tenants: TenantsFile
    tenants_path: Path
    # The text `tenants` was validated from (tenants/handoff.text_digest): `python -m deploy` hands
    # the model on under a key made of it.
    tenants_digest: str = ""


def project_values(config: Mapping[str, Any]) -> dict[str, Any]:
    """This project's keys, without the `istio-multitenancy:` prefix.

    A key without a namespace in Pulumi.<stack>.yaml is the project's, as Pulumi reads it."""
    values = {}
    for key, value in config.items():
        namespace, colon, name = key.partition(":")
        if not colon:
            values[key] = value
        elif namespace == NAMESPACE:
            values[name] = value
    return values


def _line_finder(stack_file: Path, shown: str) -> Callable[[str], Optional[int]]:
    """The line of a project key in the stack file, when it is there to read (only for messages)."""
    try:
        doc = parse_document(read_text(stack_file, shown, "stack file"), shown)
    except ConfigError:
        return lambda key: None
    config = doc.data.get("config")

    def line_of(key: str) -> Optional[int]:
        written = next((k for k in (f"{NAMESPACE}:{key}", key) if isinstance(config, dict) and k in config), None)
        return doc.line(("config", written)) if written else None

    return line_of


def load_settings(
    stack: str,
    config: Mapping[str, Optional[str]],
    root: Path,
    shown: Optional[str] = None,
    tenants_override: Optional[str] = None,
    tenants_text: Optional[str] = None,
) -> Settings:
    """`config` holds the raw stack values by key (without the project prefix); `shown` names the stack file.

    `tenants_text`: the tenants file's content, read instead of the file (named `tenantsFile` in errors)."""
    shown = shown or f"Pulumi.{stack}.yaml"
    raw = {key: value for key, value in config.items() if value is not None}
    if tenants_override:
        raw["tenantsFile"] = tenants_override
    raw.setdefault("tenantsFile", f"tenants/{stack}.yaml")

    def fail(problems: list[tuple[str, str]]) -> ConfigError:
        line_of = _line_finder(root / shown, shown)
        return ConfigError([Problem(shown, line_of(key), f"{NAMESPACE}:{key}", message) for key, message in problems])

    try:
        settings = StackSettings.model_validate(raw)
    except ValidationError as err:
        errors = err.errors(include_url=False)
        raise fail([(".".join(map(str, e["loc"])), error_message(e, StackSettings)) for e in errors]) from None
    problems = installation_problems(settings, root)
    if problems:
        raise fail(problems)
    path = Path(settings.tenants_file)
    full = path if path.is_absolute() else root / path
    method_rules = tenants_file_rules(settings.install_method, charts_version(settings))
    addon_rules = observability_rules(settings.install_method, root)

    def rules(config):
        return method_rules(config) + addon_rules(config)

    text = read_text(full, settings.tenants_file, "tenants file") if tenants_text is None else tenants_text
    digest = text_digest(text)
    # Under `python -m deploy`, the file it validated already (tenants/handoff.py).
    tenants = handed_tenants(settings, root, digest)
    if tenants is None:
        tenants = parse_tenants(text, settings.tenants_file, extra=rules)
    install = installation(settings, tenants, root)
    return Settings(stack=settings, install=install, tenants=tenants, tenants_path=full, tenants_digest=digest)
