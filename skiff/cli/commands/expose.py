"""``run`` (a bare Pod from an image) and ``expose`` (a Service for an existing object).

``run NAME --image=IMG [--restart=Never] [--labels=...] [--env=K=V] [--port=P] [--command] [--
ARGS...]`` is kubectl's pod generator: labels default to ``run=NAME``, the words after ``--`` are
the container's args (its command with ``--command``).

``expose TYPE NAME`` / ``expose TYPE/NAME`` reads the object from the server, as kubectl does, and
takes what the flags leave open from it: the selector (a Deployment's or ReplicaSet's
matchLabels, a Service's selector, a Pod's labels), the ports (every container port, or the
Service's ports) and the labels. Both print and dry-run through ``create.emit``.
"""

from __future__ import annotations

import argparse

from google.protobuf.message import Message

from skiff.cli import generators
from skiff.cli.commands.create import (
    accept_command_tail,
    add_generator_flags,
    emit,
    generated_namespace,
    generator_error,
    one_name,
    require,
)
from skiff.cli.context import Context, UsageError
from skiff.cli.resources import parse_targets

RESTART_POLICIES = ("Always", "OnFailure", "Never")
EXPOSABLE = ("Deployment", "ReplicaSet", "Service", "Pod")
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")


def _pod(ctx: Context) -> Message:
    a = ctx.args
    name = one_name(ctx)
    require(ctx, "image")
    if a.restart not in RESTART_POLICIES:
        raise UsageError(f"error: invalid restart policy: {a.restart}")
    options = generators.RunOptions(
        restart=a.restart,
        labels=generators.parse_key_values(a.labels or ""),
        env=generators.parse_env(a.env),
        port=a.port,
        args=a.command,
        use_command=a.use_command,
        image_pull_policy=a.image_pull_policy or "",
    )
    return generators.pod(name, image=a.image, options=options, namespace=generated_namespace(ctx))


async def run_run(ctx: Context) -> int:
    if ctx.args.use_command and not ctx.args.command:
        raise UsageError("error: --command was specified without a command (after --)")
    try:
        obj = _pod(ctx)
    except generators.GeneratorError as exc:
        raise generator_error(exc) from None
    return await emit(ctx, obj)


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


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``run`` and ``expose`` to skiffctl."""
    p = sub.add_parser("run", help="run a particular image in a pod")
    p.add_argument("name", nargs="?", metavar="NAME")
    p.add_argument("--image", help="the container image")
    p.add_argument("--restart", default="Always", help="the pod's restartPolicy: Always, OnFailure or Never")
    p.add_argument("-l", "--labels", help="comma-separated labels (default run=NAME)")
    p.add_argument("--env", action="append", default=[], help="environment variable K=V; repeatable")
    p.add_argument("--port", type=int, help="the port the container exposes")
    p.add_argument("--command", dest="use_command", action="store_true",
                   help="use the words after -- as the command instead of args")
    p.add_argument("--image-pull-policy", help="the container's imagePullPolicy")
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
