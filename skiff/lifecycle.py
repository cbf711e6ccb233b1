"""How every skiff daemon runs and stops: one place for the signal handling and the shutdown bound.

``serve_until_stopped`` waits until SIGTERM or SIGINT arrives or until one of the daemon's
long-running tasks ends by itself, then cancels the tasks and runs the daemon's cleanup (release a
Lease, flush statuses, stop the gRPC server). The whole shutdown is bounded: a daemon that cannot
finish within ``grace`` seconds logs the stack of every task still pending — so a hang is a
diagnosis, not a mystery — and exits with status 1. A second signal exits at once. SIGUSR1 logs
the stack of every task at any time (``kill -USR1 PID``), for a daemon that seems stuck.
``run_daemon`` is every daemon's ``main``: run its coroutine, and turn a start-up failure (a
port in use, a bad flag value) into one ``error: ...`` line and exit status 1, not a traceback;
``listen`` binds a gRPC server's port and says which address could not be had.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from skiff.aio import cancel_and_wait

log = logging.getLogger("skiff.lifecycle")

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def run_daemon(main: Coroutine[Any, Any, None]) -> int:
    """Run a daemon's main coroutine; an OSError or ValueError prints ``error: message`` and gives 1."""
    try:
        asyncio.run(main)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def listen(server: Any, address: str) -> int:
    """Bind ``server`` (a grpc.aio server) to ``address``; the port bound. OSError when it cannot."""
    try:
        port = int(server.add_insecure_port(address))
    except RuntimeError:  # gRPC's "Failed to bind to address ...": in use, or not an address here
        port = 0
    if not port:
        raise OSError(f"cannot listen on {address}: the address is in use or not available here")
    return port


async def serve_until_stopped(work: Sequence[asyncio.Task[Any]], *, cleanup: Callable[[], Awaitable[None]],
                              grace: float, name: str) -> None:
    """Run ``work`` until a signal (or until one task ends); then stop it all within ``grace`` s."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal() -> None:
        if stop.is_set():
            _exit_now(f"{name}: second signal; exiting at once")
        stop.set()

    for sig in _SIGNALS:
        loop.add_signal_handler(sig, on_signal)
    loop.add_signal_handler(signal.SIGUSR1, lambda: log.warning("%s: the tasks (SIGUSR1):\n%s", name, pending_stacks()))
    stopping = asyncio.create_task(stop.wait(), name=f"{name}:signal")
    await asyncio.wait([*work, stopping], return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    stopping.cancel()
    for task in work:
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.error("%s: %s stopped: %r", name, task.get_name(), task.exception())
    log.info("%s: shutting down", name)
    # A task of its own, waited on with a timeout rather than cancelled: a cancellation could be
    # swallowed by the very code that hangs, while this bound always holds.
    main = asyncio.current_task()
    shutdown = asyncio.create_task(_shut_down(work, cleanup, keep=main), name=f"{name}:shutdown")
    done, _ = await asyncio.wait([shutdown], timeout=grace)
    if not done:
        _exit_now(f"{name}: shutdown did not finish within {grace:g} s; still pending:\n{pending_stacks()}")
    if shutdown.exception() is not None:
        log.error("%s: shutdown failed: %r", name, shutdown.exception())


async def _shut_down(tasks: Sequence[asyncio.Task[Any]], cleanup: Callable[[], Awaitable[None]],
                     keep: asyncio.Task[object] | None) -> None:
    """Cancel the work, clean up, then cancel whatever tasks the work left behind."""
    await cancel_and_wait(tasks, ignore_errors=True)
    await cleanup()
    await cancel_and_wait([t for t in asyncio.all_tasks() if t is not keep and t is not asyncio.current_task()],
                          ignore_errors=True)


def pending_stacks() -> str:
    """The stack of every pending task of the running loop, as text."""
    out = io.StringIO()
    current = asyncio.current_task()
    for task in asyncio.all_tasks():
        if task is current:
            continue
        out.write(f"task {task.get_name()}:\n")
        awaited: object = task.get_coro()
        # Down the await chain (Task.get_stack shows only the outermost coroutine of a suspended task).
        while awaited is not None:
            frame = next((getattr(awaited, a) for a in ("cr_frame", "gi_frame", "ag_frame")
                          if getattr(awaited, a, None) is not None), None)
            if frame is None:
                out.write(f"  awaiting {awaited!r:.200}\n")
                break
            out.write(f"  {frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}\n")
            awaited = next((getattr(awaited, a) for a in ("cr_await", "gi_yieldfrom", "ag_await")
                            if getattr(awaited, a, None) is not None), None)
    return out.getvalue()


def _exit_now(message: str) -> None:
    log.error("%s", message)
    logging.shutdown()
    os._exit(1)
