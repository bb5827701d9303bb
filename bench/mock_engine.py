"""The mock engine both timed runs share: the SDK's MockMonitor with echo mocks, as `render` uses.

Imports only the Pulumi SDK, so the floor run pays for nothing the program would not.
"""

from __future__ import annotations

import resource
import sys
import time
from typing import Callable

import pulumi
from pulumi.runtime import mocks
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

PROJECT = "istio-multitenancy"
STACK = "bench"


class EchoMocks(mocks.Mocks):
    """A resource's state is its inputs (what render/engine.py's mocks do)."""

    def new_resource(self, args: mocks.MockResourceArgs):
        return f"{args.name}-id", args.inputs

    def call(self, args: mocks.MockCallArgs):
        return {}, None


def run_under_mocks(
    program: Callable[[], None], config: dict[str, str], monitor_class: type[mocks.MockMonitor] = mocks.MockMonitor
) -> mocks.MockMonitor:
    """Run `program` as the Pulumi program and return once every registration has been answered."""
    echo = EchoMocks()
    monitor = monitor_class(echo)
    runtime_settings.set_root_resource(None)  # a fresh Stack, should this process have run a program before
    pulumi.runtime.set_all_config(config)
    pulumi.runtime.set_mocks(echo, project=PROJECT, stack=STACK, preview=False, monitor=monitor)
    _sync_await(run_pulumi_func(program))
    return monitor


def report(started: float, monitor: mocks.MockMonitor) -> None:
    """The line the bench driver reads: seconds since `started`, peak RSS, resources registered."""
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # The stock MockMonitor answers the Stack without recording it.
    count = len(monitor.resources) + 1
    sys.stdout.write(f'{{"seconds": {seconds:.6f}, "peak_rss_kib": {peak_kib}, "resources": {count}}}\n')
