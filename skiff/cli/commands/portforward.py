"""``port-forward``: local TCP ports forwarded to a pod's ports, through the apiserver.

``skiffctl port-forward TYPE/NAME|POD [LOCAL_PORT:]REMOTE_PORT [...] [--address localhost]
[--pod-running-timeout=1m]`` does what kubectl 1.32 does, in three steps:

1. **The pod.** ``POD`` or ``pod/NAME`` is that pod. A workload or a Service (``deploy/``, ``rs/``,
   ``sts/``, ``ds/``, ``job/``, ``svc/``) names its pods through its selector, and the pod is the
   one ``logs`` and ``exec`` would take (bound, running, ready, oldest — kubectl's ActivePods
   order; skiff.cli.targetpods). Where none of them runs yet, skiffctl follows a watch for up to
   ``--pod-running-timeout`` until one does. Then a pod that is not Running is kubectl's
   ``error: unable to forward port because pod is not running. Current status=Pending``.
2. **The ports.** ``8080`` forwards 8080 to 8080, ``8080:80`` 8080 to 80, ``:80`` (or ``0:80``)
   a free local port to 80. A remote port may be a containerPort's name; for a Service it is a
   service port (number or name), mapped to the pod's port through the port's targetPort as
   kubectl's ``translateServicePortToTargetPort`` does. Bad specs get client-go's messages
   (``error parsing local port 'x': strconv.ParseUint: parsing "x": invalid syntax``).
3. **Forwarding.** skiffctl listens on each port at each ``--address`` — ``localhost`` is
   127.0.0.1 and ::1, where either may fail but not both; an IP must bind — and prints
   ``Forwarding from 127.0.0.1:8080 -> 80`` (``[::1]:8080`` for IPv6). Each accepted connection
   prints ``Handling connection for 8080`` and becomes one ``PortForward`` stream to the
   apiserver, which relays it to the kubelet of the pod's node, which dials the pod
   (:func:`skiff.client.pods.port_forward`). SIGINT or SIGTERM stops it all, exit 0.

As in kubectl 1.32, the session ends with ``error: lost connection to pod`` (exit 1) when a
connection fails on the pod's side — after ``an error occurred forwarding 8080 -> 80: <why>``,
for example a port nothing listens on — or when the pod stops running or is deleted (the pod is
followed through skiff.cli.following meanwhile).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import functools
import ipaddress
import json
import signal
import socket
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace

from google.protobuf.message import Message

from skiff.aio import cancel_and_wait
from skiff.api import errors, kinds
from skiff.api.strconv import atoi
from skiff.api.v1 import core_pb2
from skiff.cli.commands.label import allow_intermixed
from skiff.cli.context import Context, UsageError
from skiff.cli.flags import duration_flag
from skiff.cli.following import follow
from skiff.cli.resources import Target
from skiff.cli.targetpods import SELECTING_KINDS, pods_of_selector, selector_of, split_target
from skiff.client.client import Client
from skiff.client.pods import port_forward

USAGE = "skiffctl port-forward TYPE/NAME [options] [LOCAL_PORT:]REMOTE_PORT [...[LOCAL_PORT_N:]REMOTE_PORT_N]"
SEE_HELP = "See 'skiffctl port-forward -h' for help and examples"
LOST = "error: lost connection to pod"
MAX_PORT = 65535


# ---- port specs ----

@dataclass(frozen=True)
class ForwardedPort:
    """A ``LOCAL:REMOTE`` pair; ``local`` 0 until a free port is picked."""

    local: int
    remote: int

    def __str__(self) -> str:
        return f"{{{self.local} {self.remote}}}"  # Go's %v of client-go's ForwardedPort


def split_port(spec: str) -> tuple[str, str]:
    """kubectl's ``splitPort``: ``8080:80`` → (8080, 80), ``80`` → (80, 80), ``:80`` → ("", 80)."""
    local, sep, remote = spec.partition(":")
    return (local, remote) if sep else (spec, spec)


def parse_uint16(text: str) -> int:
    """Go's ``strconv.ParseUint(text, 10, 16)``, with its error message."""
    if not text or not text.isascii() or not text.isdigit():
        raise ValueError(f"strconv.ParseUint: parsing {json.dumps(text)}: invalid syntax")
    value = int(text)
    if value > MAX_PORT:
        raise ValueError(f"strconv.ParseUint: parsing {json.dumps(text)}: value out of range")
    return value


def parse_port(spec: str) -> ForwardedPort:
    """One port spec, as client-go's ``parsePorts`` reads it (an empty local port is 0: pick one)."""
    if spec.count(":") > 1:
        raise ValueError(f"invalid port format '{spec}'")
    local, remote = split_port(spec)
    local = local or "0"
    try:
        local_port = parse_uint16(local)
    except ValueError as exc:
        raise ValueError(f"error parsing local port '{local}': {exc}") from None
    try:
        remote_port = parse_uint16(remote)
    except ValueError as exc:
        raise ValueError(f"error parsing remote port '{remote}': {exc}") from None
    if remote_port == 0:
        raise ValueError("remote port must be > 0")
    return ForwardedPort(local_port, remote_port)


def parse_ports(specs: Sequence[str]) -> list[ForwardedPort]:
    """Every spec, or a UsageError with the first one's problem."""
    if not specs:
        raise UsageError("error: you must specify at least 1 port")
    try:
        return [parse_port(spec) for spec in specs]
    except ValueError as exc:
        raise UsageError(f"error: {exc}") from None


# ---- named ports and Services ----

def container_port_named(pod: core_pb2.Pod, name: str) -> int:
    """kubectl's ``LookupContainerPortNumberByName``: a containerPort by its name."""
    for container in [*pod.spec.containers, *pod.spec.init_containers]:
        for port in container.ports:
            if port.name == name:
                return port.container_port
    raise ValueError(f"Pod '{pod.metadata.name}' does not have a named port '{name}'")


def service_port_named(svc: core_pb2.Service, name: str) -> int:
    """kubectl's ``LookupServicePortNumberByName``."""
    for port in svc.spec.ports:
        if port.name == name:
            return port.port
    raise ValueError(f"Service '{svc.metadata.name}' does not have a named port '{name}'")


def target_port(svc: core_pb2.Service, pod: core_pb2.Pod, port: int) -> int:
    """kubectl's ``LookupContainerPortNumberByServicePort``: the pod's port behind service port
    ``port`` (the port itself for a headless Service, or when targetPort is not set)."""
    if svc.spec.cluster_ip == "None":
        return port
    for spec in svc.spec.ports:
        if spec.port != port:
            continue
        target = spec.target_port
        if target.HasField("str_val") and target.str_val:
            return container_port_named(pod, target.str_val)
        return int(target.int_val) or spec.port
    raise ValueError(f"Service {svc.metadata.name} does not have a service port {port}")


def service_ports_to_pod(specs: Sequence[str], svc: core_pb2.Service, pod: core_pb2.Pod) -> list[str]:
    """kubectl's ``translateServicePortToTargetPort``: each spec's remote service port (a number or
    a name; a lone name also names the local port) becomes the pod's port behind it."""
    out = []
    for spec in specs:
        local, remote = split_port(spec)
        number = atoi(remote)
        if number is None:
            number = service_port_named(svc, remote)
            if local == remote:
                local = str(number)
        pod_port = str(target_port(svc, pod, number))
        out.append(pod_port if local == pod_port else f"{local}:{pod_port}")
    return out


def named_ports_to_numbers(specs: Sequence[str], pod: core_pb2.Pod) -> list[str]:
    """kubectl's ``convertPodNamedPortToNumber``: a remote port may be a containerPort's name."""
    out = []
    for spec in specs:
        local, remote = split_port(spec)
        if not remote:
            raise ValueError("remote port cannot be empty")
        number = remote if atoi(remote) is not None else str(container_port_named(pod, remote))
        out.append(number if local == remote else f"{local}:{number}")
    return out


def _udp_only(ports: Iterable[tuple[int, str]]) -> set[int]:
    """The port numbers declared only with protocol UDP (port-forward carries TCP)."""
    udp = {number for number, protocol in ports if protocol == "UDP"}
    return udp - {number for number, protocol in ports if protocol in ("", "TCP")}


def check_udp(specs: Sequence[str], obj: Message, pod: core_pb2.Pod) -> None:
    """kubectl's ``checkUDPPortInService`` / ``checkUDPPortInPod``."""
    if isinstance(obj, core_pb2.Service):
        udp = _udp_only([(p.port, p.protocol) for p in obj.spec.ports])
    else:
        udp = _udp_only([(p.container_port, p.protocol) for c in pod.spec.containers for p in c.ports])
    for remote in (split_port(spec)[1] for spec in specs):
        if not remote:
            continue  # "remote port cannot be empty" comes next
        number = atoi(remote)
        if number is None:
            number = (service_port_named(obj, remote) if isinstance(obj, core_pb2.Service)
                      else container_port_named(pod, remote))
        if number in udp:
            raise ValueError(f"UDP protocol is not supported for {remote}")


def pod_ports(specs: Sequence[str], obj: Message, pod: core_pb2.Pod) -> list[str]:
    """The specs with the pod's port numbers as remote ports (what kubectl's Complete does)."""
    try:
        for spec in specs:
            if spec.count(":") > 1:
                raise ValueError(f"invalid port format '{spec}'")
        check_udp(specs, obj, pod)
        if isinstance(obj, core_pb2.Service):
            return service_ports_to_pod(specs, obj, pod)
        return named_ports_to_numbers(specs, pod)
    except ValueError as exc:
        raise UsageError(f"error: {exc}") from None


# ---- listen addresses ----

@dataclass(frozen=True)
class ListenAddress:
    address: str
    family: socket.AddressFamily
    required: bool
    """An address named on the command line must bind; of localhost's two, one is enough."""

    @property
    def protocol(self) -> str:
        return "tcp6" if self.family == socket.AF_INET6 else "tcp4"

    def join(self, port: int) -> str:
        """Go's ``net.JoinHostPort``: ``127.0.0.1:8080``, ``[::1]:8080``."""
        return f"[{self.address}]:{port}" if self.family == socket.AF_INET6 else f"{self.address}:{port}"


def parse_addresses(values: Sequence[str]) -> list[ListenAddress]:
    """client-go's ``parseAddresses``: ``localhost`` or IPs, deduplicated, sorted by address."""
    parsed: dict[str, ListenAddress] = {}
    for value in (v.strip() for text in values for v in text.split(",")):
        if value == "localhost":
            parsed.setdefault("127.0.0.1", ListenAddress("127.0.0.1", socket.AF_INET, required=False))
            parsed.setdefault("::1", ListenAddress("::1", socket.AF_INET6, required=False))
            continue
        try:
            ip = ipaddress.ip_address(value)
        except ValueError:
            raise UsageError(f"error: {value} is not a valid IP") from None
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        parsed[value] = ListenAddress(value, family, required=True)
    return sorted(parsed.values(), key=lambda a: a.address)


def _listen_error(address: ListenAddress, port: int, exc: OSError) -> str:
    """Go's words for a failed listen: ``listen tcp4 127.0.0.1:80: bind: address already in use``."""
    step = "socket" if exc.errno == errno.EAFNOSUPPORT else "bind"
    reason = (exc.strerror or str(exc)).lower()
    return f"unable to create listener: Error listen {address.protocol} {address.join(port)}: {step}: {reason}"


# ---- choosing the pod ----

def _running_first(best_first: list[core_pb2.Pod]) -> bool:
    return bool(best_first) and best_first[0].status.phase == "Running"


async def forwardable_pod(ctx: Context, target: str, timeout: float) -> tuple[Message, core_pb2.Pod]:
    """The object ``target`` names and the pod to forward to (kubectl's AttachablePodForObject): a
    workload's best pod once it runs, else — after ``timeout`` — its best one (which then fails as
    not running), or kubectl's timeout error when it has none."""
    kind, name = split_target(target)
    obj = await ctx.client.get(kind.message, name, namespace=ctx.namespace)
    if isinstance(obj, core_pb2.Pod):
        return obj, obj
    go_type = f"*v1.{kind.kind}"
    if kind.kind not in SELECTING_KINDS:
        raise UsageError(f"error: cannot attach to {go_type}: selector for {go_type} not implemented")
    if isinstance(obj, core_pb2.Service) and not obj.spec.selector:
        raise UsageError(f"error: cannot attach to {go_type}: invalid service '{name}': "
                         "Service is defined without a selector")
    pods = await pods_of_selector(ctx.client, ctx.namespace, selector_of(obj), timeout, enough=_running_first)
    return obj, pods[0]


async def until_pod_stops(client: Client, pod: core_pb2.Pod) -> None:
    """Return once the pod is deleted, replaced or no longer Running (the watch resumes when it breaks)."""

    def stopped(now: Message | None) -> bool:
        return (not isinstance(now, core_pb2.Pod) or now.metadata.uid != pod.metadata.uid
                or now.status.phase != "Running")

    await follow(client, Target(kinds.of(pod), pod.metadata.namespace, pod.metadata.name), stopped, first=pod)


# ---- forwarding ----

def bound_socket(address: ListenAddress, port: int) -> socket.socket:
    """A listening socket on ``address:port`` (0: a free port), as Go's ``net.Listen`` makes it."""
    sock = socket.socket(address.family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if address.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((address.address, port))
        sock.listen(socket.SOMAXCONN)
    except OSError:
        sock.close()
        raise
    return sock


@dataclass
class Forwarder:
    """Listeners for every port at every address, one PortForward stream per accepted connection."""

    ctx: Context
    pod: core_pb2.Pod
    addresses: list[ListenAddress]
    ports: list[ForwardedPort]
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a connection failed on the pod's side: the session is over."""
    servers: list[asyncio.Server] = field(default_factory=list)
    connections: set[asyncio.Task[None]] = field(default_factory=set)

    async def listen(self) -> None:
        """Listen on every port (printing kubectl's lines); UsageError when no port could be had."""
        listening = False
        for i, port in enumerate(self.ports):
            try:
                self.ports[i] = await self._listen_on_port(port)
                listening = True
            except OSError as exc:
                self.ctx.warn(f"Unable to listen on port {port.local}: {exc}")
        if not listening:
            raise UsageError(f"error: unable to listen on any of the requested ports: "
                             f"[{' '.join(str(p) for p in self.ports)}]")

    async def _listen_on_port(self, port: ForwardedPort) -> ForwardedPort:
        """client-go's ``listenOnPort``: every address; a named address that fails, or localhost
        failing at both of its addresses, fails the port. A picked free port is kept for the
        next addresses."""
        failures: list[str] = []
        named_failed = False
        localhost = {"bound": 0, "failed": 0}
        for address in self.addresses:
            try:
                port = await self._listen(address, port)
            except OSError as exc:
                failures.append(_listen_error(address, port.local, exc))
                named_failed |= address.required
                localhost["failed"] += not address.required
            else:
                localhost["bound"] += not address.required
        if named_failed or (localhost["failed"] and not localhost["bound"]):
            raise OSError(f"Listeners failed to create with the following errors: [{' '.join(failures)}]")
        return port

    async def _listen(self, address: ListenAddress, port: ForwardedPort) -> ForwardedPort:
        sock = bound_socket(address, port.local)
        bound = replace(port, local=int(sock.getsockname()[1]))
        self.servers.append(await asyncio.start_server(functools.partial(self._accepted, bound), sock=sock))
        self.ctx.print(f"Forwarding from {address.join(bound.local)} -> {bound.remote}")
        return bound

    def _accepted(self, port: ForwardedPort, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A new connection: handled in a task of our own, which ``close`` cancels."""
        task = asyncio.create_task(self._handle(port, reader, writer))
        self.connections.add(task)
        task.add_done_callback(self.connections.discard)

    async def _handle(self, port: ForwardedPort, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        """client-go's ``handleConnection``: one connection, copied both ways until both end."""
        self.ctx.print(f"Handling connection for {port.local}")
        try:
            await port_forward(self.ctx.client, self.pod.metadata.name, port.remote,
                               namespace=self.pod.metadata.namespace, reader=reader, writer=writer)
        except errors.StatusError as exc:
            self.ctx.warn(f"an error occurred forwarding {port.local} -> {port.remote}: {exc.message}")
            self.lost.set()
        except OSError:
            pass  # the local side went away (reset): this connection ends, the others go on
        finally:
            writer.close()

    async def close(self) -> None:
        for server in self.servers:
            server.close()
        await cancel_and_wait(list(self.connections), ignore_errors=True)
        for server in self.servers:
            await server.wait_closed()


@contextlib.contextmanager
def stop_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` (instead of interrupting) while forwarding."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def forward(forwarder: Forwarder, stop: asyncio.Event) -> bool:
    """Listen, then serve until ``stop`` or until the session is lost (True: it was lost)."""
    watcher = asyncio.create_task(until_pod_stops(forwarder.ctx.client, forwarder.pod))
    stopped = asyncio.create_task(stop.wait())
    lost = asyncio.create_task(forwarder.lost.wait())
    try:
        await forwarder.listen()
        await asyncio.wait({watcher, stopped, lost}, return_when=asyncio.FIRST_COMPLETED)
        return not stopped.done()
    finally:
        await cancel_and_wait([watcher, stopped, lost], ignore_errors=True)
        await forwarder.close()


# ---- the verb ----

async def run_port_forward(ctx: Context) -> int:
    args = ctx.args
    timeout = duration_flag(args.pod_running_timeout, "--pod-running-timeout")
    if len(args.words) < 2:
        raise UsageError(f"error: TYPE/NAME and list of ports are required for port-forward\n{SEE_HELP}")
    if timeout <= 0:
        raise UsageError(f"error: --pod-running-timeout must be higher than zero\n{SEE_HELP}")
    obj, pod = await forwardable_pod(ctx, args.words[0], timeout)
    specs = pod_ports(args.words[1:], obj, pod)
    if pod.status.phase != "Running":
        raise UsageError(f"error: unable to forward port because pod is not running. "
                         f"Current status={pod.status.phase}")
    forwarder = Forwarder(ctx, pod, parse_addresses(args.address or ["localhost"]), parse_ports(specs))
    stop = asyncio.Event()
    with stop_signals(stop):
        if await forward(forwarder, stop):
            raise UsageError(LOST)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``port-forward`` to skiffctl."""
    p = sub.add_parser("port-forward", help="forward one or more local ports to a pod", usage=USAGE,
                       description="Forward one or more local ports to a pod. Use resource type/name such as "
                                   "deployment/mydeployment to select a pod; the type defaults to pod.")
    p.add_argument("words", nargs="*", metavar="TYPE/NAME PORT", help=argparse.SUPPRESS)
    p.add_argument("--address", action="append", default=None,
                   help="addresses to listen on (comma separated): IP addresses or localhost (127.0.0.1 and "
                        "::1, either may be missing); default localhost")
    p.add_argument("--pod-running-timeout", default="1m0s",
                   help="how long to wait until at least one pod is running (like 5s, 2m, or 3h, higher than zero)")
    p.set_defaults(run=run_port_forward)
    allow_intermixed(p)
