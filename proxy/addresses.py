"""Making cluster IPs local to the node, so the proxy can listen on them.

A Service's cluster IP belongs to no interface. The proxy adds each one it serves to the loopback
device as a host address (``ip addr replace 10.96.0.10/32 dev lo``): packets to it — from the
node itself, or from pods through the node's bridge — are then delivered locally, to the proxy's
listener. Addresses in 127.0.0.0/8 are local already. An address is removed when no Service uses
it any more (unless it is *pinned*: the cluster DNS address stays while the proxy runs), and all of
them when the proxy stops. Adding needs root (CAP_NET_ADMIN); without it
the failure is logged once per address and NodePorts still work.
"""

from __future__ import annotations

import ipaddress
import logging
import subprocess
from collections.abc import Callable

log = logging.getLogger("skiff.proxy")

Runner = Callable[[list[str]], subprocess.CompletedProcess[str]]


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def already_local(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    return address.is_loopback or address.is_unspecified


class LocalAddresses:
    """The cluster IPs this proxy added to ``device``; see the module docstring."""

    def __init__(self, device: str = "lo", run: Runner = _run) -> None:
        self.device, self.run = device, run
        self.added: set[str] = set()
        self.failed: set[str] = set()
        self.pinned: set[str] = set()

    def _prefix(self, ip: str) -> str:
        return f"{ip}/{128 if ipaddress.ip_address(ip).version == 6 else 32}"

    def ensure(self, ip: str) -> bool:
        """Make ``ip`` local; False when it could not be."""
        if already_local(ip) or ip in self.added:
            return True
        result = self.run(["ip", "addr", "replace", self._prefix(ip), "dev", self.device])
        if result.returncode != 0:
            if ip not in self.failed:
                log.warning("cannot add cluster IP %s to %s (%s); connections to it will not be proxied", ip,
                            self.device, result.stderr.strip())
                self.failed.add(ip)
            return False
        self.failed.discard(ip)
        self.added.add(ip)
        return True

    def pin(self, ip: str) -> bool:
        """Make ``ip`` local until the proxy stops, whatever the Services say; False when it could not be."""
        self.pinned.add(ip)
        return self.ensure(ip)

    def release(self, ip: str) -> None:
        if ip in self.added and ip not in self.pinned:
            self.run(["ip", "addr", "del", self._prefix(ip), "dev", self.device])
            self.added.discard(ip)

    def release_all(self) -> None:
        self.pinned.clear()
        for ip in sorted(self.added):
            self.release(ip)
