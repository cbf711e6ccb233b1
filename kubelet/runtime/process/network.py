"""Pod networking for the process runtime (root only, not hostNetwork): a network namespace per
sandbox on a host bridge, with IPs leased host-wide.

Each sandbox gets a netns ``skiff-<sandbox id[:8]>`` with loopback up and a veth pair ``skv<id8>``
<-> ``eth0`` to the host bridge ``skiff0`` (10.88.0.1/16). The pod IP comes from 10.88.0.0/16,
which stays clear of docker's 172.17/16. IPs are leased host-wide with ``O_EXCL`` files in
``/run/skiff/ipam``, so several kubelets on one host share the bridge. iptables rules (best effort)
accept forwarding on the bridge (docker sets FORWARD to DROP) and masquerade pod egress. If any of
this fails, the runtime lets the pod share the host network and its IP is the node IP, with a
warning in the log. hostNetwork pods and a non-root kubelet share the host namespace. The bridge is
never deleted. The containers' shims join the namespace (see ``namespaces``).

A pod's ``eth0`` gets a MAC address made from its IP (``0a:58`` and the IP's four bytes, as the
CNI bridge plugin did): a freed IP is soon leased again, and with a fresh random MAC every
neighbour that still caches the old one (the host above all — its probes, its proxy) would send
to a MAC that is gone until the cache entry expires, half a minute of a pod unreachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path

from kubelet.runtime.interface import RuntimeFailure

log = logging.getLogger(__package__)  # "kubelet.runtime.process": one logger for the whole runtime

POD_CIDR = IPv4Network("10.88.0.0/16")
BRIDGE = "skiff0"
IPAM_DIR = Path("/run/skiff/ipam")


async def _run(*argv: str) -> tuple[int, str]:
    """Run a host command; (exit code, stderr+stdout)."""
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace").strip()


async def _must(*argv: str) -> None:
    code, out = await _run(*argv)
    if code != 0:
        raise RuntimeFailure(f"{' '.join(argv)}: {out}")


@dataclass(frozen=True)
class PodNet:
    netns: str
    veth: str
    ip: str


def pod_mac(ip: str) -> str:
    """The MAC address of the pod with this IP: locally administered, the same for the same IP."""
    return "0a:58:" + ":".join(f"{int(part):02x}" for part in ip.split("."))


class PodNetwork:
    """Network namespaces on the ``skiff0`` bridge with IPs leased host-wide (see module docstring)."""

    def __init__(self, *, cidr: IPv4Network = POD_CIDR, bridge: str = BRIDGE, ipam_dir: Path = IPAM_DIR) -> None:
        self.cidr = cidr
        self.bridge = bridge
        self.ipam_dir = ipam_dir
        self.gateway = str(next(cidr.hosts()))
        self._bridge_ready = False

    async def setup(self, sandbox_id: str) -> PodNet:
        net = PodNet(netns=f"skiff-{sandbox_id[:8]}", veth=f"skv{sandbox_id[:8]}", ip=self._lease(sandbox_id))
        try:
            await self._ensure_bridge()
            await self._plumb(net)
        except RuntimeFailure:
            await self.teardown(net)
            raise
        return net

    async def _plumb(self, net: PodNet) -> None:
        peer = f"skp{net.veth[3:]}"
        prefix = self.cidr.prefixlen
        await _must("ip", "netns", "add", net.netns)
        await _must("ip", "-n", net.netns, "link", "set", "lo", "up")
        await _must("ip", "link", "add", net.veth, "type", "veth", "peer", "name", peer)
        await _must("ip", "link", "set", peer, "netns", net.netns)
        await _must("ip", "-n", net.netns, "link", "set", peer, "name", "eth0")
        await _must("ip", "-n", net.netns, "link", "set", "eth0", "address", pod_mac(net.ip))
        await _must("ip", "-n", net.netns, "addr", "add", f"{net.ip}/{prefix}", "dev", "eth0")
        await _must("ip", "-n", net.netns, "link", "set", "eth0", "up")
        await _must("ip", "-n", net.netns, "route", "add", "default", "via", self.gateway)
        await _must("ip", "link", "set", net.veth, "master", self.bridge)
        await _must("ip", "link", "set", net.veth, "up")

    async def teardown(self, net: PodNet) -> None:
        await _run("ip", "link", "del", net.veth)
        await _run("ip", "netns", "del", net.netns)
        with contextlib.suppress(FileNotFoundError):
            (self.ipam_dir / net.ip).unlink()

    async def _ensure_bridge(self) -> None:
        if self._bridge_ready:
            return
        if not Path(f"/sys/class/net/{self.bridge}").exists():
            code, out = await _run("ip", "link", "add", self.bridge, "type", "bridge")
            if code != 0 and "exists" not in out:
                raise RuntimeFailure(f"cannot create bridge {self.bridge}: {out}")
        await _must("ip", "addr", "replace", f"{self.gateway}/{self.cidr.prefixlen}", "dev", self.bridge)
        await _must("ip", "link", "set", self.bridge, "up")
        await self._iptables()
        self._bridge_ready = True

    async def _iptables(self) -> None:
        """Best effort: let bridged pod traffic through docker's DROP policy; NAT pod egress."""
        if shutil.which("iptables") is None:
            return
        rules = [("filter", "FORWARD", "-i", self.bridge, "-j", "ACCEPT"),
                 ("filter", "FORWARD", "-o", self.bridge, "-j", "ACCEPT"),
                 ("nat", "POSTROUTING", "-s", str(self.cidr), "!", "-o", self.bridge, "-j", "MASQUERADE")]
        for table, chain, *rule in rules:
            if (await _run("iptables", "-t", table, "-C", chain, *rule))[0] != 0:
                code, out = await _run("iptables", "-t", table, "-I", chain, *rule)
                if code != 0:
                    log.warning("iptables %s %s: %s", chain, " ".join(rule), out)

    def _lease(self, sandbox_id: str) -> str:
        self.ipam_dir.mkdir(parents=True, exist_ok=True)
        for address in self.cidr.hosts():
            ip = str(address)
            if ip == self.gateway:
                continue
            try:
                fd = os.open(self.ipam_dir / ip, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                continue
            os.write(fd, sandbox_id.encode())
            os.close(fd)
            return ip
        raise RuntimeFailure(f"no free pod IP in {self.cidr}")
