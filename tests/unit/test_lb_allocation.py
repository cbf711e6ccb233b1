"""The load balancer's address pool and who gets which address."""

from __future__ import annotations

import pytest

from proxy.loadbalancer.allocation import Pool, allocate
from skiff.api.v1 import core_pb2


def service(name: str, created: str, *, requested: str = "", holding: str = "") -> core_pb2.Service:
    made = core_pb2.Service()
    made.metadata.name, made.metadata.namespace, made.metadata.creation_timestamp = name, "default", created
    made.spec.type = "LoadBalancer"
    if requested:
        made.spec.load_balancer_ip = requested
    if holding:
        made.status.load_balancer.ingress.add(ip=holding, ip_mode="Proxy")
    return made


def test_a_pool_is_a_cidrs_hosts_or_a_range() -> None:
    assert [str(ip) for ip in Pool.parse("10.0.0.0/30")] == ["10.0.0.1", "10.0.0.2"]
    assert [str(ip) for ip in Pool.parse("10.0.0.7-10.0.0.9")] == ["10.0.0.7", "10.0.0.8", "10.0.0.9"]
    assert [str(ip) for ip in Pool.parse("10.0.0.5/32")] == ["10.0.0.5"]
    assert "10.0.0.8" in Pool.parse("10.0.0.7-10.0.0.9") and "10.0.0.10" not in Pool.parse("10.0.0.7-10.0.0.9")
    for bad in ("10.0.0.9-10.0.0.7", "nonsense", "10.0.0.1-fd00::1"):
        with pytest.raises(ValueError, match="invalid address pool"):
            Pool.parse(bad)


def test_older_services_and_held_addresses_come_first() -> None:
    pool = Pool.parse("10.0.0.1-10.0.0.3")
    got = allocate([service("young", "2026-01-03T00:00:00Z"), service("old", "2026-01-01T00:00:00Z"),
                    service("holder", "2026-01-02T00:00:00Z", holding="10.0.0.1")], pool)
    assert got == {"default/holder": "10.0.0.1", "default/old": "10.0.0.2", "default/young": "10.0.0.3"}


def test_a_requested_address_is_given_when_free_and_in_the_pool() -> None:
    pool = Pool.parse("10.0.0.1-10.0.0.2")
    got = allocate([service("a", "2026-01-01T00:00:00Z", requested="10.0.0.2"),
                    service("b", "2026-01-02T00:00:00Z", requested="10.0.0.2"),
                    service("c", "2026-01-03T00:00:00Z", requested="192.0.2.1"),
                    service("d", "2026-01-04T00:00:00Z")], pool)
    assert got["default/a"] == "10.0.0.2" and got["default/d"] == "10.0.0.1"
    assert str(got["default/b"]) == "requested loadBalancerIP 10.0.0.2 is already used by Service default/a"
    assert str(got["default/c"]) == "requested loadBalancerIP 192.0.2.1 is not in the address pool 10.0.0.1-10.0.0.2"


def test_an_exhausted_pool_says_so() -> None:
    got = allocate([service("a", "2026-01-01T00:00:00Z"), service("b", "2026-01-02T00:00:00Z")],
                   Pool.parse("10.0.0.1/32"))
    assert got["default/a"] == "10.0.0.1"
    assert str(got["default/b"]) == "no address left in the address pool 10.0.0.1/32"
