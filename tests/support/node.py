"""``Node``: a control plane of real processes plus one ``skiff kubelet`` process with a real runtime
(process or docker), driven through skiffctl as a person would — for the end-to-end tests that
need pods that really run. On a timeout its ``wait`` says what the node was doing."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

from tests.support.processes import BIN, ControlPlane, free_port
from tests.support.runtime_cleanup import purge
from tests.support.waiting import wait_until


class Node:
    """A control plane plus one kubelet process."""

    def __init__(self, runtime: str) -> None:
        self.runtime = runtime
        self.plane = ControlPlane()
        self.plane.start()
        self.name = f"node-{runtime}"
        self.kubelet: subprocess.Popen[bytes] | None = None
        self.start_kubelet()

    def start_kubelet(self) -> None:
        log = open(self.plane.root / f"kubelet-{self.runtime}.log", "ab")  # noqa: SIM115
        self.kubelet = subprocess.Popen(
            [str(BIN / "python"), "-m", "skiff.daemons", "kubelet", "--server", self.plane.server, "--runtime",
             self.runtime, "--node-name", self.name, "--root-dir", str(self.plane.root / "kubelet"), "--port",
             str(free_port()), "--crash-loop-backoff-initial", "1", "--crash-loop-backoff-max", "8",
             "--node-status-update-frequency", "2", "--housekeeping-interval", "1"], stdout=log, stderr=log)
        self.wait(lambda: self.json("get", "node", self.name, check=False).get("status", {}).get("conditions"),
                  "the node to register", timeout=30)

    def stop_kubelet(self) -> None:
        if self.kubelet is not None and self.kubelet.poll() is None:
            self.kubelet.terminate()
            self.kubelet.wait(20)

    def close(self) -> None:
        self.stop_kubelet()
        purge(self.runtime, self.plane.root / "kubelet", self.name)
        self.plane.stop()

    def ctl(self, *args: str, stdin: str | None = None, check: bool = True) -> Any:
        return self.plane.ctl(*args, stdin=stdin, check=check)

    def json(self, *args: str, check: bool = True) -> dict[str, Any]:
        result = self.ctl(*args, "-o", "json", check=check)
        return json.loads(result.stdout) if result.returncode == 0 and result.stdout.strip() else {}

    def apply(self, manifest: str, ns: str) -> None:
        self.ctl("apply", "-n", ns, "-f", "-", stdin=manifest)

    def pod(self, name: str, ns: str) -> dict[str, Any]:
        return self.json("get", "pod", name, "-n", ns, check=False)

    def wait(self, check: Callable[[], Any], what: str, timeout: float = 40) -> Any:
        """``wait_until`` that, when it times out, says what the node was doing (see ``diagnosis``)."""
        try:
            return wait_until(check, timeout=timeout, interval=0.2, what=what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.diagnosis()}") from None

    def diagnosis(self) -> str:
        """Every pod described (with its events), the kubelet's log and the stack of its every task."""
        described = self.ctl("describe", "pods", "-A", check=False).stdout
        path = self.plane.root / f"kubelet-{self.runtime}.log"
        if self.kubelet is not None and self.kubelet.poll() is None:
            self.kubelet.send_signal(signal.SIGUSR1)  # the kubelet logs the stack of every task
            with contextlib.suppress(AssertionError):
                wait_until(lambda: "(SIGUSR1)" in path.read_text(errors="replace"), timeout=5, interval=0.1,
                           what="the kubelet's task dump")
        log = path.read_text(errors="replace")[-20000:]
        return f"{described}\n--- kubelet log (end) ---\n{log}"


@contextlib.contextmanager
def node_with_controllers(runtime: str, *components: str) -> Iterator[Node]:
    """A Node plus ``components`` (default: the scheduler and the controller-manager) as processes,
    stopped with it."""
    with contextlib.closing(Node(runtime)) as node:
        log = open(node.plane.root / "components.log", "ab")  # noqa: SIM115 - owned by the processes
        python = [str(BIN / "python"), "-m", "skiff.daemons"]
        procs = [subprocess.Popen([*python, component, "--server", node.plane.server, "--leader-elect=false"],
                                  stdout=log, stderr=log)
                 for component in components or ("scheduler", "controller-manager")]
        try:
            yield node
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(20)
