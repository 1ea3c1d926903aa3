"""Bad captures made from real ones, inside the tests (nothing binary is committed).

Every builder takes a real capture (a slice of a rig capture: the first image upload
of a scenario, so the CLI runs in a second or two), writes a damaged or re-framed copy
to `dst` and returns its path.  Records are edited at the byte level (classic pcap, as
tcpdump wrote them) or with the Wireshark tools (editcap, mergecap), keeping the real
packet contents.  Frame numbers in arguments and results are 1-based, as Wireshark's.
"""

from __future__ import annotations

import gzip
import pathlib
import struct
import subprocess
from dataclasses import dataclass

from tests.capture.capfiles import fragment_tcp
from tests.support.loopback import need
from tests.support.rig import RIG, keys

# (scenario, editcap frame range): the first upload of each scenario, whole
SLICES = {
    "upload": ("plain_overcloud", "1-3610"),  # POST token, POST image, PUT file (600 KB), MySQL mid-stream
    "chunked": ("failures", "1-3600"),  # a chunked glanceclient upload
    "tls": ("tls_overcloud", "1-3700"),  # the same through haproxy TLS 1.3 (with its key log)
}


def make_slice(name: str, tmp) -> str:
    scenario, frames = SLICES[name]
    out = tmp / f"{name}.pcap"
    if not out.exists():
        editcap("-F", "pcap", "-r", RIG / scenario / "capture.pcap", out, frames)
    return str(out)


def slice_keys(name: str) -> str | None:
    return keys(SLICES[name][0])


def editcap(*args) -> None:
    need("editcap")
    subprocess.run(["editcap", *map(str, args)], check=True, capture_output=True)


# -- classic pcap at the byte level ---------------------------------------------------

@dataclass
class Pcap:
    header: bytearray  # the 24-byte global header
    records: list[list]  # [16-byte record header (bytearray), packet bytes (bytearray)]

    @classmethod
    def read(cls, path) -> "Pcap":
        data = open(path, "rb").read()
        assert data[:4] == b"\xd4\xc3\xb2\xa1", "builders expect tcpdump's little-endian µs pcap"
        recs, off = [], 24
        while off + 16 <= len(data):
            caplen = struct.unpack_from("<I", data, off + 8)[0]
            recs.append([bytearray(data[off:off + 16]), bytearray(data[off + 16:off + 16 + caplen])])
            off += 16 + caplen
        return cls(bytearray(data[:24]), recs)

    def write(self, path, linktype: int | None = None) -> str:
        head = bytearray(self.header)
        if linktype is not None:
            struct.pack_into("<I", head, 20, linktype)
        with open(path, "wb") as f:
            f.write(head)
            for h, d in self.records:
                h = bytearray(h)
                old_cap, orig = struct.unpack_from("<II", h, 8)
                # a re-framed packet is longer or shorter on the wire by as much as in the file
                struct.pack_into("<II", h, 8, len(d), max(orig + len(d) - old_cap, len(d)))
                f.write(h)
                f.write(d)
        return str(path)

    def record_offset(self, frame: int) -> int:
        """File offset of the record header of 1-based `frame`."""
        return 24 + sum(16 + len(d) for _h, d in self.records[:frame - 1])


def tcp_of(frame: bytes | bytearray):
    """(ip offset, ihl, tcp offset, tcp header length, payload offset, payload end) of an
    Ethernet/IPv4/TCP frame, or None."""
    if len(frame) < 54 or frame[12:14] != b"\x08\x00" or frame[23] != 6:
        return None
    ihl = (frame[14] & 0x0F) * 4
    total = struct.unpack_from("!H", frame, 16)[0]
    t = 14 + ihl
    thl = (frame[t + 12] >> 4) * 4
    return 14, ihl, t, thl, t + thl, 14 + total


def ports(frame) -> tuple[int, int] | None:
    t = tcp_of(frame)
    return struct.unpack_from("!HH", frame, t[2]) if t else None


def payload(frame) -> bytes:
    t = tcp_of(frame)
    return bytes(frame[t[4]:t[5]]) if t else b""


def same_flow(cap: Pcap, i: int) -> list[int]:
    """0-based indexes of every frame (both directions) of frame index i's TCP connection."""
    a, b = ports(cap.records[i][1])
    return [j for j, (_h, d) in enumerate(cap.records) if ports(d) in ((a, b), (b, a))]


def upload_frames(cap: Pcap) -> tuple[int, list[int]]:
    """0-based indexes of the PUT …/file request frame and of the client's data frames of
    its connection after it."""
    put = next(i for i, (_h, d) in enumerate(cap.records) if payload(d).startswith(b"PUT /v2/images/"))
    cport = ports(cap.records[put][1])[0]
    body = [j for j in same_flow(cap, put) if j > put and ports(cap.records[j][1])[0] == cport
            and payload(cap.records[j][1])]
    return put, body


# -- files nothing can be read from --------------------------------------------------------

# kind -> the file's bytes, from the first 200 KB of a real capture
UNUSABLE = {
    "empty": lambda real: b"",
    "zero packets": lambda real: real[:24],
    "wrong magic": lambda real: b"\x0b\xad\xca\xfe" + real[4:],
    "text file": lambda real: b"2026-11-27 01:52:01 glance-api INFO upload started\n" * 50,
    "truncated global header": lambda real: real[:17],
    "gzip'd text": lambda real: gzip.compress(b"not a capture\n" * 100),
}


def unusable(src: str, dst, kind: str) -> str:
    dst.write_bytes(UNUSABLE[kind](open(src, "rb").read(200_000)))
    return str(dst)


# -- damaged files ------------------------------------------------------------------------

def ends_inside_record(src: str, dst, frame: int) -> str:
    """The file stops 10 bytes into the packet after `frame`, as when tcpdump is killed."""
    data = open(src, "rb").read()
    dst.write_bytes(data[:Pcap.read(src).record_offset(frame + 1) + 16 + 10])
    return str(dst)


def record_claims(src: str, dst, frame: int, caplen: int) -> str:
    """The record header of `frame` claims `caplen` captured bytes (past the end of the file)."""
    data = bytearray(open(src, "rb").read())
    struct.pack_into("<I", data, Pcap.read(src).record_offset(frame) + 8, caplen)
    dst.write_bytes(bytes(data))
    return str(dst)


def gzip_cut(src: str, dst) -> str:
    """A gzip'd capture of which only the first two thirds were copied."""
    z = gzip.compress(open(src, "rb").read())
    dst.write_bytes(z[:len(z) * 2 // 3])
    return str(dst)


def snaplen(src: str, dst, n: int) -> str:
    """As `tcpdump -s n` would have written it: every packet cut after n bytes."""
    editcap("-s", n, src, dst)
    return str(dst)


# -- other framings of the same IP packets ------------------------------------------------

def to_link(src: str, dst, kind: str) -> str:
    """Ethernet → Linux cooked v1 / v2, raw IPv4 with 802.1Q tags, or IPv6 (addresses mapped)."""
    cap = Pcap.read(src)
    linktype = {"sll": 113, "sll2": 276, "ipv6": 1, "vlan": 1}[kind]
    for rec in cap.records:
        eth = rec[1]
        etype, ip = bytes(eth[12:14]), bytes(eth[14:])
        if kind == "sll":  # packet type 0 (to us), ARPHRD_ETHER, 6-byte address
            rec[1] = bytearray(struct.pack("!HHH8s", 0, 1, 6, bytes(eth[6:12])) + etype + ip)
        elif kind == "sll2":
            rec[1] = bytearray(etype + b"\0\0" + struct.pack("!IHBB8s", 1, 1, 0, 6, bytes(eth[6:12])) + ip)
        elif kind == "vlan":  # an 802.1Q tag on every frame
            rec[1] = bytearray(eth[:12] + b"\x81\x00\x00\x64" + eth[12:])
        elif kind == "ipv6" and etype == b"\x08\x00":
            ihl = (ip[0] & 0x0F) * 4
            total = struct.unpack_from("!H", ip, 2)[0]
            body = ip[ihl:total]
            src6 = b"\0" * 10 + b"\xff\xff" + ip[12:16]
            dst6 = b"\0" * 10 + b"\xff\xff" + ip[16:20]
            ip6 = struct.pack("!IHBB16s16s", 6 << 28, len(body), ip[9], 64, src6, dst6)
            rec[1] = bytearray(eth[:12] + b"\x86\xdd" + ip6 + body)
    return cap.write(dst, linktype)


def fragmented(src: str, dst) -> str:
    """Every TCP segment of 48+ payload bytes as three IPv4 fragments, the last one first."""
    fragment_tcp(pathlib.Path(src), dst)
    return str(dst)


def pcapng_with_unknown_blocks(src: str, dst) -> str:
    """pcapng (editcap) with a block type nobody defined and a custom block after every IDB
    and one more before the last packet: readers must step over them."""
    ng = dst.with_suffix(".tmp.pcapng")
    editcap("-F", "pcapng", src, ng)
    data = ng.read_bytes()
    odd = struct.pack("<II", 0x0BAD0BAD, 20) + b"junkjunk" + struct.pack("<I", 20)
    custom = struct.pack("<III", 0x00000BAD, 24, 32473) + b"abcdefgh" + struct.pack("<I", 24)
    out, off = bytearray(), 0
    blocks = []
    while off + 8 <= len(data):
        btype, blen = struct.unpack_from("<II", data, off)
        blocks.append((btype, data[off:off + blen]))
        off += blen
    for i, (btype, raw) in enumerate(blocks):
        if i == len(blocks) - 1:
            out += odd
        out += raw
        if btype == 1:  # after the interface description
            out += odd + custom
    dst.write_bytes(bytes(out))
    return str(dst)


# kind -> builder(src, dst)
REFRAMED = {
    **{kind: (lambda src, dst, kind=kind: to_link(src, dst, kind)) for kind in ("sll", "sll2", "ipv6", "vlan")},
    "fragments": fragmented,
    "pcapng-unknown-blocks": pcapng_with_unknown_blocks,
}


# -- TCP damage ---------------------------------------------------------------------------

def starting_at(src: str, dst, frame: int) -> str:
    """tcpdump started late: nothing before `frame` (the frames are numbered from 1 again)."""
    editcap("-r", src, dst, f"{frame}-{len(Pcap.read(src).records)}")
    return str(dst)


def without_frames(src: str, dst, frames) -> str:
    """Lost packets: the listed frames are not in the copy."""
    editcap(src, dst, *frames)  # editcap deletes the frames it is given
    return str(dst)


def duplicated(src: str, dst) -> str:
    """Every packet twice (mergecap of a capture with itself), as a SPAN port doubling traffic."""
    need("mergecap")
    subprocess.run(["mergecap", "-F", "pcap", "-w", str(dst), src, src], check=True, capture_output=True)
    return str(dst)


def rst_mid_upload(src: str, dst) -> str:
    """The server resets the upload connection half-way through the body; nothing of it follows."""
    cap = Pcap.read(src)
    put, body = upload_frames(cap)
    cut = body[len(body) // 2]
    flow = set(same_flow(cap, put))
    h, d = cap.records[cut]
    t = tcp_of(d)
    rst = bytearray(d[:t[4]])  # headers only
    rst[6:12], rst[0:6] = d[0:6], d[6:12]
    rst[t[0] + 12:t[0] + 16], rst[t[0] + 16:t[0] + 20] = d[t[0] + 16:t[0] + 20], d[t[0] + 12:t[0] + 16]
    sport, dport, seq, ack = struct.unpack_from("!HHII", d, t[2])
    struct.pack_into("!HHII", rst, t[2], dport, sport, ack, 0)
    rst[t[2] + 13] = 0x04  # RST
    struct.pack_into("!H", rst, t[0] + 2, len(rst) - 14)
    hh = bytearray(h)
    struct.pack_into("<II", hh, 8, len(rst), len(rst))
    cap.records = ([r for j, r in enumerate(cap.records) if j <= cut or j not in flow][:cut + 1]
                   + [[hh, rst]] + [r for j, r in enumerate(cap.records) if j > cut and j not in flow])
    return cap.write(dst)


# -- protocol damage ----------------------------------------------------------------------

def chunk_size_garbled(src: str, dst) -> tuple[str, int]:
    """The first chunk-size line of a chunked request body becomes non-hex (same length);
    returns (path, frame of the request head)."""
    cap = Pcap.read(src)
    for i, (_h, d) in enumerate(cap.records):
        t = tcp_of(d)
        if not t:
            continue
        pl = bytes(d[t[4]:t[5]])
        if pl.startswith(b"PUT ") and b"chunked" in pl.lower().split(b"\r\n\r\n")[0]:
            head_end = pl.find(b"\r\n\r\n") + 4
            if head_end < len(pl):
                j = i  # the chunk-size line is in the same segment as the head
                k = t[4] + head_end
            else:
                j = next(x for x in same_flow(cap, i) if x > i and payload(cap.records[x][1]))
                k = tcp_of(cap.records[j][1])[4]
            frame = cap.records[j][1]
            eol = frame.index(b"\r\n", k)
            assert eol > k, "a chunk-size line"
            frame[k:eol] = b"z" * (eol - k)
            return cap.write(dst), i + 1
    raise AssertionError("no chunked request in the capture")


def mysql_length_past_stream(src: str, dst) -> str:
    """A client COM_QUERY packet near the end of a MySQL connection claims 16 MB."""
    cap = Pcap.read(src)
    queries = [i for i, (_h, d) in enumerate(cap.records)
               if ports(d) and ports(d)[1] == 3306 and len(payload(d)) > 5 and payload(d)[3:5] == b"\x00\x03"]
    frame = cap.records[queries[-3]][1]  # a few statements before the end: what follows must not vanish unreported
    k = tcp_of(frame)[4]
    frame[k:k + 3] = b"\xf0\xff\xff"
    return cap.write(dst)


def tls_bad_tag(src: str, dst) -> tuple[str, int]:
    """One client application-data record on the Glance TLS port gets a flipped tag byte;
    returns (path, frame of that record)."""
    cap = Pcap.read(src)
    for i, (_h, d) in enumerate(cap.records):
        p = ports(d)
        if not p or p[1] != 13292:
            continue
        pl = payload(d)
        if pl[:3] == b"\x17\x03\x03" and len(pl) >= 5 + struct.unpack_from("!H", pl, 3)[0] > 200:
            n = struct.unpack_from("!H", pl, 3)[0]
            t = tcp_of(d)
            d[t[4] + 5 + n - 1] ^= 0x5A  # last byte of the AEAD tag
            return cap.write(dst), i + 1
    raise AssertionError("no whole application-data record on 13292")
