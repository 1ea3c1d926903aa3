"""FlowShards: every worker of a parallel pass must give each connection, whole, to one shard."""

import collections

import pytest

from glancetrace.capture.pcapfile import CaptureReader
from glancetrace.capture.shard import FlowShards
from tests.support.loopback import tshark_fields


def assigned(path, n):
    """[(frame number, shard, loads before the frame)] for every frame of a capture, and the loads
    at the end."""
    reader = CaptureReader(str(path))
    ifaces = reader.info.interfaces
    shards = FlowShards(n)
    out = []
    for frame, _ts, iface, data, _orig in reader.packets():
        before = list(shards.load)
        out.append((frame, shards.of(ifaces[iface].linktype, data), before))
    return out, shards.load


# vlan tags every other frame, so one connection goes through both the fixed-offset
# path and flow_key; frag has later fragments without ports; sll2 and twoif are not Ethernet
@pytest.mark.parametrize("kind", ["lo", "vlan", "frag", "sll2", "twoif"])
def test_each_connection_goes_whole_to_one_shard(caps, kind):
    if kind not in caps:
        pytest.skip(f"{kind} capture not made")
    got, final = assigned(caps[kind], 3)
    by_frame = {frame: (shard, before) for frame, shard, before in got}
    # tshark's connection numbering, with IP reassembly so fragments count for their datagram
    rows = tshark_fields(caps[kind], "tcp", ["frame.number", "tcp.stream"])
    frames_of = collections.defaultdict(list)
    for number, stream in rows:
        frames_of[stream].append(int(number))
    assert len(frames_of) >= 3
    used = set()
    for stream, frames in frames_of.items():
        first = min(frames)
        shard, _before = by_frame[first]
        # (a reassembled datagram is numbered as its last fragment, which follows the first)
        assert {by_frame[f][0] for f in frames} == {shard}, stream
        used.add(shard)
    assert len(used) > 1  # the connections are spread out
    # the loads count every byte of every frame once
    assert sum(final) == sum(len(d) for _, _, _, d, _ in CaptureReader(str(caps[kind])).packets())


def test_a_new_connection_goes_to_the_shard_with_the_fewest_bytes(caps):
    got, _ = assigned(caps["lo"], 2)
    rows = tshark_fields(caps["lo"], "tcp", ["frame.number", "tcp.stream"])
    firsts = {}
    for number, stream in rows:
        firsts.setdefault(stream, int(number))
    by_frame = {frame: (shard, before) for frame, shard, before in got}
    for frame in firsts.values():
        shard, before = by_frame[frame]
        assert before[shard] == min(before), (frame, before)


def test_every_worker_makes_the_same_choices(caps):
    a = [shard for _, shard, _ in assigned(caps["sll2"], 4)[0]]
    b = [shard for _, shard, _ in assigned(caps["sll2"], 4)[0]]
    assert a == b and len(set(a)) > 1
