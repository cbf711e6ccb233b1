"""Removing everything a test's kubelet started: containers keep running when a kubelet stops
(that is what lets a restarted kubelet adopt them), so tests that run real kubelets clean up
through the runtime itself when they finish."""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kubelet.runtime.interface import ContainerRuntime, State


def _runtime(kind: str, root_dir: Path, node_name: str) -> ContainerRuntime | None:
    if kind == "process":
        from kubelet.runtime.process import ProcessRuntime

        return ProcessRuntime(root_dir / "runtime", node_name=node_name)
    if kind == "docker":
        from kubelet.runtime.docker import DockerRuntime, DockerSettings

        return DockerRuntime(DockerSettings(node_name=node_name))
    return None


async def _purge(runtime: ContainerRuntime) -> None:
    for info in await runtime.list_containers():
        with contextlib.suppress(Exception):
            if info.state == State.RUNNING:
                await runtime.stop_container(info.id, 0)
            await runtime.remove_container(info.id)
    for sandbox in await runtime.list_sandboxes(dead=True):
        with contextlib.suppress(Exception):
            await runtime.stop_sandbox(sandbox.id)
            await runtime.remove_sandbox(sandbox.id)


def purge(kind: str, root_dir: Path, node_name: str) -> None:
    """Stop and remove every container and sandbox of ``node_name`` (its kubelet's root_dir).

    Callable from plain code and from inside a running event loop (a benchmark's): the cleanup
    runs on a loop of its own in a thread then."""
    runtime = _runtime(kind, root_dir, node_name)
    if runtime is None:
        return
    with ThreadPoolExecutor(1) as pool, contextlib.suppress(Exception):  # best effort, as teardown is
        pool.submit(asyncio.run, _purge(runtime)).result()
