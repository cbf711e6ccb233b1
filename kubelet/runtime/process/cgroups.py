"""Resource limits for the process runtime: a cgroup per container.

On v2 they go in ``/sys/fs/cgroup/skiff/<id>`` (memory.max, memory.swap.max=0, cpu.max). On v1 they
go in the memory and cpu hierarchies under ``skiff/<id>`` (memory.limit_in_bytes and memsw = no
swap, cpu.cfs_quota_us), plus the cpuacct hierarchy when it is mounted apart from cpu (for
usage). The runtime creates the cgroups before it starts the container; the command's own
process joins them (through ``cgroup.procs``) before ``exec``, so everything it starts is in
them too, and SIGKILL to every pid in them stops a container for good. OOMKilled comes from
the cgroup's oom_kill counter (memory.events on v2, memory.oom_control on v1) being non-zero
for a container that exited non-zero. If cgroups are not writable (or the kubelet is not root),
limits are not enforced and OOMKilled is not detected (one warning at start).

Usage (``skiffctl top``) comes from the same cgroups: CPU time from ``cpu.stat`` usage_usec (v2) or
``cpuacct.usage`` (v1, nanoseconds), the working set from ``memory.current`` minus memory.stat's
``inactive_file`` (v2) or ``memory.usage_in_bytes`` minus ``total_inactive_file`` (v1), as cAdvisor.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from pathlib import Path

from kubelet.runtime.interface import RuntimeFailure
from kubelet.runtime.process.host import is_root

log = logging.getLogger(__package__)  # "kubelet.runtime.process": one logger for the whole runtime

CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_PARENT = "skiff"


class Cgroups:
    """Per-container cgroups on v2 or v1; ``mode`` is "v2", "v1" or "none" (not writable)."""

    def __init__(self, root: Path = CGROUP_ROOT) -> None:
        self.root = root
        self.mode = self._detect()
        if self.mode == "none":
            log.warning("cgroups are not writable: memory/cpu limits are not enforced, OOMKilled is not detected")

    def _detect(self) -> str:
        if not is_root():
            return "none"
        v2 = (self.root / "cgroup.controllers").exists()
        try:
            if v2:
                parent = self.root / CGROUP_PARENT
                parent.mkdir(exist_ok=True)
                for level in (self.root, parent):
                    (level / "cgroup.subtree_control").write_text("+memory +cpu")
                return "v2"
            for controller in self._v1_controllers():
                (self.root / controller / CGROUP_PARENT).mkdir(exist_ok=True)
            return "v1"
        except OSError as err:
            log.warning("cannot set up cgroups under %s: %s", self.root, err)
            return "none"

    def _v1_controllers(self) -> tuple[str, ...]:
        """memory, cpuacct (when a hierarchy of its own, not co-mounted with cpu), cpu: cpu stays last."""
        cpuacct = self.root / "cpuacct"
        separate = cpuacct.is_dir() and cpuacct.resolve() != (self.root / "cpu").resolve()
        return ("memory", "cpuacct", "cpu") if separate else ("memory", "cpu")

    def paths(self, container_id: str) -> list[Path]:
        if self.mode == "v2":
            return [self.root / CGROUP_PARENT / container_id]
        if self.mode == "v1":
            return [self.root / c / CGROUP_PARENT / container_id for c in self._v1_controllers()]
        return []

    def create(self, container_id: str, *, cpu_millis: int | None, memory_bytes: int | None) -> list[Path]:
        dirs = self.paths(container_id)
        for path in dirs:
            path.mkdir(exist_ok=True)
        try:
            if self.mode == "v2":
                self._limit_v2(dirs[0], cpu_millis, memory_bytes)
            elif self.mode == "v1":
                self._limit_v1(dirs[0], dirs[-1], cpu_millis, memory_bytes)
        except OSError as err:
            self.remove(dirs)
            raise RuntimeFailure(f"cannot set resource limits: {err}") from err
        return dirs

    @staticmethod
    def _limit_v2(path: Path, cpu_millis: int | None, memory_bytes: int | None) -> None:
        if memory_bytes is not None:
            (path / "memory.max").write_text(str(memory_bytes))
            with contextlib.suppress(OSError):  # no swap accounting: nothing to turn off
                (path / "memory.swap.max").write_text("0")
        if cpu_millis is not None:
            (path / "cpu.max").write_text(f"{max(cpu_millis * 100, 1000)} 100000")

    @staticmethod
    def _limit_v1(memory: Path, cpu: Path, cpu_millis: int | None, memory_bytes: int | None) -> None:
        if memory_bytes is not None:
            (memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
            with contextlib.suppress(OSError):  # kernels without swap accounting
                (memory / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
        if cpu_millis is not None:
            (cpu / "cpu.cfs_period_us").write_text("100000")
            (cpu / "cpu.cfs_quota_us").write_text(str(max(cpu_millis * 100, 1000)))

    @staticmethod
    def oom_kills(dirs: list[Path]) -> int:
        for path in dirs:
            for name in ("memory.events", "memory.oom_control"):
                with contextlib.suppress(OSError):
                    for line in (path / name).read_text().splitlines():
                        key, _, value = line.partition(" ")
                        if key == "oom_kill":
                            return int(value)
        return 0

    @staticmethod
    def usage(dirs: list[Path]) -> tuple[float | None, int | None]:
        """(CPU seconds used, working-set bytes) of a container's cgroups; None for what they do not
        account (no cpuacct cgroup on v1, a cgroup that is gone)."""
        cpu: float | None = None
        memory: int | None = None
        for path in dirs:
            stat = _flat_keyed(path / "cpu.stat")
            if "usage_usec" in stat:  # v2 (v1's cpu.stat has only throttling)
                cpu = stat["usage_usec"] / 1e6
            with contextlib.suppress(OSError, ValueError):
                cpu = int((path / "cpuacct.usage").read_text()) / 1e9
            for current, inactive in (("memory.current", "inactive_file"),
                                      ("memory.usage_in_bytes", "total_inactive_file")):
                with contextlib.suppress(OSError, ValueError):
                    used = int((path / current).read_text())
                    memory = max(0, used - _flat_keyed(path / "memory.stat").get(inactive, 0))
        return cpu, memory

    @staticmethod
    def pids(dirs: list[Path]) -> list[int]:
        found: set[int] = set()
        for path in dirs:
            with contextlib.suppress(OSError):
                found.update(int(p) for p in (path / "cgroup.procs").read_text().split())
        return sorted(found)

    def kill_all(self, dirs: list[Path]) -> None:
        for pid in self.pids(dirs):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    @staticmethod
    def remove(dirs: list[Path]) -> None:
        for path in dirs:
            with contextlib.suppress(FileNotFoundError):
                path.rmdir()


def _flat_keyed(path: Path) -> dict[str, int]:
    """A cgroup "key value" file (cpu.stat, memory.stat) as a dict; empty when it is not there."""
    values: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            key, _, value = line.partition(" ")
            with contextlib.suppress(ValueError):
                values[key] = int(value)
    return values
