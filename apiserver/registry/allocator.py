"""Cluster IP and node port allocation that never hands one value out twice.

Each allocated value is a key in etcd — ``/registry/allocations/serviceips/10.96.0.12`` or
``/registry/allocations/servicenodeports/30080`` — created with the same create-if-absent
transaction as any object. etcd decides which of two concurrent requests (from one apiserver or
two) gets a value; the loser tries another. The value of the key names the Service that holds it,
and ``repair`` frees values whose Service is gone (an apiserver that died between allocating and
storing the Service).
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable
from dataclasses import dataclass

from apiserver.storage.interface import KeyExistsError, KeyNotFoundError, Storage

IP_PREFIX = "/registry/allocations/serviceips/"
PORT_PREFIX = "/registry/allocations/servicenodeports/"


class AllocationError(ValueError):
    """A requested value that is taken or outside the range, or a full range."""


@dataclass(frozen=True)
class PortRange:
    low: int
    high: int

    @classmethod
    def parse(cls, text: str) -> PortRange:
        try:
            low, high = (int(p) for p in text.split("-", 1))
        except ValueError:
            raise ValueError(f"invalid port range {text!r}: expected LOW-HIGH, e.g. 30000-32767") from None
        if not 1 <= low <= high <= 65535:
            raise ValueError(f"invalid port range {text!r}")
        return cls(low, high)

    def __str__(self) -> str:
        return f"{self.low}-{self.high}"

    @property
    def size(self) -> int:
        return self.high - self.low + 1


class Allocator:
    """Allocates values of one range (IPs of a CIDR or ports of a range) through etcd keys.

    The range is ``first .. first+size-1`` as integers; ``show``/``parse`` turn them into the
    strings stored and served (``10.96.0.12``, ``30080``), so a /12 costs no memory.
    """

    def __init__(self, storage: Storage, prefix: str, *, first: int, size: int, show: Callable[[int], str],
                 parse: Callable[[str], int], describe: str) -> None:
        self.storage = storage
        self.prefix = prefix
        self.first, self.size = first, size
        self.show, self.parse = show, parse
        self.describe = describe

    def contains(self, value: str) -> bool:
        try:
            return self.first <= self.parse(value) < self.first + self.size
        except ValueError:
            return False

    async def allocate(self, value: str, owner: str) -> None:
        """Take ``value`` for ``owner``; AllocationError when taken."""
        try:
            await self.storage.create(self.prefix + value, owner.encode())
        except KeyExistsError:
            existing = await self.storage.get(self.prefix + value)
            if existing is not None and existing.value.decode() == owner:
                return
            raise AllocationError("provided {} is already allocated".format(
                "IP" if self.prefix == IP_PREFIX else "port")) from None

    async def allocate_next(self, owner: str) -> str:
        """Any free value: random probes first, then a scan, then 'range is full'."""
        for _ in range(16):
            value = self.show(self.first + random.randrange(self.size))
            try:
                await self.storage.create(self.prefix + value, owner.encode())
                return value
            except KeyExistsError:
                continue
        taken = {kv.key.removeprefix(self.prefix) for kv in (await self.storage.list(self.prefix))[0]}
        for i in range(self.size):
            value = self.show(self.first + i)
            if value in taken:
                continue
            try:
                await self.storage.create(self.prefix + value, owner.encode())
                return value
            except KeyExistsError:
                continue
        raise AllocationError(f"range is full ({self.describe})")

    async def release(self, value: str, owner: str) -> None:
        kv = await self.storage.get(self.prefix + value)
        if kv is None or kv.value.decode() != owner:
            return
        try:
            await self.storage.delete(self.prefix + value, expected_revision=kv.mod_revision)
        except (KeyNotFoundError, Exception):  # noqa: BLE001 - a lost race means someone else freed it
            return

    async def repair(self, holders: dict[str, set[str]]) -> int:
        """Free every value whose owner does not hold it any more; returns how many were freed."""
        freed = 0
        for kv in (await self.storage.list(self.prefix))[0]:
            value = kv.key.removeprefix(self.prefix)
            owner = kv.value.decode()
            if value not in holders.get(owner, set()):
                try:
                    await self.storage.delete(kv.key, expected_revision=kv.mod_revision)
                    freed += 1
                except Exception:  # noqa: BLE001
                    continue
        return freed


def ip_allocator(storage: Storage, cidr: str) -> Allocator:
    """Host addresses of the CIDR, less the network, broadcast and first address (Kubernetes
    keeps the first for the ``kubernetes`` Service)."""
    net = ipaddress.ip_network(cidr, strict=False)
    if net.num_addresses < 8:
        raise ValueError(f"service cluster IP range {cidr} is too small")
    return Allocator(storage, IP_PREFIX, first=int(net.network_address) + 2, size=net.num_addresses - 3,
                     show=lambda i: str(ipaddress.ip_address(i)), parse=lambda v: int(ipaddress.ip_address(v)),
                     describe=str(net))


def port_allocator(storage: Storage, ports: PortRange) -> Allocator:
    return Allocator(storage, PORT_PREFIX, first=ports.low, size=ports.size, show=str, parse=int,
                     describe=str(ports))
