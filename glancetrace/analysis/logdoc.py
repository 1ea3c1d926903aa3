"""The logs' part of the JSON document: each call's `seen_in` and log lines, the files read, what matched nothing."""

from __future__ import annotations

import os

from ..logs.records import LogMessage, LogRequest
from ..openstack.redact_output import redact_log_text

MAX_LINES_PER_CALL = 10
MAX_UNMATCHED = 200


def record_dict(rec, show: bool, window: tuple[float, float] | None = None) -> dict:
    d = {"file": rec.file, "line": rec.line, "source": rec.source, "time": rec.time,
         "text": redact_log_text(rec.text, show)}
    if isinstance(rec, LogRequest):
        d.update(method=rec.method, path=redact_log_text(rec.path, show), status=rec.status,
                 request_id=rec.request_id, client=rec.client)
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
    counts = {k: sum(1 for v in la.seen.values() if v == k) for k in ("packets", "log", "both")}
    doc["logs"] = {
        "files": [{"path": f.path, "name": os.path.basename(f.path), "format": f.format,
                   "offset": f.offset, "offset_how": f.offset_how, "offset_matches": f.offset_matches,
                   "lines": f.stats.lines, "records": f.stats.records, "garbled": f.stats.garbled,
                   "garbled_lines": list(f.stats.garbled_examples), "kept": len(f.requests) + len(f.messages),
                   "before_window": f.before, "after_window": f.after} for f in la.files],
        "calls_seen_in": counts,
        "unmatched_count": len(la.unmatched),
        "unmatched": [record_dict(r, show, window) for r in la.unmatched[:MAX_UNMATCHED]],
    }
    return doc
