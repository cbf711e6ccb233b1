"""The load balancer's nginx, for real: ``Nginx`` starts it, ``apply`` reloads it, ``stop`` ends it.

Backends are small asyncio servers on 127.0.0.2 and 127.0.0.3 answering with their own name (TCP)
or echoing with it (UDP); listeners are on 127.0.100.x at ports found free. Shown: round-robin
across two backends; once ``apply`` returns, a removed backend gets no more connections, a new
listener answers and a removed one refuses (no waiting: ``apply`` returns when the reload took);
an unchanged list does not reload; UDP datagrams are relayed and answered; a config that nginx
refuses (an address in use, an address not on this machine, an invalid one) raises NginxError
while the old config keeps serving; nginx that died is started again by the next ``apply``; a
leftover nginx of the same work directory is stopped by ``start``; ``stop`` leaves no process, even
when its caller's deadline cuts it short.
Skipped when nginx or its stream module is not installed (``apt-get install nginx-light
libnginx-mod-stream``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import pytest

from proxy.loadbalancer.nginx import Nginx
from proxy.loadbalancer.nginxconf import Listener, NginxError, find_nginx, stream_modules
from tests.support.cluster import eventually

DEADLINE_S = 10.0


@pytest.fixture(scope="module")
def binary() -> str:
    found = find_nginx()
    if found is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light libnginx-mod-stream)")
    try:
        stream_modules(found)
    except NginxError as exc:
        pytest.skip(f"nginx has no stream module: {exc}")
    return found


@pytest.fixture
async def nginx(binary: str, tmp_path: Path) -> AsyncIterator[Nginx]:
    lb = Nginx(tmp_path / "lb", binary=binary, stop_timeout=0.5)  # UDP sessions would hold a graceful stop 10 s
    await lb.start()
    try:
        yield lb
    finally:
        processes = nginx_processes(lb)
        await lb.stop()
        assert not lb.running
        assert not [pid for pid in processes if alive(pid)], "nginx processes left behind"


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def nginx_processes(lb: Nginx) -> list[int]:
    return [lb.pid, *children(lb.pid)] if lb.pid is not None else []


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


def free_port(address: str, kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


class Backend:
    """A TCP server on ``ip`` answering every connection with ``name``; ``hits`` counts them."""

    def __init__(self, ip: str, name: str) -> None:
        self.ip, self.name, self.hits, self.port = ip, name, 0, 0

    async def answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.hits += 1
        writer.write(self.name.encode())
        await writer.drain()
        writer.close()


@contextlib.asynccontextmanager
async def backend(ip: str, name: str) -> AsyncIterator[Backend]:
    b = Backend(ip, name)
    server = await asyncio.start_server(b.answer, ip, 0)
    b.port = server.sockets[0].getsockname()[1]
    try:
        yield b
    finally:
        server.close()
        await server.wait_closed()


class Echo(asyncio.DatagramProtocol):
    def __init__(self, name: str) -> None:
        self.name = name

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(self.name.encode() + b":" + data, addr)


async def ask(address: str, port: int) -> str:
    """What the listener answers; ``refused`` when connecting is refused."""
    try:
        reader, writer = await asyncio.open_connection(address, port)
    except ConnectionRefusedError:
        return "refused"
    try:
        async with asyncio.timeout(DEADLINE_S):
            return (await reader.read()).decode()
    finally:
        writer.close()


def tcp(address: str, port: int, *backends: Backend, name: str = "default/web:http/TCP") -> Listener:
    return Listener(name=name, address=address, port=port, protocol="TCP",
                    backends=tuple((b.ip, b.port) for b in backends))


async def test_round_robin_across_two_backends(nginx: Nginx) -> None:
    port = free_port("127.0.100.1")
    async with backend("127.0.0.2", "a") as a, backend("127.0.0.3", "b") as b:
        await nginx.apply([tcp("127.0.100.1", port, a, b)])
        answers = [await ask("127.0.100.1", port) for _ in range(6)]
    assert Counter(answers) == {"a": 3, "b": 3}, answers
    assert answers[0] != answers[1]  # in turn, not in runs
    assert (a.hits, b.hits) == (3, 3)


async def test_a_removed_backend_gets_no_more_connections(nginx: Nginx) -> None:
    port = free_port("127.0.100.2")
    async with backend("127.0.0.2", "a") as a, backend("127.0.0.3", "b") as b:
        await nginx.apply([tcp("127.0.100.2", port, a, b)])
        assert {await ask("127.0.100.2", port) for _ in range(4)} == {"a", "b"}
        hits = b.hits
        await nginx.apply([tcp("127.0.100.2", port, a)])
        assert [await ask("127.0.100.2", port) for _ in range(6)] == ["a"] * 6
        assert b.hits == hits
        await nginx.apply([tcp("127.0.100.2", port, b)])
        assert [await ask("127.0.100.2", port) for _ in range(3)] == ["b"] * 3


async def test_listeners_appear_and_go(nginx: Nginx) -> None:
    first, second = free_port("127.0.100.3"), free_port("127.0.100.4")
    async with backend("127.0.0.2", "a") as a:
        assert await ask("127.0.100.3", first) == "refused"  # nginx runs, without listeners
        await nginx.apply([tcp("127.0.100.3", first, a)])
        assert await ask("127.0.100.3", first) == "a"
        assert await ask("127.0.100.4", second) == "refused"
        await nginx.apply([tcp("127.0.100.3", first, a), tcp("127.0.100.4", second, a, name="default/api:80/TCP")])
        assert await ask("127.0.100.4", second) == "a"
        await nginx.apply([tcp("127.0.100.4", second, a, name="default/api:80/TCP")])
        assert await ask("127.0.100.3", first) == "refused"
        assert await ask("127.0.100.4", second) == "a"
        await nginx.apply([tcp("127.0.100.4", second, name="default/api:80/TCP")])  # no backends left
        assert await ask("127.0.100.4", second) == "refused"


async def test_an_unchanged_list_does_not_reload(nginx: Nginx) -> None:
    port = free_port("127.0.100.5")
    async with backend("127.0.0.2", "a") as a:
        await nginx.apply([tcp("127.0.100.5", port, a)])
        assert nginx.pid is not None
        workers = children(nginx.pid)
        written = (nginx.workdir / "nginx.conf").stat().st_mtime_ns
        await nginx.apply([tcp("127.0.100.5", port, a)])
        assert children(nginx.pid) == workers
        assert (nginx.workdir / "nginx.conf").stat().st_mtime_ns == written
        await nginx.apply([tcp("127.0.100.5", port, a, name="default/renamed:http/TCP")])  # a new comment
        assert set(children(nginx.pid)) != set(workers)


async def test_udp_datagrams_are_relayed_and_answered(nginx: Nginx) -> None:
    loop = asyncio.get_running_loop()
    echo, _ = await loop.create_datagram_endpoint(lambda: Echo("a"), local_addr=("127.0.0.2", 0))
    try:
        backend_port = echo.get_extra_info("sockname")[1]
        port = free_port("127.0.100.6", socket.SOCK_DGRAM)
        await nginx.apply([Listener(name="kube-system/dns:dns/UDP", address="127.0.100.6", port=port, protocol="UDP",
                                    backends=(("127.0.0.2", backend_port),))])
        replies: asyncio.Queue[bytes] = asyncio.Queue()

        class Client(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                replies.put_nowait(data)

        client, _ = await loop.create_datagram_endpoint(Client, remote_addr=("127.0.100.6", port))
        try:
            client.sendto(b"hello")
            async with asyncio.timeout(DEADLINE_S):
                assert await replies.get() == b"a:hello"
            client.sendto(b"again")
            async with asyncio.timeout(DEADLINE_S):
                assert await replies.get() == b"a:again"
        finally:
            client.close()
    finally:
        echo.close()


async def test_an_address_in_use_fails_the_reload_and_the_old_config_keeps_serving(nginx: Nginx) -> None:
    good = free_port("127.0.100.7")
    async with backend("127.0.0.2", "a") as a:
        await nginx.apply([tcp("127.0.100.7", good, a)])
        before = (nginx.workdir / "nginx.conf").read_text()
        with socket.socket() as taken:
            taken.bind(("127.0.100.8", 0))
            taken.listen()
            busy = taken.getsockname()[1]
            new = free_port("127.0.100.9")
            with pytest.raises(NginxError, match=rf"127\.0\.100\.8:{busy} failed \(98: Address already in use\)"):
                await nginx.apply([tcp("127.0.100.7", good, a), tcp("127.0.100.8", busy, a, name="default/busy:80/TCP"),
                                   tcp("127.0.100.9", new, a, name="default/new:80/TCP")])
        assert await ask("127.0.100.7", good) == "a"
        assert await ask("127.0.100.9", new) == "refused"  # none of the failed config took
        assert (nginx.workdir / "nginx.conf").read_text() == before
        assert nginx.running
        # and the next apply works from there
        await nginx.apply([tcp("127.0.100.9", new, a, name="default/new:80/TCP")])
        assert await ask("127.0.100.9", new) == "a"
        assert await ask("127.0.100.7", good) == "refused"


async def test_a_config_nginx_rejects_raises_its_message_and_changes_nothing(nginx: Nginx) -> None:
    with socket.socket() as probe:
        try:
            probe.bind(("192.0.2.1", 0))
        except OSError:
            pass
        else:
            pytest.skip("this machine can bind 192.0.2.1 (ip_nonlocal_bind?)")
    good = free_port("127.0.100.10")
    async with backend("127.0.0.2", "a") as a:
        await nginx.apply([tcp("127.0.100.10", good, a)])
        before = (nginx.workdir / "nginx.conf").read_text()
        assert nginx.pid is not None
        workers = children(nginx.pid)
        with pytest.raises(NginxError, match=r"rejected the config: bind\(\) to 192\.0\.2\.1:80 failed \(99: "):
            await nginx.apply([tcp("127.0.100.10", good, a), tcp("192.0.2.1", 80, a, name="default/far:80/TCP")])
        with pytest.raises(NginxError, match="'not-an-ip' is not an IP address"):
            await nginx.apply([tcp("not-an-ip", 80, a, name="default/bad:80/TCP")])
        assert children(nginx.pid) == workers  # not even reloaded
        assert (nginx.workdir / "nginx.conf").read_text() == before
        assert not (nginx.workdir / "nginx.conf.new").exists()
        assert await ask("127.0.100.10", good) == "a"


async def test_nginx_that_died_is_started_again_by_apply(nginx: Nginx) -> None:
    port = free_port("127.0.100.11")
    async with backend("127.0.0.2", "a") as a:
        await nginx.apply([tcp("127.0.100.11", port, a)])
        master = nginx.pid
        assert master is not None
        workers = children(master)
        os.kill(master, signal.SIGKILL)  # our own nginx: it died (OOM killer, say); its worker lives on

        async def dead() -> bool:
            return not nginx.running

        await eventually(dead, timeout=DEADLINE_S, what="nginx to have exited")
        await nginx.apply([tcp("127.0.100.11", port, a)])
        assert nginx.running and nginx.pid != master
        assert not [pid for pid in workers if alive(pid)]  # the orphaned worker was ended
        assert await ask("127.0.100.11", port) == "a"


async def test_start_stops_a_leftover_nginx_of_the_same_work_directory(binary: str, tmp_path: Path) -> None:
    port = free_port("127.0.100.12")
    first = Nginx(tmp_path / "lb", binary=binary)
    await first.start()
    second = Nginx(tmp_path / "lb", binary=binary)
    try:
        async with backend("127.0.0.2", "a") as a:
            await first.apply([tcp("127.0.100.12", port, a)])
            leftover = nginx_processes(first)
            await second.start()  # as after a crash of the process that started the first
            assert not [pid for pid in leftover if alive(pid)]
            assert await ask("127.0.100.12", port) == "refused"
            await second.apply([tcp("127.0.100.12", port, a)])
            assert await ask("127.0.100.12", port) == "a"
    finally:
        await first.stop()
        await second.stop()


async def test_stop_ends_every_nginx_process(binary: str, tmp_path: Path) -> None:
    lb = Nginx(tmp_path / "lb", binary=binary)
    await lb.start()
    port = free_port("127.0.100.13")
    async with backend("127.0.0.2", "a") as a:
        await lb.apply([tcp("127.0.100.13", port, a)])
        await lb.apply([tcp("127.0.100.13", port, a, name="default/other:http/TCP")])  # old workers too
        processes = nginx_processes(lb)
        assert len(processes) >= 2
        await lb.stop()
        assert not lb.running and lb.pid is None
        assert not [pid for pid in processes if alive(pid)]
        assert await ask("127.0.100.13", port) == "refused"
        assert not (lb.workdir / "nginx.pid").exists()
        await lb.stop()  # twice is fine
        with pytest.raises(NginxError, match="not started"):
            await lb.apply([])


async def test_a_stop_cut_short_by_its_caller_still_leaves_no_process(binary: str, tmp_path: Path) -> None:
    lb = Nginx(tmp_path / "lb", binary=binary, stop_timeout=60.0)
    await lb.start()
    port = free_port("127.0.100.14")
    held = asyncio.Event()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.set()
        await reader.read()  # until the client goes: a graceful nginx stop waits for this connection
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.2", 0)
    try:
        await lb.apply([Listener(name="default/held:80/TCP", address="127.0.100.14", port=port, protocol="TCP",
                                 backends=(("127.0.0.2", server.sockets[0].getsockname()[1]),))])
        _, writer = await asyncio.open_connection("127.0.100.14", port)
        async with asyncio.timeout(DEADLINE_S):
            await held.wait()
        processes = nginx_processes(lb)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await lb.stop()
        assert not lb.running

        async def gone() -> bool:
            return not [pid for pid in processes if alive(pid)]

        await eventually(gone, timeout=DEADLINE_S, what="nginx's processes to be killed")
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
        await lb.stop()
