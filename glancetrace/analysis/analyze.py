"""From decoded events to the whole analysis: calls, SQL, correlation, image lifecycles, findings.

`analyze(result)` returns an `Analysis`; `Analysis.to_dict()` is the JSON
document that `report --format json` prints and the HTML report renders.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..openstack import glance_sql, redact
from ..protocols.http.events import HttpTransaction
from ..protocols.mysql.events import MysqlHandshake, SqlStatement
from ..protocols.tls.events import TlsSession
from . import correlate, imports, limits, mysql_hops, mysql_hops_report, tokens, transactions, upload_end
from .calls import Call, build_calls
from .document import analysis_dict
from .evidence import event_frames
from .merge import dedupe_across_captures
from .served import served_validations
from ..openstack.image_status import IN_PROGRESS
from .findings import Finding, http_status_finding, human_bytes, sort_findings
from .lifecycle import Image, Transition, order_transitions

# findings that already say how their call ended: no separate HTTP status finding for it
EXPLAINS_CALL = frozenset({"upload-interrupted", "not-committed", "proxy-answered"}) | limits.CODES
IMAGE_FIELDS = ("name", "size", "checksum", "os_hash_algo", "os_hash_value", "disk_format",
                "container_format", "visibility", "protected", "virtual_size")


@dataclass
class AnalysisOptions:
    slow_sql: float = 1.0  # seconds: statements slower than this are findings
    show_secrets: bool = False
    command: str = ""


@dataclass
class SqlRow:
    id: str
    stmt: SqlStatement
    meaning: Any  # glance_sql.GlanceSql
    service: str = "other"
    call_id: str | None = None

    @property
    def capture(self) -> int:
        return self.stmt.capture


@dataclass
class Analysis:
    result: Any  # pipeline.PassResult
    options: AnalysisOptions
    calls: list[Call] = field(default_factory=list)
    sql: list[SqlRow] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    tls_sessions: list[TlsSession] = field(default_factory=list)
    handshakes: list[MysqlHandshake] = field(default_factory=list)
    mysql_hops: mysql_hops.MysqlHops = field(default_factory=mysql_hops.MysqlHops)
    imports: list[imports.ImportAttempt] = field(default_factory=list)
    served: dict[str, str] = field(default_factory=dict)  # Glance's token validation → the call it served
    tcp_facts: dict = field(default_factory=dict)  # (capture, conn_id) → protocols.tcp_facts.TcpFacts
    write_fates: dict = field(default_factory=dict)  # sql row id → transactions.WriteFate

    def to_dict(self) -> dict:
        return analysis_dict(self)


def call_frames(call: Call) -> list[int]:
    return event_frames(call.tx)


def sql_frames(row: SqlRow) -> list[int]:
    return event_frames(row.stmt)


def analyze(result, options: AnalysisOptions | None = None) -> Analysis:
    opt = options or AnalysisOptions()
    an = Analysis(result=result, options=opt)
    events = dedupe_across_captures(result.events)
    an.calls = build_calls([e for e in events if isinstance(e, HttpTransaction)])
    an.handshakes = [e for e in events if isinstance(e, MysqlHandshake)]
    an.tls_sessions = sorted((e for e in events if isinstance(e, TlsSession)), key=lambda t: (t.capture, t.conn_id))
    mysql = [(e.capture, e) for e in events if isinstance(e, (SqlStatement, MysqlHandshake))]
    an.mysql_hops = mysql_hops.pair_hops(mysql, result.connections, result.conn_captures)  # a proxied one once
    stmts = sorted((e for e in events if isinstance(e, SqlStatement) and an.mysql_hops.listed(e.capture, e)),
                   key=lambda s: (s.request_time, s.conn_id))
    an.sql = [SqlRow(id=f"s{i + 1}", stmt=s, meaning=glance_sql.interpret(s))
              for i, s in enumerate(stmts)]
    _services_of_connections(an)
    _correlate(an)
    an.served = served_validations(an.calls)
    an.tcp_facts = transactions.facts_by_connection(events)
    an.write_fates = transactions.write_fates(an.sql, an.tcp_facts)  # only committed changes are transitions
    _lifecycles(an)
    _imports(an)
    _findings(an)
    return an


def _services_of_connections(an: Analysis) -> None:
    """A connection's service: the database it logged into, else the tables its statements touch."""
    by_conn: dict[tuple, Counter] = {}
    for hs in an.handshakes:
        db = (hs.database or "").lower()
        if db in ("glance", "keystone"):
            by_conn.setdefault((hs.capture, hs.conn_id), Counter())[db] += 1000
    for row in an.sql:
        k = row.meaning.kind
        if k in ("glance", "keystone"):
            by_conn.setdefault((row.capture, row.stmt.conn_id), Counter())[k] += 1
    for row in an.sql:
        c = by_conn.get((row.capture, row.stmt.conn_id))
        row.service = c.most_common(1)[0][0] if c else "other"


def _correlate(an: Analysis) -> None:
    # the hop that reached the service is the one whose SQL we look for
    servers = [c for c in an.calls if c.hop != "frontend" and c.service in ("glance", "keystone")]
    calls = pd.DataFrame({
        "call_id": [c.id for c in servers],
        "service": [c.service for c in servers],
        "start": [c.start for c in servers],
        "end": [c.end if c.tx.status is not None else None for c in servers],
        "image_id": [c.image_id for c in servers],
    }, columns=["call_id", "service", "start", "end", "image_id"])
    calls["start"] = calls["start"].astype(float)
    calls["end"] = calls["end"].astype(float)
    sql = pd.DataFrame({
        "conn_key": [f"{r.capture}:{r.stmt.conn_id}" for r in an.sql],
        "time": [r.stmt.request_time for r in an.sql],
        "service": [r.service for r in an.sql],
        "image_id": [r.meaning.image_id for r in an.sql],
        "operation": [r.meaning.operation for r in an.sql],
    }, columns=["conn_key", "time", "service", "image_id", "operation"])
    sql["time"] = sql["time"].astype(float)
    assigned = correlate.assign(calls, sql)
    by_id = {c.id: c for c in an.calls}
    for row, cid in zip(an.sql, assigned):
        row.call_id = cid
        if cid:
            by_id[cid].sql.append(row.id)
            peer = by_id[cid].peer
            if peer:
                by_id[peer].sql.append(row.id)


def _lifecycles(an: Analysis) -> None:
    images: dict[str, Image] = {}

    def image(iid: str) -> Image:
        if iid not in images:
            images[iid] = Image(id=iid)
        return images[iid]

    for row in an.sql:
        m = row.meaning
        iid = m.image_id
        if not iid or m.kind != "glance":
            continue
        img = image(iid)
        img.sql.append(row.id)
        vals = dict(m.meaning.values) if m.meaning.values else {}
        fate = an.write_fates.get(row.id)
        gone = fate is not None and not fate.took_effect
        if m.table == "images" and m.ok is not False and m.meaning.is_write:
            for k in IMAGE_FIELDS if not gone else ("name",):  # an uncommitted write only names the image
                if vals.get(k) is not None and (not gone or k not in img.fields):
                    img.fields[k] = vals[k]
        sc = m.status_change
        if sc is not None and sc.table == "images":
            img.transitions.append(Transition(
                status=sc.status, time=row.stmt.request_time, source="sql", sql_id=row.id,
                call_id=row.call_id, frames=sql_frames(row), failed=m.ok is False or gone,
                previous=sc.expected, uncertain=m.ok is None and not gone, attempt=fate.fate if gone else None))
    for call in an.calls:
        if not call.image_id or call.service not in ("glance", "swift"):
            continue
        img = image(call.image_id)
        if call.hop != "backend" or call.peer is None:
            img.calls.append(call.id)
        for k, v in (call.image or {}).items():
            if v is not None and k in IMAGE_FIELDS and k not in img.fields:
                img.fields[k] = v
        st = (call.image or {}).get("status")
        if st and call.tx.status is not None and call.tx.status < 400:
            img.transitions.append(Transition(status=st, time=call.end or call.start, source="api",
                                              call_id=call.id, frames=call_frames(call)))
    for img in images.values():
        img.name = img.fields.get("name")
        order_transitions(img)
    an.images = sorted(images.values(), key=lambda i: (i.transitions[0].time if i.transitions else 0.0, i.id))


def _imports(an: Analysis) -> None:
    """Import attempts; what Glance fetched for a web-download joins the image's calls."""
    an.imports = imports.find_imports(an.calls, an.sql, an.result)
    by_id = {i.id: i for i in an.images}
    for att in an.imports:
        img = by_id.get(att.image_id)
        for f in att.fetches:
            f.image_id = att.image_id
            if img is not None and f.id not in img.calls:
                img.calls.append(f.id)


def _label(img: Image) -> str:
    return f"image {img.name!r} ({img.id})" if img.name else f"image {img.id}"


def _findings(an: Analysis) -> None:
    out: list[Finding] = []
    calls = {c.id: c for c in an.calls}
    labels = {img.id: _label(img) for img in an.images}
    out.extend(imports.import_findings(an.imports, labels, call_frames))
    out.extend(tokens.token_findings(an.calls, an.served, labels, call_frames))
    out.extend(limits.create_limit_findings(an.calls, call_frames))
    causes = {f.image_id: f.code for f in out if f.image_id and f.code in ("import-failed", "import-stalled", *tokens.CODES)}
    rows = {r.id: r for r in an.sql}
    for img in an.images:
        label = labels[img.id]
        final = img.final_status
        last = img.effective[-1] if img.effective else None
        if final in IN_PROGRESS and last is not None:
            sev = "warning" if final == "queued" else "error"
            why = _stuck_why(img, causes.get(img.id), calls)
            out.append(Finding(sev, f"stuck-{final}", f"{label} is still '{final}' when the capture ends: {why}",
                               image_id=img.id, call_id=last.call_id, sql_id=last.sql_id, frames=last.frames))
        if final == "active" and str(img.fields.get("size")) == "0":
            out.append(Finding("info", "active-empty", f"{label} went active with 0 bytes: an empty upload (e.g. "
                               f"`openstack image create` without --file reading an empty stdin)",
                               image_id=img.id, call_id=last.call_id, sql_id=last.sql_id, frames=last.frames))
        if final == "killed":
            out.append(Finding("error", "killed", f"{label} was killed: Glance gave up on its data",
                               image_id=img.id, call_id=last.call_id, sql_id=last.sql_id, frames=last.frames))
        _transition_findings(an, img, label, calls, rows, out)
        _upload_checks(img, label, calls, out, an.tcp_facts)
        _store_checks(img, label, calls, out)
    # a body cut short by Glance's 401 is not an interrupted upload: the token finding says why
    refused_token = {f.call_id for f in out if f.code in tokens.CODES}
    out = [f for f in out if not (f.code == "upload-interrupted" and f.call_id in refused_token)]
    explained = refused_token | {f.call_id for f in out if f.code in EXPLAINS_CALL}
    # the call that failed for a known reason, the import's own fetches, the validation that said 404
    explained |= {c.id for a in an.imports if a.failure for c in [a.call, *a.fetches]}
    refused = explained | {calls[c].peer for c in explained if c in calls and calls[c].peer}
    explained |= {vid for vid, cid in an.served.items() if cid in refused}
    for call in an.calls:
        if call.hop == "backend" and call.peer and calls[call.peer].tx.status is not None:
            continue  # the frontend hop reports the same outcome
        if call.id in explained:
            continue  # the interrupted upload's finding already says how it ended
        f = http_status_finding(call, call_frames(call))
        if f:
            out.append(f)
        if call.tx.gap:
            out.append(Finding("warning", "capture-gap",
                               f"{call.tx.method} {call.tx.uri}: the capture lost packets inside this call, "
                               f"so its sizes and digests are incomplete evidence",
                               image_id=call.image_id, call_id=call.id, frames=call_frames(call),
                               conn_id=call.tx.conn_id, capture=call.capture))
    for row in an.sql:
        s = row.stmt
        if s.result == "error":
            out.append(Finding("error", "sql-error", f"SQL error {s.error_code} ({s.error_message}) on: "
                               f"{_short(redact.redact_sql(s.sql, an.options.show_secrets))}",
                               image_id=row.meaning.image_id, call_id=row.call_id, sql_id=row.id,
                               frames=sql_frames(row), conn_id=s.conn_id, capture=row.capture))
        elif s.latency is not None and s.latency > an.options.slow_sql:
            out.append(Finding("warning", "slow-sql", f"slow SQL ({s.latency:.3f} s): "
                               f"{_short(redact.redact_sql(s.sql, an.options.show_secrets))}",
                               image_id=row.meaning.image_id, call_id=row.call_id, sql_id=row.id,
                               frames=sql_frames(row), conn_id=s.conn_id, capture=row.capture))
    out.extend(_lost_connection_findings(an, calls))
    out.extend(mysql_hops_report.close_findings(an.mysql_hops, mysql_hops_report.row_lookup(an.mysql_hops, an.sql)))
    undecrypted = [t for t in an.tls_sessions if not t.decrypted]
    if undecrypted:
        first = undecrypted[0]
        out.append(Finding("info", "tls-encrypted",
                           f"{len(undecrypted)} TLS connection(s) could not be decrypted "
                           f"({_short(first.why_not or 'no keys given', 80)}); give --keylog to see inside them",
                           frames=first.handshake_frames, conn_id=first.conn_id, capture=first.capture))
    for f in out:
        call, row = calls.get(f.call_id), rows.get(f.sql_id)
        # the connection is the one the cited frames are on: a status change seen in SQL cites the
        # statement's frames, on the database connection, not the call's HTTP connection
        if f.conn_id is None and row is not None and set(f.frames) <= set(sql_frames(row)):
            f.conn_id, f.capture = row.stmt.conn_id, row.capture
        if f.conn_id is None and call is not None:
            f.conn_id, f.capture = call.tx.conn_id, call.capture
        # when it was seen: the statement that shows it, else the end of the call (a failure shows there)
        if f.time is None:
            f.time = row.stmt.request_time if row is not None else (call.end if call is not None else None)
    an.findings = sort_findings(out)
    by_img = {i.id: i for i in an.images}
    for f in an.findings:
        if f.image_id in by_img:
            by_img[f.image_id].findings.append(f.id)


def _stuck_why(img: Image, cause: str | None, calls: dict[str, Call]) -> str:
    """Why an image is still queued/saving/importing, pointing at the finding that knows the cause."""
    started = any(t.status == "saving" for t in img.effective)
    if cause == "import-stalled":
        return "its import is waiting on its source (see the import-stalled finding)"
    if cause == "import-failed" and img.final_status == "importing":
        return "its import failed and Glance left it 'importing' (see the import-failed finding)"
    if img.final_status != "queued":
        return "the upload or import never finished"
    if cause == "import-failed":
        return "its import failed (see the import-failed finding)"
    if cause and not started:
        return f"Glance refused its upload with 401 (see the {cause} finding)"
    if started:
        return "an upload started but failed, and Glance put the image back to 'queued' without data"
    if any(calls[c].kind in ("upload", "stage") for c in img.calls):
        return "an upload was sent but never got as far as Glance writing its data (see the upload's finding)"
    return "it has no data: no upload reached Glance"


def _transition_findings(an: Analysis, img: Image, label: str, calls: dict[str, Call], rows: dict,
                         out: list[Finding]) -> None:
    """Status changes that did not happen: never committed, or a compare-and-swap that matched nothing."""
    for t in img.transitions:
        if t.attempt:
            out.append(Finding("error", "not-committed", transactions.attempt_message(
                label, t.status, rows[t.sql_id], an.write_fates[t.sql_id], calls.get(t.call_id), img.final_status),
                image_id=img.id, call_id=t.call_id, sql_id=t.sql_id, frames=t.frames))
        elif t.failed:
            out.append(Finding("error", "failed-transition",
                               f"status change of {label} {t.previous or '?'} → {t.status} failed: the "
                               f"compare-and-swap UPDATE matched 0 rows (another request changed the image first)",
                               image_id=img.id, call_id=t.call_id, sql_id=t.sql_id, frames=t.frames))


def _lost_connection_findings(an: Analysis, calls: dict[str, Call]) -> list[Finding]:
    """MySQL connections closed under a statement in flight (proxied ones have their own close findings)."""
    out = []
    for lost in transactions.lost_connections(an.sql, an.tcp_facts, an.handshakes, skip=set(an.mysql_hops.pair_of)):
        row = lost.row
        out.append(Finding("warning", "mysql-connection-lost",
                           transactions.lost_message(lost, an.handshakes, calls.get(row.call_id)),
                           image_id=row.meaning.image_id, call_id=row.call_id, sql_id=row.id,
                           frames=sorted(sql_frames(row) + [lost.frame]), conn_id=row.stmt.conn_id,
                           capture=row.capture, time=lost.time))
    return out


def _upload_checks(img: Image, label: str, calls: dict[str, Call], out: list[Finding], facts: dict) -> None:
    """Compare the bytes that crossed the wire with what Glance recorded; say who ended a failed upload."""
    for cid in img.calls:
        call = calls[cid]
        if call.kind not in ("upload", "stage"):
            continue
        tx = call.tx
        body = tx.request_body
        frames = call_frames(call)
        expected = tx.header("content-length")
        limit = limits.limit_finding(label, img.id, call, calls, call_frames)
        if limit is not None:  # a limit reached is its own finding, not an interrupted upload
            out.append(limit)
            continue
        proxied = upload_end.proxy_ending(call, calls)
        if proxied is not None:  # the proxy's own answer, not Glance's
            out.append(Finding("error", "proxy-answered", f"upload of {label} ({body.size:,} bytes sent): "
                               f"{proxied.words}", image_id=img.id, call_id=cid, frames=frames, cause=proxied.cause,
                               time=proxied.time))
            continue
        if tx.gap and tx.status is not None and tx.status < 300:
            continue  # Glance took it whole; the capture lost bytes (a capture-gap finding says so)
        tcp = facts.get((call.capture, tx.conn_id))
        if tx.status is None or tx.truncated or tx.incomplete:
            total = f" of {int(expected):,}" if expected and expected.isascii() and expected.isdigit() else ""
            if tx.status is None:
                ending = "no response: the capture or the connection ended first"
            else:
                reason = getattr(call.meaning, "error_message", None)
                ending = f"Glance answered {tx.status} {tx.reason}" + (f" — “{reason}”" if reason else "")
            end = upload_end.ending(call, tcp, calls)
            out.append(Finding("error", "upload-interrupted",
                               f"upload of {label} was cut off after {body.size:,}{total} bytes; {ending}; {end.words}",
                               image_id=img.id, call_id=cid, frames=sorted(frames + ([end.frame] if end.frame else [])),
                               cause=end.cause))
            continue
        stall = upload_end.stalled_upload(call, tcp)
        if stall.words:  # dated where the stall began, not where the call ended
            out.append(Finding("warning", "receiver-stalled", f"upload of {label}: {stall.words}; the upload went on "
                               f"and Glance answered {tx.status}", image_id=img.id, call_id=cid,
                               frames=list(stall.frames), conn_id=tx.conn_id, capture=call.capture,
                               cause="receiver_stalled", time=stall.start))
        if tx.status >= 300 or tx.gap:
            continue
        size = img.fields.get("size")
        if size is not None and str(size).isascii() and str(size).isdigit() and int(size) != body.size:
            out.append(Finding("error", "size-mismatch",
                               f"{label}: {human_bytes(body.size)} crossed the wire but Glance recorded size "
                               f"{human_bytes(int(size))}", image_id=img.id, call_id=cid, frames=frames))
        checksum = img.fields.get("checksum")
        if checksum and body.md5 and checksum != body.md5:
            out.append(Finding("error", "checksum-mismatch",
                               f"{label}: md5 of the uploaded bytes {body.md5} differs from Glance's checksum "
                               f"{checksum}", image_id=img.id, call_id=cid, frames=frames))
        algo, value = img.fields.get("os_hash_algo"), img.fields.get("os_hash_value")
        wire = getattr(body, algo, None) if algo in ("sha256", "sha512", "md5") else None
        if value and wire and value != wire:
            out.append(Finding("error", "hash-mismatch",
                               f"{label}: {algo} of the uploaded bytes differs from Glance's os_hash_value",
                               image_id=img.id, call_id=cid, frames=frames))


def _store_checks(img: Image, label: str, calls: dict[str, Call], out: list[Finding]) -> None:
    """Glance → Swift: the bytes stored, Swift's ETag (its md5 of them) and Glance's checksum agree.
    A large image's segments each have their own ETag, so only a whole object is held against
    the checksum; a manifest's ETag is not the md5 of its body."""
    checksum = img.fields.get("checksum")
    for cid in img.calls:
        call = calls[cid]
        m = call.meaning
        if call.kind != "store_put" or m.manifest:
            continue
        tx = call.tx
        if tx.status is None or tx.status >= 300 or tx.gap or tx.incomplete:
            continue  # not stored: the HTTP status / capture-gap findings say so
        wire = tx.request_body.md5
        frames = call_frames(call)
        if m.etag and wire and m.etag != wire:
            out.append(Finding("error", "store-etag-mismatch",
                               f"{label}: Swift's ETag {m.etag} is not the md5 of the bytes Glance sent it ({wire})",
                               image_id=img.id, call_id=cid, frames=frames))
        if checksum and wire and checksum != wire and m.segment is None:
            out.append(Finding("error", "store-checksum-mismatch",
                               f"{label}: md5 of the bytes Glance stored in Swift {wire} differs from Glance's "
                               f"checksum {checksum}", image_id=img.id, call_id=cid, frames=frames))


def _short(s: str | None, n: int = 160) -> str:
    s = " ".join((s or "").split())
    return s if len(s) <= n else s[: n - 1] + "…"
