"""What the MySQL proxy pairing adds to the analysis document and to the findings.

Each listed statement says which hop it was seen on and, when the proxy
relayed it, the back hop's connection, frames and times, and the latency the
proxy added (front latency minus back latency).  A pair whose connection the
proxy closed (the client sent no COM_QUIT) is a finding naming the side that
closed and the statement in flight.
"""

from __future__ import annotations

import math
import statistics
from typing import Callable

from ..protocols.mysql.events import SqlStatement
from .findings import Finding
from .mysql_hops import HopPair, MysqlHops, stmt_key


def _frames(fr) -> list[int] | None:
    return [int(fr[0]), int(fr[1])] if fr else None


def _stmt_frames(s: SqlStatement) -> list[int]:
    return [f for fr in (s.request_frames, s.response_frames) if fr for f in fr]


def _finite(x) -> float | None:
    return x if isinstance(x, (int, float)) and math.isfinite(x) else None


def proxy_latency(front: SqlStatement, back: SqlStatement) -> float | None:
    """Front latency minus back latency: the time the proxy added to the statement."""
    f, b = _finite(front.latency), _finite(back.latency)
    return None if f is None or b is None else f - b


def statement_fields(hops: MysqlHops, capture: int, s: SqlStatement, filter_for: Callable | None = None) -> dict:
    """`hop`, `back` and `proxy_latency` of one listed statement (JSON); with `filter_for`
    (analyze.filter_for) the back hop's Wireshark filter too."""
    back = hops.back(capture, s)
    hop = hops.hop_of(capture, s.conn_id)
    out = {"hop": hop, "back": None, "proxy_latency": None, "other_hop_lost": False}
    pair = hops.pair_of.get((capture, s.conn_id))
    if pair is not None and back is None and hops.front_of.get(stmt_key(capture, s)) is None:
        # not seen on the other hop, which lost bytes: the capture lost it there (the pair's gap bytes say how many)
        out["other_hop_lost"] = _gap_bytes(pair.back if hop == "front" else pair.front) > 0
    if back is not None:
        out["back"] = {"conn_id": back.conn_id, "client": back.client, "server": back.server,
                       "request_time": back.request_time, "response_time": back.response_time,
                       "latency": _finite(back.latency),
                       "frames": {"request": _frames(back.request_frames), "response": _frames(back.response_frames)},
                       "incomplete": back.incomplete, "gap": back.gap}
        if filter_for is not None:
            out["back"]["wireshark_filter"] = filter_for(back.conn_id, _stmt_frames(back))
        out["proxy_latency"] = proxy_latency(s, back)
    return out


def _gap_bytes(conn) -> int:
    return sum(d.gap_bytes for d in conn.tcp.dirs) if conn.tcp is not None else 0


def pairs_document(hops: MysqlHops) -> list[dict]:
    """One object per proxied conversation: both connections, statements paired, gaps per hop."""
    out = []
    for p in hops.pairs:
        added = [x for x in (proxy_latency(f, b) for f, b in p.matched) if x is not None]
        out.append({
            "capture": p.front.key[0], "front_conn": p.front.key[1], "back_conn": p.back.key[1],
            "client": p.front.client, "proxy": p.proxy, "proxy_source": p.back.client, "server": p.back.server,
            "statements": len(p.matched), "unmatched_front": p.unmatched_front, "unmatched_back": p.unmatched_back,
            "front_gap_bytes": _gap_bytes(p.front), "back_gap_bytes": _gap_bytes(p.back),
            "median_proxy_latency": statistics.median(added) if added else None,
        })
    return out


def health_checks_summary(hops: MysqlHops) -> list[dict]:
    """One line per proxy address and server: how many checks, how often."""
    return [{"proxy": hc.client_ip, "server": hc.server, "count": len(hc.conns), "interval": hc.interval}
            for hc in hops.checks]


# -- closes -----------------------------------------------------------------------------------------

def _quit(conn) -> bool:
    return any(s.command == "COM_QUIT" for s in conn.stmts)


def _closed_by(conn) -> str | None:
    """Which side of a TCP connection sent a FIN ('client', 'server', 'both'), 'rst', or None (open)."""
    t = conn.tcp
    if t is None:
        return None
    fin_c, fin_s = t.dirs[0].fin, t.dirs[1].fin
    if fin_c or fin_s:
        return "both" if fin_c and fin_s else ("client" if fin_c else "server")
    return "rst" if t.rst else None


def _unanswered(p: HopPair) -> SqlStatement | None:
    """The client's last statement without a reply (listed from the front hop)."""
    for s in reversed(p.front.stmts):
        if s.result is None and s.command != "COM_QUIT":
            return s
    return None


def _last_reply(p: HopPair) -> float | None:
    ts = [s.response_time for s in p.front.stmts + p.back.stmts if s.response_time is not None]
    return max(ts) if ts else None


def close_findings(hops: MysqlHops, row_of: Callable[[int, SqlStatement], str | None]) -> list[Finding]:
    """Proxied conversations that ended without the client's COM_QUIT: who closed, what was in flight."""
    out = []
    for p in hops.pairs:
        if _quit(p.front) or _quit(p.back):
            continue  # the client ended it
        f = _close_finding(p, _closed_by(p.front), _closed_by(p.back), row_of)
        if f is not None:
            out.append(f)
    return out


def _who_closed(p: HopPair, front: str | None, back: str | None) -> tuple[str, str] | None:
    """(finding code, sentence) naming the side that closed, from each hop's FINs."""
    proxy_closed_front = front in ("server", "both", "rst")
    front_fate = (f"the proxy then closed the front connection from {p.front.client}" if proxy_closed_front
                  else f"the front connection from {p.front.client} stayed open")
    if back == "server":
        return "mysql-back-closed", (f"the server {p.back.server} closed the back connection from the proxy "
                                     f"({p.back.client}: a Galera node going away, a KILL, wait_timeout); {front_fate}")
    if proxy_closed_front and back is not None:
        also = ("and the back connection to " if back == "client" else "; the back connection ended with it: ")
        return "mysql-proxy-closed", (f"the proxy {p.proxy} closed the front connection from {p.front.client} "
                                      f"without the client's COM_QUIT (the client sees 'MySQL server has gone "
                                      f"away' or 'Lost connection') {also}{p.back.server}")
    if front is None and back is not None:
        by = "the proxy" if back == "client" else "the proxy or the server"
        return "mysql-back-closed", (f"the back connection {p.back.client} → {p.back.server} ended (closed by "
                                     f"{by}) while {front_fate[4:]}")
    return None


def _close_finding(p: HopPair, front: str | None, back: str | None, row_of) -> Finding | None:
    named = _who_closed(p, front, back)
    if named is None:
        return None
    code, who = named
    cap = p.front.key[0]
    fly = _unanswered(p)
    last, end = _last_reply(p), p.back.tcp.last_ts if p.back.tcp is not None else None
    idle = (f"closed {end - last:.1f} s after the last reply (haproxy's `timeout client`/`timeout server`?)"
            if last is not None and end is not None else "")
    if fly is not None and _relayed_front(p, fly):
        after = f" {end - fly.request_time:.1f} s after it was sent" if end is not None else ""
        what = f"statement in flight: '{_short(fly.sql or fly.command)}' (no reply; closed{after})"
    elif fly is not None:
        what = f"{idle}; the client's next statement '{_short(fly.sql or fly.command)}' was not relayed"
    else:
        what = f"no statement in flight: {idle}"
    frames = _stmt_frames(fly) if fly is not None else [p.back.tcp.last_frame] if p.back.tcp is not None else []
    return Finding("warning", code, f"{who}; {what}", sql_id=row_of(cap, fly) if fly is not None else None,
                   frames=[f for f in frames if f], conn_id=p.front.key[1], capture=cap)


def _relayed_front(p: HopPair, front_stmt: SqlStatement) -> bool:
    return any(f is front_stmt for f, _ in p.matched)


def _short(s: str, n: int = 100) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 1] + "…"


def row_lookup(hops: MysqlHops, rows) -> Callable[[int, SqlStatement], str | None]:
    """Statement → the id of the row it is listed as (front and back copies alike)."""
    ids = {stmt_key(r.capture, r.stmt): r.id for r in rows}

    def row_of(capture: int, s: SqlStatement) -> str | None:
        front = hops.front_of.get(stmt_key(capture, s), s)
        return ids.get(stmt_key(capture, front))
    return row_of
