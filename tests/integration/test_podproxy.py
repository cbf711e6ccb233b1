"""logs and exec through the apiserver's PodProxy, relayed to a fake kubelet.

Each test runs a real apiserver over a real etcd, a fake kubelet on a loopback port
(tests/support/fake_kubelet.py), a Node whose status points at it, and pods bound to that node.
The client talks only to the apiserver, as skiffctl does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from apiserver.server import metrics
from skiff.api import errors
from skiff.api.v1 import core_pb2
from skiff.client import pods
from skiff.client.client import Client
from tests.support.cluster import eventually
from tests.support.fake_kubelet import FakeKubelet, node_for, pod_with, running_kubelet


@dataclass
class Setup:
    client: Client
    kubelet: FakeKubelet


@pytest.fixture
async def setup(client: Client) -> AsyncIterator[Setup]:
    async with running_kubelet() as kubelet:
        await client.create(node_for("node-1", kubelet.port))
        yield Setup(client, kubelet)


async def _bound_pod(s: Setup, name: str, *containers: str) -> None:
    await s.client.create(pod_with(name, *containers))
    await s.client.bind(name, "node-1")


async def _read(stream: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in stream])


async def test_logs_of_the_only_container(setup: Setup) -> None:
    await _bound_pod(setup, "web", "nginx")
    setup.kubelet.set_log("default", "web", "nginx", "one\ntwo\nthree\n")
    assert await _read(pods.logs(setup.client, "web")) == b"one\ntwo\nthree\n"
    assert setup.kubelet.servicer.log_requests[-1].container == "nginx"  # filled in by the apiserver


async def test_logs_tail_timestamps_previous_and_named_container(setup: Setup) -> None:
    await _bound_pod(setup, "web", "a", "b")
    setup.kubelet.set_log("default", "web", "b", "1\n2\n3\n", previous="old\n")
    assert await _read(pods.logs(setup.client, "web", container="b", tail_lines=2)) == b"2\n3\n"
    stamped = (await _read(pods.logs(setup.client, "web", container="b", timestamps=True))).decode()
    assert [line.split(" ", 1)[1] for line in stamped.splitlines()] == ["1", "2", "3"]
    assert stamped.split(" ", 1)[0].endswith("Z")
    assert await _read(pods.logs(setup.client, "web", container="b", previous=True)) == b"old\n"


async def test_large_log_arrives_in_several_chunks(setup: Setup) -> None:
    await _bound_pod(setup, "big", "c")
    text = "".join(f"line {i:06d} {'x' * 80}\n" for i in range(5000))
    setup.kubelet.set_log("default", "big", "c", text)
    chunks = [chunk async for chunk in pods.logs(setup.client, "big")]
    assert len(chunks) > 1
    assert b"".join(chunks) == text.encode()


async def test_follow_streams_new_lines_until_the_container_stops(setup: Setup) -> None:
    await _bound_pod(setup, "web", "c")
    setup.kubelet.set_log("default", "web", "c", "first\n")
    stream = pods.logs(setup.client, "web", follow=True)
    assert await asyncio.wait_for(anext(stream), 10) == b"first\n"
    setup.kubelet.append("default", "web", "c", "second\n")
    assert await asyncio.wait_for(anext(stream), 10) == b"second\n"
    setup.kubelet.finish("default", "web", "c")
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(stream), 10)


async def test_leaving_a_follow_early_closes_it(setup: Setup) -> None:
    await _bound_pod(setup, "web", "c")
    setup.kubelet.set_log("default", "web", "c", "first\n")
    stream = pods.logs(setup.client, "web", follow=True)
    assert await asyncio.wait_for(anext(stream), 10) == b"first\n"
    assert setup.kubelet.servicer.open_log_streams == 1
    await stream.aclose()
    # The apiserver cancels its call to the kubelet when the client leaves.
    await eventually(lambda: _true(setup.kubelet.servicer.open_log_streams == 0), what="the kubelet stream to close")
    # The apiserver still serves later requests (nothing stuck behind the abandoned stream).
    assert await _read(pods.logs(setup.client, "web")) == b"first\n"


async def test_pod_errors_in_kubernetes_words(setup: Setup) -> None:
    with pytest.raises(errors.NotFound, match='^pods "nope" not found$'):
        await _read(pods.logs(setup.client, "nope"))
    await setup.client.create(pod_with("unbound", "c"))
    with pytest.raises(errors.BadRequest, match="^pod unbound does not have a host assigned$"):
        await _read(pods.logs(setup.client, "unbound"))
    await _bound_pod(setup, "two", "a", "b")
    with pytest.raises(errors.BadRequest, match=r"^a container name must be specified for pod two, "
                                                r"choose one of: \[a b\]$"):
        await _read(pods.logs(setup.client, "two"))
    with pytest.raises(errors.BadRequest, match="^container c is not valid for pod two$"):
        await _read(pods.logs(setup.client, "two", container="c"))


async def test_kubelet_errors_pass_through(setup: Setup) -> None:
    await _bound_pod(setup, "web", "c")
    setup.kubelet.set_log("default", "web", "c", "now\n")
    with pytest.raises(errors.BadRequest, match='previous terminated container "c" in pod "web" not found'):
        await _read(pods.logs(setup.client, "web", previous=True))


async def test_unreachable_kubelet_is_service_unavailable(client: Client) -> None:
    kubelet = FakeKubelet()
    await kubelet.start()
    await kubelet.stop()  # a port where nothing answers any more
    await client.create(node_for("gone", kubelet.port))
    await client.create(pod_with("web", "c"))
    await client.bind("web", "gone")
    with pytest.raises(errors.ServiceUnavailable, match="node gone"):
        await _read(pods.logs(client, "web"))


async def test_exec_relays_output_and_exit_code(setup: Setup) -> None:
    await _bound_pod(setup, "web", "c")
    out: list[bytes] = []
    err: list[bytes] = []
    code = await pods.exec(setup.client, "web", ["sh", "-c", "echo hello; echo oops >&2; exit 3"],
                           stdout=out.append, stderr=err.append)
    assert (code, b"".join(out), b"".join(err)) == (3, b"hello\n", b"oops\n")
    assert list(setup.kubelet.servicer.exec_starts[-1].command)[:1] == ["sh"]
    assert setup.kubelet.servicer.exec_starts[-1].container == "c"


async def test_exec_streams_stdin_interactively(setup: Setup) -> None:
    await _bound_pod(setup, "web", "c")
    out: list[bytes] = []

    async def stdin() -> AsyncIterator[bytes]:
        yield b"ping\n"
        # The command's answer to the first line arrives before the second line is sent.
        await eventually(lambda: _true(b"".join(out) == b"got ping\n"), what="the first answer")
        yield b"pong\n"

    def on_stdout(data: bytes) -> None:
        out.append(data)

    code = await pods.exec(setup.client, "web", ["sh", "-c", 'while read l; do echo "got $l"; done'],
                           stdin=stdin(), stdout=on_stdout, stderr=out.append)
    assert code == 0
    assert b"".join(out) == b"got ping\ngot pong\n"


async def _true(value: bool) -> bool:
    return value


async def test_exec_errors(setup: Setup) -> None:
    await _bound_pod(setup, "two", "a", "b")
    with pytest.raises(errors.BadRequest, match="choose one of: \\[a b\\]"):
        await pods.exec(setup.client, "two", ["true"], stdout=print, stderr=print)
    with pytest.raises(errors.NotFound, match='pods "nope" not found'):
        await pods.exec(setup.client, "nope", ["true"], stdout=print, stderr=print)


async def test_requests_are_counted(setup: Setup) -> None:
    await _bound_pod(setup, "web", "c")
    setup.kubelet.set_log("default", "web", "c", "x\n")

    def count(verb: str, resource: str, code: str) -> float:
        return metrics.REQUESTS.labels(verb, resource, code)._value.get()

    logs_ok, logs_missing, execs = count("GET", "pods/log", "200"), count("GET", "pods/log", "404"), \
        count("CONNECT", "pods/exec", "200")
    await _read(pods.logs(setup.client, "web"))
    with pytest.raises(errors.NotFound):
        await _read(pods.logs(setup.client, "nope"))
    await pods.exec(setup.client, "web", ["true"], stdout=print, stderr=print)
    await eventually(lambda: _true(count("CONNECT", "pods/exec", "200") == execs + 1), what="exec counted")
    assert count("GET", "pods/log", "200") == logs_ok + 1
    assert count("GET", "pods/log", "404") == logs_missing + 1


async def test_since_time_is_checked_and_passed_on_to_the_kubelet(setup: Setup) -> None:
    await _bound_pod(setup, "web", "c")
    setup.kubelet.set_log("default", "web", "c", "now\n")
    await _read(pods.logs(setup.client, "web", since_time="2026-11-27T16:53:07.250000Z"))
    assert setup.kubelet.servicer.log_requests[-1].since_time == "2026-11-27T16:53:07.250000Z"
    with pytest.raises(errors.BadRequest, match=r'^sinceTime: Invalid value: "yesterday": must be an RFC 3339 time$'):
        await _read(pods.logs(setup.client, "web", since_time="yesterday"))
    for partial in ("2026-11-27", "2026-11-27T16:53:07", "2026-11-27T16:53Z"):  # metav1.Time wants it all
        with pytest.raises(errors.BadRequest, match=rf'^sinceTime: Invalid value: "{partial}": must be an RFC 3339'):
            await _read(pods.logs(setup.client, "web", since_time=partial))
    requests = len(setup.kubelet.servicer.log_requests)
    await _read(pods.logs(setup.client, "web", since_time="2026-11-27t18:53:07+02:00"))
    assert len(setup.kubelet.servicer.log_requests) == requests + 1
    with pytest.raises(errors.BadRequest, match="^at most one of `sinceTime` or `sinceSeconds` may be specified$"):
        await _read(pods.logs(setup.client, "web", since_time="2026-11-27T16:53:07Z", since_seconds=5))


async def test_attach_to_a_completed_pod_is_refused_in_kubectls_words(setup: Setup) -> None:
    await _bound_pod(setup, "done", "c")
    pod = await setup.client.get(core_pb2.Pod, "done", namespace="default")
    pod.status.phase = "Succeeded"
    await setup.client.update_status(pod)
    refused = metrics.REQUESTS.labels("CONNECT", "pods/attach", "400")._value.get()
    with pytest.raises(errors.BadRequest) as caught:
        await pods.attach(setup.client, "done", stdout=print, stderr=print)  # no command needed
    assert caught.value.message == "cannot attach a container in a completed pod; current phase is Succeeded"
    await eventually(lambda: _true(metrics.REQUESTS.labels("CONNECT", "pods/attach", "400")._value.get()
                                   == refused + 1), what="the refused attach counted")
    with pytest.raises(errors.BadRequest, match="cannot exec into a container in a completed pod"):
        await pods.exec(setup.client, "done", ["true"], stdout=print, stderr=print)
