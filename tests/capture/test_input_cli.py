"""Reading the input through the CLI: pipes (`-`, /dev/stdin, gzip through a pipe), read once
and streaming; what the reading assumed, in the JSON; link types that cannot be decoded."""

import gzip
import json
import subprocess
import sys

import pytest

from tests.support.loopback import need
from tests.support.rig import capture

GT = [sys.executable, "-m", "glancetrace"]


def _run(args, stdin: bytes | None = None):
    return subprocess.run(GT + args, input=stdin, capture_output=True)


@pytest.fixture(scope="module")
def whole_sql():
    r = _run(["sql", capture("concurrent"), "--format", "json", "-q"])
    assert r.returncode == 0
    return json.loads(r.stdout)


@pytest.mark.parametrize("name", ["-", "/dev/stdin"])
@pytest.mark.parametrize("compress", [False, True])
def test_a_pipe_is_read_like_the_file(whole_sql, name, compress):
    data = open(capture("concurrent"), "rb").read()
    r = _run(["sql", name, "--format", "json", "-q"], gzip.compress(data, 1) if compress else data)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got == whole_sql and len(got) == 7977


def test_report_json_from_a_pipe_says_how_it_was_read():
    r = _run(["report", "-", "--format", "json", "-q"], open(capture("concurrent"), "rb").read())
    assert r.returncode == 0, r.stderr
    cap, = json.loads(r.stdout)["captures"]
    assert cap["path"] == "-" and cap["packets"] == 16439 and cap["link_type_names"] == ["Ethernet"]
    assert cap["clock_offset"] == {"seconds": 0.0, "source": "reference", "segments": 0}
    assert cap["piece_of"] is None


def test_split_from_a_pipe_writes_what_split_from_the_file_writes(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    assert _run(["split", capture("concurrent"), str(a / "p.pcap"), "-c", "5000", "-q"]).returncode == 0
    r = _run(["split", "-", str(b / "p.pcap"), "-c", "5000", "-q"], open(capture("concurrent"), "rb").read())
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in a.iterdir())
    assert len(names) == 4 and names == sorted(p.name for p in b.iterdir())
    assert all((a / n).read_bytes() == (b / n).read_bytes() for n in names)


def test_a_pipe_with_another_capture_is_refused():
    r = _run(["sql", "-", capture("failures"), "-q"], b"")
    assert r.returncode == 2 and b"only capture" in r.stderr and b"Traceback" not in r.stderr


def test_json_says_the_estimated_offset_and_the_pieces(tmp_path):
    need("editcap")
    subprocess.run(["editcap", "-F", "pcap", "-c", "6000", capture("concurrent"), str(tmp_path / "p.pcap")],
                   check=True, capture_output=True)
    pieces = sorted(str(p) for p in tmp_path.glob("p_*.pcap"))
    r = _run(["report", *pieces[::-1], "--format", "json"])
    assert r.returncode == 0, r.stderr
    assert b"read 3 files as pieces of one capture" in r.stderr
    caps = json.loads(r.stdout)["captures"]
    assert [c["path"] for c in caps] == pieces
    assert [(c["piece_of"], c["piece"], c["pieces"]) for c in caps] == [(None, 0, 3), (0, 1, 3), (0, 2, 3)]


def test_an_unsupported_link_type_is_said_and_counted(tmp_path):
    need("editcap", "mergecap")
    user0 = tmp_path / "user0.pcap"
    subprocess.run(["editcap", "-F", "pcap", "-T", "user0", capture("concurrent"), str(user0)], check=True,
                   capture_output=True)
    r = _run(["report", str(user0), "--format", "json"])
    assert r.returncode == 2 and r.stderr.count(b"\n") == 1
    assert b"none of the 16,439 packets could be decoded (linktype 147 (not supported))" in r.stderr
    mixed = tmp_path / "mixed.pcapng"
    subprocess.run(["mergecap", "-F", "pcapng", "-w", str(mixed), str(user0), capture("concurrent")], check=True,
                   capture_output=True)
    r = _run(["report", str(mixed), "--format", "json"])
    assert r.returncode == 0
    assert b"16,439 packets not decoded: linktype 147 (not supported)" in r.stderr
    doc = json.loads(r.stdout)
    assert doc["summary"]["skipped"]["unsupported link type"] == 16439
    assert len(doc["calls"]) == 24
