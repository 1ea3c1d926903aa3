"""CaptureReader against tshark on real captures, and on a corpus of bad input."""

from __future__ import annotations

import gzip
import struct
from decimal import Decimal

import pytest

from glancetrace.capture.formats import PACKET
from glancetrace.capture.pcapfile import CaptureReader, RunCuts
from glancetrace.errors import UnusableInput
from tests.support.loopback import tshark_fields

KINDS = ["lo", "nano", "bigendian", "gz", "snap96", "sll", "sll2", "vlan", "frag", "twoif"]


def ours(path):
    r = CaptureReader(str(path))
    rows = [(frame, iface, len(data), origlen) for frame, _ts, iface, data, origlen in r.packets()]
    ts = [t for kind, _b, t, *_ in r.spans() if kind == PACKET]
    return r, rows, ts


def oracle(path):
    rows = tshark_fields(path, "", ["frame.number", "frame.time_epoch", "frame.len", "frame.cap_len",
                                    "frame.interface_id"])
    return rows


def check_against_tshark(path):
    r, rows, ts = ours(path)
    want = oracle(path)
    assert len(rows) == len(want) == r.info.packets
    for (frame, iface, caplen, origlen), t, w in zip(rows, ts, want):
        assert frame == int(w[0])
        assert t == int(Decimal(w[1]) * 1_000_000_000), f"frame {frame} timestamp"
        assert origlen == int(w[2]) and caplen == int(w[3]), f"frame {frame} lengths"
        if w[4]:
            assert iface == int(w[4])
    return r


@pytest.mark.parametrize("kind", KINDS)
def test_frames_match_tshark(caps, kind):
    if kind not in caps:
        pytest.skip(f"{kind} capture not made (tool missing)")
    r = check_against_tshark(caps[kind])
    assert r.info.packets > 0
    assert not r.info.warnings and not r.info.truncated


def test_formats_detected_by_magic_not_name(caps, tmp_path):
    misnamed = tmp_path / "capture.txt"
    misnamed.write_bytes(caps["gz"].read_bytes())
    r = CaptureReader(str(misnamed))
    assert r.info.compressed and r.info.format == "pcap"
    assert CaptureReader(str(caps["twoif"])).info.format == "pcapng"
    assert [i.tsresol for i in CaptureReader(str(caps["nano"])).info.interfaces] == [1e-9]


def test_two_interfaces_keep_their_link_types(caps):
    if "twoif" not in caps:
        pytest.skip("mergecap missing")
    r = CaptureReader(str(caps["twoif"]))
    for _ in r.packets():
        pass
    assert sorted(i.linktype for i in r.info.interfaces) == [1, 113]


@pytest.mark.parametrize("name", ["zeek/traces/mysql/caching_sha2_password-after-auth-switch.pcapng",
                                  "zeek/traces/http/1000-requests-one-dropped-response.pcap.gz",
                                  "percona-toolkit/pcap/tcpdump002.pcap"])
def test_thirdparty_frames_match_tshark(thirdparty, name):
    check_against_tshark(thirdparty / name)


# -- bad input ------------------------------------------------------------------

@pytest.mark.parametrize("content, words", [
    (b"", "empty"),
    (b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00", "cut short"),  # pcap global header cut at 8 bytes
    (b"hello, this is a text file and not a capture\n" * 3, "not a pcap"),
    (b"\x00\x01\x02\x03" * 20, "unknown magic"),
    (b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\xff\xff\xff\xff", "damaged"),  # pcapng SHB with a bad BOM
    (gzip.compress(b"plain text inside gzip\n"), "not a pcap"),
])
def test_unusable_input_is_one_clear_error(tmp_path, content, words):
    p = tmp_path / "bad.pcap"
    p.write_bytes(content)
    with pytest.raises(UnusableInput) as e:
        CaptureReader(str(p))
    assert words in str(e.value) and "\n" not in str(e.value)


def test_directory_and_missing_file(tmp_path):
    with pytest.raises(UnusableInput, match="directory"):
        CaptureReader(str(tmp_path))
    with pytest.raises(UnusableInput, match="cannot read"):
        CaptureReader(str(tmp_path / "nope.pcap"))


def test_zero_packets(caps, tmp_path):
    p = tmp_path / "zero.pcap"
    p.write_bytes(caps["lo"].read_bytes()[:24])
    r = CaptureReader(str(p))
    assert list(r.packets()) == [] and r.info.packets == 0 and not r.info.warnings


def record_offsets(data: bytes) -> list[int]:
    offs, off = [], 24
    while off + 16 <= len(data):
        offs.append(off)
        off += 16 + struct.unpack_from("<I", data, off + 8)[0]
    return offs


@pytest.mark.parametrize("compress", [False, True])
def test_cut_mid_record_keeps_what_came_before_and_warns_once(caps, tmp_path, compress):
    data = caps["lo"].read_bytes()
    offs = record_offsets(data)
    cut = offs[40] + 16 + 10  # in the middle of frame 41's data
    p = tmp_path / ("cut.pcap.gz" if compress else "cut.pcap")
    p.write_bytes(gzip.compress(data[:cut]) if compress else data[:cut])
    r = CaptureReader(str(p))
    frames = [f for f, *_ in r.packets()]
    assert frames == list(range(1, 41))
    for _ in r.packets():  # a second pass must not repeat the warning
        pass
    assert r.info.truncated and len(r.info.warnings) == 1 and "after frame 40" in r.info.warnings[0]
    # the same first 40 frames as tshark reads from the complete file
    _r, rows, ts = ours(caps["lo"])
    assert [len(d) for *_x, d in [(f, i, d) for f, _t, i, d, _o in r.packets()]] == [row[2] for row in rows[:40]]


def test_gzip_stream_cut_between_records_is_reported(caps, tmp_path):
    data = caps["lo"].read_bytes()
    offs = record_offsets(data)
    z = gzip.compress(data[:offs[30]])
    p = tmp_path / "cut.pcap.gz"
    p.write_bytes(z[:-12])  # lose the gzip trailer and a little data
    r = CaptureReader(str(p))
    n = sum(1 for _ in r.packets())
    assert 0 < n <= 30 and r.info.truncated and r.info.warnings


def test_record_longer_than_the_file(caps, tmp_path):
    data = bytearray(caps["lo"].read_bytes())
    offs = record_offsets(bytes(data))
    struct.pack_into("<I", data, offs[4] + 8, 50_000_000)  # frame 5 claims 50 MB
    p = tmp_path / "long.pcap"
    p.write_bytes(bytes(data))
    r = CaptureReader(str(p))
    assert [f for f, *_ in r.packets()] == [1, 2, 3, 4]
    assert r.info.truncated and len(r.info.warnings) == 1


def test_pcapng_unknown_blocks_are_stepped_over(caps, tmp_path):
    if "twoif" not in caps:
        pytest.skip("mergecap missing")
    data = caps["twoif"].read_bytes()
    # after the section header, a block type nobody defined (and a custom block type)
    shb_len = struct.unpack_from("<I", data, 4)[0]
    odd = struct.pack("<II", 0x0BAD0BAD, 20) + b"junkjunk" + struct.pack("<I", 20)
    custom = struct.pack("<III", 0x00000BAD, 20, 32473) + b"abcd" + struct.pack("<I", 20)
    p = tmp_path / "unknown.pcapng"
    p.write_bytes(data[:shb_len] + odd + custom + data[shb_len:])
    before = ours(caps["twoif"])[1:]
    after = ours(p)[1:]
    assert before == after
    r = CaptureReader(str(p))
    kinds = [k for k, *_ in r.spans()]
    assert kinds.count(PACKET) == len(before[0])


def test_snaplen_cut_frames_are_shorter_than_on_the_wire(caps):
    r = CaptureReader(str(caps["snap96"]))
    rows = [(len(d), o) for _f, _t, _i, d, o in r.packets()]
    assert all(c <= 96 for c, _o in rows)
    assert any(o > c for c, o in rows)  # the uploads' big segments were cut


@pytest.mark.parametrize("kind", ["lo", "nano", "bigendian", "gz", "twoif"])
@pytest.mark.parametrize("count, step_part", [(7, 0), (1, 0), (0, 50), (0, 3)])
def test_runs_hold_the_records_spans_gives_and_start_files_where_editcap_does(caps, kind, count, step_part):
    """runs() (split -c / -i) against spans() record by record: the same bytes in the same order, the
    packets counted, and a file started at the packets RunCuts names, whatever chunks a gzip arrives in.
    With -i the interval is a part (1/50, 1/3) of the recording's span: how long a loopback recording
    lasts depends on the machine's load."""
    if kind not in caps:
        pytest.skip(f"{kind} capture not made")
    step_ns = 0
    if step_part:
        times = [ts for kind_, _b, ts, *_ in CaptureReader(str(caps[kind])).spans() if kind_ == PACKET]
        step_ns = max(1, (max(times) - min(times)) // step_part)
    spans, starts = [], []
    cut = RunCuts(count, step_ns)
    frame = 0
    for kind_, _b, ts, _i, buf, start, end, *_ in CaptureReader(str(caps[kind])).spans():
        spans.append(bytes(buf[start:end]))
        if kind_ == PACKET:
            frame += 1
            starts.append(cut.at(frame, ts))
    assert sum(starts) >= 2 and starts[0] == 1
    runs, files, packets = [], [], 0
    for kind_, _b, ts, buf, start, end, n, new in CaptureReader(str(caps[kind])).runs(RunCuts(count, step_ns)):
        runs.append(bytes(buf[start:end]))
        if kind_ == PACKET:
            assert n >= 1 and (new == 0 or new == starts[packets])
            files.append((packets, new))
            packets += n
    assert b"".join(runs) == b"".join(spans)
    assert len(runs) < len(spans) or count == 1  # one tuple per run, not per record
    assert packets == len(starts)
    assert [(i, s) for i, s in enumerate(starts) if s] == [(i, s) for i, s in files if s]
