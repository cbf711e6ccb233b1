"""Information and config verbs: ``api-resources``, ``api-versions``, ``version``, ``explain``,
``cluster-info`` and ``config`` (``view``, ``current-context``, ``get-contexts``, ``use-context``,
``set-context``).

The first three ask the server (its Discovery RPC) and print what kubectl prints: the same
columns, the same ``Client Version: ...`` / ``Server Version: ...`` lines. ``api-resources``
filters as kubectl's: ``--verbs`` keeps the resources whose discovery verbs (the ``-o wide``
column) include every named one, ``--categories`` those in every named category (the kinds
registry's, which discovery does not carry); ``--cached`` is accepted and changes nothing, as
skiffctl keeps no discovery cache. ``explain`` needs no
server: the typed messages are the schema, so field names (their JSON names) and types come from
the protobuf descriptors of the kind's message. ``config`` edits the small kubeconfig-shaped file
``skiff up`` writes (``skiff.client.config``) and answers in kubectl's words — ``Context "skiff"
modified.``, ``Switched to context "x".`` — so that, as with kubectl, ``config set-context
--current --namespace=x`` makes ``x`` the namespace of every later command.

``cluster-info`` is kubectl's (pkg/cmd/clusterinfo/clusterinfo.go) with skiff's addresses: the
control plane is the apiserver's gRPC address (what ``--server`` takes), not an HTTPS URL, and a
Service labelled ``kubernetes.io/cluster-service=true`` (in kube-system, or ``-n``) is shown at its
load balancer as kubectl shows it (``http://IP:PORT `` per port) or else at its cluster IP and
first port — kubectl's other form is a URL of the apiserver's HTTP service proxy, which skiff does
not have. The closing hint names skiffctl verbs that exist (there is no ``cluster-info dump``).
As in kubectl the hint is printed even when the server does not answer, before the error; names
are green and addresses yellow as kubectl colours them, but only on a terminal.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

import yaml
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from skiff.api import errors, kinds
from skiff.api.v1 import core_pb2, resources_pb2
from skiff.cli.context import Context, UsageError
from skiff.cli.printers import table
from skiff.client import config as cfg

Runner = Callable[[Context], Any]


# ---- api-resources / api-versions ----

def _api_version(resource: resources_pb2.APIResource) -> str:
    return f"{resource.group}/{resource.version}" if resource.group else resource.version


def _discovery_order(resources: Sequence[resources_pb2.APIResource]) -> list[resources_pb2.APIResource]:
    """The core group first, then the other groups as the server lists them; names sorted in a group."""
    groups: dict[str, int] = {"": -1}
    for r in resources:
        groups.setdefault(r.group, len(groups))
    return sorted(resources, key=lambda r: (groups[r.group], r.name))


def _bool_flag(text: str) -> bool:
    if text.lower() in ("true", "1", "t"):
        return True
    if text.lower() in ("false", "0", "f"):
        return False
    raise argparse.ArgumentTypeError(f'invalid argument "{text}": strconv.ParseBool: parsing "{text}": invalid syntax')


def _list_flag(values: Sequence[str]) -> set[str]:
    """A kubectl string-slice flag (``--verbs=list,get --verbs watch``) as the set of its values."""
    return {v.strip() for value in values for v in value.split(",") if v.strip()}


def _categories(resource: resources_pb2.APIResource) -> tuple[str, ...]:
    """The categories of a served resource (``all``). Discovery does not carry them, so they come
    from the kinds registry the apiserver serves from; a resource it does not know has none."""
    try:
        kind = kinds.by_resource(resource.name)
    except kinds.UnknownKind:
        return ()
    return kind.categories if kind.group == resource.group else ()


async def run_api_resources(ctx: Context) -> int:
    args = ctx.args
    if args.output not in ("", "wide", "name"):
        raise UsageError(f'error: --output {args.output} is not available')
    # --cached is accepted and changes nothing: skiffctl keeps no discovery cache, every run asks.
    verbs, categories = _list_flag(args.verbs), _list_flag(args.categories)
    found = (await ctx.client.discovery()).resources
    chosen = [r for r in _discovery_order(found)
              if (args.namespaced is None or r.namespaced == args.namespaced)
              and (args.api_group is None or r.group == args.api_group)
              and verbs <= set(r.verbs)  # the verbs the server says it serves, as -o wide shows them
              and categories <= set(_categories(r))]
    if args.sort_by:
        chosen.sort(key=lambda r: r.kind if args.sort_by == "kind" else r.name)
    if args.output == "name":
        if chosen:
            ctx.print("\n".join(f"{r.name}.{r.group}" if r.group else r.name for r in chosen))
        return 0
    headers = ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    rows = [[r.name, ",".join(r.short_names), _api_version(r), str(r.namespaced).lower(), r.kind] for r in chosen]
    if args.output == "wide":
        headers.append("VERBS")
        for row, r in zip(rows, chosen, strict=True):
            row.append(f"[{' '.join(r.verbs)}]")
    text = table(headers, rows)
    if args.no_headers:
        text = text.split("\n", 1)[1] if rows else ""
    if text:
        ctx.print(text)
    return 0


async def run_api_versions(ctx: Context) -> int:
    found = (await ctx.client.discovery()).resources
    ctx.print("\n".join(sorted({_api_version(r) for r in found})))
    return 0


# ---- version ----

def client_version() -> str:
    try:
        return "v" + metadata.version("skiff")
    except metadata.PackageNotFoundError:
        return "v0.0.0-unknown"


async def run_version(ctx: Context) -> int:
    args = ctx.args
    versions: dict[str, Any] = {"clientVersion": {"gitVersion": client_version()}}
    if args.output == "":
        ctx.print(f"Client Version: {client_version()}")
    if not args.client:
        server = (await ctx.client.discovery()).server_version
        versions["serverVersion"] = {"gitVersion": server}
        if args.output == "":
            ctx.print(f"Server Version: {server}")
    if args.output == "json":
        ctx.print(json.dumps(versions, indent=2))
    elif args.output == "yaml":
        ctx.print(yaml.safe_dump(versions, sort_keys=False).rstrip())
    elif args.output:
        raise UsageError("error: --output must be 'yaml' or 'json'")
    return 0


# ---- explain ----

_SCALARS = {
    FieldDescriptor.TYPE_STRING: "string", FieldDescriptor.TYPE_BYTES: "string",
    FieldDescriptor.TYPE_BOOL: "boolean", FieldDescriptor.TYPE_DOUBLE: "number", FieldDescriptor.TYPE_FLOAT: "number",
    FieldDescriptor.TYPE_ENUM: "string",
}


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def type_name(field: FieldDescriptor) -> str:
    """kubectl explain's type for a field: ``string``, ``integer``, ``[]Container``, ``map[string]string``."""
    if _is_map(field):
        entry: Any = field.message_type
        key, value = entry.fields_by_name["key"], entry.fields_by_name["value"]
        return f"map[{type_name(key)}]{type_name(value)}"
    base = field.message_type.name if field.message_type is not None else _SCALARS.get(field.type, "integer")
    return f"[]{base}" if field.is_repeated else base


def _child(descriptor: Descriptor, name: str) -> FieldDescriptor:
    for field in descriptor.fields:
        if name in (field.json_name, field.name):
            return field
    raise UsageError(f'error: field "{name}" does not exist')


def _split_explain_path(path: str) -> tuple[kinds.Kind, list[str]]:
    """``deploy.spec.template`` → (Deployment, [spec, template]); the longest known type prefix wins."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            return kinds.lookup(".".join(parts[:i])), parts[i:]
        except kinds.UnknownKind:
            continue
    raise UsageError(f'error: the server doesn\'t have a resource type "{parts[0]}"')


def _field_lines(descriptor: Descriptor, *, recursive: bool, indent: int = 2, depth: int = 0) -> Iterator[str]:
    for field in sorted(descriptor.fields, key=lambda f: f.json_name):
        yield f"{' ' * indent}{field.json_name}\t<{type_name(field)}>"
        nested = field.message_type
        if recursive and nested is not None and not _is_map(field) and depth < 15:
            yield from _field_lines(nested, recursive=True, indent=indent + 2, depth=depth + 1)


def explain(path: str, *, recursive: bool = False) -> str:
    """kubectl explain's plain-text answer for ``TYPE[.field.path]``."""
    kind, names = _split_explain_path(path)
    lines = [f"KIND:       {kind.kind}"]
    if kind.group:
        lines.append(f"GROUP:      {kind.group}")
    lines += [f"VERSION:    {kind.version}", ""]
    descriptor: Any = kind.message.DESCRIPTOR
    field: FieldDescriptor | None = None
    for name in names:
        if field is not None and (field.message_type is None or _is_map(field)):
            raise UsageError(f'error: field "{name}" does not exist')
        field = _child(descriptor, name)
        if field.message_type is not None and not _is_map(field):
            descriptor = field.message_type
    if field is not None:
        lines += [f"FIELD: {field.json_name} <{type_name(field)}>"]
        if field.message_type is None or _is_map(field):
            return "\n".join(lines)
        lines.append("")
    lines.append("FIELDS:")
    lines.extend(_field_lines(descriptor, recursive=recursive))
    return "\n".join(lines)


async def run_explain(ctx: Context) -> int:
    ctx.print(explain(ctx.args.path, recursive=ctx.args.recursive))
    return 0


# ---- cluster-info ----

CONTROL_PLANE = "Skiff control plane"
CLUSTER_SERVICE_SELECTOR = "kubernetes.io/cluster-service=true"
DEBUG_HINT = "To further debug and diagnose cluster problems, use 'skiffctl get nodes' and 'skiffctl events -A'."
_GREEN, _YELLOW, _RESET = "\x1b[0;32m", "\x1b[0;33m", "\x1b[0m"
"""go-colortext's ANSI sequences, which kubectl's cluster-info uses."""


def use_colour(stream: TextIO) -> bool:
    """Colours on a terminal only (and, as go-colortext, never when TERM=dumb)."""
    return stream.isatty() and os.environ.get("TERM") != "dumb"


def running_at(name: str, address: str, *, colour: bool = False) -> str:
    """clusterinfo.go's printService line: ``NAME is running at ADDRESS``."""
    if colour:
        return f"{_GREEN}{name}{_RESET} is running at {_YELLOW}{address}{_RESET}"
    return f"{name} is running at {address}"


def service_address(svc: core_pb2.Service) -> str:
    """Where a cluster service runs: kubectl's load balancer links, else its cluster IP and port."""
    if svc.status.load_balancer.ingress:
        ingress = svc.status.load_balancer.ingress[0]
        host = ingress.ip or ingress.hostname
        return "".join(f"http://{host}:{port.port} " for port in svc.spec.ports)
    ip = svc.spec.cluster_ip
    if not ip or ip == "None":
        return f"{svc.metadata.name}.{svc.metadata.namespace}.svc"
    return f"{ip}:{svc.spec.ports[0].port}" if svc.spec.ports else ip


def cluster_info_lines(server: str, services: Sequence[core_pb2.Service], *, colour: bool = False) -> list[str]:
    """The control plane line, then one per cluster service (named by its kubernetes.io/name label)."""
    lines = [running_at(CONTROL_PLANE, server, colour=colour)]
    for svc in services:
        name = svc.metadata.labels.get("kubernetes.io/name") or svc.metadata.name
        lines.append(running_at(name, service_address(svc), colour=colour))
    return lines


async def run_cluster_info(ctx: Context) -> int:
    namespace = ctx.namespace if ctx.namespace_explicit else "kube-system"
    try:
        services = await ctx.client.list(core_pb2.Service, namespace=namespace,
                                         label_selector=CLUSTER_SERVICE_SELECTOR)
    except errors.StatusError:
        ctx.print(f"\n{DEBUG_HINT}")
        raise
    ctx.print("\n".join(cluster_info_lines(ctx.server, services.items, colour=use_colour(ctx.out))))
    ctx.print(f"\n{DEBUG_HINT}")
    return 0


# ---- config ----

def _config_file(ctx: Context) -> Path:
    return cfg.config_path(ctx.args.config)


def _load(ctx: Context) -> cfg.Config:
    try:
        return cfg.load_config(_config_file(ctx))
    except cfg.ConfigError as exc:
        raise UsageError(f"error: {exc}") from None


async def run_config_view(ctx: Context) -> int:
    config = _load(ctx)
    data = config.to_dict()
    if ctx.args.minify:
        if config.current is None:
            raise UsageError("error: current-context must exist in order to minify")
        data["contexts"] = [c for c in data["contexts"] if c["name"] == config.current_context]
    if not data["contexts"]:
        data["contexts"] = None
    if ctx.args.output == "json":
        ctx.print(json.dumps(data, indent=4))
    else:
        ctx.print(yaml.safe_dump(data, sort_keys=True).rstrip())
    return 0


async def run_current_context(ctx: Context) -> int:
    config = _load(ctx)
    if not config.current_context:
        raise UsageError("error: current-context is not set")
    ctx.print(config.current_context)
    return 0


async def run_get_contexts(ctx: Context) -> int:
    config = _load(ctx)
    names = list(ctx.args.names) or sorted(config.contexts)
    missing = [n for n in names if n not in config.contexts]
    if missing:
        raise UsageError(f"error: context {missing[0]} not found")
    if ctx.args.output == "name":
        ctx.print("\n".join(names))
        return 0
    rows = [["*" if n == config.current_context else "", n, config.contexts[n].server, config.contexts[n].namespace]
            for n in names]
    text = table(["CURRENT", "NAME", "SERVER", "NAMESPACE"], rows)
    ctx.print(text.split("\n", 1)[1] if ctx.args.no_headers and rows else "" if ctx.args.no_headers else text)
    return 0


async def run_use_context(ctx: Context) -> int:
    config = _load(ctx)
    name = ctx.args.name
    if name not in config.contexts:
        raise UsageError(f'error: no context exists with the name: "{name}"')
    config.current_context = name
    cfg.save_config(config, _config_file(ctx))
    ctx.print(f'Switched to context "{name}".')
    return 0


async def run_set_context(ctx: Context) -> int:
    args = ctx.args
    config = _load(ctx)
    if args.current and args.name:
        raise UsageError("error: you cannot specify both a context name and --current")
    if args.current:
        if not config.current_context:
            raise UsageError("error: no current context is set")
        name = config.current_context
    elif args.name:
        name = args.name
    else:
        raise UsageError("error: you must specify a non-empty context name or --current")
    existing = config.contexts.get(name)
    context = existing or cfg.Context(name, cfg.DEFAULT_SERVER)
    if args.namespace is not None:
        context.namespace = args.namespace or "default"
    if args.server is not None:
        context.server = args.server
    config.contexts[name] = context
    cfg.save_config(config, _config_file(ctx))
    ctx.print(f'Context "{name}" {"modified" if existing else "created"}.')
    return 0


def _help(parser: argparse.ArgumentParser) -> Runner:
    async def run(ctx: Context) -> int:
        ctx.print(parser.format_help().rstrip())
        return 0
    return run


def _register_config(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    config = sub.add_parser("config", help="view and edit the config file (contexts, current namespace)")
    config.set_defaults(run=_help(config))
    verbs = config.add_subparsers(dest="config_command", metavar="SUBCOMMAND")

    p = verbs.add_parser("view", help="show the config file")
    p.add_argument("--minify", action="store_true", help="only the current context")
    p.add_argument("-o", "--output", default="yaml", choices=("yaml", "json"))
    p.set_defaults(run=run_config_view)

    p = verbs.add_parser("current-context", help="show the current context's name")
    p.set_defaults(run=run_current_context)

    p = verbs.add_parser("get-contexts", help="list the contexts")
    p.add_argument("names", nargs="*")
    p.add_argument("-o", "--output", default="", choices=("", "name"))
    p.add_argument("--no-headers", action="store_true")
    p.set_defaults(run=run_get_contexts)

    p = verbs.add_parser("use-context", help="make a context the current one")
    p.add_argument("name")
    p.set_defaults(run=run_use_context)

    p = verbs.add_parser("set-context", help="create or change a context (--namespace, --server)",
                         usage="skiffctl config set-context [NAME | --current] [--namespace=NS] [--server=HOST:PORT]")
    p.add_argument("name", nargs="?", default="")
    p.add_argument("--current", action="store_true", help="change the current context")
    # --namespace and --server are the global flags every command takes; here they are the values to set.
    p.set_defaults(run=run_set_context)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this module's verbs to skiffctl."""
    p = sub.add_parser("api-resources", help="print the resource types the server serves")
    p.add_argument("-o", "--output", default="", help="wide | name")
    p.add_argument("--namespaced", type=_bool_flag, default=None, help="true: namespaced only; false: cluster-wide")
    p.add_argument("--api-group", default=None, help="only this API group ('' for core)")
    p.add_argument("--sort-by", default="", choices=("", "name", "kind"))
    p.add_argument("--no-headers", action="store_true")
    p.add_argument("--verbs", action="append", default=[],
                   help="only the resources that support all these verbs (list,get; or the flag again)")
    p.add_argument("--categories", action="append", default=[],
                   help="only the resources in all these categories (all)")
    p.add_argument("--cached", type=_bool_flag, default=False, nargs="?", const=True,
                   help="accepted for kubectl's sake: skiffctl keeps no discovery cache, so it changes nothing")
    p.set_defaults(run=run_api_resources)

    p = sub.add_parser("api-versions", help="print the API versions the server serves, as group/version")
    p.set_defaults(run=run_api_versions)

    p = sub.add_parser("version", help="print the client and server versions")
    p.add_argument("--client", action="store_true", help="the client version only (no server needed)")
    p.add_argument("-o", "--output", default="", help="yaml | json")
    p.set_defaults(run=run_version)

    p = sub.add_parser("cluster-info", help="print the address of the control plane and of cluster services")
    p.set_defaults(run=run_cluster_info)

    p = sub.add_parser("explain", help="the fields of a resource type (TYPE[.field.path])")
    p.add_argument("path", metavar="TYPE[.FIELD...]")
    p.add_argument("--recursive", action="store_true", help="every nested field, indented")
    p.set_defaults(run=run_explain)

    _register_config(sub)
