"""The scheduler against a real apiserver and etcd, with Node objects and no kubelet."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from scheduler.app import Flags, build_scheduler
from scheduler.scheduler import Scheduler
from skiff.api.manifest import from_manifest
from skiff.api.v1 import core_pb2
from skiff.client.client import Client
from skiff.client.leaderelection import LeaderElectionConfig, LeaderElector
from tests.support.cluster import eventually

FLAGS = Flags(server=None, bind_address="127.0.0.1", port=0, metrics_port=0, leader_elect=False, lease_duration=1.0,
              renew_deadline=0.6, retry_period=0.1, scheduler_name="default-scheduler",
              scoring_strategy="LeastAllocated", percentage_of_nodes_to_score=0)


def node(name: str, *, cpu: str = "4", memory: str = "8Gi", pods: str = "110", labels: dict[str, str] | None = None,
         taints: list[dict[str, str]] | None = None, unschedulable: bool = False) -> Any:
    doc: dict[str, Any] = {"apiVersion": "v1", "kind": "Node",
                           "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
                           "spec": {"unschedulable": unschedulable, "taints": taints or []},
                           "status": {"capacity": {"cpu": cpu, "memory": memory, "pods": pods},
                                      "allocatable": {"cpu": cpu, "memory": memory, "pods": pods}}}
    return from_manifest(doc)


def pod(name: str, *, cpu: str = "", spec: dict[str, Any] | None = None, namespace: str = "default") -> Any:
    container: dict[str, Any] = {"name": "app", "image": "busybox"}
    if cpu:
        container["resources"] = {"requests": {"cpu": cpu}}
    return from_manifest({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
                          "spec": {"containers": [container], **(spec or {})}})


@contextlib.asynccontextmanager
async def scheduling(client: Client) -> AsyncIterator[Scheduler]:
    sched = build_scheduler(client, FLAGS)
    task = asyncio.create_task(sched.run())
    try:
        yield sched
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def node_of(client: Client, name: str) -> str:
    return (await client.get(core_pb2.Pod, name)).spec.node_name


def pending_message(p: core_pb2.Pod) -> str:
    return next((c.message for c in p.status.conditions if c.type == "PodScheduled" and c.status == "False"), "")


async def wait_bound(client: Client, names: list[str], timeout: float = 15) -> dict[str, str]:
    placed: dict[str, str] = {}

    async def all_bound() -> bool:
        for n in names:
            placed[n] = await node_of(client, n)
        return all(placed.values())

    await eventually(all_bound, timeout=timeout, what=f"{len(names)} pods to bind")
    return placed


async def wait_pending_with(client: Client, name: str, message: str, timeout: float = 15) -> None:
    async def has() -> bool:
        return pending_message(await client.get(core_pb2.Pod, name)) == message

    await eventually(has, timeout=timeout, what=f"pod {name} pending with {message!r}")


async def test_requests_fit_and_the_rest_wait_with_the_reason(client: Client) -> None:
    for i in range(3):
        await client.create(node(f"n{i}", cpu="2"))
    async with scheduling(client):
        for i in range(6):
            await client.create(pod(f"p{i}", cpu="1"))
        placed = await wait_bound(client, [f"p{i}" for i in range(6)])
        assert sorted(placed.values()) == ["n0", "n0", "n1", "n1", "n2", "n2"]
        await client.create(pod("extra", cpu="1"))
        await wait_pending_with(client, "extra", "0/3 nodes are available: 3 Insufficient cpu.")
        events = await client.list(core_pb2.Event, namespace="default", field_selector="involvedObject.name=extra")
        assert any(e.reason == "FailedScheduling" and e.type == "Warning" for e in events.items)


async def test_a_race_of_100_pods_for_50_slots(client: Client) -> None:
    for i in range(5):
        await client.create(node(f"n{i}", cpu="10"))
    async with scheduling(client):
        await asyncio.gather(*(client.create(pod(f"p{i:03d}", cpu="1")) for i in range(100)))
        message = "0/5 nodes are available: 5 Insufficient cpu."

        async def settled() -> bool:
            pods = (await client.list(core_pb2.Pod, namespace="default")).items
            bound = [p for p in pods if p.spec.node_name]
            waiting = [p for p in pods if not p.spec.node_name and pending_message(p) == message]
            return len(bound) == 50 and len(waiting) == 50

        await eventually(settled, timeout=30, what="50 bound and 50 pending")
        pods = (await client.list(core_pb2.Pod, namespace="default")).items
        per_node: dict[str, int] = {}
        for p in pods:
            if p.spec.node_name:
                per_node[p.spec.node_name] = per_node.get(p.spec.node_name, 0) + 1
        assert per_node == {f"n{i}": 10 for i in range(5)}


async def test_node_selector_affinity_and_taints(client: Client) -> None:
    await client.create(node("ssd", labels={"disk": "ssd", "zone": "a"}))
    await client.create(node("hdd", labels={"disk": "hdd", "zone": "b"}))
    await client.create(node("gpu", labels={"zone": "c"}, taints=[{"key": "dedicated", "value": "gpu",
                                                                    "effect": "NoSchedule"}]))
    async with scheduling(client):
        await client.create(pod("sel", spec={"nodeSelector": {"disk": "ssd"}}))
        req = {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]}]}}}}
        await client.create(pod("req", spec=req))
        pref = {"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "preference": {"matchExpressions": [{"key": "disk", "operator": "In",
                                                                   "values": ["hdd"]}]}}]}}}
        await client.create(pod("pref", spec=pref))
        tol = {"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}],
               "nodeSelector": {"zone": "c"}}
        await client.create(pod("tol", spec=tol))
        await client.create(pod("notol", spec={"nodeSelector": {"zone": "c"}}))
        placed = await wait_bound(client, ["sel", "req", "pref", "tol"])
        assert placed == {"sel": "ssd", "req": "hdd", "pref": "hdd", "tol": "gpu"}
        await wait_pending_with(client, "notol", "0/3 nodes are available: 1 node(s) had untolerated taint "
                                                 "{dedicated: gpu}, 2 node(s) didn't match Pod's node "
                                                 "affinity/selector.")


async def test_cordon_and_a_node_that_appears_later(client: Client) -> None:
    await client.create(node("only", unschedulable=True))
    async with scheduling(client):
        await client.create(pod("waiting"))
        await wait_pending_with(client, "waiting", "0/1 nodes are available: 1 node(s) were unschedulable.")
        await client.create(node("fresh"))
        placed = await wait_bound(client, ["waiting"], timeout=5)
        assert placed == {"waiting": "fresh"}


async def test_a_stopped_scheduler_has_ended_its_binds_and_informers(client: Client) -> None:
    """run() returns once every task it started has ended, a bind still in flight included."""
    await client.create(node("n1"))
    sched = build_scheduler(client, FLAGS)
    binding, ended = asyncio.Event(), asyncio.Event()

    class StuckBinds:
        def __getattr__(self, name: str) -> Any:
            return getattr(client, name)

        async def bind(self, *args: Any, **kwargs: Any) -> None:
            binding.set()
            try:
                await asyncio.Event().wait()
            finally:
                await asyncio.sleep(0.05)  # ends a little while after its cancellation
                ended.set()

    sched.client = StuckBinds()  # type: ignore[assignment]
    before = set(asyncio.all_tasks())
    task = asyncio.create_task(sched.run())
    await client.create(pod("stuck"))
    await eventually(lambda: _is_set(binding), what="a bind in flight")
    started = [t for t in set(asyncio.all_tasks()) - before  # the scheduler's own: informers and the bind
               if getattr(t.get_coro(), "__qualname__", "") in ("Informer.run", "Scheduler._bind")]
    assert len(started) == 3, started
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert ended.is_set()
    assert all(t.done() for t in started), [t for t in started if not t.done()]


async def _is_set(event: asyncio.Event) -> bool:
    return event.is_set()


async def test_leader_failover(client: Client) -> None:
    await client.create(node("n1"))
    config: Callable[[str], LeaderElectionConfig] = lambda ident: LeaderElectionConfig(  # noqa: E731
        "kube-system", "kube-scheduler", ident, 1.0, 0.6, 0.1)
    first, second = build_scheduler(client, FLAGS), build_scheduler(client, FLAGS)
    elector_a, elector_b = LeaderElector(client, config("a")), LeaderElector(client, config("b"))
    task_a = asyncio.create_task(elector_a.run(first.run))

    async def leads(e: LeaderElector) -> bool:
        return e.is_leader

    await eventually(lambda: leads(elector_a), what="a to lead")
    task_b = asyncio.create_task(elector_b.run(second.run))
    await client.create(pod("one"))
    await wait_bound(client, ["one"])

    async def counted(scheduler: Any, n: int) -> bool:  # the counter moves once the bind call has returned,
        return bool(scheduler.scheduled == n)            # which can be after the binding shows in the API

    await eventually(lambda: counted(first, 1), what="the first scheduler to count its bind")
    assert first.scheduled == 1 and second.scheduled == 0
    task_a.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task_a
    await eventually(lambda: leads(elector_b), timeout=5, what="b to take over")
    await client.create(pod("two"))
    await wait_bound(client, ["two"])
    await eventually(lambda: counted(second, 1), what="the second scheduler to count its bind")
    assert second.scheduled == 1 and first.scheduled == 1
    task_b.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task_b


async def test_explain_through_the_apiserver_and_metrics(client: Client) -> None:
    import grpc
    from prometheus_client import REGISTRY, generate_latest

    from scheduler.service import SchedulerServicer, advertise
    from skiff.api.v1 import scheduler_pb2, scheduler_pb2_grpc
    from skiff.cli.commands.schedule import render

    await client.create(node("small", cpu="1"))
    await client.create(node("big", cpu="8"))
    await client.create(node("tainted", cpu="8", taints=[{"key": "dedicated", "value": "gpu",
                                                          "effect": "NoSchedule"}]))
    async with scheduling(client) as sched:
        server = grpc.aio.server()
        scheduler_pb2_grpc.add_SchedulerServicer_to_server(SchedulerServicer(sched, "test-scheduler"), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        await advertise(client, "127.0.0.1", port)
        await client.create(pod("fits", cpu="2"))
        await wait_bound(client, ["fits"])
        stub = scheduler_pb2_grpc.SchedulerStub(client.channel)
        answer = await client.call(stub.Explain, scheduler_pb2.ExplainRequest(namespace="default", name="fits"))
        by_node = {n.node: n for n in answer.nodes}
        assert answer.winner == "big" and answer.scheduler == "test-scheduler"
        assert not by_node["small"].feasible and not by_node["tainted"].feasible  # bound: NodeName pins it
        await client.create(pod("huge", cpu="64"))
        await wait_pending_with(client, "huge", "0/3 nodes are available: 1 node(s) had untolerated taint "
                                                "{dedicated: gpu}, 2 Insufficient cpu.")
        answer = await client.call(stub.Explain, scheduler_pb2.ExplainRequest(namespace="default", name="huge"))
        by_node = {n.node: n for n in answer.nodes}
        assert answer.winner == "" and answer.message.startswith("0/3 nodes are available")
        assert [v.reasons for v in by_node["small"].filters if v.code != "Success"] == [["Insufficient cpu"]]
        assert [v.reasons for v in by_node["tainted"].filters if v.code != "Success"] == [
            ["node(s) had untolerated taint {dedicated: gpu}"], ["Insufficient cpu"]]
        text = render(answer)
        assert "pod default/huge fits no node: 0/3 nodes are available" in text and "Insufficient cpu" in text
        await server.stop(0)
    metrics = generate_latest(REGISTRY).decode()
    for name in ("scheduler_schedule_attempts_total", "scheduler_scheduling_attempt_duration_seconds",
                 "scheduler_pod_scheduling_duration_seconds", "scheduler_pending_pods",
                 "scheduler_framework_extension_point_duration_seconds"):
        assert name in metrics, name
    assert 'scheduler_schedule_attempts_total{profile="default-scheduler",result="unschedulable"}' in metrics
