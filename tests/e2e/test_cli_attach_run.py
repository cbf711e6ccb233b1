"""``skiffctl attach`` and ``skiffctl run -i/-t/--rm/--attach`` as a person runs them: etcd, the
apiserver, the scheduler and ``skiff kubelet --runtime fake`` as processes (tests/support/node.py).
A fake container started with ``stdin: true`` is a tiny shell on it (kubelet/runtime/fake.py): it
echoes each line, ``exit N`` ends it with code N, and the end of its stdin (``stdinOnce``) ends it
with 0 — so attach really round-trips through skiffctl, the apiserver and the kubelet.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator

import pytest

from tests.support.cli import skiffctl
from tests.support.node import Node
from tests.support.processes import BIN
from tests.support.waiting import OutputLines, wait_until

HINT = "If you don't see a command prompt, try pressing enter.\n"


@pytest.fixture(scope="module")
def node() -> Iterator[Node]:
    if shutil.which("etcd") is None:
        pytest.skip("etcd binary not found")
    with contextlib.closing(Node("fake")) as n:
        log = open(n.plane.root / "scheduler.log", "ab")  # noqa: SIM115 - owned by the process
        scheduler = subprocess.Popen([str(BIN / "python"), "-m", "skiff.daemons", "scheduler", "--server",
                                      n.plane.server, "--leader-elect=false"], stdout=log, stderr=log)
        try:
            yield n
        finally:
            scheduler.terminate()
            scheduler.wait(20)


@pytest.fixture
def ns(node: Node) -> str:
    return node.plane.new_namespace()


def _stdin_pod(node: Node, ns: str, name: str, *, once: bool = True, restart: str = "Always") -> None:
    """A pod bound to the node whose container keeps stdin open, Running once this returns."""
    node.apply(f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  nodeName: {node.name}
  restartPolicy: {restart}
  containers: [{{name: app, image: busybox, stdin: true, stdinOnce: {str(once).lower()}}}]
""", ns)
    node.wait(lambda: node.pod(name, ns).get("status", {}).get("phase") == "Running", f"pod {name} to run")


def test_attach_round_trips_stdin_as_typed(node: Node, ns: str) -> None:
    _stdin_pod(node, ns, "web", restart="Never")
    proc = subprocess.Popen([str(BIN / "skiffctl"), "attach", "web", "-i", "-n", ns], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=node.plane.env())
    try:
        assert proc.stdin is not None
        out = OutputLines(proc)
        proc.stdin.write("one\n")
        proc.stdin.flush()
        assert out.next() == "one"
        proc.stdin.write("two\n")
        proc.stdin.flush()
        assert out.next() == "two"
        proc.stdin.close()  # stdinOnce: the container sees EOF and exits 0; the session ends
        assert proc.wait(timeout=20) == 0
        assert proc.stderr is not None and proc.stderr.read() == HINT
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "one\ntwo\n" in node.ctl("logs", "web", "-n", ns).stdout
    counted = re.compile(rb'apiserver_request_total\{code="200",resource="pods/attach",verb="CONNECT"\} \d')
    wait_until(lambda: urllib.request.urlopen(f"http://127.0.0.1:{node.plane.metrics_port}/metrics", timeout=5).read(),
               until=counted.search, timeout=10, interval=0.2, what="the attach counted as CONNECT pods/attach")


def test_attach_tty_quiet_and_errors(node: Node, ns: str) -> None:
    _stdin_pod(node, ns, "web", restart="Never")
    r = node.ctl("attach", "web", "-c", "nope", "-n", ns, check=False)
    assert r.stderr == "error: cannot attach to the container: container nope not found in pod web\n"
    r = node.ctl("attach", "web", "-i", "-t", "-n", ns, stdin="hi\n")
    assert (r.returncode, r.stdout) == (0, "hi\n")
    assert r.stderr == "error: Unable to use a TTY - container app did not allocate one\n" + HINT
    node.wait(lambda: node.pod("web", ns).get("status", {}).get("phase") == "Succeeded", "pod web to succeed")
    r = node.ctl("attach", "web", "-q", "-n", ns, check=False)
    assert (r.returncode, r.stderr) == (1, "error: cannot attach a container in a completed pod; current phase is "
                                           "Succeeded\n")
    r = node.ctl("attach", "-n", ns, check=False)
    assert (r.returncode, r.stderr) == (1, "error: at least 1 argument is required for attach\n")
    r = node.ctl("attach", "nope", "-n", ns, check=False)
    assert r.stderr == 'Error from server (NotFound): pods "nope" not found\n'


def test_run_interactive_rm_pipes_stdin_and_deletes_the_pod(node: Node, ns: str) -> None:
    r = node.ctl("run", "t", "--image=busybox", "-i", "--rm", "--restart=Never", "-n", ns, stdin="hello\n")
    assert (r.returncode, r.stdout, r.stderr) == (0, 'hello\npod "t" deleted\n', HINT)
    assert node.ctl("get", "pod", "t", "-n", ns, check=False).returncode == 1


def test_run_interactive_failure_is_the_containers_exit_code(node: Node, ns: str) -> None:
    r = node.ctl("run", "t", "--image=busybox", "-i", "--rm", "-q", "--restart=Never", "-n", ns,
                 stdin="hello\nexit 3\n", check=False)
    assert (r.returncode, r.stdout, r.stderr) == (3, "hello\n", f"pod {ns}/t terminated (Error)\n")
    r = node.ctl("run", "kept", "--image=busybox", "-i", "--restart=Never", "-n", ns, stdin="bye\n")
    assert (r.returncode, r.stdout) == (0, "bye\n")
    pod = node.pod("kept", ns)
    container = pod["spec"]["containers"][0]
    assert (container.get("stdin"), container.get("stdinOnce"), container.get("tty")) == (True, True, None)
    assert pod["status"]["phase"] == "Succeeded"


def test_run_flag_errors_in_kubectls_words(node: Node, ns: str, capsys: pytest.CaptureFixture[str]) -> None:
    cases = {
        ("-t",): "error: -i/--stdin is required for containers with -t/--tty=true\n",
        ("--rm",): "error: --rm should only be used for attached containers\n",
        ("-i", "--dry-run=client"): "error: --dry-run=[server|client] can't be used with attached containers "
                                    "options (--attach, --stdin, or --tty)\n",
        ("-i", "--attach=false", "--rm"): "error: --rm should only be used for attached containers\n",
    }
    for flags, message in cases.items():
        code, _, err = skiffctl(["run", "t", "--image=busybox", *flags, "-n", ns, "-s", node.plane.server], capsys)
        assert (code, err) == (1, message), flags
    assert node.ctl("get", "pods", "-n", ns).stdout == ""
