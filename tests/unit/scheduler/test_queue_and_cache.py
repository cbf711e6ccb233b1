"""The scheduling queue's order, backoff and parking, and the cache's assumed pods — on a fake
clock, no sleeping."""

from __future__ import annotations

from scheduler.cache import SchedulerCache
from scheduler.framework.types import PodInfo
from scheduler.queue import SchedulingQueue
from skiff.api.v1 import core_pb2


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def make_pod(name: str, *, priority: int = 0, created: str = "2026-01-01T00:00:00Z", cpu: str = "",
             node: str = "") -> core_pb2.Pod:
    p = core_pb2.Pod()
    p.metadata.name, p.metadata.namespace, p.metadata.creation_timestamp = name, "default", created
    p.spec.priority = priority
    c = p.spec.containers.add(name="c", image="i")
    if cpu:
        c.resources.requests["cpu"] = cpu
    if node:
        p.spec.node_name = node
    return p


def make_node(name: str, cpu: str = "2") -> core_pb2.Node:
    n = core_pb2.Node()
    n.metadata.name = name
    n.status.allocatable["cpu"] = cpu
    n.status.allocatable["pods"] = "10"
    return n


def test_priority_then_creation_order() -> None:
    q = SchedulingQueue(clock=Clock())
    q.add(PodInfo.of(make_pod("late", created="2026-01-01T00:00:09Z")))
    q.add(PodInfo.of(make_pod("early", created="2026-01-01T00:00:01Z")))
    q.add(PodInfo.of(make_pod("vip", priority=100, created="2026-01-01T00:00:20Z")))
    order = [q.pop_nowait().info.name for _ in range(3)]  # type: ignore[union-attr]
    assert order == ["vip", "early", "late"]
    assert q.pop_nowait() is None


def test_adding_twice_queues_once() -> None:
    q = SchedulingQueue(clock=Clock())
    q.add(PodInfo.of(make_pod("a")))
    q.add(PodInfo.of(make_pod("a")))
    assert q.pop_nowait() is not None and q.pop_nowait() is None


def test_backoff_doubles_to_ten_seconds() -> None:
    q = SchedulingQueue(clock=Clock())
    assert [q.backoff_duration(n) for n in (1, 2, 3, 4, 5, 6)] == [1, 2, 4, 8, 10, 10]


def test_unschedulable_pods_wait_for_an_event_or_sixty_seconds() -> None:
    clock = Clock()
    q = SchedulingQueue(clock=clock)
    q.add(PodInfo.of(make_pod("a")))
    queued = q.pop_nowait()
    assert queued is not None
    q.requeue_unschedulable(queued)
    clock.t += 30
    assert q.pop_nowait() is None and q.counts()["unschedulable"] == 1
    clock.t += 31
    assert q.pop_nowait() is not None  # flushed after 60 s


def test_a_cluster_event_moves_parked_pods_through_backoff() -> None:
    clock = Clock()
    q = SchedulingQueue(clock=clock)
    q.add(PodInfo.of(make_pod("a")))
    queued = q.pop_nowait()
    assert queued is not None
    q.requeue_unschedulable(queued)
    q.move_all()
    assert q.counts()["backoff"] == 1 and q.pop_nowait() is None
    clock.t += 1.0
    assert q.pop_nowait() is not None


def test_an_event_during_the_cycle_sends_the_failure_to_backoff() -> None:
    clock = Clock()
    q = SchedulingQueue(clock=clock)
    q.add(PodInfo.of(make_pod("a")))
    queued = q.pop_nowait()
    assert queued is not None
    q.move_all()  # e.g. a node was added while this pod was being scheduled
    q.requeue_unschedulable(queued)
    assert q.counts() == {"active": 0, "backoff": 1, "unschedulable": 0}


def test_deleted_pods_are_not_popped() -> None:
    q = SchedulingQueue(clock=Clock())
    q.add(PodInfo.of(make_pod("a")))
    q.delete("default/a")
    assert q.pop_nowait() is None and len(q) == 0


def test_assumed_pods_count_until_forgotten_or_expired() -> None:
    clock = Clock()
    cache = SchedulerCache(assume_ttl=30, clock=clock)
    cache.set_node(make_node("n1"))
    info = PodInfo.of(make_pod("a", cpu="1500m"))
    cache.assume(info, "n1")
    assert cache.nodes["n1"].requested.milli_cpu == 1500 and cache.is_assumed("default/a")
    cache.forget(info)
    assert cache.nodes["n1"].requested.milli_cpu == 0
    cache.assume(info, "n1")
    clock.t += 31
    assert cache.expire_assumed() == ["default/a"]
    assert cache.nodes["n1"].requested.milli_cpu == 0


def test_a_bound_pod_confirms_the_assumption_and_stays() -> None:
    clock = Clock()
    cache = SchedulerCache(assume_ttl=30, clock=clock)
    cache.set_node(make_node("n1"))
    cache.assume(PodInfo.of(make_pod("a", cpu="1")), "n1")
    cache.add_bound_pod(make_pod("a", cpu="1", node="n1"))
    clock.t += 100
    assert cache.expire_assumed() == [] and cache.nodes["n1"].requested.milli_cpu == 1000
    cache.remove_pod("default/a")
    assert cache.nodes["n1"].requested.milli_cpu == 0


def test_pods_seen_before_their_node_count_once_it_arrives() -> None:
    cache = SchedulerCache()
    cache.add_bound_pod(make_pod("a", cpu="1", node="later"))
    cache.set_node(make_node("later"))
    assert cache.nodes["later"].requested.milli_cpu == 1000 and cache.pods_on("later") == 1


def test_pod_requests_follow_kubernetes_rules() -> None:
    p = make_pod("a")
    p.spec.containers[0].resources.limits["cpu"] = "2"  # limits stand in for missing requests
    init = p.spec.init_containers.add(name="init", image="i")
    init.resources.requests["cpu"] = "3"
    side = p.spec.init_containers.add(name="side", image="i", restart_policy="Always")
    side.resources.requests["cpu"] = "500m"
    info = PodInfo.of(p)
    # app 2 + sidecar 0.5 = 2.5; the init container (3, before the sidecar started) peaks higher
    assert info.requests.milli_cpu == 3000 and info.requests.pods == 1
    assert PodInfo.of(make_pod("b")).non_zero_requests.milli_cpu == 100
