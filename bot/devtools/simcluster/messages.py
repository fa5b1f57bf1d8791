"""The request and response of one API call, as the HTTP layer hands them to the cluster and gets them back.

Kept apart from HTTP so the same calls can be made in-process (the admin Python API) and so the API semantics can
be tested without a server.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from . import protobuf
from .errors import bad_request, unsupported_media_type
from .protobuf import ProtobufError
from .resources import ResourceType

JsonObj = dict[str, Any]


@dataclass(frozen=True)
class Target:
    rt: ResourceType
    namespace: str | None
    name: str | None = None
    subresource: str | None = None


@dataclass(frozen=True)
class ApiRequest:
    method: str
    target: Target
    query: Mapping[str, str]
    body: bytes = b""
    content_type: str = ""
    accept: str = ""


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: JsonObj | str
    content_type: str = "application/json"


def truthy(value: str | None) -> bool:
    """Query booleans arrive as `true`, `True` or `1` depending on the client."""
    return (value or "").strip().lower() in ("true", "1", "yes")


def verb_for(method: str, target: Target, query: Mapping[str, str]) -> str:
    if method == "GET":
        if truthy(query.get("watch")):
            return "watch"
        return "get" if target.name else "list"
    if method == "DELETE":
        return "delete" if target.name else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


def parse_body(body: bytes, content_type: str) -> Any:
    """A JSON, YAML or (for a few kinds) protobuf request body; 415 for anything else."""
    media = content_type.split(";")[0].strip().lower()
    if media == "application/vnd.kubernetes.protobuf":
        try:
            return protobuf.decode(body)
        except ProtobufError:
            raise unsupported_media_type(content_type, patch=False) from None
    if media and not (media.endswith("json") or "yaml" in media):
        raise unsupported_media_type(content_type, patch=False)
    if not body:
        raise bad_request("the body of the request was empty")
    try:
        if "yaml" in media and "apply-patch" not in media:
            return yaml.safe_load(body)
        return json.loads(body)
    except (ValueError, yaml.YAMLError) as exc:
        raise bad_request(f"error decoding request body: {exc}") from None
