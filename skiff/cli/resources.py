"""Reading what a person names on the command line: resource types (``po``, ``deploy.apps``,
``pods,svc``, ``all``), ``TYPE/NAME`` pairs, and ``-f`` files, directories and stdin; a
``Target`` is one object so named."""

from __future__ import annotations

import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf.message import Message

from skiff.api import errors, kinds
from skiff.api.manifest import ManifestError, from_manifest, parse_documents
from skiff.cli.context import UsageError
from skiff.cli.failures import list_error
from skiff.client.client import Client, ObjectList


@dataclass(frozen=True)
class Target:
    """One object the command line names: its kind, namespace ("" for a cluster-scoped kind) and name."""

    kind: kinds.Kind
    namespace: str
    name: str
    listed: Message | None = field(default=None, compare=False, repr=False)
    """The object itself when a list (``-l``, ``--field-selector``, ``--all``) found it; not part of
    the target's identity."""
    source: str = field(default="", compare=False)
    """The file that named it (``-f``), for kubectl's ``error when deleting "web.yaml": ...``."""


def kind_named(name: str) -> kinds.Kind:
    try:
        return kinds.lookup(name)
    except kinds.UnknownKind as exc:
        raise UsageError(f"error: {exc}") from None


async def list_selected(client: Client, kind: kinds.Kind, *, namespace: str, label_selector: str = "",
                        field_selector: str = "") -> ObjectList[Message]:
    """The objects of ``kind`` the selectors match; a selector the server refuses reads as kubectl's
    (``Unable to find "/v1, Resource=pods" that match label selector ...``)."""
    try:
        return await client.list(kind.message, namespace=namespace, label_selector=label_selector,
                                 field_selector=field_selector)
    except errors.StatusError as exc:
        raise list_error(exc, kind, label_selector=label_selector, field_selector=field_selector) from None


def singular_name(kind: kinds.Kind) -> str:
    """``deployment.apps`` / ``pod``: how kubectl names a kind in messages."""
    return f"{kind.singular}.{kind.group}" if kind.group else kind.singular


def parse_targets(targets: list[str], *, verb: str = "get") -> list[tuple[kinds.Kind, list[str]]]:
    """kubectl's argument forms: ``pods``, ``pods a b``, ``pod/a deploy/b``, ``pods,svc``, ``all``."""
    if not targets:
        raise UsageError(f'error: you must specify the type of resource to {verb}. Use "skiffctl api-resources" '
                         "for a complete list of supported resources.")
    if all("/" in t for t in targets):
        grouped: dict[str, tuple[kinds.Kind, list[str]]] = {}
        for t in targets:
            type_name, name = t.split("/", 1)
            kind = kind_named(type_name)
            grouped.setdefault(kind.resource, (kind, []))[1].append(name)
        return list(grouped.values())
    types, names = targets[0], targets[1:]
    if any("/" in n for n in names):
        raise UsageError("error: there is no need to specify a resource type as a separate argument when "
                         "passing arguments in resource/name form (e.g. 'skiffctl get resource/<resource_name>' "
                         "instead of 'skiffctl get resource resource/<resource_name>'")
    out: list[tuple[kinds.Kind, list[str]]] = []
    for type_name in types.split(","):
        if type_name == "all":
            out.extend((k, list(names)) for k in kinds.KINDS if "all" in k.categories)
        else:
            out.append((kind_named(type_name), list(names)))
    return out


URL_ATTEMPTS = 3
"""kubectl reads a URL up to three times while the server answers 5xx, a second apart."""
URL_TIMEOUT_S = 30.0


def read_url(url: str, *, attempts: int = URL_ATTEMPTS, pause: float = 1.0) -> str:
    """A manifest at an http(s) URL, as kubectl's readHttpWithRetries reads it: 200 is the text,
    a 5xx is tried again, anything else is ``unable to read URL "U", server reported 404 Not
    Found, status code=404``; a connection that fails is ``Get "U": <why>``."""
    attempt = 1
    while True:
        try:
            with urllib.request.urlopen(url, timeout=URL_TIMEOUT_S) as response:  # noqa: S310 - http(s) only
                return bytes(response.read()).decode()
        except urllib.error.HTTPError as exc:
            if 500 <= exc.code < 600 and attempt < attempts:
                attempt += 1
                time.sleep(pause)
                continue
            raise UsageError(f'error: unable to read URL "{url}", server reported {exc.code} {exc.reason}, '
                             f"status code={exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise UsageError(f'error: Get "{url}": {reason}') from None


def read_sources(paths: list[str], recursive: bool) -> list[tuple[str, str]]:
    """(source name, text) for each -f argument: a file, a directory, an http(s) URL, or - for stdin."""
    out: list[tuple[str, str]] = []
    for path in paths:
        if path == "-":
            out.append(("STDIN", sys.stdin.read()))
            continue
        if path.startswith(("http://", "https://")):
            out.append((path, read_url(path)))
            continue
        p = Path(path)
        if p.is_dir():
            pattern = "**/*" if recursive else "*"
            files = sorted(f for f in p.glob(pattern) if f.suffix in (".yaml", ".yml", ".json") and f.is_file())
            out.extend((str(f), f.read_text()) for f in files)
        elif p.exists():
            out.append((path, p.read_text()))
        else:
            raise UsageError(f'error: the path "{path}" does not exist')
    return out


def load_files(paths: list[str], recursive: bool, *, verb: str = "apply", allow_empty: bool = False,
               validate: str = "strict", warn: Callable[[str], None] | None = None) -> list[tuple[str, Message]]:
    """Every object in the -f sources, each with its source; a bad document names file and document.
    Sources without any object are an error (``no objects passed to <verb>``) unless ``allow_empty``.
    ``validate`` is kubectl's field validation: ``strict`` fails on an unknown field, ``warn`` drops
    it with ``Warning: unknown field "spec.x"`` (to ``warn``), ``ignore`` drops it silently."""
    objs: list[tuple[str, Message]] = []
    for source, text in read_sources(paths, recursive):
        try:
            docs = parse_documents(text)
        except ManifestError as exc:
            raise UsageError(f'error: error parsing {source}: {exc}') from None
        for index, doc in enumerate(docs):
            dropped: list[str] | None = None if validate == "strict" else []
            try:
                objs.append((source, from_manifest(doc, unknown_fields=dropped)))
            except ManifestError as exc:
                where = f"document {index + 1} of " if len(docs) > 1 else ""
                raise UsageError(f'error: error validating {where}"{source}": {exc}') from None
            if dropped and validate == "warn" and warn is not None:
                for path in dropped:
                    warn(f'Warning: unknown field "{path}"')
    if not objs and not allow_empty:
        raise UsageError(f"error: no objects passed to {verb}")
    return objs
