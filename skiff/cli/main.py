"""skiffctl: kubectl's verbs on skiff's API.

This first cut drives the API from a shell: ``apply -f``, ``create -f``, ``replace -f``,
``get``, ``delete`` and ``reencrypt``; the rest of kubectl's verbs join here. Connection:
``--server``, ``SKIFF_SERVER``, or the config file ``skiff up`` writes (see skiff.client.config).
Errors print as kubectl prints them — ``Error from server (NotFound): pods "x" not found`` —
and exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from google.protobuf.message import Message

from skiff.api import errors, kinds
from skiff.api.manifest import ManifestError, load_objects
from skiff.cli.apply import apply_object
from skiff.cli.printers import print_objects, resource_name
from skiff.client.client import Client
from skiff.client.config import resolve


class UsageError(Exception):
    """A mistake in the command line (exit 1 with the message)."""


def _read_sources(paths: list[str], recursive: bool) -> list[tuple[str, str]]:
    """(source name, text) for each -f argument: a file, a directory, or - for stdin."""
    out: list[tuple[str, str]] = []
    for path in paths:
        if path == "-":
            out.append(("STDIN", sys.stdin.read()))
            continue
        p = Path(path)
        if p.is_dir():
            pattern = "**/*" if recursive else "*"
            files = sorted(f for f in p.glob(pattern) if f.suffix in (".yaml", ".yml", ".json") and f.is_file())
            out.extend((str(f), f.read_text()) for f in files)
        elif p.exists():
            out.append((path, p.read_text()))
        else:
            raise UsageError(f'the path "{path}" does not exist')
    return out


def _load(paths: list[str], recursive: bool) -> list[tuple[str, Message]]:
    objs: list[tuple[str, Message]] = []
    for source, text in _read_sources(paths, recursive):
        try:
            objs.extend((source, obj) for obj in load_objects(text))
        except ManifestError as exc:
            raise UsageError(f'error: error validating "{source}": {exc}') from None
    if not objs:
        raise UsageError("error: no objects passed to apply")
    return objs


class Ctl:
    """One invocation: the parsed flags and a client."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        target = resolve(args.server, config_file=args.config)
        self.namespace = args.namespace or target.namespace
        self.client = Client(target.server)

    def ns_for(self, obj: Message) -> str:
        kind = kinds.of(obj)
        if not kind.namespaced:
            return ""
        return obj.metadata.namespace or self.namespace  # type: ignore[attr-defined]

    async def for_each_file_object(self, fn: Callable[[str, Message], Awaitable[str]]) -> int:
        failed = 0
        for source, obj in _load(self.args.filename, self.args.recursive):
            try:
                print(await fn(source, obj))
            except errors.StatusError as exc:
                failed += 1
                verb = self.args.command
                print(f"Error from server ({exc.reason}): error when {verb[:-1] if verb.endswith('e') else verb}ing "
                      f'"{source}": {exc}', file=sys.stderr)
        return 1 if failed else 0

    # ---- verbs ----

    async def apply(self) -> int:
        async def one(source: str, obj: Message) -> str:
            action, result = await apply_object(self.client, obj, namespace=self.ns_for(obj),
                                                dry_run=self.args.dry_run == "server")
            return self._result(result, action)

        return await self.for_each_file_object(one)

    async def create(self) -> int:
        async def one(source: str, obj: Message) -> str:
            created = await self.client.create(obj, namespace=self.ns_for(obj) or None,
                                               dry_run=self.args.dry_run == "server")
            return self._result(created, "created")

        return await self.for_each_file_object(one)

    async def replace(self) -> int:
        async def one(source: str, obj: Message) -> str:
            replaced = await self.client.update(obj, namespace=self.ns_for(obj) or None,
                                                dry_run=self.args.dry_run == "server")
            return self._result(replaced, "replaced")

        return await self.for_each_file_object(one)

    def _result(self, obj: Message, action: str) -> str:
        if self.args.output in ("yaml", "json", "name"):
            return print_objects([obj], self.args.output, single=True)
        suffix = " (server dry run)" if self.args.dry_run == "server" else ""
        return f"{resource_name(obj)} {action}{suffix}"

    async def get(self) -> int:
        requests = _parse_targets(self.args.targets)
        all_ns = self.args.all_namespaces
        found: list[Message] = []
        for kind, names in requests:
            ns = "" if all_ns else self.namespace
            if names:
                for name in names:
                    found.append(await self.client.get(kind.message, name, namespace=ns or self.namespace))
            else:
                result = await self.client.list(kind.message, namespace=ns, label_selector=self.args.selector,
                                                field_selector=self.args.field_selector)
                found.extend(result.items)
        single = len(requests) == 1 and len(requests[0][1]) == 1
        if not found and self.args.output in ("", "wide"):
            where = "" if all_ns else f" in {self.namespace} namespace"
            print(f"No resources found{where}.", file=sys.stderr)
            return 0
        print(print_objects(found, self.args.output, all_namespaces=all_ns and kinds_namespaced(requests),
                            single=single))
        return 0

    async def delete(self) -> int:
        targets: list[tuple[kinds.Kind, str, str]] = []
        if self.args.filename:
            for _, obj in _load(self.args.filename, self.args.recursive):
                targets.append((kinds.of(obj), self.ns_for(obj), obj.metadata.name))  # type: ignore[attr-defined]
        else:
            for kind, names in _parse_targets(self.args.targets):
                if not names:
                    raise UsageError("error: resource(s) were provided, but no name was specified")
                targets.extend((kind, self.namespace if kind.namespaced else "", n) for n in names)
        failed = 0
        policy = {"background": "Background", "foreground": "Foreground", "orphan": "Orphan"}.get(
            self.args.cascade, "Background")
        for kind, ns, name in targets:
            try:
                grace = 0 if self.args.now else self.args.grace_period
                await self.client.delete(kind.message, name, namespace=ns, propagation_policy=policy,
                                         grace_period_seconds=grace if grace is not None and grace >= 0 else None)
                if self.args.wait:
                    await self._wait_gone(kind, ns, name)
                singular = f"{kind.singular}.{kind.group}" if kind.group else kind.singular
                print(f'{singular} "{name}" deleted')
            except errors.StatusError as exc:
                failed += 1
                print(f"Error from server ({exc.reason}): {exc}", file=sys.stderr)
        return 1 if failed else 0

    async def _wait_gone(self, kind: kinds.Kind, namespace: str, name: str, timeout: float = 60.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        delay = 0.05
        while loop.time() < deadline:
            try:
                await self.client.get(kind.message, name, namespace=namespace)
            except errors.NotFound:
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def reencrypt(self) -> int:
        """Rewrite every object of a resource so it is stored under the current first key."""
        kind = _kind(self.args.resource)
        result = await self.client.list(kind.message)
        for obj in result.items:
            await self.client.update(obj)
        print(f"{len(result.items)} {kind.resource} rewritten with the current encryption key")
        return 0


def kinds_namespaced(requests: list[tuple[kinds.Kind, list[str]]]) -> bool:
    return any(k.namespaced for k, _ in requests)


def _kind(name: str) -> kinds.Kind:
    try:
        return kinds.lookup(name)
    except kinds.UnknownKind as exc:
        raise UsageError(f"error: {exc}") from None


def _parse_targets(targets: list[str]) -> list[tuple[kinds.Kind, list[str]]]:
    """kubectl's argument forms: ``pods``, ``pods a b``, ``pod/a deploy/b``, ``pods,svc``."""
    if not targets:
        raise UsageError("error: you must specify the type of resource to get. Use \"skiffctl api-resources\" "
                         "for a complete list of supported resources.")
    if all("/" in t for t in targets):
        grouped: dict[str, tuple[kinds.Kind, list[str]]] = {}
        for t in targets:
            type_name, name = t.split("/", 1)
            kind = _kind(type_name)
            grouped.setdefault(kind.resource, (kind, []))[1].append(name)
        return list(grouped.values())
    types, names = targets[0], targets[1:]
    if any("/" in n for n in names):
        raise UsageError("error: there is no need to specify a resource type as a separate argument when "
                         "passing arguments in resource/name form")
    out: list[tuple[kinds.Kind, list[str]]] = []
    for type_name in types.split(","):
        if type_name == "all":
            out.extend((k, []) for k in kinds.KINDS if "all" in k.categories)
        else:
            out.append((_kind(type_name), list(names)))
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="skiffctl", description="kubectl's verbs for a skiff cluster.")
    p.add_argument("--server", "-s", default=None, help="apiserver HOST:PORT (else SKIFF_SERVER, else the config)")
    p.add_argument("--config", "--kubeconfig", default=None, help="config file (default ~/.skiff/config)")
    p.add_argument("--namespace", "-n", default=None)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def with_files(sp: argparse.ArgumentParser, required: bool = True) -> None:
        sp.add_argument("-f", "--filename", action="append", required=required, default=[])
        sp.add_argument("-R", "--recursive", action="store_true")
        sp.add_argument("-o", "--output", default="")
        sp.add_argument("--dry-run", choices=["none", "client", "server"], default="none", nargs="?", const="client")

    for verb, text in (("apply", "create or update objects from files"), ("create", "create objects from files"),
                       ("replace", "replace objects from files")):
        with_files(sub.add_parser(verb, help=text))
    g = sub.add_parser("get", help="list or show objects")
    g.add_argument("targets", nargs="*")
    g.add_argument("-o", "--output", default="")
    g.add_argument("-l", "--selector", default="")
    g.add_argument("--field-selector", default="")
    g.add_argument("-A", "--all-namespaces", action="store_true")
    d = sub.add_parser("delete", help="delete objects")
    d.add_argument("targets", nargs="*")
    with_files(d, required=False)
    d.add_argument("--cascade", default="background", choices=["background", "foreground", "orphan", "true", "false"])
    d.add_argument("--grace-period", type=int, default=None)
    d.add_argument("--now", action="store_true")
    d.add_argument("--wait", default=True, type=lambda v: v.lower() != "false", nargs="?", const=True)
    r = sub.add_parser("reencrypt", help="rewrite stored objects under the current encryption key")
    r.add_argument("resource", nargs="?", default="secrets")
    return p


async def _run(args: argparse.Namespace) -> int:
    ctl = Ctl(args)
    try:
        if args.command in ("apply", "create", "replace") and args.dry_run == "client":
            return _client_dry_run(ctl)
        method: Callable[[], Awaitable[int]] = getattr(ctl, args.command)
        return await method()
    finally:
        await ctl.client.close()


def _client_dry_run(ctl: Ctl) -> int:
    objs = [obj for _, obj in _load(ctl.args.filename, ctl.args.recursive)]
    if ctl.args.output in ("yaml", "json", "name"):
        print(print_objects(objs, ctl.args.output, single=len(objs) == 1))
    else:
        verb = {"apply": "created", "create": "created", "replace": "replaced"}[ctl.args.command]
        for obj in objs:
            print(f"{resource_name(obj)} {verb} (dry run)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    try:
        return asyncio.run(_run(args))
    except UsageError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except errors.StatusError as exc:
        print(f"Error from server ({exc.reason}): {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
