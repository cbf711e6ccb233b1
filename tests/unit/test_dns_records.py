"""The cluster DNS's records (proxy.dns.records): what a query name and type are answered, from
hand-made Services and Endpoints in Stores, as the Kubernetes DNS specification and CoreDNS's
kubernetes plugin (``pods insecure``, ``fallthrough in-addr.arpa ip6.arpa``, ``ttl 30``) answer."""

from __future__ import annotations

from typing import Any, cast

import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from proxy.dns.records import Answer, ClusterRecords
from skiff.api.manifest import from_manifest
from skiff.api.v1 import core_pb2
from skiff.client.informer import Store

A, AAAA, SRV, PTR, CNAME, TXT, SOA, NS, MX = (dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.SRV,
                                              dns.rdatatype.PTR, dns.rdatatype.CNAME, dns.rdatatype.TXT,
                                              dns.rdatatype.SOA, dns.rdatatype.NS, dns.rdatatype.MX)
SOA_TEXT = "cluster.local. 30 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1700000000 7200 1800 86400 30"


def service(name: str, namespace: str = "ns", **spec: Any) -> core_pb2.Service:
    return cast(core_pb2.Service, from_manifest({"apiVersion": "v1", "kind": "Service",
                                                 "metadata": {"name": name, "namespace": namespace}, "spec": spec}))


def endpoints(name: str, *subsets: dict[str, Any], namespace: str = "ns") -> core_pb2.Endpoints:
    return cast(core_pb2.Endpoints, from_manifest({"apiVersion": "v1", "kind": "Endpoints",
                                                   "metadata": {"name": name, "namespace": namespace},
                                                   "subsets": list(subsets)}))


WEB = service("web", clusterIP="10.96.0.10", ports=[{"name": "http", "port": 80}, {"name": "https", "port": 443}])
WEB_EPS = endpoints("web", {"addresses": [{"ip": "10.1.0.2"}], "ports": [{"name": "http", "port": 8080}]})
DUAL = service("dual", clusterIP="10.96.0.11", clusterIPs=["10.96.0.11", "fd00::b"], ports=[{"name": "dns", "port": 53,
                                                                                               "protocol": "UDP"}])
DB = service("db", clusterIP="None", ports=[{"name": "pg", "port": 5432}])
DB_EPS = endpoints("db", {"addresses": [{"ip": "10.1.0.5", "hostname": "db-0"}, {"ip": "10.1.0.6"}],
                          "notReadyAddresses": [{"ip": "10.1.0.7", "hostname": "db-2"}],
                          "ports": [{"name": "pg", "port": 15432}]})
SIX = service("six", clusterIP="None")  # headless, no ports: its endpoints list addresses only
SIX_EPS = endpoints("six", {"addresses": [{"ip": "fd00::1:5"}]})
EXT = service("ext", type="ExternalName", externalName="example.org")


def make(*objects: core_pb2.Service | core_pb2.Endpoints, **kwargs: Any) -> ClusterRecords:
    services: Store[core_pb2.Service] = Store()
    eps: Store[core_pb2.Endpoints] = Store()
    for obj in objects:
        if isinstance(obj, core_pb2.Service):
            services.put(obj)
        else:
            eps.put(obj)
    return ClusterRecords(domain="cluster.local", services=services, endpoints=eps, clock=lambda: 1700000000.0,
                          **kwargs)


@pytest.fixture
def records() -> ClusterRecords:
    return make(WEB, WEB_EPS, DUAL, DB, DB_EPS, SIX, SIX_EPS, EXT)


def ask(records: ClusterRecords, name: str, qtype: int) -> Answer:
    answer = records.resolve(dns.name.from_text(name), qtype)
    assert answer is not None, f"{name} was not answered"
    return answer


def lines(rrsets: list[dns.rrset.RRset]) -> list[str]:
    return [line for rrset in rrsets for line in rrset.to_text().splitlines()]


def answered(records: ClusterRecords, name: str, qtype: int) -> list[str]:
    answer = ask(records, name, qtype)
    assert answer.rcode == dns.rcode.NOERROR and answer.authority == []
    return lines(answer.answer)


def assert_nodata(records: ClusterRecords, name: str, qtype: int) -> None:
    answer = ask(records, name, qtype)
    assert (answer.rcode, answer.answer, lines(answer.authority)) == (dns.rcode.NOERROR, [], [SOA_TEXT])


def assert_nxdomain(records: ClusterRecords, name: str, qtype: int = A) -> None:
    answer = ask(records, name, qtype)
    assert (answer.rcode, answer.answer, lines(answer.authority)) == (dns.rcode.NXDOMAIN, [], [SOA_TEXT])


# ---- services


def test_a_cluster_ip_service_answers_its_cluster_ip_and_nodata_for_aaaa(records: ClusterRecords) -> None:
    assert answered(records, "web.ns.svc.cluster.local.", A) == ["web.ns.svc.cluster.local. 30 IN A 10.96.0.10"]
    assert_nodata(records, "web.ns.svc.cluster.local.", AAAA)  # IPv4 only: the name exists
    assert_nodata(records, "web.ns.svc.cluster.local.", TXT)


def test_a_dual_stack_service_answers_a_and_aaaa(records: ClusterRecords) -> None:
    assert answered(records, "dual.ns.svc.cluster.local.", A) == ["dual.ns.svc.cluster.local. 30 IN A 10.96.0.11"]
    assert answered(records, "dual.ns.svc.cluster.local.", AAAA) == ["dual.ns.svc.cluster.local. 30 IN AAAA fd00::b"]


def test_names_compare_case_insensitively_and_keep_the_query_spelling(records: ClusterRecords) -> None:
    assert answered(records, "WEB.Ns.SVC.Cluster.LOCAL.", A) == ["WEB.Ns.SVC.Cluster.LOCAL. 30 IN A 10.96.0.10"]
    assert answered(records, "_HTTP._Tcp.web.ns.svc.cluster.local.", SRV) == [
        "_HTTP._Tcp.web.ns.svc.cluster.local. 30 IN SRV 0 100 80 web.ns.svc.cluster.local."]
    assert answered(records, "DB-0.db.ns.svc.cluster.local.", A) == ["DB-0.db.ns.svc.cluster.local. 30 IN A 10.1.0.5"]


def test_a_headless_service_answers_its_ready_endpoints() -> None:
    records = make(DB, DB_EPS)
    assert answered(records, "db.ns.svc.cluster.local.", A) == ["db.ns.svc.cluster.local. 30 IN A 10.1.0.5",
                                                                "db.ns.svc.cluster.local. 30 IN A 10.1.0.6"]
    assert_nxdomain(records, "db-2.db.ns.svc.cluster.local.")  # not ready, not published


def test_publish_not_ready_addresses_puts_the_not_ready_ones_in_dns_too() -> None:
    records = make(service("db", clusterIP="None", publishNotReadyAddresses=True), DB_EPS)
    assert "db.ns.svc.cluster.local. 30 IN A 10.1.0.7" in answered(records, "db.ns.svc.cluster.local.", A)
    assert answered(records, "db-2.db.ns.svc.cluster.local.", A) == ["db-2.db.ns.svc.cluster.local. 30 IN A 10.1.0.7"]


def test_a_headless_service_without_ready_endpoints_does_not_exist() -> None:
    records = make(DB, endpoints("db", {"notReadyAddresses": [{"ip": "10.1.0.7"}], "ports": [{"port": 1}]}))
    assert_nxdomain(records, "db.ns.svc.cluster.local.")  # specification 2.4.1
    assert_nxdomain(make(DB), "db.ns.svc.cluster.local.")


def test_endpoint_names_are_the_hostname_or_the_dashed_ip(records: ClusterRecords) -> None:
    assert answered(records, "db-0.db.ns.svc.cluster.local.", A) == ["db-0.db.ns.svc.cluster.local. 30 IN A 10.1.0.5"]
    assert answered(records, "10-1-0-6.db.ns.svc.cluster.local.", A) == [
        "10-1-0-6.db.ns.svc.cluster.local. 30 IN A 10.1.0.6"]
    assert answered(records, "fd00--1-5.six.ns.svc.cluster.local.", AAAA) == [
        "fd00--1-5.six.ns.svc.cluster.local. 30 IN AAAA fd00::1:5"]
    assert_nodata(records, "fd00--1-5.six.ns.svc.cluster.local.", A)
    assert_nxdomain(records, "10-1-0-5.db.ns.svc.cluster.local.")  # it has a hostname: that is its name
    assert_nxdomain(records, "db-9.db.ns.svc.cluster.local.")


def test_endpoint_names_of_a_cluster_ip_service_resolve_too_as_in_coredns(records: ClusterRecords) -> None:
    assert answered(records, "10-1-0-2.web.ns.svc.cluster.local.", A) == [
        "10-1-0-2.web.ns.svc.cluster.local. 30 IN A 10.1.0.2"]


# ---- SRV


def test_srv_of_a_named_port_points_at_the_service_with_its_address_in_additional(records: ClusterRecords) -> None:
    answer = ask(records, "_https._tcp.web.ns.svc.cluster.local.", SRV)
    assert lines(answer.answer) == [
        "_https._tcp.web.ns.svc.cluster.local. 30 IN SRV 0 100 443 web.ns.svc.cluster.local."]
    assert lines(answer.additional) == ["web.ns.svc.cluster.local. 30 IN A 10.96.0.10"]
    assert answered(records, "_dns._udp.dual.ns.svc.cluster.local.", SRV) == [
        "_dns._udp.dual.ns.svc.cluster.local. 30 IN SRV 0 50 53 dual.ns.svc.cluster.local."]  # 2 IPs: CoreDNS's 50


def test_srv_of_an_unknown_port_or_protocol_is_nxdomain(records: ClusterRecords) -> None:
    assert_nxdomain(records, "_ftp._tcp.web.ns.svc.cluster.local.", SRV)
    assert_nxdomain(records, "_http._udp.web.ns.svc.cluster.local.", SRV)
    assert_nxdomain(records, "http.tcp.web.ns.svc.cluster.local.", SRV)  # the labels need their underscores
    assert_nodata(records, "_tcp.web.ns.svc.cluster.local.", SRV)  # the empty name above _http._tcp exists
    assert_nxdomain(records, "_udp.web.ns.svc.cluster.local.", SRV)


def test_srv_on_the_service_name_lists_every_port_with_coredns_weights(records: ClusterRecords) -> None:
    assert answered(records, "web.ns.svc.cluster.local.", SRV) == [
        "web.ns.svc.cluster.local. 30 IN SRV 0 50 80 web.ns.svc.cluster.local.",
        "web.ns.svc.cluster.local. 30 IN SRV 0 50 443 web.ns.svc.cluster.local."]


def test_srv_of_a_headless_service_has_one_record_per_endpoint_at_the_endpoint_port(records: ClusterRecords) -> None:
    answer = ask(records, "_pg._tcp.db.ns.svc.cluster.local.", SRV)
    assert lines(answer.answer) == [
        "_pg._tcp.db.ns.svc.cluster.local. 30 IN SRV 0 50 15432 db-0.db.ns.svc.cluster.local.",
        "_pg._tcp.db.ns.svc.cluster.local. 30 IN SRV 0 50 15432 10-1-0-6.db.ns.svc.cluster.local."]
    assert lines(answer.additional) == ["db-0.db.ns.svc.cluster.local. 30 IN A 10.1.0.5",
                                        "10-1-0-6.db.ns.svc.cluster.local. 30 IN A 10.1.0.6"]


def test_srv_without_ports_is_nodata(records: ClusterRecords) -> None:
    assert_nodata(records, "six.ns.svc.cluster.local.", SRV)
    assert_nodata(records, "1-2-3-4.ns.pod.cluster.local.", SRV)


# ---- ExternalName


@pytest.mark.parametrize("qtype", [A, AAAA, SRV, TXT, MX, CNAME])
def test_an_external_name_service_is_a_cname_for_every_type(records: ClusterRecords, qtype: int) -> None:
    cname = "ext.ns.svc.cluster.local. 30 IN CNAME example.org."
    assert answered(records, "ext.ns.svc.cluster.local.", qtype) == [cname]


def test_an_external_name_inside_the_zone_is_followed() -> None:
    records = make(WEB, service("alias", type="ExternalName", externalName="web.ns.svc.cluster.local"),
                   service("gone", type="ExternalName", externalName="nothing.ns.svc.cluster.local"))
    assert answered(records, "alias.ns.svc.cluster.local.", A) == [
        "alias.ns.svc.cluster.local. 30 IN CNAME web.ns.svc.cluster.local.",
        "web.ns.svc.cluster.local. 30 IN A 10.96.0.10"]
    answer = ask(records, "gone.ns.svc.cluster.local.", A)
    assert answer.rcode == dns.rcode.NXDOMAIN and lines(answer.authority) == [SOA_TEXT]
    assert lines(answer.answer) == ["gone.ns.svc.cluster.local. 30 IN CNAME nothing.ns.svc.cluster.local."]


def test_a_cname_loop_stops() -> None:
    records = make(service("a", type="ExternalName", externalName="b.ns.svc.cluster.local"),
                   service("b", type="ExternalName", externalName="a.ns.svc.cluster.local"))
    answer = ask(records, "a.ns.svc.cluster.local.", A)
    assert answer.rcode == dns.rcode.NOERROR and len(answer.answer) == 2


def test_an_external_name_that_is_an_ip_or_a_name_below_an_external_service_is_nxdomain() -> None:
    records = make(EXT, service("ip", type="ExternalName", externalName="192.0.2.1"))
    assert_nxdomain(records, "ip.ns.svc.cluster.local.")
    assert_nxdomain(records, "x.ext.ns.svc.cluster.local.")
    assert_nxdomain(records, "_http._tcp.ext.ns.svc.cluster.local.", SRV)


# ---- pods


def test_pod_names_answer_the_ip_in_them_unverified(records: ClusterRecords) -> None:
    assert answered(records, "10-244-1-7.ns.pod.cluster.local.", A) == [
        "10-244-1-7.ns.pod.cluster.local. 30 IN A 10.244.1.7"]
    assert answered(records, "fd00--7.ns.pod.cluster.local.", AAAA) == [
        "fd00--7.ns.pod.cluster.local. 30 IN AAAA fd00::7"]
    assert_nodata(records, "fd00--7.ns.pod.cluster.local.", A)
    assert_nxdomain(records, "not-an-ip.ns.pod.cluster.local.")
    assert_nxdomain(records, "10-244-1-7.elsewhere.pod.cluster.local.")  # no such namespace
    assert_nxdomain(records, "x.10-244-1-7.ns.pod.cluster.local.")


def test_a_namespace_store_when_given_decides_which_namespaces_exist() -> None:
    namespaces: Store[core_pb2.Namespace] = Store()
    namespaces.put(cast(core_pb2.Namespace, from_manifest({"apiVersion": "v1", "kind": "Namespace",
                                                           "metadata": {"name": "empty"}})))
    records = make(WEB, namespaces=namespaces)
    assert answered(records, "10-0-0-1.empty.pod.cluster.local.", A) == [
        "10-0-0-1.empty.pod.cluster.local. 30 IN A 10.0.0.1"]
    assert_nodata(records, "empty.svc.cluster.local.", A)
    assert_nxdomain(records, "ns.svc.cluster.local.")  # Services in it, but no Namespace object


# ---- the zone's structure: NODATA or NXDOMAIN


def test_names_that_exist_without_records_are_nodata(records: ClusterRecords) -> None:
    for name in ("cluster.local.", "svc.cluster.local.", "ns.svc.cluster.local.", "pod.cluster.local.",
                 "ns.pod.cluster.local.", "dns.cluster.local."):
        assert_nodata(records, name, A)


def test_names_that_do_not_exist_are_nxdomain(records: ClusterRecords) -> None:
    for name in ("nope.svc.cluster.local.", "nope.ns.svc.cluster.local.", "web.elsewhere.svc.cluster.local.",
                 "other.pod.cluster.local.", "foo.cluster.local.", "web.ns.cluster.local.",
                 "a.b.c.web.ns.svc.cluster.local."):
        assert_nxdomain(records, name)


def test_a_namespace_is_known_while_a_service_lives_in_it() -> None:
    records = make(WEB)
    assert_nodata(records, "ns.svc.cluster.local.", A)
    records.services.remove("ns/web")
    assert_nxdomain(records, "ns.svc.cluster.local.")
    assert_nxdomain(records, "web.ns.svc.cluster.local.")


def test_the_apex_answers_soa_and_ns_with_the_nameserver_addresses() -> None:
    records = make(WEB, nameservers=["10.96.0.53", "fd00::35"])
    assert answered(records, "cluster.local.", SOA) == [SOA_TEXT]
    answer = ask(records, "Cluster.Local.", NS)
    assert lines(answer.answer) == ["Cluster.Local. 30 IN NS ns.dns.cluster.local."]
    assert lines(answer.additional) == ["ns.dns.cluster.local. 30 IN A 10.96.0.53",
                                        "ns.dns.cluster.local. 30 IN AAAA fd00::35"]
    assert answered(records, "ns.dns.cluster.local.", A) == ["ns.dns.cluster.local. 30 IN A 10.96.0.53"]
    assert_nodata(records, "web.ns.svc.cluster.local.", SOA)  # SOA only at the apex
    assert_nodata(records, "web.ns.svc.cluster.local.", NS)


def test_the_schema_version_is_published(records: ClusterRecords) -> None:
    assert answered(records, "dns-version.cluster.local.", TXT) == ['dns-version.cluster.local. 28800 IN TXT "1.1.0"']


def test_zone_transfers_are_refused(records: ClusterRecords) -> None:
    assert ask(records, "cluster.local.", dns.rdatatype.AXFR).rcode == dns.rcode.REFUSED


def test_the_ttl_is_configurable_and_the_serial_moves_on_changes() -> None:
    clock = [1700000000.0]
    records = make(WEB, ttl=5)
    records.clock = lambda: clock[0]
    assert answered(records, "web.ns.svc.cluster.local.", A) == ["web.ns.svc.cluster.local. 5 IN A 10.96.0.10"]
    records.note_change()
    assert records.serial == 1700000001  # at least one more, even within the same second
    clock[0] = 1700000100.0
    records.note_change()
    [soa] = ask(records, "cluster.local.", SOA).answer
    assert soa.to_text().split()[-5:] == ["1700000100", "7200", "1800", "86400", "5"]
    with pytest.raises(ValueError):
        make(ttl=3601)


def test_outside_the_zone_is_not_ours(records: ClusterRecords) -> None:
    assert records.resolve(dns.name.from_text("example.org."), A) is None
    assert records.resolve(dns.name.from_text("local."), A) is None
    assert records.resolve(dns.name.from_text("web.ns.svc.cluster.example."), A) is None


# ---- PTR


def test_ptr_of_a_cluster_ip_is_the_service_name(records: ClusterRecords) -> None:
    assert answered(records, "10.0.96.10.in-addr.arpa.", PTR) == [
        "10.0.96.10.in-addr.arpa. 30 IN PTR web.ns.svc.cluster.local."]


def test_ptr_of_an_endpoint_address_is_its_endpoint_name(records: ClusterRecords) -> None:
    assert answered(records, "5.0.1.10.in-addr.arpa.", PTR) == [
        "5.0.1.10.in-addr.arpa. 30 IN PTR db-0.db.ns.svc.cluster.local."]
    assert answered(records, "6.0.1.10.in-addr.arpa.", PTR) == [
        "6.0.1.10.in-addr.arpa. 30 IN PTR 10-1-0-6.db.ns.svc.cluster.local."]


def test_ptr_of_ipv6_addresses(records: ClusterRecords) -> None:
    cluster_ip = dns.name.from_text("b.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.")
    assert lines(ask(records, cluster_ip.to_text(), PTR).answer) == [
        f"{cluster_ip} 30 IN PTR dual.ns.svc.cluster.local."]
    endpoint = dns.name.from_text("5.0.0.0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.")
    assert lines(ask(records, endpoint.to_text(), PTR).answer) == [
        f"{endpoint} 30 IN PTR fd00--1-5.six.ns.svc.cluster.local."]


def test_unknown_reverse_names_fall_through(records: ClusterRecords) -> None:
    unknown_v6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa."
    for name, qtype in (("9.9.9.9.in-addr.arpa.", PTR), ("7.0.1.10.in-addr.arpa.", PTR),  # 10.1.0.7: not ready
                        ("0.96.10.in-addr.arpa.", PTR), ("in-addr.arpa.", SOA), ("x.10.0.96.10.in-addr.arpa.", PTR),
                        ("10.0.96.10.in-addr.arpa.", A), (unknown_v6, PTR)):
        assert records.resolve(dns.name.from_text(name), qtype) is None, name


def test_ptr_follows_the_stores() -> None:
    records = make(WEB)
    assert answered(records, "10.0.96.10.in-addr.arpa.", PTR)
    records.services.put(service("web", clusterIP="10.96.0.99", ports=[{"name": "http", "port": 80}]))
    assert records.resolve(dns.name.from_text("10.0.96.10.in-addr.arpa."), PTR) is None
    assert answered(records, "99.0.96.10.in-addr.arpa.", PTR) == [
        "99.0.96.10.in-addr.arpa. 30 IN PTR web.ns.svc.cluster.local."]
