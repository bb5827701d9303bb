"""The stack under analysis, as the Pulumi engine describes it to the pack.

Under the Pulumi CLI the pack runs in its own process and the engine sends the stack's name and
config only over the analyzer's `ConfigureStack` call. pulumi-policy 1.21 keeps the tags of that
call and drops the rest, so `pulumi.Config()` in the pack is empty and the stack is unknown; this
module records what the engine sent. Programs driven without that call (older engines, the tests'
own analyzer client) still get the stack from PULUMI_STACK and PULUMI_CONFIG.
"""

from __future__ import annotations

import os
from typing import Optional

from pulumi_policy import policy as _sdk

_described: dict = {}


def record_configure_stack() -> None:
    """Wrap the SDK's ConfigureStack handler so the pack keeps the stack's name and config."""
    servicer = getattr(_sdk, "_PolicyAnalyzerServicer", None)
    original = getattr(servicer, "ConfigureStack", None)
    if original is None or getattr(original, "_records_stack", False):
        return

    def configure_stack(self, request, context):
        _described.update(stack=request.stack, config=dict(request.config))
        return original(self, request, context)

    configure_stack._records_stack = True
    servicer.ConfigureStack = configure_stack


def stack_name() -> Optional[str]:
    return _described.get("stack") or os.environ.get("PULUMI_STACK")


def stack_setting(namespace: str, key: str, from_environment: Optional[str]) -> Optional[str]:
    """`namespace:key` from the engine's description of the stack, else from the environment."""
    return (_described.get("config") or {}).get(f"{namespace}:{key}") or from_environment
