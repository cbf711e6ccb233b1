"""JSON patch (RFC 6902), JSON merge patch (RFC 7386) and Kubernetes' strategic merge patch, on
manifest dicts.

A JSON patch is a list of operations (add, remove, replace, move, copy, test), each at a JSON
pointer (``/spec/containers/0/image``; ``~1`` is ``/`` and ``~0`` is ``~`` inside a token; ``-``
appends to a list). The operations apply in order to a copy, so a failing one leaves nothing half
done, and its error names the operation's place in the list, its op, its path and what is wrong.

A merge patch replaces lists whole. A strategic merge patch merges the lists that Kubernetes
marks with a patch merge key — containers by ``name``, ports by ``containerPort``, volume mounts
by ``mountPath``, conditions by ``type``, ... — element by element, and honours the directives
``$patch: delete`` (remove the element) and ``$patch: replace``; ``$deleteFromPrimitiveList/<field>``
removes the values it lists from a list of primitives (how a controller takes one finalizer off).
Lists not in the table are replaced, as in Kubernetes.
"""

from __future__ import annotations

import copy
import json
from typing import Any

# field name -> merge key, for the lists Kubernetes merges by key (patchStrategy:"merge").
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "conditions": "type",
    "ownerReferences": "uid",
    "topologySpreadConstraints": "topologyKey",
    "addresses": "type",
    "taints": "key",
    "resourceClaims": "name",
}
# Lists of primitives that strategic merge unions (patchStrategy:"merge" on a []string).
MERGED_SCALAR_LISTS = {"finalizers"}
# Ports are keyed by containerPort in a pod, by port in a Service.
PORT_KEYS = {"containerPort", "port"}


class PatchError(ValueError):
    """A patch that cannot be applied."""


JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
PATCH_TYPES = {"json": JSON_PATCH, "merge": MERGE_PATCH, "strategic": STRATEGIC_PATCH}
"""kubectl's ``--type`` names of the three patch kinds, and the media type each is sent as."""
JSON_PATCH_OPS = ("add", "remove", "replace", "move", "copy", "test")


def patch_kind(patch_type: str) -> str:
    """``json``, ``merge`` or ``strategic`` for a ``--type`` name or media type ("" is strategic)."""
    if not patch_type:
        return "strategic"
    for name, media_type in PATCH_TYPES.items():
        if patch_type in (name, media_type):
            return name
    raise PatchError(f'patch type "{patch_type}" is not supported: use {JSON_PATCH}, {MERGE_PATCH} or '
                     f"{STRATEGIC_PATCH}")


def decode_patch(patch_type: str, text: str | bytes) -> Any:
    """The patch of a kind from its JSON text: a list of operations for json, an object otherwise."""
    kind = patch_kind(patch_type)
    try:
        body = json.loads(text or ("[]" if kind == "json" else "{}"))
    except ValueError as exc:
        raise PatchError(f"the patch is not valid JSON: {exc}") from None
    if kind == "json" and not isinstance(body, list):
        raise PatchError("a json patch must be a JSON list of operations")
    if kind != "json" and not isinstance(body, dict):
        raise PatchError("the patch must be a JSON object")
    return body


def apply_patch(patch_type: str, target: Any, body: Any) -> Any:
    """``body`` (decoded) applied to a copy of ``target`` as the patch kind says."""
    kind = patch_kind(patch_type)
    if kind == "json":
        return json_patch(target, body)
    if kind == "merge":
        return merge_patch(target, body)
    return strategic_merge_patch(target, body)


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902: ``operations`` applied in order to a deep copy of ``target``, which is returned."""
    if not isinstance(operations, list):
        raise PatchError("a json patch must be a list of operations")
    doc = copy.deepcopy(target)
    for index, operation in enumerate(operations):
        try:
            doc = _json_patch_op(doc, operation)
        except PatchError as exc:
            where = f"{operation.get('op')} {operation.get('path')}" if isinstance(operation, dict) else "?"
            raise PatchError(f"json patch operation {index} ({where}): {exc}") from None
    return doc


def _json_patch_op(doc: Any, operation: Any) -> Any:
    if not isinstance(operation, dict):
        raise PatchError("an operation must be an object with op and path")
    op, path = operation.get("op"), operation.get("path")
    if op not in JSON_PATCH_OPS:
        raise PatchError(f'unknown op {op!r}: must be one of {", ".join(JSON_PATCH_OPS)}')
    if not isinstance(path, str):
        raise PatchError('missing "path"')
    tokens = _pointer(path)
    if op in ("add", "replace", "test") and "value" not in operation:
        raise PatchError(f'missing "value" for {op}')
    if op == "test":
        if not _json_equal(_get(doc, tokens), operation["value"]):
            raise PatchError("test failed: the value differs")
        return doc
    if op == "remove":
        return _remove(doc, tokens)
    if op == "replace":
        return _replace(doc, tokens, copy.deepcopy(operation["value"]))
    if op == "add":
        return _add(doc, tokens, copy.deepcopy(operation["value"]))
    source = operation.get("from")
    if not isinstance(source, str):
        raise PatchError(f'missing "from" for {op}')
    from_tokens = _pointer(source)
    value = copy.deepcopy(_get(doc, from_tokens))
    if op == "move":
        if tokens[:len(from_tokens)] == from_tokens and len(tokens) > len(from_tokens):
            raise PatchError(f"cannot move {source} into itself")
        doc = _remove(doc, from_tokens)
    return _add(doc, tokens, value)


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"path {path!r} must start with /")
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def _index(container: list[Any], token: str, *, appending: bool = False) -> int:
    if appending and token == "-":
        return len(container)
    if not token.isdigit() or (token != "0" and token.startswith("0")):
        raise PatchError(f"{token!r} is not a list index")
    index = int(token)
    if index > len(container) or (index == len(container) and not appending):
        raise PatchError(f"index {index} is out of range (the list has {len(container)} items)")
    return index


def _parent(doc: Any, tokens: list[str]) -> Any:
    parent = _get(doc, tokens[:-1])
    if not isinstance(parent, (dict, list)):
        raise PatchError(f"/{'/'.join(tokens[:-1])} is neither an object nor a list")
    return parent


def _get(doc: Any, tokens: list[str]) -> Any:
    current = doc
    for depth, token in enumerate(tokens):
        if isinstance(current, dict) and token in current:
            current = current[token]
        elif isinstance(current, list):
            current = current[_index(current, token)]
        else:
            raise PatchError(f"the path does not exist (no {token!r} at /{'/'.join(tokens[:depth])})")
    return current


def _add(doc: Any, tokens: list[str], value: Any) -> Any:
    if not tokens:
        return value
    parent, last = _parent(doc, tokens), tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    else:
        parent.insert(_index(parent, last, appending=True), value)
    return doc


def _replace(doc: Any, tokens: list[str], value: Any) -> Any:
    _get(doc, tokens)  # must exist
    if not tokens:
        return value
    parent, last = _parent(doc, tokens), tokens[-1]
    parent[last if isinstance(parent, dict) else _index(parent, last)] = value
    return doc


def _remove(doc: Any, tokens: list[str]) -> Any:
    if not tokens:
        return None
    _get(doc, tokens)  # must exist
    parent, last = _parent(doc, tokens), tokens[-1]
    if isinstance(parent, dict):
        del parent[last]
    else:
        del parent[_index(parent, last)]
    return doc


def _json_equal(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1, and 1 equals 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Kubernetes' strategic merge patch for the API's kinds."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result = dict(target) if isinstance(target, dict) else {}
    _delete_from_primitive_lists(result, patch)
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and isinstance(result.get(key), list):
            order = patch.get(f"$setElementOrder/{key}")
            result[key] = _merge_list(key, result[key], value, order if isinstance(order, list) else None)
        else:
            merged = strategic_merge_patch(result.get(key), value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
    return result


DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList/"


def _delete_from_primitive_lists(result: dict[str, Any], patch: dict[str, Any]) -> None:
    """Apply the patch's ``$deleteFromPrimitiveList/<field>: [values]`` directives to ``result``.

    As in Kubernetes, they are applied before the rest of the patch is merged; a list left empty
    goes (the API's lists of primitives are ``omitempty``).
    """
    for key, values in patch.items():
        if not key.startswith(DELETE_FROM_PRIMITIVE_LIST):
            continue
        field = key.removeprefix(DELETE_FROM_PRIMITIVE_LIST)
        if not isinstance(values, list):
            raise PatchError(f"the value of {key} must be a list, got {values!r}")
        current = result.get(field)
        if not isinstance(current, list):
            continue
        kept = [v for v in current if v not in values]
        if kept:
            result[field] = kept
        else:
            result.pop(field)


def _merge_key(field: str, items: list[Any]) -> str | None:
    if field in MERGE_KEYS:
        return MERGE_KEYS[field]
    if field == "ports":
        for item in items:
            if isinstance(item, dict):
                for key in PORT_KEYS:
                    if key in item:
                        return key
    return None


def _merge_list(field: str, current: list[Any], patch: list[Any], order: list[Any] | None = None) -> list[Any]:
    """``patch`` merged into ``current``; ``order`` is a ``$setElementOrder/<field>`` directive (the
    order the client wants, as kubectl apply sends it), else the patch's own order counts."""
    if field in MERGED_SCALAR_LISTS:
        merged = current + [v for v in patch if v not in current]
        return _element_order(merged, order if order is not None else patch, current, lambda v: v)
    key = _merge_key(field, [*patch, *current])
    if key is None or not all(isinstance(v, dict) for v in patch):
        if any(isinstance(v, dict) and v.get("$patch") == "replace" for v in patch):
            return [v for v in patch if not (isinstance(v, dict) and "$patch" in v)]
        return copy.deepcopy(patch)
    result = [copy.deepcopy(v) for v in current]
    for item in patch:
        if item.get("$patch") == "replace":
            return [copy.deepcopy({k: v for k, v in p.items() if k != "$patch"}) for p in patch
                    if p.get("$patch") != "replace"]
        if key not in item:
            raise PatchError(f"map: {item} does not contain declared merge key: {key}")
        index = next((i for i, v in enumerate(result) if isinstance(v, dict) and v.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                result.pop(index)
            continue
        if index is None:
            result.append({k: v for k, v in copy.deepcopy(item).items() if k != "$patch"})
        else:
            result[index] = strategic_merge_patch(result[index], item)
    kept = [v for v in result if any(isinstance(c, dict) and c.get(key) == v.get(key) for c in current)]
    named = order if order is not None else [p for p in patch if "$patch" not in p]
    return _element_order(result, [n for n in named if isinstance(n, dict)], kept, lambda v: v.get(key))


def _element_order(merged: list[Any], patch: list[Any], original: list[Any], ident: Any) -> list[Any]:
    """The order Kubernetes gives a merged list (strategicpatch's normalizeElementOrder): the
    elements the patch names in the patch's order, the others in their original order, merged so
    that an element the patch adds comes before the original elements that follow it. Adding a
    container ``b`` to ``[a]`` gives ``[b, a]``, as ``kubectl patch`` does."""
    patch_ids = [ident(p) for p in patch]
    original_ids = [ident(o) for o in original]
    named = sorted((m for m in merged if ident(m) in patch_ids), key=lambda m: patch_ids.index(ident(m)))
    others = [m for m in merged if ident(m) not in patch_ids]
    out: list[Any] = []
    i = j = 0
    while i < len(others) or j < len(named):
        if j >= len(named) or (i < len(others) and _before(ident(others[i]), ident(named[j]), original_ids)):
            out.append(others[i])
            i += 1
        else:
            out.append(named[j])
            j += 1
    return out


def _before(left: Any, right: Any, order: list[Any]) -> bool:
    """``left`` came before ``right`` in the original list (both must be in it: mergeSortedSlice)."""
    return left in order and right in order and order.index(left) < order.index(right)
