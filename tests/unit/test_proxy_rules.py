"""The service proxy's pure parts: Services and Endpoints turned into rules, the balancer's choice
(round robin, ClientIP affinity), and cluster IPs made local through ``ip`` (a fake runner here)."""

from __future__ import annotations

import subprocess
from typing import Any

from proxy.addresses import LocalAddresses
from proxy.forwarder import AFFINITY_TIMEOUT, Balancer
from proxy.rules import rules_for
from skiff.api.manifest import from_manifest
from skiff.api.v1 import core_pb2


def service(name: str = "web", **spec: Any) -> core_pb2.Service:
    body = {"clusterIP": "10.96.0.10", "ports": [{"name": "http", "port": 80, "nodePort": 30080}], **spec}
    return from_manifest({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "ns"},
                          "spec": body})


def endpoints(name: str = "web", **subset: Any) -> core_pb2.Endpoints:
    return from_manifest({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": "ns"},
                          "subsets": [subset]})


READY = endpoints(addresses=[{"ip": "10.1.0.2"}, {"ip": "10.1.0.1"}], notReadyAddresses=[{"ip": "10.1.0.9"}],
                  ports=[{"name": "http", "port": 8080}, {"name": "metrics", "port": 9090}])


def test_a_cluster_ip_service_forwards_its_ready_addresses_at_the_named_port() -> None:
    [rule] = rules_for([service()], {"ns/web": READY}, ["0.0.0.0"])
    assert rule.service == "ns/web:http"
    assert rule.frontends == (("10.96.0.10", 80),)  # ClusterIP: no NodePort listener
    assert rule.backends == (("10.1.0.1", 8080), ("10.1.0.2", 8080))  # not-ready 10.1.0.9 left out


def test_node_ports_and_external_ips_are_frontends_too() -> None:
    svc = service(type="NodePort", externalIPs=["192.0.2.7"])
    [rule] = rules_for([svc], {"ns/web": READY}, ["127.0.0.1", "192.0.2.2"])
    assert rule.frontends == (("10.96.0.10", 80), ("192.0.2.7", 80), ("127.0.0.1", 30080), ("192.0.2.2", 30080))
    [lb] = rules_for([service(type="LoadBalancer")], {}, ["0.0.0.0"])
    assert lb.frontends[-1] == ("0.0.0.0", 30080) and lb.backends == ()


def test_headless_external_name_and_sctp_ports_get_no_rule() -> None:
    headless = service("a", clusterIP="None")
    external = from_manifest({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "b", "namespace": "ns"},
                              "spec": {"type": "ExternalName", "externalName": "example.org"}})
    sctp = service("c", ports=[{"name": "s", "port": 9999, "protocol": "SCTP"}])
    assert rules_for([headless, external, sctp], {}, ["0.0.0.0"]) == []


def test_a_udp_port_is_a_udp_rule_with_the_udp_endpoints() -> None:
    dns = service("dns", ports=[{"name": "dns", "port": 53, "protocol": "UDP"},
                                {"name": "dns-tcp", "port": 53, "protocol": "TCP"}])
    eps = endpoints("dns", addresses=[{"ip": "10.1.0.5"}],
                    ports=[{"name": "dns", "port": 5353, "protocol": "UDP"},
                           {"name": "dns-tcp", "port": 5353, "protocol": "TCP"}])
    udp, tcp = rules_for([dns], {"ns/dns": eps}, [])
    assert (udp.protocol, udp.frontends, udp.backends) == ("UDP", (("10.96.0.10", 53),), (("10.1.0.5", 5353),))
    assert (tcp.protocol, tcp.backends) == ("TCP", (("10.1.0.5", 5353),))


def test_client_ip_affinity_is_carried_on_the_rule() -> None:
    [rule] = rules_for([service(sessionAffinity="ClientIP")], {}, [])
    assert rule.affinity


def test_the_balancer_goes_round_robin() -> None:
    balancer = Balancer("x")
    balancer.update((("a", 1), ("b", 1), ("c", 1)), affinity=False)
    firsts = [balancer.candidates("1.2.3.4")[0] for _ in range(4)]
    assert firsts == [("a", 1), ("b", 1), ("c", 1), ("a", 1)]
    assert sorted(balancer.candidates("1.2.3.4")) == [("a", 1), ("b", 1), ("c", 1)]  # all tried in turn
    balancer.update((), affinity=False)
    assert balancer.candidates("1.2.3.4") == []


def test_client_ip_affinity_keeps_a_client_on_its_backend_until_it_times_out() -> None:
    now = [0.0]
    balancer = Balancer("x", now=lambda: now[0])
    balancer.update((("a", 1), ("b", 1)), affinity=True)
    first = balancer.candidates("1.2.3.4")[0]
    balancer.chosen("1.2.3.4", first)
    assert all(balancer.candidates("1.2.3.4")[0] == first for _ in range(5))
    assert {balancer.candidates("5.6.7.8")[0] for _ in range(4)} == {("a", 1), ("b", 1)}  # others rotate
    now[0] = AFFINITY_TIMEOUT + 1
    assert {balancer.candidates("1.2.3.4")[0] for _ in range(4)} == {("a", 1), ("b", 1)}
    balancer.chosen("1.2.3.4", ("b", 1))
    balancer.update((("a", 1),), affinity=True)  # its backend went: the entry goes too
    assert balancer.candidates("1.2.3.4") == [("a", 1)]


class FakeIp:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.fail = fail

    def __call__(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        self.calls.append(argv)
        error = "RTNETLINK answers: Operation not permitted"
        return subprocess.CompletedProcess(argv, 2 if self.fail else 0, "", error)


def test_cluster_ips_are_added_to_lo_once_and_removed_when_released() -> None:
    ip = FakeIp()
    addresses = LocalAddresses(run=ip)
    assert addresses.ensure("10.96.0.10") and addresses.ensure("10.96.0.10")
    assert addresses.ensure("127.77.0.5") and addresses.ensure("0.0.0.0")  # local already: nothing to do
    assert addresses.ensure("fd00::10")
    assert ip.calls == [["ip", "addr", "replace", "10.96.0.10/32", "dev", "lo"],
                        ["ip", "addr", "replace", "fd00::10/128", "dev", "lo"]]
    addresses.release_all()
    assert ip.calls[2:] == [["ip", "addr", "del", "10.96.0.10/32", "dev", "lo"],
                            ["ip", "addr", "del", "fd00::10/128", "dev", "lo"]]
    assert addresses.added == set()


def test_a_cluster_ip_that_cannot_be_added_is_reported_and_retried(caplog: Any) -> None:
    ip = FakeIp(fail=True)
    addresses = LocalAddresses(run=ip)
    assert not addresses.ensure("10.96.0.10") and not addresses.ensure("10.96.0.10")
    assert len(ip.calls) == 2  # tried again on the next sync
    assert sum("cannot add cluster IP 10.96.0.10" in r.getMessage() for r in caplog.records) == 1  # said once
