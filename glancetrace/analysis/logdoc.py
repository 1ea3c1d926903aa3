"""The logs' part of the JSON document: each call's `seen_in` and log lines, the files read, what matched nothing."""

from __future__ import annotations

import os

from ..logs.records import LogMessage, LogRequest, LogSlowQuery
from ..openstack.redact_output import redact_log_text, redact_output

MAX_LINES_PER_CALL = 10
MAX_UNMATCHED = 200


def record_dict(rec, show: bool, window: tuple[float, float] | None = None) -> dict:
    d = {"file": rec.file, "line": rec.line, "source": rec.source, "time": rec.time,
         "text": redact_log_text(rec.text, show)}
    if isinstance(rec, LogRequest):
        d.update(method=rec.method, path=redact_log_text(rec.path, show), status=rec.status,
                 request_id=rec.request_id, client=rec.client)
    elif isinstance(rec, LogSlowQuery):
        d.update(thread_id=rec.thread_id, query_time=rec.query_time, lock_time=rec.lock_time,
                 rows_sent=rec.rows_sent, rows_examined=rec.rows_examined, rows_affected=rec.rows_affected,
                 user=rec.user, host=rec.host, schema=rec.schema)
    elif isinstance(rec, LogMessage):
        d.update(level=rec.level, logger=rec.logger, request_id=rec.request_id,
                 exception=redact_log_text(rec.exception, show))
    if window and rec.time is not None:
        d["when"] = "before the capture" if rec.time < window[0] else (
            "after the capture" if rec.time > window[1] else "during the capture")
    return d


def add_logs(doc: dict, la) -> dict:
    show = la.an.options.show_secrets
    first, last = doc["summary"]["first_ts"], doc["summary"]["last_ts"]
    window = (first, last) if first is not None and last is not None else None
    for c in doc["calls"]:
        c["seen_in"] = la.seen.get(c["id"], "packets")
        c["log_lines"] = [record_dict(r, show) for r in la.lines.get(c["id"], ())[:MAX_LINES_PER_CALL]]
    for s in doc["sql"]:
        s["seen_in"] = "both" if s["id"] in la.slow else "packets"
        s["slow_log"] = _slow(la.slow[s["id"]], la.slow_how[s["id"]], s["latency"], show) if s["id"] in la.slow \
            else None
    doc["logs"] = logs_section(la, window)
    return doc


def logs_section(la, window: tuple[float, float] | None) -> dict:
    """The document's `logs`: the files read, how many calls each source saw, the lines that match nothing."""
    show = la.an.options.show_secrets
    counts = {k: sum(1 for v in la.seen.values() if v == k) for k in ("packets", "log", "both")}
    logs = {
        "files": [{"path": f.path, "name": os.path.basename(f.path), "format": f.format,
                   "offset": f.offset, "offset_how": f.offset_how, "offset_matches": f.offset_matches,
                   "lines": f.stats.lines, "records": f.stats.records, "garbled": f.stats.garbled,
                   "garbled_lines": list(f.stats.garbled_examples), "kept": len(f.requests) + len(f.messages) + len(f.statements),
                   "before_window": f.before, "after_window": f.after, "passes": f.passes} for f in la.files],
        "calls_seen_in": counts,
        "sql_in_slow_log": len(la.slow),
        "unmatched_count": len(la.unmatched),
        "unmatched": [record_dict(r, show, window) for r in la.unmatched[:MAX_UNMATCHED]],
    }
    return redact_output(logs, show)  # the SQL of a slow log has the packets' redaction too


def http_log_fields(rows: list[dict], la) -> list[dict]:
    """`http` rows with `seen_in` and `log_lines`, found by capture, connection and request time."""
    show = la.an.options.show_secrets
    by_key = {(c.tx.capture, c.tx.conn_id, c.tx.request_first_time): c.id for c in la.an.calls}
    out = []
    for r in rows:
        cid = by_key.get((r["capture"], r["conn_id"], r["request_time"]))
        lines = [record_dict(x, show) for x in la.lines.get(cid, ())[:MAX_LINES_PER_CALL]]
        out.append({**r, "seen_in": la.seen.get(cid, "packets"), "log_lines": redact_output(lines, show)})
    return out


def summary_line(doc_logs: dict) -> str:
    """One line for stderr: what the logs added and what in them matched nothing."""
    files = doc_logs["files"]
    seen = doc_logs["calls_seen_in"]
    text = (f"logs: {len(files)} file(s), {sum(f['kept'] for f in files):,} lines near the capture; calls seen in "
            f"a log only {seen['log']}, in both {seen['both']}")
    if doc_logs.get("sql_in_slow_log"):
        text += f"; {doc_logs['sql_in_slow_log']} statements in the slow query log"
    garbled = sum(f["garbled"] for f in files)
    if garbled:
        text += f"; {garbled} garbled lines skipped"
    return text + f"; {doc_logs['unmatched_count']} log lines match nothing in the capture"


def _slow(rec: LogSlowQuery, how: str, wire: float | None, show: bool) -> dict:
    """What the server measured beside what the capture saw: Query_time against the wire latency."""
    d = redact_output(record_dict(rec, show), show)
    d.update(matched_by=how, wire_latency=wire,
             wire_minus_query_time=wire - rec.query_time if wire is not None and rec.query_time is not None else None)
    return d
