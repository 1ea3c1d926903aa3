"""Log files joined to the capture: haproxy lines to their TLS connections, service messages to calls.

1. Each log is recognised (or named), its clock offset given or estimated (logclock), then
   streamed: only records inside the capture's window (plus a margin) are kept.
   The slow query log's statements are kept the same way (their times are epoch seconds).
2. haproxy lines are tied to the TLS connection of the same client ip:port and time.  Without keys
   that connection's requests become calls from the log (method, path, status, sizes, timings);
   with keys the decrypted request and the line must agree.
3. After the analysis: request ids join service messages and client lines to calls; uWSGI and
   Apache lines join by method, path, status and time.  4xx/5xx findings quote the service's own
   errors; every call is marked seen in packets, log or both; lines that match nothing are listed.
4. Slow query log statements join the capture's statements by connection id and fingerprint (logmariadb).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from http import HTTPStatus

from ..logs.reader import LogScan
from ..logs.records import LogMessage, LogRequest, LogSlowQuery, ParseStats
from ..protocols.http.events import BodyInfo, HttpTransaction
from ..protocols.tls.events import TlsSession
from .analyze import AnalysisOptions, analyze
from .findings import sort_findings
from .logclock import MAX_OFFSET, Anchors, OffsetVotes, request_id
from .logdoc import add_logs, http_log_fields, logs_section, summary_line
from .logmatch import match_records
from .logmariadb import join_slow_queries

MARGIN = 600.0  # seconds around the capture whose log lines are kept (to list what happened just outside it)
NEAR_CAP = 25_000  # records held while the offset is estimated (about 25 MB)
TOLERANCE = 1.0  # seconds: a log line's time against the packets' (after the offset)
HAPROXY_SLACK = 0.002  # seconds


@dataclass
class LogSpec:
    path: str
    format: str | None = None  # recognised from the lines when not named
    offset: float | None = None  # seconds to add to the log's times; estimated when not given


@dataclass
class LogFile:
    path: str
    format: str
    offset: float = 0.0
    offset_how: str = "none"  # given | estimated | none | untimed (client --debug) | epoch (slow log)
    offset_matches: int = 0
    stats: ParseStats = field(default_factory=ParseStats)
    requests: list[LogRequest] = field(default_factory=list)
    messages: list[LogMessage] = field(default_factory=list)
    statements: list[LogSlowQuery] = field(default_factory=list)  # the slow query log's
    before: int = 0  # records before / after the kept window
    after: int = 0
    passes: int = 1  # 2: too many lines near the capture to hold while the offset was estimated


def read_logs(specs: list[LogSpec], events: list, window: tuple[float, float] | None) -> list[LogFile]:
    anchors = Anchors.of(events)
    return [_read_one(s, anchors, window) for s in specs]


def _read_one(spec: LogSpec, anchors: Anchors, window) -> LogFile:
    """One pass over the file: the lines near the capture are parsed (within the widest clock offset when
    the offset is to be estimated), vote for the offset, and are kept; the window is then applied exactly.
    Past NEAR_CAP such records (a busy log of the same day) they are no longer kept, and a second pass,
    with the offset known, keeps the window's: memory stays bounded whatever the log."""
    scan = LogScan(spec.path, spec.format, _near_window(window, spec.offset))
    votes = OffsetVotes(anchors) if spec.offset is None else None
    near: list | None = []
    for rec in scan:
        if votes is not None and rec.time is not None and not isinstance(rec, LogSlowQuery):
            votes.add(rec)
        if near is not None:
            near.append(rec)
            if len(near) > NEAR_CAP:
                near = None
    lf = LogFile(path=spec.path, format=scan.fmt, stats=scan.stats, before=scan.stats.before, after=scan.stats.after)
    if spec.offset is not None:
        lf.offset, lf.offset_how = spec.offset, "given"
    elif lf.format == "client":
        lf.offset_how = "untimed"  # keystoneauth's lines carry no time: joined by request id and order
    elif lf.format == "slowlog":
        lf.offset_how = "epoch"  # SET timestamp=: seconds since the epoch, no zone to guess
    else:
        lf.offset, lf.offset_matches = votes.estimate()
        lf.offset_how = "estimated" if lf.offset_matches else "none"
    if near is None:
        lf.passes = 2
        again = LogScan(spec.path, lf.format, _near_window(window, lf.offset))
        lf.before, lf.after = 0, 0
        _keep(lf, again, window)
        lf.before, lf.after = lf.before + again.stats.before, lf.after + again.stats.after
    else:
        _keep(lf, near, window)
    return lf


def _near_window(window, offset: float | None) -> tuple[float, float] | None:
    """The lines worth parsing, in the log's own clock: the capture's window and margin, shifted by the
    offset when given, widened by the widest offset when it is to be estimated."""
    if window is None:
        return None
    widen = MARGIN + (MAX_OFFSET if offset is None else 0.0)
    shift = offset or 0.0
    return window[0] - shift - widen, window[1] - shift + widen


def _keep(lf: LogFile, records: list, window) -> None:
    lo, hi = (window[0] - MARGIN, window[1] + MARGIN) if window else (float("-inf"), float("inf"))
    for rec in records:
        if rec.time is not None:
            rec.time += lf.offset
            if rec.time < lo:
                lf.before += 1
                continue
            if rec.time > hi:
                lf.after += 1
                continue
        if isinstance(rec, LogRequest):
            lf.requests.append(rec)
        elif isinstance(rec, LogSlowQuery):
            lf.statements.append(rec)
        else:
            lf.messages.append(rec)


# ---------------------------------------------------------------- haproxy ↔ TLS connections (before the analysis)

@dataclass
class HaproxyJoin:
    synthesized: dict[int, LogRequest] = field(default_factory=dict)  # id(tx) → its line
    paired: dict[int, list] = field(default_factory=dict)  # id(tx) of a packet call → the lines that tell it
    disagreements: list[tuple[LogRequest, HttpTransaction]] = field(default_factory=list)
    transactions: list[HttpTransaction] = field(default_factory=list)


def join_haproxy(files: list[LogFile], events: list) -> HaproxyJoin:
    out = HaproxyJoin()
    sessions: dict[str, list] = {}
    for ev in events:
        if isinstance(ev, TlsSession) and ev.first_up is not None:
            sessions.setdefault(ev.client, []).append(ev)
    txs_by_conn: dict[tuple, list[HttpTransaction]] = {}
    plain_by_client: dict[str, list[HttpTransaction]] = {}
    plain_by_route: dict[tuple, list[HttpTransaction]] = {}
    for ev in events:
        if isinstance(ev, HttpTransaction) and ev.method:
            txs_by_conn.setdefault((ev.capture, ev.conn_id), []).append(ev)
            if not ev.tls:
                plain_by_client.setdefault(ev.client, []).append(ev)
                plain_by_route.setdefault((ev.method, ev.uri), []).append(ev)
    used: set[int] = set()  # backend transactions already lent to a line
    for lf in files:
        for rec in lf.requests:
            if rec.source != "haproxy" or rec.method is None:
                continue
            s = _session_at(sessions.get(rec.client, ()), rec.time)
            if s is None:
                tx = _nearest(plain_by_client.get(rec.client, ()), rec)
                if tx is not None:
                    out.paired.setdefault(id(tx), []).append(rec)
                continue
            if s.decrypted:
                tx = _nearest(txs_by_conn.get((s.capture, s.conn_id), ()), rec)
                if tx is None:
                    continue
                out.paired.setdefault(id(tx), []).append(rec)
                if (tx.method, tx.uri) != (rec.method, rec.path) or None not in (rec.status, tx.status) \
                        and tx.status != rec.status:
                    out.disagreements.append((rec, tx))
                continue
            tx = _transaction(rec, s)
            _fill_from_backend(tx, plain_by_route.get((rec.method, rec.path), ()), used)
            out.transactions.append(tx)
            out.synthesized[id(tx)] = rec
    return out


def _session_at(sessions, t: float):
    for s in sessions:
        end = max(x for x in (s.last_up, s.last_down, s.first_up) if x is not None)
        if s.first_up - TOLERANCE <= t <= end + TOLERANCE:
            return s
    return None


def _nearest(txs, rec: LogRequest):
    best, gap = None, TOLERANCE
    for tx in txs:
        d = abs((tx.request_first_time or 0.0) - rec.time)
        if d <= gap and (best is None or (tx.method, tx.uri) == (rec.method, rec.path)):
            best, gap = tx, d
    return best


def _transaction(rec: LogRequest, s) -> HttpTransaction:
    """The call haproxy logged on an encrypted connection, as far as the line tells it."""
    tr, tw, tc, tresp, _ = rec.timers if len(rec.timers) == 5 else (-1, -1, -1, -1, -1)
    # haproxy writes milliseconds and the offset is an estimate: start a little early so the call
    # comes before the backend request it caused (analysis/calls.py pairs them in time order)
    t = rec.time - HAPROXY_SLACK
    end = rec.time + rec.duration + HAPROXY_SLACK if rec.duration is not None else None
    first_resp = rec.time + (tr + tw + tc + tresp) / 1000.0 if min(tr, tw, tc, tresp) >= 0 else end
    try:
        reason = HTTPStatus(rec.status).phrase if rec.status else ""
    except ValueError:
        reason = ""
    frames = [f for f in (s.first_up_frame, s.last_down_frame or s.last_up_frame) if f]
    tx = HttpTransaction(
        conn_id=s.conn_id, client=s.client, server=s.server, method=rec.method, uri=rec.path, version="HTTP/1.1",
        request_first_time=t, request_last_time=rec.time + tr / 1000.0 if tr >= 0 else t,
        request_frames=(min(frames), max(frames)) if frames else None,
        status=rec.status, reason=reason, response_first_time=first_resp, response_last_time=end,
        response_body=BodyInfo(wire_size=rec.bytes_out or 0), tls=True,
        notes=[f"from the haproxy log {os.path.basename(rec.file)}:{rec.line} (TLS not decrypted)"],
        capture=s.capture)
    return tx


def _fill_from_backend(tx: HttpTransaction, candidates, used: set[int]) -> None:
    """haproxy forwards the request as it came: the backend hop in the capture (plain 5000/9292) has the
    bodies and headers the encrypted hop hid, so the log's call carries them (sizes, digests, reasons)."""
    end = tx.response_last_time if tx.response_last_time is not None else tx.request_first_time + TOLERANCE
    for b in candidates:
        t = b.request_first_time
        if t is None or not (tx.request_first_time <= t <= end) or id(b) in used:
            continue
        used.add(id(b))
        tx.request_headers, tx.request_body = list(b.request_headers), b.request_body
        tx.response_headers, tx.response_body = list(b.response_headers), b.response_body
        tx.truncated, tx.incomplete, tx.gap = b.truncated, b.incomplete, b.gap
        if tx.status == b.status:
            tx.reason = b.reason
        tx.notes.append(f"bodies and headers from the backend hop (tcp.stream {b.conn_id})")
        return


# ---------------------------------------------------------------- the whole run

@dataclass
class LoggedAnalysis:
    an: object  # Analysis
    files: list[LogFile]
    seen: dict[str, str]  # call id → packets | log | both
    lines: dict[str, list]  # call id → the log records joined to it
    unmatched: list
    slow: dict = field(default_factory=dict)  # sql row id → its slow query log record
    slow_how: dict = field(default_factory=dict)  # sql row id → thread | time
    log_transactions: list = field(default_factory=list)  # the calls haproxy logged on encrypted connections

    def to_dict(self) -> dict:
        return add_logs(self.an.to_dict(), self)

    def http_rows(self, rows: list[dict]) -> list[dict]:
        """`http` rows (of the packets' and the log's transactions) with where each was seen and its log lines."""
        return http_log_fields(rows, self)

    def summary(self) -> str:
        """One line for stderr about what the logs added (without building the whole document)."""
        return summary_line(logs_section(self, _window(self.an.result)))


def analyse_with_logs(result, options: AnalysisOptions, specs: list[LogSpec]):
    """analyze(), with the logs joined in; without logs, the plain Analysis."""
    if not specs:
        return analyze(result, options)
    window = _window(result)
    files = read_logs(specs, result.events, window)
    hj = join_haproxy(files, result.events)
    an = analyze(dataclasses.replace(result, events=list(result.events) + hj.transactions), options)
    seen, lines, unmatched, extra = match_records(an, files, hj)
    slow, slow_how, slow_unmatched = join_slow_queries(an, files)
    if extra:
        an.findings = sort_findings(list(an.findings) + extra)
        for img in an.images:
            img.findings = [f.id for f in an.findings if f.image_id == img.id]
    return LoggedAnalysis(an=an, files=files, seen=seen, lines=lines, unmatched=unmatched + slow_unmatched,
                          slow=slow, slow_how=slow_how, log_transactions=hj.transactions)


def _window(result) -> tuple[float, float] | None:
    firsts = [c.first_ts for c in result.captures if c.first_ts is not None]
    lasts = [c.last_ts for c in result.captures if c.last_ts is not None]
    return (min(firsts), max(lasts)) if firsts and lasts else None


__all__ = ["LogSpec", "LogFile", "LoggedAnalysis", "analyse_with_logs", "read_logs", "request_id"]
