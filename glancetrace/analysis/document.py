"""The analysis as one JSON-able document (the schema is in README.md, "JSON output")."""

from __future__ import annotations

from collections import Counter
from typing import Any

from .. import __version__
from ..capture.link import link_name
from ..openstack.redact_output import redact_output
from ..protocols.tls.events import TlsSession
from . import mysql_hops_report
from .event_fields import http_fields, number, picker, sql_fields, tls_fields
from .evidence import Evidence, event_frames, filter_for
from .findings import SEVERITY_ORDER
from .lanes import Lane
from .lanes import classify as classify_lanes
from .imports import attempt_dict
from .sql_digest import digest as digest_table
from .story import connection_ends, final_state, image_story
from .throughput import throughput


def _digests(tx: dict) -> dict | None:
    if not tx["request_md5"]:
        return None  # no body, or bytes of it were lost: no digest is claimed
    return {"md5": tx["request_md5"], "sha256": tx["request_sha256"], "sha512": tx["request_sha512"]}


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
        return number(obj)
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
    lanes = classify_lanes(an.calls, an.served, {f.id: att.call.id for att in an.imports for f in att.fetches})
    calls = [_call_dict(c, ev, lanes[c.id], an.tcp_facts) for c in an.calls]
    sql = [_sql_dict(r, an.mysql_hops, ev) for r in an.sql]
    capture_of = {r.id: r.capture for r in an.sql} | {c.id: c.capture for c in an.calls}
    images = [_image_dict(img, last, ev, capture_of) for img in an.images]
    calls_by_id = {c["id"]: c for c in calls}
    _on_behalf_of(an, calls_by_id, images)
    tcp = [_tcp_dict(f, ev) for _, f in sorted(an.tcp_facts.items())
           if f.zero_windows or f.window_full or any(f.retransmissions) or f.first_end("rst")]
    ends = connection_ends(tcp)
    for img in images:
        img["story"] = image_story(img, calls_by_id, last, ends)
        img["final_state"] = final_state(img, last)
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
            "findings_by_severity": {k: sev.get(k, 0) for k in SEVERITY_ORDER},
            "mysql_health_checks": mysql_hops_report.health_checks_summary(an.mysql_hops),
        },
        "images": images,
        "calls": calls,
        "sql": sql,
        "sql_digest": digest,
        "mysql_hops": mysql_hops_report.pairs_document(an.mysql_hops),
        "tokens": tokens,
        "tls_sessions": [ev.tls(t.capture, _tls_dict(t)) for t in tls],
        "tcp_stalls": tcp,
        "findings": [{"id": f.id, "severity": f.severity, "code": f.code, "message": f.message,
                      "image_id": f.image_id, "call_id": f.call_id, "sql_id": f.sql_id, "time": number(f.time),
                      "cause": f.cause,
                      "frames": ev.frames(f.capture, f.frames) or [], **ev.item(f.capture, f.conn_id, f.frames)}
                     for f in an.findings],
    }, show)


_TLS = picker("conn_id client server sni version cipher decrypted why_not client_random bytes_up bytes_down "
               "start end frames")
_CALL_HTTP = picker("method uri status reason interim client server tls")
_CALL_TIMES = picker("request_time request_end response_time response_end")
_CALL_SIZES = picker("request_body_size response_body_size")
_CALL_STATE = picker("incomplete gap truncated")
_CALL_HEADERS = picker("request_headers response_headers")
_SQL = picker("client server command sql request_time response_time latency result affected_rows rows error_code "
              "error_message")
_SQL_STATE = picker("incomplete gap inferred")


def _on_behalf_of(an, calls_by_id: dict[str, dict], images: list[dict]) -> None:
    """Calls Glance made for another call (its token validations, what it fetched for a web-download) name
    that call and its image; each image lists its import attempts."""
    for c in calls_by_id.values():
        c["on_behalf_of"] = None
    for vid, cid in an.served.items():
        calls_by_id[vid]["on_behalf_of"] = {"call_id": cid, "image_id": calls_by_id[cid]["image_id"],
                                            "role": "token_validation"}
    for att in an.imports:
        for f in att.fetches:
            calls_by_id[f.id]["on_behalf_of"] = {"call_id": att.call.id, "image_id": att.image_id,
                                                 "role": "web_download"}
    for img in images:
        img["imports"] = [attempt_dict(a) for a in an.imports if a.image_id == img["id"]]


def _tls_dict(t: TlsSession) -> dict:
    return _TLS(tls_fields(t))


def _tcp_dict(f, ev: Evidence) -> dict:
    """One connection's zero-window and window-full periods, retransmissions and FIN/RSTs (tcp/stalls.py), in its file's numbers."""
    frames = [x for z in f.zero_windows + f.window_full for x in z.frames] + [e.frame for e in f.ends]
    return {**ev.item(f.capture, f.conn_id, frames), "client": f.client, "server": f.server,
            "zero_windows": [{"receiver": z.receiver, "start": z.start, "end": z.end, "seconds": number(z.seconds),
                              "frames": ev.frames(f.capture, z.frames)} for z in f.zero_windows],
            "zero_window_count": dict(zip(("client", "server"), f.zero_window_count)),
            "zero_window_seconds": dict(zip(("client", "server"), f.zero_window_seconds)),
            "window_full": [{"receiver": p.receiver, "start": p.start, "end": p.end, "seconds": number(p.seconds),
                             "periods": p.periods, "frames": ev.frames(f.capture, p.frames)} for p in f.window_full],
            "window_full_count": dict(zip(("client", "server"), f.window_full_count)),
            "window_full_seconds": dict(zip(("client", "server"), f.window_full_seconds)),
            "window_scale": dict(zip(("client", "server"), f.window_scale)),
            "retransmissions": {"client_to_server": f.retransmissions[0], "server_to_client": f.retransmissions[1]},
            "ends": [{"kind": e.kind, "sender": e.sender, "time": e.time, "frame": ev.frames(f.capture, [e.frame])[0]}
                     for e in f.ends]}


def _sql_digest(an) -> list[dict]:
    df = digest_table([r.stmt for r in an.sql], show_secrets=an.options.show_secrets).reset_index()
    if df is None or len(df) == 0:
        return []
    return [{k: _json_safe(v) for k, v in rec.items()} for rec in df.to_dict("records")]


def _call_dict(c, ev: Evidence, lane: Lane, tcp_facts: dict) -> dict:
    t = c.tx
    f = http_fields(t)
    return {
        "id": c.id, "service": c.service, "kind": c.kind, "summary": c.summary,
        **_CALL_HTTP(f),
        "encrypted_only": False, "hop": c.hop, "peer": c.peer,
        **_CALL_TIMES(f),
        "latency": number((c.end - c.start) if c.end is not None and c.start is not None else None),
        **_CALL_SIZES(f),
        "request_digests": _digests(f),
        "image_id": c.image_id,
        "frames": {"request": ev.frames(c.capture, f["request_frames"]),
                   "response": ev.frames(c.capture, f["response_frames"])},
        **ev.item(c.capture, t.conn_id, event_frames(t)),  # capture, file, conn_id, wireshark_filter
        **_CALL_STATE(f),
        "sql": list(c.sql),
        **_CALL_HEADERS(f),  # redacted with the whole document
        "request_json": _json_safe(t.request_body.json),
        "response_json": _json_safe(t.response_body.json),
        "notes": f["notes"],
        # who talked to whom (lanes.py) and the image bytes over time (throughput.py)
        "lane": lane.lane, "roles": lane.roles, "serves": lane.serves, "token_validation": lane.token_validation,
        "throughput": throughput(c, lane.lane, tcp_facts.get((c.capture, t.conn_id))),
    }


def _sql_dict(r, hops, ev: Evidence) -> dict:
    s = r.stmt
    f = sql_fields(s)
    sc = r.meaning.status_change
    return {
        "id": r.id, **ev.item(r.capture, s.conn_id, event_frames(s)),
        **_SQL(f),
        "frames": {"request": ev.frames(r.capture, f["request_frames"]),
                   "response": ev.frames(r.capture, f["response_frames"])},
        "call_id": r.call_id, "service": r.service, "image_id": r.meaning.image_id,
        "table": r.meaning.table, "operation": r.meaning.operation, "summary": r.meaning.summary,
        "status_change": ({"from": sc.expected, "to": sc.status, "ok": r.meaning.ok}
                          if sc is not None else None),
        **_SQL_STATE(f),
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
