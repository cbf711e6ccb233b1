"""nginx as the load balancer's data path: one child process kept in line with a list of listeners.

The config text comes from :mod:`proxy.loadbalancer.nginxconf`. :class:`Nginx` runs one nginx as a
child process, ``nginx -p WORKDIR -c WORKDIR/nginx.conf -e WORKDIR/error.log -g 'daemon off;'`` in a
session of its own (a terminal's Ctrl-C does not reach it; :meth:`Nginx.stop` does). Everything it
writes is under the work directory: the config names the pid file and the error log there, ``-e``
covers the log nginx opens before reading the config, and a stream-only config opens no http temp or
access-log paths. Run as root, the master binds the listeners and its worker drops to ``nobody``.

* :meth:`Nginx.start` writes the config without listeners, tests it, starts nginx and waits until
  the pid file names the child and a worker runs. A leftover nginx of the same work directory (its
  parent was killed) is stopped first.
* :meth:`Nginx.apply` renders; unchanged text does nothing. Otherwise the new text is written to
  ``nginx.conf.new`` and checked with ``nginx -t`` (a failure raises :class:`NginxError` with
  nginx's own message, and nothing changes); then it is renamed over ``nginx.conf`` (atomic) and
  the master gets SIGHUP. ``nginx -t`` does not catch everything: it ignores "address in use",
  which only the reload meets. How the reload ends is read from two places, with a deadline:
  it took when the master has a new worker (its title ``nginx: worker process``, in /proc) and
  every worker from before has exited or titles itself ``... is shutting down`` (an old worker
  closes its listening sockets right as it does; from then on only the new config accepts); it
  failed when the error log gained an ``[emerg]`` line since the SIGHUP (for a bind in use, the
  master retries for ~2 s and ends with "still could not bind()", which is waited for). nginx keeps
  the old config running then, and the old text is put back in ``nginx.conf`` before NginxError is
  raised. If nginx has died in between, apply starts it again with the new config.
* :meth:`Nginx.stop` sends SIGQUIT (graceful: workers finish their connections), after
  ``stop_timeout`` (3 s: the daemon's whole shutdown grace is 5 s, and a UDP session lasts until
  its 10 s timeout) SIGTERM (fast: nginx closes them and exits cleanly), then SIGKILL; any worker
  left behind in nginx's process group is killed too. Linux only (/proc).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

from proxy.loadbalancer.nginxconf import Listener, NginxError, find_nginx, render, stream_modules_of
from skiff import aio

log = logging.getLogger("skiff.loadbalancer.nginx")

_POLL_S = 0.01
_FAST_STOP_S = 2.0
_WORKER_TITLE = "nginx: worker process"
_SHUTTING_DOWN = "is shutting down"


class _KeptOldConfig(NginxError):
    """The reload failed and nginx said so: it goes on with the config it had."""


# -- /proc ------------------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    """The child processes of ``pid`` (nginx's master is single-threaded: its main task's children)."""
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []
    except OSError:  # no CONFIG_PROC_CHILDREN: scan
        return [p for p, (ppid, _pgrp, _comm) in _processes().items() if ppid == pid]


def _processes() -> dict[int, tuple[int, int, str]]:
    """Every live process's ``(ppid, process group, comm)`` (zombies left out)."""
    found: dict[int, tuple[int, int, str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = stat[stat.find("(") + 1:stat.rfind(")")]
        fields = stat[stat.rfind(")") + 2:].split()
        if fields[0] not in ("Z", "X"):
            found[int(entry)] = (int(fields[1]), int(fields[2]), comm)
    return found


def _title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rfind(")") + 2:][:1] not in ("Z", "X")


# -- the process --------------------------------------------------------------------------------------


class Nginx:
    """One nginx, a child process, whose stream config :meth:`apply` keeps equal to a list of listeners."""

    def __init__(self, workdir: Path, *, binary: str = "nginx", reload_timeout: float = 15.0,
                 stop_timeout: float = 3.0) -> None:
        self.workdir = Path(os.path.abspath(workdir))
        self.binary = binary
        self.reload_timeout = reload_timeout
        self.stop_timeout = stop_timeout
        self.conf = self.workdir / "nginx.conf"
        self.candidate = self.workdir / "nginx.conf.new"
        self.pid_file = self.workdir / "nginx.pid"
        self.error_log = self.workdir / "error.log"
        self._proc: asyncio.subprocess.Process | None = None
        self._modules: list[str] | None = None
        self._running_text: str | None = None
        """The config text nginx runs now (None: unknown)."""
        self._lock = asyncio.Lock()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    @property
    def pid(self) -> int | None:
        """The master's pid while it runs."""
        return self._proc.pid if self._proc is not None and self._proc.returncode is None else None

    async def start(self) -> None:
        """Start nginx with no listeners; return once it runs. Raises NginxError when it cannot."""
        async with self._lock:
            if self.running:
                return
            await self._start(render([], workdir=self.workdir, modules=await self._stream_modules()))

    async def apply(self, listeners: Sequence[Listener]) -> None:
        """Make nginx serve exactly ``listeners``; on NginxError the config it ran before keeps running."""
        text = render(listeners, workdir=self.workdir, modules=await self._stream_modules())
        async with self._lock:
            if self._proc is None:
                raise NginxError("nginx is not started")
            if not self.running:
                log.warning("nginx exited with code %s; starting it again", self._proc.returncode)
                await self._reap_stragglers(self._proc.pid)
                self._running_text = None
                await self._start(text)
                return
            if text == self._running_text:
                return
            await self._test(text)
            previous = self._running_text
            os.replace(self.candidate, self.conf)
            try:
                await self._reload(self._proc)
            except _KeptOldConfig:
                if previous is not None:
                    self._write(previous)  # nginx runs the old config: so does the file
                raise
            except NginxError:
                self._running_text = None  # unknown: the next apply reloads whatever it wants
                raise
            self._running_text = text
            log.info("nginx reloaded: %d listeners (%d without backends, not listened on)", len(listeners),
                     sum(1 for listener in listeners if not listener.backends))

    async def stop(self) -> None:
        """End nginx: SIGQUIT (graceful: connections finish), after ``stop_timeout`` SIGTERM (fast: they
        are closed), after 2 s more SIGKILL. No nginx process of it is left when this returns."""
        async with self._lock:
            proc, self._proc, self._running_text = self._proc, None, None
            if proc is None:
                return
            try:
                for sig, timeout in ((signal.SIGQUIT, self.stop_timeout), (signal.SIGTERM, _FAST_STOP_S)):
                    if proc.returncode is not None:
                        break
                    with contextlib.suppress(ProcessLookupError):
                        proc.send_signal(sig)
                    with contextlib.suppress(TimeoutError):
                        await aio.wait_for(proc.wait(), timeout)
            except asyncio.CancelledError:  # the caller's own deadline: leave nothing running
                _kill_now(proc.pid)
                raise
            if proc.returncode is None:
                log.warning("nginx did not stop on SIGQUIT nor SIGTERM: killing it")
                await self._kill(proc)
            else:
                await self._reap_stragglers(proc.pid)
            log.info("nginx stopped (exit code %s)", proc.returncode)

    # -- internals ----------------------------------------------------------------------------------

    def _binary(self) -> str:
        if os.sep in self.binary:
            return self.binary
        found = shutil.which(self.binary) or (find_nginx() if self.binary == "nginx" else None)
        if not found:
            raise NginxError(f"{self.binary} not found (Debian: apt-get install nginx-light libnginx-mod-stream)")
        return found

    async def _run(self, *args: str, timeout: float = 30.0) -> tuple[int, str]:
        """Run the nginx binary with ``args``; its exit code and output (stdout and stderr together)."""
        try:
            proc = await asyncio.create_subprocess_exec(
                self._binary(), *args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        except OSError as exc:
            raise NginxError(f"cannot run {self.binary}: {exc}") from exc
        try:
            out, _ = await aio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise NginxError(f"{self.binary} {' '.join(args)} did not finish within {timeout:g}s") from None
        assert proc.returncode is not None
        return proc.returncode, out.decode(errors="replace")

    async def _stream_modules(self) -> list[str]:
        if self._modules is None:
            _, version = await self._run("-V")
            self._modules = stream_modules_of(version)
        return self._modules

    def _args(self, conf: Path) -> list[str]:
        return ["-p", f"{self.workdir}/", "-c", str(conf), "-e", str(self.error_log)]

    def _write(self, text: str) -> None:
        """Write ``nginx.conf`` atomically."""
        self.candidate.write_text(text)
        os.replace(self.candidate, self.conf)

    async def _test(self, text: str) -> None:
        """Write ``text`` to the candidate file and ``nginx -t`` it; NginxError with nginx's message if bad."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.candidate.write_text(text)
        code, out = await self._run("-t", "-q", *self._args(self.candidate))
        if code != 0:
            with contextlib.suppress(FileNotFoundError):
                self.candidate.unlink()
            raise NginxError("nginx rejected the config: " + _messages(out, fallback=f"nginx -t exited with {code}"))

    async def _start(self, text: str) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        await self._stop_leftover()
        await self._test(text)
        os.replace(self.candidate, self.conf)
        with contextlib.suppress(FileNotFoundError):
            self.pid_file.unlink()
        offset = _size(self.error_log)
        with open(self.error_log, "ab") as stderr:
            try:
                proc = await asyncio.create_subprocess_exec(
                    self._binary(), *self._args(self.conf), "-g", "daemon off;",
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
            except OSError as exc:
                raise NginxError(f"cannot run {self.binary}: {exc}") from exc
        self._proc = proc
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.reload_timeout
        while True:
            if proc.returncode is not None:
                raise NginxError(f"nginx exited with code {proc.returncode} as it started: "
                                 + _messages(_read_from(self.error_log, offset), fallback="see " + str(self.error_log)))
            if _read_pid(self.pid_file) == proc.pid and any(_title(c).startswith(_WORKER_TITLE)
                                                            for c in _children(proc.pid)):
                break
            if loop.time() > deadline:
                await self._kill(proc)
                raise NginxError(f"nginx did not start within {self.reload_timeout:g}s; see {self.error_log}")
            await asyncio.sleep(_POLL_S)
        self._running_text = text
        log.info("nginx started: pid %d, config %s", proc.pid, self.conf)

    async def _reload(self, proc: asyncio.subprocess.Process) -> None:
        """SIGHUP the master and wait until the new config serves, or nginx says why not."""
        before = set(_children(proc.pid))
        offset = _size(self.error_log)
        proc.send_signal(signal.SIGHUP)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.reload_timeout
        while True:
            emerg = [line for line in _read_from(self.error_log, offset).splitlines() if "[emerg]" in line]
            in_use = any("failed (98:" in line for line in emerg)
            if emerg and (not in_use or any("still could not bind()" in line for line in emerg)):
                raise _KeptOldConfig("nginx kept its old config: " + _messages("\n".join(emerg), fallback=""))
            if proc.returncode is not None:
                raise NginxError(f"nginx exited with code {proc.returncode} while reloading; see {self.error_log}")
            children = _children(proc.pid)
            titles = {child: _title(child) for child in children}
            new = [c for c in children if c not in before and titles[c].startswith(_WORKER_TITLE)]
            accepting = [c for c in children if c in before and not titles[c].endswith(_SHUTTING_DOWN)
                         and titles[c] != ""]
            if new and not accepting:
                return
            if loop.time() > deadline:
                raise NginxError(f"nginx did not reload within {self.reload_timeout:g}s; see {self.error_log}")
            await asyncio.sleep(_POLL_S)

    async def _kill(self, proc: asyncio.subprocess.Process) -> None:
        _kill_now(proc.pid)
        await proc.wait()
        await self._reap_stragglers(proc.pid)

    async def _reap_stragglers(self, master: int) -> None:
        """Kill nginx processes left in the process group of ``master`` once it has ended (it was killed)."""
        for pid, (_ppid, pgrp, comm) in _processes().items():
            if pgrp == master and comm == "nginx" and pid != os.getpid():
                log.warning("killing nginx process %d left behind by master %d", pid, master)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    async def _stop_leftover(self) -> None:
        """Stop an nginx master of this work directory whose parent died without stopping it."""
        pid = _read_pid(self.pid_file)
        if pid is None or (self._proc is not None and pid == self._proc.pid):
            return
        title = _title(pid)
        if not (title.startswith("nginx: master process") and f" {self.conf} " in f" {title} "):
            return
        log.warning("stopping a leftover nginx (pid %d) of %s", pid, self.workdir)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.stop_timeout
        while _alive(pid) and loop.time() < deadline:
            await asyncio.sleep(_POLL_S)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        await self._reap_stragglers(pid)


def _kill_now(master: int) -> None:
    """SIGKILL the master ``master`` (our child: not yet reaped, so its pid is still its) and its workers."""
    workers = _children(master)
    for pid in (master, *workers):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _read_from(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _messages(out: str, *, fallback: str) -> str:
    """nginx's error lines in ``out`` (``[emerg] ...``), without timestamps and duplicates, joined."""
    found: list[str] = []
    for line in out.splitlines():
        match = re.search(r"\[(emerg|alert|crit|error)\] (?:\d+#\d+: )?(.*)", line)
        if match and match.group(2) not in found:
            found.append(match.group(2))
    return "; ".join(found) or fallback
