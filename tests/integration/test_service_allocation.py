"""Service addresses: unique cluster IPs and node ports, even from two apiservers at once; taken
or out-of-range requests refused clearly; everything freed when the Service goes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from skiff.api import errors
from skiff.api.v1 import core_pb2
from skiff.client.client import Client
from tests.support.cluster import client_for, obj, running_apiserver
from tests.support.samples import sample


def svc(name: str, *, type_: str = "NodePort", **spec: Any) -> Any:
    doc = sample("Service", name=name)
    doc["spec"]["type"] = type_
    doc["spec"].update(spec)
    return obj(doc)


async def test_concurrent_creates_on_two_apiservers_never_share_an_address(etcd: Any) -> None:
    async with running_apiserver(etcd.url) as a, running_apiserver(etcd.url) as b:
        ca, cb = client_for(a), client_for(b)
        creates = [(ca if i % 2 else cb).create(svc(f"s-{i}")) for i in range(40)]
        created = await asyncio.gather(*creates)
        ips = [s.spec.cluster_ip for s in created]
        ports = [s.spec.ports[0].node_port for s in created]
        assert len(set(ips)) == 40 and len(set(ports)) == 40
        assert all(ip.startswith("10.96.0.") for ip in ips)
        assert all(30000 <= p <= 30099 for p in ports)
        await ca.close()
        await cb.close()


async def test_requested_values_taken_or_out_of_range_are_refused(client: Client) -> None:
    first = await client.create(svc("a", clusterIP="10.96.0.10", ports=[{"port": 80, "nodePort": 30007}]))
    assert first.spec.cluster_ip == "10.96.0.10" and list(first.spec.cluster_ips) == ["10.96.0.10"]
    taken = (r'spec.clusterIPs: Invalid value: \[\]string\{"10.96.0.10"\}: failed to allocate IP 10.96.0.10: '
             r"provided IP is already allocated")
    with pytest.raises(errors.Invalid, match=taken):
        await client.create(svc("b", clusterIP="10.96.0.10"))
    with pytest.raises(errors.Invalid, match=r"spec.ports\[0\].nodePort: Invalid value: 30007: "
                                             r"provided port is already allocated"):
        await client.create(svc("c", ports=[{"port": 80, "nodePort": 30007}]))
    with pytest.raises(errors.Invalid, match=r"the provided IP \(10.1.2.3\) is not in the valid range"):
        await client.create(svc("d", clusterIP="10.1.2.3"))
    with pytest.raises(errors.Invalid, match="provided port is not in the valid range. The range of valid "
                                             "ports is 30000-30099"):
        await client.create(svc("e", ports=[{"port": 80, "nodePort": 31000}]))
    # a refused create keeps nothing: the IP it would have taken is still free
    again = await client.create(svc("f", clusterIP="10.96.0.11"))
    assert again.spec.cluster_ip == "10.96.0.11"


async def test_addresses_are_freed_with_the_service(client: Client) -> None:
    await client.create(svc("a", clusterIP="10.96.0.20", ports=[{"port": 80, "nodePort": 30020}]))
    await client.delete(core_pb2.Service, "a")
    again = await client.create(svc("b", clusterIP="10.96.0.20", ports=[{"port": 80, "nodePort": 30020}]))
    assert again.spec.ports[0].node_port == 30020
    # NodePort -> ClusterIP gives the node port back
    again.spec.type = "ClusterIP"
    again.spec.ports[0].ClearField("node_port")
    changed = await client.update(again)
    assert not changed.spec.ports[0].node_port
    third = await client.create(svc("c", ports=[{"port": 80, "nodePort": 30020}]))
    assert third.spec.ports[0].node_port == 30020


async def test_headless_and_cluster_ip_services(client: Client) -> None:
    headless = await client.create(svc("h", type_="ClusterIP", clusterIP="None"))
    assert headless.spec.cluster_ip == "None" and list(headless.spec.cluster_ips) == ["None"]
    plain = await client.create(svc("p", type_="ClusterIP"))
    assert plain.spec.cluster_ip.startswith("10.96.0.") and not plain.spec.ports[0].node_port
    assert plain.spec.ports[0].target_port.int_val == 8080
    with pytest.raises(errors.Invalid, match="may not change once set"):
        plain.spec.cluster_ip = "10.96.0.99"
        await client.update(plain)
