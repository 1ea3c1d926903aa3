"""Which shard of a parallel pass decodes a frame.

Every worker of `--jobs N` reads every frame and must agree with the others
without talking to them, so the choice depends only on the frames seen so far:
a connection goes to the shard that has carried the fewest bytes when its
first frame arrives.  Hashing the endpoints instead (as `split --flows` does)
left one shard of two with 65 % of the bench capture's bytes, because a few
image uploads carry most of them.  Frames that are not IP go to shard 0.
"""

from __future__ import annotations

import struct
from typing import Callable

from .split import flow_key

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
