"""Exec in a process-runtime container: a host process in the container's namespaces.

Exec uses ``nsenter -t <pid> -n -m`` (only the namespaces the container has) with the container's
env, working dir and user; a container with neither namespaces nor a user of its own gets the
command run directly, in its working dir. The exec'd process runs in its own session. There is no
pty: ``tty`` is ignored and ``resize`` does nothing.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from typing import Any

from kubelet.runtime.interface import RuntimeFailure
from kubelet.runtime.process.host import alive


def exec_argv(nsenter: str, state: dict[str, Any], command: list[str]) -> list[str]:
    """The argv that runs ``command`` in the container of ``state`` (its state.json record)."""
    if not alive(state["pid"], state["ticks"]):
        raise RuntimeFailure(f"container {state['id']} is not running")
    flags = ((["-n"] if state["netns"] else []) + (["-m"] if state["mount_ns"] else [])
             + (["-u"] if state.get("uts_ns") else []))
    if not flags and state["uid"] is None:
        return list(command)
    user = ["-S", str(state["uid"]), "-G", "0"] if state["uid"] is not None else []
    return [nsenter, "-t", str(state["pid"]), *flags, f"--wd={state['cwd']}", *user, "--", *command]


async def exec_process(nsenter: str, state: dict[str, Any], command: list[str], *,
                       stdin: bool, merge: bool) -> asyncio.subprocess.Process:
    """Start ``command`` in the container; stderr goes into stdout when ``merge``."""
    argv = exec_argv(nsenter, state, command)
    try:
        return await asyncio.create_subprocess_exec(
            *argv, env=state["env"], cwd=state["cwd"] if argv == command else "/",
            stdin=asyncio.subprocess.PIPE if stdin else subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT if merge else asyncio.subprocess.PIPE, start_new_session=True)
    except OSError as err:
        raise RuntimeFailure(f"exec {command[0] if command else ''}: {err}") from err


class ProcessExecSession:
    """``exec_stream`` over a host process (no pty)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc

    async def write_stdin(self, data: bytes) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.write(data)
            await self._proc.stdin.drain()

    async def close_stdin(self) -> None:
        if self._proc.stdin is not None and not self._proc.stdin.is_closing():
            self._proc.stdin.close()

    async def output(self) -> AsyncIterator[tuple[str, bytes]]:
        queue: asyncio.Queue[tuple[str, bytes] | None] = asyncio.Queue()

        async def read(name: str, stream: asyncio.StreamReader | None) -> None:
            while stream is not None and (chunk := await stream.read(65536)):
                await queue.put((name, chunk))
            await queue.put(None)

        readers = [asyncio.create_task(read("stdout", self._proc.stdout)),
                   asyncio.create_task(read("stderr", self._proc.stderr))]
        try:
            ended = 0
            while ended < len(readers):
                item = await queue.get()
                if item is None:
                    ended += 1
                else:
                    yield item
        finally:
            for reader in readers:
                reader.cancel()

    async def wait(self) -> int:
        return await self._proc.wait()

    async def resize(self, width: int, height: int) -> None:
        return None
