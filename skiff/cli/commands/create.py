"""``create -f FILE`` and the generators (``create deployment``, ``create secret generic``, ...).

``create`` takes optional subcommands: without one it creates the objects of ``-f``; with one,
the generator in ``skiff.cli.generators`` builds the object from flags and ``emit`` sends it like
kubectl does — ``deployment.apps/web created``, ``-o yaml|json|name`` printing the created object
instead, ``--dry-run=client`` printing the generated object (with kubectl's
``creationTimestamp: null``) and storing nothing, ``--dry-run=server`` letting the server
validate and default it without storing; ``--append-hash`` (secrets and configmaps) adds kubectl's
content hash to the generated name before any of that. ``run`` and ``expose`` (commands/expose.py) share
``emit`` and the flag helpers here.

Flags kubectl marks required are checked here, not by argparse, so a missing one reads as in
kubectl: ``error: required flag(s) "image" not set``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable, Sequence

from google.protobuf.message import Message

from skiff.api import kinds
from skiff.api.manifest import dump_json, dump_yaml
from skiff.cli import generators
from skiff.cli.applying import LAST_APPLIED, last_applied_text
from skiff.cli.commands.files import add_file_flags, add_output_flags, add_save_config_flag, run_create_from_files
from skiff.cli.context import Context, UsageError
from skiff.cli.printers import resource_name, result_text

# ---- shared with run / expose ----


def add_generator_flags(p: argparse.ArgumentParser) -> None:
    """-o, --dry-run and --save-config, which every generator takes."""
    add_output_flags(p)
    add_save_config_flag(p)


def accept_command_tail(p: argparse.ArgumentParser) -> None:
    """Let ``p`` take kubectl's ``-- COMMAND [args...]`` tail, stored as ``args.command``.

    argparse matches an optional positional greedily at the first bare word (NAME), so a
    ``nargs="*"`` positional never sees the words after ``--``; this parser's
    ``parse_known_args`` therefore splits them off before parsing the rest.
    """
    original = p.parse_known_args

    def parse_known_args(args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
                         ) -> tuple[argparse.Namespace, list[str]]:
        words = list(sys.argv[1:] if args is None else args)
        tail: list[str] = []
        if "--" in words:
            cut = words.index("--")
            words, tail = words[:cut], words[cut + 1:]
        parsed, extras = original(words, namespace)
        parsed.command = tail
        return parsed, extras

    p.set_defaults(command=[])
    p.usage = "%(prog)s NAME [flags] [-- COMMAND [args...]]"
    setattr(p, "parse_known_args", parse_known_args)  # noqa: B010 - an instance override, on purpose


def require(ctx: Context, *flags: str) -> None:
    """kubectl's check of required flags, all missing ones in one line."""
    missing = [f for f in flags if not getattr(ctx.args, f.replace("-", "_"))]
    if missing:
        names = ", ".join(f'"{f}"' for f in missing)
        raise UsageError(f"error: required flag(s) {names} not set")


def one_name(ctx: Context) -> str:
    name: str | None = ctx.args.name
    if not name:
        raise UsageError("error: exactly one NAME is required, got 0")
    return name


def generated_namespace(ctx: Context) -> str:
    """kubectl writes metadata.namespace into a generated object only when -n was given."""
    return ctx.namespace if ctx.namespace_explicit else ""


def save_generated_config(obj: Message, namespace: str) -> None:
    doc = generators.kubectl_manifest(obj)
    if namespace:
        doc["metadata"]["namespace"] = namespace
    doc["metadata"].pop("creationTimestamp", None)
    doc.pop("status", None)
    obj.metadata.annotations[LAST_APPLIED] = last_applied_text(doc)  # type: ignore[attr-defined]


def _print_generated(ctx: Context, obj: Message, verb: str) -> None:
    output = ctx.args.output
    if output in ("yaml", "json"):
        doc = generators.kubectl_manifest(obj)
        ctx.print(dump_yaml(doc).rstrip("\n") if output == "yaml" else dump_json(doc))
    elif output == "name":
        ctx.print(resource_name(obj))
    else:
        ctx.print(result_text(obj, verb, dry_run="client"))


async def emit(ctx: Context, obj: Message, *, verb: str = "created") -> int:
    """Create a generated object (or print it, for --dry-run=client) and report it like kubectl:
    ``deployment.apps/web created``, ``service/web exposed (dry run)``."""
    namespace = ctx.namespace if kinds.of(obj).namespaced else ""
    if ctx.args.save_config:
        save_generated_config(obj, namespace)
    if ctx.args.dry_run == "client":
        _print_generated(ctx, obj, verb)
        return 0
    server_dry_run = ctx.args.dry_run == "server"
    created = await ctx.client.create(obj, namespace=namespace or None, dry_run=server_dry_run)
    output = ctx.args.output if ctx.args.output in ("yaml", "json", "name") else ""
    ctx.print(result_text(created, verb, output=output, dry_run=ctx.args.dry_run))
    return 0


async def create_generated(ctx: Context, obj: Message) -> Message:
    """Create a generated object as ``emit`` does (``--save-config`` included) and print nothing:
    ``run --attach`` reports the session instead."""
    namespace = ctx.namespace if kinds.of(obj).namespaced else ""
    if ctx.args.save_config:
        save_generated_config(obj, namespace)
    return await ctx.client.create(obj, namespace=namespace or None)


def generator_error(exc: generators.GeneratorError) -> UsageError:
    return UsageError(f"error: {exc}")


def _runner(build: Callable[[Context], Message]) -> Callable[[Context], Awaitable[int]]:
    async def run(ctx: Context) -> int:
        try:
            obj = build(ctx)
        except generators.GeneratorError as exc:
            raise generator_error(exc) from None
        if ctx.args.append_hash:
            generators.append_hash(obj)
        return await emit(ctx, obj)
    return run


def _parser(sub: argparse._SubParsersAction, name: str, help_text: str,  # type: ignore[type-arg]
            *, aliases: tuple[str, ...] = (), command: bool = False,
            append_hash: bool = False) -> argparse.ArgumentParser:
    """A generator's parser: NAME, the shared flags, and ``--append-hash`` where kubectl has it."""
    p: argparse.ArgumentParser = sub.add_parser(name, aliases=list(aliases), help=help_text)
    p.add_argument("name", nargs="?", metavar="NAME")
    if command:
        accept_command_tail(p)
    add_generator_flags(p)
    if append_hash:
        p.add_argument("--append-hash", action="store_true", help="append a hash of the object to its name")
    else:
        p.set_defaults(append_hash=False)
    return p


# ---- the generators ----


def _deployment(ctx: Context) -> Message:
    name = one_name(ctx)
    require(ctx, "image")
    a = ctx.args
    return generators.deployment(name, images=a.image, replicas=a.replicas, port=a.port, command=a.command,
                                 namespace=generated_namespace(ctx))


def _namespace(ctx: Context) -> Message:
    return generators.namespace(one_name(ctx))


def _job_from_image(ctx: Context) -> Message:
    a = ctx.args
    return generators.job(one_name(ctx), image=a.image, command=a.command, namespace=generated_namespace(ctx))


async def _run_job(ctx: Context) -> int:
    a = ctx.args
    name = one_name(ctx)
    if bool(a.image) == bool(a.from_):
        raise UsageError("error: either --image or --from must be specified")
    if a.from_ and a.command:
        raise UsageError("error: cannot specify --from and command")
    if a.image:
        return await _runner(_job_from_image)(ctx)
    type_name, _, source = a.from_.partition("/")
    try:
        kind: kinds.Kind | None = kinds.lookup(type_name)
    except kinds.UnknownKind:
        kind = None
    if kind is None or kind.kind != "CronJob" or not source:
        raise UsageError(f"error: from must be an existing cronjob: {a.from_}")
    cj = await ctx.client.get(kind.message, source, namespace=ctx.namespace)
    job = generators.job_from_cronjob(name, cj, namespace=generated_namespace(ctx))  # type: ignore[arg-type]
    return await emit(ctx, job)


def _cronjob(ctx: Context) -> Message:
    name = one_name(ctx)
    require(ctx, "image", "schedule")
    a = ctx.args
    return generators.cronjob(name, image=a.image, schedule=a.schedule, restart=a.restart or "OnFailure",
                              command=a.command, namespace=generated_namespace(ctx))


def _sources(ctx: Context) -> generators.DataSources:
    a = ctx.args
    return generators.DataSources(literals=a.from_literal, files=a.from_file, env_files=a.from_env_file)


def _secret_generic(ctx: Context) -> Message:
    return generators.secret_generic(one_name(ctx), sources=_sources(ctx), secret_type=ctx.args.type or "",
                                     namespace=generated_namespace(ctx))


def _secret_docker_registry(ctx: Context) -> Message:
    name = one_name(ctx)
    a = ctx.args
    if not (a.docker_username and a.docker_password and a.docker_server):
        raise UsageError("error: either --from-file or the combination of --docker-username, --docker-password "
                         "and --docker-server is required")
    return generators.secret_docker_registry(name, server=a.docker_server, username=a.docker_username,
                                             password=a.docker_password, email=a.docker_email or "",
                                             namespace=generated_namespace(ctx))


def _secret_tls(ctx: Context) -> Message:
    name = one_name(ctx)
    a = ctx.args
    if not (a.cert and a.key):
        raise UsageError("error: key and cert must be specified")
    return generators.secret_tls(name, cert_path=a.cert, key_path=a.key, namespace=generated_namespace(ctx))


def _configmap(ctx: Context) -> Message:
    return generators.configmap(one_name(ctx), sources=_sources(ctx), namespace=generated_namespace(ctx))


def _service(service_type: str) -> Callable[[Context], Message]:
    def build(ctx: Context) -> Message:
        name = one_name(ctx)
        a = ctx.args
        if service_type == "ExternalName":
            require(ctx, "external-name")
        return generators.service(name, service_type=service_type, tcp=a.tcp, cluster_ip=a.clusterip or "",
                                  node_port=a.node_port or 0, external_name=a.external_name or "",
                                  namespace=generated_namespace(ctx))
    return build


# ---- parsers ----


def _add_data_source_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from-literal", action="append", default=[], metavar="KEY=VALUE",
                   help="a key and literal value")
    p.add_argument("--from-file", action="append", default=[], metavar="[KEY=]PATH",
                   help="a file (key: its base name, or KEY) or a directory (one key per file)")
    p.add_argument("--from-env-file", action="append", default=[], metavar="PATH",
                   help="a file of KEY=VALUE lines")


def _register_services(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("service", aliases=["svc"], help="create a service using a specified subcommand")
    kinds_sub = p.add_subparsers(dest="service_type", metavar="TYPE", parser_class=type(p))
    for key, service_type in generators.SERVICE_TYPES.items():
        sp = _parser(kinds_sub, key, f"create a {service_type} service")
        tcp_help = "PORT[:TARGET_PORT]; repeatable"
        sp.add_argument("--tcp", action="append", default=[], metavar="PORT[:TARGET]", help=tcp_help)
        sp.set_defaults(clusterip=None, node_port=None, external_name=None)
        if key == "clusterip":
            sp.add_argument("--clusterip", help="the clusterIP to ask for ('None' for a headless service)")
        if key == "nodeport":
            sp.add_argument("--node-port", type=int, help="the nodePort of every port")
        if key == "externalname":
            sp.add_argument("--external-name", help="the DNS name the service points to")
        sp.set_defaults(run=_runner(_service(service_type)))
    p.set_defaults(run=_needs_subcommand("service", "clusterip, externalname, loadbalancer, nodeport"))


def _register_secrets(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("secret", help="create a secret using a specified subcommand")
    kinds_sub = p.add_subparsers(dest="secret_type", metavar="TYPE", parser_class=type(p))
    sp = _parser(kinds_sub, "generic", "create a secret from files, directories or literal values",
                 append_hash=True)
    _add_data_source_flags(sp)
    sp.add_argument("--type", help="the secret's type (e.g. kubernetes.io/basic-auth)")
    sp.set_defaults(run=_runner(_secret_generic))
    sp = _parser(kinds_sub, "docker-registry", "create a secret for use with a Docker registry", append_hash=True)
    sp.add_argument("--docker-server", default=generators.DEFAULT_DOCKER_SERVER)
    sp.add_argument("--docker-username")
    sp.add_argument("--docker-password")
    sp.add_argument("--docker-email")
    sp.set_defaults(run=_runner(_secret_docker_registry))
    sp = _parser(kinds_sub, "tls", "create a TLS secret from a PEM certificate and its private key", append_hash=True)
    sp.usage = "%(prog)s NAME --cert=path/to/cert/file --key=path/to/key/file [--dry-run=server|client|none]"
    sp.add_argument("--cert", default="", help="path to the PEM encoded public key certificate")
    sp.add_argument("--key", default="", help="path to the private key of that certificate")
    sp.set_defaults(run=_runner(_secret_tls))
    p.set_defaults(run=_needs_subcommand("secret", "docker-registry, generic, tls"))


def _needs_subcommand(verb: str, choices: str) -> Callable[[Context], Awaitable[int]]:
    async def run(ctx: Context) -> int:
        raise UsageError(f"error: 'create {verb}' needs a subcommand: {choices}\n"
                         f"See 'skiffctl create {verb} -h' for help and examples")
    return run


def _register_generators(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = _parser(sub, "deployment", "create a deployment with the specified name", aliases=("deploy",), command=True)
    p.add_argument("--image", action="append", default=[], help="image to run (repeat for several containers)")
    p.add_argument("--replicas", type=int, default=1, help="number of replicas")
    p.add_argument("--port", type=int, default=-1, help="the containerPort of the first container")
    p.set_defaults(run=_runner(_deployment))

    p = _parser(sub, "namespace", "create a namespace with the specified name", aliases=("ns",))
    p.set_defaults(run=_runner(_namespace))

    p = _parser(sub, "job", "create a job with the specified name", command=True)
    p.add_argument("--image", help="image to run")
    p.add_argument("--from", dest="from_", metavar="cronjob/NAME", help="create the job from a cronjob")
    p.set_defaults(run=_run_job)

    p = _parser(sub, "cronjob", "create a cronjob with the specified name", aliases=("cj",), command=True)
    p.add_argument("--image", help="image to run")
    p.add_argument("--schedule", help="a cron schedule ('*/5 * * * *')")
    p.add_argument("--restart", help="the job's restart policy: OnFailure (default) or Never")
    p.set_defaults(run=_runner(_cronjob))

    p = _parser(sub, "configmap", "create a configmap from a local file, directory or literal value",
                aliases=("cm",), append_hash=True)
    _add_data_source_flags(p)
    p.set_defaults(run=_runner(_configmap))

    _register_services(sub)
    _register_secrets(sub)


async def run_create(ctx: Context) -> int:
    if not ctx.args.filename:
        raise UsageError("error: must specify one of -f and -k, or a generator such as 'create deployment'")
    return await run_create_from_files(ctx)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("create", help="create objects from files or from a generator")
    add_file_flags(p, required=False)
    add_output_flags(p)
    add_save_config_flag(p)
    p.set_defaults(run=run_create)
    generators_sub = p.add_subparsers(dest="generator", metavar="GENERATOR", parser_class=type(p))
    _register_generators(generators_sub)

