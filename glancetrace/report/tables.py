"""Flat rows of HTTP transactions and SQL statements, for JSON, CSV and terminal tables.

The schemas are documented in README.md ("Output schemas"); secrets are redacted unless asked not to be.
"""

from __future__ import annotations

import json
import sys
from typing import Iterable

import pandas as pd

from ..openstack import redact
from ..protocols.http.events import HttpTransaction
from ..protocols.mysql.events import SqlStatement


def _frames(fr):
    return [int(fr[0]), int(fr[1])] if fr else None


def http_rows(txs: Iterable[HttpTransaction], show_secrets: bool = False) -> list[dict]:
    rows = []
    for t in sorted(txs, key=lambda t: (t.capture, t.request_first_time or t.response_first_time or 0)):
        rb, sb = t.request_body, t.response_body
        rows.append({
            "capture": t.capture, "conn_id": t.conn_id, "client": t.client, "server": t.server,
            "tls": bool(t.tls), "method": t.method, "uri": t.uri, "version": t.version,
            "status": t.status, "reason": t.reason or None, "interim": list(t.interim),
            "request_time": t.request_first_time, "request_end": t.request_last_time,
            "response_time": t.response_first_time, "response_end": t.response_last_time,
            "request_frames": _frames(t.request_frames), "response_frames": _frames(t.response_frames),
            "request_body_size": rb.size, "response_body_size": sb.size,
            "request_md5": rb.md5, "request_sha256": rb.sha256, "request_sha512": rb.sha512,
            "request_content_type": rb.content_type or None, "response_content_type": sb.content_type or None,
            "request_chunked": rb.chunked, "response_content_encoding": sb.content_encoding or None,
            "incomplete": t.incomplete, "gap": t.gap, "truncated": t.truncated,
            "request_headers": [list(h) for h in redact.redact_headers(t.request_headers, show_secrets)],
            "response_headers": [list(h) for h in redact.redact_headers(t.response_headers, show_secrets)],
            "notes": list(t.notes),
        })
    return rows


def sql_rows(stmts: Iterable[SqlStatement], show_secrets: bool = False) -> list[dict]:
    rows = []
    for s in sorted(stmts, key=lambda s: (s.capture, s.request_time)):
        rows.append({
            "capture": s.capture, "conn_id": s.conn_id, "client": s.client, "server": s.server,
            "command": s.command, "sql": redact.redact_sql(s.sql, show_secrets),
            "request_time": s.request_time, "response_time": s.response_time, "latency": s.latency,
            "result": s.result, "affected_rows": s.affected_rows, "last_insert_id": s.last_insert_id,
            "rows": s.rows, "error_code": s.error_code, "error_message": s.error_message,
            "statement_id": s.statement_id, "database": s.database, "user": s.user,
            "request_frames": _frames(s.request_frames), "response_frames": _frames(s.response_frames),
            "incomplete": s.incomplete, "gap": s.gap, "inferred": s.inferred, "notes": list(s.notes),
        })
    return rows


def write_json(obj, out=None) -> None:
    out = out or sys.stdout
    json.dump(obj, out, indent=1, default=str, allow_nan=False)
    out.write("\n")


def write_csv(rows: list[dict], out=None) -> None:
    """CSV through pandas; list-valued columns become JSON text."""
    df = pd.DataFrame(rows)
    for col in df.columns:
        if df[col].map(lambda v: isinstance(v, (list, dict))).any():
            df[col] = df[col].map(lambda v: json.dumps(v) if isinstance(v, (list, dict)) else v)
    df.to_csv(out or sys.stdout, index=False)
