"""Seeds for the fuzzers, cut out of the real rig captures: TCP segment lists and reassembled
byte streams (with the TLS key log where the stream is TLS)."""

from __future__ import annotations

import functools
import struct

from glancetrace.capture.link import LinkDecoder
from glancetrace.capture.reader import CaptureReader
from glancetrace.tcp.reassembly import TcpReassembler
from tests.support.rig import capture, keys

MAX_FRAMES = 4000  # the first image upload of a scenario: enough variety, read in a second


class _Recorder:
    def __init__(self):
        self.chunks: list[tuple[int, bytes]] = []

    def data(self, d, payload, ts, frame):
        self.chunks.append((d, bytes(payload)))

    def gap(self, d, n, ts, frame):
        self.chunks.append((d, None))

    def close(self, ts, frame, reason):
        pass


def _frames(scenario: str):
    r = CaptureReader(capture(scenario))
    for frame, ts, iface, data, _orig in r.packets():
        if frame > MAX_FRAMES:
            break
        yield frame, ts, r.info.interfaces[iface].linktype, data


@functools.lru_cache(maxsize=None)
def streams(scenario: str, port: int, limit: int = 4, max_bytes: int = 150_000) -> tuple:
    """Up to `limit` whole connections to `port` as ((direction, bytes), …) in delivery order,
    each cut after `max_bytes` (no connection with a capture gap is taken)."""
    recs: list[_Recorder] = []

    def factory(conn):
        if conn.server_port == port and len(recs) < limit:
            recs.append(_Recorder())
            return recs[-1]
        return None

    tcp = TcpReassembler(factory, server_ports={port})
    link = LinkDecoder()
    last = (0.0, 0)
    for frame, ts, lt, data in _frames(scenario):
        seg = link.decode(lt, data, ts)
        if seg is not None:
            tcp.add(seg, ts, frame)
        last = (ts, frame)
    tcp.finish(*last)
    out = []
    for r in recs:
        if any(b is None for _d, b in r.chunks):
            continue
        kept, total = [], 0
        for d, b in r.chunks:
            if total > max_bytes:
                break
            kept.append((d, b))
            total += len(b)
        if kept:
            out.append(tuple(kept))
    return tuple(out)


@functools.lru_cache(maxsize=None)
def segments(scenario: str, port: int, which: int = 0) -> tuple:
    """The `which`-th connection to `port`: its segments as captured, (Segment, ts, frame), payloads copied."""
    link = LinkDecoder()
    conns: dict = {}
    for frame, ts, lt, data in _frames(scenario):
        seg = link.decode(lt, data, ts)
        if seg is None or port not in (seg.sport, seg.dport):
            continue
        key = frozenset({(seg.src, seg.sport), (seg.dst, seg.dport)})
        if key not in conns and len(conns) > which:
            continue
        seg.payload = memoryview(bytes(seg.payload))
        conns.setdefault(key, []).append((seg, ts, frame))
    return tuple(list(conns.values())[which])


def tls_keys(scenario: str):
    from glancetrace.protocols.tls.keylog import KeyLog
    k = KeyLog()
    path = keys(scenario)
    if path:
        k.load_file(path)
    return k


def pcap_bytes(scenario: str, frames: int = 300) -> bytes:
    """The first `frames` records of a rig capture, as a classic pcap file."""
    data = open(capture(scenario), "rb").read(4 << 20)
    off = 24
    for _ in range(frames):
        off += 16 + struct.unpack_from("<I", data, off + 8)[0]
    return data[:off]
