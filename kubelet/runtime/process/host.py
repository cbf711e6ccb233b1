"""What the process runtime reads from the host: whether it runs as root, and whether a process it
recorded still lives.

A pid alone does not identify a process: the kernel reuses pids. So every pid the runtime records
(a container's command, its shim) goes with the process's start time from ``/proc/<pid>/stat``, in
clock ticks since boot, and the process counts as alive only while that pid has that start time.
"""

from __future__ import annotations

import os
from pathlib import Path


def is_root() -> bool:
    return os.geteuid() == 0


def proc_start_ticks(pid: int, *, zombie: bool = False) -> int | None:
    """The process's start time (clock ticks since boot) from /proc; None when it is gone (or a
    zombie, unless ``zombie``: the shim reads its own unreaped child's)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z" and not zombie:
        return None
    return int(fields[19])


def alive(pid: int | None, ticks: int | None) -> bool:
    return pid is not None and ticks is not None and proc_start_ticks(pid) == ticks


def proc_usage(pids: list[int]) -> tuple[float, int]:
    """(CPU seconds, resident bytes) of these processes from /proc: utime+stime plus what their reaped
    children used (cutime+cstime), and VmRSS — the fallback when no cgroup accounts a container."""
    ticks = os.sysconf("SC_CLK_TCK")
    page = os.sysconf("SC_PAGE_SIZE")
    cpu, rss = 0.0, 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # fields[0] is field 3 (state) of proc(5)
        cpu += sum(int(f) for f in fields[11:15]) / ticks  # utime stime cutime cstime (14-17)
        rss += int(fields[21]) * page  # rss (24), in pages
    return cpu, rss


def process_group(pgid: int) -> list[int]:
    """The live processes of a process group (a container's command leads its own)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            found.append(int(entry.name))
    return found
