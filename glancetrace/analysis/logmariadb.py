"""MariaDB's logs joined to the capture's MySQL connections: the slow query log to statements, the error log's
aborted and killed connections to connections (both by the server's connection id, which the capture holds in
each connection's greeting).

A slow-log record names the server's connection id (MariaDB's Thread_id, MySQL's Id), which the capture
holds in the connection's greeting; on that connection (and, through a database VIP, on the other hop of
the same conversation) the statement with the same fingerprint nearest in time is the one the server
timed.  A pooled connection opened before the capture has no greeting: there the statement is taken only
when one statement in the whole capture has that fingerprint at that time.
"""

from __future__ import annotations

from collections import defaultdict

from ..openstack.redact_output import redact_log_text
from .findings import Finding
from .sql_digest import fingerprint

TOLERANCE = 1.0  # seconds between the server's clock and the capture's (after the log's offset)
# `SET timestamp=` is whole seconds: the statement started within the second after it
SECOND = 1.0
MAX_QUOTED = 3  # distinct error-log messages quoted per connection
ADMIN = {"Quit": "COM_QUIT", "Ping": "COM_PING", "Init DB": "COM_INIT_DB", "Prepare": "COM_STMT_PREPARE",
         "Close stmt": "COM_STMT_CLOSE", "Reset stmt": "COM_STMT_RESET", "Change user": "COM_CHANGE_USER",
         "Reset connection": "COM_RESET_CONNECTION", "Statistics": "COM_STATISTICS", "Field List": "COM_FIELD_LIST"}
_ADMIN_PREFIX = "administrator command: "


def statement_key(command: str, sql: str | None) -> str:
    """What a logged statement and a captured one are compared by."""
    return f"{command}:{sql or ''}" if command not in ("COM_QUERY", "COM_STMT_EXECUTE") else fingerprint(sql)


def record_key(text: str) -> str:
    if text.startswith(_ADMIN_PREFIX):
        name = text[len(_ADMIN_PREFIX):]
        return f"{ADMIN.get(name, name)}:"
    return fingerprint(text)


class _Statements:
    """The listed statements by connection and by key, each with its key computed once."""

    def __init__(self, an) -> None:
        self.by_conn: dict[tuple, list] = defaultdict(list)
        self.by_key: dict[str, list] = defaultdict(list)
        for row in an.sql:
            s = row.stmt
            key = statement_key(s.command, s.sql if s.command in ("COM_QUERY", "COM_STMT_EXECUTE") else None)
            self.by_conn[(row.capture, s.conn_id)].append((key, row))
            self.by_key[key].append(row)
        self.conns_of_thread: dict[int, set] = defaultdict(set)
        self.greeted: set[tuple] = set()
        hops = an.mysql_hops
        for h in an.handshakes:
            if h.thread_id is None:
                continue
            key = (h.capture, h.conn_id)
            self.greeted.add(key)
            pair = hops.pair_of.get(key)
            self.conns_of_thread[h.thread_id].update((key,) if pair is None else (key, pair.front.key, pair.back.key))


def join_slow_queries(an, files) -> tuple[dict[str, object], dict[str, str], list]:
    """(sql row id → its slow-log record, sql row id → how it was matched, the records that match nothing)."""
    records = [r for lf in files for r in lf.statements]
    if not records:
        return {}, {}, []
    st = _Statements(an)
    joined: dict[str, object] = {}
    how: dict[str, str] = {}
    unmatched = []
    for rec in records:
        key = record_key(rec.text)
        row = _by_thread(rec, key, st, joined) if rec.thread_id is not None else None
        if row is not None:
            how[row.id] = "thread"
        else:
            row = _by_time(rec, key, st, joined)
            if row is not None:
                how[row.id] = "time"
        if row is None:
            unmatched.append(rec)
        else:
            joined[row.id] = rec
    return joined, how, unmatched


def _near(rec, rows, joined) -> list:
    if rec.time is None:
        return []
    lo, hi = rec.time - TOLERANCE, rec.time + SECOND + TOLERANCE
    return [r for r in rows if r.id not in joined and lo <= r.stmt.request_time <= hi]


def _by_thread(rec, key: str, st: _Statements, joined):
    rows = [row for conn in st.conns_of_thread.get(rec.thread_id, ()) for k, row in st.by_conn.get(conn, ())
            if k == key]
    cands = _near(rec, rows, joined)
    if rec.host:  # thread ids repeat across servers: the client's address tells them apart
        cands = [r for r in cands if _ip(r.stmt.client) == rec.host] or cands
    # one connection runs one statement at a time and the server logs each as it ends: in order
    return min(cands, key=lambda r: r.stmt.request_time, default=None)


def _by_time(rec, key: str, st: _Statements, joined):
    cands = [r for r in _near(rec, st.by_key.get(key, ()), joined) if (r.capture, r.stmt.conn_id) not in st.greeted]
    return cands[0] if len(cands) == 1 else None


def _ip(addr: str | None) -> str:
    return (addr or "").rsplit(":", 1)[0]


def join_error_log(an, files) -> tuple[list[Finding], set[int]]:
    """A finding per capture connection the error log names (aborted, killed), quoting its messages; and the
    id() of the messages so joined (they are not "lines that match nothing")."""
    caps = [c for c in an.result.captures if c.first_ts is not None]
    window = (min(c.first_ts for c in caps), max(c.last_ts for c in caps)) if caps else None
    hs_by_thread = {h.thread_id: h for h in an.handshakes if h.thread_id}
    by_conn: dict[int, list] = defaultdict(list)
    for lf in files:
        for msg in lf.messages:
            if msg.source == "mariadb" and msg.level != "INFO" and msg.connection in hs_by_thread:
                by_conn[msg.connection].append(msg)
    out = [_aborted(n, msgs, hs_by_thread[n], window, an.options.show_secrets) for n, msgs in by_conn.items()]
    return out, {id(m) for msgs in by_conn.values() for m in msgs}


def _aborted(n: int, msgs: list, h, window, show: bool) -> Finding:
    t = msgs[0].time
    # the error log stamps whole seconds, and the server notices an abort a moment after the packets show it
    during = window is None or t is None or window[0] - SECOND <= t <= window[1] + TOLERANCE
    when = "" if during else (f" ({t - window[1]:.0f} s after the capture ended)" if t > window[1]
                              else f" ({window[0] - t:.0f} s before the capture started)")
    texts = list(dict.fromkeys(redact_log_text(m.message, show) for m in msgs))[:MAX_QUOTED]
    return Finding("warning" if during else "info", "mysql-connection-aborted",
                   f"MariaDB's error log on connection {n}: {'; '.join(texts)}{when}",
                   frames=list(h.frames), conn_id=h.conn_id, capture=h.capture)
