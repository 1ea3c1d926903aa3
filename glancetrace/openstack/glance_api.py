"""Glance v2 API calls: what each request did, which image, what the bodies say about the image."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from glancetrace.protocols.http.events import HttpTransaction

from .rest import error_reason, is_uuid, split_target, status_text

# Keys of the image schema that are not user properties (glance/api/v2/images.py, schemas/image).
CORE_IMAGE_KEYS = frozenset(
    {
        "id", "name", "status", "visibility", "protected", "os_hidden", "checksum", "os_hash_algo", "os_hash_value",
        "owner", "size", "virtual_size", "min_ram", "min_disk", "disk_format", "container_format", "created_at",
        "updated_at", "tags", "direct_url", "locations", "self", "file", "schema", "stores",
    }
)


@dataclass
class ImageInfo:
    """An image as a request or response body describes it (fields absent from the body stay None)."""

    id: str | None = None
    name: str | None = None
    status: str | None = None
    size: int | None = None
    virtual_size: int | None = None
    checksum: str | None = None
    os_hash_algo: str | None = None
    os_hash_value: str | None = None
    disk_format: str | None = None
    container_format: str | None = None
    visibility: str | None = None
    protected: bool | None = None
    owner: str | None = None
    direct_url: str | None = None
    locations: list[str] = field(default_factory=list)
    stores: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    created_at: str | None = None
    updated_at: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)  # everything outside the core schema

    @classmethod
    def from_json(cls, d: Any) -> "ImageInfo | None":
        if not isinstance(d, dict):
            return None
        stores = d.get("stores")
        info = cls(
            id=_str(d.get("id")),
            name=_str(d.get("name")),
            status=_str(d.get("status")),
            size=_int(d.get("size")),
            virtual_size=_int(d.get("virtual_size")),
            checksum=_str(d.get("checksum")),
            os_hash_algo=_str(d.get("os_hash_algo")),
            os_hash_value=_str(d.get("os_hash_value")),
            disk_format=_str(d.get("disk_format")),
            container_format=_str(d.get("container_format")),
            visibility=_str(d.get("visibility")),
            protected=d.get("protected") if isinstance(d.get("protected"), bool) else None,
            owner=_str(d.get("owner")),
            direct_url=_str(d.get("direct_url")),
            locations=[loc.get("url") for loc in d.get("locations") or [] if isinstance(loc, dict)],
            stores=stores.split(",") if isinstance(stores, str) and stores else [],
            tags=[t for t in d.get("tags") or [] if isinstance(t, str)],
            created_at=_str(d.get("created_at")),
            updated_at=_str(d.get("updated_at")),
            properties={k: v for k, v in d.items() if k not in CORE_IMAGE_KEYS},
        )
        return info


@dataclass
class PatchOp:
    op: str
    path: str
    value: Any = None

    def __str__(self) -> str:
        return f"{self.op} {self.path}" + ("" if self.op == "remove" else f"={_short(self.value)}")


@dataclass
class GlanceCall:
    tx: HttpTransaction
    action: str  # see classify() for the vocabulary
    method: str | None
    path: str
    status: int | None
    ok: bool | None  # None: no response seen
    image_id: str | None = None
    image_name: str | None = None  # create / name lookup
    image: ImageInfo | None = None  # what the response (else the request) says about the image
    request_image: ImageInfo | None = None  # create / PATCH request view
    images: list[ImageInfo] = field(default_factory=list)  # list responses
    filters: dict[str, str] = field(default_factory=dict)  # list query (name, status, visibility, …)
    limit: int | None = None
    marker: str | None = None
    sort: str | None = None
    next_page: str | None = None
    patch: list[PatchOp] = field(default_factory=list)
    import_method: str | None = None
    import_uri: str | None = None  # web-download
    validation_hash: tuple[str, str] | None = None  # add-location's validation_data (os_hash_algo, os_hash_value)
    stores: list[str] = field(default_factory=list)
    upload_bytes: int | None = None  # body bytes seen (PUT file/stage) or sent (GET file)
    declared_size: int | None = None  # Content-Length / X-OpenStack-Image-Size
    upload_complete: bool | None = None
    upload_md5: str | None = None
    upload_sha256: str | None = None
    upload_sha512: str | None = None
    member: str | None = None
    tag: str | None = None
    task_id: str | None = None
    schema: str | None = None
    versions: list[str] = field(default_factory=list)
    import_methods: list[str] = field(default_factory=list)  # OpenStack-image-import-methods response header
    error_title: str | None = None
    error_message: str | None = None
    summary: str = ""


def is_glance_path(path: str) -> bool:
    return "/v2/" in path or path.endswith("/v2") or path.startswith("/v1/")


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def _int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str) and v.isascii() and v.isdigit():
        return int(v)
    return None


def _short(v: Any, n: int = 40) -> str:
    s = v if isinstance(v, str) else repr(v)
    return s if len(s) <= n else s[: n - 1] + "…"


def _api_parts(path: str) -> list[str]:
    """Path segments from 'v2' on (any proxy prefix like /image/ dropped)."""
    segs = [s for s in path.split("/") if s]
    for i, s in enumerate(segs):
        if s == "v2" or s == "v1":
            return segs[i:]
    return segs


def classify(tx: HttpTransaction) -> GlanceCall:
    """What a request to Glance did. Never raises.

    Actions: versions, list, show, lookup (GET /v2/images/<not an id>, as `openstack image create` does before
    creating), schema, create, upload, download, stage, import, update, delete, deactivate, reactivate,
    tag_add, tag_remove, members, member_add, member_show, member_update, member_remove, tasks, task_show,
    task_create, info (import methods / stores / usage), store_delete, cache, metadefs, other.
    """
    path, query = split_target(tx.uri)
    method = (tx.method or "").upper()
    status = tx.status
    call = GlanceCall(tx=tx, action="other", method=tx.method, path=path, status=status,
                      ok=None if status is None else status < 400)
    segs = _api_parts(path)
    req_json = tx.request_body.json
    resp_json = tx.response_body.json
    q = dict(query)

    try:
        _route(call, method, segs, q, req_json, resp_json, tx)
    except Exception as e:  # a body of an unexpected shape must not stop the analysis
        call.summary = f"{method} {path} → {status_text(status)} (not understood: {type(e).__name__})"
        return call
    methods = tx.header("openstack-image-import-methods", response=True)
    if methods:
        call.import_methods = [m.strip() for m in methods.split(",") if m.strip()]
    if call.ok is False:
        call.error_title, call.error_message = error_reason(tx)
    call.summary = _summarise(call)
    return call


def _route(call: GlanceCall, method: str, segs: list[str], q: dict, req_json: Any, resp_json: Any,
           tx: HttpTransaction) -> None:
    n = len(segs)
    if n == 0 or (n == 1 and segs[0] in ("v2", "v1") and method == "GET"):
        call.action = "versions"
        vs = resp_json.get("versions") if isinstance(resp_json, dict) else None
        if isinstance(vs, list):
            call.versions = [str(v.get("id")) for v in vs if isinstance(v, dict)]
        return
    if segs[0] != "v2" or n < 2:
        return
    top = segs[1]
    if top == "images":
        _route_images(call, method, segs[2:], q, req_json, resp_json, tx)
    elif top == "schemas":
        call.action = "schema"
        call.schema = "/".join(segs[2:])
    elif top == "tasks":
        if n == 2 and method == "GET":
            call.action = "tasks"
        elif n == 2 and method == "POST":
            call.action = "task_create"
            inp = req_json.get("input") if isinstance(req_json, dict) else None
            if isinstance(inp, dict):
                call.import_uri = _str(inp.get("import_from"))
            if isinstance(resp_json, dict):
                call.task_id = _str(resp_json.get("id"))
        elif n >= 3:
            call.action = "task_show"
            call.task_id = segs[2]
            if isinstance(resp_json, dict):
                res = resp_json.get("result")
                if isinstance(res, dict):
                    call.image_id = _str(res.get("image_id"))
    elif top == "info":
        call.action = "info"
        call.schema = "/".join(segs[2:])
        if isinstance(resp_json, dict):
            meth = resp_json.get("import-methods")
            if isinstance(meth, dict) and isinstance(meth.get("value"), list):
                call.import_methods = [str(m) for m in meth["value"]]
            if isinstance(resp_json.get("stores"), list):
                call.stores = [str(s.get("id")) for s in resp_json["stores"] if isinstance(s, dict)]
    elif top == "stores" and n >= 4 and method == "DELETE":
        call.action = "store_delete"
        call.stores = [segs[2]]
        call.image_id = segs[3]
    elif top in ("cache", "queued_images", "cached_images"):
        call.action = "cache"
        if n >= 3 and is_uuid(segs[2]):
            call.image_id = segs[2]
    elif top == "metadefs":
        call.action = "metadefs"


def _route_images(call: GlanceCall, method: str, rest: list[str], q: dict, req_json: Any, resp_json: Any,
                  tx: HttpTransaction) -> None:
    if not rest:
        if method == "GET":
            call.action = "list"
            call.filters = {k: v for k, v in q.items() if k not in ("limit", "marker", "sort", "sort_key",
                                                                    "sort_dir")}
            call.limit = _int(q.get("limit"))
            call.marker = q.get("marker")
            call.sort = q.get("sort") or (
                f"{q.get('sort_key')}:{q.get('sort_dir', '')}".rstrip(":") if q.get("sort_key") else None
            )
            if isinstance(resp_json, dict):
                call.images = [i for i in (ImageInfo.from_json(x) for x in resp_json.get("images") or []) if i]
                call.next_page = _str(resp_json.get("next"))
        elif method == "POST":
            call.action = "create"
            call.request_image = ImageInfo.from_json(req_json)
            call.image = ImageInfo.from_json(resp_json) or call.request_image
            call.image_name = call.request_image.name if call.request_image else None
            call.image_id = (call.image.id if call.image else None) or _location_id(tx)
        return

    ident = rest[0]
    call.image_id = ident if is_uuid(ident) else None
    sub = rest[1:]
    if not sub:
        if method in ("GET", "HEAD"):
            if is_uuid(ident):
                call.action = "show"
            else:
                call.action = "lookup"
                call.image_name = ident
            call.image = ImageInfo.from_json(resp_json)
        elif method == "PATCH":
            call.action = "update"
            if isinstance(req_json, list):
                call.patch = [PatchOp(str(o.get("op")), str(o.get("path")), o.get("value"))
                              for o in req_json if isinstance(o, dict)]
            call.image = ImageInfo.from_json(resp_json)
        elif method == "DELETE":
            call.action = "delete"
        return
    what = sub[0]
    if what in ("file", "stage"):
        if method == "PUT":
            call.action = "upload" if what == "file" else "stage"
            body = tx.request_body
            call.upload_bytes = body.size
            call.declared_size = _int(tx.header("x-openstack-image-size")) or _int(tx.header("content-length"))
            call.upload_md5, call.upload_sha256, call.upload_sha512 = body.md5, body.sha256, body.sha512
            call.upload_complete = not (tx.incomplete or tx.truncated or tx.gap)
        elif method in ("GET", "HEAD"):
            call.action = "download"
            call.upload_bytes = tx.response_body.size
            call.declared_size = _int(tx.header("content-length", response=True))
            call.upload_md5, call.upload_sha256 = tx.response_body.md5, tx.response_body.sha256
            call.upload_sha512 = tx.response_body.sha512
            call.upload_complete = not (tx.incomplete or tx.truncated or tx.gap)
    elif what == "import" and method == "POST":
        call.action = "import"
        if isinstance(req_json, dict):
            m = req_json.get("method")
            if isinstance(m, dict):
                call.import_method = _str(m.get("name"))
                call.import_uri = _str(m.get("uri"))
            st = req_json.get("stores")
            call.stores = [str(s) for s in st] if isinstance(st, list) else []
            if req_json.get("all_stores"):
                call.stores = call.stores or ["*all*"]
    elif what == "actions" and len(sub) >= 2 and method == "POST":
        call.action = sub[1] if sub[1] in ("deactivate", "reactivate") else f"action_{sub[1]}"
    elif what == "tags" and len(sub) >= 2:
        call.tag = sub[1]
        call.action = {"PUT": "tag_add", "DELETE": "tag_remove"}.get(method, "other")
    elif what == "members":
        if len(sub) == 1:
            call.action = {"GET": "members", "POST": "member_add"}.get(method, "other")
            if isinstance(req_json, dict):
                call.member = _str(req_json.get("member"))
        else:
            call.member = sub[1]
            call.action = {"GET": "member_show", "PUT": "member_update", "DELETE": "member_remove"}.get(
                method, "other")
    elif what == "tasks":
        call.action = "tasks"
    elif what == "locations":
        call.action = "locations"
        if method == "POST" and isinstance(req_json, dict):  # the add-location API: Glance reads the URL itself
            call.import_method = "add-location"
            call.import_uri = _str(req_json.get("url"))
            val = req_json.get("validation_data")
            if isinstance(val, dict) and _str(val.get("os_hash_algo")) and _str(val.get("os_hash_value")):
                call.validation_hash = (_str(val["os_hash_algo"]).lower(), _str(val["os_hash_value"]).lower())


def _location_id(tx: HttpTransaction) -> str | None:
    loc = tx.header("location", response=True)
    if loc:
        tail = loc.rstrip("/").rsplit("/", 1)[-1]
        if is_uuid(tail):
            return tail
    return None


def _img_ref(call: GlanceCall) -> str:
    name = call.image.name if call.image and call.image.name else None
    if call.image_id and name:
        return f"'{name}' {call.image_id}"
    if name:
        return f"'{name}'"
    return call.image_id or "?"


def _summarise(c: GlanceCall) -> str:
    st = status_text(c.status)
    err = f" ({c.error_message})" if c.error_message else (f" ({c.error_title})" if c.error_title else "")
    new_status = c.image.status if c.image and c.image.status else None
    if c.action == "versions":
        return f"image version discovery → {st}" + (f" [{c.versions[0]}…]" if c.versions else "") + err
    if c.action == "list":
        f = ", ".join(f"{k}={v}" for k, v in c.filters.items())
        page = f" limit={c.limit}" if c.limit else ""
        page += " (marker)" if c.marker else ""
        got = f", {len(c.images)} images" if c.ok and c.tx.response_body.json is not None else ""
        more = ", more pages" if c.next_page else ""
        return "list images" + (f" [{f}]" if f else "") + page + f" → {st}{got}{more}{err}"
    if c.action == "lookup":
        note = " (name is not an id: the client looks it up next)" if c.status == 404 else ""
        return f"look up image '{c.image_name}' by id → {st}{note}"
    if c.action == "show":
        return f"show image {_img_ref(c)} → {st}" + (f", {new_status}" if new_status else "") + err
    if c.action == "schema":
        return f"fetch schema {c.schema} → {st}{err}"
    if c.action == "create":
        name = c.image_name or (c.image.name if c.image else None)
        result = new_status if c.ok and new_status else st
        tail = f" {c.image_id}" if c.image_id else ""
        return f"create image '{name}'{tail} → {result}{err}"
    if c.action in ("upload", "stage"):
        n = f"{c.upload_bytes:,}" if c.upload_bytes is not None else "?"
        dec = ""
        if c.declared_size is not None and c.declared_size != c.upload_bytes:
            dec = f" of {c.declared_size:,} declared"
        inc = " (incomplete)" if c.upload_complete is False else ""
        verb = "upload" if c.action == "upload" else "stage"
        return f"{verb} {n} bytes{dec} to {c.image_id or '?'} → {st}{inc}{err}"
    if c.action == "download":
        n = f"{c.upload_bytes:,}" if c.upload_bytes is not None else "?"
        return f"download {n} bytes of {c.image_id or '?'} → {st}{err}"
    if c.action == "import":
        extra = f" from {c.import_uri}" if c.import_uri else ""
        stores = f" to {','.join(c.stores)}" if c.stores else ""
        return f"import {c.image_id or '?'} via {c.import_method or '?'}{extra}{stores} → {st}{err}"
    if c.action == "update":
        ops = ", ".join(str(p) for p in c.patch) or "no ops"
        return f"update {_img_ref(c)}: {ops} → {st}{err}"
    if c.action in ("delete", "deactivate", "reactivate"):
        return f"{c.action} image {c.image_id or '?'} → {st}{err}"
    if c.action in ("tag_add", "tag_remove"):
        verb = "add tag" if c.action == "tag_add" else "remove tag"
        return f"{verb} '{c.tag}' on {c.image_id or '?'} → {st}{err}"
    if c.action.startswith("member"):
        return f"{c.action.replace('_', ' ')} {c.member or ''} on {c.image_id or '?'} → {st}{err}".replace("  ", " ")
    if c.action in ("tasks", "task_show", "task_create"):
        return f"{c.action.replace('_', ' ')} {c.task_id or ''} → {st}{err}".replace("  ", " ")
    return f"image API {c.method} {c.path} → {st}{err}"
