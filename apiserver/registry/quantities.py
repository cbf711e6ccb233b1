"""Every resource.Quantity of an object, read the way Kubernetes reads it while decoding a body.

Kubernetes parses a quantity in ``Quantity.UnmarshalJSON`` (surrounding whitespace trimmed, then
``ParseQuantity``), so a malformed one fails the decoding of the whole request — a BadRequest
``<Kind> in version "v1" cannot be handled as a <Kind>: <ParseQuantity's error>`` — before any
defaulting or validation, whichever field holds it (container resources, an emptyDir's sizeLimit,
a claim's requests, a node's capacity, a pod's overhead...). :func:`check_quantities` is that one
read for skiff: it walks the fields the API marks ``[(quantity) = true]`` (a field, or a map's
values), guided by the message descriptors, and raises the first :class:`QuantityError`.
A value padded with whitespace is accepted and stored trimmed, as Kubernetes keeps the parsed one.
"""

from __future__ import annotations

import functools
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from skiff.api.quantity import parse_quantity
from skiff.api.v1 import meta_pb2

__all__ = ["check_quantities"]

_QUANTITY = "quantity"
_QUANTITY_MAP = "quantity map"
_MESSAGE = "message"
_MESSAGE_MAP = "message map"


def check_quantities(msg: Message) -> None:
    """Parse every quantity in ``msg`` (trimming it in place); raise QuantityError at a bad one."""
    plan = _plan(msg.DESCRIPTOR)
    if not plan:
        return
    for field, value in msg.ListFields():
        how = plan.get(field.name)
        if how is not None:
            _check_field(msg, field, value, how)


def _check_field(msg: Message, field: FieldDescriptor, value: Any, how: str) -> None:
    if how == _QUANTITY:
        setattr(msg, field.name, _read(value))
    elif how == _QUANTITY_MAP:
        for key, item in list(value.items()):
            value[key] = _read(item)
    elif how == _MESSAGE_MAP:
        for item in value.values():
            check_quantities(item)
    elif field.is_repeated:
        for item in value:
            check_quantities(item)
    else:
        check_quantities(value)


def _read(text: str) -> str:
    """The quantity as ``UnmarshalJSON`` reads it: trimmed, then parsed (QuantityError if bad)."""
    trimmed = text.strip()
    parse_quantity(trimmed)
    return trimmed


@functools.cache
def _plan(desc: Descriptor) -> dict[str, str]:
    """The fields of ``desc`` that hold quantities, directly or in nested messages."""
    return {field.name: how for field in desc.fields if (how := _how(field)) is not None}


def _how(field: FieldDescriptor) -> str | None:
    if field.GetOptions().Extensions[meta_pb2.quantity]:
        return _QUANTITY_MAP if _is_map(field) else _QUANTITY
    target = field.message_type
    if target is None:
        return None
    if _is_map(field):
        target = target.fields_by_name["value"].message_type
        return _MESSAGE_MAP if target is not None and _holds_quantities(target) else None
    return _MESSAGE if _holds_quantities(target) else None


def _is_map(field: FieldDescriptor) -> bool:
    mt = field.message_type
    return bool(mt is not None and mt.GetOptions().map_entry)


@functools.cache
def _holds_quantities(desc: Descriptor) -> bool:
    """Whether any field of ``desc``, or of a message under it, is a quantity."""
    return _search(desc, frozenset())


def _search(desc: Descriptor, seen: frozenset[str]) -> bool:
    if desc.full_name in seen:  # a recursive type (google.protobuf.Struct) adds nothing new
        return False
    seen = seen | {desc.full_name}
    for field in desc.fields:
        if field.GetOptions().Extensions[meta_pb2.quantity]:
            return True
        target = field.message_type
        if target is not None and _is_map(field):
            target = target.fields_by_name["value"].message_type
        if target is not None and _search(target, seen):
            return True
    return False
