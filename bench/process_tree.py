"""Memory of a process and every process under it (child processes that write summaries), for the benchmarks.

`TreeMemory` samples, on a thread, the summed proportional set size (PSS) of this process and its descendants:
pages shared between processes (a library both map, memory a forked child has not written to) count once in
all, split between them, so the sum is what the processes hold together. Its peak is a lower bound of the true
peak (sampled every INTERVAL_SECONDS). Linux only (/proc); elsewhere it reports 0.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import TracebackType

INTERVAL_SECONDS = 0.05
PROC = Path("/proc")


def _children_by_parent() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir() if PROC.exists() else ():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # ended meanwhile
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    return children


def descendants(pid: int, *, below: int = 0) -> list[int]:
    """The processes under `pid` (children, their children, ...), from /proc; with `below`=1, only those under
    its children (a pool's workers under its process server), and so on."""
    tree = _children_by_parent()
    found, queue = [], [(pid, 0)]
    while queue:
        parent, depth = queue.pop()
        for child in tree.get(parent, []):
            if depth >= below:
                found.append(child)
            queue.append((child, depth + 1))
    return found


def pss_kib(pid: int) -> int:
    try:
        for line in (PROC / str(pid) / "smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class TreeMemory:
    """Peak summed PSS of this process and its descendants while the `with` block runs, in MiB."""

    def __init__(self) -> None:
        self.peak_mib = 0.0
        self.peak_processes = 0
        self.peak_each: list[float] = []  # at the peak: this process's PSS first, then its descendants'
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="tree-memory", daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        me = os.getpid()
        while True:
            pids = [me, *descendants(me)]
            each = [pss_kib(pid) / 1024 for pid in pids]
            if sum(each) > self.peak_mib:
                self.peak_mib, self.peak_processes, self.peak_each = sum(each), len(pids), each
            if self._stop.wait(INTERVAL_SECONDS):
                return
