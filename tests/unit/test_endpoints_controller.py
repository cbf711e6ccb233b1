"""The Endpoints controller's pure parts: which pods are listed, how their ports are found, how
addresses and ports are packed into subsets (Kubernetes' RepackSubsets), and truncation past 1000
addresses — on Services and pods built in memory."""

from __future__ import annotations

from typing import Any

from controllers.endpoints import MAX_CAPACITY, endpoint_subsets, find_port, should_be_in_endpoints, truncate
from skiff.api.manifest import from_manifest, to_manifest
from skiff.api.v1 import core_pb2


def service(ports: list[dict[str, Any]] | None = None, **spec: Any) -> core_pb2.Service:
    body: dict[str, Any] = {"selector": {"app": "web"}, **spec}
    if ports is not None:
        body["ports"] = ports
    return from_manifest({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
                          "spec": body})


def pod(name: str, ip: str, *, ready: bool = True, phase: str = "Running", deleting: bool = False,
        ports: list[dict[str, Any]] | None = None, **spec: Any) -> core_pb2.Pod:
    meta: dict[str, Any] = {"name": name, "namespace": "default", "uid": f"uid-{name}", "labels": {"app": "web"}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    status: dict[str, Any] = {"phase": phase, "conditions": [{"type": "Ready", "status": str(ready)}]}
    if ip:
        status["podIP"] = ip
    return from_manifest({"apiVersion": "v1", "kind": "Pod", "metadata": meta,
                          "spec": {"nodeName": "n1", **spec,
                                   "containers": [{"name": "app", "image": "busybox", "ports": ports or []}]},
                          "status": status})


def packed(svc: core_pb2.Service, pods: list[core_pb2.Pod]) -> list[dict[str, Any]]:
    """The subsets as they read in the API (an Endpoints object's manifest)."""
    endpoints = core_pb2.Endpoints(api_version="v1", kind="Endpoints", subsets=endpoint_subsets(svc, pods))
    return list(to_manifest(endpoints).get("subsets", []))


def ips(subset: dict[str, Any], field: str = "addresses") -> list[str]:
    return [a["ip"] for a in subset.get(field, [])]


def test_ready_and_not_ready_pods_share_a_subset_per_port_set() -> None:
    svc = service([{"name": "http", "port": 80, "targetPort": 8080}])
    subsets = packed(svc, [pod("b", "10.0.0.2"), pod("a", "10.0.0.1"), pod("c", "10.0.0.3", ready=False)])
    assert len(subsets) == 1
    assert ips(subsets[0]) == ["10.0.0.1", "10.0.0.2"]  # sorted by IP
    assert ips(subsets[0], "notReadyAddresses") == ["10.0.0.3"]
    assert subsets[0]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    first = subsets[0]["addresses"][0]
    assert first["nodeName"] == "n1"
    assert first["targetRef"] == {"kind": "Pod", "namespace": "default", "name": "a", "uid": "uid-a"}


def test_terminal_terminating_and_ip_less_pods_are_left_out() -> None:
    svc = service([{"port": 80}])
    pods = [pod("ok", "10.0.0.1"), pod("done", "10.0.0.2", phase="Succeeded"),
            pod("failed", "10.0.0.3", phase="Failed"), pod("going", "10.0.0.4", deleting=True),
            pod("pending", "", phase="Pending")]
    assert [ips(s) for s in packed(svc, pods)] == [["10.0.0.1"]]
    assert should_be_in_endpoints(pods[3], include_terminating=True)


def test_publish_not_ready_addresses_lists_every_pod_as_ready() -> None:
    svc = service([{"port": 80}], publishNotReadyAddresses=True)
    subsets = packed(svc, [pod("a", "10.0.0.1", ready=False), pod("b", "10.0.0.2", deleting=True)])
    assert ips(subsets[0]) == ["10.0.0.1", "10.0.0.2"] and "notReadyAddresses" not in subsets[0]


def test_a_named_target_port_is_looked_up_per_pod() -> None:
    svc = service([{"name": "web", "port": 80, "targetPort": "http"}])
    on_8080 = pod("a", "10.0.0.1", ports=[{"name": "http", "containerPort": 8080}])
    on_9090 = pod("b", "10.0.0.2", ports=[{"name": "http", "containerPort": 9090}])
    without = pod("c", "10.0.0.3", ports=[{"name": "other", "containerPort": 7070}])
    udp = pod("d", "10.0.0.4", ports=[{"name": "http", "containerPort": 5353, "protocol": "UDP"}])
    assert find_port(without, svc.spec.ports[0]) is None
    assert find_port(udp, svc.spec.ports[0]) is None  # a name matches only with the same protocol
    subsets = packed(svc, [on_8080, on_9090, without, udp])
    assert [(ips(s), [p["port"] for p in s["ports"]]) for s in subsets] == [
        (["10.0.0.1"], [8080]), (["10.0.0.2"], [9090])]


def test_one_subset_per_set_of_addresses_offering_the_same_ports() -> None:
    svc = service([{"name": "a", "port": 80, "targetPort": "http"}, {"name": "b", "port": 81, "targetPort": 9000}])
    both = pod("x", "10.0.0.1", ports=[{"name": "http", "containerPort": 8080}])
    one = pod("y", "10.0.0.2")
    subsets = packed(svc, [both, one])
    assert [(ips(s), sorted(p["name"] for p in s["ports"])) for s in subsets] == [
        (["10.0.0.1"], ["a"]), (["10.0.0.1", "10.0.0.2"], ["b"])]


def test_a_headless_service_without_ports_lists_addresses_only_and_sets_hostnames() -> None:
    svc = service(None, clusterIP="None")
    member = pod("db-0", "10.0.0.1", hostname="db-0", subdomain="web")
    other = pod("x", "10.0.0.2", hostname="x", subdomain="elsewhere")
    subsets = packed(svc, [member, other])
    assert len(subsets) == 1 and "ports" not in subsets[0]
    assert [a.get("hostname") for a in subsets[0]["addresses"]] == ["db-0", None]
    assert packed(service(None), [member]) == []  # a ClusterIP Service without ports lists nothing


def test_more_than_the_capacity_is_truncated_ready_first() -> None:
    svc = service([{"port": 80}])
    pods = [pod(f"p{i}", f"10.0.{i // 250}.{i % 250}", ready=i % 2 == 0) for i in range(MAX_CAPACITY + 200)]
    subsets = endpoint_subsets(svc, pods)
    assert truncate(subsets)
    ready = sum(len(s.addresses) for s in subsets)
    assert ready + sum(len(s.not_ready_addresses) for s in subsets) == MAX_CAPACITY
    assert ready == (MAX_CAPACITY + 200) // 2  # every ready one kept
    assert not truncate(endpoint_subsets(svc, pods[:10]))
