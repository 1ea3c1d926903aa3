"""Seeds for the fuzz and property tests, cut out of the real rig captures: TCP segment lists and
reassembled byte streams (with the TLS key log where the stream is TLS), and how to feed them to a
sans-I/O decoder.

A stream is a list of items: (direction, bytes), or (direction, None, nbytes) for a capture gap."""

from __future__ import annotations

import functools
import struct

from glancetrace.capture.link import LinkDecoder
from glancetrace.capture.pcapfile import CaptureReader
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


def _frames(scenario: str, max_frames: int | None = MAX_FRAMES):
    r = CaptureReader(capture(scenario))
    for frame, ts, iface, data, _orig in r.packets():
        if max_frames is not None and frame > max_frames:
            break
        yield frame, ts, r.info.interfaces[iface].linktype, data


@functools.lru_cache(maxsize=None)
def streams(scenario: str, port: int, limit: int = 4, max_bytes: int = 150_000,
            max_frames: int | None = MAX_FRAMES) -> tuple:
    """Up to `limit` whole connections to `port` as ((direction, bytes), …) in delivery order,
    each cut after `max_bytes` (no connection with a capture gap is taken), from the first
    `max_frames` frames (None: the whole capture)."""
    recs: list[_Recorder] = []

    def factory(conn):
        if conn.server_port == port and len(recs) < limit:
            recs.append(_Recorder())
            return recs[-1]
        return None

    tcp = TcpReassembler(factory, server_ports={port})
    link = LinkDecoder()
    last = (0.0, 0)
    for frame, ts, lt, data in _frames(scenario, max_frames):
        seg = link.decode(lt, data)
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
def segments(scenario: str, port: int, which: int = 0, max_frames: int | None = MAX_FRAMES) -> tuple:
    """The `which`-th connection to `port`: its segments as captured, (Segment, ts, frame), payloads copied
    (looked for in the first `max_frames` frames; None: the whole capture)."""
    link = LinkDecoder()
    conns: dict = {}
    for frame, ts, lt, data in _frames(scenario, max_frames):
        seg = link.decode(lt, data)
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


def feed(make, items):
    """A fresh decoder from `make` fed every item (gaps as gaps) and closed: (decoder, events)."""
    dec = make()
    events = []
    for i, item in enumerate(items):
        if item[1] is None:
            events += dec.gap(item[0], item[2], float(i), i + 1)
        else:
            events += dec.feed(item[0], memoryview(item[1]), float(i), i + 1)
    events += dec.close(float(len(items)), len(items) + 1, "fin")
    return dec, events


def rechunk(items, cuts):
    """The same bytes per direction cut into pieces of the sizes in `cuts` (cycled); gaps stay."""
    out, k = [], 0
    for item in items:
        if item[1] is None:
            out.append(item)
            continue
        d, b = item
        pos = 0
        while pos < len(b):
            n = max(1, cuts[k % len(cuts)])
            k += 1
            out.append((d, b[pos:pos + n]))
            pos += n
    return out


def internal_errors(dec, events) -> list[str]:
    """Notes saying a decoder's own code raised (it notes "decoder error …" and goes on): a bug, not damage."""
    notes = list(getattr(dec, "notes", []))
    for e in events:
        notes += getattr(e, "notes", None) or getattr(e, "anomalies", None) or []
    inner = getattr(dec, "inner", None)
    if inner is not None:
        notes += getattr(inner, "notes", [])
    return [n for n in notes if "decoder error" in n or "internal error" in n]


def signature(events):
    """What must not depend on how the bytes were cut: the decoded facts, not frame numbers."""
    out = []
    for e in events:
        name = type(e).__name__
        if name == "HttpTransaction":
            out.append((name, e.method, e.uri, e.status, e.request_body.size, e.request_body.md5,
                        e.response_body.size, e.response_body.md5, e.incomplete, e.gap, e.truncated))
        elif name == "SqlStatement":
            out.append((name, e.command, e.sql, e.result, e.rows, e.affected_rows, e.error_code,
                        e.incomplete, e.gap))
        elif name == "MysqlHandshake":
            out.append((name, e.user, e.database, e.server_version, e.result, e.capabilities))
        elif name == "TlsSession":
            out.append((name, e.version, e.cipher, e.decrypted, e.records_up, e.records_down,
                        e.plaintext_up, e.plaintext_down, e.auth_failures, e.gaps))
        else:
            out.append((name,))
    return out
