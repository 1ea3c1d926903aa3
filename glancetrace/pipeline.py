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
from .capture.link import LINK_NAMES, LinkDecoder
from .capture.reader import CaptureInfo, CaptureReader
from .sniff import Roles
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


class Pipeline:
    def __init__(self, options: Options | None = None, shard: tuple[int, int] | None = None):
        self.opt = options or Options()
        self.result = PassResult()
        self._keys = None
        self.shard = shard  # (k, n): decode only the connections that hash to shard k of n

    # -- decoder choice ---------------------------------------------------------

    def _http(self, conn: Connection | Roles, tls: bool = False):
        from .protocols.http import HttpDecoder
        return HttpDecoder(conn.stream, conn.client, conn.server, body_cap=self.opt.body_cap, tls=tls)

    def _mysql(self, conn: Connection | Roles):
        from .protocols.mysql import MysqlDecoder
        return MysqlDecoder(conn.stream, conn.client, conn.server)

    def _tls(self, conn: Connection | Roles, inner: Callable[[], object] | None = None):
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

    def _sniffed(self, kind: str, conn: Roles):
        """Handler for a connection on an unlisted port once the sniffer knows its protocol."""
        if kind == sniff.HTTP:
            return _Collector(self._http(conn), self.result.events)
        if kind == sniff.TLS:
            return _Collector(self._tls(conn), self.result.events)
        return self._mysql_handler(conn)

    def _mysql_handler(self, conn: Connection | Roles):
        mysql = self._mysql(conn)
        return _StartTls(mysql, self.result.events, lambda: self._tls(conn, inner=mysql.inside_tls))

    def _factory(self, conn: Connection):
        port = conn.server_port
        o = self.opt
        sink = self.result.events
        if port in o.mysql_ports:
            if not o.want_mysql:
                return None
            return self._mysql_handler(conn)
        if port in o.http_ports:
            return _Collector(self._http(conn), sink) if o.want_http else None
        if port in o.tls_ports:
            return _Collector(self._tls(conn), sink) if o.want_http else None
        if o.sniff_other_ports:
            kinds = frozenset(([sniff.HTTP, sniff.TLS] if o.want_http else [])
                              + ([sniff.MYSQL] if o.want_mysql else []))
            return sniff.Sniffer(conn, self._sniffed, kinds) if kinds else None
        return None

    # -- the pass ---------------------------------------------------------------

    def run(self, paths: Iterable[str], progress: Callable[[int, int], None] | None = None) -> PassResult:
        paths = list(paths)
        if self.opt.jobs > 1 and self.shard is None:
            from .parallel import run_sharded
            self.result = run_sharded(paths, self.opt)
            return self.result
        from .protocols.http.digests import responsive_gil
        res = self.result
        with responsive_gil():
            for path in paths:
                self._run_one(path, progress)
        return res

    def _run_one(self, path: str, progress) -> None:
        res = self.result
        first_event = len(res.events)
        capture_index = len(res.captures)
        reader = CaptureReader(path)
        info = reader.info
        res.captures.append(info)
        if self.opt.want_http:
            # decryption-secrets blocks are read during the pass; the key log watches the list
            self._keylog().watch(info.tls_keylog)
        o = self.opt
        ports = set(o.http_ports) | set(o.tls_ports) | set(o.mysql_ports)
        tcp = self.tcp = TcpReassembler(self._factory, server_ports=ports)
        link = LinkDecoder()
        add = tcp.add
        decode = link.decode
        ifaces = info.interfaces
        linktypes = res.link_types
        shift = o.offsets.get(path, 0.0)
        select = None
        if self.shard is not None:
            from .capture.shard import FlowShards
            mine, n = self.shard
            select = FlowShards(n).selects(mine)
        for frame, ts, iface, data, origlen in reader.packets(select):
            ts += shift
            seg = decode(ifaces[iface].linktype, data)
            if seg is not None:
                add(seg, ts, frame)
            if progress is not None and not frame & 0x3FFF:
                progress(frame, 0)
        for ifc in info.interfaces:
            linktypes[LINK_NAMES.get(ifc.linktype, f"linktype {ifc.linktype}")] += 1
        link.finish()
        # connections still open end with the capture's last frame, whichever shard has it
        tcp.finish((info.last_ts or 0.0) + shift, info.packets)
        res.packets += info.packets
        res.tcp_segments += tcp.segments
        res.skipped.update(link.skipped)
        res.warnings.extend(f"{path}: {w}" for w in info.warnings)
        res.connections.extend(tcp.connections)
        res.conn_captures.extend([capture_index] * len(tcp.connections))
        if shift:
            res.offsets[path] = shift
            if info.first_ts is not None:
                info.first_ts += shift
                info.last_ts += shift
        for ev in res.events[first_event:]:
            ev.capture = capture_index  # stream and frame numbers are per capture file


def decode(paths: str | Iterable[str], options: Options | None = None, **kw) -> PassResult:
    """Run one pass over one or more captures and return every decoded event."""
    if isinstance(paths, str):
        paths = [paths]
    opt = options or Options(**kw)
    return Pipeline(opt).run(paths)
