"""One streaming pass: capture → link → TCP → protocol decoders → events.

The pipeline picks a decoder per connection by server port (defaults below,
all overridable), sniffs the first bytes of connections on other ports for an
HTTP request line or a TLS ClientHello, and collects every event the decoders
emit.  Nothing here knows about OpenStack: that is the next layer up.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable

from .capture.link import LINK_NAMES, SKIP_LINKTYPE, LinkDecoder, link_name
from .capture.plan import InputPlan, PieceMap, plan_input
from .capture.reader import CaptureInfo
from .tcp.reassembly import Connection, TcpReassembler

HTTP_PORTS = frozenset({5000, 9292, 35357, 8080})
TLS_PORTS = frozenset({13000, 13292, 443})
MYSQL_PORTS = frozenset({3306})


@dataclass
class Options:
    http_ports: set[int] = field(default_factory=lambda: set(HTTP_PORTS))
    tls_ports: set[int] = field(default_factory=lambda: set(TLS_PORTS))
    mysql_ports: set[int] = field(default_factory=lambda: set(MYSQL_PORTS))
    want_http: bool = True
    want_mysql: bool = True
    sniff_other_ports: bool = True  # look for HTTP / TLS on ports not listed above
    keylog: list[str] = field(default_factory=list)  # NSS key log files
    body_cap: int = 1 << 20  # JSON/text bodies kept up to this many bytes
    offsets: dict[str, float] = field(default_factory=dict)  # capture path → seconds added to its clock
    jobs: int = 1  # worker processes, each decoding the connections of one shard
    read_as: str = "auto"  # several files: "pieces" of one capture, "hosts" (one capture each) or guessed


@dataclass
class PassResult:
    captures: list[CaptureInfo] = field(default_factory=list)
    events: list = field(default_factory=list)  # every decoder event, in emission order
    connections: list[Connection] = field(default_factory=list)
    packets: int = 0
    tcp_segments: int = 0
    skipped: Counter = field(default_factory=Counter)
    link_types: Counter = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    offsets: dict[str, float] = field(default_factory=dict)  # clock shift applied to each capture
    conn_captures: list[int] = field(default_factory=list)  # capture index of each connection
    plan: InputPlan | None = None  # how the input was read
    pieces: dict[int, PieceMap] = field(default_factory=dict)  # first piece's capture index → its pieces

    def of_type(self, cls) -> list:
        return [e for e in self.events if isinstance(e, cls)]


class _Collector:
    """Adapts one protocol decoder to the TCP handler interface and keeps its events."""

    __slots__ = ("decoder", "sink")

    def __init__(self, decoder, sink: list):
        self.decoder = decoder
        self.sink = sink

    def data(self, direction, payload, ts, frame):
        ev = self.decoder.feed(direction, payload, ts, frame)
        if ev:
            self.sink.extend(ev)

    def gap(self, direction, nbytes, ts, frame):
        ev = self.decoder.gap(direction, nbytes, ts, frame)
        if ev:
            self.sink.extend(ev)

    def close(self, ts, frame, reason):
        ev = self.decoder.close(ts, frame, reason)
        if ev:
            self.sink.extend(ev)


class _StartTls(_Collector):
    """MySQL's SSL request turns the rest of the connection into TLS: a TLS decoder takes over,
    so the connection is reported with its handshake facts instead of as opaque bytes, and
    with the key it hands the decrypted bytes back to the MySQL decoder."""

    __slots__ = ("make_tls",)

    def __init__(self, decoder, sink: list, make_tls):
        super().__init__(decoder, sink)
        self.make_tls = make_tls

    def data(self, direction, payload, ts, frame):
        super().data(direction, payload, ts, frame)
        if self.make_tls is not None and getattr(self.decoder, "phase", None) == "tls":
            self.decoder, self.make_tls = self.make_tls(), None
            # the ClientHello may share this segment with the SSL request: the TLS decoder
            # skips the plaintext before it
            super().data(direction, payload, ts, frame)


class _Sniffer:
    """Connection on an unlisted port: look at its first client bytes, then decide."""

    def __init__(self, conn: Connection, choose: Callable[[Connection, bytes], object | None], sink: list):
        self.conn, self.choose, self.sink = conn, choose, sink
        self.target = None
        self.decided = False

    def data(self, direction, payload, ts, frame):
        if not self.decided:
            self.decided = True
            dec = self.choose(self.conn, bytes(payload[:16])) if direction == 0 else None
            self.target = _Collector(dec, self.sink) if dec is not None else None
            if dec is None:
                self.conn.handler = None  # not ours: the reassembler only counts its packets from now on
        if self.target is not None:
            self.target.data(direction, payload, ts, frame)

    def gap(self, direction, nbytes, ts, frame):
        if self.target is not None:
            self.target.gap(direction, nbytes, ts, frame)
        elif not self.decided:
            self.decided = True  # a gap first: cannot tell what it is

    def close(self, ts, frame, reason):
        if self.target is not None:
            self.target.close(ts, frame, reason)


HTTP_METHODS = (b"GET ", b"POST ", b"PUT ", b"PATCH ", b"DELETE ", b"HEAD ", b"OPTIONS ")


class Pipeline:
    def __init__(self, options: Options | None = None, shard: tuple[int, int] | None = None):
        self.opt = options or Options()
        self.result = PassResult()
        self._keys = None
        self.shard = shard  # (k, n): decode only the connections that hash to shard k of n

    # -- decoder choice ---------------------------------------------------------

    def _http(self, conn: Connection, tls: bool = False):
        from .protocols.http import HttpDecoder
        return HttpDecoder(conn.stream, conn.client, conn.server, body_cap=self.opt.body_cap, tls=tls)

    def _mysql(self, conn: Connection):
        from .protocols.mysql import MysqlDecoder
        return MysqlDecoder(conn.stream, conn.client, conn.server)

    def _tls(self, conn: Connection, inner: Callable[[], object] | None = None):
        """TLS; its decrypted bytes go to `inner()` (default: HTTP)."""
        from .protocols.tls import TlsDecoder
        return TlsDecoder(conn.stream, conn.client, conn.server, keys=self._keylog(),
                          inner=inner or (lambda: self._http(conn, tls=True)))

    def _keylog(self):
        if self._keys is None:
            from .protocols.tls.keylog import KeyLog
            self._keys = KeyLog()
            for path in self.opt.keylog:
                self._keys.load_file(path)
        return self._keys

    def _sniffed(self, conn: Connection, head: bytes):
        if self.opt.want_http and head.startswith(HTTP_METHODS):
            return self._http(conn)
        if head[:1] == b"\x16" and head[1:2] == b"\x03":  # TLS handshake record
            return self._tls(conn)
        return None

    def _factory(self, conn: Connection):
        port = conn.server_port
        o = self.opt
        sink = self.result.events
        if port in o.mysql_ports:
            if not o.want_mysql:
                return None
            mysql = self._mysql(conn)
            return _StartTls(mysql, sink, lambda: self._tls(conn, inner=mysql.inside_tls))
        if port in o.http_ports:
            return _Collector(self._http(conn), sink) if o.want_http else None
        if port in o.tls_ports:
            return _Collector(self._tls(conn), sink) if o.want_http else None
        if o.sniff_other_ports:
            return _Sniffer(conn, self._sniffed, sink)
        return None

    # -- the pass ---------------------------------------------------------------

    def run(self, paths: Iterable[str] | InputPlan,
            progress: Callable[[int, int], None] | None = None) -> PassResult:
        """Run the plan (made here from the paths and the options when given paths)."""
        o = self.opt
        plan = paths if isinstance(paths, InputPlan) else plan_input(
            list(paths), o.read_as, o.offsets, o.jobs, estimate_clocks=False)
        if plan.jobs > 1 and self.shard is None:
            from .parallel import run_sharded
            # the workers read each file as a capture of its own, with the offsets planned here
            offsets = {f.path: plan.offset_of(i).seconds for i, f in enumerate(plan.files)}
            self.result = run_sharded(plan.paths, replace(o, read_as="hosts", offsets=offsets, jobs=plan.jobs))
            self.result.plan = plan
            return self.result
        from .protocols.http.digests import responsive_gil
        res = self.result
        res.plan = plan
        with responsive_gil():
            for members in plan.groups:
                self._run_group(plan, members, progress)
        return res

    def _run_group(self, plan: InputPlan, members: list[int], progress) -> None:
        """One capture, whole or in pieces: one reassembler, frames counted across the pieces."""
        res = self.result
        first_event = len(res.events)
        lead = len(res.captures)
        o = self.opt
        ports = set(o.http_ports) | set(o.tls_ports) | set(o.mysql_ports)
        tcp = self.tcp = TcpReassembler(self._factory, server_ports=ports)
        link = LinkDecoder()
        shift = plan.offset_of(members[0]).seconds
        pieces = PieceMap(files=[], bases=[])
        appeared: list[list[tuple[int, int]]] = []  # per piece: (frame, stream) of older connections
        base = 0
        info = None
        for i in members:
            info = self._read_file(plan, i, tcp, link, shift, base, appeared, progress)
            pieces.files.append(len(res.captures) - 1)
            pieces.bases.append(base)
            base += info.packets
        link.finish()
        # connections still open end with the capture's last frame, whichever shard has it
        last_ts = max((res.captures[k].last_ts for k in pieces.files if res.captures[k].last_ts is not None),
                      default=0.0)
        tcp.finish(last_ts, base)
        res.tcp_segments += tcp.segments
        res.skipped.update(link.skipped)
        res.connections.extend(tcp.connections)
        res.conn_captures.extend([lead] * len(tcp.connections))
        if shift:
            res.offsets[plan.files[members[0]].path] = shift
        if len(members) > 1:
            _number_streams(pieces, tcp.connections, appeared)
            res.pieces[lead] = pieces
        for ev in res.events[first_event:]:
            ev.capture = lead  # stream and frame numbers are per capture (across its pieces)

    def _read_file(self, plan: InputPlan, index: int, tcp: TcpReassembler, link: LinkDecoder, shift: float,
                   base: int, appeared: list, progress) -> CaptureInfo:
        res = self.result
        reader = plan.reader(index)
        info = reader.info
        res.captures.append(info)
        if self.opt.want_http:
            # decryption-secrets blocks are read during the pass; the key log watches the list
            self._keylog().watch(info.tls_keylog)
        add = tcp.add
        decode = link.decode
        ifaces = info.interfaces
        select = None
        if self.shard is not None:
            from .capture.shard import FlowShards
            k, n = self.shard
            select = FlowShards(n).selects(k)
        packets = reader.packets(select)
        unsupported_before = link.skipped[SKIP_LINKTYPE]
        mine: list[tuple[int, int]] = []  # (frame, stream) of connections from earlier pieces
        appeared.append(mine)
        flows = tcp.flows
        for frame, ts, iface, data, origlen in packets:
            seg = decode(ifaces[iface].linktype, data)
            if seg is not None:
                if base:
                    # a later piece: where a connection from an earlier one first shows up in it
                    # gives its tcp.stream number in this piece
                    entry = flows.get((seg.src, seg.sport, seg.dst, seg.dport))
                    if entry is not None and entry[0].last_frame <= base:
                        add(seg, ts + shift, frame + base)
                        if entry[0].last_frame == frame + base:  # not a new connection on its ports
                            mine.append((frame + base, entry[0].stream))
                        continue
                add(seg, ts + shift, frame + base)
            if progress is not None and not frame & 0x3FFF:
                progress(frame + base, 0)
        for ifc in info.interfaces:
            res.link_types[link_name(ifc.linktype)] += 1
        unsupported = link.skipped[SKIP_LINKTYPE] - unsupported_before
        if unsupported:
            kinds = ", ".join(dict.fromkeys(link_name(i.linktype) for i in info.interfaces
                                            if i.linktype not in LINK_NAMES))
            info.warnings.append(f"{unsupported:,} packets not decoded: {kinds}")
        res.packets += info.packets
        res.warnings.extend(f"{info.path}: {w}" for w in info.warnings)
        if shift and info.first_ts is not None:
            info.first_ts += shift
            info.last_ts += shift
        return info


def _number_streams(pieces: PieceMap, conns: list, appeared: list[list[tuple[int, int]]]) -> None:
    """Each piece's tcp.stream numbers, as Wireshark gives them reading that piece alone: its
    connections in order of their first frame in it (new ones and ones from earlier pieces)."""
    firsts = [list(a) for a in appeared]
    for c in conns:
        firsts[pieces.piece_of(c.first_frame)].append((c.first_frame, c.stream))
    for k, found in enumerate(firsts):
        found.sort()
        for local, (_frame, stream) in enumerate(found):
            pieces.streams[(stream, k)] = local


def decode(paths: str | Iterable[str], options: Options | None = None, **kw) -> PassResult:
    """Run one pass over one or more captures and return every decoded event."""
    if isinstance(paths, str):
        paths = [paths]
    opt = options or Options(**kw)
    return Pipeline(opt).run(paths)
