"""IPv4 and IPv6 headers, and IP fragments held until their datagram is whole.

One reading of an IP header for the frame decoder (capture/link.py) and for the
flow key that assigns a frame to a shard or a `split --flows` piece
(capture/shard.py), so that both agree on addresses, protocol and fragments.
"""

from __future__ import annotations

import struct
from collections import Counter
from typing import NamedTuple

_H = struct.Struct("!H")
_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_IPV6_EXT = {0, 43, 60, 51, 135, 139, 140}  # hop-by-hop, routing, dest opts, AH, mobility, HIP, shim6
IPV6_FRAGMENT = 44
MAX_PENDING_DATAGRAMS = 4096  # incomplete fragmented datagrams kept at once (memory bound)

# skip reasons of fragments (the accounting identity: read = tcp + sum(skipped))
SKIP_FRAGMENT = "IP fragment (held for reassembly)"
SKIP_FRAGMENT_LOST = "IP fragments never completed"


class Fragment(NamedTuple):
    datagram: tuple  # the same for every fragment of one datagram
    offset: int  # byte offset of this fragment in the datagram's payload
    more: bool  # more fragments follow


class IpHeader(NamedTuple):
    src: bytes
    dst: bytes
    proto: int  # next header: of the payload, or of a fragment's fragmentable part (IPv6)
    start: int  # offset of the payload (after IPv6 extension and fragment headers)
    end: int  # end of the datagram in the buffer
    fragment: Fragment | None


def ipv4_header(ip) -> IpHeader:
    """Raises ValueError when it is not an IPv4 header, struct.error when cut short."""
    vihl, _tos, total, ident, frag, _ttl, proto, _csum, src, dst = _IPV4.unpack_from(ip, 0)
    ihl = (vihl & 0x0F) * 4
    if vihl >> 4 != 4 or ihl < 20:
        raise ValueError("not an IPv4 header")
    fragment = None
    if frag & 0x3FFF:  # more-fragments set or a non-zero offset
        fragment = Fragment((src, dst, ident, proto), (frag & 0x1FFF) * 8, bool(frag & 0x2000))
        end = total
    else:
        # total == 0 happens with TSO on the capturing host: trust the frame then
        end = total if total >= ihl else len(ip)
    return IpHeader(src, dst, proto, ihl, end, fragment)


def ipv6_header(ip) -> IpHeader:
    """Raises ValueError when it is not an IPv6 header, struct.error or IndexError when cut short."""
    if ip[0] >> 4 != 6:
        raise ValueError("not an IPv6 header")
    plen = _H.unpack_from(ip, 4)[0]
    src = bytes(ip[8:24])
    dst = bytes(ip[24:40])
    end = 40 + plen if plen else len(ip)
    nxt, off = skip_ipv6_ext(ip, ip[6], 40)
    if nxt != IPV6_FRAGMENT:
        return IpHeader(src, dst, nxt, off, end, None)
    offflag = (ip[off + 2] << 8) | ip[off + 3]
    fragment = Fragment((src, dst, bytes(ip[off + 4:off + 8]), "v6"), offflag & 0xFFF8, bool(offflag & 1))
    return IpHeader(src, dst, ip[off], off + 8, end, fragment)


def skip_ipv6_ext(ip, nxt: int, off: int) -> tuple[int, int]:
    """(next header, offset) after the IPv6 extension headers that precede a fragment header or TCP."""
    while nxt in _IPV6_EXT:
        nxt, off = ip[off], off + ((ip[off + 1] + 2) * 4 if nxt == 51 else (ip[off + 1] + 1) * 8)
    return nxt, off


class Fragments:
    """IPv4 and IPv6 fragments held until their datagram is whole (at most
    MAX_PENDING_DATAGRAMS datagrams at once).  Held and lost fragment frames are
    counted in the decoder's `skipped`."""

    def __init__(self, skipped: Counter) -> None:
        self.skipped = skipped
        self._held: dict[tuple, dict] = {}

    def add(self, frag: Fragment, part: bytes) -> bytes | None:
        """Hold one fragment; the datagram's whole payload once every part is here."""
        key = frag.datagram
        st = self._held.get(key)
        if st is None:
            if len(self._held) >= MAX_PENDING_DATAGRAMS:
                self._drop(next(iter(self._held)))  # the oldest: its other fragments never came
            st = self._held[key] = {"parts": {}, "last": None, "first": False, "n": 0}
        st["n"] += 1  # fragment frames held (duplicates included) for the skip accounting
        st["parts"][frag.offset] = part
        if frag.offset == 0:
            st["first"] = True
        if not frag.more:  # no more fragments: this one ends the datagram
            st["last"] = frag.offset + len(part)
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
        del self._held[key]
        return bytes(data[:st["last"]])

    def _drop(self, key) -> None:
        # the fragments were already counted as held; re-label them as lost
        n = self._held.pop(key)["n"]
        self.skipped[SKIP_FRAGMENT] -= n
        self.skipped[SKIP_FRAGMENT_LOST] += n

    def finish(self) -> None:
        """Fragments still waiting at the end were never completed."""
        for key in list(self._held):
            self._drop(key)
