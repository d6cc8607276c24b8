"""The API's one schema layer: pydantic models, and spectree to read requests with them
and to write the OpenAPI document from them.

A route declares its shapes once, with `endpoint`:

    @bp.route("/teams/<int:team_id>", methods=["PATCH"])
    @requires(Role.ADMIN, manages=(Team, "team_id"))
    @endpoint(body=TeamChange, answers={200: TeamOut}, tag="teams")
    def update_team(team_id: int): ...

and reads the checked body as `request.context.json` (a pydantic model: its
`model_fields_set` says which fields a PATCH sent). A body or query that does not fit
is refused before the view runs, as RFC 9457 problem details whose `errors` point at
each field (app.api.problems). Answers are built by `answer(Model, data)` so the JSON
is what the model says, and `document()` (app.api.openapi) takes the paths of these
routes from spectree.

Routes from before this layer are still described by hand in app.api.openapi; each
moves here as it is rewritten.
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any

from flask import request, url_for
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, ValidationError
from spectree import Response, SpecTree
from spectree.model_adapter.pydantic_adapter import PydanticModelAdapter

from app.api.inputs import DEFAULT_PER_PAGE, MAX_ID, MAX_PAGE, MAX_PER_PAGE
from app.errors import DomainError

PREFIX = "/api/v1"
API_TAGS: list[str] = []


class FieldErrors(DomainError):
    """A 400 whose `errors` are problem details' objects already (detail + pointer or
    parameter)."""

    def __init__(self, errors: list[dict]):
        super().__init__("; ".join(_wording(e) for e in errors))
        self.errors = errors


class PreconditionFailed(DomainError):
    status = 412


def _wording(error: dict) -> str:
    where = error.get("parameter") or error.get("pointer", "").lstrip("/").replace("/", ".")
    return f"'{where}' {error['detail']}" if where else error["detail"]


def _pointer(location: tuple) -> str:
    return "/" + "/".join(str(part).replace("~", "~0").replace("/", "~1") for part in location)


_MESSAGES = {
    "missing": "is missing",
    "extra_forbidden": "is not a field of this object",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be a string",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "list_type": "must be an array",
    "dict_type": "must be an object",
    "model_type": "must be an object",
}


def _message(error: dict) -> str:
    """pydantic's complaint in the API's words ("'name' must not be blank")."""
    kind, message, context = error.get("type", ""), error.get("msg", "is not valid"), error.get("ctx") or {}
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    if kind == "string_too_short":
        return "must not be blank" if context.get("min_length") == 1 else f"must be at least {context['min_length']} characters"
    if kind == "string_too_long":
        return f"must be at most {context['max_length']:,} characters"
    if kind in ("greater_than_equal", "less_than_equal"):
        return f"must be {'at least' if kind == 'greater_than_equal' else 'at most'} {context.get('ge', context.get('le'))}"
    if message.startswith("Value error, "):
        return message.removeprefix("Value error, ")
    return message[:1].lower() + message[1:]


class Input(BaseModel):
    """A request body: no field it does not name, and no coercion (1 is not true, "5"
    is not 5), as read from the JSON itself."""

    model_config = ConfigDict(extra="forbid", strict=True)


def _refuse_invalid(req, resp, req_validation_error, instance, adapter=None) -> None:
    """spectree's `before` hook. The query, as spectree read it, must fit its model. The
    body is read here, from the bytes sent, whatever their content type: nothing (an
    empty object) or a JSON object that fits the route's model, strictly. Anything
    else is refused as problem details naming each field (a body's by JSON Pointer, a
    query parameter by name)."""
    from flask import current_app
    view = current_app.view_functions[request.endpoint]
    body_model = getattr(view, "_body", None)
    errors = []
    if req_validation_error is not None:
        for error in req_validation_error.errors():
            location = tuple(error.get("loc", ()))
            if location and str(location[0]) in request.args or body_model is None:
                errors.append({"detail": _message(error), "parameter": str(location[0]) if location else ""})
    if body_model is not None:
        raw = request.get_data(cache=True)
        try:
            parsed = body_model.model_validate_json(raw if raw.strip() else b"{}")
        except ValidationError as invalid:
            for error in invalid.errors():
                location = tuple(error.get("loc", ()))
                if error.get("type") in ("json_invalid", "model_type", "model_attributes_type") or not location:
                    errors.append({"detail": "The body must be a JSON object (UTF-8)."})
                else:
                    errors.append({"detail": _message(error), "pointer": _pointer(location)})
        else:
            if not errors:
                request.context = request.context._replace(json=parsed)
    if errors:
        raise FieldErrors(errors)


class _BodiesAsJson(PydanticModelAdapter):
    """spectree checks a body as the Python objects `get_json` made of it (when the
    content type says JSON, else not at all), where strict mode takes no "2026-06-01"
    for a date. A body (`Input`) is left to `_refuse_invalid`, which reads the bytes
    sent, whatever their content type; spectree still checks the query."""

    def validate_obj(self, model, value):
        if isinstance(model, type) and issubclass(model, Input):
            return None
        return super().validate_obj(model, value)


_NAMED: dict[str, type] = {}


def _schema_name(model: type) -> str:
    """A model's schema name is its class name, which must be its own: two models of one
    name would be one schema in the document, the second silently replacing the first."""
    name = model.__name__
    if _NAMED.setdefault(name, model) is not model:
        raise TypeError(f"Two API models are named {name} ({_NAMED[name].__module__} and {model.__module__}): "
                        "rename one.")
    return name


spec = SpecTree("flask", mode="strict", title="Firebreak API", version="1", validation_error_status=400,
                before=_refuse_invalid, annotations=False, model_adapter=_BodiesAsJson(),
                naming_strategy=_schema_name, nested_naming_strategy=lambda parent, child: child)


REFUSALS = {
    400: "The input is wrong: `errors` lists each problem.",
    401: "No valid bearer token (missing, unknown, revoked, expired, or its owner is deactivated).",
    403: "The token may not do this: a read-scope token on a change, or its owner lacks the role.",
    404: "Nothing has that id.",
    409: "The request conflicts with the current state (`detail` says how).",
    412: "If-Match named an ETag the object no longer has: read it again.",
    413: "The request body is larger than 512 KB.",
}


def endpoint(*, body: type[BaseModel] | None = None, query: type[BaseModel] | None = None,
             answers: Mapping[int, type | None], tag: str, refusals: tuple[int, ...] = (),
             deprecated: bool = False) -> Callable:
    """Declare a route's shapes: `body` and `query` are checked before the view runs;
    `answers` maps each status to its model (None for no body). The refusals every
    route of its kind can give (401; 403 for a change; 404 with an id in the path; 400
    with a body or query; 412 and 413 where they apply) are added to the document;
    `refusals` names others (409)."""
    codes = {f"HTTP_{status}": model for status, model in answers.items()}
    if tag not in API_TAGS:
        API_TAGS.append(tag)
    decorate = spec.validate(json=body, query=query, resp=Response(**codes), tags=[tag], deprecated=deprecated)

    def declare(view: Callable) -> Callable:
        wrapped = decorate(view)
        wrapped._refusals, wrapped._body = refusals, body
        return wrapped
    return declare


def answer(model: type[BaseModel], data: Any, status: int = 200, *, etag: bool = False, headers: dict | None = None):
    """`data` shaped by `model`: the view's answer, which spectree (`endpoint`) writes as
    JSON, knowing it is an instance of the declared model, without checking it again;
    with `etag`, its ETag (`etag_of`)."""
    shaped = model.model_validate(data)
    headers = dict(headers or {})
    if etag:
        headers["ETag"] = etag_of(shaped.model_dump(mode="json"))
    return shaped, status, headers


# --- optimistic concurrency ----------------------------------------------------------------------

def etag_of(body: dict) -> str:
    """A strong ETag of an object's JSON: it changes when anything shown changes."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return '"' + hashlib.sha256(canonical).hexdigest()[:32] + '"'


def check_if_match(model: type[BaseModel], data: Any) -> None:
    """PATCH, PUT and DELETE with If-Match go ahead only while the object is what the
    client last read: else 412, and nothing changes."""
    wanted = request.headers.get("If-Match")
    if not wanted:
        return
    current = etag_of(model.model_validate(data).model_dump(mode="json"))
    tags = [tag.strip().removeprefix("W/") for tag in wanted.split(",")]
    if "*" not in tags and current not in tags:
        raise PreconditionFailed("The object changed since you read it (its ETag is no longer the one in "
                                 "If-Match): read it again and redo your change.")


# --- pagination ------------------------------------------------------------------------------------

class PageQuery(BaseModel):
    """The one pagination of every list: `page` (from 1) and `per_page` (at most 100)."""

    model_config = ConfigDict(extra="allow")

    page: int = Field(1, ge=1, le=MAX_PAGE)
    per_page: int = Field(DEFAULT_PER_PAGE, ge=1, le=MAX_PER_PAGE)


class Links(BaseModel):
    model_config = ConfigDict(extra="forbid")

    self: str
    first: str
    last: str
    next: str | None
    prev: str | None


class Pagination(BaseModel):
    model_config = ConfigDict(extra="forbid")

    page: int
    per_page: int
    total: int
    pages: int
    links: Links


def pagination(page: int, per_page: int, total: int) -> tuple[dict, str]:
    """The `pagination` object of a list answer, and its RFC 8288 Link header."""
    pages = -(-total // per_page) if total else 0
    args = {**request.view_args, **{name: value for name, value in request.args.items(multi=True)
                                    if name not in ("page", "per_page")}}

    def at(number: int) -> str:
        return url_for(request.endpoint, **args, page=number, per_page=per_page)

    links = {"self": at(page), "first": at(1), "last": at(max(pages, 1)),
             "next": at(page + 1) if page < pages else None, "prev": at(page - 1) if 1 < page <= pages + 1 else None}
    header = ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items() if url and rel != "self")
    return {"page": page, "per_page": per_page, "total": total, "pages": pages, "links": links}, header


# --- shapes used everywhere --------------------------------------------------------------------------

def _iso(value: datetime | None) -> str | None:
    from app.api.schemas import iso
    return iso(value)


Time = Annotated[datetime, PlainSerializer(_iso, return_type=str)]


def _one_line(value: str) -> str:
    text = " ".join(value.split())
    if not text:
        raise ValueError("must not be blank")
    return text


def one_line(max_length: int) -> Any:
    """Text on one line, as a name: at most `max_length` characters as sent (what the
    document says), then its runs of white space made one space; blank is refused."""
    return Annotated[str, Field(min_length=1, max_length=max_length), AfterValidator(_one_line)]


Name = one_line(100)
# An id in a body: what the database can hold, so a larger number is a 400, not an
# overflow when it is looked up.
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


class Ref(BaseModel):
    """Another object, named."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)

    id: int
    name: str


def _refusal(status: int) -> dict:
    response = {"description": REFUSALS[status],
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    if status == 401:
        response["headers"] = {"WWW-Authenticate": {"required": True, "schema": {"type": "string"},
                                                    "description": 'Bearer realm="firebreak"'}}
    return response


def generated_paths() -> dict[str, dict]:
    """The OpenAPI paths and schemas spectree makes from the routes declared here,
    relative to /api/v1: ids bounded, each operation's refusals as problem details, and
    the role it needs said."""
    from flask import Flask

    from app.api.inputs import MAX_ID
    from app.api.views import bp
    shell = Flask("openapi")  # the API's routes alone: the document needs no running app
    shell.register_blueprint(bp)
    with shell.app_context():
        document = copy.deepcopy(spec.spec)
    views = {(re.sub(r"<(?:[^:>]+:)?(\w+)>", r"{\1}", rule.rule), method.lower()):
             (shell.view_functions[rule.endpoint], re.findall(r"<int:(\w+)>", rule.rule))
             for rule in shell.url_map.iter_rules() for method in rule.methods}
    paths = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            view, numbers = views[(path, method)]
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] in numbers:  # ids; a <key> is a string
                    parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
                    parameter["description"] = parameter.get("description") or f"The {parameter['name'][:-3]}'s id."
            statuses = {int(s) for s in operation["responses"] if not s.startswith(("4", "5"))}
            refusals = {401, *view._refusals}
            if method != "get":
                refusals.add(403)
            if "{" in path:
                refusals.add(404)
            if "requestBody" in operation or any(p["in"] == "query" for p in operation.get("parameters", [])):
                refusals.add(400)
            if "requestBody" in operation:
                refusals.add(413)
                if not any(field.is_required() for field in view._body.model_fields.values()):
                    operation["requestBody"]["required"] = False  # no body is an empty object
            if method in ("patch", "put", "delete"):
                refusals.add(412)
            operation["responses"] = {**{str(s): operation["responses"][str(s)] for s in sorted(statuses)},
                                      **{str(s): _refusal(s) for s in sorted(refusals)}}
            role = view._min_role.value
            operation["description"] = "\n\n".join(filter(None, [
                operation.get("description"),
                f"Needs the **{role}** role" + (" and a write-scope token." if method != "get" else ".")
                + (" A manager of the team may too." if getattr(view, "_manages", None) else "")]))
        paths[path.removeprefix(PREFIX) or "/"] = operations
    schemas = {name: schema for name, schema in document["components"]["schemas"].items()
               if not name.startswith("ValidationError")}
    return {"paths": paths, "schemas": schemas}
