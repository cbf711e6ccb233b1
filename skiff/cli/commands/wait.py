"""``wait``: block until objects meet a condition, as ``kubectl wait`` (1.32) does.

``--for`` is what to wait for (kubectl's cmd/wait: wait.go conditionFuncFor, condition.go,
json.go, delete.go, create.go):

- ``condition=NAME[=VALUE]``: an entry of ``.status.conditions`` whose ``type`` is NAME has
  ``status`` VALUE (``true`` by default); both compared case-insensitively, and a condition whose
  ``observedGeneration`` (its own, else ``.status.observedGeneration``) is older than
  ``.metadata.generation`` does not count. It is read from the object's manifest dict, so it works
  for every kind.
- ``jsonpath='{.status.phase}'=Running``: the path (kubectl's relaxed forms: ``.a.b``, ``{a.b}``)
  gives exactly one value that prints (as Go's ``%v``) as the given text; without ``=VALUE``, the
  path only has to give something. Several values, or a map or list to compare, are errors.
- ``delete``: the object is gone, or its uid changed (deleted and created again). An object that
  is already missing is skipped without a word, and nothing to wait for is no error (exit 0).
- ``create``: every named object (or, with ``-l`` / ``--all``, at least one) exists, polled every
  half second as kubectl does.

Each object is read (a missing one is ``Error from server (NotFound)``), checked, and if the
condition does not hold yet, followed through a watch on its name from the resourceVersion of that
read (skiff.cli.following: when the watch ends, breaks or has expired, a relist gives the current
state and a new watch starts from the list's resourceVersion, so no change is lost; an apiserver
that cannot be reached is tried again every second). Success prints ``pod/web condition met``
(every mode: kubectl's printer is built with that operation) or, with ``-o``, the object.

``--timeout`` is a Go duration (``30s``, ``1m``, ``500ms``); as in kubectl, one deadline runs from
the start for all the objects, which are waited for one after another: an object reached after
it has passed times out at once. ``0`` checks once (``condition not met for pods/web``) and a
negative value means a week. Failures are reported per object and the others go on
(``error: timed out waiting for the condition on pods/web``), exit 1; no object at all is
``error: no matching resources found`` (except for ``delete``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from skiff.api import errors
from skiff.api.manifest import to_manifest
from skiff.cli import following
from skiff.cli.commands.files import add_file_flags
from skiff.cli.commands.label import VerbError, allow_intermixed, report, resolve
from skiff.cli.context import Context, UsageError
from skiff.cli.flags import NO_RESOURCES, duration_flag
from skiff.cli.following import RETRY, TIMED_OUT
from skiff.cli.jsonpath import JSONPath, JSONPathError, relaxed
from skiff.cli.printers import OutputFormat, go_value, output_format, render_generic, resource_name
from skiff.cli.resources import Target

CREATE = "create"
DELETE = "delete"
WEEK = 168 * 3600.0
"""What a negative --timeout means."""
CREATE_POLL = 0.5
"""How often --for=create looks again (kubectl polls every 500ms)."""
OUTPUT_FORMATS = ("", "name", "yaml", "json", "jsonpath", "jsonpath-as-json", "jsonpath-file")
FOR_HELP = ("The condition to wait on: [create|delete|condition=condition-name[=condition-value]|"
            "jsonpath='{JSONPath expression}'=[JSONPath value]]. The default condition-value is true. Condition "
            "values are compared after Unicode simple case folding, which is a more general form of "
            "case-insensitivity.")
_RELAXED = re.compile(r"\{\.?[^{}]+\}|\.?[^{}]+")


# ---- --timeout ----

def parse_timeout(text: str) -> float:
    """``--timeout`` in seconds: 0 checks once, a negative duration means a week."""
    seconds = duration_flag(text)
    return WEEK if seconds < 0 else seconds


# ---- --for ----

def _equal_fold(a: str, b: str) -> bool:
    """Go's strings.EqualFold: equal under Unicode simple case folding, rune by rune."""
    return len(a) == len(b) and all(x == y or x.lower() == y.lower() or x.upper() == y.upper()
                                    for x, y in zip(a, b, strict=True))


def _stale(doc: dict[str, Any], condition: dict[str, Any]) -> bool:
    """The condition was written for an older generation of the object (kubectl ignores it)."""
    generation = (doc.get("metadata") or {}).get("generation")
    observed = condition.get("observedGeneration", (doc.get("status") or {}).get("observedGeneration"))
    return isinstance(generation, int) and isinstance(observed, int) and observed < generation


@dataclass(frozen=True)
class Condition:
    """``condition=NAME[=VALUE]``: the status of ``.status.conditions[type=NAME]`` is VALUE."""

    name: str
    status: str = "true"

    def holds(self, doc: dict[str, Any]) -> bool:
        conditions = (doc.get("status") or {}).get("conditions")
        for condition in conditions if isinstance(conditions, list) else []:
            if not isinstance(condition, dict):
                return False
            kind, status = condition.get("type"), condition.get("status")
            if not isinstance(kind, str) or not _equal_fold(kind, self.name) or not isinstance(status, str):
                continue
            return not _stale(doc, condition) and _equal_fold(status, self.status)
        return False


@dataclass(frozen=True)
class JSONPathMatch:
    """``jsonpath=EXPR[=VALUE]``: EXPR gives one value, printing as VALUE (any value when VALUE is empty)."""

    path: JSONPath
    value: str = ""

    def holds(self, doc: dict[str, Any]) -> bool:
        try:
            results = self.path.find(doc)
        except JSONPathError as exc:
            raise VerbError(str(exc)) from None
        if not results or not results[0]:
            return False
        if len(results) > 1:
            raise VerbError("given jsonpath expression matches more than one list")
        if len(results[0]) > 1:
            raise VerbError("given jsonpath expression matches more than one value")
        if not self.value:
            return True
        found = results[0][0]
        if isinstance(found, (dict, list)):
            raise VerbError("jsonpath leads to a nested object or list which is not supported")
        return go_value(found).strip() == self.value.strip()


Predicate = Condition | JSONPathMatch
Wanted = str | Predicate
"""CREATE, DELETE, or a predicate on the object's manifest dict."""


def split_jsonpath_input(text: str) -> list[str]:
    """kubectl's splitJSONPathInput: split on each single ``=``; ``==`` stays in the expression."""
    parts = [""]
    for token in re.findall(r"==|=|[^=]+", text):
        if token == "=":
            parts.append("")
        else:
            parts[-1] += token
    return parts


def _jsonpath_match(text: str) -> JSONPathMatch:
    parts = split_jsonpath_input(text)
    if len(parts) > 2:
        raise UsageError("error: jsonpath wait format must be --for=jsonpath='{.status.readyReplicas}'=3 or "
                         "--for=jsonpath='{.status.readyReplicas}'")
    expression, value = parts[0], ""
    if expression and not _RELAXED.fullmatch(expression):
        raise UsageError("error: unexpected path string, expected a 'name1.name2' or '.name1.name2' or "
                         "'{name1.name2}' or '{.name1.name2}'")
    if len(parts) == 2:
        value = parts[1].strip("'\"")
        if not value:
            raise UsageError("error: jsonpath wait has to have a value after equal sign, like "
                             "--for=jsonpath='{.status.readyReplicas}'=3")
    if not expression:
        raise UsageError("error: jsonpath expression cannot be empty")
    try:
        return JSONPathMatch(JSONPath(relaxed(expression)), value)
    except JSONPathError as exc:
        raise UsageError(f"error: {exc}") from None


def parse_for(text: str) -> Wanted:
    """``--for`` as kubectl's conditionFuncFor reads it."""
    if text.lower() in (CREATE, DELETE):
        return text.lower()
    if text.startswith("condition="):
        name, equals, status = text.removeprefix("condition=").partition("=")
        return Condition(name, status if equals else "true")
    if text.startswith("jsonpath="):
        return _jsonpath_match(text.removeprefix("jsonpath="))
    raise UsageError(f"error: unrecognized condition: {json.dumps(text, ensure_ascii=False)}")


def reached(wanted: Wanted, first: Message) -> following.Until:
    """Whether a state of the object (None: it is gone) is what ``wanted`` waits for; ``first`` is
    the object as first read (a different uid later means it was deleted and created again)."""
    if isinstance(wanted, str):
        return following.gone(first.metadata.uid)  # type: ignore[attr-defined]
    predicate = wanted
    return lambda state: state is not None and predicate.holds(to_manifest(state))


# ---- objects ----

@dataclass(frozen=True)
class Selection:
    """The objects to wait for, in order."""

    targets: list[Target]
    listed: dict[Target, Message]
    """The objects as -l / --all listed them. kubectl already holds these, so one deleted before
    its turn has met --for=delete; a named object is read at its turn, and a missing one skipped."""


async def select(ctx: Context) -> Selection:
    """The objects the command line names, with the checks of kubectl's resource builder."""
    args = ctx.args
    targets = await resolve(ctx, args.resources, verb="wait", selector=args.selector,
                            field_selector=args.field_selector, select_all=args.all,
                            all_namespaces=args.all_namespaces, filenames=args.filename,
                            recursive=args.recursive)
    selecting = bool(args.selector or args.field_selector or args.all) and not args.filename
    if not selecting:
        return Selection(targets, {})
    listed = {target: target.listed for target in targets if target.listed is not None}
    return Selection(list(listed), listed)


async def _get(ctx: Context, target: Target) -> Message:
    return await ctx.client.get(target.kind.message, target.name, namespace=target.namespace)


def _print_met(ctx: Context, fmt: OutputFormat, obj: Message) -> None:
    if fmt.name in ("", "name"):
        ctx.print(f"{resource_name(obj)} condition met")
        return
    ctx.out.write(render_generic([obj], fmt, single=True))
    ctx.out.flush()


# ---- following one object ----

@dataclass(frozen=True)
class Waiter:
    """One ``wait`` command: what to wait for, and until when."""

    ctx: Context
    wanted: Wanted
    fmt: OutputFormat
    timeout: float
    deadline: float
    """The loop time when the one --timeout for all the objects runs out."""
    listed: dict[Target, Message]
    """Selection.listed."""

    async def one(self, target: Target) -> None:
        """Wait for one object and print it (kubectl prints the object as first read for delete)."""
        try:
            first = await _get(self.ctx, target)
        except errors.NotFound:
            if self.wanted != DELETE:
                raise
            if target in self.listed:
                _print_met(self.ctx, self.fmt, self.listed[target])
            return
        final = await self._follow(target, first)
        _print_met(self.ctx, self.fmt, first if final is None or self.wanted == DELETE else final)

    async def _follow(self, target: Target, first: Message) -> Message | None:
        """The state that meets the condition; VerbError when none does in time."""
        met = reached(self.wanted, first)
        name = f"{target.kind.resource}/{target.name}"
        if self.timeout == 0:
            if met(first):
                return first
            raise VerbError(f"condition not met for {name}")
        remaining = self.deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise VerbError(f"{TIMED_OUT} on {name}")
        try:
            return await following.follow(self.ctx.client, target, met, first=first, timeout=remaining,
                                          unavailable_retry=RETRY)
        except TimeoutError:
            raise VerbError(f"{TIMED_OUT} on {name}") from None


# ---- --for=create ----

async def _existing(ctx: Context) -> list[Message] | None:
    """Every named object (or those -l / --all pick, if any); None while one is missing."""
    try:
        found = [await _get(ctx, t) for t in (await select(ctx)).targets]
    except errors.NotFound:
        return None
    return found or None


async def _created(ctx: Context, timeout: float) -> list[Message]:
    """kubectl's poll for --for=create: look now, then every half second until the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (found := await _existing(ctx)) is None:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise UsageError(f"error: {TIMED_OUT}")
        await asyncio.sleep(min(CREATE_POLL, remaining))
    return found


# ---- the command ----

async def run_wait(ctx: Context) -> int:
    args = ctx.args
    timeout = parse_timeout(args.timeout)
    fmt = output_format(args.output, OUTPUT_FORMATS)
    wanted = parse_for(args.condition)
    if not args.resources and not args.filename:
        raise UsageError(NO_RESOURCES)
    if wanted == CREATE:
        for obj in await _created(ctx, timeout):
            _print_met(ctx, fmt, obj)
        return 0
    deadline = asyncio.get_running_loop().time() + timeout
    found = await select(ctx)
    if not found.targets and wanted != DELETE:
        raise UsageError("error: no matching resources found")
    waiter = Waiter(ctx, wanted, fmt, timeout, deadline, found.listed)
    return await report(ctx, found.targets, waiter.one)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = allow_intermixed(sub.add_parser(
        "wait", help="wait for a condition on objects (condition=..., jsonpath=..., create, delete)"))
    p.add_argument("resources", nargs="*", metavar="TYPE NAME | TYPE/NAME")
    p.add_argument("--for", dest="condition", default="", help=FOR_HELP)
    p.add_argument("--timeout", default="30s", help="The length of time to wait before giving up. Zero means "
                   "check once and don't wait, negative means wait for a week.")
    add_file_flags(p, required=False)
    p.add_argument("-l", "--selector", default="", help="label selector (=, ==, !=, in, notin, exists, !key)")
    p.add_argument("--field-selector", default="", help="field selector (metadata.name=x, status.phase!=Running)")
    p.add_argument("--all", action="store_true", help="every object of the given types in the namespace")
    p.add_argument("-A", "--all-namespaces", action="store_true", help="with -l / --all: across all namespaces")
    p.add_argument("-o", "--output", default="", help="name | yaml | json | jsonpath=TEMPLATE: print the objects")
    p.set_defaults(run=run_wait)
