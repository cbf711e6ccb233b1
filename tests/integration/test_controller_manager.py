"""The controller manager against a real apiserver and etcd: the ReplicaSet controller (create,
scale up and down with the right victims, adoption and release), the garbage collector in its
three propagation modes and after downtime, and leader election between two managers.

No kubelet runs: pods are bound and given a status by hand, and a pod bound to a node stays
terminating after a delete until the test finishes it (as its kubelet would).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from controllers.app import Flags, elector_for
from controllers.manager import ControllerManager, ManagerSettings
from skiff.api import errors
from skiff.api.manifest import from_manifest
from skiff.api.v1 import apps_pb2, core_pb2
from skiff.client.client import Client
from tests.support.cluster import client_for, eventually
from tests.support.processes import free_port

MINE = ("replicaset", "garbagecollector")
LEADER = 'leader_election_master_status{name="kube-controller-manager"}'


@contextlib.asynccontextmanager
async def manager(client: Client, controllers: tuple[str, ...] = MINE) -> AsyncIterator[ControllerManager]:
    m = ControllerManager(client, ManagerSettings(controllers=controllers, concurrent_gc_syncs=4))
    task = asyncio.create_task(m.run())
    try:
        await eventually(lambda: _value(bool(m.running) or task.done()), what="controllers to start")
        if task.done():
            task.result()
        yield m
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _value(v: bool) -> bool:
    return v


def replicaset(name: str = "web", replicas: int = 3) -> Any:
    return from_manifest({
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}}})


def bare_pod(name: str, labels: dict[str, str], owner: Any | None = None) -> Any:
    meta: dict[str, Any] = {"name": name, "namespace": "default", "labels": labels}
    if owner is not None:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner.metadata.name,
                                    "uid": owner.metadata.uid, "controller": True, "blockOwnerDeletion": True}]
    return from_manifest({"apiVersion": "v1", "kind": "Pod", "metadata": meta,
                          "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}})


async def pods_of(client: Client, app: str = "web", *, active: bool = True) -> list[core_pb2.Pod]:
    pods = (await client.list(core_pb2.Pod, namespace="default", label_selector=f"app={app}")).items
    return [p for p in pods if not (active and p.metadata.deletion_timestamp)]


def owned_by(pod: core_pb2.Pod, uid: str) -> bool:
    return any(r.uid == uid and r.controller for r in pod.metadata.owner_references)


async def wait_pods(client: Client, count: int, *, app: str = "web", timeout: float = 10) -> list[core_pb2.Pod]:
    found: list[core_pb2.Pod] = []

    async def check() -> bool:
        found[:] = await pods_of(client, app)
        return len(found) == count

    await eventually(check, timeout=timeout, what=f"{count} active pods of {app}")
    return found


async def gone(client: Client, cls: Any, name: str) -> bool:
    try:
        await client.get(cls, name, namespace="default")
    except errors.NotFound:
        return True
    return False


async def set_status(client: Client, pod: core_pb2.Pod, *, node: str, ready: bool) -> None:
    await client.bind(pod.metadata.name, node, namespace="default")
    fresh = await client.get(core_pb2.Pod, pod.metadata.name, namespace="default")
    fresh.status.phase = "Running"
    fresh.status.conditions.add(type="Ready", status="True" if ready else "False",
                                last_transition_time="2026-01-01T00:00:00Z")
    await client.update_status(fresh)


async def make_node(client: Client, name: str = "n1") -> None:
    await client.create(from_manifest({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
                                       "status": {"capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                                                  "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}}))


# ---- ReplicaSet ----


async def test_a_replicaset_creates_its_pods_and_reports_status(client: Client) -> None:
    async with manager(client):
        rs = await client.create(replicaset(replicas=3))
        pods = await wait_pods(client, 3)
        assert all(owned_by(p, rs.metadata.uid) and p.metadata.name.startswith("web-") for p in pods)

        async def status_written() -> bool:
            got = await client.get(apps_pb2.ReplicaSet, "web", namespace="default")
            return got.status.replicas == 3 and got.status.observed_generation == got.metadata.generation

        await eventually(status_written, what="status.replicas=3")
        await asyncio.sleep(0.3)  # no second wave of creates
        assert len(await pods_of(client)) == 3

        async def events() -> bool:
            evs = (await client.list(core_pb2.Event, namespace="default")).items
            return sum(e.reason == "SuccessfulCreate" and e.involved_object.name == "web" for e in evs) == 3

        await eventually(events, what="3 SuccessfulCreate events")


async def test_scale_down_removes_unassigned_then_not_ready_pods(client: Client) -> None:
    await make_node(client)
    async with manager(client):
        await client.create(replicaset(replicas=3))
        pods = sorted(await wait_pods(client, 3), key=lambda p: p.metadata.name)
        keeper, slow, _ = pods
        await set_status(client, keeper, node="n1", ready=True)
        await set_status(client, slow, node="n1", ready=False)
        await client.scale(apps_pb2.ReplicaSet, "web", 5)
        await wait_pods(client, 5)
        await client.scale(apps_pb2.ReplicaSet, "web", 1)
        (left,) = await wait_pods(client, 1)
        assert left.metadata.name == keeper.metadata.name
        terminating = [p for p in await pods_of(client, active=False) if p.metadata.deletion_timestamp]
        assert [p.metadata.name for p in terminating] == [slow.metadata.name]  # bound: its kubelet finishes it


async def test_orphans_are_adopted_and_pods_that_stop_matching_are_released(client: Client) -> None:
    await client.create(bare_pod("stray", {"app": "web"}))
    async with manager(client):
        rs = await client.create(replicaset(replicas=2))
        pods = await wait_pods(client, 2)
        assert "stray" in [p.metadata.name for p in pods]

        async def adopted() -> bool:
            stray = await client.get(core_pb2.Pod, "stray", namespace="default")
            return owned_by(stray, rs.metadata.uid)

        await eventually(adopted, what="the stray pod to be adopted")
        await client.patch(core_pb2.Pod, "stray", {"metadata": {"labels": {"app": "elsewhere"}}},
                           namespace="default")

        async def released() -> bool:
            stray = await client.get(core_pb2.Pod, "stray", namespace="default")
            return not stray.metadata.owner_references

        await eventually(released, what="the relabelled pod to be released")
        replacement = await wait_pods(client, 2)
        assert "stray" not in [p.metadata.name for p in replacement]


# ---- garbage collector ----


async def test_background_deletion_removes_the_dependents(client: Client) -> None:
    async with manager(client):
        await client.create(replicaset(replicas=3))
        await wait_pods(client, 3)
        await client.delete(apps_pb2.ReplicaSet, "web", namespace="default")
        await wait_pods(client, 0)


async def test_foreground_deletion_keeps_the_owner_until_its_pods_are_gone(client: Client) -> None:
    await make_node(client)
    async with manager(client):
        await client.create(replicaset(replicas=2))
        bound, _ = await wait_pods(client, 2)
        await set_status(client, bound, node="n1", ready=True)
        await client.delete(apps_pb2.ReplicaSet, "web", namespace="default", propagation_policy="Foreground")
        await wait_pods(client, 0)  # both deleted; the bound one still terminating
        await asyncio.sleep(0.5)
        rs = await client.get(apps_pb2.ReplicaSet, "web", namespace="default")
        assert rs.metadata.deletion_timestamp and list(rs.metadata.finalizers) == ["foregroundDeletion"]
        await client.delete(core_pb2.Pod, bound.metadata.name, namespace="default", grace_period_seconds=0)
        await eventually(lambda: gone(client, apps_pb2.ReplicaSet, "web"), what="the owner to go")


async def test_orphan_deletion_keeps_the_pods_without_their_owner(client: Client) -> None:
    async with manager(client, ("garbagecollector",)) as m:
        rs = await client.create(replicaset(replicas=2))
        for i in range(2):
            await client.create(bare_pod(f"p{i}", {"app": "web"}, owner=rs))
        gc: Any = m.running["garbagecollector"]
        # a dependent the collector has not seen yet cannot be orphaned (as in Kubernetes)
        await eventually(lambda: _value(len(gc.dependents(rs.metadata.uid)) == 2), what="the collector to see both")
        await client.delete(apps_pb2.ReplicaSet, "web", namespace="default", propagation_policy="Orphan")
        await eventually(lambda: gone(client, apps_pb2.ReplicaSet, "web"), what="the owner to go")
        pods = await pods_of(client)
        assert sorted(p.metadata.name for p in pods) == ["p0", "p1"]
        assert all(not p.metadata.owner_references for p in pods)


async def test_dependents_of_an_owner_deleted_while_the_collector_was_down_are_collected(client: Client) -> None:
    rs = await client.create(replicaset(replicas=2))
    for i in range(2):
        await client.create(bare_pod(f"p{i}", {"app": "web"}, owner=rs))
    survivor = await client.create(bare_pod("unowned", {"app": "web"}))
    await client.delete(apps_pb2.ReplicaSet, "web", namespace="default")
    assert len(await pods_of(client)) == 3
    async with manager(client, ("garbagecollector",)):
        await eventually(lambda: _only(client, survivor.metadata.name), what="the orphaned dependents to go")


async def _only(client: Client, name: str) -> bool:
    return [p.metadata.name for p in await pods_of(client)] == [name]


async def test_the_default_manager_runs_every_controller_and_a_deployment_cascades(client: Client) -> None:
    async with manager(client, ("*",)) as m:
        assert set(m.running) == {"deployment", "replicaset", "statefulset", "daemonset", "job", "cronjob",
                                  "ttl-after-finished", "endpoint", "nodelifecycle", "taint-eviction",
                                  "podgc", "garbagecollector"}
        await client.create(from_manifest({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}}}))
        pods = await wait_pods(client, 2)
        (rs,) = (await client.list(apps_pb2.ReplicaSet, namespace="default")).items
        assert all(owned_by(p, rs.metadata.uid) for p in pods)
        await client.delete(apps_pb2.Deployment, "web", namespace="default")
        await wait_pods(client, 0)
        await eventually(lambda: gone(client, apps_pb2.ReplicaSet, rs.metadata.name), what="the ReplicaSet to go")


# ---- leader election ----


async def test_only_the_leader_acts_and_a_standby_takes_over_when_it_dies(server: Any, client: Client) -> None:
    flags = Flags(server=None, bind_address="127.0.0.1", metrics_port=0, leader_elect=True, lease_duration=1.0,
                  renew_deadline=0.6, retry_period=0.1, lease_name="kube-controller-manager",
                  lease_namespace="kube-system", manager=ManagerSettings(controllers=MINE))
    clients = [client_for(server), client_for(server)]
    electors = [elector_for(c, flags, f"cm-{i}") for i, c in enumerate(clients)]
    managers = [ControllerManager(c, flags.manager) for c in clients]
    tasks = [asyncio.create_task(e.run(m.run)) for e, m in zip(electors, managers, strict=True)]
    try:
        await eventually(lambda: _value(any(e.is_leader for e in electors)), what="a leader")
        leader = next(i for i, e in enumerate(electors) if e.is_leader)
        standby = 1 - leader
        await client.create(replicaset(replicas=2))
        await wait_pods(client, 2)
        assert not electors[standby].is_leader and managers[standby].running == {}
        lease = await client.get(apps_pb2.Lease, "kube-controller-manager", namespace="kube-system")
        assert lease.spec.holder_identity == f"cm-{leader}"

        tasks[leader].cancel()  # dies without releasing the Lease
        with contextlib.suppress(asyncio.CancelledError):
            await tasks[leader]
        await eventually(lambda: _value(bool(managers[standby].running)), timeout=10, what="the standby to lead")
        await client.scale(apps_pb2.ReplicaSet, "web", 4)
        await wait_pods(client, 4)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for c in clients:
            await c.close()


def start_process(server: Any, metrics_port: int, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "controllers.app", "--server", f"127.0.0.1:{server.port}",
         "--leader-elect=true", "--leader-elect-lease-duration", "15", "--leader-elect-retry-period", "0.2",
         "--metrics-port", str(metrics_port), "--concurrent-replicaset-syncs", "2",
         "--controllers", "replicaset,garbagecollector"],
        stdout=log.open("ab"), stderr=subprocess.STDOUT)


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
        return str(response.read().decode())


async def test_the_command_leads_serves_metrics_and_hands_over_on_sigterm(
        server: Any, client: Client, tmp_path: Path) -> None:
    ports = [free_port(), free_port()]
    first = start_process(server, ports[0], tmp_path / "cm0.log")
    second: subprocess.Popen[bytes] | None = None
    try:
        await client.create(replicaset(replicas=2))
        await wait_pods(client, 2, timeout=20)
        second = start_process(server, ports[1], tmp_path / "cm1.log")
        await eventually(lambda: _scrapes(ports[1], f"{LEADER} 0.0"),
                         timeout=20, what="the second process to stand by")
        metrics = await asyncio.to_thread(scrape, ports[0])
        assert f"{LEADER} 1.0" in metrics
        assert 'workqueue_adds_total{name="replicaset"}' in metrics
        first.send_signal(signal.SIGTERM)  # releases the Lease: no 15 s wait for it to expire
        assert await asyncio.to_thread(first.wait, 10) == 0  # the in-process apiserver must keep serving
        loop = asyncio.get_running_loop()
        handed = loop.time()
        await eventually(lambda: _scrapes(ports[1], f"{LEADER} 1.0"),
                         timeout=10, what="the standby to lead")
        assert loop.time() - handed < 5
        await client.scale(apps_pb2.ReplicaSet, "web", 3)
        await wait_pods(client, 3, timeout=20)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


async def _scrapes(port: int, line: str) -> bool:
    try:
        return line in await asyncio.to_thread(scrape, port)
    except OSError:
        return False
