"""A real capture cut into pieces (editcap -c, tcpdump -C) and given in any order is analysed
exactly as the whole capture, and its evidence is in each piece's own numbers (tshark is the
oracle for the frame and tcp.stream numbers of every piece)."""

import glob
import json
import random
import subprocess
import sys

import pytest

from glancetrace.analysis.analyze import analyze
from glancetrace.pipeline import decode
from tests.support.loopback import need
from tests.support.rig import analysed, capture

# what depends on the numbering of the files, not on what happened
NUMBERING = {"capture", "file", "conn_id", "frames", "wireshark_filter", "evidence"}


def _cut(tmp_path, scenario: str, count: int) -> list[str]:
    need("editcap")
    out = tmp_path / "piece.pcap"
    subprocess.run(["editcap", "-F", "pcap", "-c", str(count), capture(scenario), str(out)], check=True,
                   capture_output=True)
    pieces = sorted(glob.glob(str(tmp_path / "piece_*.pcap")))
    random.Random(count).shuffle(pieces)  # the order given must not matter
    return pieces


@pytest.fixture(scope="module")
def failures_pieces(tmp_path_factory):
    return _cut(tmp_path_factory.mktemp("pieces"), "failures", 5000)


@pytest.fixture(scope="module")
def failures_small_pieces(tmp_path_factory):
    """Pieces of 2,500 packets: the interrupted upload runs over two of them."""
    return _cut(tmp_path_factory.mktemp("small"), "failures", 2500)


@pytest.fixture(scope="module")
def small_doc(failures_small_pieces):
    return analyze(decode(failures_small_pieces)).to_dict()


@pytest.fixture(scope="module")
def numbers(failures_small_pieces):
    """Each piece's frame → tcp.stream, from tshark reading that piece alone."""
    need("tshark")
    return {p: _tshark_numbers(p) for p in failures_small_pieces}


def _without_numbering(items: list[dict]) -> list[dict]:
    return [{k: v for k, v in it.items() if k not in NUMBERING} for it in items]


def _same_story(doc: dict, whole: dict) -> None:
    for key in ("calls", "sql", "findings", "tokens"):
        assert _without_numbering(doc[key]) == _without_numbering(whole[key]), key
    for a, b in zip(doc["images"], whole["images"]):
        assert _without_numbering(a["transitions"]) == _without_numbering(b["transitions"])
        assert {k: v for k, v in a.items() if k != "transitions"} == {k: v for k, v in b.items()
                                                                      if k != "transitions"}
    assert doc["summary"]["connections"] == whole["summary"]["connections"]
    assert doc["summary"]["packets"] == whole["summary"]["packets"]


def test_pieces_tell_the_whole_capture_story(failures_pieces):
    res = decode(failures_pieces)
    assert len(res.plan.groups) == 1 and len(res.plan.files) == 9
    assert [f.piece for f in res.plan.files] == list(range(9))
    assert [f.first_ts for f in res.plan.files] == sorted(f.first_ts for f in res.plan.files)
    doc = analyze(res).to_dict()
    whole = analysed("failures")
    # the numbers of the issue: 91 calls, 21,375 statements, 47 connections
    assert (len(doc["calls"]), len(doc["sql"]), doc["summary"]["connections"]) == (91, 21375, 47)
    _same_story(doc, whole)


def test_read_as_hosts_is_what_went_wrong(failures_pieces):
    """The check above could fail: each piece read as a capture of its own cuts connections."""
    doc = analyze(decode(failures_pieces, read_as="hosts")).to_dict()
    assert doc["summary"]["connections"] > 47
    assert _without_numbering(doc["sql"]) != _without_numbering(analysed("failures")["sql"])


def test_tcpdump_rotation_pieces(tmp_path):
    """`tcpdump -C` rotation files (piece, piece1, piece2, …) are pieces too."""
    need("tcpdump")
    out = tmp_path / "rot.pcap"
    subprocess.run(["tcpdump", "-r", capture("concurrent"), "-w", str(out), "-C", "2", "-Z", "root"],
                   check=True, capture_output=True)
    pieces = sorted(glob.glob(str(out) + "*"), reverse=True)
    assert len(pieces) >= 4
    res = decode(pieces)
    assert len(res.plan.groups) == 1
    _same_story(analyze(res).to_dict(), analysed("concurrent"))


def _tshark_numbers(path: str) -> dict[int, int | None]:
    """frame.number → tcp.stream of every packet of one file, as Wireshark numbers them."""
    out = subprocess.run(["tshark", "-r", path, "-T", "fields", "-e", "frame.number", "-e", "tcp.stream"],
                         check=True, capture_output=True, text=True).stdout
    rows = (line.split("\t") for line in out.splitlines())
    return {int(f): (int(s) if s else None) for f, s in rows}


def _check_evidence(items: list[dict], numbers: dict[str, dict]) -> int:
    """Every evidence entry's frames lie in its file and on its tcp.stream there; returns how
    many entries span more than one piece."""
    spanning = 0
    for it in items:
        ev = it["evidence"]
        assert ev and ev[0]["capture"] == it["capture"] and ev[0]["file"] == it["file"]
        spanning += len(ev) > 1
        for e in ev:
            lo, hi = e["frames"]
            in_file = numbers[e["file"]]
            stream_frames = [f for f in range(lo, hi + 1) if in_file.get(f) == e["conn_id"]]
            assert stream_frames, (it["id"], e)
        # the first and last frames cited are in the first and last piece, on the item's connection
        first, last = ev[0], ev[-1]
        assert numbers[first["file"]][first["frames"][0]] == first["conn_id"]
        assert numbers[last["file"]][last["frames"][1]] == last["conn_id"]
    return spanning


def test_evidence_in_each_piece_numbers(failures_small_pieces, small_doc, numbers):
    doc = small_doc
    spanning = _check_evidence(doc["calls"] + doc["sql"] + doc["findings"], numbers)
    assert spanning >= 1  # the interrupted upload
    up = next(f for f in doc["findings"] if f["code"] == "upload-interrupted" and len(f["evidence"]) > 1)
    assert up["wireshark_filter"].startswith(f"spans {len(up['evidence'])} pieces: ")
    # piece frames map back onto the whole capture's: same frames, cut where the pieces are cut
    whole = {f["id"]: f for f in analysed("failures")["findings"]}[up["id"]]
    plan_bases = {}
    base = 0
    for p in sorted(failures_small_pieces):
        plan_bases[p] = base
        base += len(numbers[p])
    assert [plan_bases[e["file"]] + n for e in (up["evidence"][0], up["evidence"][-1])
            for n in e["frames"]][::3] == [whole["frames"][0], whole["frames"][-1]]


def test_every_finding_filter_selects_its_frames_in_its_piece(small_doc):
    """Run through tshark: every filter of every finding selects packets of its piece, the first
    frame cited among those of the first piece and the last frame cited among those of the last."""
    need("tshark")
    for f in small_doc["findings"]:
        got = [_selected(e["file"], e["wireshark_filter"]) for e in f["evidence"]]
        assert all(got), f
        assert f["frames"][0] in got[0] and f["frames"][-1] in got[-1], f


def _selected(path: str, display_filter: str) -> set[int]:
    out = subprocess.run(["tshark", "-r", path, "-Y", display_filter, "-T", "fields", "-e", "frame.number"],
                         check=True, capture_output=True, text=True).stdout
    return {int(x) for x in out.split()}


@pytest.mark.parametrize("command", ["http", "sql"])
def test_http_and_sql_rows_are_in_piece_numbers(failures_small_pieces, numbers, command):
    r = subprocess.run([sys.executable, "-m", "glancetrace", command, *failures_small_pieces, "--format", "json",
                        "-q"], capture_output=True, check=True)
    rows = json.loads(r.stdout)
    assert len(rows) == {"http": 91, "sql": 21375}[command]
    for row in rows:
        row["id"] = row["request_frames"]
    assert _check_evidence(rows, numbers) >= 1
    for row in rows:  # the row's own numbers are its first piece's
        if row["request_frames"]:
            assert numbers[row["file"]][row["request_frames"][0]] == row["conn_id"]
