"""Decoding of the protobuf bodies kubectl's typed commands send (`kubectl create secret|configmap|namespace|sa`).

kubectl 1.32 encodes objects it builds itself (not from a manifest) as Kubernetes protobuf: the `k8s\\0` magic,
a `runtime.Unknown` envelope, then the object message. We decode the few kinds an operator creates this way while
fixing a crash loop, into the same JSON the apiserver would store; anything else gets 415 like an unknown format.
"""

from __future__ import annotations

import base64
from typing import Any

JsonObj = dict[str, Any]
Field = tuple[str, str]  # (JSON name, type): string, bytes, bool, map, bytesmap, strings, or a message name

MAGIC = b"k8s\x00"
_SCHEMAS: dict[str, dict[int, Field]] = {
    "Unknown": {1: ("typeMeta", "TypeMeta"), 2: ("raw", "bytes")},
    "TypeMeta": {1: ("apiVersion", "string"), 2: ("kind", "string")},
    "ObjectMeta": {
        1: ("name", "string"),
        2: ("generateName", "string"),
        3: ("namespace", "string"),
        11: ("labels", "map"),
        12: ("annotations", "map"),
        14: ("finalizers", "strings"),
    },
    "Secret": {
        1: ("metadata", "ObjectMeta"),
        2: ("data", "bytesmap"),
        3: ("type", "string"),
        4: ("stringData", "map"),
        5: ("immutable", "bool"),
    },
    "ConfigMap": {
        1: ("metadata", "ObjectMeta"),
        2: ("data", "map"),
        3: ("binaryData", "bytesmap"),
        4: ("immutable", "bool"),
    },
    "Namespace": {1: ("metadata", "ObjectMeta"), 2: ("spec", "NamespaceSpec")},
    "NamespaceSpec": {1: ("finalizers", "strings")},
    "ServiceAccount": {
        1: ("metadata", "ObjectMeta"),
        3: ("imagePullSecrets", "LocalObjectReference[]"),
        4: ("automountServiceAccountToken", "bool"),
    },
    "LocalObjectReference": {1: ("name", "string")},
}


class ProtobufError(ValueError):
    """A body that is not a Kubernetes protobuf object we can read."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while pos < len(data):
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not byte & 0x80:
            return value, pos
    raise ProtobufError("truncated varint")


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs of one message; length-delimited values stay bytes."""
    fields: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            fields.append((number, value))
        elif wire == 2:
            length, pos = _varint(data, pos)
            fields.append((number, data[pos : pos + length]))
            pos += length
        else:
            pos += {1: 8, 5: 4}.get(wire, len(data))
    return fields


def _entry(raw: bytes) -> tuple[str, bytes]:
    parts = dict(_fields(raw))
    key, value = parts.get(1, b""), parts.get(2, b"")
    return (key.decode() if isinstance(key, bytes) else str(key)), (value if isinstance(value, bytes) else b"")


def _put(obj: JsonObj, name: str, kind: str, value: int | bytes) -> None:
    if isinstance(value, int):
        obj[name] = bool(value) if kind == "bool" else value
    elif kind in ("map", "bytesmap"):
        key, raw = _entry(value)
        obj.setdefault(name, {})[key] = raw.decode() if kind == "map" else base64.b64encode(raw).decode()
    elif kind == "strings":
        obj.setdefault(name, []).append(value.decode())
    elif kind.endswith("[]"):
        obj.setdefault(name, []).append(decode_message(value, kind[:-2]))
    elif kind in _SCHEMAS:
        obj[name] = decode_message(value, kind)
    else:
        obj[name] = value.decode() if kind == "string" else base64.b64encode(value).decode()


def decode_message(data: bytes, message: str) -> JsonObj:
    schema = _SCHEMAS[message]
    obj: JsonObj = {}
    for number, value in _fields(data):
        if number in schema:
            _put(obj, *schema[number], value)
    return {k: v for k, v in obj.items() if v != ""}  # Go writes empty strings; JSON omits them


def decode(body: bytes) -> JsonObj:
    """The JSON form of a `k8s\\0`-prefixed protobuf object of a supported kind."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing the k8s protobuf magic")
    envelope = decode_message(body[len(MAGIC) :], "Unknown")
    type_meta = envelope.get("typeMeta") or {}
    kind = str(type_meta.get("kind", ""))
    if kind not in ("Secret", "ConfigMap", "Namespace", "ServiceAccount"):
        raise ProtobufError(f"protobuf bodies of kind {kind!r} are not supported")
    obj = decode_message(base64.b64decode(envelope.get("raw", "")), kind)
    return {"apiVersion": type_meta.get("apiVersion", "v1"), "kind": kind, **obj}
