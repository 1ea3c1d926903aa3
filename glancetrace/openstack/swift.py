"""Glance's Swift store on the wire: object requests under /v1/<account>/<container>/<object>.

glance_store's Swift driver names an image's object after the image id; an image
bigger than its large-object size goes as segments "<id>-00001", "<id>-00002", ...
followed by a manifest object "<id>".  Swift answers a PUT with the object's md5
as ETag, so the wire shows three views of the same bytes: what Glance sent, what
Swift says it stored, and (in SQL) what Glance recorded as the checksum.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from glancetrace.protocols.http.events import HttpTransaction

from .rest import split_target

# the reseller prefix is AUTH_ by default (KEY_, SERVICE_ and others exist); Glance's own v1 API
# (/v1/images) never has an upper-case prefix with an underscore there
_ACCOUNT_PATH = re.compile(r"^/v1/[A-Z]+_[^/]*(/|$)")
_IMAGE_OBJECT = re.compile(r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:-(\d{5}))?$")
_ACTIONS = {"PUT": "store_put", "GET": "store_get", "HEAD": "store_head", "DELETE": "store_delete"}
_VERBS = {"store_put": "store", "store_get": "read", "store_head": "check", "store_delete": "delete"}


def is_swift_path(path: str) -> bool:
    return bool(_ACCOUNT_PATH.match(path))


@dataclass
class SwiftCall:
    action: str  # store_put | store_get | store_head | store_delete | other
    summary: str
    account: str | None = None
    container: str | None = None
    object: str | None = None
    image_id: str | None = None  # the image whose data this object holds
    segment: int | None = None  # number of a large image's segment; None for a whole object or manifest
    manifest: bool = False  # a large image's manifest (X-Object-Manifest or ?multipart-manifest=put)
    etag: str | None = None  # Swift's md5 of what it stored (a PUT's response)


def classify(tx: HttpTransaction) -> SwiftCall:
    path, query = split_target(tx.uri)
    parts = (path or "").split("/", 4)  # "", "v1", account, container, object
    account = parts[2] if len(parts) > 2 else None
    container = parts[3] if len(parts) > 3 and parts[3] else None
    obj = parts[4] if len(parts) > 4 and parts[4] else None
    method = (tx.method or "").upper()
    action = _ACTIONS.get(method, "other") if obj else "other"
    call = SwiftCall(action=action, summary="", account=account, container=container, object=obj)
    m = _IMAGE_OBJECT.match(obj or "")
    if m:
        call.image_id = m.group(1)
        call.segment = int(m.group(2)) if m.group(2) else None
    call.manifest = bool(tx.header("x-object-manifest")) or ("multipart-manifest", "put") in query
    etag = tx.header("etag", response=True) if tx.status is not None and tx.status < 300 else None
    call.etag = etag.strip('"').lower() if etag else None
    what = f"{container}/{obj}" if obj else (container or account or "?")
    if action == "store_put":
        part = "manifest of " if call.manifest else f"segment {call.segment} of " if call.segment else ""
        what = f"{part}image data {what} ({tx.request_body.size:,} bytes)"
    verb = _VERBS.get(action, method or "?")
    outcome = tx.status if tx.status is not None else "no response"
    call.summary = f"Swift: {verb} {what} → {outcome}"
    return call
