"""Subresources: `pods/log`, `pods/eviction`, `<workload>/scale` and `<anything>/status`.

Logs answer in text/plain with the kubelet's own 400 errors (`previous terminated container "app" in pod "x" not
found`); scale reads and writes `autoscaling/v1` Scale objects; status writes touch nothing but `status`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import bad_request, conflict, invalid, method_not_allowed, path_not_found
from .messages import ApiRequest, ApiResponse, parse_body, truthy
from .patching import apply_patch
from .podlogs import LogRequest
from .selectors import format_label_selector
from .store import clone, meta

if TYPE_CHECKING:
    from .api import ClusterApi

JsonObj = dict[str, Any]


def handle_subresource(api: ClusterApi, verb: str, req: ApiRequest) -> ApiResponse:
    rt, sub = req.target.rt, req.target.subresource or ""
    if rt.subresource(sub) is None:
        raise path_not_found()
    if sub == "log" and verb == "get":
        return ApiResponse(200, _logs(api, req), "text/plain")
    if sub == "eviction" and verb == "create":
        pod = api.require(req.target)
        if not api.dry_run(req):
            api.delete_object(rt, pod)
        return ApiResponse(
            201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
        )
    if sub == "scale":
        return _scale(api, verb, req)
    if sub == "status":
        return _status(api, verb, req)
    raise method_not_allowed()


def _int_param(req: ApiRequest, name: str) -> int | None:
    raw = req.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise bad_request(f'strconv.ParseInt: parsing "{raw}": invalid syntax') from None


def _checked_positive(req: ApiRequest, pod: str, name: str, minimum: int) -> int | None:
    value = _int_param(req, name)
    if value is not None and value < minimum:
        why = "must be greater than or equal to 0" if minimum == 0 else "must be greater than 0"
        raise invalid("PodLogOptions", "", pod, [(name, "FieldValueInvalid", f"Invalid value: {value}: {why}")])
    return value


def _logs(api: ClusterApi, req: ApiRequest) -> str:
    pod = api.require(req.target)
    name = str(meta(pod)["name"])
    request = LogRequest(
        container=req.query.get("container") or None,
        previous=truthy(req.query.get("previous")),
        tail_lines=_checked_positive(req, name, "tailLines", 0),
        limit_bytes=_checked_positive(req, name, "limitBytes", 1),
        timestamps=truthy(req.query.get("timestamps")),
    )
    return api.ctx.kubelet.logs(pod, request)


def scale_of(obj: JsonObj) -> JsonObj:
    m = meta(obj)
    status = obj.get("status") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {k: m[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in m},
        "spec": {"replicas": int(obj["spec"].get("replicas", 1))},
        "status": {
            "replicas": int(status.get("replicas", 0)),
            "selector": format_label_selector(obj["spec"].get("selector")),
        },
    }


def _wanted_replicas(api: ClusterApi, verb: str, req: ApiRequest, obj: JsonObj) -> int:
    """The replicas a scale update or patch asks for, after the usual concurrency and validity checks."""
    rt = req.target.rt
    body = parse_body(req.body, req.content_type)
    wanted = body if verb == "update" else apply_patch(req.content_type, scale_of(obj), body)
    sent_rv = (wanted.get("metadata") or {}).get("resourceVersion")
    if sent_rv and sent_rv != meta(obj).get("resourceVersion"):
        raise conflict(rt.group, rt.plural, str(meta(obj)["name"]))
    replicas = (wanted.get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or replicas < 0:
        why = f"Invalid value: {replicas}: must be greater than or equal to 0"
        raise invalid("Scale", "autoscaling", str(meta(obj)["name"]), [("spec.replicas", "FieldValueInvalid", why)])
    return replicas


def _scale(api: ClusterApi, verb: str, req: ApiRequest) -> ApiResponse:
    obj = api.require(req.target)
    if verb == "get":
        return ApiResponse(200, scale_of(obj))
    if verb not in ("update", "patch"):
        raise method_not_allowed()
    replicas = _wanted_replicas(api, verb, req, obj)
    if api.dry_run(req):
        return ApiResponse(200, {**scale_of(obj), "spec": {"replicas": replicas}})
    obj["spec"]["replicas"] = replicas
    stored = api.ctx.save(req.target.rt, obj)
    api.controllers.after_write(req.target.rt, stored)
    return ApiResponse(200, scale_of(api.require(req.target)))


def _status(api: ClusterApi, verb: str, req: ApiRequest) -> ApiResponse:
    obj = api.require(req.target)
    if verb == "get":
        return ApiResponse(200, api.render(req.target.rt, obj))
    body = parse_body(req.body, req.content_type)
    if verb == "update":
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be an object")
        return api.write(req, obj, body)
    if verb == "patch":
        return api.write(req, obj, apply_patch(req.content_type, clone(obj), body))
    raise method_not_allowed()
