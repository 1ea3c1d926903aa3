"""MySQL through a TCP proxy (haproxy on a database VIP): one conversation seen on two connections.

A capture taken on a controller holds each conversation twice: service →
VIP (the front hop) and haproxy → MariaDB (the back hop), the same bytes a
fraction of a millisecond apart, usually on port 3306 on both sides.  Ports
cannot tell the hops apart, so the conversations decide: two connections
are one when the back one opened right after the front one, the server's
greeting relayed to the front carries the same thread id, and their
statements are the same, in the same order, each reaching the back after it
left the front and answered on the back before the front.  The front
statement is listed (it is what the service saw); the back one is kept
beside it, with the latency the proxy added.

The proxy's own health checks (`option mysql-check`: a login and COM_QUIT,
no query, at a fixed interval) are connections that pair with nothing; they
are counted, not listed.
"""

from __future__ import annotations

import bisect
import statistics
from collections import Counter
from array import array
from dataclasses import dataclass, field

import numpy as np

from ..protocols.mysql.events import MysqlHandshake, SqlStatement

OPEN_WINDOW = 3.0  # s: the proxy connects to the server as soon as the client connected (plus retries)
RELAY_MAX = 1.0  # s: a request crosses the proxy well within this
MAX_TRIED = 256  # backs tried per front: a real proxy's back opens within milliseconds, not 256 connections later
CLOCK_SLACK = 0.0005  # s: timestamps of one capture; `-i any` may stamp a relayed packet a little early
MIN_SHARE = 0.5  # of the longer side's statements that must pair (the rest: lost on one hop)
CHECK_SERIES = 3  # login-and-quit connections from one address at a steady interval: health checks
QUIET = {"COM_QUIT"}  # a health check sends nothing else

ConnKey = tuple[int, int]  # (capture index, tcp.stream)


@dataclass
class Conn:
    """One MySQL connection as the pairing sees it."""
    key: ConnKey
    client: str
    server: str
    opened: float | None  # SYN time; None when the capture started after it
    anchor: float  # opened, else the first statement
    handshake: MysqlHandshake | None = None
    stmts: list[SqlStatement] = field(default_factory=list)  # in request order
    times: list[float] = field(default_factory=list)  # their request times
    tcp: object = None  # tcp.reassembly.Connection (its close and gap facts): of paired hops only


@dataclass
class HopPair:
    front: Conn
    back: Conn
    matched: list[tuple[SqlStatement, SqlStatement]]  # (front, back)
    unmatched_front: int = 0
    unmatched_back: int = 0

    @property
    def proxy(self) -> str:
        return self.front.server


@dataclass
class HealthChecks:
    client_ip: str
    server: str
    conns: list[Conn]

    @property
    def interval(self) -> float | None:
        ts = sorted(c.anchor for c in self.conns)
        gaps = [b - a for a, b in zip(ts, ts[1:])]
        return statistics.median(gaps) if gaps else None


@dataclass
class MysqlHops:
    pairs: list[HopPair] = field(default_factory=list)
    checks: list[HealthChecks] = field(default_factory=list)
    back_of: dict[tuple, SqlStatement] = field(default_factory=dict)  # stmt_key(front) → back statement
    front_of: dict[tuple, SqlStatement] = field(default_factory=dict)  # stmt_key(back) → front statement
    pair_of: dict[ConnKey, HopPair] = field(default_factory=dict)  # both hops' keys → their pair
    hidden: set[tuple] = field(default_factory=set)  # stmt_key of back copies and health checks

    def listed(self, capture: int, stmt: SqlStatement) -> bool:
        """Whether a statement is listed: not the back copy of a front one, not a health check."""
        return stmt_key(capture, stmt) not in self.hidden

    def back(self, capture: int, stmt: SqlStatement) -> SqlStatement | None:
        return self.back_of.get(stmt_key(capture, stmt))

    def hop_of(self, capture: int, conn_id: int) -> str:
        p = self.pair_of.get((capture, conn_id))
        if p is None:
            return "direct"
        return "front" if p.front.key == (capture, conn_id) else "back"


def stmt_key(capture: int, s: SqlStatement) -> tuple:
    return (capture, s.conn_id, s.request_time, s.request_frames)


def _ip(addr: str) -> str:
    return addr.rsplit(":", 1)[0]


def _connections(items: list[tuple[int, object]], connections, conn_captures) -> tuple[dict[ConnKey, Conn], "_Silent"]:
    # the SYN times of the MySQL ones only: closed connections are packed (tcp/table.py), each read back
    # one at a time (a flood of one-byte MySQL connections would otherwise be held whole here)
    wanted = {(cap, ev.conn_id) for cap, ev in items}
    syn_at = {}
    silent = _Silent()
    for c, cap in zip(connections, conn_captures or [0] * len(connections)):
        if (cap, c.stream) in wanted and not c.midstream:
            syn_at[(cap, c.stream)] = c.first_ts
        if c.silent_at is not None:
            silent.add(cap, c, (cap, c.stream) in wanted)
    conns: dict[ConnKey, Conn] = {}
    for cap, ev in items:
        key = (cap, ev.conn_id)
        c = conns.get(key)
        if c is None:
            opened = syn_at.get(key)
            when = ev.time if isinstance(ev, MysqlHandshake) else ev.request_time
            c = conns[key] = Conn(key, ev.client, ev.server, opened, opened if opened is not None else when)
        if isinstance(ev, MysqlHandshake):
            c.handshake = c.handshake or ev
        else:
            c.stmts.append(ev)
            if c.opened is None:
                c.anchor = min(c.anchor, ev.request_time)
    for key, when in silent.spoke_later.items():
        c = conns.get(key)
        if c is not None:  # (its first decoder decoded nothing: its handshake came first)
            c.handshake = MysqlHandshake(key[1], c.client, c.server, when, (0, 0), inferred=True, capture=key[0])
            c.anchor = c.anchor if c.opened is not None else min(c.anchor, when)
    for c in conns.values():
        c.stmts.sort(key=lambda s: s.request_time)
        c.times = [s.request_time for s in c.stmts]
    return conns, silent


class _Silent:
    """MySQL connections whose decoder decoded nothing (no whole packet): the pipeline keeps no event for them,
    their TCP record says when the decoder closed (`Connection.silent_at`).  They were inferred handshakes
    without a statement, which count only as health checks: a series of CHECK_SERIES or more from one address
    to one server, or checks from a proxy's address.  So they are first only counted, by a hash of (client
    address, server) in arrays (a flood of them makes no object each), and made into Conns when they may
    count."""

    def __init__(self) -> None:
        self.groups = array("q")  # hash((client address, server)) of each
        self.addresses = array("q")  # hash(client address) of each
        self.spoke_later: dict[ConnKey, float] = {}  # those with events (started again after an idle release)

    def add(self, cap: int, c, spoke_later: bool) -> None:
        if spoke_later:
            self.spoke_later[(cap, c.stream)] = c.silent_at
            return
        self.groups.append(hash((_ip(c.client), c.server)))
        self.addresses.append(hash(_ip(c.client)))

    def conns(self, regular: dict[ConnKey, Conn], proxy_ips: set[str], connections, conn_captures) -> list[Conn]:
        """Conns for those that may count as health checks (with `regular`, the connections that have events)."""
        if not self.groups:
            return []
        hashes, counts = np.unique(np.frombuffer(self.groups, dtype=np.int64), return_counts=True)
        wanted = set(hashes[counts >= CHECK_SERIES].tolist())
        for h, n in Counter(hash((_ip(c.client), c.server)) for c in regular.values()).items():
            i = int(np.searchsorted(hashes, h))
            if i < len(hashes) and hashes[i] == h and counts[i] + n >= CHECK_SERIES:
                wanted.add(h)
        proxies = {hash(ip) for ip in proxy_ips}
        if not wanted and not proxies.intersection(self.addresses):
            return []
        out = []
        for c, cap in zip(connections, conn_captures or [0] * len(connections)):
            if c.silent_at is None or (cap, c.stream) in regular:
                continue
            ip = _ip(c.client)
            if hash((ip, c.server)) in wanted or ip in proxy_ips:
                hs = MysqlHandshake(c.stream, c.client, c.server, c.silent_at, (0, 0), inferred=True, capture=cap)
                opened = None if c.midstream else c.first_ts
                out.append(Conn((cap, c.stream), c.client, c.server, opened, c.silent_at if opened is None else opened,
                                handshake=hs))
        return out


def _same_greeting(f: Conn, b: Conn) -> bool | None:
    """The proxy relays the server's greeting: both hops carry its thread id (None: not seen on both)."""
    hf, hb = f.handshake, b.handshake
    if hf is None or hb is None or hf.thread_id is None or hb.thread_id is None:
        return None
    return hf.thread_id == hb.thread_id and hf.server_version == hb.server_version


def _relayed(fs: SqlStatement, bs: SqlStatement) -> bool:
    """The same command, reaching the back after leaving the front, answered there first."""
    if not _same_command(fs, bs):
        return False
    if not -CLOCK_SLACK <= bs.request_time - fs.request_time <= RELAY_MAX:
        return False
    if fs.response_time is not None and bs.response_time is not None:
        return bs.response_time <= fs.response_time + CLOCK_SLACK
    return True


def _same_command(fs: SqlStatement, bs: SqlStatement) -> bool:
    if (fs.command, fs.statement_id) != (bs.command, bs.statement_id):
        return False
    if fs.sql == bs.sql:
        return True
    # a request cut by a gap on one hop only is the start of the other hop's
    cut, whole = (fs, bs) if fs.gap else (bs, fs) if bs.gap else (None, None)
    return cut is not None and bool(cut.sql) and (whole.sql or "").startswith(cut.sql)


def _align(f: Conn, b: Conn) -> tuple[list[tuple[SqlStatement, SqlStatement]], int, int]:
    """Walk both statement lists in time order; what pairs with nothing was lost on one hop."""
    matched, i, j, nf, nb = [], 0, 0, len(f.stmts), len(b.stmts)
    while i < nf and j < nb:
        fs, bs = f.stmts[i], b.stmts[j]
        if _relayed(fs, bs):
            matched.append((fs, bs))
            i, j = i + 1, j + 1
        elif fs.request_time <= bs.request_time:
            i += 1
        else:
            j += 1
    return matched, nf - len(matched), nb - len(matched)


def _may_relay(f: Conn, b: Conn) -> bool:
    """A cheap look before the full walk: one of the back's first statements left the front just before."""
    times = f.times
    for bs in b.stmts[:3]:
        i = bisect.bisect_left(times, bs.request_time - RELAY_MAX)
        while i < len(times) and times[i] <= bs.request_time + CLOCK_SLACK:
            if _relayed(f.stmts[i], bs):
                return True
            i += 1
    return False


def _candidate(f: Conn, b: Conn) -> HopPair | None:
    if f.key[0] != b.key[0] or f.server == b.server or f.client == b.client:
        return None
    greeting = _same_greeting(f, b)
    if greeting is False:
        return None
    if f.opened is not None and b.opened is not None and not 0 <= b.opened - f.opened <= OPEN_WINDOW:
        return None
    if f.stmts and b.stmts and not _may_relay(f, b):
        return None
    matched, uf, ub = _align(f, b)
    if not matched:
        # nothing said yet (or only the login): the relayed greeting and the opening times decide
        ok = greeting and f.opened is not None and b.opened is not None and not f.stmts and not b.stmts
        return HopPair(f, b, [], 0, 0) if ok else None
    if len(matched) < MIN_SHARE * max(len(f.stmts), len(b.stmts)):
        return None
    return HopPair(f, b, matched, uf, ub)


def _score(p: HopPair) -> tuple:
    # more statements paired first; then the proxy's address in between; then the closer opening
    between = _ip(p.front.server) == _ip(p.back.client)
    return (len(p.matched), between, -(p.back.anchor - p.front.anchor))


def _tid(c: Conn) -> int | None:
    return c.handshake.thread_id if c.handshake is not None else None


def _pair(conns: list[Conn]) -> list[HopPair]:
    """Each front with its best back among the connections opened just after it.

    Bounded on hostile input (a flood of connections opened within the window): a connection with neither a
    greeting nor a statement can pair with nothing and is left out; one with a greeting but no statement can
    only pair through the relayed greeting, so only connections with the same thread id are tried; one with
    statements tries at most MAX_TRIED of the statement-carrying connections opened next.
    """
    said = sorted((c for c in conns if c.stmts), key=lambda c: c.anchor)
    by_tid: dict[int, list[Conn]] = {}
    for c in sorted(conns, key=lambda c: c.anchor):
        if not c.stmts and _tid(c) is not None and c.opened is not None:
            by_tid.setdefault(_tid(c), []).append(c)
    order = sorted(said + [c for cs in by_tid.values() for c in cs], key=lambda c: c.anchor)
    said_at = {c.key: i for i, c in enumerate(said)}
    taken: set[ConnKey] = set()
    pairs = []
    for f in order:
        if f.key in taken:
            continue
        later = said[said_at[f.key] + 1:said_at[f.key] + 1 + MAX_TRIED] if f.stmts else \
            [b for b in by_tid[_tid(f)] if b.anchor >= f.anchor and b is not f]
        best = None
        for b in later:
            if b.anchor - f.anchor > OPEN_WINDOW + RELAY_MAX:
                break
            if b.key in taken:
                continue
            p = _candidate(f, b)
            if p is not None and (best is None or _score(p) > _score(best)):
                best = p
        if best is not None:
            taken.update((best.front.key, best.back.key))
            pairs.append(best)
    return pairs


def _health_checks(conns: list[Conn], pairs: list[HopPair]) -> list[HealthChecks]:
    """Unpaired login-and-quit connections, from a proxy's address or in a steady series."""
    paired = {k for p in pairs for k in (p.front.key, p.back.key)}
    proxy_ips = {_ip(p.back.client) for p in pairs}
    groups: dict[tuple[str, str], list[Conn]] = {}
    for c in conns:
        if c.key in paired or c.handshake is None or any(s.command not in QUIET for s in c.stmts):
            continue
        groups.setdefault((_ip(c.client), c.server), []).append(c)
    out = []
    for (ip, server), cs in groups.items():
        if ip in proxy_ips or (len(cs) >= CHECK_SERIES and _steady(cs)):
            out.append(HealthChecks(ip, server, sorted(cs, key=lambda c: c.anchor)))
    return out


def _steady(cs: list[Conn]) -> bool:
    ts = sorted(c.anchor for c in cs)
    gaps = [b - a for a, b in zip(ts, ts[1:])]
    mid = statistics.median(gaps)
    return mid > 0 and sum(abs(g - mid) <= 0.25 * mid for g in gaps) >= 0.8 * len(gaps)


def _with_tcp(pairs: list[HopPair], connections, conn_captures) -> None:
    hops = {c.key: c for p in pairs for c in (p.front, p.back)}
    if hops:
        for t, cap in zip(connections, conn_captures or [0] * len(connections)):
            hop = hops.get((cap, t.stream))
            if hop is not None:
                hop.tcp = t


def pair_hops(items: list[tuple[int, object]], connections=(), conn_captures=()) -> MysqlHops:
    """Pair front and back hops of proxied MySQL connections and find the proxy's health checks.

    `items`: (capture index, MysqlHandshake or SqlStatement) of the whole capture;
    `connections`/`conn_captures`: the TCP connections and their capture index (open times).
    """
    by_key, silent = _connections(items, connections, conn_captures)
    conns = list(by_key.values())
    out = MysqlHops(pairs=_pair(conns))
    _with_tcp(out.pairs, connections, conn_captures)
    for p in out.pairs:
        out.pair_of[p.front.key] = out.pair_of[p.back.key] = p
        cap = p.front.key[0]
        for fs, bs in p.matched:
            out.back_of[stmt_key(cap, fs)] = bs
            out.front_of[stmt_key(cap, bs)] = fs
            out.hidden.add(stmt_key(cap, bs))
    proxy_ips = {_ip(p.back.client) for p in out.pairs}
    out.checks = _health_checks(conns + silent.conns(by_key, proxy_ips, connections, conn_captures), out.pairs)
    for hc in out.checks:
        for c in hc.conns:
            out.hidden.update(stmt_key(c.key[0], s) for s in c.stmts)
    return out


def statements_once(result) -> tuple[list[SqlStatement], MysqlHops]:
    """A decoding pass's statements with each proxied conversation listed once (its front hop) and
    the proxy's health checks left out, and the pairing that says so (for `sql` and its digest)."""
    items = [(ev.capture, ev) for ev in result.events if isinstance(ev, (SqlStatement, MysqlHandshake))]
    hops = pair_hops(items, result.connections, result.conn_captures)
    return [s for cap, s in items if isinstance(s, SqlStatement) and hops.listed(cap, s)], hops
