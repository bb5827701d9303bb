"""istio-multitenancy: Istio (from its Helm charts, Sail or the operator), a platform control plane, and one isolated mesh slice per tenant."""

import os
from pathlib import Path

import pulumi
from pulumi.runtime.config import CONFIG, get_config_env

from components import build_stack
from components.kubernetes import collect_young_garbage_only, record_call_sites_only
from tenants import ConfigError
from tenants.shards import require_deploy_when_sharded, shard_digest, stack_part
from tenants.stack import load_settings, project_values

# Every key of the project, not only the known ones, so that a misspelt key is an error. Pulumi
# hands a program its config in PULUMI_CONFIG; the mock engine sets it in CONFIG.
config = project_values({**get_config_env(), **CONFIG.get()})
try:
    settings = load_settings(pulumi.get_stack(), config, Path(__file__).parent)
    # One stack holds everything, or (tenants/shards.py) the platform or one shard of tenants.
    part = stack_part(settings)
    require_deploy_when_sharded(part, pulumi.get_stack(), os.environ)
except ConfigError as err:
    # A user's mistake: Pulumi prints the message, not a stack trace, and nothing is registered.
    raise pulumi.RunError(str(err)) from None

collect_young_garbage_only()
record_call_sites_only()
# The provider (for the stack's kubeContext), the control planes, admission, the Gateway API's CRDs
# when a tenant uses them, and one TenantMesh per tenant this stack holds: components/stack.py.
stack = build_stack(settings, part=part)
for key, value in stack.outputs.items():
    pulumi.export(key, value)
if part.shard is not None:
    # What `python -m deploy preview` compares to skip the shards whose tenants did not change.
    pulumi.export("shardDigest", shard_digest(settings, part.shard, Path(__file__).parent))
