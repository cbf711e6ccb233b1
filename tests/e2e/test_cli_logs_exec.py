"""``skiffctl logs`` and ``skiffctl exec`` as a person runs them: a skiffctl process, an apiserver
process, and a fake kubelet (in this pytest process, on its own thread and event loop) that the
apiserver reaches through the Node's status. Pods are created already bound (``spec.nodeName``).
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from tests.e2e.conftest import bound_pod
from tests.support.fake_kubelet import KubeletThread
from tests.support.processes import BIN, ControlPlane
from tests.support.waiting import OutputLines, wait_until


def _web_deployment(plane: ControlPlane, ns: str) -> None:
    """Deployment ``web`` selecting ``app=web`` (no controller runs: its pods are made by hand)."""
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


@contextlib.contextmanager
def _background(plane: ControlPlane, *args: str) -> Iterator[subprocess.Popen[str]]:
    """skiffctl running in the background, killed at the end of the block if still running."""
    proc = plane.popen(*args)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


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
    _web_deployment(plane, ns)
    bound_pod(plane, ns, "web-1", "app", labels="{app: web}")
    bound_pod(plane, ns, "other", "app", labels="{app: other}")
    kubelet.set_log(ns, "web-1", "app", "hello from web-1\n")
    assert plane.ctl("logs", "deploy/web", "-n", ns).stdout == "hello from web-1\n"


def test_logs_follow_streams_until_the_container_stops(plane: ControlPlane, ns: str,
                                                       kubelet: KubeletThread) -> None:
    bound_pod(plane, ns, "web", "app")
    kubelet.set_log(ns, "web", "app", "one\n")
    with _background(plane, "logs", "-f", "web", "-n", ns) as proc:
        assert _read_line(proc) == "one\n"
        kubelet.append(ns, "web", "app", "two\n")
        assert _read_line(proc) == "two\n"
        kubelet.finish(ns, "web", "app")
        assert proc.wait(timeout=20) == 0


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


# ---- several pods: -l, --prefix, --all-pods, -f over several streams ----

def _two_web_pods(plane: ControlPlane, ns: str, kubelet: KubeletThread) -> None:
    bound_pod(plane, ns, "web-1", "app", labels="{app: web}")
    bound_pod(plane, ns, "web-2", "app", labels="{app: web}")
    bound_pod(plane, ns, "other", "app", labels="{app: other}")
    kubelet.set_log(ns, "web-1", "app", "".join(f"one {i}\n" for i in range(12)))
    kubelet.set_log(ns, "web-2", "app", "two 0\ntwo 1\n")
    kubelet.set_log(ns, "other", "app", "not me\n")


def test_logs_of_a_selector_with_prefix_and_tail(plane: ControlPlane, ns: str, kubelet: KubeletThread) -> None:
    _two_web_pods(plane, ns, kubelet)
    # kubectl's default --tail=10 with a selector; the pods in list order, one after the other.
    out = plane.ctl("logs", "-l", "app=web", "--prefix", "-n", ns).stdout.splitlines()
    assert out == [f"[pod/web-1/app] one {i}" for i in range(2, 12)] + ["[pod/web-2/app] two 0",
                                                                        "[pod/web-2/app] two 1"]
    assert plane.ctl("logs", "-n", ns, "-l", "app=web", "--tail=1").stdout == "one 11\ntwo 1\n"
    assert len(plane.ctl("logs", "-n", ns, "-l", "app=web", "--tail=-1").stdout.splitlines()) == 14
    r = plane.ctl("logs", "-n", ns, "-l", "app=nothing")
    assert (r.stdout, r.stderr) == ("", f"No resources found in {ns} namespace.\n")
    r = plane.ctl("logs", "-n", ns, "-l", "app=web", "web-1", check=False)
    assert (r.returncode, r.stderr) == (1, "error: only a selector (-l) or a POD name is allowed\n"
                                           "See 'skiffctl logs -h' for help and examples\n")


def test_logs_since_time_and_limit_bytes_reach_the_kubelet(plane: ControlPlane, ns: str,
                                                           kubelet: KubeletThread) -> None:
    bound_pod(plane, ns, "web", "app")
    kubelet.set_log(ns, "web", "app", "hello\n")
    requests = kubelet.kubelet.servicer.log_requests
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert plane.ctl("logs", "web", "-n", ns, f"--since-time={an_hour_ago}").stdout == "hello\n"
    assert requests[-1].since_time == an_hour_ago.replace("Z", ".000000Z")
    assert not requests[-1].HasField("since_seconds")
    plane.ctl("logs", "web", "-n", ns, "--limit-bytes=3")
    assert requests[-1].limit_bytes == 3 and not requests[-1].HasField("since_seconds")
    r = plane.ctl("logs", "web", "-n", ns, "--since=1h", f"--since-time={an_hour_ago}", check=False)
    assert (r.returncode, r.stderr) == (1, "error: at most one of `sinceTime` or `sinceSeconds` may be specified\n")


def test_following_more_streams_than_max_log_requests_fails(plane: ControlPlane, ns: str,
                                                            kubelet: KubeletThread) -> None:
    _two_web_pods(plane, ns, kubelet)
    r = plane.ctl("logs", "-f", "-l", "app=web", "-n", ns, "--max-log-requests=1", check=False)
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == ("error: you are attempting to follow 2 log streams, but maximum allowed concurrency is 1, "
                        "use --max-log-requests to increase the limit\n")
    assert kubelet.kubelet.servicer.open_log_streams == 0


def test_follow_a_selector_interleaves_the_pods_lines(plane: ControlPlane, ns: str, kubelet: KubeletThread) -> None:
    _two_web_pods(plane, ns, kubelet)
    with _background(plane, "logs", "-f", "-l", "app=web", "--prefix", "--tail=1", "-n", ns) as proc:
        out = OutputLines(proc)
        assert {out.next(), out.next()} == {"[pod/web-1/app] one 11", "[pod/web-2/app] two 1"}
        kubelet.append(ns, "web-2", "app", "two 2\n")
        assert out.next() == "[pod/web-2/app] two 2"
        kubelet.append(ns, "web-1", "app", "one 12\n")
        assert out.next() == "[pod/web-1/app] one 12"
        kubelet.finish(ns, "web-1", "app")
        kubelet.append(ns, "web-2", "app", "two 3\n")  # web-1 ended: web-2 goes on
        assert out.next() == "[pod/web-2/app] two 3"
        kubelet.finish(ns, "web-2", "app")
        assert proc.wait(timeout=20) == 0


def test_follow_with_ignore_errors_goes_on_past_a_failing_stream(plane: ControlPlane, ns: str,
                                                                 kubelet: KubeletThread) -> None:
    bound_pod(plane, ns, "web-1", "app", labels="{app: web}")
    bound_pod(plane, ns, "web-2", "app", labels="{app: web}")  # no log: the kubelet refuses it
    kubelet.set_log(ns, "web-1", "app", "up\n")
    with _background(plane, "logs", "-f", "-l", "app=web", "--ignore-errors", "-n", ns) as proc:
        out = OutputLines(proc)
        assert {out.next(), out.next()} == {
            "up", 'error: container "app" in pod "web-2" is waiting to start: ContainerCreating'}
        kubelet.append(ns, "web-1", "app", "still up\n")
        assert out.next() == "still up"
        kubelet.finish(ns, "web-1", "app")
        assert proc.wait(timeout=20) == 0
    r = plane.ctl("logs", "-f", "-l", "app=web", "-n", ns, check=False)  # without: the failure ends it all
    assert r.returncode == 1 and "is waiting to start: ContainerCreating" in r.stderr
    wait_until(lambda: kubelet.kubelet.servicer.open_log_streams, until=lambda n: n == 0, timeout=10,
               interval=0.05, what="the kubelet's log streams to close")


def test_logs_of_all_pods_of_a_workload_and_waiting_for_one(plane: ControlPlane, ns: str,
                                                            kubelet: KubeletThread) -> None:
    _web_deployment(plane, ns)
    r = plane.ctl("logs", "deploy/web", "-n", ns, "--pod-running-timeout=1s", check=False)
    assert (r.returncode, r.stderr) == (1, "error: timed out waiting for the condition\n")
    kubelet.set_log(ns, "web-1", "app", "first\n")
    # Without pods, logs waits (20s by default) for the deployment's first one.
    with _background(plane, "logs", "deploy/web", "-n", ns) as proc:
        bound_pod(plane, ns, "web-1", "app", labels="{app: web}")
        assert OutputLines(proc).next() == "first"
        assert proc.wait(timeout=20) == 0
    bound_pod(plane, ns, "web-2", "app", labels="{app: web}")
    kubelet.set_log(ns, "web-1", "app", "one 10\none 11\n")
    kubelet.set_log(ns, "web-2", "app", "two 0\ntwo 1\n")
    lines = plane.ctl("logs", "deploy/web", "--all-pods", "--tail=1", "-n", ns).stdout.splitlines()
    assert sorted(lines) == ["[pod/web-1/app] one 11", "[pod/web-2/app] two 1"]


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
