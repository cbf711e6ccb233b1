"""``run`` (a bare Pod from an image) and ``expose`` (a Service for an existing object).

``run NAME --image=IMG [--restart=Never] [--labels=...] [--env=K=V] [--port=P] [--command] [--
ARGS...]`` is kubectl's pod generator: labels default to ``run=NAME``, the words after ``--`` are
the container's args (its command with ``--command``). ``--annotations=K=V`` (repeatable, the
value kept whole) annotate the pod, ``--privileged`` sets the container's
``securityContext.privileged``, ``--overrides=JSON`` patches the generated pod last (kubectl's
Overrider: ``--override-type=merge`` by default, ``strategic`` or ``json``, with its errors), and
``--expose`` (which needs ``--port``) also creates kubectl's ClusterIP Service for the pod through
expose's generator: created after the pod, printed before it, as kubectl does.

``run -i [-t] [--rm] [-q]`` (or ``--attach``, which ``-i`` turns on) is kubectl 1.32's attached
run: ``-i`` gives the container ``stdin: true`` and ``stdinOnce: true`` (not with
``--leave-stdin-open``), ``-t`` ``tty: true``. The pod is created (nothing printed), run waits up
to ``--pod-running-timeout`` (1m0s) for it to be Running and Ready and attaches as ``skiffctl
attach`` does — or prints its log when it has already ended or the attach fails. With
``--restart=Never`` / ``OnFailure`` it then waits for the pod to end: a Failed pod is ``pod
NS/NAME terminated (Error)`` and the container's exit code. ``--rm`` deletes the pod at the end
(``pod "NAME" deleted``, unless ``-q``), before that error is printed, as kubectl's deferred removal.

``expose TYPE NAME`` / ``expose TYPE/NAME`` reads the object from the server, as kubectl does, and
takes what the flags leave open from it: the selector (a Deployment's or ReplicaSet's
matchLabels, a Service's selector, a Pod's labels), the ports (every container port, or the
Service's ports) and the labels. Both print and dry-run through ``create.emit``.
"""

from __future__ import annotations

import argparse
import re
from typing import Any, cast

from google.protobuf.message import Message

from skiff.api import errors, kinds
from skiff.api.v1 import core_pb2
from skiff.cli import generators
from skiff.cli.commands.attach import ATTACH_POD_TIMEOUT, COMPLETED, attach_container, attach_to
from skiff.cli.commands.create import (
    accept_command_tail,
    add_generator_flags,
    create_generated,
    emit,
    generated_namespace,
    generator_error,
    one_name,
    require,
    save_generated_config,
)
from skiff.cli.commands.logs import print_log
from skiff.cli.context import Context, UsageError
from skiff.cli.flags import duration_flag
from skiff.cli.following import TIMED_OUT, Until, follow
from skiff.cli.printers import result_text
from skiff.cli.resources import Target, parse_targets
from skiff.client.client import Unreachable

RESTART_POLICIES = ("Always", "OnFailure", "Never")
EXPOSABLE = ("Deployment", "ReplicaSet", "Service", "Pod")
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")


def _restart_policy(a: argparse.Namespace) -> str:
    """``--restart`` (an empty one: OnFailure with ``-i``, else Always), as kubectl's getRestartPolicy."""
    restart = a.restart or ("OnFailure" if a.stdin else "Always")
    if restart not in RESTART_POLICIES:
        raise UsageError(f"error: invalid restart policy: {a.restart}")
    return str(restart)


def _go_atoi(text: str) -> int:
    """Go's strconv.Atoi, with its errors, the result kept to an int32 as kubectl converts it."""
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise UsageError(f'error: strconv.Atoi: parsing "{text}": invalid syntax')
    value = int(text)
    if not -(2**63) <= value < 2**63:
        raise UsageError(f'error: strconv.Atoi: parsing "{text}": value out of range')
    return (value + 2**31) % 2**32 - 2**31


def _annotations(items: list[str]) -> dict[str, str]:
    """``--annotations`` (kubectl's ParsePairs): each one KEY=VALUE, the value kept whole (commas too)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"error: invalid annotations format: {item}")
        out[key] = value
    return out


def _pod(ctx: Context) -> Message:
    a = ctx.args
    name = one_name(ctx)
    require(ctx, "image")
    annotations = _annotations(a.annotations)
    options = generators.RunOptions(
        restart=_restart_policy(a),
        labels=generators.parse_key_values(a.labels or ""),
        env=generators.parse_env(a.env),
        port=_port(a),
        args=a.command,
        use_command=a.use_command,
        image_pull_policy=a.image_pull_policy or "",
        stdin=a.stdin,
        stdin_once=a.stdin and not a.leave_stdin_open,
        tty=a.tty,
        annotations=annotations,
        privileged=a.privileged,
        overrides=a.overrides or "",
        override_type=a.override_type,
    )
    return generators.pod(name, image=a.image, options=options, namespace=generated_namespace(ctx))


def _port(a: argparse.Namespace) -> int | None:
    """``--port`` (a string in kubectl): required by ``--expose``, else Go's Atoi error."""
    if a.expose and not a.port:
        raise UsageError("error: --port must be set when exposing a service\n"
                         "See 'skiffctl run -h' for help and examples")
    return _go_atoi(a.port) if a.port else None


def _service(ctx: Context, pod: core_pb2.Pod) -> core_pb2.Service:
    """``--expose``: kubectl's ClusterIP Service for the pod, through expose's generator: named as the
    pod, selecting the generated labels (``run=NAME`` by default, --overrides not seen), labelled only
    with ``--labels``, one TCP port ``--port`` to the same target port."""
    labels = generators.parse_key_values(ctx.args.labels or "")
    name = one_name(ctx)
    target = generators.Exposable(name=name, labels=labels, selector=labels or {"run": name},
                                  ports=[(_go_atoi(ctx.args.port), "TCP")])
    return generators.expose(target, generators.ExposeOptions(), namespace=pod.metadata.namespace)


async def _emit_exposed(ctx: Context, pod: core_pb2.Pod, service: core_pb2.Service) -> int:
    """kubectl's order: the pod is created, then the Service; the Service is printed first (a lone
    ``---`` after it with -o yaml, besides the printer's own separator before the pod), then the pod.
    A Service that cannot be created is reported after the pod."""
    a = ctx.args
    yaml_out = a.output == "yaml"
    if a.dry_run == "client":
        await emit(ctx, service)
        if yaml_out:
            ctx.print("---\n---")
        return await emit(ctx, pod)
    created = await _create_pod(ctx, pod)
    try:
        await emit(ctx, service)
    except (errors.StatusError, Unreachable) as exc:
        _print_pod(ctx, created)
        raise exc from None
    if yaml_out:
        ctx.print("---\n---")
    _print_pod(ctx, created)
    return 0


async def _create_pod(ctx: Context, pod: core_pb2.Pod) -> Message:
    """Create the pod as ``emit`` does (``--save-config``, ``--dry-run=server``), printing nothing yet."""
    if ctx.args.save_config:
        save_generated_config(pod, ctx.namespace)
    return await ctx.client.create(pod, namespace=ctx.namespace, dry_run=ctx.args.dry_run == "server")


def _print_pod(ctx: Context, created: Message) -> None:
    output = ctx.args.output if ctx.args.output in ("yaml", "json", "name") else ""
    ctx.print(result_text(created, "created", output=output, dry_run=ctx.args.dry_run))


def _attaching(a: argparse.Namespace) -> bool:
    """``--attach``, which defaults to ``-i``; with kubectl's Validate checks of -t, --rm and --dry-run."""
    attach = a.stdin if a.attach is None else a.attach
    if a.tty and not a.stdin:
        raise UsageError("error: -i/--stdin is required for containers with -t/--tty=true")
    if a.rm and not attach:
        raise UsageError("error: --rm should only be used for attached containers")
    if attach and a.dry_run not in ("", "none"):
        raise UsageError("error: --dry-run=[server|client] can't be used with attached containers options "
                         "(--attach, --stdin, or --tty)")
    return bool(attach)


async def run_run(ctx: Context) -> int:
    if ctx.args.use_command and not ctx.args.command:
        raise UsageError("error: --command was specified without a command (after --)")
    attaching = _attaching(ctx.args)  # kubectl's Validate, before the pod is built and --overrides applied
    try:
        obj = _pod(ctx)
    except generators.GeneratorError as exc:
        raise generator_error(exc) from None
    service = _service(ctx, cast(core_pb2.Pod, obj)) if ctx.args.expose else None
    if not attaching:
        if service is None:
            return await emit(ctx, obj)
        return await _emit_exposed(ctx, cast(core_pb2.Pod, obj), service)
    timeout = duration_flag(ctx.args.pod_running_timeout, "--pod-running-timeout")
    if timeout <= 0:
        raise UsageError("error: --pod-running-timeout must be higher than zero")
    pod = cast(core_pb2.Pod, await create_generated(ctx, obj))
    created: list[Message] = [pod]
    outcome: tuple[int, str] = (0, "")
    try:
        if service is not None:
            await emit(ctx, service)
            created.append(service)
        outcome = await _run_attached(ctx, pod, timeout)
    finally:
        if ctx.args.rm:
            for done in created:
                await _remove(ctx, done)
    code, message = outcome
    if message:
        ctx.warn(message)
    return code


# ---- run --attach: kubectl run.go's handleAttachPod, waitForPod and exit code ----

def _running_and_ready(pod: Message | None) -> bool:
    """podRunningAndReady, which also stops at a completed pod (ErrPodCompleted)."""
    if pod is None:
        return True
    assert isinstance(pod, core_pb2.Pod)
    phase = pod.status.phase
    ready = any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions)
    return phase in COMPLETED or (phase == "Running" and ready)


def _completed(pod: Message | None) -> bool:
    return pod is None or cast(core_pb2.Pod, pod).status.phase in COMPLETED


def _succeeded(pod: Message | None) -> bool:
    return pod is None or cast(core_pb2.Pod, pod).status.phase == "Succeeded"


async def _wait_for_pod(ctx: Context, pod: core_pb2.Pod, until: Until, timeout: float) -> core_pb2.Pod:
    """The pod once ``until`` holds (kubectl's waitForPod), else kubectl's timeout or NotFound error."""
    target = Target(kinds.of(core_pb2.Pod), pod.metadata.namespace, pod.metadata.name)
    try:
        found = await follow(ctx.client, target, until, timeout=timeout)
    except TimeoutError:
        raise UsageError(f"error: {TIMED_OUT}") from None
    if found is None:
        raise errors.NotFound(f'pods "{pod.metadata.name}" not found')
    return cast(core_pb2.Pod, found)


async def _run_attached(ctx: Context, pod: core_pb2.Pod, timeout: float) -> tuple[int, str]:
    """Wait for the pod to run, attach (or print the log of a pod that already ended, or that
    cannot be attached to), then — for Never and OnFailure, unless --leave-stdin-open — wait for it to
    end: the exit code and the error to print."""
    a = ctx.args
    name = pod.metadata.name
    pod = await _wait_for_pod(ctx, pod, _running_and_ready, timeout)
    if pod.status.phase in COMPLETED:
        await print_log(ctx, pod, attach_container(ctx, pod, "", quiet=a.quiet).name)
    else:
        try:
            await attach_to(ctx, pod, stdin=a.stdin, tty=a.tty, quiet=a.quiet)
        except (errors.StatusError, Unreachable) as exc:
            ctx.warn(f"warning: couldn't attach to pod/{name}, falling back to streaming logs: {exc}")
            await print_log(ctx, pod, attach_container(ctx, pod, "", quiet=a.quiet).name)
    restart = pod.spec.restart_policy
    if a.leave_stdin_open or restart not in ("Never", "OnFailure"):
        return 0, ""
    pod = await _wait_for_pod(ctx, pod, _completed if restart == "Never" else _succeeded, timeout)
    namespaced = f"{pod.metadata.namespace}/{name}"
    if pod.status.phase == "Succeeded":
        return 0, ""
    if pod.status.phase != "Failed":
        return 1, f"error: pod {namespaced} left in phase {pod.status.phase}"
    statuses = pod.status.container_statuses
    terminated = statuses[0].state.terminated if statuses and statuses[0].state.HasField("terminated") else None
    if terminated is None or terminated.exit_code == 0:
        return 1, f"error: pod {namespaced} failed with unknown exit code"
    # kubectl prints an exit error as it is (no "error: "), the termination message on its own line.
    message = f"pod {namespaced} terminated ({terminated.reason})"
    return terminated.exit_code, f"{message}\n{terminated.message}" if terminated.message else message


async def _remove(ctx: Context, obj: Message) -> None:
    """--rm: delete the pod (and the --expose Service), not waiting, a missing one ignored; kubectl's
    ``pod "NAME" deleted`` unless -q."""
    meta: Any = obj.metadata  # type: ignore[attr-defined]
    kind = kinds.of(obj)
    try:
        await ctx.client.delete(kind.message, meta.name, namespace=meta.namespace)
    except errors.NotFound:
        return
    if not ctx.args.quiet:
        ctx.print(f'{kind.kind.lower()} "{meta.name}" deleted')


def _expose_options(ctx: Context) -> generators.ExposeOptions:
    a = ctx.args
    if a.type and a.type not in SERVICE_TYPES:
        raise UsageError(f'error: invalid service type "{a.type}": must be one of {", ".join(SERVICE_TYPES)}')
    return generators.ExposeOptions(
        name=a.service_name or "", port=a.port or "", target_port=a.target_port or "", protocol=a.protocol or "",
        service_type=a.type or "", selector=generators.parse_key_values(a.selector or ""),
        labels=generators.parse_key_values(a.labels or ""), cluster_ip=a.cluster_ip or "",
        external_ip=a.external_ip or "")


async def run_expose(ctx: Context) -> int:
    targets = parse_targets(ctx.args.targets, verb="expose")
    if len(targets) != 1 or len(targets[0][1]) != 1:
        raise UsageError("error: exactly one resource (TYPE NAME or TYPE/NAME) is required to expose")
    kind, [name] = targets[0]
    if kind.kind not in EXPOSABLE:
        raise UsageError(f"error: cannot expose a {kind.kind}")
    try:
        options = _expose_options(ctx)
        obj = await ctx.client.get(kind.message, name, namespace=ctx.namespace)
        service = generators.expose(generators.exposable(obj), options, namespace=generated_namespace(ctx))
    except generators.GeneratorError as exc:
        raise generator_error(exc) from None
    return await emit(ctx, service, verb="exposed")


def _bool_flag(text: str) -> bool:
    """A Go bool flag's value (``--attach=false``)."""
    value = text.strip().lower()
    if value in ("1", "t", "true"):
        return True
    if value in ("0", "f", "false"):
        return False
    raise argparse.ArgumentTypeError(f'invalid argument "{text}": strconv.ParseBool: parsing "{text}": invalid syntax')


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``run`` and ``expose`` to skiffctl."""
    p = sub.add_parser("run", help="run a particular image in a pod")
    p.add_argument("name", nargs="?", metavar="NAME")
    p.add_argument("--image", help="the container image")
    p.add_argument("--restart", default="Always", help="the pod's restartPolicy: Always, OnFailure or Never")
    p.add_argument("-l", "--labels", help="comma-separated labels (default run=NAME)")
    p.add_argument("--env", action="append", default=[], help="environment variable K=V; repeatable")
    p.add_argument("--port", help="the port the container exposes")
    p.add_argument("--command", dest="use_command", action="store_true",
                   help="use the words after -- as the command instead of args")
    p.add_argument("--image-pull-policy", help="the container's imagePullPolicy")
    p.add_argument("-i", "--stdin", action="store_true",
                   help="keep stdin open on the container in the pod, even if nothing is attached")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a TTY for the container in the pod")
    p.add_argument("--attach", nargs="?", const=True, default=None, type=_bool_flag,
                   help="wait for the pod to start running, then attach to it as 'skiffctl attach' would "
                        "(default: true with -i); with --restart=Never the container's exit code is returned")
    p.add_argument("--rm", action="store_true",
                   help="delete the pod after it exits (only when attaching: --attach or -i)")
    p.add_argument("--leave-stdin-open", action="store_true",
                   help="with -i, leave stdin open after the first attach completes")
    p.add_argument("-q", "--quiet", action="store_true", help="suppress prompt messages")
    p.add_argument("--pod-running-timeout", default=ATTACH_POD_TIMEOUT,
                   help="how long to wait until the pod is running (like 5s, 2m, or 3h, higher than zero)")
    p.add_argument("--annotations", action="append", default=[], metavar="KEY=VALUE",
                   help="an annotation to apply to the pod; repeatable")
    p.add_argument("--privileged", nargs="?", const=True, default=False, type=_bool_flag,
                   help="run the container in privileged mode")
    p.add_argument("--expose", nargs="?", const=True, default=False, type=_bool_flag,
                   help="also create a ClusterIP service for the pod (requires --port)")
    p.add_argument("--overrides", help="an inline JSON override for the generated pod")
    p.add_argument("--override-type", default="merge",
                   help="how --overrides applies: json, merge (the default) or strategic")
    add_generator_flags(p)
    accept_command_tail(p)
    p.set_defaults(run=run_run)

    p = sub.add_parser("expose", help="expose a deployment, replica set, service or pod as a new service")
    p.add_argument("targets", nargs="*", metavar="(TYPE NAME | TYPE/NAME)")
    p.add_argument("--port", help="the port the service serves on (default: the object's ports)")
    p.add_argument("--target-port", help="the port (number or name) traffic goes to (default: --port)")
    p.add_argument("--protocol", help="TCP, UDP or SCTP (default: the object's, else TCP)")
    p.add_argument("--type", help="ClusterIP (default), NodePort, LoadBalancer or ExternalName")
    p.add_argument("--name", dest="service_name", help="the service's name (default: the object's)")
    p.add_argument("--selector", help="label selector (k=v,...) instead of the object's")
    p.add_argument("-l", "--labels", help="labels for the service (default: the object's)")
    p.add_argument("--cluster-ip", help="the clusterIP to ask for ('None' for a headless service)")
    p.add_argument("--external-ip", help="an external IP the service also accepts traffic on")
    add_generator_flags(p)
    p.set_defaults(run=run_expose)
