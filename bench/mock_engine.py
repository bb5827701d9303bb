"""The mock engine both timed runs share: render's (render/mocks.py), under the stack `bench`.

Imports only the Pulumi SDK, so the floor run pays for nothing the program would not.
"""

from __future__ import annotations

import resource
import sys
import time
from typing import Callable

from pulumi.runtime import mocks

from render.mocks import mock_engine, run_program_function

STACK = "bench"


def run_under_mocks(
    program: Callable[[], None], config: dict[str, str], monitor_class: type[mocks.MockMonitor] = mocks.MockMonitor
) -> mocks.MockMonitor:
    """Run `program` as the Pulumi program and return once every registration has been answered."""
    with mock_engine(config, STACK, monitor_class) as monitor:
        run_program_function(program)
    return monitor


def report(started: float, monitor: mocks.MockMonitor) -> None:
    """The line the bench driver reads: seconds since `started`, peak RSS, resources registered."""
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # The stock MockMonitor answers the Stack without recording it.
    count = len(monitor.resources) + 1
    sys.stdout.write(f'{{"seconds": {seconds:.6f}, "peak_rss_kib": {peak_kib}, "resources": {count}}}\n')
