"""``scale`` and the ``set`` verbs: ``set image``, ``env``, ``resources``, ``selector``, ``serviceaccount``.

- scale goes through the scale subresource (``client.scale``), as kubectl does: only kinds with
  one (Deployment, ReplicaSet, StatefulSet); ``--current-replicas`` is a precondition read from
  the same subresource and its resourceVersion guards the write (``Expected replicas to be 3, was
  2``); each object prints ``deployment.apps/web scaled``.
- the set verbs follow kubectl's set_*.go and change objects with the shared read-modify-write
  loop (``mutate``). image, env, resources and serviceaccount change the pod template of any kind
  that has one (Pod, Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob); another kind
  fails as in kubectl (``services/web the object is not a pod or does not have a pod template:
  *v1.Service``).
- set image takes ``CONTAINER=IMAGE`` (``*`` = every container); set env follows set_env.go:
  ``-e KEY=VALUE`` (``-e -`` reads stdin) then ``KEY=VALUE`` / ``KEY-`` pairs, ``--from=secret/NAME``
  or ``configmap/NAME`` (each key a ``valueFrom`` variable, named as kubectl names it, ``--keys``,
  ``--prefix``), ``--overwrite=false``, ``--list`` (``--resolve`` reads the references), ``--local``
  on -f objects; it picks containers then init containers with kubectl's ``-c`` matcher and only
  warns when none matches. set resources ``--limits`` / ``--requests=cpu=200m,memory=512Mi``,
  each quantity checked (apimachinery's parse error) and written in canonical form; it picks
  containers, init containers included, with the ``-c`` glob. Each changed object
  prints ``deployment.apps/web image updated`` / ``env updated`` / ``resource requirements
  updated``; an unchanged one prints nothing, as in kubectl.
- set serviceaccount (``sa``) sets the template's ``serviceAccountName`` and, like kubectl,
  prints ``deployment.apps/web serviceaccount updated`` whether or not it changed.
- set selector replaces a Service's ``spec.selector`` with the last argument (label-selector
  syntax, equality terms only) and prints ``service/web selector updated``; kubectl refuses every
  other kind (``setting a selector is only supported for Services``), so no Deployment selector
  (immutable in apps/v1) is ever sent. ``--resource-version`` makes the write conditional.
- set subject is listed as in kubectl but says that skiff has no RBAC kinds to change.

A write the server refuses reads as kubectl's ``failed to patch ...`` error for env, resources and
serviceaccount; ``-o yaml|json|name`` prints the objects instead of the lines, and
``--dry-run=client|server`` adds `` (dry run)`` / `` (server dry run)``.
"""

from __future__ import annotations

import argparse
import fnmatch
import re
import sys
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from skiff.api import errors, kinds
from skiff.api.labels import Operator, Requirement, SelectorError, parse_selector
from skiff.api.quantity import QuantityError, parse_quantity
from skiff.api.v1 import core_pb2
from skiff.api.validation import go_quote, is_env_var_name
from skiff.cli.commands.files import add_file_flags
from skiff.cli.commands.label import (
    Change,
    VerbError,
    add_dry_run,
    allow_intermixed,
    mutate,
    report,
    resolve,
    split_pairs,
)
from skiff.cli.context import Context, UsageError
from skiff.cli.printers import dry_suffix, result_text
from skiff.cli.resources import Target, load_files, singular_name

# ---- scale ----


async def scale_one(ctx: Context, target: Target) -> None:
    args = ctx.args
    if not target.kind.scalable:
        raise VerbError(f'no scaler has been implemented for {{"{target.kind.group}" "{target.kind.kind}"}}')
    resource_version = args.resource_version
    if args.current_replicas >= 0:
        current = await ctx.client.get_scale(target.kind.message, target.name, namespace=target.namespace)
        if current.spec.replicas != args.current_replicas:
            raise VerbError(f"Expected replicas to be {args.current_replicas}, was {current.spec.replicas}")
        resource_version = resource_version or current.metadata.resource_version
    if args.dry_run == "client":
        await ctx.client.get(target.kind.message, target.name, namespace=target.namespace)
    else:
        await ctx.client.scale(target.kind.message, target.name, args.replicas, namespace=target.namespace,
                               resource_version=resource_version)
    ctx.print(f"{singular_name(target.kind)}/{target.name} scaled{dry_suffix(args.dry_run)}")


async def run_scale(ctx: Context) -> int:
    args = ctx.args
    if args.replicas is None:
        raise UsageError('error: required flag(s) "replicas" not set')
    if args.replicas < 0:
        raise UsageError("error: The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0")
    targets = await resolve(ctx, args.targets, verb="scale", selector=args.selector, select_all=args.all,
                            filenames=args.filename, recursive=args.recursive)
    if args.resource_version and len(targets) != 1:
        raise UsageError("error: cannot use --resource-version with multiple resources")
    return await report(ctx, targets, lambda t: scale_one(ctx, t))


# ---- the pod template of any kind ----

def pod_spec_of(obj: Any) -> Any:
    """The pod spec a kind runs: the pod's own, a template's, or a CronJob's job template's."""
    kind = kinds.of(obj)
    if kind.kind == "Pod":
        return obj.spec
    if kind.kind == "CronJob":
        return obj.spec.job_template.spec.template.spec
    if kind.kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job"):
        return obj.spec.template.spec
    raise VerbError(f"{kind.resource}/{obj.metadata.name} the object is not a pod or does not have a pod "
                    f"template: *{kind.version}.{kind.kind}")


def all_containers(spec: Any) -> list[Any]:
    return [*spec.init_containers, *spec.containers]


def select_containers(spec: Any, pattern: str) -> list[Any]:
    """kubectl's selectContainers: the containers (init ones too) whose name matches the ``-c`` glob."""
    chosen = [c for c in all_containers(spec) if fnmatch.fnmatchcase(c.name, pattern)]
    if not chosen:
        raise VerbError(f"unable to find container named {pattern}")
    return chosen


def emit(ctx: Context, obj: Any, action: str) -> None:
    """kubectl's PrintFlags: ``-o`` prints the object, otherwise ``<kind>/<name> <action>``."""
    ctx.print(result_text(obj, action, output=ctx.args.output, dry_run=ctx.args.dry_run))


async def mutate_or_fail(ctx: Context, target: Target, change: Change, failure: str) -> tuple[Message, bool]:
    """``mutate``, with a write the server refuses reading as kubectl's ``<failure> <server message>``
    (kubectl wraps the patch's error so; a missing object stays ``Error from server (NotFound)``)."""
    try:
        return await mutate(ctx, target, change, dry_run=ctx.args.dry_run)
    except errors.NotFound:
        raise
    except errors.StatusError as exc:
        raise VerbError(f"{failure} {exc}") from None


# ---- set image ----

def set_images(obj: Any, images: dict[str, str]) -> bool:
    spec = pod_spec_of(obj)
    changed = False
    for name, image in images.items():
        found = False
        for c in all_containers(spec):
            if c.name == name or name == "*":
                found = True
                if c.image != image:
                    c.image = image
                    changed = True
        if not found:
            raise VerbError(f'unable to find container named "{name}"')
    return changed


async def run_set_image(ctx: Context) -> int:
    args = ctx.args
    resources, pairs = split_pairs(args.args, "image", is_pair=lambda a: "=" in a)
    if not pairs:
        raise UsageError("error: at least one image update is required")
    images = dict(p.split("=", 1) for p in pairs)
    targets = await resolve(ctx, resources, verb="set image", selector=args.selector, select_all=args.all,
                            filenames=args.filename, recursive=args.recursive)

    async def one(target: Target) -> None:
        obj, changed = await mutate(ctx, target, lambda o: set_images(o, images), dry_run=args.dry_run)
        if changed:
            emit(ctx, obj, "image updated")

    return await report(ctx, targets, one)


# ---- set env ----

_ENV_ARGUMENT = re.compile(r"^(.+)=(.*)$", re.DOTALL)
"""kubectl's IsEnvironmentArgument: ``KEY=VALUE`` with at least one character before an ``=``."""
_NOT_ENV_CHARS = re.compile(r"[^a-zA-Z0-9_]")


def split_env_args(args: list[str]) -> tuple[list[str], list[str]]:
    """kubectl's SplitEnvironmentFromResources: the resources, then the ``KEY=VALUE`` / ``KEY-`` changes."""
    try:
        return split_pairs(args, "environment", is_pair=lambda a: bool(_ENV_ARGUMENT.match(a)) or a.endswith("-"))
    except UsageError:
        raise UsageError("error: all resources must be specified before environment changes: "
                         + " ".join(args)) from None


def read_env(text: str) -> list[core_pb2.EnvVar]:
    """kubectl's readEnv (``-e -``): ``KEY=VALUE`` lines, ``#`` starting a comment, others skipped."""
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        if "=" in line:
            name, value = line.split("=", 1)
            out.append(core_pb2.EnvVar(name=name, value=value))
    return out


def parse_env(specs: list[str]) -> tuple[list[core_pb2.EnvVar], list[str]]:
    """kubectl's ParseEnv over ``-e`` then the positional changes: the variables to set (in order,
    the first of a repeated name winning later) and the names to remove."""
    env: list[core_pb2.EnvVar] = []
    remove: list[str] = []
    for spec in specs:
        if spec == "-":
            env.extend(read_env(sys.stdin.read()))
        elif "=" in spec:
            name, value = spec.split("=", 1)
            if problems := is_env_var_name(name):
                raise UsageError(f"error: {go_quote(name)} is not a valid key name: {';'.join(problems)}")
            env.append(core_pb2.EnvVar(name=name, value=value))
        elif spec.endswith("-"):
            remove.append(spec[:-1])
        else:
            raise UsageError(f"error: unknown environment variable: {spec}")
    set_names = {e.name for e in env}
    if any(name in set_names for name in remove):
        raise UsageError("error: can not both modify and remove the same environment variable in the same command")
    return env, remove


def key_to_env_name(ctx: Context, key: str) -> str:
    """kubectl's keyToEnvName: upper case, every character but ``[a-zA-Z0-9_]`` made ``_``; a key so
    changed is reported (``Warning: key db.host transferred to DB_HOST``)."""
    name = _NOT_ENV_CHARS.sub("_", key).upper()
    if name != key:
        ctx.warn(f"Warning: key {key} transferred to {name}")
    return name


async def env_from(ctx: Context) -> list[core_pb2.EnvVar]:
    """``--from=secret/NAME`` / ``configmap/NAME``: one ``valueFrom`` variable per key (``--keys``
    picks some). Like kubectl, the source is looked up with -l / --all, and with --local it is what
    -f gives (only a Secret or ConfigMap will do: ``unsupported resource specified in --from``)."""
    args = ctx.args
    if args.local:
        sources = [obj for _, obj in load_files(args.filename, args.recursive, verb="set env")]
    else:
        sources = []
        for target in await resolve(ctx, [args.from_], verb="set env", selector=args.selector,
                                    select_all=args.all, filenames=args.filename, recursive=args.recursive):
            sources.append(target.listed or await ctx.client.get(target.kind.message, target.name,
                                                                 namespace=target.namespace))
    keys = [k for k in args.keys if k]
    env: list[core_pb2.EnvVar] = []
    for source in sources:
        kind = kinds.of(source).kind
        if kind not in ("Secret", "ConfigMap"):
            raise UsageError("error: unsupported resource specified in --from")
        name = source.metadata.name  # type: ignore[attr-defined]
        for key in sorted(source.data):  # type: ignore[attr-defined]
            if keys and key not in keys:
                continue
            var = core_pb2.EnvVar(name=key_to_env_name(ctx, key))
            ref = var.value_from.secret_key_ref if kind == "Secret" else var.value_from.config_map_key_ref
            ref.name, ref.key = name, key
            env.append(var)
    return env


def env_object_name(obj: Any, local: bool) -> str:
    """kubectl's Info.ObjectName, which starts a per-object error: ``deployments/web`` for an object
    read from the server, ``pod/p`` or ``deployment.apps/web`` + newline for a --local one."""
    kind = kinds.of(obj)
    if not local:
        return f"{kind.resource}/{obj.metadata.name}"
    if kind.group:
        return f"{kind.singular}.{kind.group}/{obj.metadata.name}\n"
    return f"{kind.singular}/{obj.metadata.name}"


def container_matches(name: str, pattern: str) -> bool:
    """kubectl's selectString, quirks included: ``*`` is the only wildcard, and the pieces between
    stars are searched for one after another without anchoring the first one, so ``a*`` also
    matches ``sidecar`` (kubectl 1.32 does so)."""
    if pattern == "*":
        return True
    if "*" not in pattern:
        return name == pattern
    parts = pattern.split("*")
    pos = 0
    for i, part in enumerate(parts):
        if not part:
            continue
        found = name[pos:].find(part)  # relative to pos, and kubectl compares it with pos as it is
        if found < pos or (i == len(parts) - 1 and len(name) != len(part) + found):
            return False
        pos = found
    return True


def env_containers(ctx: Context, obj: Any, pattern: str, warned: set[str]) -> list[Any]:
    """The containers, then the init containers, whose name matches ``-c`` (``*`` the only wildcard);
    none is kubectl's warning, not an error. Not a kind with a pod template: kubectl's error."""
    kind = kinds.of(obj)
    try:
        spec = pod_spec_of(obj)
    except VerbError as exc:
        if not ctx.args.local:
            raise
        raise VerbError(f"{env_object_name(obj, True)} {str(exc).split(' ', 1)[1]}") from None
    chosen = [c for c in [*spec.containers, *spec.init_containers] if container_matches(c.name, pattern)]
    if not chosen and obj.metadata.name not in warned:
        warned.add(obj.metadata.name)
        ctx.warn(f"Warning: {kind.kind}/{obj.metadata.name} does not have any containers matching "
                 f"{go_quote(pattern)}")
    return chosen


def update_env(container: Any, env: list[core_pb2.EnvVar], remove: list[str]) -> None:
    """kubectl's updateEnv: a variable set keeps its place, a new one is appended, removed ones go."""
    covered = set(remove)
    out: list[core_pb2.EnvVar] = []
    for e in container.env:
        if e.name in covered:
            continue
        newer = next((n for n in env if n.name == e.name), None)
        if newer is not None:
            covered.add(e.name)
            out.append(newer)
        else:
            out.append(e)
    for e in env:
        if e.name not in covered:
            covered.add(e.name)
            out.append(e)
    out = [core_pb2.EnvVar.FromString(e.SerializeToString()) for e in out]  # copies: the old list goes
    del container.env[:]
    container.env.extend(out)


@dataclass
class EnvChange:
    """One ``set env`` run's change, applied to each object (containers chosen with ``-c``)."""

    ctx: Context
    env: list[core_pb2.EnvVar]
    remove: list[str]
    warned: set[str]

    def apply(self, obj: Any) -> list[Any]:
        """Change ``obj`` in place; the containers it chose, each with its environment as changed."""
        args = self.ctx.args
        chosen = env_containers(self.ctx, obj, args.containers, self.warned)
        for c in chosen:
            if not args.overwrite:
                for e in self.env:
                    current = next((x for x in c.env if x.name == e.name), None)
                    if current is not None and current.value != e.value:
                        raise VerbError(f"{env_object_name(obj, args.local)} '{current.name}' already has a value "
                                        f"({current.value}), and --overwrite is false")
            update_env(c, self.env, self.remove)
        return chosen

    def __call__(self, obj: Any) -> bool:
        before = obj.SerializeToString(deterministic=True)
        self.apply(obj)
        return bool(obj.SerializeToString(deterministic=True) != before)


def env_ref_text(source: Any) -> str:
    """kubectl's GetEnvVarRefString: what ``--list`` says of a ``valueFrom``."""
    if source.HasField("config_map_key_ref"):
        return f"configmap {source.config_map_key_ref.name}, key {source.config_map_key_ref.key}"
    if source.HasField("secret_key_ref"):
        return f"secret {source.secret_key_ref.name}, key {source.secret_key_ref.key}"
    if source.HasField("field_ref"):
        return f"field path {source.field_ref.field_path}"
    if source.HasField("resource_field_ref"):
        ref = source.resource_field_ref
        return f"resource field {ref.container_name + '/' if ref.container_name else ''}{ref.resource}"
    return "invalid valueFrom"


def _field_value(obj: Any, path: str) -> str:
    """kubectl's extractFieldPathAsString, on the object listed."""
    meta = obj.metadata
    if path.endswith("']") and "['" in path and not path.startswith("['"):
        base, key = path[:-2].split("['", 1)
        if base == "metadata.annotations":
            return str(meta.annotations.get(key, ""))
        if base == "metadata.labels":
            return str(meta.labels.get(key, ""))
        raise VerbError(f"fieldPath {go_quote(path)} does not support subscript")
    if path in ("metadata.annotations", "metadata.labels"):
        values = meta.annotations if path == "metadata.annotations" else meta.labels
        return "\n".join(f"{k}={go_quote(values[k])}" for k in sorted(values))
    simple = {"metadata.name": meta.name, "metadata.namespace": meta.namespace, "metadata.uid": meta.uid}
    if path in simple:
        return str(simple[path])
    raise VerbError(f"unsupported fieldPath: {path}")


def _resource_value(ref: Any, container: Any) -> str:
    """kubectl's extractContainerResourceValue (of the container listed, as kubectl reads it)."""
    divisor = parse_quantity(ref.divisor) if ref.divisor and ref.divisor != "0" else parse_quantity("1")
    where, _, name = ref.resource.partition(".")
    if where in ("limits", "requests") and (name in ("cpu", "memory", "ephemeral-storage")
                                            or name.startswith("hugepages-")):
        amount = getattr(container.resources, where).get(name) or "0"
        quantity = parse_quantity(amount)
        if name == "cpu":
            return str(-(-quantity.milli_value() // divisor.milli_value()))
        return str(-(-quantity.int_value() // divisor.int_value()))
    raise VerbError(f"Unsupported container resource : {ref.resource}")


async def env_ref_value(ctx: Context, obj: Any, container: Any, source: Any, store: dict[tuple[str, str], Any]
                        ) -> str:
    """kubectl's GetEnvVarRefValue (``--resolve``): the Secret or ConfigMap key (looked up in the
    command's namespace, once per container), the field or the resource the reference names."""
    for field, message, what in (("secret_key_ref", core_pb2.Secret, "secret"),
                                 ("config_map_key_ref", core_pb2.ConfigMap, "config map")):
        if source.HasField(field):
            ref = getattr(source, field)
            if (field, ref.name) not in store:
                store[field, ref.name] = await ctx.client.get(message, ref.name, namespace=ctx.namespace)
            data = store[field, ref.name].data
            if ref.key not in data:
                raise VerbError(f"key {ref.key} not found in {what} {ref.name}")
            value = data[ref.key]
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    if source.HasField("field_ref"):
        return _field_value(obj, source.field_ref.field_path)
    if source.HasField("resource_field_ref"):
        return _resource_value(source.resource_field_ref, container)
    raise VerbError("invalid valueFrom")


async def print_env(ctx: Context, obj: Any, containers: list[Any]) -> None:
    """``--list``: each chosen container's environment (as the command would leave it); with
    ``--resolve`` a reference's value, a reference that cannot be read named on stderr."""
    kind = kinds.of(obj)
    for c in containers:
        ctx.print(f"# {kind.kind} {obj.metadata.name}, container {c.name}")
        store: dict[tuple[str, str], Any] = {}
        failures: dict[str, list[str]] = {}
        for e in c.env:
            if not e.HasField("value_from"):
                ctx.print(f"{e.name}={e.value}")
                continue
            if ctx.args.resolve:
                try:
                    ctx.print(f"{e.name}={await env_ref_value(ctx, obj, c, e.value_from, store)}")
                    continue
                except (VerbError, errors.StatusError) as exc:
                    failures.setdefault(str(exc), []).append(e.name)
            ctx.print(f"# {e.name} from {env_ref_text(e.value_from)}")
        for line in sorted(f"error retrieving reference for {', '.join(sorted(names))}: {message}"
                           for message, names in failures.items()):
            ctx.warn(line)


async def run_set_env(ctx: Context) -> int:
    args = ctx.args
    if args.all and args.selector:
        raise UsageError("error: cannot set --all and --selector at the same time")
    resources, pairs = split_env_args(args.args)
    if args.local and args.dry_run == "server":
        raise UsageError("error: cannot specify --local and --dry-run=server - did you mean --dry-run=client?")
    if not args.filename and not resources:
        raise UsageError("error: one or more resources must be specified as <resource> <name> or "
                         "<resource>/<name>")
    if args.list and args.output:
        raise UsageError("error: --list and --output may not be specified together")
    if args.keys and not args.from_:
        raise UsageError("error: when specifying --keys, a configmap or secret must be provided with --from")
    env, remove = parse_env([*args.env, *pairs])
    if args.from_:
        env.extend(await env_from(ctx))
    for e in env:
        e.name = args.prefix + e.name
    change = EnvChange(ctx, env, remove, set())
    if args.local:
        if not args.filename:
            raise UsageError("error: You must provide one or more resources by argument or filename.\n"
                             "Example resource specifications include:\n   '-f rsrc.yaml'\n"
                             "   '--filename=rsrc.json'\n   '<resource> <name>'\n   '<resource>'")
        objs = [obj for _, obj in load_files(args.filename, args.recursive, verb="set env")]
        targets = [Target(kinds.of(o), "", o.metadata.name, o) for o in objs]  # type: ignore[attr-defined]
    else:
        targets = await resolve(ctx, resources, verb="set env", selector=args.selector, select_all=args.all,
                                filenames=args.filename, recursive=args.recursive)

    async def fetch(target: Target) -> Any:
        if target.listed is not None:
            return target.listed
        return await ctx.client.get(target.kind.message, target.name, namespace=target.namespace)

    async def one(target: Target) -> None:
        if args.list:
            obj = await fetch(target)
            try:
                chosen = change.apply(obj)
            except VerbError:
                return  # kubectl lists nothing of an object it cannot change, and does not fail
            await print_env(ctx, obj, chosen)
            return
        if args.local:
            obj = await fetch(target)
            if change(obj):
                emit(ctx, obj, "env updated")
            return
        obj, changed = await mutate_or_fail(ctx, target, change, "failed to patch env update to pod template")
        if changed:
            if not env and not pairs and args.dry_run != "client":
                # kubectl checks this only after a write (-e KEY- alone removes, then fails so)
                raise UsageError("error: at least one environment variable must be provided")
            emit(ctx, obj, "env updated")

    return await report(ctx, targets, one)


_GO_BOOLS = {"true": True, "True": True, "TRUE": True, "t": True, "T": True, "1": True,
             "false": False, "False": False, "FALSE": False, "f": False, "F": False, "0": False}


def add_go_bool(p: argparse.ArgumentParser, flag: str, *, default: bool, help_text: str) -> None:
    """A Go bool flag: ``--flag`` alone is true and never takes the next argument (``--overwrite
    A=1`` sets A), ``--flag=false`` (each spelling strconv.ParseBool reads) sets it."""
    dest = flag.lstrip("-").replace("-", "_")
    p.add_argument(flag, dest=dest, action="store_const", const=True, default=default, help=help_text)
    for value in (False, True):
        spellings = [f"{flag}={text}" for text, meaning in _GO_BOOLS.items() if meaning is value]
        p.add_argument(*spellings, dest=dest, action="store_const", const=value, help=argparse.SUPPRESS)


# ---- set resources ----

def parse_resource_list(spec: str) -> dict[str, str]:
    """kubectl's populateResourceListV1: ``cpu=200m,memory=512Mi``, each quantity in canonical form."""
    if not spec:
        return {}
    out: dict[str, str] = {}
    for statement in spec.split(","):
        parts = statement.split("=")
        if len(parts) != 2:
            raise UsageError(f"error: Invalid argument syntax {statement}, expected <resource>=<value>")
        try:
            out[parts[0]] = parse_quantity(parts[1]).canonical()
        except QuantityError as exc:
            raise UsageError(f"error: {exc}") from None
    return out


def _same_quantity(current: str | None, wanted: str) -> bool:
    if current is None:
        return False
    try:
        return parse_quantity(current).canonical() == wanted
    except QuantityError:
        return False


def _merge_quantities(field: Any, wanted: dict[str, str]) -> bool:
    changed = False
    for name, value in wanted.items():
        if not _same_quantity(field.get(name), value):
            field[name] = value
            changed = True
    return changed


def set_resources(obj: Any, limits: dict[str, str], requests: dict[str, str], containers: str) -> bool:
    """Set the named limits and requests (others are kept) on the chosen containers."""
    changed = False
    for c in select_containers(pod_spec_of(obj), containers):
        changed = _merge_quantities(c.resources.limits, limits) | changed
        changed = _merge_quantities(c.resources.requests, requests) | changed
    return changed


async def run_set_resources(ctx: Context) -> int:
    args = ctx.args
    if args.all and args.selector:
        raise UsageError("error: cannot set --all and --selector at the same time")
    if not args.limits and not args.requests:
        raise UsageError("error: you must specify an update to requests or limits (in the form of --requests/--limits)")
    limits, requests = parse_resource_list(args.limits), parse_resource_list(args.requests)
    targets = await resolve(ctx, args.targets, verb="set resources", selector=args.selector, select_all=args.all,
                            filenames=args.filename, recursive=args.recursive)

    async def one(target: Target) -> None:
        obj, changed = await mutate_or_fail(ctx, target, lambda o: set_resources(o, limits, requests, args.containers),
                                            "failed to patch resources update to pod template")
        if changed:
            emit(ctx, obj, "resource requirements updated")

    return await report(ctx, targets, one)


# ---- set selector ----

_SELECTOR_OPERATORS = {Operator.IN: "In", Operator.NOT_IN: "NotIn", Operator.EXISTS: "Exists",
                       Operator.DOES_NOT_EXIST: "DoesNotExist"}


@dataclass(frozen=True)
class LabelSelectorArg:
    """metav1.ParseToLabelSelector's result: equality terms, and the set-based ones kept aside."""

    match_labels: dict[str, str]
    expressions: tuple[Requirement, ...]

    def go_expressions(self) -> str:
        """The expressions as kubectl's ``%v`` prints a []LabelSelectorRequirement."""
        parts = [f"{{{r.key} {_SELECTOR_OPERATORS[r.operator]} [{' '.join(r.values)}]}}" for r in self.expressions]
        return "[" + " ".join(parts) + "]"


def parse_label_selector(text: str) -> LabelSelectorArg:
    """metav1.ParseToLabelSelector, with its messages."""
    try:
        requirements = parse_selector(text).requirements
    except SelectorError as exc:
        raise UsageError(f'error: couldn\'t parse the selector string "{text}": {exc}') from None
    match_labels: dict[str, str] = {}
    expressions: list[Requirement] = []
    for r in requirements:
        if r.operator in (Operator.EQUALS, Operator.DOUBLE_EQUALS):
            match_labels[r.key] = r.values[0]
        elif r.operator in _SELECTOR_OPERATORS:
            expressions.append(r)
        elif r.operator in (Operator.GREATER_THAN, Operator.LESS_THAN):
            raise UsageError(f'error: "{r.operator}" isn\'t supported in label selectors')
        else:
            raise UsageError(f'error: "{r.operator}" is not a valid label selector operator')
    return LabelSelectorArg(match_labels, tuple(expressions))


def set_selector(obj: Any, selector: LabelSelectorArg) -> bool:
    """kubectl's updateSelectorForObject: a Service's selector becomes the equality terms."""
    if kinds.of(obj).kind != "Service":
        raise VerbError("setting a selector is only supported for Services")
    if selector.expressions:
        raise VerbError(f"match expression {selector.go_expressions()} not supported on this object")
    if dict(obj.spec.selector) == selector.match_labels:
        return False
    obj.spec.selector.clear()
    obj.spec.selector.update(selector.match_labels)
    return True


async def run_set_selector(ctx: Context) -> int:
    args = ctx.args
    if not args.args:
        raise UsageError("error: one selector is required")
    selector = parse_label_selector(args.args[-1])
    targets = await resolve(ctx, args.args[:-1], verb="set selector", select_all=args.all,
                            filenames=args.filename, recursive=args.recursive)

    async def one(target: Target) -> None:
        # kubectl always sends the new resourceVersion when one is given: the precondition is checked
        obj, _ = await mutate(ctx, target, lambda o: set_selector(o, selector) or bool(args.resource_version),
                              resource_version=args.resource_version, dry_run=args.dry_run)
        emit(ctx, obj, "selector updated")

    return await report(ctx, targets, one)


# ---- set serviceaccount ----

def set_service_account(obj: Any, name: str) -> bool:
    spec = pod_spec_of(obj)
    if spec.service_account_name == name:
        return False
    spec.service_account_name = name
    return True


async def run_set_serviceaccount(ctx: Context) -> int:
    args = ctx.args
    if not args.args:
        raise UsageError("error: serviceaccount is required")
    name = args.args[-1]
    targets = await resolve(ctx, args.args[:-1], verb="set serviceaccount", select_all=args.all,
                            filenames=args.filename, recursive=args.recursive)

    async def one(target: Target) -> None:
        obj, _ = await mutate_or_fail(ctx, target, lambda o: set_service_account(o, name),
                                      "failed to patch ServiceAccountName")
        emit(ctx, obj, "serviceaccount updated")  # kubectl says so even when nothing changed

    return await report(ctx, targets, one)


# ---- set subject ----

async def run_set_subject(ctx: Context) -> int:
    raise UsageError("error: skiff has no RBAC kinds yet (RoleBinding, ClusterRoleBinding): "
                     "set subject has nothing to change")


# ---- registration ----

def _selection_flags(p: argparse.ArgumentParser, *, selector: bool = True) -> None:
    add_file_flags(p, required=False)
    if selector:
        p.add_argument("-l", "--selector", default="")
    p.add_argument("--all", action="store_true")
    add_dry_run(p)


def _set_parser(set_sub: argparse._SubParsersAction, name: str, help_text: str,  # type: ignore[type-arg]
                **kw: Any) -> argparse.ArgumentParser:
    p = allow_intermixed(set_sub.add_parser(name, help=help_text, **kw))
    p.add_argument("-o", "--output", default="", help="yaml | json | name | jsonpath=...: print the objects")
    return p


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = allow_intermixed(sub.add_parser("scale", help="set a new size for a Deployment, ReplicaSet or StatefulSet"))
    p.add_argument("targets", nargs="*", metavar="TYPE NAME | TYPE/NAME")
    p.add_argument("--replicas", type=int, default=None, help="the new desired number of replicas")
    p.add_argument("--current-replicas", type=int, default=-1, help="precondition: the current size")
    p.add_argument("--resource-version", default="", help="precondition: the resource version")
    p.add_argument("--timeout", default="0s", help="(accepted for kubectl compatibility)")
    _selection_flags(p)
    p.set_defaults(run=run_scale)

    set_parser = sub.add_parser(
        "set", help="set specific features on objects (image, env, resources, selector, serviceaccount)")
    set_sub = set_parser.add_subparsers(dest="set_command", metavar="COMMAND", parser_class=type(set_parser))
    p = _set_parser(set_sub, "image", "update the images of a pod template (CONTAINER=IMAGE)")
    p.add_argument("args", nargs="*", metavar="TYPE NAME CONTAINER=IMAGE...")
    _selection_flags(p)
    p.set_defaults(run=run_set_image)

    p = _set_parser(set_sub, "env", "update the environment of a pod template (KEY=VALUE, KEY-)")
    p.add_argument("args", nargs="*", metavar="TYPE NAME KEY=VALUE... KEY-")
    p.add_argument("-c", "--containers", default="*", help="the containers to change (* is a wildcard)")
    p.add_argument("-e", "--env", action="append", default=[], help="KEY=VALUE to set (repeatable; - reads stdin)")
    p.add_argument("--from", dest="from_", default="", metavar="RESOURCE",
                   help="secret/NAME or configmap/NAME: every key as a variable")
    p.add_argument("--keys", action="extend", type=lambda v: v.split(","), default=[],
                   help="with --from: the keys to import (comma-separated)")
    p.add_argument("--prefix", default="", help="prefix for the variable names")
    add_go_bool(p, "--overwrite", default=True, help_text="=false: refuse to change a variable that has another value")
    p.add_argument("--list", action="store_true", help="print the environment (and the changes asked)")
    p.add_argument("--resolve", action="store_true", help="with --list: show the values of references")
    p.add_argument("--local", action="store_true", help="change the -f objects locally, contacting no server")
    p.add_argument("--field-manager", default="kubectl-set", help="(accepted for kubectl compatibility)")
    _selection_flags(p)
    p.set_defaults(run=run_set_env)

    p = _set_parser(set_sub, "resources", "update resource requests/limits on objects with pod templates")
    p.add_argument("targets", nargs="*", metavar="TYPE NAME | TYPE/NAME")
    p.add_argument("-c", "--containers", default="*", help="the containers to change (a glob)")
    p.add_argument("--limits", default="", help="the limits to set, e.g. cpu=200m,memory=512Mi")
    p.add_argument("--requests", default="", help="the requests to set, e.g. cpu=100m,memory=256Mi")
    _selection_flags(p)
    p.set_defaults(run=run_set_resources)

    p = _set_parser(set_sub, "selector", "set the selector on a Service (TYPE NAME EXPRESSIONS)")
    p.add_argument("args", nargs="*", metavar="TYPE NAME EXPRESSIONS")
    p.add_argument("--resource-version", default="", help="precondition: the resource version")
    _selection_flags(p, selector=False)
    p.set_defaults(run=run_set_selector)

    p = _set_parser(set_sub, "serviceaccount", "update the service account of a pod template", aliases=["sa"])
    p.add_argument("args", nargs="*", metavar="TYPE NAME SERVICE_ACCOUNT")
    _selection_flags(p, selector=False)
    p.set_defaults(run=run_set_serviceaccount)

    p = _set_parser(set_sub, "subject", "update the subjects of a RoleBinding (skiff has no RBAC kinds yet)")
    p.add_argument("args", nargs="*", metavar="TYPE NAME")
    for flag in ("--user", "--group", "--serviceaccount"):
        p.add_argument(flag, action="append", default=[])
    _selection_flags(p)
    p.set_defaults(run=run_set_subject)
