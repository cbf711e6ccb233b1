"""``skiffctl wait`` as a person runs it, against real etcd + apiserver processes.

No kubelet runs here, so the tests write the status themselves (UpdateStatus through the client
library). A wait that must see a change runs in the background; the test changes the object only
once the apiserver counts a pod watcher (its ``apiserver_registered_watchers`` metric), so the
change really happens during the wait, and reads what it printed with a deadline.
"""

from __future__ import annotations

import asyncio
import re
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from skiff.api.v1 import core_pb2
from skiff.client.client import Client
from tests.support.plane_client import create
from tests.support.processes import ControlPlane, Result
from tests.support.samples import sample
from tests.support.waiting import wait_until

DEADLINE = 30.0


def pod(name: str, *, labels: dict[str, str] | None = None) -> dict[str, Any]:
    doc = sample("Pod", name=name)
    doc["metadata"]["labels"] = labels or {"app": "demo"}
    doc["spec"]["terminationGracePeriodSeconds"] = 0
    return doc


def change_status(plane: ControlPlane, ns: str, name: str, change: Callable[[core_pb2.Pod], None]) -> None:
    async def go() -> None:
        async with Client(plane.server) as client:
            obj = await client.get(core_pb2.Pod, name, namespace=ns)
            change(obj)
            await client.update_status(obj, namespace=ns)

    asyncio.run(go())


def set_ready(plane: ControlPlane, ns: str, name: str, status: str = "True") -> None:
    def change(obj: core_pb2.Pod) -> None:
        del obj.status.conditions[:]
        obj.status.conditions.add(type="Ready", status=status)

    change_status(plane, ns, name, change)


def delete_pod(plane: ControlPlane, ns: str, name: str) -> None:
    async def go() -> None:
        async with Client(plane.server) as client:
            await client.delete(core_pb2.Pod, name, namespace=ns, grace_period_seconds=0)

    asyncio.run(go())


def pod_watchers(plane: ControlPlane) -> int:
    text = urllib.request.urlopen(f"http://127.0.0.1:{plane.metrics_port}/metrics", timeout=5).read().decode()
    found = re.search(r'^apiserver_registered_watchers\{resource="pods"\} (\S+)$', text, re.M)
    return int(float(found.group(1))) if found else 0


@contextmanager
def waiting(plane: ControlPlane, *args: str) -> Iterator[Callable[[], Result]]:
    """``skiffctl wait ARGS`` in the background, once no pod watch is open; yields a function that
    blocks until the wait is watching. The caller reads the Result after the block."""
    wait_until(lambda: pod_watchers(plane), until=lambda n: n == 0, timeout=DEADLINE, interval=0.05,
               what="no pod watchers before the wait starts")
    proc = plane.popen("wait", *args)
    result: list[Result] = []

    def finish() -> Result:
        out, err = proc.communicate(timeout=DEADLINE)
        result.append(Result(proc.returncode, out, err))
        return result[0]

    try:
        wait_until(lambda: pod_watchers(plane) > 0 or proc.poll() is not None, timeout=DEADLINE, interval=0.05,
                   what="skiffctl wait to watch the pod")
        yield finish
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_condition_already_true(plane: ControlPlane, ns: str) -> None:
    create(plane, ns, pod("p"))
    set_ready(plane, ns, "p")
    r = plane.ctl("wait", "--for=condition=Ready", "pod/p", "-n", ns)
    assert (r.returncode, r.stdout, r.stderr) == (0, "pod/p condition met\n", "")
    r = plane.ctl("wait", "pods", "p", "--for", "condition=ready=TRUE", "--timeout=0", "-n", ns)
    assert r.stdout == "pod/p condition met\n"


def test_condition_becoming_true_during_the_wait(plane: ControlPlane, ns: str) -> None:
    create(plane, ns, pod("p"))
    set_ready(plane, ns, "p", "False")
    with waiting(plane, "--for=condition=Ready", "pod/p", "-n", ns, "--timeout=60s") as finish:
        change_status(plane, ns, "p", lambda o: setattr(o.status, "phase", "Pending"))  # not yet
        set_ready(plane, ns, "p")
        r = finish()
    assert (r.returncode, r.stdout, r.stderr) == (0, "pod/p condition met\n", "")


def test_timeout_and_check_once(plane: ControlPlane, ns: str) -> None:
    create(plane, ns, pod("p", labels={"app": "x"}))
    r = plane.ctl("wait", "--for=condition=Ready", "pod/p", "--timeout=1s", "-n", ns, check=False)
    assert (r.returncode, r.stdout, r.stderr) == (1, "", "error: timed out waiting for the condition on pods/p\n")
    r = plane.ctl("wait", "--for=condition=Ready", "pod/p", "--timeout=0", "-n", ns, check=False)
    assert (r.returncode, r.stderr) == (1, "error: condition not met for pods/p\n")


def test_errors(plane: ControlPlane, ns: str) -> None:
    r = plane.ctl("wait", "--for=condition=Ready", "pod/nope", "-n", ns, check=False)
    assert (r.returncode, r.stderr) == (1, 'Error from server (NotFound): pods "nope" not found\n')
    r = plane.ctl("wait", "--for=condition=Ready", "pods", "-l", "app=none", "-n", ns, check=False)
    assert (r.returncode, r.stderr) == (1, "error: no matching resources found\n")
    r = plane.ctl("wait", "--for=foo", "pod/p", "-n", ns, check=False)
    assert (r.returncode, r.stderr) == (1, 'error: unrecognized condition: "foo"\n')
    r = plane.ctl("wait", "--for=delete", "pod/p", "--timeout=1", "-n", ns, check=False)
    assert r.stderr == 'error: invalid argument "1" for "--timeout" flag: time: missing unit in duration "1"\n'
    r = plane.ctl("wait", "--for=delete", "pod/nope", "-n", ns)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")


def test_delete_during_the_wait(plane: ControlPlane, ns: str) -> None:
    create(plane, ns, pod("p"))
    with waiting(plane, "--for=delete", "pod/p", "-n", ns) as finish:
        delete_pod(plane, ns, "p")
        r = finish()
    assert (r.returncode, r.stdout, r.stderr) == (0, "pod/p condition met\n", "")


def test_jsonpath_value_and_existence(plane: ControlPlane, ns: str) -> None:
    create(plane, ns, pod("p"))
    with waiting(plane, "--for=jsonpath={.status.phase}=Running", "pod/p", "-n", ns) as finish:
        change_status(plane, ns, "p", lambda o: setattr(o.status, "phase", "Pending"))
        change_status(plane, ns, "p", lambda o: setattr(o.status, "phase", "Running"))
        r = finish()
    assert (r.returncode, r.stdout, r.stderr) == (0, "pod/p condition met\n", "")
    r = plane.ctl("wait", "--for=jsonpath=.status.podIP", "pod/p", "--timeout=1s", "-n", ns, check=False)
    assert r.stderr == "error: timed out waiting for the condition on pods/p\n"
    change_status(plane, ns, "p", lambda o: setattr(o.status, "pod_ip", "10.244.0.9"))
    assert plane.ctl("wait", "--for=jsonpath=.status.podIP", "pod/p", "-n", ns).stdout == "pod/p condition met\n"


def test_selector_over_two_pods(plane: ControlPlane, ns: str) -> None:
    create(plane, ns, pod("a", labels={"app": "web"}), pod("b", labels={"app": "web"}),
           pod("c", labels={"app": "db"}))
    set_ready(plane, ns, "a")
    with waiting(plane, "--for=condition=Ready", "pods", "-l", "app=web", "-n", ns) as finish:
        set_ready(plane, ns, "b")
        r = finish()
    assert (r.returncode, r.stdout, r.stderr) == (0, "pod/a condition met\npod/b condition met\n", "")


def test_create_during_the_wait(plane: ControlPlane, ns: str) -> None:
    proc = plane.popen("wait", "--for=create", "pod/late", "-n", ns)
    try:
        create(plane, ns, pod("late"))
        out, err = proc.communicate(timeout=DEADLINE)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert (proc.returncode, out, err) == (0, "pod/late condition met\n", "")
    r = plane.ctl("wait", "--for=create", "pod/never", "--timeout=600ms", "-n", ns, check=False)
    assert (r.returncode, r.stderr) == (1, "error: timed out waiting for the condition\n")


def test_delete_by_selector_counts_an_object_gone_before_its_turn(plane: ControlPlane, ns: str) -> None:
    create(plane, ns, pod("a", labels={"app": "web"}), pod("b", labels={"app": "web"}))
    with waiting(plane, "--for=delete", "pods", "-l", "app=web", "-n", ns) as finish:
        delete_pod(plane, ns, "b")
        delete_pod(plane, ns, "a")
        r = finish()
    assert (r.returncode, r.stdout, r.stderr) == (0, "pod/a condition met\npod/b condition met\n", "")


def test_all_namespaces(plane: ControlPlane, ns: str) -> None:
    other = plane.new_namespace()
    create(plane, ns, pod("a", labels={"run": ns}))
    create(plane, other, pod("b", labels={"run": ns}))
    set_ready(plane, ns, "a")
    set_ready(plane, other, "b")
    r = plane.ctl("wait", "--for=condition=Ready", "pods", "-l", f"run={ns}", "-A", "--timeout=0")
    assert (r.returncode, r.stdout, r.stderr) == (0, "pod/a condition met\npod/b condition met\n", "")
    r = plane.ctl("wait", "--for=condition=Ready", "pod/a", "-A", check=False)
    assert r.stderr == "error: a resource cannot be retrieved by name across all namespaces\n"
