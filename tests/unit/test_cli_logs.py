"""``skiffctl logs`` without an apiserver: kubectl 1.32's argument and flag checks (with its
messages, from kubectl's logs.go Complete / Validate / RunLogs), the options every stream shares,
``--prefix`` and the line cutting, and several followed streams (on scripted log calls)."""

from __future__ import annotations

import argparse
import asyncio
import io
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from skiff.api import errors
from skiff.api.v1 import core_pb2
from skiff.cli.commands import logs
from skiff.cli.commands.logs import LogRequest, LogSource
from skiff.cli.context import Context, UsageError
from skiff.cli.main import build_parser
from tests.support.cluster import eventually

SEE = "See 'skiffctl logs -h' for help and examples"


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["logs", *argv])


def checked(*argv: str) -> LogRequest:
    args = parse(*argv)
    _, inline = logs.split_words(args)
    return logs.check_logs_flags(args, inline)


def failure(*argv: str) -> str:
    with pytest.raises(UsageError) as exc:
        checked(*argv)
    return str(exc.value)


def pod(name: str, *containers: str) -> core_pb2.Pod:
    p = core_pb2.Pod()
    p.metadata.name, p.metadata.namespace = name, "ns"
    for c in containers:
        p.spec.containers.add(name=c)
    return p


# ---- arguments and flags ----

def test_words_are_the_target_and_an_inline_container() -> None:
    assert logs.split_words(parse("web")) == ("web", "")
    assert logs.split_words(parse("deploy/web", "app")) == ("deploy/web", "app")
    assert logs.split_words(parse("-l", "app=web")) == ("", "")
    assert logs.split_words(parse("-n", "x", "--tail=3", "web", "-f")) == ("web", "")


@pytest.mark.parametrize(("argv", "message"), [
    ((), "error: expected 'logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]'.\n"
         f"POD or TYPE/NAME is a required argument for the logs command\n{SEE}"),
    (("a", "b", "c"), "error: expected 'logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]'.\n"
                      f"POD or TYPE/NAME is a required argument for the logs command\n{SEE}"),
    (("-l", "app=web", "web"), f"error: only a selector (-l) or a POD name is allowed\n{SEE}"),
    (("-l", "app=web", "web", "app"),
     "error: selectors and the all flag cannot be used when passing resource/name arguments"),
    (("web", "--pod-running-timeout=0s"), "error: --pod-running-timeout must be higher than zero"),
    (("web", "--since=1h", "--since-time=2026-01-01T00:00:00Z"),
     "error: at most one of `sinceTime` or `sinceSeconds` may be specified"),
    (("web", "--all-containers", "-c", "app"),
     "error: --all-containers=true should not be specified with container name app"),
    (("web", "app", "--all-containers"),
     "error: --all-containers=true should not be specified with container name app"),
    (("web", "app", "-c", "app"), "error: only one of -c or an inline [CONTAINER] arg is allowed"),
    (("web", "--limit-bytes=-1"), "error: --limit-bytes must be greater than 0"),
    (("web", "--since=-5s"), "error: --since must be greater than 0"),
    (("web", "--tail=-2"), "error: --tail must be greater than or equal to -1"),
    (("web", "--since-time=2026-01-01"), 'error: parsing time "2026-01-01" as "2006-01-02T15:04:05Z07:00"'),
    (("web", "--since-time=2026-01-01T00:00:00"),
     'error: parsing time "2026-01-01T00:00:00" as "2006-01-02T15:04:05Z07:00"'),
    (("web", "--since=5x"), 'error: invalid argument "5x" for "--since" flag: time: unknown unit "x" in duration "5x"'),
])
def test_kubectl_messages(argv: tuple[str, ...], message: str) -> None:
    assert failure(*argv) == message


def test_tail_is_10_with_a_selector_unless_given() -> None:
    assert checked("web").tail_lines is None
    assert checked("web", "--tail=3").tail_lines == 3
    assert checked("-l", "app=web").tail_lines == 10
    assert checked("-l", "app=web", "--tail=2").tail_lines == 2
    assert checked("-l", "app=web", "--tail=-1").tail_lines is None  # given: all of it
    assert checked("-l", "app=web", "--tail=0").tail_lines == 0


def test_since_is_a_go_duration_rounded_to_seconds() -> None:
    assert checked("web", "--since=1h30m").since_seconds == 5400
    assert checked("web", "--since=1500ms").since_seconds == 2
    assert checked("web", "--since=0s").since_seconds is None
    assert checked("web").since_stamp() == ""


def test_since_time_is_strict_rfc3339_sent_as_the_moment() -> None:
    request = checked("web", "--since-time=2026-01-02T05:04:05.5+02:00")
    assert request.since_seconds is None
    assert request.since_stamp() == "2026-01-02T03:04:05.500000Z"
    assert checked("web").since_stamp() == ""
    assert logs.parse_since_time("2026-01-02T03:04:05.123456789Z") == datetime(2026, 1, 2, 3, 4, 5, 123456, UTC)
    assert logs.parse_since_time("2026-01-02T05:04:05+02:00") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert logs.parse_since_time("") is None


def test_other_options() -> None:
    request = checked("web", "-f", "-p", "--timestamps", "--limit-bytes=100")
    assert (request.follow, request.previous, request.timestamps, request.limit_bytes) == (True, True, True, 100)
    assert checked("web").limit_bytes is None
    args = parse("-l", "app=web")
    assert (args.max_log_requests, args.prefix, args.ignore_errors, args.all_pods) == (5, False, False, False)


# ---- prefix and lines ----

def test_prefix_is_kubectls() -> None:
    assert LogSource(pod("web-1", "app"), "app").prefix == b"[pod/web-1/app] "


async def chunks_of(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_chunks_become_whole_lines() -> None:
    lines = [line async for line in logs.read_lines(chunks_of(b"on", b"e\ntw", b"o\nthree\n", b"", b"tail"))]
    assert lines == [b"one\n", b"two\n", b"three\n", b"tail"]
    assert [line async for line in logs.read_lines(chunks_of(b"a\n\nb\n"))] == [b"a\n", b"\n", b"b\n"]


def context(**flags: Any) -> Context:
    args = parse("-l", "x=y")
    for key, value in flags.items():
        setattr(args, key, value)
    return Context(args=args, server="unused", namespace="ns", namespace_explicit=False,
                   out=io.StringIO(), err=io.StringIO())


class ScriptedLogs:
    """Log calls answered from per-container queues of chunks; None ends a stream, an exception fails it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.queues: dict[str, asyncio.Queue[bytes | Exception | None]] = {}
        monkeypatch.setattr(logs, "_open", self.open)

    def queue(self, container: str) -> asyncio.Queue[bytes | Exception | None]:
        return self.queues.setdefault(container, asyncio.Queue())

    def open(self, ctx: Context, source: LogSource, request: LogRequest) -> AsyncGenerator[bytes, None]:
        async def stream() -> AsyncGenerator[bytes, None]:
            while (item := await self.queue(source.container).get()) is not None:
                if isinstance(item, Exception):
                    raise item
                yield item
        return stream()


async def wait_for_output(ctx: Context, text: str) -> None:
    out = ctx.out
    assert isinstance(out, io.StringIO)

    async def printed() -> bool:
        return text in out.getvalue()
    await eventually(printed, timeout=5, what=f"{text!r} on stdout")


async def test_followed_streams_interleave_line_by_line_with_prefixes(monkeypatch: pytest.MonkeyPatch) -> None:
    scripted = ScriptedLogs(monkeypatch)
    ctx = context(prefix=True)
    web = pod("web", "a", "b")
    following = asyncio.create_task(
        logs.follow_all(ctx, [LogSource(web, "a"), LogSource(web, "b")], LogRequest(follow=True)))
    scripted.queue("a").put_nowait(b"a1\na")
    await wait_for_output(ctx, "a1\n")
    scripted.queue("b").put_nowait(b"b1\n")
    await wait_for_output(ctx, "b1\n")
    scripted.queue("a").put_nowait(b"2\n")
    scripted.queue("a").put_nowait(None)
    scripted.queue("b").put_nowait(None)
    await asyncio.wait_for(following, 5)
    assert isinstance(ctx.out, io.StringIO)
    assert ctx.out.getvalue() == "[pod/web/a] a1\n[pod/web/b] b1\n[pod/web/a] a2\n"


async def test_a_failing_stream_stops_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    scripted = ScriptedLogs(monkeypatch)
    ctx = context()
    web = pod("web", "a", "b")
    scripted.queue("a").put_nowait(errors.BadRequest("container a is gone"))
    with pytest.raises(errors.BadRequest):
        await asyncio.wait_for(logs.follow_all(ctx, [LogSource(web, "a"), LogSource(web, "b")],
                                               LogRequest(follow=True)), 5)


async def test_ignore_errors_reports_a_failing_stream_and_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    scripted = ScriptedLogs(monkeypatch)
    ctx = context(ignore_errors=True)
    web = pod("web", "a", "b")
    scripted.queue("a").put_nowait(errors.BadRequest("container a is gone"))
    following = asyncio.create_task(
        logs.follow_all(ctx, [LogSource(web, "a"), LogSource(web, "b")], LogRequest(follow=True)))
    await wait_for_output(ctx, "error: container a is gone\n")
    scripted.queue("b").put_nowait(b"still here\n")
    scripted.queue("b").put_nowait(None)
    await asyncio.wait_for(following, 5)
    assert isinstance(ctx.out, io.StringIO)
    assert ctx.out.getvalue() == "error: container a is gone\nstill here\n"
