"""The analysis as one JSON-able document (the schema is in README.md, "JSON output")."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from .. import __version__
from ..capture.link import link_name
from ..openstack.redact_output import redact_output
from ..protocols.http.events import BodyInfo
from ..protocols.tls.events import TlsSession
from . import mysql_hops_report
from .evidence import Evidence, event_frames, filter_for
from .sql_digest import digest as digest_table
from .story import image_story


def _num(x):
    if x is None or (isinstance(x, float) and (math.isnan(x) or math.isinf(x))):
        return None
    return x


def _frames(fr) -> list[int] | None:
    return [int(fr[0]), int(fr[1])] if fr else None


def _digests(body: BodyInfo) -> dict | None:
    if not body.md5:
        return None  # no body, or bytes of it were lost: no digest is claimed
    return {"md5": body.md5, "sha256": body.sha256, "sha512": body.sha512}


def _json_safe(obj: Any, depth: int = 0) -> Any:
    if depth > 40:
        return "…"
    if isinstance(obj, dict):
        return {str(k): _json_safe(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v, depth + 1) for v in obj]
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    if isinstance(obj, float):
        return _num(obj)
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    return str(obj)


def analysis_dict(an) -> dict:
    """`an`: an analyze.Analysis."""
    res = an.result
    ev = Evidence(res)  # frames and streams in the numbers of the file (piece) that holds them
    show = an.options.show_secrets
    first = min((c.first_ts for c in res.captures if c.first_ts is not None), default=None)
    last = max((c.last_ts for c in res.captures if c.last_ts is not None), default=None)
    gap_count = gap_bytes = 0
    for conn in res.connections:
        for d in conn.dirs:
            if d.gap_bytes:
                gap_count += 1
                gap_bytes += d.gap_bytes
    sev = Counter(f.severity for f in an.findings)
    tls = an.tls_sessions
    calls = [_call_dict(c, ev) for c in an.calls]
    sql = [_sql_dict(r, an.mysql_hops, ev) for r in an.sql]
    capture_of = {r.id: r.capture for r in an.sql} | {c.id: c.capture for c in an.calls}
    images = [_image_dict(img, last, ev, capture_of) for img in an.images]
    calls_by_id = {c["id"]: c for c in calls}
    for img in images:
        img["story"] = image_story(img, calls_by_id, last)
    tokens = []
    for c in an.calls:
        m = c.meaning
        if c.service == "keystone" and m is not None and m.action.startswith("token_"):
            if c.hop == "backend" and c.peer:
                continue
            tokens.append({"time": c.start, "kind": m.action[6:], "user": m.user_name or m.user_id,
                           "project": m.project_name or m.project_id or m.domain_name,
                           "result": "ok" if m.ok else ("failed" if m.ok is False else "no response"),
                           "status": c.tx.status, "expires": m.expires_at, "token": m.subject_token,
                           "call_id": c.id, "client": c.tx.client})
    digest = _sql_digest(an)
    return redact_output({  # the one redaction step: nothing of the capture reaches an output without it
        "tool": {"name": "glancetrace", "version": __version__, "command": an.options.command},
        "captures": [{"path": ci.path, "size": ci.size, "format": ci.format, "compressed": ci.compressed,
                      "packets": ci.packets, "first_ts": ci.first_ts, "last_ts": ci.last_ts,
                      "link_types": sorted({str(i.linktype) for i in ci.interfaces}),
                      "link_type_names": list(dict.fromkeys(link_name(i.linktype) for i in ci.interfaces)),
                      **ev.reading(k), "truncated": ci.truncated,
                      "warnings": list(ci.warnings)} for k, ci in enumerate(res.captures)],
        "summary": {
            "packets": res.packets, "tcp_segments": res.tcp_segments, "skipped": dict(res.skipped),
            "connections": len(res.connections),
            "decrypted_connections": sum(1 for t in tls if t.decrypted),
            "encrypted_connections": sum(1 for t in tls if not t.decrypted),
            "gaps": {"count": gap_count, "bytes": gap_bytes},
            "warnings": list(res.warnings), "first_ts": first, "last_ts": last,
            "images": len(an.images), "calls": len(an.calls), "statements": len(an.sql),
            "findings_by_severity": {k: sev.get(k, 0) for k in ("error", "warning", "info")},
            "mysql_health_checks": mysql_hops_report.health_checks_summary(an.mysql_hops),
        },
        "images": images,
        "calls": calls,
        "sql": sql,
        "sql_digest": digest,
        "mysql_hops": mysql_hops_report.pairs_document(an.mysql_hops),
        "tokens": tokens,
        "tls_sessions": [ev.tls(t.capture, _tls_dict(t)) for t in tls],
        "tcp_stalls": [_tcp_dict(f, ev) for _, f in sorted(an.tcp_facts.items())
                       if f.zero_windows or any(f.retransmissions) or f.first_end("rst")],
        "findings": [{"id": f.id, "severity": f.severity, "code": f.code, "message": f.message,
                      "image_id": f.image_id, "call_id": f.call_id, "sql_id": f.sql_id, "time": _num(f.time),
                      "cause": f.cause,
                      "frames": ev.frames(f.capture, f.frames) or [], **ev.item(f.capture, f.conn_id, f.frames)}
                     for f in an.findings],
    }, show)


def _tls_dict(t: TlsSession) -> dict:
    return {"conn_id": t.conn_id, "client": t.client, "server": t.server, "sni": t.sni,
            "version": t.version, "cipher": t.cipher, "decrypted": t.decrypted,
            "why_not": t.why_not, "client_random": t.client_random,
            "bytes_up": t.bytes_up, "bytes_down": t.bytes_down,
            "start": _num(t.handshake_start), "end": _num(t.end), "frames": _frames(t.frames)}


def _tcp_dict(f, ev: Evidence) -> dict:
    """One connection's zero-window periods, retransmissions and FIN/RSTs (tcp/stalls.py), in its file's numbers."""
    frames = [x for z in f.zero_windows for x in z.frames] + [e.frame for e in f.ends]
    return {**ev.item(f.capture, f.conn_id, frames), "client": f.client, "server": f.server,
            "zero_windows": [{"receiver": z.receiver, "start": z.start, "end": z.end, "seconds": _num(z.seconds),
                              "frames": ev.frames(f.capture, z.frames)} for z in f.zero_windows],
            "zero_window_count": dict(zip(("client", "server"), f.zero_window_count)),
            "zero_window_seconds": dict(zip(("client", "server"), f.zero_window_seconds)),
            "retransmissions": {"client_to_server": f.retransmissions[0], "server_to_client": f.retransmissions[1]},
            "ends": [{"kind": e.kind, "sender": e.sender, "time": e.time, "frame": ev.frames(f.capture, [e.frame])[0]}
                     for e in f.ends]}


def _sql_digest(an) -> list[dict]:
    df = digest_table([r.stmt for r in an.sql], show_secrets=an.options.show_secrets).reset_index()
    if df is None or len(df) == 0:
        return []
    return [{k: _json_safe(v) for k, v in rec.items()} for rec in df.to_dict("records")]


def _call_dict(c, ev: Evidence) -> dict:
    t = c.tx
    return {
        "id": c.id, "service": c.service, "kind": c.kind, "summary": c.summary,
        "method": t.method, "uri": t.uri,
        "status": t.status, "reason": t.reason, "interim": list(t.interim),
        "client": t.client, "server": t.server, "tls": bool(t.tls),
        "encrypted_only": False, "hop": c.hop, "peer": c.peer,
        "request_time": t.request_first_time, "request_end": t.request_last_time,
        "response_time": t.response_first_time, "response_end": t.response_last_time,
        "latency": _num((c.end - c.start) if c.end is not None and c.start is not None else None),
        "request_body_size": t.request_body.size, "response_body_size": t.response_body.size,
        "request_digests": _digests(t.request_body),
        "image_id": c.image_id,
        "frames": {"request": ev.frames(c.capture, _frames(t.request_frames)),
                   "response": ev.frames(c.capture, _frames(t.response_frames))},
        **ev.item(c.capture, t.conn_id, event_frames(t)),  # capture, file, conn_id, wireshark_filter
        "incomplete": t.incomplete, "gap": t.gap, "truncated": t.truncated,
        "sql": list(c.sql),
        "request_headers": [list(h) for h in t.request_headers],  # redacted with the whole document
        "response_headers": [list(h) for h in t.response_headers],
        "request_json": _json_safe(t.request_body.json),
        "response_json": _json_safe(t.response_body.json),
        "notes": list(t.notes),
    }


def _sql_dict(r, hops, ev: Evidence) -> dict:
    s = r.stmt
    sc = r.meaning.status_change
    return {
        "id": r.id, **ev.item(r.capture, s.conn_id, event_frames(s)), "client": s.client, "server": s.server,
        "command": s.command, "sql": s.sql,
        "request_time": s.request_time, "response_time": s.response_time, "latency": _num(s.latency),
        "result": s.result, "affected_rows": s.affected_rows, "rows": s.rows,
        "error_code": s.error_code, "error_message": s.error_message,
        "frames": {"request": ev.frames(r.capture, _frames(s.request_frames)),
                   "response": ev.frames(r.capture, _frames(s.response_frames))},
        "call_id": r.call_id, "service": r.service, "image_id": r.meaning.image_id,
        "table": r.meaning.table, "operation": r.meaning.operation, "summary": r.meaning.summary,
        "status_change": ({"from": sc.expected, "to": sc.status, "ok": r.meaning.ok}
                          if sc is not None else None),
        "incomplete": s.incomplete, "gap": s.gap, "inferred": s.inferred,
        **mysql_hops_report.statement_fields(hops, r.capture, s, filter_for),
    }


def _image_dict(img, last: float | None, ev: Evidence, capture_of: dict[str, int]) -> dict:
    f = img.fields
    return {
        "id": img.id, "name": img.name, "final_status": img.final_status,
        **{k: _json_safe(f.get(k)) for k in ("size", "checksum", "os_hash_algo", "os_hash_value",
                                              "disk_format", "container_format", "visibility", "protected")},
        "transitions": [{"status": t.status, "time": t.time, "source": t.source, "sql_id": t.sql_id,
                         "call_id": t.call_id, "failed": t.failed,
                         # in the numbers of the file of its statement (else its call)
                         "frames": ev.frames(capture_of.get(t.sql_id, capture_of.get(t.call_id, 0)), t.frames) or [],
                         "previous": t.previous, "uncertain": t.uncertain, "attempt": t.attempt}
                        for t in img.transitions],
        "states": img.states(last),
        "calls": list(img.calls),
        "sql": list(img.sql),
        "findings": list(img.findings),
    }
