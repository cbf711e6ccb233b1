"""Real processes for end-to-end tests: etcd and ``skiff apiserver`` as subprocesses, and a
``skiffctl`` runner that captures what a person would see."""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import EtcdProcess
from tests.support.waiting import wait_until

BIN = Path(sys.executable).parent
_NAMESPACES = itertools.count(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listens(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    wait_until(lambda: _listens(port), timeout=timeout, interval=0.05, what=f"something to listen on 127.0.0.1:{port}")


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


class ControlPlane:
    """etcd + ``skiff apiserver`` as real processes, and ``ctl()`` to run skiffctl against them."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="skiff-e2e-"))
        self.etcd = EtcdProcess(self.root / "etcd")
        self.port = free_port()
        self.metrics_port = free_port()
        self.home = self.root / "home"
        self.home.mkdir()
        self.apiserver: subprocess.Popen[bytes] | None = None

    @property
    def server(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, *extra: str) -> None:
        self.etcd.start()
        log = open(self.root / "apiserver.log", "ab")  # noqa: SIM115 - owned by the process
        self.apiserver = subprocess.Popen(
            [str(BIN / "python"), "-m", "skiff.daemons", "apiserver", "--etcd-servers", self.etcd.url,
             "--port", str(self.port), "--metrics-port", str(self.metrics_port), *extra],
            stdout=log, stderr=log)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.apiserver is not None and self.apiserver.poll() is None:
            self.apiserver.terminate()
            try:
                self.apiserver.wait(10)
            except subprocess.TimeoutExpired:
                self.apiserver.kill()
        self.etcd.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("SKIFF_SERVER", "SKIFF_CONFIG")}
        return {**env, "HOME": str(self.home), "SKIFF_SERVER": self.server}

    def ctl(self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 60) -> Result:
        """Run skiffctl; with check, a non-zero exit fails the test with what it printed."""
        done = subprocess.run([str(BIN / "skiffctl"), *args], input=stdin, capture_output=True, text=True,
                              env=self.env(), timeout=timeout)
        result = Result(done.returncode, done.stdout, done.stderr)
        if check and done.returncode != 0:
            raise AssertionError(f"skiffctl {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
        return result

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """skiffctl in the background (for -w / -f streams); the caller terminates it."""
        return subprocess.Popen([str(BIN / "skiffctl"), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=self.env())

    def new_namespace(self) -> str:
        name = f"t{next(_NAMESPACES)}"
        self.ctl("create", "-f", "-", stdin=f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}}}\n")
        return name


def running_plane() -> Iterator[ControlPlane]:
    """A started ControlPlane for a fixture to yield from (skipped without the etcd binary), stopped after."""
    if shutil.which("etcd") is None:
        pytest.skip("etcd binary not found")
    cp = ControlPlane()
    cp.start()
    try:
        yield cp
    finally:
        cp.stop()
