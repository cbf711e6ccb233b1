"""``logs`` and ``exec``: a pod's output and commands in its containers, through the apiserver.

Both verbs talk only to the apiserver (``skiff.client.pods``), which relays to the kubelet of the
pod's node. What happens on this side is what kubectl does before it opens the stream:

- the target is ``POD``, ``pod/NAME`` or a workload (``deploy/web``, ``job/pi``, ``rs/``, ``sts/``,
  ``ds/``, ``svc/``): a workload's selector lists its pods and the best one is taken — bound to a
  node, running, ready, oldest — with ``Found N pods, using pod/x`` when there was a choice;
- without ``-c``, the container is the one named by the ``kubectl.kubernetes.io/default-container``
  annotation, else the first, with ``Defaulted container "a" out of: a, b`` on stderr when the pod
  has several;
- ``exec`` forwards stdin (``-i``) as it is read, writes the command's stdout and stderr as they
  arrive, puts a real terminal in raw mode for ``-t``, and exits with the command's exit code,
  after ``command terminated with exit code N`` on stderr when it is not zero.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import stat
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, TextIO

from google.protobuf.message import Message

from skiff.api import kinds
from skiff.api.labels import selector_from_proto, selector_from_set
from skiff.api.v1 import core_pb2
from skiff.cli.context import Context, UsageError
from skiff.cli.resources import kind_named
from skiff.client import pods

DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
CHUNK = 32 * 1024
SELECTING_KINDS = ("ReplicaSet", "Deployment", "StatefulSet", "DaemonSet", "Job", "Service")
"""The kinds whose pods ``logs`` / ``exec`` can find through their selector."""
_PHASE_RANK = {"Running": 0, "Unknown": 1, "Pending": 2}


# ---- choosing the pod and the container ----

def _selector_of(obj: Message) -> str:
    """The label selector of a workload or Service, as ``-l`` text."""
    spec: Any = obj.spec  # type: ignore[attr-defined]
    selector = spec.selector
    if isinstance(selector, str) or not hasattr(selector, "match_labels"):
        return str(selector_from_set(dict(selector)))
    if not selector.match_labels and not selector.match_expressions and hasattr(spec, "template"):
        return str(selector_from_set(dict(spec.template.metadata.labels)))
    return str(selector_from_proto(selector))


def _ready(pod: core_pb2.Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions)


def _logging_order(pod: core_pb2.Pod) -> tuple[int, int, int, str]:
    """kubectl's preference among a workload's pods: assigned, running, ready, then oldest."""
    return (0 if pod.spec.node_name else 1, _PHASE_RANK.get(pod.status.phase, 3), 0 if _ready(pod) else 1,
            pod.metadata.creation_timestamp)


async def find_pod(ctx: Context, target: str) -> core_pb2.Pod:
    """The pod a ``POD`` or ``TYPE/NAME`` argument means."""
    if "/" not in target:
        return await ctx.client.get(core_pb2.Pod, target, namespace=ctx.namespace)
    type_name, name = target.split("/", 1)
    kind = kind_named(type_name)
    if kind.message is core_pb2.Pod:
        return await ctx.client.get(core_pb2.Pod, name, namespace=ctx.namespace)
    if kind.kind not in SELECTING_KINDS:
        raise UsageError(f"error: cannot attach to *{kind.kind}: selector for {kind.kind} not implemented")
    owner = await ctx.client.get(kind.message, name, namespace=ctx.namespace)
    found = await ctx.client.list(core_pb2.Pod, namespace=ctx.namespace, label_selector=_selector_of(owner))
    if not found.items:
        raise UsageError(f"error: no pods found for {kinds.of(owner).singular}/{name}")
    chosen = sorted(found.items, key=_logging_order)[0]
    if len(found.items) > 1:
        ctx.warn(f"Found {len(found.items)} pods, using pod/{chosen.metadata.name}")
    return chosen


def default_container(ctx: Context, pod: core_pb2.Pod) -> str:
    """The container kubectl picks when -c is not given (and says so when there was a choice)."""
    names = [c.name for c in pod.spec.containers]
    annotated = pod.metadata.annotations.get(DEFAULT_CONTAINER_ANNOTATION, "")
    if annotated in names:
        return annotated
    if not names:
        raise UsageError(f"error: pod {pod.metadata.name} has no containers")
    if len(names) + len(pod.spec.init_containers) > 1:
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


# ---- logs ----

async def _stream_logs(ctx: Context, pod: core_pb2.Pod, container: str) -> None:
    args = ctx.args
    stream = pods.logs(ctx.client, pod.metadata.name, namespace=pod.metadata.namespace or ctx.namespace,
                       container=container, follow=args.follow, previous=args.previous,
                       tail_lines=args.tail if args.tail >= 0 else None, timestamps=args.timestamps,
                       since_seconds=args.since)
    async for chunk in stream:
        write_bytes(ctx.out, chunk)


async def run_logs(ctx: Context) -> int:
    args = ctx.args
    pod = await find_pod(ctx, args.target)
    if args.all_containers:
        names = [c.name for c in pod.spec.init_containers] + [c.name for c in pod.spec.containers]
        if args.follow:
            async with asyncio.TaskGroup() as group:
                for name in names:
                    group.create_task(_stream_logs(ctx, pod, name))
        else:
            for name in names:
                await _stream_logs(ctx, pod, name)
        return 0
    await _stream_logs(ctx, pod, args.container or default_container(ctx, pod))
    return 0


# ---- exec ----

async def stdin_chunks(fd: int) -> AsyncIterator[bytes]:
    """Bytes from ``fd`` as they become readable; a pipe or terminal is read without a thread, so
    an exec that ends while stdin is idle leaves nothing blocked behind."""
    if stat.S_ISREG(os.fstat(fd).st_mode):
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


async def run_exec(ctx: Context) -> int:
    args = ctx.args
    command = list(args.command)
    if not command:
        raise UsageError("error: you must specify at least one command for the container")
    pod = await find_pod(ctx, args.target)
    container = args.container or default_container(ctx, pod)
    stdin_fd = sys.stdin.fileno() if args.stdin else None
    use_tty = bool(args.tty and stdin_fd is not None)
    if use_tty and not os.isatty(stdin_fd):  # type: ignore[arg-type]
        ctx.warn("Unable to use a TTY - input is not a terminal or the right kind of file")
        use_tty = False
    size = os.get_terminal_size(stdin_fd) if use_tty and stdin_fd is not None else None
    with raw_terminal(stdin_fd) if use_tty and stdin_fd is not None else contextlib.nullcontext():
        code = await pods.exec(
            ctx.client, pod.metadata.name, command, namespace=pod.metadata.namespace or ctx.namespace,
            container=container, stdin=stdin_chunks(stdin_fd) if stdin_fd is not None else None, tty=use_tty,
            terminal_size=(size.columns, size.lines) if size else None,
            stdout=lambda data: write_bytes(ctx.out, data), stderr=lambda data: write_bytes(ctx.err, data))
    if code != 0:
        ctx.warn(f"command terminated with exit code {code}")
    return code


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``logs`` and ``exec`` to skiffctl."""
    p = sub.add_parser("logs", help="print the logs of a container in a pod")
    p.add_argument("target", metavar="POD|TYPE/NAME")
    p.add_argument("-c", "--container", default="", help="the container (default: the pod's first)")
    p.add_argument("-f", "--follow", action="store_true", help="stream new output as it comes")
    p.add_argument("-p", "--previous", action="store_true", help="the previous instance of the container")
    p.add_argument("--tail", type=int, default=-1, help="lines of recent log to show (-1: all)")
    p.add_argument("--timestamps", action="store_true", help="prefix each line with its timestamp")
    p.add_argument("--since", type=_seconds, default=None, help="only newer output, e.g. 10s, 5m, 1h")
    p.add_argument("--all-containers", action="store_true", help="every container of the pod")
    p.set_defaults(run=run_logs)

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


def _seconds(text: str) -> int:
    """``--since`` durations: 30s, 5m, 2h (a plain number is seconds)."""
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        if text and text[-1] in units:
            return int(text[:-1]) * units[text[-1]]
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}") from None
