"""Frame → TCP segment: link layers, VLAN tags, IPv4 (with fragments), IPv6.

This is the per-packet hot path, so it is written with `struct.unpack_from` on
memoryviews instead of dpkt objects: benchmarks/bench_decode.py measures dpkt
at about 15 µs per frame against a few µs here.  tests/capture/test_link.py
checks every field against dpkt on the same frames.
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass

# link types (https://www.tcpdump.org/linktypes.html)
LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LOOP = 0, 1, 101, 108
LINKTYPE_LINUX_SLL, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL2 = 113, 228, 229, 276
LINKTYPE_RAW_OLD = 12  # some BSDs write DLT_RAW as 12/14
LINK_NAMES = {0: "BSD loopback", 1: "Ethernet", 12: "raw IP", 14: "raw IP", 101: "raw IP",
              108: "OpenBSD loopback", 113: "Linux cooked (SLL)", 228: "raw IPv4",
              229: "raw IPv6", 276: "Linux cooked v2 (SLL2)"}



def link_name(linktype: int) -> str:
    return LINK_NAMES.get(linktype, f"linktype {linktype} (not supported)")


ETH_IPV4, ETH_IPV6, ETH_VLAN, ETH_QINQ, ETH_VLAN9100 = 0x0800, 0x86DD, 0x8100, 0x88A8, 0x9100

_H = struct.Struct("!H")
_IPV4 = struct.Struct("!BBHHHBBH4s4s")
# Ethernet type, then IPv4 (version/IHL, total length, fragment field, protocol, addresses), then TCP
_ETH_IPV4_TCP = struct.Struct("!12xH" "BxH2xHxBxx4s4s" "HHIIBBH")
_TCP = struct.Struct("!HHIIBBH")
_IPV6_EXT = {0, 43, 60, 51, 135, 139, 140}  # hop-by-hop, routing, dest opts, AH, mobility, HIP, shim6

# skip reasons (the accounting identity: read = tcp + sum(skipped))
SKIP_NOT_IP = "not IP (ARP, LLDP, …)"
SKIP_NOT_TCP = "not TCP (UDP, ICMP, …)"
SKIP_LINKTYPE = "unsupported link type"
SKIP_MALFORMED = "malformed or cut-off headers"
SKIP_FRAGMENT = "IP fragment (held for reassembly)"
SKIP_FRAGMENT_LOST = "IP fragments never completed"
MAX_PENDING_DATAGRAMS = 4096  # incomplete fragmented datagrams kept at once (memory bound)


_VLANS = (ETH_VLAN, ETH_QINQ, ETH_VLAN9100)
_RAW_TYPES = (LINKTYPE_RAW, LINKTYPE_RAW_OLD, 14, LINKTYPE_IPV4, LINKTYPE_IPV6)


def network_layer(linktype: int, data) -> tuple[int, int] | None:
    """(ethertype, offset of the network header) of a frame; None for an unsupported
    link type.  VLAN tags (802.1Q, QinQ) are stepped over.  Raises struct.error or
    IndexError on a frame too short for its link header."""
    if linktype == LINKTYPE_ETHERNET:
        proto = _H.unpack_from(data, 12)[0]
        off = 14
    elif linktype == LINKTYPE_LINUX_SLL:
        proto = _H.unpack_from(data, 14)[0]
        off = 16
    elif linktype == LINKTYPE_LINUX_SLL2:
        proto = _H.unpack_from(data, 0)[0]
        off = 20
    elif linktype in _RAW_TYPES:
        v = data[0] >> 4
        return (ETH_IPV4 if v == 4 else ETH_IPV6 if v == 6 else 0), 0
    elif linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        fam_le, = struct.unpack_from("<I", data, 0)
        fam_be, = struct.unpack_from(">I", data, 0)
        fam = fam_le if fam_le < 256 else fam_be
        # AF_INET6 is 10 on Linux, 24/28/30 on the BSDs and macOS
        return (ETH_IPV4 if fam == 2 else ETH_IPV6 if fam in (10, 24, 28, 30) else 0), 4
    else:
        return None
    while proto in _VLANS:  # SLL can carry a tag too
        proto = _H.unpack_from(data, off + 2)[0]
        off += 4
    if off > len(data):
        raise IndexError("frame shorter than its link header")
    return proto, off


@dataclass(slots=True)
class Segment:
    src: bytes
    sport: int
    dst: bytes
    dport: int
    seq: int
    ack: int
    flags: int
    window: int
    payload: memoryview
    missing: int  # payload bytes the IP header announces but the capture cut off (snaplen)


FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def ipv6_fragment(ip, off: int) -> tuple[int, bytes, int, bool]:
    """The IPv6 fragment header at `off`: (first header of the fragmentable part, identification,
    byte offset of this fragment, more fragments follow)."""
    offflag = (ip[off + 2] << 8) | ip[off + 3]
    return ip[off], bytes(ip[off + 4:off + 8]), offflag & 0xFFF8, bool(offflag & 1)


def skip_ipv6_ext(ip, nxt: int, off: int) -> tuple[int, int]:
    """(next header, offset) after the IPv6 extension headers that precede a fragment header or TCP."""
    while nxt in _IPV6_EXT:
        nxt, off = ip[off], off + ((ip[off + 1] + 2) * 4 if nxt == 51 else (ip[off + 1] + 1) * 8)
    return nxt, off


class LinkDecoder:
    """Decodes frames of any supported link type into TCP segments.

    Keeps IPv4 fragments until their datagram is whole.  `skipped` counts
    every frame that did not yield a segment, by reason.
    """

    def __init__(self) -> None:
        self.skipped: Counter[str] = Counter()
        self._frags: dict[tuple, dict] = {}
        self.fragments_reassembled = 0

    def decode(self, linktype: int, data: memoryview) -> Segment | None:
        # fast path for nearly every frame of a big capture: Ethernet, IPv4 without
        # options, TCP, not a fragment: one unpack instead of four layers of calls
        if linktype == LINKTYPE_ETHERNET and len(data) >= 54:
            (etype, vihl, total, frag, proto, src, dst, sport, dport, seq, ack, offx, flags,
             win) = _ETH_IPV4_TCP.unpack_from(data, 0)
            if etype == ETH_IPV4 and vihl == 0x45 and proto == 6 and not frag & 0x3FFF and offx >= 0x50:
                start = 34 + (offx >> 4) * 4
                end = 14 + total if total >= 20 else len(data)  # total 0: TSO on the capturing host
                if end >= start:
                    payload = data[start:end]
                    # snaplen cut: the IP header promised more than the frame holds
                    return Segment(src, sport, dst, dport, seq, ack, flags, win, payload,
                                   end - start - len(payload))
        try:
            l3 = network_layer(linktype, data)
            if l3 is None:
                self.skipped[SKIP_LINKTYPE] += 1
                return None
            proto, off = l3
            if proto == ETH_IPV4:
                return self._ipv4(data[off:])
            if proto == ETH_IPV6:
                return self._ipv6(data[off:])
            self.skipped[SKIP_NOT_IP] += 1
            return None
        except (struct.error, IndexError, ValueError):
            self.skipped[SKIP_MALFORMED] += 1
            return None

    def _ipv4(self, ip: memoryview) -> Segment | None:
        vihl, _tos, total, ident, frag, _ttl, proto, _csum, src, dst = _IPV4.unpack_from(ip, 0)
        ihl = (vihl & 0x0F) * 4
        if vihl >> 4 != 4 or ihl < 20:
            self.skipped[SKIP_MALFORMED] += 1
            return None
        if frag & 0x3FFF:  # more-fragments set or a non-zero offset
            data = self._fragment((bytes(src), bytes(dst), ident, proto), bytes(ip[ihl:total]),
                                  (frag & 0x1FFF) * 8, bool(frag & 0x2000))
            if data is None:
                return None
            if proto != 6:
                self.skipped[SKIP_NOT_TCP] += 1
                return None
            return self._tcp(memoryview(data), len(data), src, dst)
        if proto != 6:
            self.skipped[SKIP_NOT_TCP] += 1
            return None
        # total == 0 happens with TSO on the capturing host: trust the frame then
        end = total if total >= ihl else len(ip)
        return self._tcp(ip[ihl:end], end - ihl, src, dst)

    def _ipv6(self, ip: memoryview) -> Segment | None:
        if ip[0] >> 4 != 6:
            self.skipped[SKIP_MALFORMED] += 1
            return None
        plen = _H.unpack_from(ip, 4)[0]
        nxt = ip[6]
        src = bytes(ip[8:24])
        dst = bytes(ip[24:40])
        end = 40 + plen if plen else len(ip)
        nxt, off = skip_ipv6_ext(ip, nxt, 40)
        if nxt == 44:  # a fragment: the datagram's fragmentable part, once all of it is here
            first, ident, offset, more = ipv6_fragment(ip, off)
            data = self._fragment((src, dst, ident, "v6"), bytes(ip[off + 8:end]), offset, more)
            if data is None:
                return None
            ip, end = memoryview(data), len(data)
            nxt, off = skip_ipv6_ext(ip, first, 0)
        if nxt != 6:
            self.skipped[SKIP_NOT_TCP] += 1
            return None
        return self._tcp(ip[off:end], end - off, src, dst)

    def _tcp(self, tcp: memoryview, declared: int, src: bytes, dst: bytes) -> Segment | None:
        sport, dport, seq, ack, offx, flags, win = _TCP.unpack_from(tcp, 0)
        thl = (offx >> 4) * 4
        if thl < 20:
            self.skipped[SKIP_MALFORMED] += 1
            return None
        payload = tcp[thl:]
        # snaplen cut: the IP header promised more bytes than the frame holds
        missing = declared - thl - len(payload)
        if missing < 0:  # Ethernet padding beyond the IP datagram
            payload = payload[:declared - thl] if declared > thl else payload[:0]
            missing = 0
        return Segment(bytes(src), sport, bytes(dst), dport, seq, ack, flags, win, payload, missing)

    def _fragment(self, key: tuple, part: bytes, offset: int, more: bool) -> bytes | None:
        """Hold one fragment (IPv4 or IPv6) of a datagram; its whole payload once every part is here."""
        st = self._frags.get(key)
        if st is None:
            if len(self._frags) >= MAX_PENDING_DATAGRAMS:
                self._drop(next(iter(self._frags)))  # the oldest: its other fragments never came
            st = self._frags[key] = {"parts": {}, "last": None, "first": False, "n": 0}
        st["n"] += 1  # fragment frames held (duplicates included) for the skip accounting
        st["parts"][offset] = part
        if offset == 0:
            st["first"] = True
        if not more:  # no more fragments: this one ends the datagram
            st["last"] = offset + len(part)
        if st["last"] is None or not st["first"]:
            self.skipped[SKIP_FRAGMENT] += 1
            return None
        data = bytearray()
        for off in sorted(st["parts"]):
            if off > len(data):
                self.skipped[SKIP_FRAGMENT] += 1
                return None  # a hole: wait for more
            data[off:] = st["parts"][off]
        if len(data) < st["last"]:
            self.skipped[SKIP_FRAGMENT] += 1
            return None
        del self._frags[key]
        self.fragments_reassembled += 1
        return bytes(data[:st["last"]])

    def _drop(self, key) -> None:
        # the fragments were already counted as held; re-label them as lost
        n = self._frags.pop(key)["n"]
        self.skipped[SKIP_FRAGMENT] -= n
        self.skipped[SKIP_FRAGMENT_LOST] += n

    def finish(self) -> None:
        """Fragments still waiting at the end were never completed."""
        for key in list(self._frags):
            self._drop(key)
