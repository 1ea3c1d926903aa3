"""One streaming pass: capture → link → TCP → protocol decoders → events.

The pipeline picks a decoder per connection by server port (defaults below,
all overridable), sniffs connections on other ports for HTTP, TLS or a MySQL
greeting (sniff.py), and collects every event the decoders emit.  Nothing
here knows about OpenStack: that is the next layer up.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable

from . import sniff
from .capture.link import LINK_NAMES, SKIP_LINKTYPE, LinkDecoder, link_name
from .capture.plan import InputPlan, PieceMap, plan_input
from .capture.formats import CaptureInfo
from .capture.pcapfile import CaptureReader
from .capture.shard import FlowShards
from .hashing import BackgroundHashing
from .protocols.base import ConnectionEvent, SwitchToTls
from .protocols.http import HttpDecoder
from .protocols.mysql import MysqlDecoder
from .protocols.mysql.events import MysqlHandshake
from .protocols.tls import TlsDecoder
from .protocols.tls.keylog import KeyLog
from .sniff import Roles
from .tcp.reassembly import Connection, TcpReassembler
from .protocols.tcp_facts import TcpFacts
from .tcp.stalls import TcpStalls
from .tcp.table import ConnectionTable

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
    jobs: int = 1  # worker processes for parallel.run_sharded (a Pipeline is one process)
    read_as: str = "auto"  # several files: "pieces" of one capture, "hosts" (one capture each) or guessed


@dataclass
class PassResult:
    captures: list[CaptureInfo] = field(default_factory=list)
    events: list[ConnectionEvent] = field(default_factory=list)  # every decoder event, in emission order
    connections: ConnectionTable = field(default_factory=ConnectionTable)  # closed ones packed (tcp/table.py)
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
    """A connection whose decoder may announce that it switches to TLS (MySQL's SSL request):
    the pipeline then stacks a TLS decoder on it, as Zeek's analyzer tree and Wireshark's
    dissector tables do, so the connection is reported with its handshake facts instead of
    as opaque bytes; with the key, the decrypted bytes go back to the first decoder."""

    __slots__ = ("make_tls", "below", "conn", "said")

    def __init__(self, decoder, sink: list, make_tls: Callable[[Callable[[], object]], object],
                 conn: Connection | None = None):
        super().__init__(decoder, sink)
        self.make_tls = make_tls  # inner decoder factory → TLS decoder
        self.below = None  # the first decoder, until the TLS decoder hands it decrypted bytes
        self.conn = conn  # the TCP connection, when the decoder sees its endpoints as they are
        self.said = False  # the decoder emitted something

    def data(self, direction, payload, ts, frame):
        ev = self.decoder.feed(direction, payload, ts, frame)
        if not ev:
            return
        self.said = True
        switch = False
        for e in ev:
            if type(e) is SwitchToTls:
                switch = True
            else:
                self.sink.append(e)
        if switch and self.make_tls is not None:
            below = self.below = self.decoder
            self.decoder, self.make_tls = self.make_tls(lambda: self._inside(below)), None
            # the ClientHello may share this segment with the SSL request: the TLS decoder
            # skips the plaintext before it
            super().data(direction, payload, ts, frame)

    def _silent(self, ev: list) -> bool:
        """Nothing decoded but the guessed handshake every MySQL connection seen without its greeting ends with."""
        if self.said or self.conn is None or self.make_tls is None or len(ev) != 1:
            return False
        hs = ev[0]
        return type(hs) is MysqlHandshake and hs.inferred and hs.thread_id is None and not hs.notes

    def _inside(self, below):
        self.below = None
        return below.inside_tls()

    def gap(self, direction, nbytes, ts, frame):
        ev = self.decoder.gap(direction, nbytes, ts, frame)
        if ev:
            self.said = True
            self.sink.extend(ev)

    def close(self, ts, frame, reason):
        ev = self.decoder.close(ts, frame, reason)
        if self._silent(ev):
            # a connection that carried no whole MySQL packet (a flood of them: issue 16.6) keeps no event: its
            # record says when it closed, and the analysis counts it where its handshake counted (mysql_hops)
            if self.conn.silent_at is None:
                self.conn.silent_at = ev[0].time
        elif ev:
            self.sink.extend(ev)
        if self.below is not None:  # the TLS stayed opaque: the first decoder reports what it saw
            ev, self.below = self.below.close(ts, frame, reason), None
            if ev:
                self.sink.extend(ev)


class Pipeline:
    """One pass.  It owns what the decoders share and hands it to them: the TLS key material
    (key log files, then the pcapng decryption secrets as the reader meets them) and the
    hashing of bodies on another core."""

    def __init__(self, options: Options | None = None, shard: tuple[int, int] | None = None):
        self.opt = options or Options()
        self.result = PassResult()
        self.shard = shard  # (k, n): decode only the connections that hash to shard k of n
        self.keys = KeyLog()
        for path in self.opt.keylog:
            self.keys.load_file(path)
        self.hasher = None  # BackgroundHashing during run()

    # -- decoder choice ---------------------------------------------------------

    def _http(self, conn: Connection | Roles, capture: int, tls: bool = False):
        return HttpDecoder(conn.stream, conn.client, conn.server, body_cap=self.opt.body_cap, tls=tls,
                           capture=capture, hasher=self.hasher)

    def _tls(self, conn: Connection | Roles, capture: int, inner: Callable[[], object] | None = None):
        """TLS; its decrypted bytes go to `inner()` (default: HTTP)."""
        return TlsDecoder(conn.stream, conn.client, conn.server, keys=self.keys, capture=capture,
                          inner=inner or (lambda: self._http(conn, capture, tls=True)))

    def _sniffed(self, kind: str, conn: Roles, capture: int):
        """Handler for a connection on an unlisted port once the sniffer knows its protocol."""
        if kind == sniff.HTTP:
            return _Collector(self._http(conn, capture), self.result.events)
        if kind == sniff.TLS:
            return _Collector(self._tls(conn, capture), self.result.events)
        return self._mysql_handler(conn, capture)

    def _mysql_handler(self, conn: Connection | Roles, capture: int):
        mysql = MysqlDecoder(conn.stream, conn.client, conn.server, capture=capture)
        return _StartTls(mysql, self.result.events, lambda inner: self._tls(conn, capture, inner=inner),
                         conn if isinstance(conn, Connection) else None)

    def _factory(self, conn: Connection, capture: int):
        port = conn.server_port
        o = self.opt
        sink = self.result.events
        if port in o.mysql_ports:
            if not o.want_mysql:
                return None
            return self._mysql_handler(conn, capture)
        if port in o.http_ports:
            return _Collector(self._http(conn, capture), sink) if o.want_http else None
        if port in o.tls_ports:
            return _Collector(self._tls(conn, capture), sink) if o.want_http else None
        if o.sniff_other_ports:
            kinds = frozenset(([sniff.HTTP, sniff.TLS] if o.want_http else [])
                              + ([sniff.MYSQL] if o.want_mysql else []))
            return sniff.Sniffer(conn, lambda kind, roles: self._sniffed(kind, roles, capture), kinds) if kinds else None
        return None

    # -- the pass ---------------------------------------------------------------

    def run(self, paths: Iterable[str] | InputPlan, progress: Callable[[int, int], None] | None = None,
            indexes: list[int] | None = None) -> PassResult:
        """Run the plan (made here from the paths and the options when given paths), in this process:
        several processes are parallel.run_sharded's. `indexes` numbers the captures (default 0, 1, …:
        a worker given some of a pass's captures numbers them as the whole pass does)."""
        o = self.opt
        plan = paths if isinstance(paths, InputPlan) else plan_input(
            list(paths), o.read_as, o.offsets, 1, estimate_clocks=False)
        res = self.result
        res.plan = plan
        with BackgroundHashing() as self.hasher:
            for members in plan.groups:
                index = indexes[members[0]] if indexes else len(res.captures)
                self._run_group(plan, members, index, progress)
        self.hasher = None
        return res

    def _packets(self, reader: CaptureReader, select):
        """The reader's packets; a pcapng's decryption secrets go to the key log as they are read,
        before the packets that follow them."""
        packets = reader.packets(select)
        if reader.info.format == "pcap":
            return packets
        return self._with_secrets(packets, reader.info.tls_keylog)

    def _with_secrets(self, packets, secrets: list[bytes]):
        seen = 0
        for packet in packets:
            if len(secrets) > seen:
                for text in secrets[seen:]:
                    self.keys.load_text(text)
                seen = len(secrets)
            yield packet

    def _run_group(self, plan: InputPlan, members: list[int], lead: int, progress) -> None:
        """One capture, whole or in pieces: one reassembler, frames counted across the pieces; its
        events carry the index of its first file (`lead`), whose numbers they are counted in."""
        res = self.result
        o = self.opt
        ports = set(o.http_ports) | set(o.tls_ports) | set(o.mysql_ports)
        tcp = self.tcp = TcpReassembler(lambda conn: self._factory(conn, lead), server_ports=ports)
        self.stalls = TcpStalls(tcp, lead, TcpFacts)  # zero windows, retransmissions, FIN/RST: who stalled, who hung up
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
        res.events.extend(self.stalls.finish())
        res.tcp_segments += tcp.segments
        res.skipped.update(link.skipped)
        res.conn_captures.extend([lead] * len(tcp.connections))
        if shift:
            res.offsets[plan.files[members[0]].path] = shift
        if len(members) > 1:
            _number_streams(pieces, tcp.connections, appeared)
            res.pieces[lead] = pieces
        res.connections.take(tcp.connections)  # (no copy of its records)

    def _read_file(self, plan: InputPlan, index: int, tcp: TcpReassembler, link: LinkDecoder, shift: float,
                   base: int, appeared: list, progress) -> CaptureInfo:
        res = self.result
        reader = plan.reader(index)
        info = reader.info
        res.captures.append(info)
        add = tcp.add  # (which shows each segment to self.stalls)
        decode = link.decode
        ifaces = info.interfaces
        select = None
        if self.shard is not None:
            k, n = self.shard
            select = FlowShards(n).selects(k)
        unsupported_before = link.skipped[SKIP_LINKTYPE]
        mine: list[tuple[int, int]] = []  # (frame, stream) of connections from earlier pieces
        appeared.append(mine)
        last_seen = tcp.last_seen
        for frame, ts, iface, data, origlen in self._packets(reader, select):
            seg = decode(ifaces[iface].linktype, data)
            if seg is not None:
                if base:
                    # a later piece: where a connection from an earlier one first shows up in it
                    # gives its tcp.stream number in this piece
                    seen = last_seen(seg)
                    if seen is not None and seen[1] <= base:
                        add(seg, ts + shift, frame + base)
                        if last_seen(seg) == (seen[0], frame + base):  # not a new connection on its ports
                            mine.append((frame + base, seen[0]))
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
    """Run one pass over one or more captures, in this process, and return every decoded event."""
    if isinstance(paths, str):
        paths = [paths]
    opt = options or Options(**kw)
    return Pipeline(opt).run(paths)
