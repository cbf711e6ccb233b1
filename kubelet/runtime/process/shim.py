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
shim writes the command's stdout/stderr to ``log`` with timestamps (see ``logfile``) and sends it
to the clients attached to its ``attach_socket`` (see ``attach``), which it binds before anything
else. When the command ends the shim reaps it, waits up to 2 s for its output to close (an orphaned
grandchild may hold it open), writes ``exit.json``, tells the attached clients, removes the socket
and exits. One thread (an asyncio loop) does all of that; a client cannot block or end it.

The command's stdio: without ``stdin`` its stdin is /dev/null, with it a pipe whose write end the
shim keeps (open until a ``stdin_once`` client lets go, see ``attach``, or the shim exits). With
``tty`` it runs on a pty (``os.openpty``): the slave is its stdin, stdout and stderr and its
controlling terminal (``TIOCSCTTY`` in the session it leads), and everything read from the master
is ``stdout`` (with the terminal's ``\r\n``) in the log and to the clients. Without ``tty``,
stdout and stderr are two pipes. The shim outlives the kubelet, so
containers keep running across kubelet restarts. The runtime reaps its shims through asyncio's
child watcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubelet.runtime.interface import RuntimeFailure
from kubelet.runtime.process import attach
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


def _child_setup(cgroup_procs: list[str], uid: int | None, *, tty: bool) -> Callable[[], None]:
    """What the command's process does before exec: take its terminal (in the session it leads),
    join its cgroups, then drop to its user."""

    def setup() -> None:
        if tty:
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
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


class _ChildIO:
    """The command's stdio: a pty (``tty``) or pipes; the shim keeps the other ends."""

    def __init__(self, *, stdin: bool, tty: bool) -> None:
        self.tty = tty
        self.outputs: list[tuple[str, int]] = []
        """(stream, fd) the shim reads."""
        self.stdin_fd: int | None = None
        """The shim's end of the command's stdin, when it has one."""
        self.child: dict[str, Any] = {}
        self._child_fds: list[int] = []
        if tty:
            master, slave = os.openpty()
            self._child_fds = [slave]
            self.outputs = [("stdout", master)]
            self.stdin_fd = os.dup(master) if stdin else None
            self.child = {"stdin": slave, "stdout": slave, "stderr": slave}
            return
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        self._child_fds = [out_w, err_w]
        self.outputs = [("stdout", out_r), ("stderr", err_r)]
        self.child = {"stdin": subprocess.DEVNULL, "stdout": out_w, "stderr": err_w}
        if stdin:
            in_r, self.stdin_fd = os.pipe()
            self._child_fds.append(in_r)
            self.child["stdin"] = in_r

    def close_child_ends(self) -> None:
        for fd in self._child_fds:
            os.close(fd)
        self._child_fds = []


def shim_main(container_dir: Path) -> int:
    """Start the container's command, log its output, record its exit (see module docstring)."""
    spec = json.loads((container_dir / "spec.json").read_text())
    socket_path: str | None = spec.get("attach_socket")
    listener: socket.socket | None = None
    try:
        if socket_path:
            listener = attach.listen(socket_path)  # before the mount namespace: the host's path
        enter_namespaces(spec)
        io = _ChildIO(stdin=bool(spec.get("stdin")), tty=bool(spec.get("tty")))
        child = subprocess.Popen(spec["argv"], env=spec["env"], cwd=spec["cwd"], **io.child,
                                 start_new_session=True,
                                 preexec_fn=_child_setup(spec["cgroup_procs"], spec["uid"], tty=io.tty))
    except (OSError, subprocess.SubprocessError) as err:
        _handshake({"error": str(err)})
        _unlink(socket_path)
        return 1
    io.close_child_ends()
    _handshake({"pid": child.pid, "ticks": proc_start_ticks(child.pid, zombie=True)})
    try:
        asyncio.run(_supervise(container_dir, child, io, listener, socket_path,
                               stdin_once=bool(spec.get("stdin_once"))))
    finally:
        _unlink(socket_path)
    return 0


async def _supervise(container_dir: Path, child: subprocess.Popen[bytes], io: _ChildIO,
                     listener: socket.socket | None, socket_path: str | None, *, stdin_once: bool) -> None:
    """Pump the output to the log and the attached clients until the command ends; record its exit."""
    loop = asyncio.get_running_loop()
    writer = LogWriter(container_dir / "log")
    stdin = attach.StdinSink(io.stdin_fd, tty=io.tty) if io.stdin_fd is not None else None
    hub = attach.AttachHub(stdin=stdin, pty_fd=io.outputs[0][1] if io.tty else None, stdin_once=stdin_once)
    server = await asyncio.start_unix_server(hub.handle, sock=listener) if listener is not None else None
    open_streams = dict(io.outputs)
    closed = asyncio.Event()

    def end(stream: str) -> None:
        loop.remove_reader(open_streams.pop(stream))
        writer.end(stream)
        if not open_streams:
            closed.set()

    def readable(stream: str, fd: int) -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:  # EIO: the pty's last slave end is closed
            data = b""
        if not data:
            end(stream)
            return
        writer.feed(stream, data)
        hub.broadcast(stream, data)

    for stream, fd in io.outputs:
        os.set_blocking(fd, False)
        loop.add_reader(fd, readable, stream, fd)
    code = await loop.run_in_executor(None, child.wait)
    with contextlib.suppress(TimeoutError):
        await aio.wait_for(closed.wait(), 2)  # a daemonized grandchild may hold the output open
    for stream in list(open_streams):
        end(stream)
    sig = -code if code < 0 else None
    exit_code = 128 + sig if sig else code
    write_json(container_dir / "exit.json", {"exit_code": exit_code, "signal": sig, "finished_at": time.time()})
    if server is not None:
        server.close()
        _unlink(socket_path)
    await hub.finish(exit_code)


def _unlink(path: str | None) -> None:
    if path:
        with contextlib.suppress(OSError):
            os.unlink(path)
