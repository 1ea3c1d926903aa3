"""Which shard of a parallel pass (or piece of `split --flows`) a frame goes to.

Every worker of `--jobs N` reads every frame and must agree with the others
without talking to them, so the choice depends only on the frames seen so far:
a connection goes to the shard that has carried the fewest bytes when its
first frame arrives.  Hashing the endpoints instead (as `split --flows` did)
left one shard of two with 65 % of the bench capture's bytes, because a few
image uploads carry most of them.  Other IP traffic goes with its address
pair, a fragment with its datagram's first one; frames that are not IP go to
shard 0.
"""

from __future__ import annotations

import struct
from typing import Callable

from .ip import IpHeader, ipv4_header, ipv6_header, skip_ipv6_ext
from .link import ETH_IPV4, ETH_IPV6, network_layer


# -- the key of a flow: the same bytes for both directions ------------------------------

def _ip_key(ip, h: IpHeader, frag_owner: dict) -> bytes:
    """Key of an IP packet: endpoints (with ports for TCP).  A later fragment has no ports: it
    follows the first one of its datagram."""
    frag = h.fragment
    if frag is not None and frag.offset:
        key = frag_owner.get(frag.datagram)
        if not frag.more:
            frag_owner.pop(frag.datagram, None)
        return key if key is not None else _pair(h.src, h.dst)
    nxt, off = h.proto, h.start
    if frag is not None and len(h.src) == 16:  # IPv6: the fragmentable part's own extension headers
        nxt, off = skip_ipv6_ext(ip, nxt, off)
    if nxt == 6 and len(ip) >= off + 4:
        key = _pair(h.src + bytes(ip[off:off + 2]), h.dst + bytes(ip[off + 2:off + 4]))
    else:
        key = _pair(h.src, h.dst)
    if frag is not None and frag.more:  # first fragment of several
        if len(frag_owner) > 65536:
            frag_owner.clear()  # fragments whose ends never came: forget them
        frag_owner[frag.datagram] = key
    return key


def _pair(x: bytes, y: bytes) -> bytes:
    # the same key for both directions
    return x + y if x <= y else y + x


def flow_key(linktype: int, data, frag_owner: dict) -> bytes | None:
    """The same bytes for both directions of a connection (addresses and ports; for
    other IP traffic the address pair); None for frames that are not IP."""
    try:
        l3 = network_layer(linktype, data)
        if l3 is None:
            return None
        proto, off = l3
        if proto == ETH_IPV4 and len(data) >= off + 20:
            return _ip_key(data[off:], ipv4_header(data[off:]), frag_owner)
        if proto == ETH_IPV6 and len(data) >= off + 40:
            return _ip_key(data[off:], ipv6_header(data[off:]), frag_owner)
    except (struct.error, IndexError, ValueError):
        pass
    return None


# -- which shard -------------------------------------------------------------------------

# Ethernet + IPv4 at fixed offsets: ethertype, version/IHL, flags/fragment offset,
# protocol, then both addresses and both ports as one key
_ETH_IPV4_TCP = struct.Struct(">HB5xHxB2x12s")


class FlowShards:
    __slots__ = ("load", "_by_raw", "_by_key", "_frag_owner")

    def __init__(self, n: int):
        self.load = [0] * n  # bytes of frames given to each shard so far
        self._by_raw: dict[bytes, int] = {}  # addresses+ports as they appear in one direction
        self._by_key: dict[bytes, int] = {}  # the same for both directions (flow_key)
        self._frag_owner: dict = {}

    def of(self, linktype: int, data) -> int:
        # the common frame (Ethernet, IPv4 without options, TCP, not a fragment) costs
        # one unpack and one dict lookup; the rest go through flow_key
        if linktype == 1 and len(data) >= 38:
            ethertype, ver_ihl, frag, proto, raw = _ETH_IPV4_TCP.unpack_from(data, 12)
            if ethertype == 0x0800 and ver_ihl == 0x45 and proto == 6 and not frag & 0x3FFF:
                s = self._by_raw.get(raw)
                if s is None:
                    s = self._by_raw[raw] = self._assign(flow_key(linktype, data, self._frag_owner))
                self.load[s] += len(data)
                return s
        key = flow_key(linktype, data, self._frag_owner)
        s = 0 if key is None else self._assign(key)
        self.load[s] += len(data)
        return s

    def selects(self, k: int) -> Callable[[int, memoryview], bool]:
        """A `select` for CaptureReader.packets: keeps the frames of shard k."""
        of = self.of
        return lambda linktype, data: of(linktype, data) == k

    def _assign(self, key: bytes) -> int:
        s = self._by_key.get(key)
        if s is None:
            load = self.load
            s = self._by_key[key] = load.index(min(load))
        return s
