"""``skiffctl port-forward`` as a person runs it, to a real pod: etcd, the apiserver and
``skiff kubelet --runtime process`` run as processes (tests/support/node.py), the
pod is ``busybox httpd`` in its own network namespace, and skiffctl runs in the background while
the test fetches pages through the forwarded local port, reads what skiffctl printed, and stops
it with SIGINT as Ctrl-C would.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import signal
import socket
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.node import Node
from tests.support.processes import BIN
from tests.support.waiting import wait_until

DEADLINE_S = 30.0
FORWARDING = re.compile(r"^Forwarding from (127\.0\.0\.1|\[::1\]):(\d+) -> (\d+)$")


@pytest.fixture(scope="module")
def node() -> Iterator[Node]:
    if shutil.which("etcd") is None:
        pytest.skip("etcd binary not found")
    with contextlib.closing(Node("process")) as n:
        yield n


@pytest.fixture
def ns(node: Node) -> str:
    return node.plane.new_namespace()


class PortForward:
    """``skiffctl port-forward`` in the background; its output lines collected as they come."""

    def __init__(self, node: Node, *args: str) -> None:
        self.proc = subprocess.Popen([str(BIN / "skiffctl"), "port-forward", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=node.plane.env())
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [threading.Thread(target=self._collect, args=(stream, lines), daemon=True)
                         for stream, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _collect(stream: object, lines: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            lines.append(line.rstrip("\n"))

    def wait_out(self, count: int) -> list[str]:
        """The first ``count`` lines of stdout, once printed."""
        return wait_until(lambda: self.out[:count], until=lambda lines: len(lines) == count or self.exited(),
                          timeout=DEADLINE_S, interval=0.05, what=f"{count} lines from skiffctl (stderr: {self.err})")

    def exited(self) -> bool:
        return self.proc.poll() is not None

    def stop(self) -> int:
        """Ctrl-C, and the exit code."""
        self.proc.send_signal(signal.SIGINT)
        return self.wait()

    def wait(self) -> int:
        code = self.proc.wait(timeout=DEADLINE_S)
        for reader in self._readers:
            reader.join(timeout=DEADLINE_S)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@pytest.fixture
def forwards() -> Iterator[list[PortForward]]:
    started: list[PortForward] = []
    try:
        yield started
    finally:
        for forward in started:
            forward.kill()


def _httpd_pod(node: Node, ns: str, name: str = "web") -> None:
    """A pod serving ``hello from <name>`` with busybox httpd on its port 8080, named http."""
    root = Path(f"/tmp/skiff-e2e-pf-{ns}-{name}")
    script = (f"mkdir -p {root} && echo 'hello from {name}' > {root}/index.html && "
              f"exec busybox httpd -f -p 8080 -h {root}")
    node.apply(f"""apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{app: {name}}}}}
spec:
  nodeName: {node.name}
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: busybox:latest
    command: [busybox, sh, -c, {json.dumps(script)}]
    ports: [{{name: http, containerPort: 8080}}]
""", ns)
    node.wait(lambda: node.pod(name, ns).get("status", {}).get("phase") == "Running", f"{name} to run")


def _get(port: int, host: str = "127.0.0.1") -> str:
    """GET / through the forwarded port (retried while httpd is still starting in the pod)."""
    def fetch() -> str:
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/", timeout=5) as response:
                return str(response.read().decode())
        except OSError:
            return ""
    return wait_until(fetch, timeout=DEADLINE_S, interval=0.2, what=f"a page through {host}:{port}")


def _forwarded(lines: list[str]) -> list[tuple[str, int, int]]:
    matches = [FORWARDING.match(line) for line in lines]
    assert all(matches), lines
    return [(m.group(1), int(m.group(2)), int(m.group(3))) for m in matches if m]


def test_forward_a_pod_port_until_ctrl_c(node: Node, ns: str, forwards: list[PortForward]) -> None:
    _httpd_pod(node, ns)
    forward = PortForward(node, "pod/web", ":http", "-n", ns)
    forwards.append(forward)
    (first, port, remote), (second, port_again, _) = _forwarded(forward.wait_out(2))
    assert (first, second, remote, port_again) == ("127.0.0.1", "[::1]", 8080, port)  # one random port for both
    assert _get(port) == "hello from web\n"
    assert _get(port, "[::1]") == "hello from web\n"
    wait_until(lambda: forward.out[2:], until=lambda lines: len(lines) >= 2, timeout=DEADLINE_S, interval=0.05,
               what="the Handling connection lines")
    assert set(forward.out[2:]) == {f"Handling connection for {port}"}
    assert forward.stop() == 0
    assert forward.err == []


def test_forward_through_a_service_on_a_chosen_local_port(node: Node, ns: str, forwards: list[PortForward]) -> None:
    _httpd_pod(node, ns, "api")
    node.apply("apiVersion: v1\nkind: Service\nmetadata: {name: api}\nspec:\n  selector: {app: api}\n"
               "  ports: [{name: web, port: 80, targetPort: http}]\n", ns)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        local = probe.getsockname()[1]
    forward = PortForward(node, "-n", ns, "svc/api", f"{local}:web", "--address", "127.0.0.1")
    forwards.append(forward)
    assert forward.wait_out(1) == [f"Forwarding from 127.0.0.1:{local} -> 8080"]
    assert _get(local) == "hello from api\n"
    assert forward.stop() == 0


def test_a_refused_port_ends_the_session(node: Node, ns: str, forwards: list[PortForward]) -> None:
    _httpd_pod(node, ns)
    forward = PortForward(node, "web", ":9", "-n", ns, "--address", "127.0.0.1")  # nothing listens on 9
    forwards.append(forward)
    (_, port, _), = _forwarded(forward.wait_out(1))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.settimeout(DEADLINE_S)
        assert conn.recv(1) == b""  # closed without a byte
    assert forward.wait() == 1
    assert forward.out[1:] == [f"Handling connection for {port}"]
    first, last = forward.err
    assert re.fullmatch(rf"an error occurred forwarding {port} -> 9: error forwarding port 9 to pod \w+, uid [-\w]+: "
                        r"dial tcp [0-9.]+:9: connect: connection refused", first), first
    assert last == "error: lost connection to pod"


def test_a_pod_that_is_not_running(node: Node, ns: str) -> None:
    node.apply("apiVersion: v1\nkind: Pod\nmetadata: {name: waiting}\n"
               "spec: {containers: [{name: app, image: busybox}]}\n", ns)  # no scheduler here: it stays Pending
    r = node.ctl("port-forward", "waiting", "8080:80", "-n", ns, check=False)
    assert (r.returncode, r.stdout, r.stderr) == (
        1, "", "error: unable to forward port because pod is not running. Current status=Pending\n")
    r = node.ctl("port-forward", "nope", "8080", "-n", ns, check=False)
    assert (r.returncode, r.stderr) == (1, 'Error from server (NotFound): pods "nope" not found\n')


def test_the_session_ends_with_the_pod(node: Node, ns: str, forwards: list[PortForward]) -> None:
    _httpd_pod(node, ns)
    forward = PortForward(node, "web", ":8080", "-n", ns, "--address", "localhost")
    forwards.append(forward)
    (_, port, _), _ = _forwarded(forward.wait_out(2))
    assert _get(port) == "hello from web\n"
    node.ctl("delete", "pod", "web", "-n", ns, "--wait=false")
    assert forward.wait() == 1
    assert forward.err == ["error: lost connection to pod"]
