"""`Status` errors worded like the real kube-apiserver's, raised as `ApiError` and rendered as JSON.

Clients branch on `reason` and `code` (the official client raises `ApiException` with them), and people read
`message`, so both follow the apiserver's wording: `pods "x" not found`, `Operation cannot be fulfilled on ...`.
"""

from __future__ import annotations

from typing import Any

JsonObj = dict[str, Any]

DEFAULT_USER = "system:serviceaccount:crashloop:crashloop-bot"


class ApiError(Exception):
    """An error the API answers with a `Status` body."""

    def __init__(self, code: int, reason: str, message: str, details: JsonObj | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> JsonObj:
        body: JsonObj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def qualified(group: str, plural: str) -> str:
    return f"{plural}.{group}" if group else plural


def _details(group: str, plural: str, name: str) -> JsonObj:
    details: JsonObj = {"name": name} if name else {}
    if group:
        details["group"] = group
    details["kind"] = plural
    return details


def not_found(group: str, plural: str, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{qualified(group, plural)} "{name}" not found', _details(group, plural, name))


def path_not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def already_exists(group: str, plural: str, name: str) -> ApiError:
    message = f'{qualified(group, plural)} "{name}" already exists'
    return ApiError(409, "AlreadyExists", message, _details(group, plural, name))


def conflict(group: str, plural: str, name: str) -> ApiError:
    message = (
        f'Operation cannot be fulfilled on {qualified(group, plural)} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    return ApiError(409, "Conflict", message, _details(group, plural, name))


def forbidden(group: str, resource: str, name: str, verb: str, namespace: str, user: str = DEFAULT_USER) -> ApiError:
    """RBAC's denial, e.g. `pods "x" is forbidden: User "..." cannot get resource "pods/log" in API group ""...`."""
    plural = resource.split("/")[0]
    subject = f'{qualified(group, plural)} "{name}"' if name else qualified(group, plural)
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    message = (
        f'{subject} is forbidden: User "{user}" cannot {verb} resource "{resource}" in API group "{group}" {scope}'
    )
    return ApiError(403, "Forbidden", message, _details(group, plural, name))


def admission_forbidden(group: str, plural: str, name: str, why: str) -> ApiError:
    return ApiError(
        403, "Forbidden", f'{qualified(group, plural)} "{name}" is forbidden: {why}', _details(group, plural, name)
    )


def invalid(kind: str, group: str, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
    """422 Invalid; each cause is (field, reason e.g. FieldValueRequired, message e.g. `Required value`)."""
    texts = [f"{field}: {message}" for field, _, message in causes]
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    kind_qualified = f"{kind}.{group}" if group else kind
    details: JsonObj = {"name": name, "kind": kind, "causes": []}
    if group:
        details["group"] = group
    details["causes"] = [{"reason": r, "message": m, "field": f} for f, r, m in causes]
    return ApiError(422, "Invalid", f'{kind_qualified} "{name}" is invalid: {joined}', details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def method_not_allowed() -> ApiError:
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})


def unsupported_media_type(content_type: str, patch: bool = True) -> ApiError:
    accepted = (
        "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json"
        if patch
        else "application/json, application/yaml, application/vnd.kubernetes.protobuf"
    )
    message = f"the body of the request was in an unknown format - accepted media types include: {accepted}"
    if not content_type:
        message = "the body of the request was in an unknown format"
    return ApiError(415, "UnsupportedMediaType", message, {})


def internal_error(message: str) -> ApiError:
    return ApiError(500, "InternalError", f"Internal error occurred: {message}", {"causes": [{"message": message}]})


def for_code(code: int, group: str, resource: str, name: str, verb: str, namespace: str) -> ApiError:
    """The error an injected fault with this HTTP status answers with."""
    plural = resource.split("/")[0]
    if code == 401:
        return unauthorized()
    if code == 403:
        return forbidden(group, resource, name, verb, namespace)
    if code == 404:
        return not_found(group, plural, name)
    if code == 409:
        return conflict(group, plural, name)
    if code == 429:
        return ApiError(429, "TooManyRequests", "Too many requests, please try again later.", {"retryAfterSeconds": 1})
    if code == 504:
        return ApiError(504, "Timeout", "Timeout: request did not complete within requested timeout", {})
    if code == 503:
        return ApiError(503, "ServiceUnavailable", "the server is currently unable to handle the request", {})
    return internal_error("injected fault")
