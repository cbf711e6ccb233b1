"""Loading manifests: YAML or JSON text, one or many documents, ``kind: List`` expanded.

``load_objects(text)`` gives typed objects; every error names the document and the field path,
e.g. ``error validating data: document 2 (Deployment "web"): spec.replicas: expected an integer
(int32), got string 'three'``. ``dump_yaml`` / ``dump_json`` are the inverse used by
``skiffctl get -o yaml|json``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import yaml
from google.protobuf.message import Message

from skiff.api import codec, kinds

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
"""The annotation ``apply`` keeps the applied manifest in (what the next apply diffs against)."""


class ManifestError(ValueError):
    """A manifest that cannot be turned into an object."""


class _Loader(yaml.SafeLoader):
    """The safe loader, reading double-quoted strings as go-yaml (kubectl) does: ``\\'`` is an escaped
    quote there (Kubernetes' own docs use it), while strict YAML 1.1 rejects it."""

    ESCAPE_REPLACEMENTS = {**yaml.SafeLoader.ESCAPE_REPLACEMENTS, "'": "'"}  # type: ignore[misc]


def parse_documents(text: str) -> list[dict[str, Any]]:
    """The non-empty documents of a YAML (or JSON) stream, with ``List`` kinds expanded."""
    try:
        docs = [d for d in yaml.load_all(text, Loader=_Loader) if d is not None]
    except yaml.YAMLError as exc:
        raise ManifestError(f"error parsing YAML: {exc}") from None
    out: list[dict[str, Any]] = []
    for doc in docs:
        out.extend(_expand(doc))
    return out


def _expand(doc: object) -> Iterator[dict[str, Any]]:
    if not isinstance(doc, dict):
        raise ManifestError(f"error validating data: expected an object, got {type(doc).__name__}")
    if isinstance(doc.get("kind"), str) and doc["kind"].endswith("List") and "items" in doc:
        items = doc.get("items") or []
        if not isinstance(items, list):
            raise ManifestError("error validating data: items: expected an array")
        for item in items:
            yield from _expand(item)
    else:
        yield doc


def from_manifest(doc: dict[str, Any], *, unknown_fields: list[str] | None = None) -> Message:
    """One manifest dict as a typed object; with ``unknown_fields``, unknown fields are dropped and
    listed there (``--validate=warn|ignore``) instead of failing."""
    api_version, kind_name = doc.get("apiVersion"), doc.get("kind")
    if not isinstance(kind_name, str) or not kind_name:
        raise ManifestError("error validating data: kind not set")
    if not isinstance(api_version, str) or not api_version:
        raise ManifestError("error validating data: apiVersion not set")
    try:
        kind = kinds.by_gvk(api_version, kind_name)
    except kinds.UnknownKind as exc:
        raise ManifestError(f"resource mapping not found: {exc}") from None
    try:
        return codec.from_dict(kind.message, doc, unknown_fields=unknown_fields)
    except codec.DecodeError as exc:
        name = (doc.get("metadata") or {}).get("name") if isinstance(doc.get("metadata"), dict) else None
        what = f'{kind.kind} "{name}"' if name else kind.kind
        raise ManifestError(f"error decoding {what}: strict decoding error: {exc}") from None


def load_objects(text: str) -> list[Message]:
    """Every object in a YAML/JSON text."""
    return [from_manifest(doc) for doc in parse_documents(text)]


def to_manifest(obj: Message) -> dict[str, Any]:
    """The manifest dict of an object, apiVersion and kind first."""
    kind = kinds.of(obj)
    body = codec.to_dict(obj)
    body.pop("apiVersion", None)
    body.pop("kind", None)
    return {"apiVersion": kind.api_version, "kind": kind.kind, **body}


class _Dumper(yaml.SafeDumper):
    """Block-style YAML like kubectl's (go-yaml): multi-line strings as literal blocks, and a string
    that would read back as another type ("1", "yes", "null", a timestamp) or is empty in double quotes."""


_STR_TAG = "tag:yaml.org,2002:str"
_GO_YAML_BOOLS = frozenset({"y", "Y", "n", "N"})
"""Strings go-yaml reads as booleans (YAML 1.1) that PyYAML's resolver reads as strings: kubectl
quotes them, so they are quoted here too."""


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    if "\n" in data:
        return dumper.represent_scalar(_STR_TAG, data, style="|")
    if not data or data in _GO_YAML_BOOLS or dumper.resolve(yaml.ScalarNode, data, (True, False)) != _STR_TAG:
        return dumper.represent_scalar(_STR_TAG, data, style='"')
    return dumper.represent_scalar(_STR_TAG, data)


_Dumper.add_representer(str, _str_presenter)


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, default_flow_style=False, sort_keys=True, allow_unicode=True)


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=4, ensure_ascii=False)
