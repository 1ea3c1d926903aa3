"""The input plan (capture/plan.py): which files are pieces of one capture, in what order, which
are captures of several hosts; the time range read from the ends of a file equals a full walk."""

import glob
import gzip
import shutil
import subprocess

import pytest

from glancetrace.capture.plan import continues, plan_input, probe
from glancetrace.capture.pcapfile import CaptureReader
from glancetrace.errors import UnusableInput
from tests.support.loopback import need
from tests.support.rig import capture


def read_info(path):
    """What a walk of the whole capture finds."""
    r = CaptureReader(path)
    for _ in r.packets():
        pass
    return r.info


@pytest.fixture(scope="module")
def cut(tmp_path_factory):
    """concurrent cut by editcap -c 4000 into pcap, pcapng and gzip'd pcap pieces."""
    need("editcap")
    d = tmp_path_factory.mktemp("cut")
    out = {}
    for fmt, ext in (("pcap", "pcap"), ("pcapng", "pcapng")):
        subprocess.run(["editcap", "-F", fmt, "-c", "4000", capture("concurrent"), str(d / f"p.{ext}")], check=True,
                       capture_output=True)
        out[fmt] = sorted(glob.glob(str(d / f"p_*.{ext}")))
    out["gzip"] = []
    for p in out["pcap"]:
        with open(p, "rb") as src, gzip.open(p + ".gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        out["gzip"].append(p + ".gz")
    return out


@pytest.mark.parametrize("fmt", ["pcap", "pcapng", "gzip"])
def test_time_range_from_the_ends_equals_a_walk(cut, fmt):
    for p in cut[fmt] + ([capture("failures")] if fmt == "pcap" else []):
        pf, info = probe(p), read_info(p)
        assert (pf.first_ts, pf.last_ts) == (info.first_ts, info.last_ts)
        assert pf.head and pf.tail  # TCP directions seen at both ends


@pytest.mark.parametrize("fmt", ["pcap", "pcapng", "gzip"])
def test_pieces_in_any_order_are_one_capture_in_time_order(cut, fmt):
    plan = plan_input(cut[fmt][::-1])
    assert plan.groups == [list(range(len(cut[fmt])))]
    assert plan.paths == cut[fmt]
    assert plan.jobs == 1 and plan.notes[0].startswith(f"read {len(cut[fmt])} files as pieces of one capture")


def test_consecutive_pieces_continue_each_other(cut):
    a, b, c = (probe(p) for p in cut["pcap"][:3])
    assert continues(a, b) and continues(b, c)
    assert not continues(b, a) and not continues(c, b)  # backwards in time


def test_two_scenarios_of_one_rig_are_not_pieces():
    """Recorded one after the other on the same hosts, 70 s apart: no connection at the end of one
    goes on at the start of the other, so they are two captures (unless forced)."""
    files = [capture("failures"), capture("concurrent")]
    plan = plan_input(files)
    assert plan.groups == [[0], [1]]
    assert plan_input(files, read_as="pieces").groups == [[0, 1]]


def test_forced_hosts_reading_and_given_offsets(cut):
    plan = plan_input(cut["pcap"], read_as="hosts", offsets={cut["pcap"][2]: 1.5}, jobs=2,
                      estimate_clocks=False)
    assert plan.groups == [[i] for i in range(len(cut["pcap"]))]
    assert plan.offset_of(2).seconds == 1.5 and plan.offset_of(2).source == "given"
    assert plan.jobs == 2


def test_an_offset_given_for_any_piece_shifts_its_whole_capture(cut):
    plan = plan_input([capture("failures")] + cut["pcap"], offsets={cut["pcap"][1]: -2.0})
    assert len(plan.groups) == 2
    assert [plan.offset_of(i).seconds for i in plan.groups[1]] == [-2.0] * len(cut["pcap"])


def test_a_pipe_must_be_the_only_input():
    with pytest.raises(UnusableInput, match="only capture"):
        plan_input(["-", capture("failures")])


def test_editcap_interval_pieces_with_a_quiet_second_are_one_capture(tmp_path):
    """`editcap -i 2`: concurrent has a 1.2 s silence between two pieces with no connection in common."""
    need("editcap")
    subprocess.run(["editcap", "-F", "pcap", "-i", "2", capture("concurrent"), str(tmp_path / "e.pcap")],
                   check=True, capture_output=True)
    pieces = sorted(glob.glob(str(tmp_path / "e_*.pcap")))
    plan = plan_input(pieces[::-1])
    assert plan.groups == [list(range(len(pieces)))] and plan.paths == pieces
