"""Log records joined to the analysed calls (after the analysis): request ids, routes and times.

- oslo.log messages and client --debug lines: by request id (the response's x-openstack-request-id);
- uWSGI and Apache lines, and haproxy lines not tied to a TLS connection: by method, path, status and
  time to a call on the service side;
- client lines without a request id: in order, by method, path, status and the URL's port;
- MariaDB's aborted/killed connections: by the server's connection id in the capture's handshakes (logmariadb).
4xx/5xx findings then quote the service's own warnings and errors for that request.
"""

from __future__ import annotations

import os
from collections import defaultdict

from ..logs.records import LogMessage, LogRequest
from ..openstack.redact_output import redact_log_text
from ..protocols.mysql.events import MysqlHandshake
from . import limits
from .findings import Finding
from .logclock import request_id
from .logmariadb import join_error_log

QUOTED_LEVELS = ("WARNING", "ERROR", "CRITICAL")
MAX_QUOTES = 2


def match_records(an, files, hj):
    """(seen per call id, records per call id, unmatched records, new findings)."""
    calls = an.calls
    by_tx = {id(c.tx): c for c in calls}
    lines: dict[str, list] = defaultdict(list)
    for txid, rec in hj.synthesized.items():
        lines[by_tx[txid].id].append(rec)
    for txid, recs in hj.paired.items():
        if txid in by_tx:
            lines[by_tx[txid].id].extend(recs)
    by_rid: dict[str, list] = defaultdict(list)
    for c in calls:
        rid = request_id(c.tx)
        if rid:
            by_rid[rid].append(c)
    taken = {id(r) for recs in lines.values() for r in recs}
    unmatched: list = []
    extra, joined = join_error_log(an, files)
    for lf in files:
        for rec in lf.requests:
            if id(rec) in taken:
                continue
            call = _match_request(rec, calls, by_rid, lines)
            if call is None:
                unmatched.append(rec)
            else:
                lines[call.id].append(rec)
        for msg in lf.messages:
            hit = by_rid.get(msg.request_id or "", [])
            for c in hit:
                lines[c.id].append(msg)
            if not hit and msg.level in QUOTED_LEVELS and id(msg) not in joined:
                unmatched.append(msg)
    extra += [_disagreement(rec, tx, by_tx) for rec, tx in hj.disagreements]
    _quote_in_findings(an, lines)
    seen = {}
    for c in calls:
        if id(c.tx) in hj.synthesized:
            seen[c.id] = "log"
        else:
            seen[c.id] = "both" if any(isinstance(r, LogRequest) or r.request_id for r in lines.get(c.id, ())) \
                else "packets"
    for c in calls:  # the backend hop haproxy opened for a line is that line's too
        if c.peer and seen[c.peer] == "log" and seen[c.id] == "packets":
            seen[c.id] = "both"
    return seen, dict(lines), unmatched, extra


def _match_request(rec: LogRequest, calls, by_rid, lines):
    if rec.request_id and rec.request_id in by_rid:
        cands = by_rid[rec.request_id]
        if rec.port is not None:
            same_port = [c for c in cands if c.server_port == rec.port]
            cands = same_port or cands
        return cands[0]
    if rec.source == "client":
        return _in_order(rec, calls, lines)
    tol = 2.5 if rec.source == "uwsgi" else 1.0
    best, gap = None, tol
    for c in calls:
        if c.hop == "frontend" or c.tx.method != rec.method or c.tx.uri != rec.path or c.tx.status != rec.status:
            continue
        if c.start is None or any(r.source == rec.source for r in lines.get(c.id, ())):
            continue
        d = abs(c.start - rec.time) if rec.source != "uwsgi" else abs(c.start - rec.time - 0.5)
        if d <= gap:
            best, gap = c, d
    return best


def _in_order(rec: LogRequest, calls, lines):
    """The first call with the line's method, path, status and port that no client line took yet; without
    one on that port (TLS not decrypted, no haproxy log), the first such call behind the proxy."""
    free = [c for c in calls if (c.tx.method, c.tx.uri) == (rec.method, rec.path)
            and rec.status in (c.tx.status, None)  # None: the client logged no answer (killed, cut off)
            and not any(r.source == "client" for r in lines.get(c.id, ()))]
    same_port = [c for c in free if c.server_port == rec.port]
    if same_port:
        return same_port[0]
    behind = [c for c in free if c.hop != "frontend"]
    return behind[0] if behind else None


def service_name(msg: LogMessage) -> str:
    top = msg.logger.split(".", 1)[0]
    if top == "glance":
        return "glance-api"
    return top or os.path.basename(msg.file)


def quote(msg: LogMessage, show_secrets: bool) -> str:
    text = msg.exception or msg.message
    return f"{service_name(msg)}: {redact_log_text(text, show_secrets)}"


# findings about how a call ended, besides its HTTP status: the service's own words belong in them too
QUOTED_CODES = frozenset({"upload-interrupted", "not-committed", "proxy-answered"}) | limits.CODES


def _quote_in_findings(an, lines) -> None:
    by_id = {c.id: c for c in an.calls}
    for f in an.findings:
        if not f.call_id or not (f.code.startswith("http-") or f.code in QUOTED_CODES):
            continue
        c = by_id[f.call_id]
        msgs = [r for cid in (c.id, c.peer) if cid for r in lines.get(cid, ())
                if isinstance(r, LogMessage) and r.level in QUOTED_LEVELS]
        quotes = list(dict.fromkeys(quote(m, an.options.show_secrets) for m in msgs))[:MAX_QUOTES]
        if quotes:
            f.message += " — " + "; ".join(f"“{q}”" for q in quotes)


def _disagreement(rec: LogRequest, tx, by_tx) -> Finding:
    call = by_tx.get(id(tx))
    return Finding("warning", "log-disagrees",
                   f"{os.path.basename(rec.file)}:{rec.line}: haproxy logged {rec.method} {rec.path} → {rec.status} "
                   f"where the decrypted packets show {tx.method} {tx.uri} → {tx.status}",
                   call_id=call.id if call else None, conn_id=tx.conn_id, capture=tx.capture)
