"""The pod status the kubelet builds (kubelet/status.py) against Kubernetes 1.32's kubelet:
generateAPIPodStatus, convertToAPIContainerStatuses, getPhase and the Initialized / Ready /
ContainersReady conditions (pkg/kubelet/status/generate.go) — and what `get pods` then prints."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kubelet.runtime.fake import FakeRuntime
from kubelet.runtime.interface import ContainerInfo, State
from kubelet.server import find_container
from kubelet.status import ContainerView, PodView, Waiting, build_status
from skiff.api import errors
from skiff.api.manifest import from_manifest
from skiff.api.v1 import core_pb2
from skiff.cli.columns import pod_tally

NOW = datetime(2026, 1, 10, 12, 0, 0, tzinfo=UTC).timestamp()


def make_pod(containers: list[str], *, init: list[str] = (), sidecars: list[str] = (), policy: str = "Always",
             **spec: Any) -> core_pb2.Pod:
    def container(name: str, **extra: Any) -> dict[str, Any]:
        return {"name": name, "image": "busybox", **extra}

    init_containers = [container(n, restartPolicy="Always") if n in sidecars else container(n) for n in init]
    return from_manifest({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
                          "spec": {"containers": [container(n) for n in containers],
                                   "initContainers": init_containers, "restartPolicy": policy, **spec}})


def running(name: str, attempt: int = 0) -> ContainerInfo:
    return ContainerInfo(id=f"{name}-{attempt}", name=name, pod_uid="u", attempt=attempt, state=State.RUNNING,
                         started_at=NOW - 30)


def exited(name: str, code: int, attempt: int = 0, finished: float = 10) -> ContainerInfo:
    return ContainerInfo(id=f"{name}-{attempt}", name=name, pod_uid="u", attempt=attempt, state=State.EXITED,
                         exit_code=code, started_at=NOW - finished - 1, finished_at=NOW - finished)


def view(name: str, current: ContainerInfo | None = None, *, ready: bool | None = None,
         previous: ContainerInfo | None = None, waiting: Waiting | None = None) -> ContainerView:
    up = current is not None and current.state == State.RUNNING
    return ContainerView(name=name, image="busybox", current=current, previous=previous, waiting=waiting,
                         restart_count=current.attempt if current else 0,
                         ready=up if ready is None else ready, started=up)


def status(pod: core_pb2.Pod, app: list[ContainerView], init: list[ContainerView] = (),
           terminal: str = "") -> core_pb2.PodStatus:
    return build_status(PodView(pod=pod, pod_ip="10.0.0.5", host_ip="10.0.0.1", init=list(init), app=app,
                                terminal_phase=terminal))


def conditions(s: core_pb2.PodStatus) -> dict[str, tuple[str, str, str]]:
    return {c.type: (c.status, c.reason, c.message) for c in s.conditions}


def printed(pod: core_pb2.Pod, s: core_pb2.PodStatus) -> tuple[str, str]:
    pod.status.CopyFrom(s)
    tally = pod_tally(pod)
    return f"{tally.ready}/{tally.total}", tally.reason


def test_containers_not_started_yet_wait_in_pod_initializing_when_the_pod_has_init_containers() -> None:
    pod = make_pod(["app"], init=["one", "two"])
    s = status(pod, [view("app")], [view("one"), view("two")])
    assert [c.state.waiting.reason for c in s.init_container_statuses] == ["PodInitializing", "PodInitializing"]
    assert s.container_statuses[0].state.waiting.reason == "PodInitializing"
    assert printed(pod, s) == ("0/1", "Init:0/2")
    # the init containers are done, the app container not started yet: kubectl says PodInitializing
    s = status(pod, [view("app")], [view("one", exited("one", 0)), view("two", exited("two", 0))])
    assert s.phase == "Pending"
    assert printed(pod, s) == ("0/1", "PodInitializing")


def test_without_init_containers_a_container_not_started_yet_is_creating() -> None:
    pod = make_pod(["app"])
    s = status(pod, [view("app")])
    assert s.container_statuses[0].state.waiting.reason == "ContainerCreating"
    assert printed(pod, s) == ("0/1", "ContainerCreating")


def test_an_init_container_is_started_while_it_runs_and_ready_once_it_succeeded() -> None:
    pod = make_pod(["app"], init=["one", "two"])
    s = status(pod, [view("app")], [view("one", exited("one", 0)), view("two", running("two"))])
    one, two = s.init_container_statuses
    assert (one.ready, one.started) == (True, False)
    assert (two.ready, two.started) == (False, True)
    assert conditions(s)["Initialized"] == ("False", "ContainersNotInitialized",
                                            "containers with incomplete status: [two]")


def test_a_pod_with_a_started_sidecar_runs_and_is_initialized() -> None:
    pod = make_pod(["app"], init=["proxy"], sidecars=["proxy"])
    s = status(pod, [view("app", running("app"))], [view("proxy", running("proxy"))])
    assert s.phase == "Running"
    assert conditions(s)["Initialized"] == ("True", "", "")
    assert conditions(s)["Ready"] == ("True", "", "")
    assert printed(pod, s) == ("2/2", "Running")


def test_an_unready_sidecar_keeps_the_pod_unready() -> None:
    pod = make_pod(["app"], init=["proxy"], sidecars=["proxy"])
    s = status(pod, [view("app", running("app"))], [view("proxy", running("proxy"), ready=False)])
    assert s.phase == "Running"
    assert conditions(s)["ContainersReady"] == ("False", "ContainersNotReady",
                                                "containers with unready status: [proxy]")
    assert printed(pod, s) == ("1/2", "Running")


def test_a_container_waiting_for_its_image_keeps_the_pod_pending_even_if_another_runs() -> None:
    pod = make_pod(["app", "side"])
    s = status(pod, [view("app", running("app")), view("side", waiting=Waiting("ImagePullBackOff", "x"))])
    assert s.phase == "Pending"
    assert printed(pod, s) == ("1/2", "ImagePullBackOff")


def test_a_container_in_crash_loop_shows_the_run_that_just_ended_as_its_last_state() -> None:
    pod = make_pod(["app"])
    latest = exited("app", 3, attempt=1, finished=5)
    s = status(pod, [view("app", latest, previous=exited("app", 3, attempt=0, finished=40),
                          waiting=Waiting("CrashLoopBackOff", "back-off 10s"))])
    app = s.container_statuses[0]
    assert app.state.waiting.reason == "CrashLoopBackOff"
    assert app.last_state.terminated.container_id == "app-1"  # not the run before it
    assert s.phase == "Running"
    pod.status.CopyFrom(s)
    tally = pod_tally(pod)
    assert tally.last_restart is not None and tally.last_restart.timestamp() == NOW - 5


def test_a_finished_pod_reports_pod_completed_or_pod_failed() -> None:
    pod = make_pod(["app"], init=["one"], policy="OnFailure")
    done = status(pod, [view("app", exited("app", 0))], [view("one", exited("one", 0))])
    assert done.phase == "Succeeded"
    assert conditions(done)["Initialized"] == ("True", "PodCompleted", "")
    assert conditions(done)["Ready"] == ("False", "PodCompleted", "")
    assert conditions(done)["ContainersReady"] == ("False", "PodCompleted", "")
    assert printed(pod, done) == ("0/1", "Completed")

    pod = make_pod(["app"], policy="Never")
    failed = status(pod, [view("app", exited("app", 3))])
    assert failed.phase == "Failed"
    assert conditions(failed)["Ready"] == ("False", "PodFailed", "")
    assert conditions(failed)["ContainersReady"] == ("False", "PodFailed", "")
    assert printed(pod, failed) == ("0/1", "Error")


def test_a_failed_init_container_under_restart_policy_never_fails_the_pod() -> None:
    pod = make_pod(["app"], init=["one"], policy="Never")
    s = status(pod, [view("app")], [view("one", exited("one", 2))])
    assert s.phase == "Failed"
    assert conditions(s)["Initialized"] == ("False", "ContainersNotInitialized",
                                            "containers with incomplete status: [one]")
    assert conditions(s)["Ready"] == ("False", "PodFailed", "")
    assert printed(pod, s) == ("0/1", "Init:Error")


def test_an_init_container_in_crash_loop_keeps_the_pod_pending() -> None:
    pod = make_pod(["app"], init=["one"])
    s = status(pod, [view("app")], [view("one", exited("one", 2, attempt=1),
                                         waiting=Waiting("CrashLoopBackOff", "back-off 10s"))])
    assert s.phase == "Pending"
    assert s.init_container_statuses[0].last_state.terminated.exit_code == 2
    assert printed(pod, s) == ("0/1", "Init:CrashLoopBackOff")


def test_conditions_come_in_the_kubelets_order_after_the_ones_it_does_not_own() -> None:
    pod = make_pod(["app"], readinessGates=[{"conditionType": "example.com/lb"}])
    pod.status.conditions.add(type="example.com/lb", status="False")
    s = status(pod, [view("app", running("app"))])
    assert [c.type for c in s.conditions] == ["example.com/lb", "PodReadyToStartContainers", "Initialized", "Ready",
                                              "ContainersReady", "PodScheduled"]
    assert conditions(s)["Ready"] == ("False", "ReadinessGatesNotReady",
                                      'the status of pod readiness gate "example.com/lb" is not "True", but False')
    assert conditions(s)["ContainersReady"] == ("True", "", "")


async def test_logs_of_a_container_not_started_yet_say_why_it_waits() -> None:
    pod = make_pod(["app"], init=["one"])
    pod.status.CopyFrom(status(pod, [view("app")], [view("one", running("one"))]))
    try:
        await find_container(FakeRuntime(node_name="n"), pod, "app")
    except errors.BadRequest as exc:
        assert 'container "app" in pod "p" is waiting to start: PodInitializing' in str(exc)
    else:
        raise AssertionError("no error")
