"""Property fuzzing of the capture reader and TCP reassembly with real data.

Reader: random bytes after valid pcap/pcapng headers, and real files with bytes flipped, cut or
inserted.  Opening raises UnusableInput or nothing; reading never raises; the whole pass keeps
read = decoded + skipped, and a file read short is reported (truncated + a warning).

Reassembly: the real segments of a connection (an image upload) reordered, duplicated, dropped
and re-cut into overlapping pieces.  Per direction delivered + gaps == the sequence span fed, and
every delivered byte equals the original stream at its offset (only gaps may differ).
"""

from __future__ import annotations

import os
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glancetrace.capture.segment import FIN, RST, SYN, Segment
from glancetrace.capture.pcapfile import CaptureReader
from glancetrace.errors import UnusableInput
from glancetrace.pipeline import decode
from glancetrace.tcp.reassembly import TcpReassembler
from tests.fuzz.seeds import pcap_bytes, segments

EXAMPLES = int(os.environ.get("GLANCETRACE_FUZZ_EXAMPLES",
                              "300" if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else "80"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                    database=None)

PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
SHB = struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack("<I", 28)
IDB = struct.pack("<IIHHI", 1, 20, 1, 0, 262144) + struct.pack("<I", 20)


def read_all(path: str):
    """The whole pass on a file; returns the PassResult or None when it is unusable."""
    try:
        CaptureReader(path)
    except UnusableInput:
        return None
    res = decode(path)
    assert res.packets == res.tcp_segments + sum(res.skipped.values())
    info = res.captures[0]
    assert not info.truncated or info.warnings  # a short read is always told
    for conn in res.connections:
        for ds in conn.dirs:
            assert ds.delivered + ds.gap_bytes == ds.offset
    return res


@SETTINGS
@given(head=st.sampled_from(["pcap", "pcapng"]), junk=st.binary(max_size=2000))
def test_random_bytes_after_a_valid_header(tmp_path_factory, head, junk):
    path = tmp_path_factory.mktemp("fz") / "junk.pcap"
    path.write_bytes((PCAP_HEADER if head == "pcap" else SHB + IDB) + junk)
    assert read_all(str(path)) is not None


@SETTINGS
@given(data=st.data())
def test_mutated_real_capture(tmp_path_factory, data):
    raw = bytearray(pcap_bytes(data.draw(st.sampled_from(["plain_overcloud", "tls_overcloud"])), 200))
    for _ in range(data.draw(st.integers(1, 8))):
        if not raw:
            break
        op = data.draw(st.sampled_from(["flip", "cut", "insert", "truncate", "length"]))
        i = data.draw(st.integers(0, len(raw) - 1))
        if op == "flip":
            raw[i] ^= data.draw(st.integers(1, 255))
        elif op == "cut":
            del raw[i:i + data.draw(st.integers(1, 100))]
        elif op == "insert":
            raw[i:i] = data.draw(st.binary(min_size=1, max_size=50))
        elif op == "truncate":
            del raw[max(i, 1):]
        elif op == "length" and i + 4 <= len(raw):
            raw[i:i + 4] = struct.pack("<I", data.draw(st.sampled_from([0, 1, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF])))
    path = tmp_path_factory.mktemp("fz") / "mutated.pcap"
    path.write_bytes(bytes(raw))
    read_all(str(path))


# -- reassembly ---------------------------------------------------------------------------

class Recorder:
    """Rebuilds each direction as {offset: byte run} and the gaps between them."""

    def __init__(self):
        self.pos = [0, 0]
        self.runs: list[list[tuple[int, bytes]]] = [[], []]
        self.gaps = [0, 0]
        self.closed = 0

    def data(self, d, payload, ts, frame):
        self.runs[d].append((self.pos[d], bytes(payload)))
        self.pos[d] += len(payload)

    def gap(self, d, n, ts, frame):
        assert n > 0
        self.gaps[d] += n
        self.pos[d] += n

    def close(self, ts, frame, reason):
        self.closed += 1


def clone(seg: Segment, **kw) -> Segment:
    f = {k: getattr(seg, k) for k in Segment.__slots__}
    f.update(kw)
    return Segment(**f)


def feed(segs):
    rec = Recorder()
    tcp = TcpReassembler(lambda conn: rec, server_ports={9292})
    for i, (seg, ts, frame) in enumerate(segs):
        tcp.add(seg, ts, frame)
    tcp.finish(segs[-1][1], segs[-1][2])
    return tcp, rec


def original():
    segs = list(segments("plain_overcloud", 9292))
    tcp, rec = feed(segs)
    conn = tcp.connections[0]
    streams = [b"".join(b for _o, b in rec.runs[d]) for d in (0, 1)]
    assert not any(rec.gaps) and len(streams[0]) > 100_000
    return segs, conn, streams


ORIG = None


@SETTINGS
@given(data=st.data())
def test_reassembly_of_damaged_segment_lists(data):
    global ORIG
    if ORIG is None:
        ORIG = original()
    segs, conn0, streams = ORIG
    # the handshake stays first (stream offsets are counted from the SYN); the rest is damaged
    head = [s for s in segs[:3] if s[0].flags & SYN]
    rest = [s for s in segs if s not in head]
    out = []
    for seg, ts, frame in rest:
        op = data.draw(st.sampled_from(["keep"] * 6 + ["drop", "dup", "split"]))
        n = len(seg.payload)
        if op == "drop" and n and not seg.flags & (FIN | RST):
            continue
        if op == "split" and n > 2:
            # two overlapping pieces that agree on their common bytes
            a = data.draw(st.integers(1, n - 1))
            b = data.draw(st.integers(0, a - 1))
            out.append((clone(seg, payload=seg.payload[:a], flags=seg.flags & ~FIN), ts, frame))
            out.append((clone(seg, seq=(seg.seq + b) & 0xFFFFFFFF, payload=seg.payload[b:]), ts, frame))
            continue
        out.append((seg, ts, frame))
        if op == "dup":
            out.append((seg, ts, frame))
    # local reordering, as on a real network
    for _ in range(data.draw(st.integers(0, 10))):
        if len(out) < 2:
            break
        i = data.draw(st.integers(0, len(out) - 2))
        j = min(len(out) - 1, i + data.draw(st.integers(1, 4)))
        out[i], out[j] = out[j], out[i]
    tcp, rec = feed(head + out)
    assert len(tcp.connections) == 1
    conn = tcp.connections[0]
    assert rec.closed == 1
    for d in (0, 1):
        ds = conn.dirs[d]
        assert ds.delivered + ds.gap_bytes == ds.offset == rec.pos[d]
        assert rec.gaps[d] == ds.gap_bytes
        # nothing beyond what was sent (as tests/test_accounting.py: when a FIN and the ACKs around
        # it come reordered, the FIN's own sequence number may be counted as one lost byte)
        assert ds.offset <= len(streams[d]) + (1 if ds.fin and ds.gap_bytes else 0)
        # every delivered byte is the original byte at that offset
        for off, run in rec.runs[d]:
            assert run == streams[d][off:off + len(run)], (d, off, len(run))
        if not rec.gaps[d]:
            assert b"".join(b for _o, b in rec.runs[d]) == streams[d][:ds.offset]
