"""ProcessRuntime with real processes, network namespaces and cgroups.

Each test gets a runtime on a fresh root dir; the ``runtime`` fixture removes every sandbox it
made afterwards and checks that the pod's network namespace, cgroups and processes are gone.
Waits poll with a deadline (``eventually``); nothing sleeps hoping something happened.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path

import pytest

from kubelet.runtime.interface import (
    LABEL_CONTAINER_NAME,
    LABEL_POD_UID,
    ContainerConfig,
    ContainerInfo,
    ContainerRuntime,
    DnsConfig,
    Mount,
    RuntimeFailure,
    Sandbox,
    SandboxConfig,
    State,
)
from kubelet.runtime.process import Cgroups, ProcessRuntime, proc_start_ticks
from kubelet.runtime.process.attach import socket_path
from kubelet.stats import StatsSampler
from skiff.api.v1 import core_pb2

ROOT = os.geteuid() == 0
BUSYBOX = shutil.which("busybox") or "/bin/busybox"
PATH_ENV = ("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
pytestmark = pytest.mark.skipif(not Path(BUSYBOX).exists(), reason="needs busybox")


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def exited(runtime: ProcessRuntime, container_id: str, timeout: float = 10.0) -> ContainerInfo:
    async def done() -> bool:
        return (await runtime.container_info(container_id)).state is State.EXITED

    await eventually(done, timeout, f"container {container_id} to exit")
    return await runtime.container_info(container_id)


def sh(name: str, script: str, **kwargs: object) -> ContainerConfig:
    return ContainerConfig(name=name, image="busybox", command=[BUSYBOX, "sh", "-c", script], args=[],
                           env=[PATH_ENV], **kwargs)  # type: ignore[arg-type]


async def log_text(runtime: ProcessRuntime, container_id: str, **kwargs: object) -> bytes:
    return b"".join([chunk async for chunk in runtime.logs(container_id, **kwargs)])  # type: ignore[arg-type]


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[ProcessRuntime]:
    rt = ProcessRuntime(tmp_path / "kubelet", node_name="node-a", node_ip="192.0.2.99")
    yield rt
    await cleanup_and_check(rt)


async def cleanup_and_check(rt: ProcessRuntime) -> None:
    states = [rt._state(c.id) for c in await rt.list_containers()]
    netns = [f"skiff-{s.id[:8]}" for s in await rt.list_sandboxes()]
    for sandbox in await rt.list_sandboxes():
        await rt.remove_sandbox(sandbox.id)
    assert await rt.list_containers() == [] and await rt.list_sandboxes() == []
    for name in netns:
        assert not Path(f"/run/netns/{name}").exists()
    for state in states:
        assert proc_start_ticks(state["pid"]) != state["ticks"], "container process left behind"
        assert all(not Path(p).exists() for p in state["cgroups"]), "cgroup left behind"


async def pod(rt: ProcessRuntime, *, host_network: bool = False) -> Sandbox:
    uid = secrets.token_hex(8)
    return await rt.run_sandbox(SandboxConfig(pod_uid=uid, namespace="default", name=f"p-{uid[:4]}", hostname="p",
                                              host_network=host_network))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_is_a_container_runtime(tmp_path: Path) -> None:
    assert isinstance(ProcessRuntime(tmp_path), ContainerRuntime)


async def test_version_images_and_labels(runtime: ProcessRuntime) -> None:
    assert (await runtime.version()).startswith("process://")
    assert await runtime.ready() and await runtime.image_present("anything:1")
    await runtime.pull_image("anything:1")
    sandbox = await pod(runtime)
    cid = await runtime.start_container(sandbox, sh("app", "sleep 30", attempt=2))
    info = await runtime.container_info(cid)
    assert info.state is State.RUNNING and info.attempt == 2 and info.image == "busybox"
    assert info.labels[LABEL_POD_UID] == sandbox.pod_uid and info.labels[LABEL_CONTAINER_NAME] == "app"
    assert [c.id for c in await runtime.list_containers(sandbox.pod_uid)] == [cid]
    assert await runtime.list_containers("other") == []


@pytest.mark.skipif(not ROOT, reason="pod network namespaces need root")
async def test_containers_of_a_pod_share_localhost_and_the_pod_has_its_own_ip(
        runtime: ProcessRuntime, tmp_path: Path) -> None:
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "marker").write_text("served-from-pod")
    port = free_port()
    sandbox = await pod(runtime)
    assert sandbox.ip.startswith("10.88.") and sandbox.ip != runtime.node_ip
    server = ContainerConfig(name="server", image="python", args=[], env=[PATH_ENV],
                             command=[sys.executable, "-m", "http.server", str(port), "--bind", "0.0.0.0",
                                      "--directory", str(tmp_path / "www")])
    await runtime.start_container(sandbox, server)
    client = await runtime.start_container(sandbox, sh("client", (
        f"for i in $(seq 200); do {BUSYBOX} wget -q -O - http://127.0.0.1:{port}/marker && exit 0; "
        "sleep 0.05; done; exit 1")))
    info = await exited(runtime, client)
    assert (info.exit_code, info.reason) == (0, "Completed")
    assert b"served-from-pod" in await log_text(runtime, client)
    with urllib.request.urlopen(f"http://{sandbox.ip}:{port}/marker", timeout=5) as response:
        assert response.read() == b"served-from-pod"
    with socket.socket() as s, pytest.raises(ConnectionRefusedError):
        s.connect(("127.0.0.1", port))  # the pod's localhost is not the host's


@pytest.mark.skipif(not ROOT, reason="pod network namespaces need root")
async def test_a_reused_pod_ip_is_reachable_from_the_host_at_once(runtime: ProcessRuntime, tmp_path: Path) -> None:
    """A freed IP is leased again; the host's neighbour cache must not blackhole the new pod."""
    port = free_port()
    seen: list[str] = []
    for _ in range(2):
        sandbox = await pod(runtime)
        server = ContainerConfig(name="server", image="python", args=[], env=[PATH_ENV],
                                 command=[sys.executable, "-m", "http.server", str(port), "--bind", "0.0.0.0",
                                          "--directory", str(tmp_path)])
        cid = await runtime.start_container(sandbox, server)

        async def serving(ip: str = sandbox.ip) -> bool:
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(ip, port), 0.5)
            except (OSError, TimeoutError):
                return False
            writer.close()
            return True

        await eventually(serving, 5, f"the pod at {sandbox.ip} to answer the host")  # not ~30 s later
        seen.append(sandbox.ip)
        await runtime.stop_container(cid, 0)
        await runtime.remove_container(cid)
        await runtime.stop_sandbox(sandbox.id)
        await runtime.remove_sandbox(sandbox.id)
    assert seen[0] == seen[1], f"the second pod should get the freed IP: {seen}"


async def test_host_network_pod_uses_node_ip(runtime: ProcessRuntime) -> None:
    sandbox = await pod(runtime, host_network=True)
    assert sandbox.ip == "192.0.2.99"


@pytest.mark.skipif(not ROOT, reason="mount namespaces need root")
async def test_a_directory_is_shared_at_the_same_path_in_both_containers(
        runtime: ProcessRuntime, tmp_path: Path) -> None:
    volume = tmp_path / "empty-dir"
    volume.mkdir()
    target = Path(f"/tmp/skiff-test-{secrets.token_hex(4)}/data")
    try:
        sandbox = await pod(runtime)
        mount = [Mount(host_path=str(volume), container_path=str(target))]
        writer = await runtime.start_container(sandbox, sh("writer", f"echo from-writer > {target}/x", mounts=mount))
        assert (await exited(runtime, writer)).exit_code == 0
        reader = await runtime.start_container(sandbox, sh("reader", f"cat {target}/x", mounts=mount))
        assert (await exited(runtime, reader)).exit_code == 0
        assert await log_text(runtime, reader) == b"from-writer\n"
        assert (volume / "x").read_text() == "from-writer\n"
        assert list(target.iterdir()) == []  # the bind mount is private to the containers
    finally:
        shutil.rmtree(target.parent, ignore_errors=True)


@pytest.mark.skipif(not ROOT, reason="mount namespaces need root")
async def test_read_only_mount(runtime: ProcessRuntime, tmp_path: Path) -> None:
    target = Path(f"/tmp/skiff-test-{secrets.token_hex(4)}")
    try:
        sandbox = await pod(runtime)
        mount = [Mount(host_path=str(tmp_path), container_path=str(target), read_only=True)]
        cid = await runtime.start_container(sandbox, sh("ro", f"echo x > {target}/y", mounts=mount))
        assert (await exited(runtime, cid)).exit_code != 0
        assert not (tmp_path / "y").exists()
    finally:
        shutil.rmtree(target, ignore_errors=True)


async def test_memory_limit_is_enforced_as_oom_killed(runtime: ProcessRuntime) -> None:
    if runtime.cgroups.mode == "none":
        pytest.skip("cgroups not writable")
    sandbox = await pod(runtime)
    hog = ContainerConfig(name="hog", image="python", args=[], env=[PATH_ENV], memory_limit_bytes=48 << 20,
                          command=[sys.executable, "-c", "b = b'x' * (512 << 20); print('survived')"])
    info = await exited(runtime, await runtime.start_container(sandbox, hog), timeout=20)
    assert (info.exit_code, info.reason) == (137, "OOMKilled")


async def test_cpu_limit_is_written(runtime: ProcessRuntime) -> None:
    if runtime.cgroups.mode == "none":
        pytest.skip("cgroups not writable")
    sandbox = await pod(runtime)
    cid = await runtime.start_container(sandbox, sh("cpu", "sleep 30", cpu_limit_millis=250))
    cgroup = Path(runtime._state(cid)["cgroups"][-1])  # v1: [memory, (cpuacct,) cpu]; v2: the one cgroup
    quota = (cgroup / ("cpu.max" if runtime.cgroups.mode == "v2" else "cpu.cfs_quota_us")).read_text()
    assert quota.split()[0] == "25000"
    assert runtime._state(cid)["pid"] in runtime.cgroups.pids([cgroup])


async def test_a_busy_container_uses_cpu_and_memory_and_the_sampler_rates_it(runtime: ProcessRuntime) -> None:
    sandbox = await pod(runtime)
    # a busy loop, held to a fifth of a core where cgroups apply (the machine is shared)
    cid = await runtime.start_container(sandbox, sh("busy", "while :; do :; done", cpu_limit_millis=200))
    first = await runtime.container_stats(cid)
    assert first is not None and first.memory_working_set_bytes > 0

    async def used_cpu() -> bool:
        now = await runtime.container_stats(cid)
        return now is not None and now.cpu_usage_seconds > first.cpu_usage_seconds

    await eventually(used_cpu, what="the busy loop to use CPU time")
    p = core_pb2.Pod()
    p.metadata.namespace, p.metadata.name, p.metadata.uid = "default", "busy", sandbox.pod_uid
    sampler = StatsSampler(runtime, "node-a", lambda: [p])
    await sampler.sample()

    async def rated() -> bool:
        await sampler.sample()
        pods = sampler.usage().pods
        return bool(pods and pods[0].containers and pods[0].containers[0].cpu_nano_cores > 0)

    await eventually(rated, what="a window with the busy loop's CPU rate")
    usage = sampler.usage()
    [busy] = usage.pods[0].containers
    assert busy.name == "busy" and busy.memory_working_set_bytes > 0
    if runtime.cgroups.mode != "none":  # the cgroups account it all (no /proc fallback)
        assert None not in Cgroups.usage([Path(d) for d in runtime._state(cid)["cgroups"]])
    assert usage.window_seconds > 0 and usage.memory_working_set_bytes > 0  # the host's own figures
    await runtime.stop_container(cid, 0)
    assert await runtime.container_stats(cid) is None


async def test_exit_codes_and_reasons(runtime: ProcessRuntime) -> None:
    sandbox = await pod(runtime)
    failed = await exited(runtime, await runtime.start_container(sandbox, sh("fail", "exit 3")))
    done = await exited(runtime, await runtime.start_container(sandbox, sh("ok", "true")))
    assert (failed.exit_code, failed.reason) == (3, "Error")
    assert (done.exit_code, done.reason) == (0, "Completed")
    assert done.finished_at is not None and done.started_at is not None and done.finished_at >= done.started_at
    with pytest.raises(RuntimeFailure, match="No such file"):
        await runtime.start_container(sandbox, ContainerConfig(name="x", image="i", command=["/nonexistent"],
                                                               args=[], env=[]))
    with pytest.raises(RuntimeFailure, match="needs a command"):
        await runtime.start_container(sandbox, ContainerConfig(name="x", image="nginx", command=[], args=[], env=[]))
    only_args = await exited(runtime, await runtime.start_container(sandbox, ContainerConfig(
        name="a", image="busybox", command=[], args=["sh", "-c", "exit 5"], env=[PATH_ENV])))
    assert only_args.exit_code == 5  # args alone run as an image without ENTRYPOINT runs them
    pause = await runtime.start_container(sandbox, ContainerConfig(name="p", image="registry.k8s.io/pause:3.9",
                                                                   command=[], args=[], env=[PATH_ENV]))
    assert (await runtime.container_info(pause)).state is State.RUNNING


async def test_env_working_dir_and_user(runtime: ProcessRuntime, tmp_path: Path) -> None:
    sandbox = await pod(runtime)
    config = ContainerConfig(name="env", image="busybox", command=[BUSYBOX, "sh", "-c"],
                             args=['echo "$GREETING|$(pwd)|$(id -u)"; env | sort'], env=[("GREETING", "hi there")],
                             working_dir=str(tmp_path), run_as_user=65534 if ROOT else None)
    cid = await runtime.start_container(sandbox, config)
    await exited(runtime, cid)
    first, *env = (await log_text(runtime, cid)).decode().splitlines()
    assert first == f"hi there|{tmp_path}|{65534 if ROOT else os.getuid()}"
    assert "GREETING=hi there" in env and not any(line.startswith("HOME=") for line in env)


async def test_exec_sync_output_env_and_timeout(runtime: ProcessRuntime) -> None:
    sandbox = await pod(runtime)
    cid = await runtime.start_container(sandbox, ContainerConfig(
        name="app", image="busybox", command=[BUSYBOX, "sleep", "30"], args=[], env=[PATH_ENV, ("MARK", "m1")]))
    result = await runtime.exec_sync(cid, [BUSYBOX, "sh", "-c", "echo $MARK; exit 5"], timeout=5)
    assert (result.exit_code, result.output) == (5, b"m1\n")
    if ROOT and sandbox.ip != runtime.node_ip:
        ip = await runtime.exec_sync(cid, [BUSYBOX, "ip", "-4", "addr", "show", "eth0"], timeout=5)
        assert sandbox.ip.encode() in ip.output  # exec runs in the pod's network namespace
    began = time.monotonic()
    slow = await runtime.exec_sync(cid, [BUSYBOX, "sleep", "10"], timeout=0.3)
    assert slow.exit_code == -1 and time.monotonic() - began < 5


@pytest.mark.skipif(not ROOT, reason="UTS namespaces need root")
async def test_a_pod_has_its_hostname_and_a_host_network_pod_the_nodes(runtime: ProcessRuntime) -> None:
    sleeper = ContainerConfig(name="app", image="busybox", command=[BUSYBOX, "sleep", "30"], args=[], env=[PATH_ENV])
    own = await runtime.start_container(await pod(runtime), sleeper)
    shared = await runtime.start_container(await pod(runtime, host_network=True), sleeper)
    assert (await runtime.exec_sync(own, [BUSYBOX, "hostname"], timeout=5)).output == b"p\n"
    assert (await runtime.exec_sync(shared, [BUSYBOX, "hostname"], timeout=5)).output == \
        f"{socket.gethostname()}\n".encode()
    assert socket.gethostname() != "p"  # the container's name did not leak to the host


POD_DNS = DnsConfig(servers=("10.96.0.10", "10.96.0.11"), searches=("ns1.svc.cluster-domain.example", "my.dns.search"),
                    options=("ndots:2", "edns0"))


def host_resolv_conf() -> tuple[bytes, int, int, int]:
    """The host's /etc/resolv.conf: its bytes and (through a symlink) inode, mtime and ctime."""
    st = os.stat("/etc/resolv.conf")
    return Path("/etc/resolv.conf").read_bytes(), st.st_ino, st.st_mtime_ns, st.st_ctime_ns


async def dns_pod(rt: ProcessRuntime, dns: DnsConfig | None, *, host_network: bool = False) -> Sandbox:
    uid = secrets.token_hex(8)
    return await rt.run_sandbox(SandboxConfig(pod_uid=uid, namespace="default", name=f"p-{uid[:4]}", hostname="p",
                                              host_network=host_network, dns=dns))


@pytest.mark.skipif(not ROOT, reason="mount namespaces need root")
async def test_a_pods_dns_settings_are_its_containers_resolv_conf_and_the_hosts_file_is_untouched(
        runtime: ProcessRuntime) -> None:
    before = host_resolv_conf()
    sandbox = await dns_pod(runtime, POD_DNS)
    sleeper = ContainerConfig(name="app", image="busybox", command=[BUSYBOX, "sleep", "30"], args=[], env=[PATH_ENV])
    first = await runtime.start_container(sandbox, sleeper)
    reader = await runtime.start_container(sandbox, sh("reader", "cat /etc/resolv.conf"))
    assert (await exited(runtime, reader)).exit_code == 0
    expected = (b"nameserver 10.96.0.10\nnameserver 10.96.0.11\nsearch ns1.svc.cluster-domain.example my.dns.search\n"
                b"options ndots:2 edns0\n")
    assert await log_text(runtime, reader) == expected  # every container of the pod sees it
    assert (await runtime.exec_sync(first, [BUSYBOX, "cat", "/etc/resolv.conf"], timeout=5)).output == expected
    writer = await runtime.start_container(sandbox, sh("writer", "echo nameserver 6.6.6.6 >> /etc/resolv.conf"))
    assert (await exited(runtime, writer)).exit_code != 0  # read-only: a container cannot change its pod's
    assert host_resolv_conf() == before
    state_file = runtime.root_dir / "sandboxes" / f"{sandbox.id}.resolv.conf"
    assert state_file.read_bytes() == expected
    await runtime.remove_sandbox(sandbox.id)
    assert not state_file.exists()
    assert host_resolv_conf() == before


@pytest.mark.skipif(not ROOT, reason="mount namespaces need root")
async def test_a_host_network_pod_gets_its_dns_settings_too(runtime: ProcessRuntime) -> None:
    before = host_resolv_conf()
    sandbox = await dns_pod(runtime, DnsConfig(servers=("10.96.0.10",), searches=("default.svc.cluster.local",),
                                               options=("ndots:5",)), host_network=True)
    assert sandbox.ip == runtime.node_ip
    reader = await runtime.start_container(sandbox, sh("reader", "cat /etc/resolv.conf"))
    assert (await exited(runtime, reader)).exit_code == 0
    assert await log_text(runtime, reader) == \
        b"nameserver 10.96.0.10\nsearch default.svc.cluster.local\noptions ndots:5\n"
    assert host_resolv_conf() == before


async def test_without_dns_settings_or_root_a_container_reads_the_hosts_resolv_conf(
        runtime: ProcessRuntime, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    host = Path("/etc/resolv.conf").read_bytes()
    for dns in (None, DnsConfig()):  # none, or empty ones (containerd copies the host's file then)
        reader = await runtime.start_container(await dns_pod(runtime, dns), sh("reader", "cat /etc/resolv.conf"))
        assert (await exited(runtime, reader)).exit_code == 0
        assert await log_text(runtime, reader) == host
    unprivileged = ProcessRuntime(tmp_path / "no-root", node_name="node-a", node_ip="192.0.2.99")
    unprivileged.root = False  # as a kubelet that is not root: no mount namespace to bind the file in
    try:
        with caplog.at_level(logging.DEBUG, logger="kubelet.runtime.process"):
            for _ in range(2):
                sandbox = await dns_pod(unprivileged, POD_DNS)
                reader = await unprivileged.start_container(sandbox, sh("reader", "cat /etc/resolv.conf"))
                assert (await exited(unprivileged, reader)).exit_code == 0
                assert await log_text(unprivileged, reader) == host
        told = [r for r in caplog.records if "DNS settings are not applied" in r.getMessage()]
        assert [r.levelno for r in told] == [logging.DEBUG]  # once, at debug
        assert list((tmp_path / "no-root" / "sandboxes").glob("*.resolv.conf")) == []
    finally:
        await cleanup_and_check(unprivileged)


@pytest.mark.skipif(not ROOT, reason="mount namespaces need root")
async def test_a_volume_the_pod_mounts_over_etc_resolv_conf_wins(runtime: ProcessRuntime, tmp_path: Path) -> None:
    own = tmp_path / "my-resolv.conf"
    own.write_text("nameserver 9.9.9.9\n")
    sandbox = await dns_pod(runtime, POD_DNS)
    reader = await runtime.start_container(sandbox, sh("reader", "cat /etc/resolv.conf", mounts=[
        Mount(host_path=str(own), container_path="/etc/resolv.conf", read_only=True)]))
    assert (await exited(runtime, reader)).exit_code == 0
    assert await log_text(runtime, reader) == b"nameserver 9.9.9.9\n"


async def test_exec_stream_with_stdin(runtime: ProcessRuntime) -> None:
    sandbox = await pod(runtime)
    cid = await runtime.start_container(sandbox, sh("app", "sleep 30"))
    session = await runtime.exec_stream(cid, [BUSYBOX, "sh", "-c", "cat; echo oops >&2; exit 2"], stdin=True,
                                        tty=False)
    await session.write_stdin(b"hello stdin\n")
    await session.close_stdin()
    chunks = [chunk async for chunk in session.output()]
    assert await session.wait() == 2
    assert b"".join(c for s, c in chunks if s == "stdout") == b"hello stdin\n"
    assert b"".join(c for s, c in chunks if s == "stderr") == b"oops\n"


async def test_logs_tail_timestamps_since_and_follow(runtime: ProcessRuntime, tmp_path: Path) -> None:
    sandbox = await pod(runtime)
    go, then = tmp_path / "go", tmp_path / "then"
    # stdout and stderr are read apart (as by any runtime), so the stderr line waits until the
    # stdout lines are in the log: the order below is then certain.
    cid = await runtime.start_container(sandbox, sh("talk", (
        f"for i in 1 2 3 4 5; do echo line$i; done; while [ ! -e {then} ]; do sleep 0.02; done; echo err >&2; "
        f"while [ ! -e {go} ]; do sleep 0.02; done; printf no-newline")))

    async def has(text: bytes) -> bool:
        return text in await log_text(runtime, cid)

    await eventually(lambda: has(b"line5"), what="the stdout lines")
    then.touch()
    await eventually(lambda: has(b"err"), what="the stderr line")
    assert await log_text(runtime, cid) == b"line1\nline2\nline3\nline4\nline5\nerr\n"
    assert await log_text(runtime, cid, tail=2) == b"line5\nerr\n"
    stamp, text = (await log_text(runtime, cid, tail=1, timestamps=True)).decode().split(" ", 1)
    assert text == "err\n" and abs(datetime.fromisoformat(stamp).timestamp() - time.time()) < 60
    assert await log_text(runtime, cid, since=time.time() + 60) == b""
    assert await log_text(runtime, cid, since=time.time() - 60, tail=1) == b"err\n"
    followed: list[bytes] = []

    async def follow() -> None:
        async for chunk in runtime.logs(cid, follow=True, tail=1):
            followed.append(chunk)

    task = asyncio.create_task(follow())
    go.touch()
    await asyncio.wait_for(task, 10)
    assert b"".join(followed) == b"err\nno-newline"
    assert (await runtime.container_info(cid)).exit_code == 0


async def test_stop_runs_the_term_trap_within_grace(runtime: ProcessRuntime) -> None:
    sandbox = await pod(runtime)
    cid = await runtime.start_container(sandbox, sh("trap", (
        "trap 'echo got-term; exit 7' TERM; echo ready; while true; do sleep 0.05; done")))

    async def ready() -> bool:
        return b"ready" in await log_text(runtime, cid)

    await eventually(ready, what="the trap to be set")
    await runtime.stop_container(cid, grace_seconds=10)
    info = await runtime.container_info(cid)
    assert (info.state, info.exit_code, info.reason) == (State.EXITED, 7, "Error")
    assert b"got-term" in await log_text(runtime, cid)


async def test_stop_kills_after_grace(runtime: ProcessRuntime) -> None:
    sandbox = await pod(runtime)
    cid = await runtime.start_container(sandbox, sh("stubborn", (
        "trap '' TERM; echo ready; while true; do sleep 0.05; done")))

    async def ready() -> bool:
        return b"ready" in await log_text(runtime, cid)

    await eventually(ready, what="the trap to be set")
    began = time.monotonic()
    await runtime.stop_container(cid, grace_seconds=0.3)
    assert 0.3 <= time.monotonic() - began < 5
    assert (await runtime.container_info(cid)).exit_code == 137


async def test_a_new_runtime_adopts_running_and_ended_containers(runtime: ProcessRuntime) -> None:
    sandbox = await pod(runtime)
    running = await runtime.start_container(sandbox, sh("run", "echo up; sleep 30"))
    quick = await runtime.start_container(sandbox, sh("quick", "exit 4"))
    lost = await runtime.start_container(sandbox, sh("lost", "sleep 30"))
    await exited(runtime, quick)
    lost_state = runtime._state(lost)
    os.kill(lost_state["shim_pid"], 9)
    os.killpg(lost_state["pid"], 9)

    restarted = ProcessRuntime(runtime.root_dir, node_name="node-a", node_ip="192.0.2.99")
    assert [s.id for s in await restarted.list_sandboxes()] == [sandbox.id]
    assert (await restarted.list_sandboxes())[0].ip == sandbox.ip
    infos = {c.name: c for c in await restarted.list_containers(sandbox.pod_uid)}
    assert infos["run"].state is State.RUNNING and infos["run"].id == running
    assert (infos["quick"].exit_code, infos["quick"].reason) == (4, "Error")

    async def lost_seen() -> bool:
        return (await restarted.container_info(lost)).state is State.EXITED

    await eventually(lost_seen, what="the container without a shim to be seen as exited")
    assert "unknown" in (await restarted.container_info(lost)).message
    assert (await restarted.exec_sync(running, [BUSYBOX, "echo", "adopted"], 5)).output == b"adopted\n"
    await restarted.stop_container(running, 5)
    assert (await runtime.container_info(running)).state is State.EXITED


async def test_a_reused_pid_is_not_mistaken_for_the_container(runtime: ProcessRuntime) -> None:
    sandbox = await pod(runtime)
    cid = await runtime.start_container(sandbox, sh("done", "exit 9"))
    await exited(runtime, cid)
    shim = runtime._state(cid)

    async def shim_gone() -> bool:
        return proc_start_ticks(shim["shim_pid"]) != shim["shim_ticks"]

    await eventually(shim_gone, what="the shim to exit")
    bystander = subprocess.Popen([BUSYBOX, "sleep", "30"], start_new_session=True)
    try:
        state_file = runtime.root_dir / "containers" / cid / "state.json"
        state = json.loads(state_file.read_text())
        state["pid"] = bystander.pid  # the container's pid now belongs to another process
        (runtime.root_dir / "containers" / cid / "exit.json").unlink()
        state_file.write_text(json.dumps(state))
        info = await runtime.container_info(cid)
        assert info.state is State.EXITED and "unknown" in info.message
        await runtime.stop_container(cid, 0)
        assert bystander.poll() is None, "stop signalled a process that is not the container"
    finally:
        bystander.kill()
        bystander.wait()


# -- attach -----------------------------------------------------------------------------------


async def read_until(output: AsyncIterator[tuple[str, bytes]], want: bytes, seen: dict[str, bytes] | None = None,
                     timeout: float = 10.0) -> dict[str, bytes]:
    """Read the session's output into ``seen`` (per stream) until ``want`` is in one stream."""
    seen = {"stdout": b"", "stderr": b""} if seen is None else seen
    async with asyncio.timeout(timeout):
        while not any(want in text for text in seen.values()):
            stream, chunk = await anext(output)
            seen[stream] += chunk
    return seen


async def rest(output: AsyncIterator[tuple[str, bytes]], timeout: float = 10.0) -> dict[str, bytes]:
    """Everything left of the output, which must end within ``timeout``."""
    seen = {"stdout": b"", "stderr": b""}
    async with asyncio.timeout(timeout):
        async for stream, chunk in output:
            seen[stream] += chunk
    return seen


def test_attach_socket_path_falls_back_to_a_short_one(tmp_path: Path) -> None:
    assert socket_path(Path("/var/lib/skiff/runtime/containers/0123"), "0123") == Path(
        "/var/lib/skiff/runtime/containers/0123/attach.sock")
    long_dir = Path("/" + "d" * 120)
    fallback = socket_path(long_dir, "0123456789abcdef")
    assert fallback.name == "skiff-attach-0123456789abcdef.sock" and len(str(fallback)) <= 107


async def test_attach_feeds_stdin_and_stdin_once_closes_it(runtime: ProcessRuntime) -> None:
    sandbox = await pod(runtime)
    cid = await runtime.start_container(sandbox, sh("cat", f"{BUSYBOX} cat; echo bye >&2", stdin=True,
                                                    stdin_once=True))
    session = await runtime.attach(cid, stdin=True, tty=False)
    output = session.output()
    await session.write_stdin(b"hello\n")
    seen = await read_until(output, b"hello\n")
    assert seen == {"stdout": b"hello\n", "stderr": b""}
    assert (await runtime.container_info(cid)).state is State.RUNNING
    await session.close_stdin()  # the first stdin client with stdinOnce: cat gets EOF
    seen = await rest(output)
    assert seen == {"stdout": b"", "stderr": b"bye\n"}  # stdout and stderr stay apart
    assert await session.wait() == 0
    info = await runtime.container_info(cid)
    assert (info.state, info.exit_code) == (State.EXITED, 0)
    assert await log_text(runtime, cid) == b"hello\nbye\n"
    state = runtime._state(cid)
    await runtime.remove_container(cid)
    assert not Path(state["attach_socket"]).exists()


async def test_attach_to_a_tty_container_resize_and_stdin_once(runtime: ProcessRuntime) -> None:
    sandbox = await pod(runtime)
    cid = await runtime.start_container(sandbox, sh("tty", (
        f"read a; {BUSYBOX} stty size; {BUSYBOX} cat; echo cat-got-eof; exit 3"), stdin=True, stdin_once=True,
        tty=True))
    session = await runtime.attach(cid, stdin=True, tty=True)
    output = session.output()
    await session.resize(100, 40)
    await session.write_stdin(b"x\n")
    seen = await read_until(output, b"40 100")
    await session.write_stdin(b"y\n")
    seen = await read_until(output, b"y\r\ny\r\n", seen)  # the terminal's echo, then cat's
    await session.close_stdin()  # on a tty: ^D
    seen["stdout"] += (await rest(output))["stdout"]
    assert seen["stderr"] == b""  # a tty has one stream
    assert b"40 100\r\n" in seen["stdout"] and seen["stdout"].endswith(b"cat-got-eof\r\n")
    assert await session.wait() == 3
    logged = await log_text(runtime, cid)
    assert b"40 100\r\n" in logged and logged.endswith(b"cat-got-eof\r\n")


async def test_attach_clients_share_output_and_a_detach_keeps_stdin_open(runtime: ProcessRuntime) -> None:
    sandbox = await pod(runtime)
    cid = await runtime.start_container(sandbox, sh("echo", "while read l; do echo echo-$l; done; echo eof",
                                                    stdin=True))
    first = await runtime.attach(cid, stdin=True, tty=False)
    watcher = await runtime.attach(cid, stdin=False, tty=False)
    first_out, watcher_out = first.output(), watcher.output()
    await watcher.write_stdin(b"dropped\n")  # attached without stdin: nothing is sent
    await first.write_stdin(b"one\n")
    assert (await read_until(first_out, b"echo-one\n"))["stdout"] == b"echo-one\n"
    assert (await read_until(watcher_out, b"echo-one\n"))["stdout"] == b"echo-one\n"

    await first.close_stdin()  # no stdinOnce: the process keeps its stdin
    await first_out.aclose()  # detaches
    state = runtime._state(cid)
    with socket.socket(socket.AF_UNIX) as rude:  # a client that leaves mid-frame
        rude.connect(state["attach_socket"])
        rude.sendall(b"H\x00\x00\x00\x40{\"stdin\"")
    restarted = ProcessRuntime(runtime.root_dir, node_name="node-a", node_ip="192.0.2.99")  # a new kubelet
    second = await restarted.attach(cid, stdin=True, tty=False)
    second_out = second.output()
    await second.write_stdin(b"two\n")
    assert (await read_until(second_out, b"echo-two\n"))["stdout"] == b"echo-two\n"
    assert (await read_until(watcher_out, b"echo-two\n"))["stdout"] == b"echo-two\n"
    assert (await runtime.container_info(cid)).state is State.RUNNING

    await runtime.stop_container(cid, 5)
    assert (await rest(watcher_out))["stdout"] == b""
    assert await watcher.wait() == 143 and await second.wait() == 143
    assert await log_text(runtime, cid) == b"echo-one\necho-two\n"


async def test_attach_to_exited_containers_without_stdin_and_to_old_shims(runtime: ProcessRuntime) -> None:
    sandbox = await pod(runtime)
    ticker = await runtime.start_container(sandbox, sh("tick", "while true; do echo tick; sleep 0.05; done"))
    session = await runtime.attach(ticker, stdin=True, tty=True)  # the container has neither
    output = session.output()
    await session.write_stdin(b"nowhere\n")  # dropped
    await session.resize(80, 24)  # no tty: nothing
    await read_until(output, b"tick\n")
    await runtime.stop_container(ticker, 5)
    await rest(output)
    assert await session.wait() == 143

    done = await runtime.start_container(sandbox, sh("done", "exit 4"))
    await exited(runtime, done)
    with pytest.raises(RuntimeFailure, match=f"container {done} is not running"):  # as docker: run -i prints logs
        await runtime.attach(done, stdin=True, tty=False)

    old = await runtime.start_container(sandbox, sh("old", "sleep 30"))
    state_file = runtime.root_dir / "containers" / old / "state.json"
    state = json.loads(state_file.read_text())
    del state["attach_socket"]  # as recorded for a shim from before attach
    state_file.write_text(json.dumps(state))
    with pytest.raises(RuntimeFailure, match="attach is not supported for this container"):
        await runtime.attach(old, stdin=False, tty=False)
