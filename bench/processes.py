"""Peak memory and CPU time of every process a command starts (the Pulumi CLI, its language host,
the program, the provider plugin) and of the local cluster's, sampled from /proc while it runs:
each process's own high-water mark (VmHWM), and its user and system time."""

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


_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_ticks(pid: int) -> Optional[int]:
    """User plus system time of a live process, in clock ticks."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])


def load_average() -> float:
    """The machine's one-minute load average (other engineers share it: a figure needs its load)."""
    return float(Path("/proc/loadavg").read_text().split()[0])


class PeakMemory:
    """`with PeakMemory() as peak: ...`; then `peak.by_process`: MiB by command name (the largest
    instance of each), sampled every `interval` seconds among this process's descendants;
    `peak.cpu_seconds`: the CPU time they used meanwhile, by command name (all instances; a
    process that ends loses what it used after its last sample); and `peak.load`: the machine's
    one-minute load average (highest and mean of the samples)."""

    def __init__(self, interval: float = 0.5):
        self.interval = interval
        self.by_process: dict[str, float] = {}
        self._loads: list[float] = []
        self._baseline: dict[int, int] = {}
        self._cpu: dict[int, tuple[str, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = os.getpid()
        while not self._stop.wait(self.interval):
            self._loads.append(load_average())
            for pid in _descendants(me):
                status = _status(pid)
                ticks = _cpu_ticks(pid)
                if status:
                    name, kib = status
                    self.by_process[name] = max(self.by_process.get(name, 0.0), round(kib / 1024, 1))
                    if ticks is not None:
                        self._cpu[pid] = (name, ticks)

    def __enter__(self) -> "PeakMemory":
        # What the processes already running (the cluster's) had used before: not this step's.
        self._baseline = {pid: ticks for pid in _descendants(os.getpid()) if (ticks := _cpu_ticks(pid)) is not None}
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def cpu_seconds(self) -> dict[str, float]:
        used: dict[str, float] = {}
        for pid, (name, ticks) in self._cpu.items():
            used[name] = used.get(name, 0.0) + (ticks - self._baseline.get(pid, 0)) / _TICKS
        return {name: round(seconds, 1) for name, seconds in sorted(used.items(), key=lambda item: -item[1])}

    @property
    def load(self) -> dict:
        loads = self._loads or [load_average()]
        return {"max": max(loads), "mean": round(sum(loads) / len(loads), 2)}
