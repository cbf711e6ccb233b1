"""A pod's DNS settings from the kubelet to the file its containers read: a real apiserver and etcd,
an in-process Kubelet with its DNS settings, and the real process runtime (as root, which binds
the pod's resolv.conf in each container's mount namespace) or the real Docker engine (which the
pause container is given the settings on, and its app containers share). Each pod prints nothing;
``cat /etc/resolv.conf`` runs in its container through the runtime's exec. The node's resolver file
is a test file (so the host's search domains are known), and the host's own /etc/resolv.conf is
checked to be untouched, byte for byte and inode for inode.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from kubelet.app import make_runtime
from kubelet.dns import parse_resolv_conf
from kubelet.kubelet import Kubelet, KubeletSettings
from kubelet.node import NodeSettings
from kubelet.runtime.interface import DnsConfig, State
from skiff.api.manifest import from_manifest
from skiff.api.v1 import core_pb2
from skiff.client.client import Client
from tests.support.cluster import eventually
from tests.support.docker_engine import engine_answers
from tests.support.runtime_cleanup import purge

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_RESOLV_CONF = "nameserver 192.0.2.53\nsearch corp.example\noptions edns0\n"


@pytest.fixture(params=["process", "docker"])
def kind(request: pytest.FixtureRequest) -> str:
    if request.param == "process" and os.geteuid() != 0:
        pytest.skip("the process runtime applies DNS settings only as root (a mount namespace per container)")
    if request.param == "docker":
        if not engine_answers():
            pytest.skip("no Docker engine answers (run tools/ensure-docker.sh to start one)")
        subprocess.run([str(REPO_ROOT / "tools" / "busybox-image.sh")], check=True, capture_output=True)
    if shutil.which("busybox") is None:
        pytest.skip("needs busybox")
    return str(request.param)


@pytest.fixture
def host_file_untouched() -> Iterator[None]:
    """The host's /etc/resolv.conf (its bytes, inode and mtime) is the same after the test."""
    def snapshot() -> tuple[bytes, int, int]:
        st = os.stat("/etc/resolv.conf")
        return Path("/etc/resolv.conf").read_bytes(), st.st_ino, st.st_mtime_ns

    before = snapshot()
    yield
    assert snapshot() == before


@contextlib.asynccontextmanager
async def running_kubelet(client: Client, kind: str, root: Path, **dns: Any) -> AsyncIterator[Kubelet]:
    node = f"dns-{kind}-{uuid.uuid4().hex[:6]}"
    resolv_conf = root / "node-resolv.conf"
    resolv_conf.write_text(NODE_RESOLV_CONF)
    settings = KubeletSettings(node=NodeSettings(name=node, ip="127.0.0.1", port=10250,
                                                 capacity={"cpu": "4", "memory": "8Gi", "pods": "110"},
                                                 lease_period=0.5, status_period=0.5),
                               root_dir=root, relist_period=0.05, resolv_conf=str(resolv_conf), **dns)
    runtime = make_runtime(kind, root_dir=root, node_name=node, node_ip="127.0.0.1")
    k = Kubelet(client, runtime, settings)
    task = asyncio.create_task(k.run())
    try:
        yield k
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        purge(kind, root, node)  # the pods' containers outlive the kubelet


def manifest(name: str, node: str, **spec: Any) -> Any:
    container = {"name": "app", "image": "busybox:latest", "imagePullPolicy": "IfNotPresent",
                 "command": ["busybox", "sleep", "3600"]}
    return from_manifest({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
                          "spec": {"nodeName": node, "terminationGracePeriodSeconds": 1, "containers": [container],
                                   **spec}})


async def resolv_conf_of(client: Client, k: Kubelet, name: str) -> bytes:
    """``cat /etc/resolv.conf`` in the pod's container, once it runs."""
    found: list[str] = []

    async def running() -> bool:
        pod = await client.get(core_pb2.Pod, name, namespace="default")
        infos = [i for i in await k.runtime.list_containers(pod.metadata.uid) if i.state is State.RUNNING]
        found[:] = [i.id for i in infos]
        return bool(found)

    await eventually(running, timeout=30, what=f"{name}'s container to run")
    result = await k.runtime.exec_sync(found[0], ["busybox", "cat", "/etc/resolv.conf"], timeout=10)
    assert result.exit_code == 0, result.output
    return result.output


def settings_lines(text: bytes) -> list[str]:
    """The file's settings lines: Docker writes ``search`` first (and, newer, comments)."""
    return sorted(line for line in text.decode().splitlines() if line.strip() and not line.startswith("#"))


def assert_is(text: bytes, expected: DnsConfig, kind: str) -> None:
    assert parse_resolv_conf(text.decode()) == expected
    if kind == "process":  # the kubelet's own rendering, exactly
        assert text == expected.render().encode()
    else:
        assert settings_lines(text) == sorted(expected.render().splitlines())


async def test_dns_policy_none_gives_exactly_the_pods_dns_config(
        client: Client, kind: str, tmp_path: Path, host_file_untouched: None) -> None:
    async with running_kubelet(client, kind, tmp_path, cluster_dns=("10.96.0.10",),
                               cluster_domain="cluster.local") as k:
        await client.create(manifest("custom", k.settings.node_name, dnsPolicy="None", dnsConfig={
            "nameservers": ["10.96.0.10"], "searches": ["ns1.svc.cluster-domain.example", "my.dns.search.suffix"],
            "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}))
        text = await resolv_conf_of(client, k, "custom")
        assert_is(text, DnsConfig(servers=("10.96.0.10",),
                                  searches=("ns1.svc.cluster-domain.example", "my.dns.search.suffix"),
                                  options=("ndots:2", "edns0")), kind)
        if kind == "process":
            assert text == (b"nameserver 10.96.0.10\nsearch ns1.svc.cluster-domain.example my.dns.search.suffix\n"
                            b"options ndots:2 edns0\n")


async def test_cluster_first_default_and_host_network_pods_on_a_kubelet_with_cluster_dns(
        client: Client, kind: str, tmp_path: Path, host_file_untouched: None) -> None:
    async with running_kubelet(client, kind, tmp_path, cluster_dns=("10.96.0.10",),
                               cluster_domain="cluster.local") as k:
        node = k.settings.node_name
        await client.create(manifest("cluster-first", node))  # dnsPolicy: the apiserver's ClusterFirst
        await client.create(manifest("default", node, dnsPolicy="Default"))
        await client.create(manifest("host-net", node, hostNetwork=True))  # ClusterFirst falls back to Default
        await client.create(manifest("host-net-cluster", node, hostNetwork=True, dnsPolicy="ClusterFirstWithHostNet"))
        cluster = DnsConfig(servers=("10.96.0.10",),
                            searches=("default.svc.cluster.local", "svc.cluster.local", "cluster.local",
                                      "corp.example"),
                            options=("ndots:5",))
        text = await resolv_conf_of(client, k, "cluster-first")
        assert_is(text, cluster, kind)
        assert "search default.svc.cluster.local svc.cluster.local cluster.local corp.example" in text.decode()
        node_file = DnsConfig(servers=("192.0.2.53",), searches=("corp.example",), options=("edns0",))
        assert_is(await resolv_conf_of(client, k, "default"), node_file, kind)
        assert_is(await resolv_conf_of(client, k, "host-net"), node_file, kind)
        assert_is(await resolv_conf_of(client, k, "host-net-cluster"), cluster, kind)
