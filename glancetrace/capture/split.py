"""Cut a capture into smaller captures, copying records verbatim (`glancetrace split`).

Three ways to cut:

* by packet count and by time interval, exactly as `editcap -c N` / `editcap -i S`
  do: the same boundaries and the same file names (`PREFIX_NNNNN_YYYYMMDDHHMMSS
  SUFFIX`, the time of the piece's first packet in local time, the suffix being
  everything from the last dot of the output name), a header-only OUT when the
  input holds no packet, and with -i an empty piece for every interval without
  packets;
* by TCP connection (`flows`): K pieces, each connection whole in one of them.

Unlike editcap (which writes pcapng unless told otherwise and rewrites every
record), a piece keeps the input's format and header byte for byte: a pcap keeps
its byte order, nanosecond magic and snaplen; a pcapng piece starts with the
section header, interface descriptions and decryption secrets seen so far.
Records are never decoded, only copied; a run of consecutive records going to
the same piece is copied with one write.  A gzip input is read as a stream and
the pieces are written uncompressed, as editcap does.
"""

from __future__ import annotations

import mmap
import os
import struct
import time
import zlib
from dataclasses import dataclass, field
from typing import Callable

from ..errors import UnusableInput
from .link import ETH_IPV4, ETH_IPV6, network_layer, skip_ipv6_ext
from .reader import BT_DSB, BT_IDB, MAX_RECORD, PACKET, PCAPNG_SHB, CaptureReader

NS = 1_000_000_000
WRITE_BUFFER = 1 << 20
Progress = Callable[[int], None]  # called with bytes of input consumed so far


@dataclass
class SplitResult:
    files: list[str] = field(default_factory=list)
    packets_per_file: list[int] = field(default_factory=list)
    packets: int = 0
    warnings: list[str] = field(default_factory=list)


# -- names, as editcap makes them ----------------------------------------------

def prefix_suffix(out: str) -> tuple[str, str]:
    """Split OUT at its last dot, if that dot is in the last path component
    (Wireshark's fileset_extract_prefix_suffix): 'a/b.pcap.gz' -> ('a/b.pcap', '.gz')."""
    dot = out.rfind(".")
    if dot >= 0 and dot > out.rfind(os.sep):
        return out[:dot], out[dot:]
    return out, ""


def piece_name(out: str, index: int, ts_sec: int) -> str:
    prefix, suffix = prefix_suffix(out)
    stamp = time.strftime("%Y%m%d%H%M%S", time.localtime(ts_sec))
    return f"{prefix}_{index:05d}_{stamp}{suffix}"


def flow_piece_name(out: str, index: int, count: int) -> str:
    prefix, suffix = prefix_suffix(out)
    return f"{prefix}_flow{index:05d}of{count:05d}{suffix}"


# -- writing ---------------------------------------------------------------------

class _Piece:
    """One output file; coalesces contiguous spans of the same input buffer."""

    __slots__ = ("path", "f", "packets", "_buf", "_start", "_end")

    def __init__(self, path: str, preamble: list[bytes]):
        self.path = path
        try:
            self.f = open(path, "wb", buffering=WRITE_BUFFER)
        except OSError as e:
            raise UnusableInput(f"{path}: cannot write: {e.strerror or e}")
        for b in preamble:
            self.f.write(b)
        self.packets = 0
        self._buf = None
        self._start = self._end = 0

    def add(self, buf, start: int, end: int) -> None:
        if buf is self._buf and start == self._end:
            self._end = end
            return
        if self._buf is not None:
            self.f.write(self._buf[self._start:self._end])
        self._buf, self._start, self._end = buf, start, end

    def copy_file(self, fd: int, offset: int, length: int) -> None:
        """Copy bytes of the input file straight into this piece, inside the kernel
        (copy_file_range: no page faults on the mapping, no copy through Python)."""
        self.flush_span()
        self.f.flush()
        out = self.f.fileno()
        while length > 0:
            try:
                n = os.copy_file_range(fd, out, length, offset)
            except (AttributeError, OSError):
                n = 0
            if n <= 0:  # not supported here (or across these file systems): plain copy
                os.lseek(out, 0, os.SEEK_END)
                self.f.write(os.pread(fd, length, offset))
                self.f.flush()
                return
            offset += n
            length -= n

    def flush_span(self) -> None:
        """Write the pending span (before the input buffer it points into changes)."""
        if self._buf is not None:
            self.f.write(self._buf[self._start:self._end])
            self._buf = None

    def close(self) -> None:
        self.flush_span()
        self.f.close()


class _Preamble:
    """What each new piece must start with: the pcap header, or the pcapng section
    header plus the interface descriptions and decryption secrets seen so far."""

    def __init__(self, fmt: str):
        self.fmt = fmt
        self.blocks: list[bytes] = []
        self.pending: list[bytes] = []  # other blocks met while no piece was open

    def meta(self, btype: int, raw) -> bool:
        """Take note of a non-packet record; True when every piece needs it (a section
        header, an interface description, decryption secrets)."""
        b = bytes(raw)
        if self.fmt == "pcap" or btype == PCAPNG_SHB:
            self.blocks = [b]
            self.pending = []
            return True
        if btype in (BT_IDB, BT_DSB):
            self.blocks.append(b)
            return True
        self.pending.append(b)
        return False

    def start(self) -> list[bytes]:
        out = self.blocks + self.pending
        self.pending = []
        return out


def _open_reader(path: str) -> CaptureReader:
    return CaptureReader(path)


def _finish(res: SplitResult, reader: CaptureReader, pieces: list[_Piece]) -> SplitResult:
    for p in pieces:
        p.close()
        res.files.append(p.path)
        res.packets_per_file.append(p.packets)
        res.packets += p.packets
    res.warnings.extend(reader.info.warnings)
    return res


# -- by count or by interval (editcap -c / -i) ---------------------------------

def split_editcap(path: str, out: str, count: int = 0, seconds: int = 0,
                  progress: Progress | None = None) -> SplitResult:
    """editcap -c COUNT or -i SECONDS, keeping the input's format."""
    if (count > 0) == (seconds > 0):
        raise ValueError("give exactly one of count and seconds")
    reader = _open_reader(path)
    if reader.info.format == "pcap" and not reader.info.compressed:
        return _split_pcap_mmap(reader, out, count, seconds, progress)
    return _split_spans(reader, out, count, seconds, progress)


def _split_spans(reader: CaptureReader, out: str, count: int, seconds: int,
                 progress: Progress | None) -> SplitResult:
    res = SplitResult()
    pre = _Preamble(reader.info.format)
    pieces: list[_Piece] = []
    cur: _Piece | None = None
    n = 0
    next_block = 0
    step = seconds * NS
    last_buf = None
    done = 0
    try:
        for kind, btype, ts_ns, _iface, buf, start, end, _ds, _de in reader.spans():
            if buf is not last_buf:
                # a gzip input arrives in chunks: write what points into the old one
                if cur is not None:
                    cur.flush_span()
                if progress is not None and last_buf is not None:
                    done += len(last_buf)
                    progress(done)
                last_buf = buf
            if kind != PACKET:
                pre.meta(btype, buf[start:end])
                if cur is not None:  # written where it stands, too
                    cur.flush_span()
                    cur.f.write(pre.pending.pop() if pre.pending else pre.blocks[-1])
                continue
            if cur is None:
                cur = _Piece(piece_name(out, 0, ts_ns // NS), pre.start())
                pieces.append(cur)
                next_block = ts_ns + step
            elif count:
                if n == count:
                    cur.close()
                    cur = _Piece(piece_name(out, len(pieces), ts_ns // NS), pre.start())
                    pieces.append(cur)
                    n = 0
            else:
                while ts_ns > next_block:
                    cur.close()
                    cur = _Piece(piece_name(out, len(pieces), ts_ns // NS), pre.start())
                    pieces.append(cur)
                    next_block += step
            cur.add(buf, start, end)
            cur.packets += 1
            n += 1
        if cur is None:  # no packet at all: editcap writes OUT itself, header only
            cur = _Piece(out, pre.start())
            pieces.append(cur)
    finally:
        for p in pieces:
            if not p.f.closed:
                p.flush_span()
    return _finish(res, reader, pieces)


def _split_pcap_mmap(reader: CaptureReader, out: str, count: int, seconds: int,
                     progress: Progress | None) -> SplitResult:
    """The fast path for a plain classic pcap: walk record headers on the mapping and
    write each piece with one write.  Same boundaries as _split_spans."""
    info = reader.info
    endian = "<" if reader.source.head[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    mult = 1000 if reader.source.head[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4") else 1
    unpack_from = struct.Struct(endian + "III").unpack_from
    header = bytes(reader.source.head[:24])
    snap_limit = max(info.interfaces[0].snaplen, 262144)
    mv = next(reader.source.chunks())
    size = len(mv)
    mm = mv.obj
    fd = os.open(reader.source.path, os.O_RDONLY)
    page = mmap.PAGESIZE
    released = 0

    def emit(piece: _Piece, start: int, end: int) -> None:
        nonlocal released
        piece.copy_file(fd, start, end - start)
        # the record headers read so far need not stay resident: peak memory must
        # not grow with the size of the input
        upto = (start // page) * page
        if upto > released:
            try:
                mm.madvise(mmap.MADV_DONTNEED, released, upto - released)
            except (AttributeError, OSError, ValueError):
                pass
            released = upto

    res = SplitResult()
    pieces: list[_Piece] = []
    cur: _Piece | None = None
    off = 24
    n = 0
    frames = 0
    step = seconds * NS
    next_block = 0
    piece_start = off
    tick = 0
    try:
        while off + 16 <= size:
            sec, frac, caplen = unpack_from(mv, off)
            end = off + 16 + caplen
            if end > size or (caplen > snap_limit and caplen > MAX_RECORD // 16):
                break
            if count:
                if n == count or cur is None:
                    if cur is not None:
                        emit(cur, piece_start, off)
                        cur.packets = n
                        cur.close()
                    cur = _Piece(piece_name(out, len(pieces), sec), [header])
                    pieces.append(cur)
                    piece_start = off
                    n = 0
            else:
                ts_ns = sec * NS + frac * mult
                if cur is None:
                    cur = _Piece(piece_name(out, 0, sec), [header])
                    pieces.append(cur)
                    next_block = ts_ns + step
                else:
                    while ts_ns > next_block:
                        emit(cur, piece_start, off)
                        cur.packets = n
                        cur.close()
                        cur = _Piece(piece_name(out, len(pieces), sec), [header])
                        pieces.append(cur)
                        piece_start = off
                        n = 0
                        next_block += step
            n += 1
            frames += 1
            off = end
            if off - tick > 64 << 20:
                tick = off
                emit(cur, piece_start, off)  # a long piece goes out in parts
                piece_start = off
                if progress is not None:
                    progress(off)
        if cur is not None:
            emit(cur, piece_start, off)
            cur.packets = n
        else:
            cur = _Piece(out, [header])
            pieces.append(cur)
        # the reader's own checks say why the walk stopped early (cut or corrupt)
        if off < size:
            for _ in reader.packets():
                pass
    finally:
        os.close(fd)
        for p in pieces:
            if not p.f.closed:
                p.flush_span()
    if progress is not None:
        progress(off)
    return _finish(res, reader, pieces)


# -- by connection -------------------------------------------------------------------

def _ipv4_key(ip, frag_owner: dict) -> bytes:
    """Key of an IPv4 packet: endpoints (with ports for TCP)."""
    ihl = (ip[0] & 0x0F) * 4
    frag = (ip[6] << 8) | ip[7]
    proto = ip[9]
    a, b = bytes(ip[12:16]), bytes(ip[16:20])
    offset = frag & 0x1FFF
    if offset:  # a later fragment has no ports: follow the first one of its datagram
        fkey = (a, b, ip[4], ip[5], proto)
        key = frag_owner.get(fkey)
        if not frag & 0x2000:
            frag_owner.pop(fkey, None)
        return key if key is not None else _pair(a, b)
    if proto == 6 and len(ip) >= ihl + 4:
        key = _pair(a + bytes(ip[ihl:ihl + 2]), b + bytes(ip[ihl + 2:ihl + 4]))
    else:
        key = _pair(a, b)
    if frag & 0x2000:  # first fragment of several
        if len(frag_owner) > 65536:
            frag_owner.clear()  # fragments whose ends never came: forget them
        frag_owner[(a, b, ip[4], ip[5], proto)] = key
    return key


def _ipv6_key(ip, frag_owner: dict) -> bytes:
    """Key of an IPv6 packet, as _ipv4_key's: a fragment goes with its datagram's first one."""
    a, b = bytes(ip[8:24]), bytes(ip[24:40])
    nxt, off = skip_ipv6_ext(ip, ip[6], 40)
    fkey = None
    if nxt == 44:
        ident = (a, b, bytes(ip[off + 4:off + 8]))
        offflag = (ip[off + 2] << 8) | ip[off + 3]
        if offflag & 0xFFF8:  # a later fragment has no ports
            key = frag_owner.get(ident)
            if not offflag & 1:
                frag_owner.pop(ident, None)
            return key if key is not None else _pair(a, b)
        fkey = ident if offflag & 1 else None
        nxt, off = skip_ipv6_ext(ip, ip[off], off + 8)
    if nxt == 6 and len(ip) >= off + 4:
        key = _pair(a + bytes(ip[off:off + 2]), b + bytes(ip[off + 2:off + 4]))
    else:
        key = _pair(a, b)
    if fkey is not None:  # first fragment of several
        if len(frag_owner) > 65536:
            frag_owner.clear()
        frag_owner[fkey] = key
    return key


def _pair(x: bytes, y: bytes) -> bytes:
    # the same key for both directions
    return x + y if x <= y else y + x


def flow_index(linktype: int, data, k: int, frag_owner: dict) -> int:
    """Which of k pieces a frame goes to.  TCP: by its connection (both addresses and
    ports, either direction); other IP traffic: by its address pair; the rest
    (ARP, LLDP, undecodable frames): piece 0."""
    # fast path for the common frame (Ethernet, IPv4 without options, TCP, not a fragment):
    # the same key as flow_key's, read at fixed offsets
    if linktype == 1 and len(data) >= 38 and data[12] == 8 and data[13] == 0 and data[14] == 0x45 \
            and data[23] == 6 and not (data[20] & 0x3F or data[21]):
        a = bytes(data[26:30]) + bytes(data[34:36])
        b = bytes(data[30:34]) + bytes(data[36:38])
        return zlib.crc32(a + b if a <= b else b + a) % k
    key = flow_key(linktype, data, frag_owner)
    return 0 if key is None else zlib.crc32(key) % k


def flow_key(linktype: int, data, frag_owner: dict) -> bytes | None:
    """The same bytes for both directions of a connection (addresses and ports; for
    other IP traffic the address pair); None for frames that are not IP."""
    try:
        l3 = network_layer(linktype, data)
        if l3 is None:
            return None
        proto, off = l3
        if proto == ETH_IPV4 and len(data) >= off + 20:
            return _ipv4_key(data[off:], frag_owner)
        if proto == ETH_IPV6 and len(data) >= off + 40:
            return _ipv6_key(data[off:], frag_owner)
    except (struct.error, IndexError):
        pass
    return None


def split_flows(path: str, out: str, k: int, progress: Progress | None = None) -> SplitResult:
    """K pieces (all created, some maybe empty), each TCP connection whole in one."""
    if k < 1:
        raise ValueError("k must be at least 1")
    reader = _open_reader(path)
    res = SplitResult()
    pre = _Preamble(reader.info.format)
    ifaces = reader.info.interfaces
    pieces: list[_Piece] | None = None
    frag_owner: dict = {}
    last_buf = None
    done = 0
    tick = 0
    try:
        for kind, btype, _ts, iface, buf, start, end, ds, de in reader.spans():
            if buf is not last_buf:
                if pieces is not None:
                    for p in pieces:
                        p.flush_span()
                if last_buf is not None:
                    done += len(last_buf)
                last_buf = buf
            if kind != PACKET:
                everyone = pre.meta(btype, buf[start:end])
                if pieces is not None:
                    # section metadata goes to every piece, anything else to piece 0
                    b = pre.blocks[-1] if everyone else pre.pending.pop()
                    for p in (pieces if everyone else pieces[:1]):
                        p.flush_span()
                        p.f.write(b)
                continue
            if pieces is None:
                start_blocks = pre.start()
                pieces = [_Piece(flow_piece_name(out, i, k), start_blocks) for i in range(k)]
            p = pieces[flow_index(ifaces[iface].linktype, buf[ds:de], k, frag_owner)]
            p.add(buf, start, end)
            p.packets += 1
            if progress is not None and start - tick > 64 << 20:
                tick = start
                progress(done + start)
        if pieces is None:
            start_blocks = pre.start()
            pieces = [_Piece(flow_piece_name(out, i, k), start_blocks) for i in range(k)]
    finally:
        for p in pieces or []:
            if not p.f.closed:
                p.flush_span()
    return _finish(res, reader, pieces)
