"""Manifests (plain dicts from YAML/JSON) to typed protobuf messages and back.

The walk is driven by the message descriptors, so every kind is handled by the same ~100 lines:
each JSON key is looked up by the field's JSON name (Kubernetes' camelCase), and every problem is
reported with the full field path (``spec.template.spec.containers[0].ports[0].containerPort``),
which is what makes an unknown field or a wrong type an error a person can act on.

Kubernetes' JSON conventions are kept where protobuf's own JSON mapping differs from them:
int64 values are JSON numbers (not strings), ``bytes`` are base64 strings (Secret data),
``IntOrString`` is a bare number or string, ``google.protobuf.Struct`` is any JSON object, a
quantity (a field marked ``[(quantity) = true]``) is a string that a manifest may also give as a bare
number (``example.com/dongle: 3`` loads as ``"3"``, as Kubernetes serialises it), and a
``null`` is the same as an absent field. Every scalar field of the API is proto3 ``optional``, so
an explicit zero or ``false`` survives the round trip.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from skiff.api.v1 import meta_pb2

M = TypeVar("M", bound=Message)

_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1, "int32"),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1, "int64"),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1, "uint32"),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1, "uint64"),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1, "int32"),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1, "int64"),
}
_INT_OR_STRING = "skiff.api.v1.IntOrString"
_STRUCT = "google.protobuf.Struct"


class DecodeError(ValueError):
    """A manifest that does not fit the typed API; ``path`` names the offending field."""

    def __init__(self, path: str, detail: str, *, unknown: bool = False) -> None:
        if unknown:
            text = f'unknown field "{path}"'
        else:
            text = f"{path}: {detail}" if path else detail
        super().__init__(text)
        self.path = path
        self.detail = detail


_UNKNOWN_FIELDS: ContextVar[list[str] | None] = ContextVar("unknown_fields", default=None)


def from_dict(cls: type[M], data: Mapping[str, Any], *, path: str = "", unknown_fields: list[str] | None = None) -> M:
    """Build a ``cls`` message from a manifest dict; raise DecodeError naming the field path.
    With ``unknown_fields`` (kubectl's ``--validate=warn|ignore``) an unknown field is dropped and
    its path appended there instead; a value of the wrong type is an error all the same."""
    msg = cls()
    token = _UNKNOWN_FIELDS.set(unknown_fields)
    try:
        _fill(msg, data, path)
    finally:
        _UNKNOWN_FIELDS.reset(token)
    return msg


def to_dict(msg: Message) -> dict[str, Any]:
    """The manifest form of a message: only set fields, Kubernetes' camelCase names."""
    out: dict[str, Any] = {}
    for field, value in msg.ListFields():
        out[field.json_name] = _field_to_json(field, value)
    return out


# ---- decoding ----


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _fill(msg: Message, data: object, path: str) -> None:
    desc: Any = msg.DESCRIPTOR
    if desc.full_name == _STRUCT:
        if not isinstance(data, Mapping):
            raise DecodeError(path, f"expected an object, got {_describe(data)}")
        json_format.ParseDict(dict(data), msg)
        return
    if not isinstance(data, Mapping):
        raise DecodeError(path, f"expected an object, got {_describe(data)}")
    by_json = _json_fields(desc)
    for key, value in data.items():
        if not isinstance(key, str):
            raise DecodeError(path, f"field names must be strings, got {key!r}")
        field = by_json.get(key)
        if field is None:
            dropped = _UNKNOWN_FIELDS.get()
            if dropped is None:
                raise DecodeError(_join(path, key), "unknown field", unknown=True)
            dropped.append(_join(path, key))
            continue
        if value is None:
            continue
        _set_field(msg, field, value, _join(path, key))


_JSON_FIELDS: dict[str, dict[str, FieldDescriptor]] = {}


def _json_fields(desc: Descriptor) -> dict[str, FieldDescriptor]:
    fields = _JSON_FIELDS.get(desc.full_name)
    if fields is None:
        fields = {f.json_name: f for f in desc.fields}
        _JSON_FIELDS[desc.full_name] = fields
    return fields


def _map_value_field(field: FieldDescriptor) -> FieldDescriptor:
    entry: Any = field.message_type
    return entry.fields_by_name["value"]  # type: ignore[no-any-return]


_QUANTITY_FIELDS: dict[str, bool] = {}


def _is_quantity(field: FieldDescriptor) -> bool:
    """Whether a field (for a map: its values) holds resource.Quantity strings."""
    marked = _QUANTITY_FIELDS.get(field.full_name)
    if marked is None:
        marked = bool(field.GetOptions().Extensions[meta_pb2.quantity])
        _QUANTITY_FIELDS[field.full_name] = marked
    return marked


def _is_map(field: FieldDescriptor) -> bool:
    mt = field.message_type
    return bool(mt is not None and mt.GetOptions().map_entry)


def _set_field(msg: Message, field: FieldDescriptor, value: object, path: str) -> None:
    if _is_map(field):
        _set_map(msg, field, value, path)
    elif field.is_repeated:
        if not isinstance(value, list):
            raise DecodeError(path, f"expected an array, got {_describe(value)}")
        target = getattr(msg, field.name)
        for i, item in enumerate(value):
            item_path = f"{path}[{i}]"
            if field.message_type is not None:
                _fill_message(target.add(), item, item_path)
            else:
                if item is None:
                    raise DecodeError(item_path, "null is not allowed in this list")
                target.append(_scalar(field, item, item_path))
    elif field.message_type is not None:
        _fill_message(getattr(msg, field.name), value, path)
    elif _is_quantity(field):
        setattr(msg, field.name, _quantity(value, path))
    else:
        setattr(msg, field.name, _scalar(field, value, path))


def _fill_message(target: Message, value: object, path: str) -> None:
    if target.DESCRIPTOR.full_name == _INT_OR_STRING:
        _fill_int_or_string(target, value, path)
        return
    target.SetInParent()
    _fill(target, value if value is not None else {}, path)


def _fill_int_or_string(target: Any, value: object, path: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | str | float):
        raise DecodeError(path, f"expected an integer or a string, got {_describe(value)}")
    if isinstance(value, float):
        if not value.is_integer():
            raise DecodeError(path, f"expected an integer or a string, got {value}")
        value = int(value)
    if isinstance(value, int):
        target.int_val = value
    else:
        target.str_val = value


def _set_map(msg: Message, field: FieldDescriptor, value: object, path: str) -> None:
    if not isinstance(value, Mapping):
        raise DecodeError(path, f"expected an object, got {_describe(value)}")
    target = getattr(msg, field.name)
    value_field = _map_value_field(field)
    quantity = _is_quantity(field)
    for key, item in value.items():
        if not isinstance(key, str):
            raise DecodeError(path, f"keys must be strings, got {_describe(key)} {key!r}")
        item_path = f"{path}[{key}]"
        if item is None:
            raise DecodeError(item_path, "expected a string, got null")
        if value_field.message_type is not None:
            _fill_message(target[key], item, item_path)
        elif quantity:
            target[key] = _quantity(item, item_path)
        else:
            target[key] = _scalar(value_field, item, item_path)


def _scalar(field: FieldDescriptor, value: object, path: str) -> Any:
    t = field.type
    if t == FieldDescriptor.TYPE_STRING:
        if not isinstance(value, str):
            raise DecodeError(path, f"expected a string, got {_describe(value)} {_show(value)}")
        return value
    if t == FieldDescriptor.TYPE_BOOL:
        if not isinstance(value, bool):
            raise DecodeError(path, f"expected a boolean, got {_describe(value)} {_show(value)}")
        return value
    if t in _INT_RANGES:
        return _integer(t, value, path)
    if t == FieldDescriptor.TYPE_BYTES:
        return _base64(value, path)
    if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DecodeError(path, f"expected a number, got {_describe(value)} {_show(value)}")
        return float(value)
    raise DecodeError(path, f"unsupported field type {t}")  # pragma: no cover - API uses none else


def _quantity(value: object, path: str) -> str:
    """A resource.Quantity: kept as its string; a bare number becomes the string Kubernetes writes."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DecodeError(path, f"expected a quantity (string or number), got {_describe(value)} {_show(value)}")
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _integer(t: int, value: object, path: str) -> int:
    low, high, name = _INT_RANGES[t]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DecodeError(path, f"expected an integer ({name}), got {_describe(value)} {_show(value)}")
    if isinstance(value, float):
        if not value.is_integer():
            raise DecodeError(path, f"expected an integer ({name}), got {value}")
        value = int(value)
    if not low <= value <= high:
        raise DecodeError(path, f"value {value} is out of range for {name}")
    return value


def _base64(value: object, path: str) -> bytes:
    if not isinstance(value, str):
        raise DecodeError(path, f"expected a base64 string, got {_describe(value)}")
    try:
        return base64.b64decode(value.encode(), validate=True)
    except (binascii.Error, ValueError):
        raise DecodeError(path, "illegal base64 data") from None


# ---- encoding ----


def _field_to_json(field: FieldDescriptor, value: Any) -> Any:
    if _is_map(field):
        value_field = _map_value_field(field)
        return {k: _value_to_json(value_field, v) for k, v in value.items()}
    if field.is_repeated:
        return [_value_to_json(field, v) for v in value]
    return _value_to_json(field, value)


def _value_to_json(field: FieldDescriptor, value: Any) -> Any:
    if field.message_type is not None:
        name = field.message_type.full_name
        if name == _INT_OR_STRING:
            return int_or_string(value)
        if name == _STRUCT:
            return json_format.MessageToDict(value)
        return to_dict(value)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return base64.b64encode(value).decode()
    return value


def int_or_string(value: Any) -> int | str | None:
    """The bare value of an IntOrString message (None when unset)."""
    if value.HasField("str_val"):
        return str(value.str_val)
    if value.HasField("int_val"):
        return int(value.int_val)
    return None
