"""Run `__main__.py` under the Pulumi SDK's mock engine and record everything it registers.

Same program, same code path as `pulumi up`; only the resource monitor is the SDK's
MockMonitor, extended to keep what the real engine would be told (parent, provider,
dependencies, options), which the stock mock throws away.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

import pulumi
from google.protobuf.json_format import MessageToDict
from pulumi.runtime import mocks
from pulumi.runtime import settings as runtime_settings

from tenants.errors import ConfigError, Problem
from tenants.loader import read_text
from tenants.shards import DEPLOY_ENV, stack_part
from tenants.stack import NAMESPACE, load_settings, project_values

from .mocks import mock_engine, run_program_function

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The mock monitor puts the stack's type into every child URN; the real engine does not.
_MOCK_STACK_PREFIX = "pulumi:pulumi:Stack$"


def real_urn(urn: str) -> str:
    return urn.replace(_MOCK_STACK_PREFIX, "")


@dataclass
class Registration:
    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    provider: str
    dependencies: list[str]
    protect: bool
    retain_on_delete: bool
    delete_before_replace: bool
    aliases: list[dict]
    inputs: dict = field(default_factory=dict)

    @property
    def is_kubernetes_object(self) -> bool:
        return self.custom and self.type.startswith("kubernetes:")


class ProgramFailed(pulumi.RunError):
    """The program raised pulumi.RunError; `registrations` holds what it had registered by then."""

    def __init__(self, message: str, registrations: list[Registration]):
        super().__init__(message)
        self.registrations = registrations


@dataclass
class ProgramRun:
    stack: str
    registrations: list[Registration]
    outputs: dict[str, Any]
    # A sharded installation's cluster stack rendered whole: its shard count (run_stack_config).
    whole_of: Optional[int] = None

    def by_urn(self) -> dict[str, Registration]:
        return {r.urn: r for r in self.registrations}


class RecordingMonitor(mocks.MockMonitor):
    def __init__(self, mock: mocks.Mocks):
        super().__init__(mock)
        self.registrations: list[Registration] = []
        self._lock = threading.Lock()

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        state = self.resources[response.urn].state if response.urn in self.resources else {}
        # A dynamic resource's pickled provider (components/tenant_removal.py): its code, not a setting to review.
        state = {key: value for key, value in state.items() if key != "__provider"}
        provider = request.provider.rsplit("::", 1)[0] if request.provider else ""
        registration = Registration(
            urn=real_urn(response.urn),
            type=request.type,
            name=request.name,
            custom=request.custom,
            parent=real_urn(request.parent),
            provider=real_urn(provider),
            dependencies=sorted({real_urn(d) for d in request.dependencies}),
            protect=bool(request.protect),
            retain_on_delete=bool(request.retainOnDelete),
            delete_before_replace=bool(request.deleteBeforeReplace),
            aliases=[MessageToDict(a) for a in request.aliases],
            inputs=state,
        )
        with self._lock:
            self.registrations.append(registration)
        return response


def read_stack_config(stack: str, root: Path = PROJECT_ROOT) -> dict[str, str]:
    """The `config:` of Pulumi.<stack>.yaml as Pulumi passes it to a program: key -> string."""
    path = root / f"Pulumi.{stack}.yaml"
    shown = path.name
    if not path.exists():
        raise ConfigError([Problem(shown, None, "", f"no such stack file (stack {stack!r}); create it with `pulumi stack init {stack}`")])
    try:
        document = yaml.safe_load(read_text(path, shown, "stack file")) or {}
    except yaml.YAMLError as err:
        raise ConfigError([Problem(shown, None, "", f"not valid YAML: {err}")]) from None
    config = document.get("config") if isinstance(document, dict) else None
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise ConfigError([Problem(shown, None, "config", "expected a mapping of configuration keys")])
    # Pulumi reads every key and scalar as text (`1`, a date); lists and mappings arrive as JSON.
    return {str(key): value if isinstance(value, str) else json.dumps(value, default=str) for key, value in config.items()}


def tenants_argument(path: str, root: Path = PROJECT_ROOT) -> str:
    """A --tenants path given on the command line, relative to the project root where possible."""
    full = Path(path).resolve()
    try:
        return str(full.relative_to(root))
    except ValueError:
        return str(full)


def run_program(stack: str, tenants_file: Optional[str] = None, root: Path = PROJECT_ROOT, *, own_stack_only: bool = False) -> ProgramRun:
    """Run the program for `stack`; raises pulumi.RunError (a ConfigError's text) for a user's mistake."""
    config = read_stack_config(stack, root)
    if tenants_file is not None:
        config[f"{NAMESPACE}:tenantsFile"] = tenants_file
    return run_stack_config(stack, config, root, own_stack_only=own_stack_only)


def run_stack_config(stack: str, config: dict[str, str], root: Path = PROJECT_ROOT, *, own_stack_only: bool = False) -> ProgramRun:
    """Run the program for `stack` with this config. A sharded installation's cluster stack holds
    the platform alone; unless `own_stack_only`, it is rendered whole instead, as one stack holds
    it (the same objects as the platform and its shards together: tests/test_shards.py), so that
    a render, and a render diff, shows every tenant's objects."""
    shards = None if own_stack_only else _sharded_cluster(stack, config, root)
    if shards is not None:
        config = {**config, f"{NAMESPACE}:tenantShards": "1"}
    run = run_program_file(root / "__main__.py", stack, config)
    run.whole_of = shards
    return run


def _sharded_cluster(stack: str, config: dict[str, str], root: Path) -> Optional[int]:
    """The shard count when `stack` is a sharded installation's cluster stack (the program reports
    a mistake in its settings itself)."""
    try:
        part = stack_part(load_settings(stack, project_values(config), root))
    except ConfigError:
        return None
    return part.shards if part.platform and part.shards > 1 else None


def run_program_file(program: Path, stack: str, config: dict[str, str], *, as_deploy: bool = True) -> ProgramRun:
    """Run a Pulumi program under the mock engine, from its own directory, as `pulumi up` runs it;
    `as_deploy`: as `python -m deploy` runs it (the only way a sharded installation's cluster stack runs)."""
    root = program.parent
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))

    def run() -> None:
        runpy.run_path(str(program), run_name="__main__")

    previous, driven = os.getcwd(), os.environ.get(DEPLOY_ENV)
    os.chdir(root)  # as `pulumi up` runs the program from the project directory
    if as_deploy:
        os.environ[DEPLOY_ENV] = "1"
    else:
        os.environ.pop(DEPLOY_ENV, None)
    try:
        with mock_engine(config, stack, RecordingMonitor) as monitor:
            try:
                run_program_function(run)
            except pulumi.RunError as err:
                raise ProgramFailed(str(err), list(monitor.registrations)) from err
    finally:
        os.chdir(previous)
        if driven is None:
            os.environ.pop(DEPLOY_ENV, None)
        else:
            os.environ[DEPLOY_ENV] = driven
    stack_resource = runtime_settings.get_root_resource()
    outputs = dict(getattr(stack_resource, "outputs", {}) or {})
    return ProgramRun(stack=stack, registrations=list(monitor.registrations), outputs=outputs)
