"""CPU time and resident memory of process trees, read from ``/proc`` (Linux).

The bench reads these before and after each load step: the difference of CPU seconds,
divided by the texts of the step, is the CPU a text costs in each process of the stack.

A tree is a process and every live descendant. Each process counts its own utime + stime
*and* its cutime + cstime (children it has already reaped): a PostgreSQL backend that ends
during a step moves its time into the postmaster's cutime, so the tree's sum stays
monotonic and nothing is counted twice (proc(5)).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (which may hold blanks)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rfind(")") + 2:].split()


def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = defaultdict(list)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        f = _fields(int(entry.name))
        if f is not None:
            out[int(f[1])].append(int(entry.name))  # f[1]: ppid (stat field 4)
    return out


def tree(roots: Iterable[int]) -> list[int]:
    """``roots`` and all their live descendants."""
    kids = _children()
    out: list[int] = []
    todo = [r for r in roots if r]
    while todo:
        pid = todo.pop()
        if pid in out:
            continue
        out.append(pid)
        todo.extend(kids.get(pid, ()))
    return out


def cpu_seconds(roots: Iterable[int]) -> float:
    """User + system CPU seconds of the trees of ``roots`` (reaped children included)."""
    ticks = 0
    for pid in tree(roots):
        f = _fields(pid)
        if f is not None:
            # stat fields 14-17: utime, stime, cutime, cstime (clock ticks)
            ticks += sum(int(x) for x in f[11:15])
    return ticks / _TICK


def rss_kib(roots: Iterable[int]) -> int:
    """Resident memory of the trees of ``roots``, KiB (VmRSS summed)."""
    total = 0
    for pid in tree(roots):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    break
        except OSError:
            continue
    return total


def postmaster_pid(data_dir: Path) -> int | None:
    """The postmaster of a PostgreSQL data directory (first line of postmaster.pid)."""
    try:
        return int((data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
