"""FakeRuntime: the hollow node's runtime, steered by tests through its hooks on a fake clock."""

from __future__ import annotations

import asyncio
from ipaddress import IPv4Address, IPv4Network

import pytest

from kubelet.runtime.fake import FakeBehavior, FakeRuntime
from kubelet.runtime.interface import (
    LABEL_ATTEMPT,
    LABEL_CONTAINER_NAME,
    LABEL_NODE,
    LABEL_POD_UID,
    ContainerConfig,
    ContainerRuntime,
    ExecResult,
    ImageError,
    RuntimeFailure,
    Sandbox,
    SandboxConfig,
    State,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sandbox_config(uid: str = "uid-1", *, host_network: bool = False) -> SandboxConfig:
    return SandboxConfig(pod_uid=uid, namespace="default", name=f"pod-{uid}", hostname="h",
                         host_network=host_network, node_name="node-a")


def container(name: str = "app", attempt: int = 0) -> ContainerConfig:
    return ContainerConfig(name=name, image="busybox", command=["sleep", "1d"], args=[], env=[], attempt=attempt)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> FakeRuntime:
    return FakeRuntime(node_ip="10.0.0.7", node_name="node-a", clock=clock)


async def started(fake: FakeRuntime, name: str = "app") -> tuple[Sandbox, str]:
    sandbox = await fake.run_sandbox(sandbox_config())
    return sandbox, await fake.start_container(sandbox, container(name))


def test_is_a_container_runtime(fake: FakeRuntime) -> None:
    assert isinstance(fake, ContainerRuntime)
    assert fake.name == "fake"


async def test_sandbox_ips_unique_in_range_and_deterministic_per_node() -> None:
    one, again, other = (FakeRuntime(node_name=n) for n in ("node-a", "node-a", "node-b"))
    ips = [(await one.run_sandbox(sandbox_config(f"u{i}"))).ip for i in range(50)]
    assert len(set(ips)) == 50
    assert all(IPv4Address(ip) in IPv4Network("10.233.0.0/16") for ip in ips)
    assert [(await again.run_sandbox(sandbox_config(f"u{i}"))).ip for i in range(50)] == ips
    assert (await other.run_sandbox(sandbox_config("u0"))).ip != ips[0]


async def test_removed_sandbox_ip_is_reused_and_host_network_uses_node_ip(fake: FakeRuntime) -> None:
    first = await fake.run_sandbox(sandbox_config("a"))
    await fake.remove_sandbox(first.id)
    assert await fake.list_sandboxes() == []
    assert (await fake.run_sandbox(sandbox_config("b"))).ip == first.ip
    assert (await fake.run_sandbox(sandbox_config("c", host_network=True))).ip == "10.0.0.7"


async def test_container_runs_until_stopped_and_carries_labels(fake: FakeRuntime, clock: Clock) -> None:
    sandbox, cid = await started(fake)
    clock.now += 3600
    info = await fake.container_info(cid)
    assert info.state is State.RUNNING and info.started_at == 1000.0
    assert info.labels[LABEL_POD_UID] == "uid-1" and info.labels[LABEL_CONTAINER_NAME] == "app"
    assert info.labels[LABEL_ATTEMPT] == "0" and info.labels[LABEL_NODE] == "node-a"
    await fake.stop_container(cid, 30)
    info = await fake.container_info(cid)
    assert (info.state, info.exit_code, info.reason) == (State.EXITED, 143, "Error")
    assert [c.id for c in await fake.list_containers(sandbox.pod_uid)] == [cid]
    assert await fake.list_containers("other") == []


async def test_behavior_exits_after_delay_on_the_clock(fake: FakeRuntime, clock: Clock) -> None:
    fake.behavior["job"] = FakeBehavior(exit_code=0, after=5)
    _, cid = await started(fake, "job")
    clock.now += 4.9
    assert (await fake.container_info(cid)).state is State.RUNNING
    clock.now += 0.2
    info = await fake.container_info(cid)
    assert (info.state, info.exit_code, info.reason, info.finished_at) == (State.EXITED, 0, "Completed", 1005.0)


async def test_behavior_crash_and_oom(fake: FakeRuntime) -> None:
    fake.behavior["crash"] = FakeBehavior(exit_code=2)
    fake.behavior["hog"] = FakeBehavior(oom=True)
    sandbox = await fake.run_sandbox(sandbox_config())
    crash = await fake.container_info(await fake.start_container(sandbox, container("crash")))
    hog = await fake.container_info(await fake.start_container(sandbox, container("hog")))
    assert (crash.exit_code, crash.reason) == (2, "Error")
    assert (hog.exit_code, hog.reason) == (137, "OOMKilled")


async def test_start_error_raises_runtime_failure(fake: FakeRuntime) -> None:
    fake.behavior["bad"] = FakeBehavior(start_error="exec: no such file")
    sandbox = await fake.run_sandbox(sandbox_config())
    with pytest.raises(RuntimeFailure, match="no such file"):
        await fake.start_container(sandbox, container("bad"))
    assert await fake.list_containers() == []


async def test_finish_ends_a_running_container_once(fake: FakeRuntime) -> None:
    _, cid = await started(fake)
    fake.finish(cid, 1)
    fake.finish(cid, 0)
    info = await fake.container_info(cid)
    assert (info.exit_code, info.reason) == (1, "Error")
    with pytest.raises(RuntimeFailure):
        fake.finish("nope", 0)


async def test_stop_sandbox_stops_its_containers_and_remove_deletes_them(fake: FakeRuntime) -> None:
    sandbox, cid = await started(fake)
    await fake.stop_sandbox(sandbox.id)
    assert (await fake.container_info(cid)).state is State.EXITED
    await fake.remove_sandbox(sandbox.id)
    assert await fake.list_containers() == []
    with pytest.raises(RuntimeFailure):
        await fake.container_info(cid)


async def test_images_pull_and_missing(fake: FakeRuntime) -> None:
    fake.missing_images.add("nope:1")
    assert not await fake.image_present("busybox")
    await fake.pull_image("busybox")
    assert await fake.image_present("busybox")
    with pytest.raises(ImageError) as raised:
        await fake.pull_image("nope:1")
    assert raised.value.reason == "ErrImagePull"
    assert not await fake.image_present("nope:1")
    assert fake.pulls == ["busybox", "nope:1"]


async def test_exec_results_configurable_and_recorded(fake: FakeRuntime) -> None:
    _, cid = await started(fake)
    assert await fake.exec_sync(cid, ["true"], 1) == ExecResult(0, b"")
    fake.exec_results["app"] = ExecResult(3, b"unhealthy")
    assert await fake.exec_sync(cid, ["check"], 1) == ExecResult(3, b"unhealthy")
    session = await fake.exec_stream(cid, ["sh"], stdin=True, tty=False)
    await session.write_stdin(b"ls\n")
    assert [chunk async for chunk in session.output()] == [("stdout", b"unhealthy")]
    assert await session.wait() == 3 and bytes(session.stdin) == b"ls\n"
    assert fake.exec_calls == [(cid, ["true"]), (cid, ["check"]), (cid, ["sh"])]
    fake.finish(cid, 0)
    with pytest.raises(RuntimeFailure, match="not running"):
        await fake.exec_sync(cid, ["true"], 1)


async def test_ready_follows_healthy(fake: FakeRuntime) -> None:
    assert await fake.ready()
    fake.healthy = False
    assert not await fake.ready()
    assert (await fake.version()).startswith("fake://")


async def test_logs_tail_since_timestamps(fake: FakeRuntime, clock: Clock) -> None:
    _, cid = await started(fake)
    fake.write_log(cid, "one\ntwo")
    clock.now += 10
    fake.write_log(cid, "three")
    assert b"".join([c async for c in fake.logs(cid)]) == b"one\ntwo\nthree\n"
    assert b"".join([c async for c in fake.logs(cid, tail=1)]) == b"three\n"
    assert b"".join([c async for c in fake.logs(cid, since=1005)]) == b"three\n"
    stamped = [c async for c in fake.logs(cid, tail=1, timestamps=True)]
    assert stamped == [b"1970-01-01T00:16:50.000000Z three\n"]


async def test_logs_follow_until_exit(fake: FakeRuntime) -> None:
    _, cid = await started(fake)
    fake.write_log(cid, "before")
    got: list[bytes] = []

    async def follow() -> None:
        async for chunk in fake.logs(cid, follow=True):
            got.append(chunk)

    task = asyncio.create_task(follow())
    await asyncio.sleep(0)
    fake.write_log(cid, "after")
    fake.finish(cid, 0)
    await asyncio.wait_for(task, 2)
    assert got == [b"before\n", b"after\n"]


# ---- attach: the fake main process ----

async def _started_with_stdin(fake: FakeRuntime, *, stdin_once: bool = True) -> str:
    sandbox = await fake.run_sandbox(sandbox_config())
    config = ContainerConfig(name="app", image="busybox", command=[], args=[], env=[], stdin=True,
                             stdin_once=stdin_once)
    return await fake.start_container(sandbox, config)


async def _read(session: object, count: int) -> list[bytes]:
    out: list[bytes] = []
    async for _, data in session.output():  # type: ignore[attr-defined]
        out.append(data)
        if len(out) == count:
            break
    return out


async def test_attach_echoes_stdin_lines_to_every_client_and_the_log(fake: FakeRuntime) -> None:
    cid = await _started_with_stdin(fake)
    first = await fake.attach(cid, stdin=True, tty=False)
    watcher = await fake.attach(cid, stdin=False, tty=False)
    await first.write_stdin(b"hel")
    await first.write_stdin(b"lo\nworld\n")
    await watcher.write_stdin(b"ignored\n")  # attached without stdin: nothing goes in
    assert await _read(first, 2) == [b"hello\n", b"world\n"]
    assert await _read(watcher, 2) == [b"hello\n", b"world\n"]
    assert [line async for line in fake.logs(cid)] == [b"hello\n", b"world\n"]


async def test_attach_ends_with_the_container(fake: FakeRuntime) -> None:
    cid = await _started_with_stdin(fake)
    session = await fake.attach(cid, stdin=True, tty=False)
    await session.write_stdin(b"exit 3\n")
    assert [chunk async for chunk in session.output()] == []
    assert await session.wait() == 3
    info = await fake.container_info(cid)
    assert (info.state, info.exit_code, info.reason) == (State.EXITED, 3, "Error")
    with pytest.raises(RuntimeFailure, match="is not running"):
        await fake.attach(cid, stdin=False, tty=False)


async def test_closing_stdin_is_eof_only_with_stdin_once(fake: FakeRuntime) -> None:
    cid = await _started_with_stdin(fake, stdin_once=False)
    session = await fake.attach(cid, stdin=True, tty=False)
    await session.close_stdin()
    assert (await fake.container_info(cid)).state is State.RUNNING  # detached; it still runs
    once = await _started_with_stdin(fake)
    session = await fake.attach(once, stdin=True, tty=False)
    await session.write_stdin(b"no newline")
    await session.close_stdin()
    assert [chunk async for chunk in session.output()] == [("stdout", b"no newline")]
    assert await session.wait() == 0


async def test_attach_output_ends_when_the_container_is_finished(fake: FakeRuntime) -> None:
    cid = await _started_with_stdin(fake)
    session = await fake.attach(cid, stdin=False, tty=True)
    reader = asyncio.create_task(_read(session, 99))
    await asyncio.sleep(0.01)
    fake.finish(cid, 0)
    assert await asyncio.wait_for(reader, 5) == []
    assert await session.wait() == 0
