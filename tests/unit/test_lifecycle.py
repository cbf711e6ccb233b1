"""serve_until_stopped: a daemon stops on SIGTERM after its cleanup, and never hangs — a shutdown that
overruns its grace exits 1 with the stacks of the stuck tasks; a second signal exits at once."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

DAEMON = textwrap.dedent("""
    import asyncio, logging, sys
    from skiff.lifecycle import serve_until_stopped
    logging.basicConfig(level=logging.INFO, stream=sys.stdout)

    async def stubborn():
        print("ready", flush=True)  # runs once serve_until_stopped waits: its signal handlers are set
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if MODE == "stubborn":
                    continue  # swallows every cancellation
                raise

    async def cleanup():
        if MODE == "slow-cleanup":
            await asyncio.sleep(3600)
        print("cleanup ran", flush=True)

    async def main():
        work = asyncio.create_task(stubborn(), name="stubborn-work")
        await serve_until_stopped([work], cleanup=cleanup, grace=GRACE, name="testd")
        print("returned", flush=True)

    asyncio.run(main())
""")


def _start(mode: str, grace: float) -> subprocess.Popen[str]:
    code = f"MODE = {mode!r}\nGRACE = {grace}\n" + DAEMON
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_sigterm_cancels_the_work_and_runs_the_cleanup() -> None:
    proc = _start("polite", grace=10)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0, out
    assert "cleanup ran" in out and "returned" in out


def test_a_task_that_swallows_its_cancellation_cannot_hang_the_exit() -> None:
    proc = _start("stubborn", grace=1)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 1, out
    assert time.monotonic() - started < 8
    assert "shutdown did not finish within 1 s" in out
    assert "stubborn-work" in out and "in stubborn" in out  # the stuck task's stack is in the log
    assert "returned" not in out


def test_a_second_signal_exits_at_once() -> None:
    proc = _start("slow-cleanup", grace=60)
    proc.send_signal(signal.SIGTERM)
    assert proc.stdout is not None
    first = proc.stdout.readline()  # the first signal has started the (endless) cleanup
    assert "testd: shutting down" in first, first
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 1, out
    assert "second signal" in out and "cleanup ran" not in out


def test_sigusr1_logs_every_task_and_keeps_running() -> None:
    proc = _start("polite", grace=10)
    assert proc.stdout is not None
    proc.send_signal(signal.SIGUSR1)
    dump = [proc.stdout.readline()]  # the log record's first line, then the stacks
    while "in stubborn" not in dump[-1] and dump[-1]:
        dump.append(proc.stdout.readline())
    assert "testd: the tasks (SIGUSR1)" in dump[0] and "in stubborn" in dump[-1], dump
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "cleanup ran" in out


@pytest.mark.parametrize("daemon", [["scheduler"], ["kubelet", "--runtime", "fake"]])
def test_a_port_in_use_is_one_clear_error_line(daemon: list[str], tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        extra = ["--root-dir", str(tmp_path)] if daemon[0] == "kubelet" else []
        proc = subprocess.run([sys.executable, "-m", "skiff.daemons", *daemon, "--server", "127.0.0.1:1",
                               "--bind-address", "127.0.0.1", "--port", str(port), *extra],
                              capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert f"error: cannot listen on 127.0.0.1:{port}: the address is in use or not available here" in proc.stderr
    assert "Traceback" not in proc.stderr
