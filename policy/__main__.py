"""The CrossGuard pack: `pulumi preview --policy-pack policy` (the rules and their checks live in `rules/table.py` and `rules/invariants.py`).

Pulumi runs this file with the pack's own virtualenv (policy/.venv, from policy/requirements.txt):
pulumi-policy pins protobuf 5, the program's .venv has protobuf 6.

Configuration (`--policy-pack-config FILE`, per policy): `tenantsFile`, the tenants file to check
against (default: the stack's istio-multitenancy:tenantsFile), and `tenant`, set for a program that
deploys for one tenant only.
"""

import functools
import sys
from collections.abc import Mapping
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi  # noqa: E402
from pulumi_policy import (  # noqa: E402
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyPack,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

from policy import engine_stack  # noqa: E402
from rules.invariants import Invariant, Platform, kubernetes_object, tenants_path  # noqa: E402
from rules.table import INVARIANTS, looks_at  # noqa: E402
from tenants import ConfigError, Problem  # noqa: E402
from tenants.stack import NAMESPACE  # noqa: E402

CONFIG = PolicyConfigSchema(
    properties={
        "tenantsFile": {"type": "string", "description": "Tenants file, relative to the repository (default: the stack's)."},
        "tenant": {"type": "string", "description": "The tenant a tenant-scoped program deploys for."},
    }
)


def plain(value):
    """Policy inputs arrive as read-only proxies; the invariants take plain dicts and lists."""
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


@functools.lru_cache(maxsize=8)
def _platform(path: Path, tenant: str) -> Platform:
    return Platform.load(path, tenant or None)


def platform(config: Mapping) -> Platform:
    stack = pulumi.Config(NAMESPACE)
    tenants_file = engine_stack.stack_setting(NAMESPACE, "tenantsFile", stack.get("tenantsFile"))
    path = tenants_path(config.get("tenantsFile"), tenants_file, engine_stack.stack_name())
    if path is None:
        raise ConfigError([Problem("policy config", None, "tenantsFile", "not set, and no stack names a tenants file")])
    tenant = config.get("tenant") or engine_stack.stack_setting(NAMESPACE, "tenant", stack.get("tenant"))
    return _platform(path, tenant or "")


def _checked(report_violation, config: Mapping, check) -> None:
    try:
        current = platform(config)
    except ConfigError as err:
        # Fail closed: a pack that cannot read the tenants file must not pass everything.
        report_violation(f"cannot check the platform's invariants without the tenants file: {err}")
        return
    for message in check(current):
        report_violation(message)


def resource_policy(invariant: Invariant) -> ResourceValidationPolicy:
    def validate(args, report_violation):
        # The kind from the type token first: reading the inputs of an object the invariant does
        # not look at could only stop on a value unknown during preview.
        if not looks_at(invariant, args.resource_type.rpartition(":")[2]):
            return
        obj = kubernetes_object(args.resource_type, plain(args.props))
        if obj is not None:
            _checked(report_violation, args.get_config(), lambda current: invariant.check(obj, current))

    return ResourceValidationPolicy(name=invariant.name, description=invariant.description, validate=validate, config_schema=CONFIG)


def stack_policy(invariant: Invariant) -> StackValidationPolicy:
    def validate(args, report_violation):
        relevant = (r for r in args.resources if looks_at(invariant, r.resource_type.rpartition(":")[2]))
        objects = [obj for obj in (kubernetes_object(r.resource_type, plain(r.props)) for r in relevant) if obj is not None]
        _checked(report_violation, args.get_config(), lambda current: invariant.check(objects, current))

    return StackValidationPolicy(name=invariant.name, description=invariant.description, validate=validate, config_schema=CONFIG)


engine_stack.record_configure_stack()
PolicyPack(
    name="istio-multitenancy",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[stack_policy(i) if i.stack else resource_policy(i) for i in INVARIANTS],
)
