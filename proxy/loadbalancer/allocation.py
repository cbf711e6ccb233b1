"""Which address each LoadBalancer Service gets, from the load balancer's pool.

The pool is ``--addresses``: a CIDR (its host addresses) or a ``FIRST-LAST`` range. The choice is
a pure function of the Services, so the controller can make it again on every sync and a restart
changes nothing:

* a Service keeps the address its status already shows, when that address is in the pool and no
  older Service holds it;
* ``spec.loadBalancerIP`` (deprecated in Kubernetes, still honoured by MetalLB and others) asks for
  one address: it is given when in the pool and free, else the Service gets none and the reason;
* the others get the lowest free address, oldest Service first (creation time, then name).

A Service that gets no address has the reason as an error message instead.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from skiff.api.v1 import core_pb2

IP = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Pool:
    """The addresses the load balancer may hand out, in order."""

    first: IP
    last: IP
    text: str

    @classmethod
    def parse(cls, text: str) -> Pool:
        """``10.0.0.0/28`` (its host addresses) or ``10.0.0.10-10.0.0.20``; ValueError names the problem."""
        text = text.strip()
        try:
            if "-" in text:
                low, high = (ipaddress.ip_address(part.strip()) for part in text.split("-", 1))
            else:
                network = ipaddress.ip_network(text, strict=False)
                hosts = list(_first_and_last(network))
                low, high = hosts[0], hosts[-1]
        except (ValueError, IndexError) as exc:
            raise ValueError(f"invalid address pool {text!r}: want a CIDR or FIRST-LAST ({exc})") from None
        if low.version != high.version or low > high:  # type: ignore[operator]
            raise ValueError(f"invalid address pool {text!r}: FIRST must not be after LAST, of one IP family")
        return cls(low, high, text)

    def __contains__(self, ip: object) -> bool:
        try:
            address = ipaddress.ip_address(str(ip))
        except ValueError:
            return False
        return address.version == self.first.version and self.first <= address <= self.last  # type: ignore[operator]

    def __iter__(self) -> Iterator[IP]:
        current = self.first
        while current <= self.last:  # type: ignore[operator]
            yield current
            current = current + 1


def _first_and_last(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> Iterator[IP]:
    """A network's usable host addresses, first and last (a /32 or /128 is its one address)."""
    if network.num_addresses <= 2:
        yield network[0]
        yield network[-1]
        return
    yield network[1]
    yield network[-2]


def service_key(service: core_pb2.Service) -> str:
    return f"{service.metadata.namespace}/{service.metadata.name}"


def current_ip(service: core_pb2.Service) -> str:
    ingress = service.status.load_balancer.ingress
    return ingress[0].ip if ingress else ""


def allocate(services: Iterable[core_pb2.Service], pool: Pool) -> dict[str, str | ValueError]:
    """Service key -> its address, or the error why it has none (see the module docstring)."""
    ordered = sorted(services, key=lambda s: (s.metadata.creation_timestamp, service_key(s)))
    taken: dict[str, str] = {}
    result: dict[str, str | ValueError] = {}
    for service in ordered:  # first the addresses already held, and the ones asked for by name
        wanted = service.spec.load_balancer_ip or current_ip(service)
        if not wanted:
            continue
        key = service_key(service)
        if wanted not in pool:
            if service.spec.load_balancer_ip:
                result[key] = ValueError(f"requested loadBalancerIP {wanted} is not in the address pool {pool.text}")
            continue
        if wanted in taken:
            if service.spec.load_balancer_ip:
                result[key] = ValueError(f"requested loadBalancerIP {wanted} is already used by Service "
                                         f"{taken[wanted]}")
            continue
        taken[wanted] = key
        result[key] = wanted
    free = (str(ip) for ip in pool if str(ip) not in taken)
    for service in ordered:
        key = service_key(service)
        if key in result:
            continue
        address = next(free, None)
        result[key] = address if address is not None else ValueError(
            f"no address left in the address pool {pool.text}")
    return result
