"""``attach``: connect to the main process of a running container (kubectl 1.32's AttachOptions).

``attach POD|TYPE/NAME [-c CONTAINER] [-i] [-t] [-q]`` picks the pod as ``exec`` does (a
workload's best pod, waiting up to ``--pod-running-timeout`` for one), refuses a completed pod
(``cannot attach a container in a completed pod; current phase is Succeeded``) and picks the
container (``-c``, else the default one, with ``Defaulted container ...`` unless ``-q``). The
terminal is the container's: ``-t`` on a container without ``tty: true`` is dropped with
``error: Unable to use a TTY - container C did not allocate one``, and a container with a tty
gets one even without ``-t``. Then, unless ``-q``, ``If you don't see a command prompt, try
pressing enter.`` goes to stderr and the session runs through the same local plumbing as
``exec`` (stdin forwarded with ``-i``, a raw terminal with ``-t``); the container's output is
written as it comes until its process exits. kubectl attach exits 0 whatever the process's exit
code; after an interactive terminal session on a ``restartPolicy: Always`` pod it prints how to
resume. ``-i`` on a container started without ``stdin: true`` is not refused (kubectl 1.32 has no
such check): the input simply goes nowhere.

:func:`attach_to` is also the attach step of ``run -i`` / ``run --attach`` (skiff.cli.commands.expose).
"""

from __future__ import annotations

import argparse
import functools

from skiff.api.v1 import core_pb2
from skiff.cli.commands.logs import LocalStreams, default_container, pods_of
from skiff.cli.context import Context, UsageError
from skiff.cli.flags import duration_flag
from skiff.client import pods

ATTACH_POD_TIMEOUT = "1m0s"
"""kubectl attach's (and run's) default ``--pod-running-timeout``."""
COMPLETED = ("Succeeded", "Failed")
PROMPT_HINT = "If you don't see a command prompt, try pressing enter."


def attach_container(ctx: Context, pod: core_pb2.Pod, name: str, *, quiet: bool) -> core_pb2.Container:
    """The container to attach to (kubectl's FindOrDefaultContainerByName, in attach's words)."""
    wanted = name or default_container(ctx, pod, quiet=quiet)
    for container in (*pod.spec.containers, *pod.spec.init_containers):
        if container.name == wanted:
            return container
    raise UsageError(f"error: cannot attach to the container: container {wanted} not found in pod "
                     f"{pod.metadata.name}")


async def attach_to(ctx: Context, pod: core_pb2.Pod, *, container: str = "", stdin: bool, tty: bool,
                    quiet: bool) -> int:
    """One attach session to ``pod`` (already found): kubectl's AttachOptions.Run from the container
    check on. Returns the process's exit code (which ``attach`` itself does not pass on)."""
    spec = attach_container(ctx, pod, container, quiet=quiet)
    if tty and not spec.tty:
        tty = False
        if not quiet:
            ctx.warn(f"error: Unable to use a TTY - container {spec.name} did not allocate one")
    elif not tty and spec.tty:
        tty = True  # the process runs on a terminal: its stream can only be a terminal's
    streams = LocalStreams.setup(ctx, stdin=stdin, tty=tty, quiet=quiet)
    if not quiet:
        ctx.warn(PROMPT_HINT)
    namespace = pod.metadata.namespace or ctx.namespace
    code = await streams.run(ctx, functools.partial(pods.attach, ctx.client, pod.metadata.name,
                                                    namespace=namespace, container=spec.name))
    if not quiet and stdin and streams.raw and pod.spec.restart_policy in ("", "Always"):
        ctx.print(f"Session ended, resume using 'skiffctl attach {pod.metadata.name} -c {spec.name} -i -t' "
                  "command when the pod is running")
    return code


def _target(words: list[str]) -> str:
    """``POD``, ``TYPE/NAME`` or ``TYPE NAME``, with kubectl's argument checks."""
    if not words:
        raise UsageError("error: at least 1 argument is required for attach")
    if len(words) > 2:
        raise UsageError(f"error: expected POD, TYPE/NAME, or TYPE NAME, (at most 2 arguments) saw {len(words)}: "
                         f"[{' '.join(words)}]")
    return "/".join(words)


async def run_attach(ctx: Context) -> int:
    args = ctx.args
    target = _target(list(args.words))
    timeout = duration_flag(args.pod_running_timeout, "--pod-running-timeout")
    if timeout <= 0:
        raise UsageError("error: --pod-running-timeout must be higher than zero")
    pod = (await pods_of(ctx, target, timeout))[0]
    if pod.status.phase in COMPLETED:
        raise UsageError(f"error: cannot attach a container in a completed pod; current phase is {pod.status.phase}")
    await attach_to(ctx, pod, container=args.container, stdin=args.stdin, tty=args.tty, quiet=args.quiet)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``attach`` to skiffctl."""
    p = sub.add_parser("attach", help="attach to a running container",
                       usage="skiffctl attach (POD | TYPE/NAME) -c CONTAINER [-i] [-t] [-q] [options]")
    p.add_argument("words", nargs="*", metavar="POD|TYPE/NAME")
    p.add_argument("-c", "--container", default="",
                   help="the container (default: the kubectl.kubernetes.io/default-container annotation's, "
                        "else the first)")
    p.add_argument("-i", "--stdin", action="store_true", help="pass stdin to the container")
    p.add_argument("-t", "--tty", action="store_true", help="stdin is a TTY")
    p.add_argument("-q", "--quiet", action="store_true", help="only print output from the remote session")
    p.add_argument("--pod-running-timeout", default=ATTACH_POD_TIMEOUT,
                   help="how long to wait until at least one pod is running (like 5s, 2m, or 3h, higher than zero)")
    p.set_defaults(run=run_attach)
