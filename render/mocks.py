"""The mock engine every offline run shares: the SDK's MockMonitor, with mocks that echo inputs.

Imports only the Pulumi SDK, so that the benchmark's floor, built on it too, pays for nothing the
program would not.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Callable, Iterator

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


@contextmanager
def mock_engine(
    config: dict[str, str], stack: str, monitor_class: type[mocks.MockMonitor] = mocks.MockMonitor
) -> Iterator[mocks.MockMonitor]:
    """A fresh mock engine for one program (run it with `run_program_function` inside the block); yields its monitor."""
    with _event_loops():
        yield _start_mock_engine(config, stack, monitor_class)


def _start_mock_engine(config: dict[str, str], stack: str, monitor_class: type[mocks.MockMonitor]) -> mocks.MockMonitor:
    echo = EchoMocks()
    monitor = monitor_class(echo)
    runtime_settings.set_root_resource(None)  # a fresh Stack, should this process have run a program before
    pulumi.runtime.set_all_config(config)
    pulumi.runtime.set_mocks(echo, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    return monitor


@contextmanager
def _event_loops() -> Iterator[None]:
    """The run's event loops, made here and closed when it ends.

    Left to the SDK, they are made on demand and never closed: one in this thread, and one in each
    thread of its default executor, where the mock monitor answers registrations. When those
    threads end, their loops become garbage cycles, and a collection that finalizes a loop's
    self-pipe socket before the loop prints `Exception ignored in: BaseEventLoop.__del__ ...
    Invalid file descriptor: -1` after a run that succeeded."""
    workers: list[asyncio.AbstractEventLoop] = []
    lock = threading.Lock()

    def give_worker_a_loop() -> None:
        worker = asyncio.new_event_loop()
        asyncio.set_event_loop(worker)  # the monitor's `_ensure_event_loop` finds it
        with lock:
            workers.append(worker)

    executor = ThreadPoolExecutor(thread_name_prefix="mock-monitor", initializer=give_worker_a_loop)
    loop = asyncio.new_event_loop()
    loop.set_default_executor(executor)
    asyncio.set_event_loop(loop)  # before the engine starts: the root Stack's futures belong to it
    try:
        yield
    finally:
        executor.shutdown(wait=True)
        for worker in workers:
            worker.close()
        asyncio.set_event_loop(None)
        loop.close()


def run_program_function(program: Callable[[], None]) -> None:
    """Run `program` as the Pulumi program; returns once every registration has been answered."""
    _sync_await(run_pulumi_func(program))
