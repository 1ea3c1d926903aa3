"""glancetrace split against editcap on real captures: same files, same names, same packets."""

from __future__ import annotations

import collections
import gzip
import os
import struct
import subprocess

import pytest

from glancetrace.capture.formats import PACKET
from glancetrace.capture.pcapfile import CaptureReader
from glancetrace.capture.splitter import piece_name, prefix_suffix, split_editcap, split_flows
from tests.support.loopback import need, tshark_fields

# editcap writes pcapng unless told; ask it for the input's own format
EDITCAP_FORMAT = {"lo": "pcap", "nano": "nsecpcap", "bigendian": "pcap", "gz": "pcap", "sll": "pcap",
                  "sll2": "pcap", "vlan": "pcap", "snap96": "pcap", "twoif": "pcapng"}


def packets(path):
    """(interface, exact ns timestamp, frame bytes) of every packet, byte order aside."""
    r = CaptureReader(str(path))
    ts = [t for kind, _b, t, *_ in r.spans() if kind == PACKET]
    return [(i, t, bytes(d), o) for (_f, _t, i, d, o), t in zip(r.packets(), ts)]


def editcap(args, infile, out):
    need("editcap")
    subprocess.run(["editcap", *args, str(infile), str(out)], check=True, capture_output=True)


def editcap_names_intervals_by_first_packet() -> bool:
    """editcap 4.0 (Debian 12, what `split` follows) names a `-i` piece by its first packet's time; 4.2
    (Ubuntu 24.04) by the interval's start."""
    out = subprocess.run(["editcap", "-v"], capture_output=True, text=True).stdout
    return out.startswith("Editcap (Wireshark) 4.0.")


def compare_dirs(ours_dir, theirs_dir, same_times=True):
    ours = sorted(os.listdir(ours_dir))
    theirs = sorted(os.listdir(theirs_dir))
    if same_times:
        assert ours == theirs
    else:  # t_00001_20080717075048.pcap: the piece number and suffix, not the time
        assert [(n.split("_")[:2], n.rsplit(".", 1)[-1]) for n in ours] == \
            [(n.split("_")[:2], n.rsplit(".", 1)[-1]) for n in theirs]
    for name, other in zip(ours, theirs):
        assert packets(ours_dir / name) == packets(theirs_dir / other), name
    return ours


@pytest.mark.parametrize("kind", sorted(EDITCAP_FORMAT))
def test_count_split_equals_editcap(caps, tmp_path, kind):
    if kind not in caps:
        pytest.skip(f"{kind} capture not made")
    src = caps[kind]
    (tmp_path / "e").mkdir()
    (tmp_path / "g").mkdir()
    suffix = ".pcapng" if kind == "twoif" else ".pcap"
    editcap(["-F", EDITCAP_FORMAT[kind], "-c", "17"], src, tmp_path / "e" / f"piece{suffix}")
    res = split_editcap(str(src), str(tmp_path / "g" / f"piece{suffix}"), count=17)
    names = compare_dirs(tmp_path / "g", tmp_path / "e")
    n = len(packets(src))
    assert len(names) == -(-n // 17) and res.packets == n
    assert res.packets_per_file[:-1] == [17] * (len(names) - 1)
    # every piece starts with the input's own header (byte order, ns magic, snaplen)
    head = gzip.decompress(src.read_bytes())[:24] if kind == "gz" else src.read_bytes()[:24]
    first = (tmp_path / "g" / names[0]).read_bytes()
    if kind == "twoif":
        assert CaptureReader(str(tmp_path / "g" / names[-1])).info.format == "pcapng"
        shb = struct.unpack_from("<I", head, 4)[0]
        assert first[:shb] == src.read_bytes()[:shb]
    else:
        assert first[:24] == head


@pytest.mark.parametrize("kind, seconds", [("lo", 1), ("mysql", 10), ("pcapng", 1)])
def test_interval_split_equals_editcap(caps, thirdparty, tmp_path, kind, seconds):
    src = {"lo": caps["lo"],
           "mysql": thirdparty / "zeek/traces/mysql/mysql.pcap",
           "pcapng": thirdparty / "zeek/traces/mysql/caching_sha2_password-after-auth-switch.pcapng"}[kind]
    suffix = ".pcapng" if kind == "pcapng" else ".pcap"
    (tmp_path / "e").mkdir()
    (tmp_path / "g").mkdir()
    editcap(["-F", suffix[1:], "-i", str(seconds)], src, tmp_path / "e" / f"t{suffix}")
    res = split_editcap(str(src), str(tmp_path / "g" / f"t{suffix}"), seconds=seconds)
    names = compare_dirs(tmp_path / "g", tmp_path / "e", same_times=editcap_names_intervals_by_first_packet())
    assert len(res.files) == len(names)
    if kind == "mysql":  # its quiet minutes give empty intervals, as editcap makes them
        assert 0 in res.packets_per_file


def test_pieces_read_by_tshark(caps, tmp_path):
    """An independent reader sees the same frames in the pieces as in the input."""
    res = split_editcap(str(caps["bigendian"]), str(tmp_path / "p.pcap"), count=50)
    fields = ["frame.time_epoch", "frame.len", "frame.cap_len", "ip.src", "tcp.seq_raw"]
    whole = tshark_fields(caps["bigendian"], "", fields)
    pieces = [row for f in res.files for row in tshark_fields(f, "", fields)]
    assert pieces == whole


def test_zero_packet_input_gives_header_only_out(caps, tmp_path):
    src = tmp_path / "zero.pcap"
    src.write_bytes(caps["lo"].read_bytes()[:24])
    (tmp_path / "e").mkdir()
    (tmp_path / "g").mkdir()
    editcap(["-F", "pcap", "-c", "5"], src, tmp_path / "e" / "o.pcap")
    split_editcap(str(src), str(tmp_path / "g" / "o.pcap"), count=5)
    assert compare_dirs(tmp_path / "g", tmp_path / "e") == ["o.pcap"]


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_input_split_up_to_the_cut(caps, tmp_path, gz):
    data = caps["lo"].read_bytes()
    cut = data[:len(data) * 2 // 3]
    src = tmp_path / ("cut.pcap.gz" if gz else "cut.pcap")
    src.write_bytes(gzip.compress(cut) if gz else cut)
    res = split_editcap(str(src), str(tmp_path / "o.pcap"), count=10)
    got = [p for f in res.files for p in packets(f)]
    assert got == packets(src) and 0 < len(got) < len(packets(caps["lo"]))
    assert len(res.warnings) == 1 and "mid-record" in res.warnings[0]


def test_names_follow_editcap_rules(tmp_path):
    assert prefix_suffix("out.pcap.gz") == ("out.pcap", ".gz")
    assert prefix_suffix("dir.d/out") == ("dir.d/out", "")
    os.environ["TZ"] = "UTC"
    try:
        import time
        time.tzset()
        assert piece_name("a/b.pcapng", 3, 1216281025) == "a/b_00003_20080717075025.pcapng"
        assert piece_name("x", 123456, 0) == "x_123456_19700101000000"
    finally:
        del os.environ["TZ"]
        time.tzset()


# -- --flows ------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["lo", "sll2", "frag", "twoif", "gz"])
def test_flows_keep_every_connection_whole(caps, tmp_path, kind):
    if kind not in caps:
        pytest.skip(f"{kind} capture not made")
    src = caps[kind]
    suffix = ".pcapng" if kind == "twoif" else ".pcap"
    res = split_flows(str(src), str(tmp_path / f"f{suffix}"), 4)
    assert len(res.files) == 4 and all(os.path.exists(f) for f in res.files)
    # no packet lost or added: the same multiset of (timestamp, bytes)
    assert collections.Counter(p for f in res.files for p in packets(f)) == collections.Counter(packets(src))
    # tshark's own connection numbering: each tcp.stream of the input in exactly one piece
    key = ["ip.src", "ipv6.src", "tcp.srcport", "ip.dst", "ipv6.dst", "tcp.dstport"]

    def conn(row):
        a = (row[0] or row[1], row[2])
        b = (row[3] or row[4], row[5])
        return tuple(sorted([a, b]))
    where = collections.defaultdict(set)
    for i, f in enumerate(res.files):
        for row in tshark_fields(f, "tcp", key):
            where[conn(row)].add(i)
    conns = {conn(row) for row in tshark_fields(src, "tcp", key)}
    assert set(where) == conns and len(conns) >= 3
    assert all(len(v) == 1 for v in where.values()), where
    assert len({i for v in where.values() for i in v}) > 1  # the connections are spread out


@pytest.mark.parametrize("kind", ["lo", "twoif"])
def test_pieces_are_the_same_when_the_kernel_cannot_copy(caps, tmp_path, monkeypatch, kind):
    """copy_file_range refused (an old kernel, two file systems): the runs of records go through
    Python in parts, and the pieces are byte for byte the same."""
    if kind not in caps:
        pytest.skip(f"{kind} capture not made")
    from glancetrace.capture import splitter
    suffix = ".pcapng" if kind == "twoif" else ".pcap"
    (tmp_path / "kernel").mkdir()
    (tmp_path / "python").mkdir()
    split_editcap(str(caps[kind]), str(tmp_path / "kernel" / f"p{suffix}"), count=17)

    def refuse(*_a):
        raise OSError(18, "Invalid cross-device link")
    monkeypatch.setattr(os, "copy_file_range", refuse)
    monkeypatch.setattr(splitter, "COPY_PART", 1000)  # runs are longer: several parts each
    split_editcap(str(caps[kind]), str(tmp_path / "python" / f"p{suffix}"), count=17)
    names = sorted(os.listdir(tmp_path / "kernel"))
    assert len(names) > 2 and names == sorted(os.listdir(tmp_path / "python"))
    assert max((tmp_path / "kernel" / n).stat().st_size for n in names) > 1000
    for n in names:
        assert (tmp_path / "kernel" / n).read_bytes() == (tmp_path / "python" / n).read_bytes(), n
