"""``skiffctl apply``: create or update an object from its manifest, kubectl's way.

The manifest as applied is kept in the ``kubectl.kubernetes.io/last-applied-configuration``
annotation. A later apply computes a three-way patch: fields that were in the last applied
manifest and are gone from the new one are deleted, fields whose new value differs from the live
object are set, and fields the user never wrote (server defaults, other writers' fields) are left
alone. An empty patch prints ``unchanged`` — when the annotation already holds this manifest's
text, so its text must be written the one way everywhere: ``last_applied_text`` is what apply,
``create --save-config`` and ``edit --save-config`` all record.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf.message import Message

from skiff.api import errors, kinds
from skiff.api.manifest import LAST_APPLIED, from_manifest, to_manifest
from skiff.client.client import Client


def last_applied_text(doc: dict[str, Any]) -> str:
    """The last-applied annotation's value for a manifest: compact JSON, keys sorted, non-ASCII
    escaped. Every writer of the annotation uses it: a later apply says ``unchanged`` only when
    the text is the same to the letter."""
    return json.dumps(doc, separators=(",", ":"), sort_keys=True)


def applied_form(obj: Message, namespace: str) -> dict[str, Any]:
    doc = to_manifest(obj)
    meta = doc.setdefault("metadata", {})
    if namespace:
        meta["namespace"] = namespace
    annotations = dict(meta.get("annotations") or {})
    annotations.pop(LAST_APPLIED, None)
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    return doc


def three_way_patch(last: dict[str, Any], new: dict[str, Any], live: dict[str, Any]) -> dict[str, Any]:
    """A merge patch taking ``live`` to ``new``, deleting what ``last`` had and ``new`` dropped."""
    patch: dict[str, Any] = {}
    for key in last:
        if key not in new:
            patch[key] = None
    for key, value in new.items():
        live_value, last_value = live.get(key), last.get(key)
        if value == {} and key not in live:
            continue  # `status: {}`, `resources: {}`: an empty object the server does not keep
        if isinstance(value, dict) and isinstance(live_value, dict):
            sub = three_way_patch(last_value if isinstance(last_value, dict) else {}, value, live_value)
            if sub:
                patch[key] = sub
        elif isinstance(value, list):
            if key not in live or value != last_value:
                patch[key] = value
        elif value != live_value:
            patch[key] = value
    return patch


async def apply_object(client: Client, obj: Message, *, namespace: str, dry_run: bool = False
                       ) -> tuple[str, Message]:
    """Create or patch ``obj``; returns (created|configured|unchanged, the object)."""
    kind = kinds.of(obj)
    desired = applied_form(obj, namespace)
    annotation = last_applied_text(desired)
    # As kubectl: the object as it should be carries its own last-applied annotation, so the
    # patch sets the annotation and still removes the other annotations the last apply had.
    modified = json.loads(json.dumps(desired))
    modified["metadata"].setdefault("annotations", {})[LAST_APPLIED] = annotation
    try:
        live = await client.get(kind.message, obj.metadata.name, namespace=namespace or None)  # type: ignore[attr-defined]
    except errors.NotFound:
        created = await client.create(from_manifest(modified), namespace=namespace or None, dry_run=dry_run)
        return "created", created
    live_doc = to_manifest(live)
    last_text = (live_doc.get("metadata", {}).get("annotations") or {}).get(LAST_APPLIED, "")
    last = json.loads(last_text) if last_text else {}
    patch = three_way_patch(last, modified, live_doc)
    if not patch:
        return "unchanged", live
    patched = await client.patch(kind.message, obj.metadata.name, patch,  # type: ignore[attr-defined]
                                 namespace=namespace or None, strategic=False, dry_run=dry_run)
    return "configured", patched
