"""``skiffctl logs`` and ``skiffctl exec`` as a person runs them: a skiffctl process, an apiserver
process, and a fake kubelet (in this pytest process, on its own thread and event loop) that the
apiserver reaches through the Node's status. Pods are created already bound (``spec.nodeName``).
"""

from __future__ import annotations

import subprocess
import time

from tests.e2e.conftest import bound_pod
from tests.support.fake_kubelet import KubeletThread
from tests.support.processes import BIN, ControlPlane


def test_logs_of_a_pod(plane: ControlPlane, ns: str, kubelet: KubeletThread) -> None:
    bound_pod(plane, ns, "web", "nginx")
    kubelet.set_log(ns, "web", "nginx", "started\nserving\nGET /\n")
    assert plane.ctl("logs", "web", "-n", ns).stdout == "started\nserving\nGET /\n"
    assert plane.ctl("logs", "web", "-n", ns, "--tail=1").stdout == "GET /\n"
    stamped = plane.ctl("logs", "pod/web", "-n", ns, "--timestamps").stdout.splitlines()
    assert [line.split(" ", 1)[1] for line in stamped] == ["started", "serving", "GET /"]


def test_logs_previous_and_errors(plane: ControlPlane, ns: str, kubelet: KubeletThread) -> None:
    bound_pod(plane, ns, "web", "app")
    kubelet.set_log(ns, "web", "app", "now\n", previous="crashed\n")
    assert plane.ctl("logs", "web", "-n", ns, "--previous").stdout == "crashed\n"
    r = plane.ctl("logs", "nope", "-n", ns, check=False)
    assert (r.returncode, r.stderr.strip()) == (1, 'Error from server (NotFound): pods "nope" not found')
    r = plane.ctl("logs", "web", "-c", "sidecar", "-n", ns, check=False)
    assert (r.returncode, r.stderr.strip()) == (1, "Error from server (BadRequest): container sidecar is not "
                                                   "valid for pod web")
    bound_pod(plane, ns, "pending", "app", node="")
    r = plane.ctl("logs", "pending", "-n", ns, check=False)
    assert r.stderr.strip() == "Error from server (BadRequest): pod pending does not have a host assigned"


def test_several_containers_default_to_the_first(plane: ControlPlane, ns: str, kubelet: KubeletThread) -> None:
    bound_pod(plane, ns, "web", "app", "sidecar")
    kubelet.set_log(ns, "web", "app", "from app\n")
    kubelet.set_log(ns, "web", "sidecar", "from sidecar\n")
    r = plane.ctl("logs", "web", "-n", ns)
    assert r.stdout == "from app\n"
    assert r.stderr.strip() == 'Defaulted container "app" out of: app, sidecar'
    assert plane.ctl("logs", "web", "-c", "sidecar", "-n", ns).stdout == "from sidecar\n"
    assert plane.ctl("logs", "web", "--all-containers", "-n", ns).stdout == "from app\nfrom sidecar\n"


def test_logs_of_a_deployment_pick_one_of_its_pods(plane: ControlPlane, ns: str, kubelet: KubeletThread) -> None:
    plane.ctl("create", "-n", ns, "-f", "-", stdin="""
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: app, image: nginx}]}
""")
    bound_pod(plane, ns, "web-1", "app", labels="{app: web}")
    bound_pod(plane, ns, "other", "app", labels="{app: other}")
    kubelet.set_log(ns, "web-1", "app", "hello from web-1\n")
    assert plane.ctl("logs", "deploy/web", "-n", ns).stdout == "hello from web-1\n"


def test_logs_follow_streams_until_the_container_stops(plane: ControlPlane, ns: str,
                                                       kubelet: KubeletThread) -> None:
    bound_pod(plane, ns, "web", "app")
    kubelet.set_log(ns, "web", "app", "one\n")
    proc = plane.popen("logs", "-f", "web", "-n", ns)
    try:
        assert _read_line(proc) == "one\n"
        kubelet.append(ns, "web", "app", "two\n")
        assert _read_line(proc) == "two\n"
        kubelet.finish(ns, "web", "app")
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def _read_line(proc: subprocess.Popen[str], timeout: float = 20.0) -> str:
    """The next line skiffctl prints, failing after ``timeout`` seconds instead of hanging."""
    import selectors

    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sel.select(timeout=deadline - time.monotonic()):
                return proc.stdout.readline()
    raise AssertionError(f"skiffctl printed no line within {timeout}s")


def test_exec_output_and_exit_code(plane: ControlPlane, ns: str, kubelet: KubeletThread) -> None:
    bound_pod(plane, ns, "web", "app")
    r = plane.ctl("exec", "web", "-n", ns, "--", "sh", "-c", "echo out; echo err >&2")
    assert (r.stdout, r.stderr) == ("out\n", "err\n")
    r = plane.ctl("exec", "web", "-n", ns, "--", "sh", "-c", "exit 7", check=False)
    assert (r.returncode, r.stderr) == (7, "command terminated with exit code 7\n")
    r = plane.ctl("exec", "-n", ns, "web", "--", "ls", "-d", "/", check=False)
    assert (r.returncode, r.stdout) == (0, "/\n")


def test_exec_forwards_stdin(plane: ControlPlane, ns: str, kubelet: KubeletThread) -> None:
    bound_pod(plane, ns, "web", "app")
    r = plane.ctl("exec", "-i", "web", "-n", ns, "--", "sh", "-c", "tr a-z A-Z", stdin="hello\nworld\n")
    assert r.stdout == "HELLO\nWORLD\n"
    # Without -i the command's stdin is empty.
    assert plane.ctl("exec", "web", "-n", ns, "--", "cat", stdin="ignored\n").stdout == ""


def test_exec_tty_without_terminal_warns_and_runs(plane: ControlPlane, ns: str, kubelet: KubeletThread) -> None:
    bound_pod(plane, ns, "web", "app")
    r = plane.ctl("exec", "-it", "web", "-n", ns, "--", "cat", stdin="typed\n")
    assert r.stdout == "typed\n"
    assert r.stderr.strip() == "Unable to use a TTY - input is not a terminal or the right kind of file"


def test_exec_picks_the_named_container(plane: ControlPlane, ns: str, kubelet: KubeletThread) -> None:
    bound_pod(plane, ns, "web", "app", "sidecar")
    plane.ctl("exec", "web", "-c", "sidecar", "-n", ns, "--", "true")
    assert kubelet.kubelet.servicer.exec_starts[-1].container == "sidecar"
    r = plane.ctl("exec", "web", "-c", "nope", "-n", ns, "--", "true", check=False)
    assert r.stderr.strip() == "Error from server (BadRequest): container nope is not valid for pod web"


def test_exec_returns_when_the_command_exits_while_stdin_stays_open(plane: ControlPlane, ns: str,
                                                                    kubelet: KubeletThread) -> None:
    bound_pod(plane, ns, "web", "app")
    proc = subprocess.Popen([str(BIN / "skiffctl"), "exec", "-i", "web", "-n", ns, "--", "sh", "-c", "exit 2"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=plane.env())
    try:
        assert proc.wait(timeout=20) == 2  # stdin is still open: nothing waits for it
        assert proc.stderr is not None and proc.stderr.read() == "command terminated with exit code 2\n"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
