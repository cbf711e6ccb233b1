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
- set image takes ``CONTAINER=IMAGE`` (``*`` = every container); set env ``KEY=VALUE`` / ``KEY-``
  (``--list`` prints it); set resources ``--limits`` / ``--requests=cpu=200m,memory=512Mi``,
  each quantity checked (apimachinery's parse error) and written in canonical form. env and
  resources pick containers, init containers included, with the ``-c`` glob. Each changed object
  prints ``deployment.apps/web image updated`` / ``env updated`` / ``resource requirements
  updated``; an unchanged one prints nothing, as in kubectl.
- set serviceaccount (``sa``) sets the template's ``serviceAccountName`` and, like kubectl,
  prints ``deployment.apps/web serviceaccount updated`` whether or not it changed.
- set selector replaces a Service's ``spec.selector`` with the last argument (label-selector
  syntax, equality terms only) and prints ``service/web selector updated``; kubectl refuses every
  other kind (``setting a selector is only supported for Services``), so no Deployment selector
  (immutable in apps/v1) is ever sent. ``--resource-version`` makes the write conditional.
- set subject is listed as in kubectl but says that skiff has no RBAC kinds to change.

A write the server refuses reads as kubectl's ``failed to patch ...`` error for resources and
serviceaccount; ``-o yaml|json|name`` prints the objects instead of the lines, and
``--dry-run=client|server`` adds `` (dry run)`` / `` (server dry run)``.
"""

from __future__ import annotations

import argparse
import fnmatch
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
    parse_pairs,
    report,
    resolve,
    split_pairs,
)
from skiff.cli.context import Context, UsageError
from skiff.cli.printers import dry_suffix, result_text
from skiff.cli.resources import Target, singular_name

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

def set_env(obj: Any, new: dict[str, str], remove: list[str], containers: str) -> bool:
    changed = False
    for c in select_containers(pod_spec_of(obj), containers):
        before = [e.SerializeToString(deterministic=True) for e in c.env]
        by_name = {e.name: e for e in c.env}
        for key, value in new.items():
            if key in by_name:
                by_name[key].ClearField("value_from")
                by_name[key].value = value
            else:
                c.env.append(core_pb2.EnvVar(name=key, value=value))
        kept = [e for e in c.env if e.name not in remove]
        del c.env[:]
        c.env.extend(kept)
        changed = changed or before != [e.SerializeToString(deterministic=True) for e in c.env]
    return changed


def print_env(ctx: Context, obj: Any, containers: str) -> None:
    kind = kinds.of(obj)
    for c in select_containers(pod_spec_of(obj), containers):
        ctx.print(f"# {kind.kind} {obj.metadata.name}, container {c.name}")
        for e in c.env:
            if e.HasField("value_from"):
                ctx.print(f"# {e.name} from a reference")
            else:
                ctx.print(f"{e.name}={e.value}")


async def run_set_env(ctx: Context) -> int:
    args = ctx.args
    resources, pairs = split_pairs(args.args, "env")
    if not pairs and not args.list:
        raise UsageError("error: at least one environment variable must be provided")
    new, remove = parse_pairs(pairs, "env", label_values=False)
    for name in new:
        if problems := is_env_var_name(name):
            raise UsageError(f"error: {go_quote(name)} is not a valid key name: {';'.join(problems)}")
    targets = await resolve(ctx, resources, verb="set env", selector=args.selector, select_all=args.all,
                            filenames=args.filename, recursive=args.recursive)

    async def one(target: Target) -> None:
        if args.list:
            print_env(ctx, await ctx.client.get(target.kind.message, target.name, namespace=target.namespace),
                      args.containers)
            return
        obj, changed = await mutate(ctx, target, lambda o: set_env(o, new, remove, args.containers),
                                    dry_run=args.dry_run)
        if changed:
            emit(ctx, obj, "env updated")

    return await report(ctx, targets, one)


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
    p.add_argument("-c", "--containers", default="*", help="the containers to change (a glob)")
    p.add_argument("--list", action="store_true", help="print the environment")
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
