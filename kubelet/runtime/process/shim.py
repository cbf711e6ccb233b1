"""The shim: a small process per container that starts the command, logs its output and records
its exit, like containerd's shim; and the runtime's side of starting one.

The runtime does not start the command itself. It writes ``spec.json`` and starts the shim
(``python -m kubelet.runtime.process shim <dir>``, in its own session, see ``__main__``). The shim
enters the pod's namespaces (see ``namespaces``), then starts the command. The command runs in its
own session (process group = pid) with the env exactly as given, in the working dir (default
``/``), as ``run_as_user``, and it joins its cgroups before ``exec``.

Protocol: the shim prints one JSON line on its stdout, ``{"pid", "ticks"}`` (the command's pid and
its /proc start time) or ``{"error"}``, then points its stdout at /dev/null. The runtime waits up to
``SHIM_START_TIMEOUT_S`` for that line; without one it takes the last line of the shim's stderr
(``shim.err``) as the error, and on an error it kills the shim's process group. From then on the
shim writes the command's stdout/stderr to ``log`` with timestamps (see ``logfile``). When the
command ends the shim reaps it, waits up to 2 s per output pipe for it to close (an orphaned
grandchild may hold them open), writes ``exit.json`` and exits. The shim outlives the kubelet, so
containers keep running across kubelet restarts. The runtime reaps its shims through asyncio's
child watcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubelet.runtime.interface import RuntimeFailure
from kubelet.runtime.process.host import proc_start_ticks
from kubelet.runtime.process.logfile import LogWriter
from kubelet.runtime.process.namespaces import enter_namespaces
from kubelet.runtime.process.state import write_json
from skiff import aio

SHIM_START_TIMEOUT_S = 15.0

# -- the runtime's side -----------------------------------------------------------------------


async def start_shim(directory: Path) -> asyncio.subprocess.Process:
    """Start the shim for the container whose ``spec.json`` is in ``directory``."""
    # the shim imports this package from the directory that holds ``kubelet``, whatever the cwd
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    with open(directory / "shim.err", "wb") as err:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "kubelet.runtime.process", "shim", str(directory), cwd="/", env=env,
            stdin=subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=err, start_new_session=True)


async def shim_hello(shim: asyncio.subprocess.Process, directory: Path) -> dict[str, Any]:
    """The shim's ``{"pid", "ticks"}``; on an error (or none in time) kill it and raise RuntimeFailure."""
    assert shim.stdout is not None
    try:
        line = await aio.wait_for(shim.stdout.readline(), SHIM_START_TIMEOUT_S)
    except TimeoutError:
        line = b""
    hello: dict[str, Any] = json.loads(line) if line.strip() else {"error": _shim_error(directory)}
    if "error" in hello:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(shim.pid, signal.SIGKILL)
        raise RuntimeFailure(f"failed to start container: {hello['error']}")
    return hello


def _shim_error(directory: Path) -> str:
    with contextlib.suppress(OSError):
        lines = (directory / "shim.err").read_text().strip().splitlines()
        if lines:
            return lines[-1]
    return "the shim did not start"


# -- the shim (runs in its own process) -------------------------------------------------------


def _child_setup(cgroup_procs: list[str], uid: int | None) -> Callable[[], None]:
    """What the command's process does before exec: join its cgroups, then drop to its user."""

    def setup() -> None:
        for procs in cgroup_procs:
            with open(procs, "w") as f:
                f.write("0")
        if uid is not None:
            os.setgroups([])
            os.setgid(0)
            os.setuid(uid)

    return setup


def _handshake(value: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


def shim_main(container_dir: Path) -> int:
    """Start the container's command, log its output, record its exit (see module docstring)."""
    spec = json.loads((container_dir / "spec.json").read_text())
    try:
        enter_namespaces(spec)
        child = subprocess.Popen(spec["argv"], env=spec["env"], cwd=spec["cwd"], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                                 preexec_fn=_child_setup(spec["cgroup_procs"], spec["uid"]))
    except (OSError, subprocess.SubprocessError) as err:
        _handshake({"error": str(err)})
        return 1
    _handshake({"pid": child.pid, "ticks": proc_start_ticks(child.pid, zombie=True)})
    writer = LogWriter(container_dir / "log")
    assert child.stdout is not None and child.stderr is not None
    pumps = [threading.Thread(target=writer.pump, args=(name, pipe), daemon=True)
             for name, pipe in (("stdout", child.stdout), ("stderr", child.stderr))]
    for pump in pumps:
        pump.start()
    code = child.wait()
    for pump in pumps:
        pump.join(timeout=2)  # a daemonized grandchild may hold the pipes open
    sig = -code if code < 0 else None
    write_json(container_dir / "exit.json", {"exit_code": 128 + sig if sig else code, "signal": sig,
                                             "finished_at": time.time()})
    return 0
