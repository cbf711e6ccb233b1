"""``logs`` and ``exec``: a pod's output and commands in its containers, through the apiserver.

Both verbs talk only to the apiserver (``skiff.client.pods``), which relays to the kubelet of the
pod's node. What happens on this side is what kubectl does before it opens the stream:

- the target is ``POD``, ``pod/NAME`` or a workload (``deploy/web``, ``job/pi``, ``rs/``, ``sts/``,
  ``ds/``, ``svc/``): a workload's selector lists its pods and the best one is taken — bound to a
  node, running, ready, oldest — with ``Found N pods, using pod/x`` when there was a choice; when
  it has none yet, a watch waits up to ``--pod-running-timeout`` for one (skiff.cli.targetpods);
- without ``-c``, the container is the one named by the ``kubectl.kubernetes.io/default-container``
  annotation, else the first, with ``Defaulted container "a" out of: a, b`` on stderr when the pod
  has several;
- ``exec`` forwards stdin (``-i``) as it is read, writes the command's stdout and stderr as they
  arrive, puts a real terminal in raw mode for ``-t``, and exits with the command's exit code,
  after ``command terminated with exit code N`` on stderr when it is not zero.

``logs`` (kubectl 1.32's LogsOptions) works in three steps:

1. **Flags** (:func:`split_words`, :func:`check_logs_flags`): kubectl's argument and flag checks,
   with its messages, give one :class:`LogRequest` all streams share — ``-l`` without ``--tail``
   means the last 10 lines; ``--since`` is a Go duration rounded to seconds; ``--since-time`` is
   strict RFC 3339, sent as the moment itself (the kubelet keeps what was logged after it).
2. **Streams** (:func:`log_sources`): a list of :class:`LogSource` (pod, container) — the pods of
   ``-l`` in the apiserver's list order, a workload's pods with ``--all-pods`` (which turns on
   ``--prefix``), else the one pod; per pod its containers with ``--all-containers`` (init ones
   first), else the named or default one.
3. **Reading**: each stream is cut into lines (:func:`read_lines`), each line written whole, with
   ``[pod/NAME/CONTAINER] `` before it under ``--prefix``. Streams are read one after the other,
   except with ``-f`` and several streams: then all are followed at once (no more than
   ``--max-log-requests``), lines interleaving as they come; the first failure ends them all, or
   with ``--ignore-errors`` becomes an ``error: ...`` line while the others go on.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import math
import os
import stat
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO, cast

from skiff.aio import cancel_and_wait
from skiff.api import errors
from skiff.api.timestamps import parse_rfc3339, rfc3339_micro
from skiff.api.v1 import core_pb2
from skiff.cli.commands.label import allow_intermixed
from skiff.cli.context import Context, UsageError
from skiff.cli.flags import duration_flag
from skiff.cli.targetpods import SELECTING_KINDS, pods_of_selector, selector_of, split_target
from skiff.client import pods
from skiff.client.client import Unreachable

DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
CHUNK = 32 * 1024
LOGS_POD_TIMEOUT = "20s"
"""kubectl logs' default ``--pod-running-timeout``."""
EXEC_POD_TIMEOUT = 60.0
"""kubectl exec's default wait for a workload's first pod, in seconds."""


# ---- choosing the pod and the container ----

async def pods_of(ctx: Context, target: str, timeout: float) -> list[core_pb2.Pod]:
    """The pods a ``POD`` or ``TYPE/NAME`` argument means, best first: the pod, or a workload's
    pods (waiting up to ``timeout`` seconds for a first one when it has none)."""
    kind, name = split_target(target)
    if kind.message is core_pb2.Pod:
        return [await ctx.client.get(core_pb2.Pod, name, namespace=ctx.namespace)]
    if kind.kind not in SELECTING_KINDS:
        raise UsageError(f"error: cannot attach to *{kind.kind}: selector for {kind.kind} not implemented")
    owner = await ctx.client.get(kind.message, name, namespace=ctx.namespace)
    return await pods_of_selector(ctx.client, ctx.namespace, selector_of(owner), timeout)


async def find_pod(ctx: Context, target: str, timeout: float) -> core_pb2.Pod:
    """The pod a ``POD`` or ``TYPE/NAME`` argument means (the best of a workload's)."""
    found = await pods_of(ctx, target, timeout)
    if len(found) > 1:
        ctx.warn(f"Found {len(found)} pods, using pod/{found[0].metadata.name}")
    return found[0]


def default_container(ctx: Context, pod: core_pb2.Pod, *, quiet: bool = False) -> str:
    """The container kubectl picks when -c is not given (and says so when there was a choice,
    unless ``quiet``)."""
    names = [c.name for c in pod.spec.containers]
    annotated = pod.metadata.annotations.get(DEFAULT_CONTAINER_ANNOTATION, "")
    if annotated in names:
        return annotated
    if not names:
        raise UsageError(f"error: pod {pod.metadata.name} has no containers")
    if len(names) + len(pod.spec.init_containers) > 1 and not quiet:
        choices = names + [f"{c.name} (init)" for c in pod.spec.init_containers]
        ctx.warn(f'Defaulted container "{names[0]}" out of: {", ".join(choices)}')
    return names[0]


# ---- output ----

def write_bytes(stream: TextIO, data: bytes) -> None:
    """Raw bytes to a text stream's buffer (the log is not necessarily UTF-8), flushed at once."""
    buffer = getattr(stream, "buffer", None)
    if buffer is None:
        stream.write(data.decode(errors="replace"))
        stream.flush()
        return
    stream.flush()
    buffer.write(data)
    buffer.flush()


# ---- logs: flags ----

LOGS_USAGE = "logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]"
SEE_LOGS_HELP = "See 'skiffctl logs -h' for help and examples"
SELECTOR_TAIL = 10
"""kubectl's ``--tail`` when ``-l`` is given and ``--tail`` is not."""
RFC3339_LAYOUT = "2006-01-02T15:04:05Z07:00"
_STREAM_ERRORS = (errors.StatusError, Unreachable, OSError)
"""What a failing log stream raises (and ``--ignore-errors`` prints instead)."""


@dataclass(frozen=True)
class LogRequest:
    """The PodLogOptions every stream of one ``skiffctl logs`` shares (kubectl's ToLogOptions)."""

    follow: bool = False
    previous: bool = False
    timestamps: bool = False
    tail_lines: int | None = None
    since_seconds: int | None = None
    since_time: datetime | None = None
    limit_bytes: int | None = None

    def since_stamp(self) -> str:
        """``--since-time`` as the log request carries it (RFC 3339 with microseconds), or ""."""
        return rfc3339_micro(self.since_time) if self.since_time is not None else ""


@dataclass(frozen=True)
class LogSource:
    """One stream: a container of a pod."""

    pod: core_pb2.Pod
    container: str

    @property
    def prefix(self) -> bytes:
        """kubectl's ``--prefix``: ``[pod/NAME/CONTAINER] ``."""
        return f"[pod/{self.pod.metadata.name}/{self.container}] ".encode()


def _usage(message: str) -> UsageError:
    return UsageError(f"error: {message}\n{SEE_LOGS_HELP}")


def split_words(args: argparse.Namespace) -> tuple[str, str]:
    """The ``POD|TYPE/NAME`` and inline ``CONTAINER`` arguments, checked as kubectl's Complete does."""
    words: list[str] = list(args.words)
    if len(words) > 2 or (not words and not args.selector):
        raise _usage(f"expected '{LOGS_USAGE}'.\nPOD or TYPE/NAME is a required argument for the logs command")
    if len(words) == 1 and args.selector:
        raise _usage("only a selector (-l) or a POD name is allowed")
    if len(words) == 2 and args.selector:
        raise UsageError("error: selectors and the all flag cannot be used when passing resource/name arguments")
    target, container = (words + ["", ""])[:2]
    return target, container


def parse_since_time(text: str) -> datetime | None:
    """``--since-time``: strict RFC 3339 (a date alone, or no zone, is refused as Go's time.Parse does)."""
    if not text:
        return None
    parsed = parse_rfc3339(text)  # as strict as Go's time.RFC3339
    if parsed is None:
        raise UsageError(f'error: parsing time "{text}" as "{RFC3339_LAYOUT}"')
    return parsed


def _go_round(seconds: float) -> int:
    """Go's ``Duration.Round(time.Second)``: halves away from zero."""
    return int(math.copysign(math.floor(abs(seconds) + 0.5), seconds))


def log_request(args: argparse.Namespace) -> LogRequest:
    """The shared log options; with ``-l`` and no ``--tail``, the last 10 lines."""
    since = _go_round(duration_flag(args.since, "--since"))
    tail = args.tail if args.tail is not None else (SELECTOR_TAIL if args.selector else -1)
    return LogRequest(follow=args.follow, previous=args.previous, timestamps=args.timestamps,
                      tail_lines=tail if tail != -1 else None, since_seconds=since or None,
                      since_time=parse_since_time(args.since_time), limit_bytes=args.limit_bytes or None)


def check_logs_flags(args: argparse.Namespace, inline_container: str) -> LogRequest:
    """kubectl's Complete and Validate checks, in its order; the options the streams share."""
    if duration_flag(args.pod_running_timeout, "--pod-running-timeout") <= 0:
        raise UsageError("error: --pod-running-timeout must be higher than zero")
    request = log_request(args)
    if args.since_time and request.since_seconds is not None:
        raise UsageError("error: at most one of `sinceTime` or `sinceSeconds` may be specified")
    container = args.container or inline_container
    if args.all_containers and container:
        raise UsageError(f"error: --all-containers=true should not be specified with container name {container}")
    if args.container and inline_container:
        raise UsageError("error: only one of -c or an inline [CONTAINER] arg is allowed")
    if args.limit_bytes < 0:
        raise UsageError("error: --limit-bytes must be greater than 0")
    if request.since_seconds is not None and request.since_seconds < 0:
        raise UsageError("error: --since must be greater than 0")
    if request.tail_lines is not None and request.tail_lines < -1:
        raise UsageError("error: --tail must be greater than or equal to -1")
    return request


# ---- logs: which streams ----

async def _pods_of_selector(ctx: Context, selector: str) -> list[core_pb2.Pod]:
    """``-l``: every matching pod of the namespace, in the apiserver's list order."""
    found = await ctx.client.list(core_pb2.Pod, namespace=ctx.namespace, label_selector=selector)
    if not found.items:
        ctx.warn(f"No resources found in {ctx.namespace} namespace.")
    return list(found.items)


def _containers(ctx: Context, pod: core_pb2.Pod, container: str, *, all_containers: bool,
                quiet: bool) -> list[str]:
    """The containers to read: all (init ones first), the named one, or the default one."""
    if all_containers:
        return [c.name for c in pod.spec.init_containers] + [c.name for c in pod.spec.containers]
    if container:
        return [container]
    return [default_container(ctx, pod, quiet=quiet)]


async def log_sources(ctx: Context, target: str, container: str) -> list[LogSource]:
    """Every stream to read, in order: pod by pod, container by container."""
    args = ctx.args
    timeout = duration_flag(args.pod_running_timeout, "--pod-running-timeout")
    if args.selector:
        found = await _pods_of_selector(ctx, args.selector)
    elif args.all_pods:
        found = await pods_of(ctx, target, timeout)
    else:
        found = [await find_pod(ctx, target, timeout)]
    return [LogSource(pod, name) for pod in found
            for name in _containers(ctx, pod, container, all_containers=args.all_containers, quiet=args.all_pods)]


# ---- logs: reading ----

def _emit(ctx: Context, source: LogSource, line: bytes) -> None:
    write_bytes(ctx.out, source.prefix + line if ctx.args.prefix else line)


async def read_lines(chunks: AsyncIterator[bytes]) -> AsyncGenerator[bytes, None]:
    """Whole lines (the last one perhaps without its newline) out of chunks cut anywhere, so that
    streams read together interleave line by line, as kubectl's DefaultConsumeRequest does."""
    pending = b""
    async for chunk in chunks:
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            yield line + b"\n"
    if pending:
        yield pending


def _open(ctx: Context, source: LogSource, request: LogRequest) -> AsyncGenerator[bytes, None]:
    """The stream's log call, as chunks."""
    pod = source.pod
    chunks = pods.logs(ctx.client, pod.metadata.name, namespace=pod.metadata.namespace or ctx.namespace,
                       container=source.container, follow=request.follow, previous=request.previous,
                       tail_lines=request.tail_lines, timestamps=request.timestamps,
                       since_seconds=request.since_seconds, since_time=request.since_stamp(),
                       limit_bytes=request.limit_bytes)
    return cast(AsyncGenerator[bytes, None], chunks)


async def _stream(ctx: Context, source: LogSource, request: LogRequest) -> None:
    """One stream to the end, line by line."""
    chunks = _open(ctx, source, request)
    async with contextlib.aclosing(chunks), contextlib.aclosing(read_lines(chunks)) as lines:
        async for line in lines:
            _emit(ctx, source, line)


async def print_log(ctx: Context, pod: core_pb2.Pod, container: str) -> None:
    """A container's log as it is, on stdout (what ``run --attach`` shows of a pod it could not
    attach to)."""
    chunks = _open(ctx, LogSource(pod, container), LogRequest())
    async with contextlib.aclosing(chunks):
        async for chunk in chunks:
            write_bytes(ctx.out, chunk)


async def _stream_or_report(ctx: Context, source: LogSource, request: LogRequest) -> None:
    """One of several followed streams: with ``--ignore-errors`` its failure is a line on stdout
    (as kubectl writes it into the shared output) and the others go on."""
    try:
        await _stream(ctx, source, request)
    except _STREAM_ERRORS as exc:
        if not ctx.args.ignore_errors:
            raise
        write_bytes(ctx.out, f"error: {exc}\n".encode())


async def follow_all(ctx: Context, sources: Sequence[LogSource], request: LogRequest) -> None:
    """Every stream at once, lines written as they come; the first failure (without
    ``--ignore-errors``) stops the rest and is raised."""
    tasks = [asyncio.create_task(_stream_or_report(ctx, source, request)) for source in sources]
    try:
        for done in asyncio.as_completed(tasks):
            await done
    finally:
        await cancel_and_wait(tasks, ignore_errors=True)


async def run_logs(ctx: Context) -> int:
    args = ctx.args
    target, inline_container = split_words(args)
    request = check_logs_flags(args, inline_container)
    if args.all_pods:
        args.prefix = True
    sources = await log_sources(ctx, target, args.container or inline_container)
    if request.follow and len(sources) > 1:
        if len(sources) > args.max_log_requests:
            raise UsageError(f"error: you are attempting to follow {len(sources)} log streams, but maximum "
                             f"allowed concurrency is {args.max_log_requests}, use --max-log-requests to "
                             "increase the limit")
        await follow_all(ctx, sources, request)
        return 0
    for source in sources:
        await _stream(ctx, source, request)
    return 0


# ---- exec ----

async def stdin_chunks(fd: int) -> AsyncIterator[bytes]:
    """Bytes from ``fd`` as they become readable; a pipe or terminal is read without a thread, so
    an exec that ends while stdin is idle leaves nothing blocked behind. Anything else (a file,
    ``/dev/null``: what epoll cannot watch) is read in a thread."""
    mode = os.fstat(fd).st_mode
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or os.isatty(fd)):
        while data := await asyncio.to_thread(os.read, fd, CHUNK):
            yield data
        return
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    pipe = os.fdopen(os.dup(fd), "rb", buffering=0)
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    try:
        while data := await reader.read(CHUNK):
            yield data
    finally:
        transport.close()
        with contextlib.suppress(OSError):
            os.set_blocking(fd, True)


@contextlib.contextmanager
def raw_terminal(fd: int) -> Iterator[None]:
    """The terminal in raw mode (keys go to the remote shell as typed), restored afterwards."""
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


SessionOpener = Callable[..., Awaitable[int]]
"""``pods.exec`` or ``pods.attach`` with the pod, container (and command) already bound; the local
side adds ``stdin``, ``tty``, ``terminal_size``, ``stdout`` and ``stderr``."""


@dataclass(frozen=True)
class LocalStreams:
    """The local end of an exec or attach (kubectl's StreamOptions.SetupTTY): stdin's descriptor when
    it is forwarded (``-i``), and whether that is a real terminal, put in raw mode (``-t``)."""

    stdin_fd: int | None
    raw: bool

    @classmethod
    def setup(cls, ctx: Context, *, stdin: bool, tty: bool, quiet: bool = False) -> LocalStreams:
        """``-t`` needs ``-i`` and a terminal on stdin; without one, kubectl's warning (unless quiet)."""
        stdin_fd = sys.stdin.fileno() if stdin else None
        raw = bool(tty and stdin_fd is not None)
        if raw and not os.isatty(stdin_fd):  # type: ignore[arg-type]
            if not quiet:
                ctx.warn("Unable to use a TTY - input is not a terminal or the right kind of file")
            raw = False
        return cls(stdin_fd, raw)

    async def run(self, ctx: Context, session: SessionOpener) -> int:
        """The session to its end: stdin forwarded as it is read, output written as it comes, the
        terminal raw meanwhile; the remote side's exit code."""
        fd = self.stdin_fd
        size = os.get_terminal_size(fd) if self.raw and fd is not None else None
        with raw_terminal(fd) if self.raw and fd is not None else contextlib.nullcontext():
            return await session(
                stdin=stdin_chunks(fd) if fd is not None else None, tty=self.raw,
                terminal_size=(size.columns, size.lines) if size else None,
                stdout=lambda data: write_bytes(ctx.out, data), stderr=lambda data: write_bytes(ctx.err, data))


async def run_exec(ctx: Context) -> int:
    args = ctx.args
    command = list(args.command)
    if not command:
        raise UsageError("error: you must specify at least one command for the container")
    pod = await find_pod(ctx, args.target, EXEC_POD_TIMEOUT)
    container = args.container or default_container(ctx, pod)
    streams = LocalStreams.setup(ctx, stdin=args.stdin, tty=args.tty)
    code = await streams.run(ctx, functools.partial(
        pods.exec, ctx.client, pod.metadata.name, command, namespace=pod.metadata.namespace or ctx.namespace,
        container=container))
    if code != 0:
        ctx.warn(f"command terminated with exit code {code}")
    return code


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``logs`` and ``exec`` to skiffctl."""
    p = sub.add_parser("logs", help="print the logs of a container in a pod",
                       usage="skiffctl logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER] [options]")
    p.add_argument("words", nargs="*", metavar="POD|TYPE/NAME [CONTAINER]")
    p.add_argument("-c", "--container", default="", help="the container (default: the pod's first)")
    p.add_argument("-f", "--follow", action="store_true", help="stream new output as it comes")
    p.add_argument("-p", "--previous", action="store_true", help="the previous instance of the container")
    p.add_argument("--tail", type=int, default=None,
                   help="lines of recent log to show (default -1, all; 10 with a selector)")
    p.add_argument("--timestamps", action="store_true", help="prefix each line with its timestamp")
    p.add_argument("--since", default="0s", help="only newer output, a duration like 5s, 2m or 3h")
    p.add_argument("--since-time", default="", help="only output after this RFC3339 time (not with --since)")
    p.add_argument("--limit-bytes", type=int, default=0, help="the most bytes of log to return (0: no limit)")
    p.add_argument("--all-containers", action="store_true", help="every container of the pod(s)")
    p.add_argument("--all-pods", action="store_true", help="every pod of the workload (turns on --prefix)")
    p.add_argument("-l", "--selector", default="", help="the logs of every pod with these labels")
    p.add_argument("--max-log-requests", type=int, default=5,
                   help="the most streams followed at once with a selector (default 5)")
    p.add_argument("--prefix", action="store_true", help="prefix each line with [pod/NAME/CONTAINER]")
    p.add_argument("--ignore-errors", action="store_true",
                   help="while following several streams, a failing one does not stop the others")
    p.add_argument("--pod-running-timeout", default=LOGS_POD_TIMEOUT,
                   help="how long to wait for a workload's first pod (like 5s, 2m, or 3h, higher than zero)")
    p.set_defaults(run=run_logs)
    allow_intermixed(p)

    p = sub.add_parser("exec", help="run a command in a container",
                       usage="skiffctl exec POD|TYPE/NAME [-c CONTAINER] [-i] [-t] -- COMMAND [ARGS...]")
    p.__class__ = type("ExecParser", (_CommandAfterDashes, type(p)), {})
    p.add_argument("target", metavar="POD|TYPE/NAME")
    p.add_argument("words", nargs="*", help=argparse.SUPPRESS)
    p.add_argument("-c", "--container", default="", help="the container (default: the pod's first)")
    p.add_argument("-i", "--stdin", action="store_true", help="pass stdin to the container")
    p.add_argument("-t", "--tty", action="store_true", help="stdin is a TTY")
    p.set_defaults(run=run_exec)


class _CommandAfterDashes(argparse.ArgumentParser):
    """Everything after the first ``--`` is the command, verbatim (a later ``--`` or ``-n`` included);
    flags before it may come in any order around the pod (``exec -n x web -i -- sh``)."""

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None) -> tuple[argparse.Namespace, list[str]]:
        words = list(sys.argv[1:] if args is None else args)
        head, command = (words[:words.index("--")], words[words.index("--") + 1:]) if "--" in words else (words, [])
        parsed, extras = super().parse_known_args(head, namespace)
        if parsed.words:
            self.error("exec [POD] [COMMAND] is not supported anymore. Use exec [POD] -- [COMMAND] instead")
        parsed.command = command
        return parsed, extras

