"""The apiserver's request semantics over the store: get, list, create, update, patch, delete.

Everything a verb implies happens here under the cluster lock: selectors, representations (full, metadata-only,
Table), `dryRun=All` (validate and answer, persist nothing), optimistic concurrency on `resourceVersion`,
admission and validation, running the controllers after a write, garbage collection after a delete. HTTP
details (routing, auth, latency, faults, recording) stay in `server.py`.
"""

from __future__ import annotations

import threading
from typing import Any

from .admission import prepare_create, prepare_update
from .clock import rfc3339
from .context import ClusterContext
from .controllers import Controllers
from .deploystatus import render_deployment
from .errors import ApiError, already_exists, bad_request, conflict, method_not_allowed, not_found
from .messages import ApiRequest, ApiResponse, Target, parse_body, verb_for
from .negotiation import object_list, partial, partial_list, representation
from .patching import apply_patch
from .pods import create_pod, delete_pod, prepare_pod
from .resources import ResourceType
from .selectors import fields_match, labels_match, parse_field_selector, parse_label_selector
from .store import clone, meta
from .subresources import handle_subresource
from .tables import table
from .validation import check_body_kind, validate

JsonObj = dict[str, Any]


class ClusterApi:
    def __init__(self, ctx: ClusterContext, controllers: Controllers) -> None:
        self.ctx = ctx
        self.controllers = controllers
        self.lock = threading.RLock()

    def handle(self, request: ApiRequest) -> ApiResponse:
        with self.lock:
            try:
                self.controllers.catch_up()
                return self._dispatch(request)
            except ApiError as err:
                return ApiResponse(err.code, err.status())

    def _dispatch(self, req: ApiRequest) -> ApiResponse:
        verb = verb_for(req.method, req.target, req.query)
        if req.target.subresource:
            return handle_subresource(self, verb, req)
        handlers = {
            "get": self._get,
            "list": self._list,
            "create": self._create,
            "update": self._update,
            "patch": self._patch,
            "delete": self._delete,
        }
        if verb not in handlers:
            raise method_not_allowed()
        return handlers[verb](req)

    # -- reads -------------------------------------------------------------------------------------------

    def render(self, rt: ResourceType, obj: JsonObj) -> JsonObj:
        """An object as of now: pods get their live status, growing events their current count."""
        if rt.kind == "Pod":
            return self.ctx.kubelet.render(obj)
        if rt.kind == "Event":
            return self.ctx.recorder.render(obj)
        if rt.kind == "Deployment":
            return render_deployment(obj, self.ctx.clock.now())
        return obj

    def require(self, target: Target) -> JsonObj:
        obj = self.ctx.store.get(target.rt, target.namespace or "", target.name or "")
        if obj is None:
            raise not_found(target.rt.group, target.rt.plural, target.name or "")
        return obj

    def _get(self, req: ApiRequest) -> ApiResponse:
        obj = self.render(req.target.rt, self.require(req.target))
        wanted = representation(req.accept)
        if wanted == "Table":
            return ApiResponse(200, self._table(req, [obj]))
        return ApiResponse(200, partial(obj) if wanted.startswith("PartialObjectMetadata") else obj)

    def matching(self, req: ApiRequest) -> list[JsonObj]:
        """Rendered objects of the request's type and namespace that match its selectors."""
        rt = req.target.rt
        labels = parse_label_selector(req.query.get("labelSelector"))
        fields = parse_field_selector(req.query.get("fieldSelector"), rt.plural)
        objects = [self.render(rt, o) for o in self.ctx.store.list(rt, req.target.namespace)]
        return [o for o in objects if labels_match(labels, meta(o).get("labels")) and fields_match(fields, o)]

    def selects(self, req: ApiRequest, obj: JsonObj) -> bool:
        labels = parse_label_selector(req.query.get("labelSelector"))
        fields = parse_field_selector(req.query.get("fieldSelector"), req.target.rt.plural)
        namespace_ok = req.target.namespace is None or meta(obj).get("namespace") == req.target.namespace
        return namespace_ok and labels_match(labels, meta(obj).get("labels")) and fields_match(fields, obj)

    def _list(self, req: ApiRequest) -> ApiResponse:
        objects = self.matching(req)
        rv = self.ctx.store.resource_version
        wanted = representation(req.accept)
        if wanted == "Table":
            return ApiResponse(200, self._table(req, objects))
        if wanted.startswith("PartialObjectMetadata"):
            return ApiResponse(200, partial_list(objects, rv))
        return ApiResponse(200, object_list(req.target.rt, objects, rv))

    def _table(self, req: ApiRequest, objects: list[JsonObj]) -> JsonObj:
        include = req.query.get("includeObject") or "Metadata"
        return table(req.target.rt, objects, self.ctx.store.resource_version, self.ctx.clock.now(), include)

    # -- writes ------------------------------------------------------------------------------------------

    def dry_run(self, req: ApiRequest) -> bool:
        value = req.query.get("dryRun")
        if value and value != "All":
            raise bad_request(f'Invalid dry run value: "{value}"')
        return value == "All"

    def _check_namespace(self, req: ApiRequest, obj: JsonObj) -> None:
        rt, m = req.target.rt, meta(obj)
        if not rt.namespaced:
            return
        if m.get("namespace") and m["namespace"] != req.target.namespace:
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        m["namespace"] = req.target.namespace
        if not self.ctx.store.exists(self.ctx.type("", "namespaces"), "", str(req.target.namespace)):
            raise not_found("", "namespaces", str(req.target.namespace))

    def _create(self, req: ApiRequest) -> ApiResponse:
        rt = req.target.rt
        body = parse_body(req.body, req.content_type)
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be an object")
        check_body_kind(rt, body)
        self._check_namespace(req, body)
        obj = prepare_create(self.ctx, rt, body)
        validate(rt, obj, None)
        name = str(meta(obj)["name"])
        if self.ctx.store.exists(rt, req.target.namespace or "", name):
            raise already_exists(rt.group, rt.plural, name)
        if self.dry_run(req):
            if rt.kind == "Pod":
                obj = prepare_pod(self.ctx, obj)
            return ApiResponse(201, self.render(rt, self.ctx.store.stamp_new(rt, obj)))
        stored = self.create_object(rt, obj)
        return ApiResponse(201, self.render(rt, stored))

    def create_object(self, rt: ResourceType, obj: JsonObj) -> JsonObj:
        """Persist a prepared, validated object and let the cluster react to it."""
        if rt.kind == "Pod":
            stored = create_pod(self.ctx, obj)
            self.controllers.after_write(rt, stored)
            return stored
        stored = self.ctx.store.insert(rt, obj)
        if rt.kind == "Namespace":
            self._populate_namespace(str(meta(stored)["name"]))
        self.controllers.after_write(rt, stored)
        return stored

    def _populate_namespace(self, namespace: str) -> None:
        """The ServiceAccount controller and the root-CA publisher fill every new namespace."""
        sa = {"metadata": {"name": "default", "namespace": namespace}}
        self.ctx.store.insert(self.ctx.type("", "serviceaccounts"), sa)
        ca = {
            "metadata": {"name": "kube-root-ca.crt", "namespace": namespace},
            "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\nMIIDBTCCAe2gAwIBAgIIsim\n-----END CERTIFICATE-----\n"},
        }
        self.ctx.store.insert(self.ctx.type("", "configmaps"), ca)

    def _update(self, req: ApiRequest) -> ApiResponse:
        old = self.require(req.target)
        body = parse_body(req.body, req.content_type)
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be an object")
        return self.write(req, old, body)

    def _patch(self, req: ApiRequest) -> ApiResponse:
        old = self.require(req.target)
        body = parse_body(req.body, req.content_type)
        return self.write(req, old, apply_patch(req.content_type, clone(old), body))

    def write(self, req: ApiRequest, old: JsonObj, new: JsonObj) -> ApiResponse:
        """The common tail of update and patch, for the object itself or its `status`."""
        rt, sub = req.target.rt, req.target.subresource or ""
        check_body_kind(rt, new)
        name = meta(new).get("name")
        if name != req.target.name:
            raise bad_request(f"the name of the object ({name}) does not match the name on the URL ({req.target.name})")
        self._check_namespace(req, new)
        sent_rv = meta(new).get("resourceVersion")
        if sent_rv and sent_rv != meta(old).get("resourceVersion"):
            raise conflict(rt.group, rt.plural, str(name))
        obj = prepare_update(self.ctx, rt, new, old, sub)
        if sub != "status":
            validate(rt, obj, old)
        if self.dry_run(req):
            return ApiResponse(200, self.render(rt, obj))
        stored = self.ctx.save(rt, obj)
        if sub != "status":
            self.controllers.after_write(rt, stored)
        return ApiResponse(200, self.render(rt, stored))

    def _delete(self, req: ApiRequest) -> ApiResponse:
        rt = req.target.rt
        obj = self.require(req.target)
        options = parse_body(req.body, "application/json") if req.body else {}
        self._check_preconditions(rt, obj, options.get("preconditions") or {})
        policy = req.query.get("propagationPolicy") or options.get("propagationPolicy") or "Background"
        gone = self.render(rt, clone(obj)) if rt.kind == "Pod" else None  # answered with its last status
        if not (self.dry_run(req) or "All" in (options.get("dryRun") or [])):
            self.delete_object(rt, obj, orphan=policy == "Orphan")
        if gone is not None:
            grace = int(obj["spec"].get("terminationGracePeriodSeconds", 30))
            meta(gone).update(deletionTimestamp=rfc3339(self.ctx.clock.now() + grace), deletionGracePeriodSeconds=grace)
            return ApiResponse(200, gone)
        details = {"name": meta(obj)["name"], "group": rt.group, "kind": rt.plural, "uid": meta(obj)["uid"]}
        if not rt.group:
            details.pop("group")
        return ApiResponse(
            200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}
        )

    def _check_preconditions(self, rt: ResourceType, obj: JsonObj, preconditions: JsonObj) -> None:
        m = meta(obj)
        for key, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
            wanted = preconditions.get(key)
            if wanted and wanted != m.get(key):
                err = conflict(rt.group, rt.plural, str(m["name"]))
                err.message = (
                    f'Operation cannot be fulfilled on {rt.plural} "{m["name"]}": Precondition failed: '
                    f"{label} in precondition: {wanted}, {label} in object meta: {m.get(key)}"
                )
                raise err

    def delete_object(self, rt: ResourceType, obj: JsonObj, orphan: bool = False) -> None:
        m = meta(obj)
        if rt.kind == "Pod":
            delete_pod(self.ctx, obj)
        elif rt.kind == "Namespace":
            for other in reversed(self.ctx.registry.types):  # workloads before their pods
                if other.namespaced:
                    for item in self.ctx.store.list(other, str(m["name"])):
                        self.delete_object(other, item)
            self.ctx.store.remove(rt, "", str(m["name"]))
            return
        else:
            self.ctx.store.remove(rt, str(m.get("namespace", "")), str(m["name"]))
        self.controllers.after_delete(rt, obj, orphan)
