"""What every OpenStack REST API shares, for the Keystone, Glance and Swift interpreters: request
targets, ids, error bodies (JSON or webob HTML) and status text."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from glancetrace.protocols.http.events import HttpTransaction

_TAG = re.compile(r"<[^>]+>")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")


def is_uuid(s: str | None) -> bool:
    return bool(s) and bool(_UUID.match(s))


def split_target(uri: str | None) -> tuple[str, list[tuple[str, str]]]:
    """(path, query pairs) of a request target (origin-form or absolute-form)."""
    if not uri:
        return "", []
    try:
        u = urlsplit(uri)
    except ValueError:  # "//[" or "http://[x": an authority urlsplit cannot read; keep what is there
        path, _, query = uri.partition("?")
        return path or "/", parse_qsl(query, keep_blank_values=True)
    path = u.path or "/"
    return path, parse_qsl(u.query, keep_blank_values=True)


def error_reason(tx: HttpTransaction) -> tuple[str | None, str | None]:
    """(title, message) of an error response, from OpenStack's JSON error body or webob's HTML page."""
    body = tx.response_body
    j = body.json
    if isinstance(j, dict):
        err = j.get("error")
        if isinstance(err, dict):  # Keystone: {"error": {"code": 401, "title": "Unauthorized", "message": "…"}}
            return _s(err.get("title")), _s(err.get("message"))
        for key in ("badRequest", "itemNotFound", "forbidden", "conflictingRequest", "overLimit", "unauthorized"):
            if isinstance(j.get(key), dict):
                return key, _s(j[key].get("message"))
        if "message" in j or "title" in j:  # Glance JSON errors
            return _s(j.get("title")), _s(j.get("message"))
        if isinstance(j.get("errors"), list) and j["errors"]:
            e = j["errors"][0]
            if isinstance(e, dict):
                return _s(e.get("title")), _s(e.get("detail") or e.get("message"))
    if body.text:
        text = body.text.decode("utf-8", "replace")
        # webob: <html><head><title>403 Forbidden</title></head><body><h1>403 Forbidden</h1>Image … <br /><br />
        m = re.search(r"<title>(.*?)</title>", text, re.S | re.I)
        title = html.unescape(m.group(1)).strip() if m else None
        m = re.search(r"</h1>(.*?)(?:</body>|$)", text, re.S | re.I)
        msg_src = m.group(1) if m else text
        msg = " ".join(html.unescape(_TAG.sub(" ", msg_src)).split())
        if title and msg.startswith(title):
            msg = msg[len(title):].strip()
        return title, (msg[:300] or None)
    return tx.reason or None, None


def _s(v: Any) -> str | None:
    return None if v is None else str(v)


def status_text(status: int | None) -> str:
    return "no response" if status is None else str(status)
