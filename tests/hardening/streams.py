"""Real byte streams and segments cut out of the rig captures, to seed property tests."""

from __future__ import annotations

import functools

from glancetrace.capture.link import LinkDecoder
from glancetrace.capture.reader import CaptureReader
from glancetrace.pipeline import Options, Pipeline
from tests.support.rig import capture


class _Recorder:
    """A decoder stand-in that keeps what the reassembler delivers."""

    def __init__(self):
        self.chunks: list[tuple[int, bytes]] = []

    def feed(self, direction, data, ts, frame):
        self.chunks.append((direction, bytes(data)))
        return []

    def gap(self, direction, nbytes, ts, frame):
        return []

    def close(self, ts, frame, reason=""):
        return []


@functools.lru_cache(maxsize=None)
def streams(scenario: str, port: int, limit: int = 6, max_bytes: int = 200_000) -> list[list[tuple[int, bytes]]]:
    """Up to `limit` connections to `port`, each as its (direction, bytes) deliveries, capped in size."""
    recs: list[_Recorder] = []
    pipe = Pipeline(Options(sniff_other_ports=False))

    def factory(conn):
        r = _Recorder()
        if conn.server_port == port and len(recs) < limit:
            recs.append(r)
        return r

    pipe._mysql = pipe._http = pipe._tls = factory
    pipe.run([capture(scenario)])
    out = []
    for r in recs:
        total, kept = 0, []
        for d, b in r.chunks:
            if total > max_bytes:
                break
            kept.append((d, b))
            total += len(b)
        if kept:
            out.append(kept)
    return out


@functools.lru_cache(maxsize=None)
def segments(scenario: str, port: int, stream_index: int = 0) -> list:
    """The TCP segments (as captured, in order) of the n-th connection to `port`."""
    reader = CaptureReader(capture(scenario))
    link = LinkDecoder()
    conns: dict = {}
    for frame, ts, iface, data, _ in reader.packets():
        seg = link.decode(reader.info.interfaces[iface].linktype, data, ts)
        if seg is None or port not in (seg.sport, seg.dport):
            continue
        key = frozenset({(seg.src, seg.sport), (seg.dst, seg.dport)})
        if key not in conns and len(conns) > stream_index:
            continue
        seg.payload = bytes(seg.payload)
        conns.setdefault(key, []).append((seg, ts, frame))
    return list(conns.values())[stream_index]
