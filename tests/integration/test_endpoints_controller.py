"""The Endpoints controller against a real apiserver and etcd: a Service's Endpoints follow its
pods — created with the ready ones, a pod that stops being ready moves to notReadyAddresses, a
deleted pod leaves, a label change moves a pod out of the selector — and go when the Service goes.
Services without a selector keep the Endpoints written by hand. No kubelet runs: the test writes
pod IPs and Ready conditions as a kubelet would.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from controllers.endpoints import EndpointsController
from skiff.api import errors
from skiff.api.manifest import from_manifest
from skiff.api.v1 import core_pb2
from skiff.client.client import Client
from tests.support.cluster import eventually
from tests.support.controllers import running


def endpoints_controller(client: Client) -> contextlib.AbstractAsyncContextManager[list[Any]]:
    return running(client, lambda c, i, r: EndpointsController(c, i, r, workers=2), component="endpoint-controller")


async def running_pod(client: Client, name: str, ip: str, *, ready: bool = True) -> core_pb2.Pod:
    await client.create(from_manifest({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": "busybox",
                                 "ports": [{"name": "http", "containerPort": 8080}]}]}}))
    await client.bind(name, "n1", namespace="default")
    return await set_ready(client, name, ip, ready)


async def set_ready(client: Client, name: str, ip: str, ready: bool) -> core_pb2.Pod:
    pod = await client.get(core_pb2.Pod, name, namespace="default")
    pod.status.phase, pod.status.pod_ip = "Running", ip
    del pod.status.conditions[:]
    pod.status.conditions.add(type="Ready", status="True" if ready else "False")
    return await client.update_status(pod)


async def subsets_are(client: Client, ready: list[str], not_ready: list[str], what: str) -> core_pb2.Endpoints:
    found: list[core_pb2.Endpoints] = []

    async def check() -> bool:
        try:
            endpoints = await client.get(core_pb2.Endpoints, "web", namespace="default")
        except errors.NotFound:
            return False
        found[:] = [endpoints]
        got_ready = sorted(a.ip for s in endpoints.subsets for a in s.addresses)
        got_not_ready = sorted(a.ip for s in endpoints.subsets for a in s.not_ready_addresses)
        return got_ready == ready and got_not_ready == not_ready

    await eventually(check, what=what)
    return found[0]


async def test_endpoints_follow_the_selected_pods(client: Client) -> None:
    async with endpoints_controller(client):
        await running_pod(client, "a", "10.1.0.1")
        await running_pod(client, "b", "10.1.0.2", ready=False)
        await client.create(from_manifest({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default",
                                                                "labels": {"tier": "front"}},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "web", "port": 80, "targetPort": "http"}]}}))
        endpoints = await subsets_are(client, ["10.1.0.1"], ["10.1.0.2"], "a ready and b not ready")
        assert dict(endpoints.metadata.labels) == {"tier": "front"}
        assert [(p.name, p.port, p.protocol) for p in endpoints.subsets[0].ports] == [("web", 8080, "TCP")]
        assert endpoints.subsets[0].addresses[0].target_ref.name == "a"

        await set_ready(client, "b", "10.1.0.2", True)
        await subsets_are(client, ["10.1.0.1", "10.1.0.2"], [], "b ready")
        await set_ready(client, "a", "10.1.0.1", False)
        await subsets_are(client, ["10.1.0.2"], ["10.1.0.1"], "a not ready")
        await client.patch(core_pb2.Pod, "b", {"metadata": {"labels": {"app": "other"}}}, namespace="default")
        await subsets_are(client, [], ["10.1.0.1"], "b out of the selector")
        await client.delete(core_pb2.Pod, "a", namespace="default", grace_period_seconds=0)
        await subsets_are(client, [], [], "a deleted")

        await client.delete(core_pb2.Service, "web", namespace="default")

        async def gone() -> bool:
            try:
                await client.get(core_pb2.Endpoints, "web", namespace="default")
            except errors.NotFound:
                return True
            return False

        await eventually(gone, what="the Endpoints deleted with the Service")


async def test_a_service_without_selector_keeps_its_hand_written_endpoints(client: Client) -> None:
    async with endpoints_controller(client):
        await client.create(from_manifest({"apiVersion": "v1", "kind": "Service",
                                           "metadata": {"name": "web", "namespace": "default"},
                                           "spec": {"ports": [{"port": 80}]}}))
        await client.create(from_manifest({"apiVersion": "v1", "kind": "Endpoints",
                                           "metadata": {"name": "web", "namespace": "default"},
                                           "subsets": [{"addresses": [{"ip": "192.0.2.10"}],
                                                        "ports": [{"port": 80}]}]}))
        await running_pod(client, "a", "10.1.0.1")
        await asyncio.sleep(0.3)  # a sync would have rewritten it by now
        endpoints = await client.get(core_pb2.Endpoints, "web", namespace="default")
        assert [a.ip for s in endpoints.subsets for a in s.addresses] == ["192.0.2.10"]


async def test_a_headless_service_gets_the_headless_label(client: Client) -> None:
    async with endpoints_controller(client):
        await running_pod(client, "a", "10.1.0.1")
        await client.create(from_manifest({"apiVersion": "v1", "kind": "Service",
                                           "metadata": {"name": "web", "namespace": "default"},
                                           "spec": {"clusterIP": "None", "selector": {"app": "web"}}}))
        endpoints = await subsets_are(client, ["10.1.0.1"], [], "the headless service's address")
        assert dict(endpoints.metadata.labels) == {"service.kubernetes.io/headless": ""}
        assert not endpoints.subsets[0].ports
