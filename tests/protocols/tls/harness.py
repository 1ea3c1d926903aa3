"""Drive TlsDecoder from a real capture: the stream calls TCP reassembly makes are recorded
per connection, so tests can replay them as they are, or cut or damaged."""

from __future__ import annotations

from dataclasses import dataclass, field

from glancetrace.capture.link import LinkDecoder
from glancetrace.capture.pcapfile import CaptureReader
from glancetrace.protocols.tls import KeyLog, TlsDecoder, TlsSession
from glancetrace.tcp.reassembly import TcpReassembler


class FakeInner:
    """Stands in for the HTTP decoder: keeps the plaintext and the gaps it is given."""

    def __init__(self):
        self.data = [bytearray(), bytearray()]
        self.gaps: list[tuple[int, int]] = []
        self.frames: list[tuple[int, int, int]] = []  # (direction, bytes, frame)
        self.closed = False

    def feed(self, d, data, ts, frame):
        self.data[d] += data
        self.frames.append((d, len(data), frame))
        return []

    def gap(self, d, n, ts, frame):
        self.gaps.append((d, n))
        return []

    def close(self, ts, frame, reason=""):
        self.closed = True
        return []


@dataclass
class Stream:
    conn_id: int
    client: str
    server: str
    calls: list = field(default_factory=list)  # ("data"|"gap"|"close", args...)


class _Recorder:
    def __init__(self, st: Stream):
        self.st = st

    def data(self, d, payload, ts, frame):
        self.st.calls.append(("data", d, bytes(payload), ts, frame))

    def gap(self, d, n, ts, frame):
        self.st.calls.append(("gap", d, n, ts, frame))

    def close(self, ts, frame, reason):
        self.st.calls.append(("close", ts, frame, reason))


def streams(pcap, ports) -> tuple[list[Stream], list[bytes]]:
    """Every TCP connection of the capture as recorded decoder calls, and the pcapng key blocks."""
    reader = CaptureReader(str(pcap))
    out: list[Stream] = []

    def factory(conn):
        st = Stream(conn.stream, conn.client, conn.server)
        out.append(st)
        return _Recorder(st)

    tcp = TcpReassembler(factory, server_ports=set(ports))
    link = LinkDecoder()
    ifs = reader.info.interfaces
    last, fr = 0.0, 0
    for fr, ts, iface, data, _ in reader.packets():
        seg = link.decode(ifs[iface].linktype, data)
        if seg is not None:
            tcp.add(seg, ts, fr)
        last = ts
    tcp.finish(last, fr)
    return out, reader.info.tls_keylog


def keylog(*paths, texts=None) -> KeyLog:
    k = KeyLog()
    for p in paths:
        k.load_file(str(p))
    if texts:
        k.watch(texts)
    return k


def replay(st: Stream, keys: KeyLog | None, calls=None) -> tuple[TlsSession, FakeInner | None, list]:
    inners: list[FakeInner] = []

    def mk():
        f = FakeInner()
        inners.append(f)
        return f

    dec = TlsDecoder(st.conn_id, st.client, st.server, keys=keys, inner=mk)
    events = []
    for c in calls if calls is not None else st.calls:
        if c[0] == "data":
            events += dec.feed(c[1], c[2], c[3], c[4])
        elif c[0] == "gap":
            events += dec.gap(c[1], c[2], c[3], c[4])
        else:
            events += dec.close(c[1], c[2], c[3])
    sessions = [e for e in events if isinstance(e, TlsSession)]
    assert len(sessions) == 1
    return sessions[0], (inners[0] if inners else None), events


def decode_all(pcap, ports, keys: KeyLog | None):
    sts, dsb = streams(pcap, ports)
    for text in dsb if keys is not None else ():
        keys.load_text(text)  # the pcapng's decryption secrets, as the pipeline hands them in
    return [(st, *replay(st, keys)) for st in sts]
