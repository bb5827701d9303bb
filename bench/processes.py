"""Peak memory of every process a command starts (the Pulumi CLI, its language host, the program,
the provider plugin), sampled from /proc while it runs: each process's own high-water mark (VmHWM)."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Optional


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def _descendants(root: int) -> list[int]:
    tree, found, todo = _children(), [], [root]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _status(pid: int) -> Optional[tuple[str, int]]:
    """(command name, peak resident KiB) of a live process."""
    try:
        name = (Path(f"/proc/{pid}/comm")).read_text().strip()
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return name, int(line.split()[1])
    except OSError:
        return None
    return None


def load_average() -> float:
    """The machine's one-minute load average (other engineers share it: a figure needs its load)."""
    return float(Path("/proc/loadavg").read_text().split()[0])


class PeakMemory:
    """`with PeakMemory() as peak: ...`; then `peak.by_process`: MiB by command name (the largest
    instance of each), sampled every `interval` seconds among this process's descendants; and
    `peak.load`: the machine's one-minute load average (highest and mean of the samples)."""

    def __init__(self, interval: float = 0.5):
        self.interval = interval
        self.by_process: dict[str, float] = {}
        self._loads: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = os.getpid()
        while not self._stop.wait(self.interval):
            self._loads.append(load_average())
            for pid in _descendants(me):
                status = _status(pid)
                if status:
                    name, kib = status
                    self.by_process[name] = max(self.by_process.get(name, 0.0), round(kib / 1024, 1))

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def load(self) -> dict:
        loads = self._loads or [load_average()]
        return {"max": max(loads), "mean": round(sum(loads) / len(loads), 2)}
