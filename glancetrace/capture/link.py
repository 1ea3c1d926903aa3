"""Frame → TCP segment: link layers and VLAN tags here, then IP (capture/ip.py) and TCP
(capture/segment.py).

This is the per-packet hot path, so it is written with `struct.unpack_from` on
memoryviews instead of dpkt objects: benchmarks/bench_decode.py measures dpkt
at about 15 µs per frame against a few µs here.  tests/capture/test_link.py
checks every field against dpkt on the same frames.
"""

from __future__ import annotations

import struct
from collections import Counter

from .ip import Fragments, IpHeader, ipv4_header, ipv6_header, skip_ipv6_ext
from .segment import SYN, Segment, tcp_segment, window_scale

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
# Ethernet type, then IPv4 (version/IHL, total length, fragment field, protocol, addresses), then TCP
_ETH_IPV4_TCP = struct.Struct("!12xH" "BxH2xHxBxx4s4s" "HHIIBBH")

# skip reasons (the accounting identity: read = tcp + sum(skipped))
SKIP_NOT_IP = "not IP (ARP, LLDP, …)"
SKIP_NOT_TCP = "not TCP (UDP, ICMP, …)"
SKIP_LINKTYPE = "unsupported link type"
SKIP_MALFORMED = "malformed or cut-off headers"

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


class LinkDecoder:
    """Decodes frames of any supported link type into TCP segments.

    Keeps IP fragments until their datagram is whole.  `skipped` counts
    every frame that did not yield a segment, by reason.
    """

    def __init__(self) -> None:
        self.skipped: Counter[str] = Counter()
        self._fragments = Fragments(self.skipped)

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
                                   end - start - len(payload),
                                   window_scale(data[54:start]) if flags & SYN else -1)
        try:
            l3 = network_layer(linktype, data)
            if l3 is None:
                self.skipped[SKIP_LINKTYPE] += 1
                return None
            proto, off = l3
            if proto == ETH_IPV4:
                return self._ip(data[off:], ipv4_header(data[off:]))
            if proto == ETH_IPV6:
                return self._ip(data[off:], ipv6_header(data[off:]))
            self.skipped[SKIP_NOT_IP] += 1
            return None
        except (struct.error, IndexError, ValueError):
            self.skipped[SKIP_MALFORMED] += 1
            return None

    def _ip(self, ip: memoryview, h: IpHeader) -> Segment | None:
        nxt, start, end = h.proto, h.start, h.end
        if h.fragment is not None:  # the datagram's payload, once all of it is here
            data = self._fragments.add(h.fragment, bytes(ip[start:end]))
            if data is None:
                return None
            ip, start, end = memoryview(data), 0, len(data)
            if len(h.src) == 16:  # IPv6: the fragmentable part may begin with extension headers
                nxt, start = skip_ipv6_ext(ip, nxt, 0)
        if nxt != 6:
            self.skipped[SKIP_NOT_TCP] += 1
            return None
        return tcp_segment(ip[start:end], end - start, h.src, h.dst)

    def finish(self) -> None:
        """Fragments still waiting at the end were never completed."""
        self._fragments.finish()
