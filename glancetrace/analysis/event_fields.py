"""An event's own fields as plain values, its origin included (capture, connection, endpoints,
frames, times): the one serialisation of decoded events.  The `http` and `sql` rows
(report/tables.py) and the analysis document (analysis/document.py) each take the fields
they show from it, under the same names, instead of reading the events their own way.

Values are as the event holds them (an empty reason stays ""), with tuples made lists and
frame ranges `[first, last]`; NaN and infinite numbers become None.
"""

from __future__ import annotations

import math
from operator import itemgetter
from typing import Callable

from ..protocols.base import ConnectionEvent
from ..protocols.http.events import HttpTransaction
from ..protocols.mysql.events import SqlStatement
from ..protocols.tls.events import TlsSession


def number(x):
    """None for NaN and infinity (not JSON), else x."""
    if x is None or (isinstance(x, float) and (math.isnan(x) or math.isinf(x))):
        return None
    return x


def frames(fr) -> list[int] | None:
    return [int(fr[0]), int(fr[1])] if fr else None


def picker(names: str) -> Callable[[dict], dict]:
    """A function giving the fields named (space-separated), in that order: made once, as the
    document picks fields of every call and statement."""
    keys = tuple(names.split())
    get = itemgetter(*keys)
    return lambda fields: dict(zip(keys, get(fields)))


def origin(ev: ConnectionEvent) -> dict:
    return {"capture": ev.capture, "conn_id": ev.conn_id, "client": ev.client, "server": ev.server}


def http_fields(t: HttpTransaction) -> dict:
    rb, sb = t.request_body, t.response_body
    return {
        "capture": t.capture, "conn_id": t.conn_id, "client": t.client, "server": t.server,  # origin()
        "tls": bool(t.tls), "method": t.method, "uri": t.uri, "version": t.version,
        "status": t.status, "reason": t.reason, "interim": list(t.interim),
        "request_time": t.request_first_time, "request_end": t.request_last_time,
        "response_time": t.response_first_time, "response_end": t.response_last_time,
        "request_frames": frames(t.request_frames), "response_frames": frames(t.response_frames),
        "request_body_size": rb.size, "response_body_size": sb.size,
        "request_md5": rb.md5, "request_sha256": rb.sha256, "request_sha512": rb.sha512,
        "request_content_type": rb.content_type, "response_content_type": sb.content_type,
        "request_chunked": rb.chunked, "response_content_encoding": sb.content_encoding,
        "incomplete": t.incomplete, "gap": t.gap, "truncated": t.truncated,
        "request_headers": [list(h) for h in t.request_headers],
        "response_headers": [list(h) for h in t.response_headers],
        "notes": list(t.notes),
    }


def sql_fields(s: SqlStatement) -> dict:
    return {
        "capture": s.capture, "conn_id": s.conn_id, "client": s.client, "server": s.server,  # origin()
        "command": s.command, "sql": s.sql,
        "request_time": s.request_time, "response_time": s.response_time, "latency": number(s.latency),
        "result": s.result, "affected_rows": s.affected_rows, "last_insert_id": s.last_insert_id,
        "rows": s.rows, "error_code": s.error_code, "error_message": s.error_message,
        "statement_id": s.statement_id, "database": s.database, "user": s.user,
        "request_frames": frames(s.request_frames), "response_frames": frames(s.response_frames),
        "incomplete": s.incomplete, "gap": s.gap, "inferred": s.inferred, "notes": list(s.notes),
    }


def tls_fields(t: TlsSession) -> dict:
    return {
        **origin(t), "sni": t.sni, "version": t.version, "cipher": t.cipher, "decrypted": t.decrypted,
        "why_not": t.why_not, "client_random": t.client_random,
        "bytes_up": t.bytes_up, "bytes_down": t.bytes_down,
        "start": number(t.handshake_start), "end": number(t.end), "frames": frames(t.frames),
    }
