"""Run a command to completion or to its deadline, killing its whole process group either way."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence


@dataclass
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def describe(self, tail: int = 40) -> str:
        lines = self.output.strip().splitlines()
        return f"$ {' '.join(self.args)}\n(exit {self.returncode}, {self.seconds:.1f} s)\n" + "\n".join(lines[-tail:])


class CommandFailed(AssertionError):
    def __init__(self, result: Result):
        # Pulumi prints its errors above the outputs and summary, out of the tail's reach.
        errors = [line for line in result.output.splitlines() if "error:" in line][:20]
        super().__init__(result.describe() + ("\nerrors:\n" + "\n".join(errors) if errors else ""))
        self.result = result


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_group(proc: subprocess.Popen) -> None:
    """The command and everything it started. Pulumi puts its plugins (language host, providers)
    in process groups of their own, so the tree is collected first, then killed."""
    tree = _descendants(proc.pid)
    for target in (proc.pid, *tree):
        for kill in (os.killpg, os.kill):
            try:
                kill(target, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    proc.wait()


def run(
    args: Sequence[str],
    *,
    env: Optional[dict] = None,
    cwd: Optional[str] = None,
    input: Optional[str] = None,
    timeout: float = 600,
    check: bool = True,
) -> Result:
    started = time.monotonic()
    proc = subprocess.Popen(
        list(args),
        env=env,
        cwd=cwd,
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        stdout, stderr = proc.communicate()
        stderr += f"\n[killed after {timeout:.0f} s]"
    except BaseException:
        kill_group(proc)
        raise
    # Anything the command left running in its group (a provider that outlived the CLI).
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    result = Result(list(args), proc.returncode, stdout, stderr, time.monotonic() - started)
    if check and result.returncode != 0:
        raise CommandFailed(result)
    return result


def wait_until(check: Callable[[], object], timeout: float, what: str, interval: float = 0.25):
    """Poll `check` until it returns something truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
