"""The mock engine every offline run shares: the SDK's MockMonitor, with mocks that echo inputs.

Imports only the Pulumi SDK, so that the benchmark's floor, built on it too, pays for nothing the
program would not.
"""

from __future__ import annotations

from typing import Callable

import pulumi
from pulumi.runtime import mocks
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

PROJECT = "istio-multitenancy"


class EchoMocks(mocks.Mocks):
    """A resource's state is its inputs: what the program asked for is what we render."""

    def new_resource(self, args: mocks.MockResourceArgs):
        return f"{args.name}-id", args.inputs

    def call(self, args: mocks.MockCallArgs):
        return {}, None


def start_mock_engine(
    config: dict[str, str], stack: str, monitor_class: type[mocks.MockMonitor] = mocks.MockMonitor
) -> mocks.MockMonitor:
    """Point the SDK at a fresh mock engine for the next program; returns its monitor."""
    echo = EchoMocks()
    monitor = monitor_class(echo)
    runtime_settings.set_root_resource(None)  # a fresh Stack, should this process have run a program before
    pulumi.runtime.set_all_config(config)
    pulumi.runtime.set_mocks(echo, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    return monitor


def run_program_function(program: Callable[[], None]) -> None:
    """Run `program` as the Pulumi program; returns once every registration has been answered."""
    _sync_await(run_pulumi_func(program))
