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
