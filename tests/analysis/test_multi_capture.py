"""Two captures of one incident from two hosts, with clocks 3.25 s apart, go on one timeline.

The views are cut from a real rig capture: the client host sees Keystone and
Glance (5000, 9292), the Glance host sees Glance and MySQL (9292, 3306) and its
clock runs 3.25 s behind.  Merged, they must tell the same story as the whole
capture, and the offset must be estimated from the Glance packets both saw.
"""

import subprocess

import pytest

from glancetrace.analysis.analyze import analyze
from glancetrace.capture.clock import estimate_group_offsets
from glancetrace.pipeline import decode
from tests.support.loopback import need
from tests.support.rig import analysed, capture

SKEW = -3.25


@pytest.fixture(scope="module")
def views(tmp_path_factory):
    need("tshark", "editcap")
    d = tmp_path_factory.mktemp("views")
    src = capture("plain_overcloud")
    client, server0, server = d / "client.pcap", d / "server0.pcap", d / "server.pcap"
    subprocess.run(["tshark", "-r", src, "-Y", "tcp.port==5000 || tcp.port==9292", "-w", str(client)], check=True,
                   capture_output=True)
    subprocess.run(["tshark", "-r", src, "-Y", "tcp.port==9292 || tcp.port==3306", "-w", str(server0)], check=True,
                   capture_output=True)
    subprocess.run(["editcap", "-t", str(SKEW), str(server0), str(server)], check=True, capture_output=True)
    return str(client), str(server)


def test_offset_is_estimated_from_shared_segments(views):
    client, server = views
    [(offset, shared)] = estimate_group_offsets([client], [[server]])
    assert shared > 50
    assert offset == pytest.approx(-SKEW, abs=1e-3)


def test_merged_views_tell_the_same_story(views):
    client, server = views
    [(offset, _shared)] = estimate_group_offsets([client], [[server]])
    offsets = {client: 0.0, server: offset}
    doc = analyze(decode([client, server], offsets=offsets)).to_dict()
    whole = analysed("plain_overcloud")
    assert [im["id"] for im in doc["images"]] == [im["id"] for im in whole["images"]]
    for a, b in zip(doc["images"], whole["images"]):
        assert [t["status"] for t in a["transitions"]] == [t["status"] for t in b["transitions"]]
        for ta, tb in zip(a["transitions"], b["transitions"]):
            assert ta["time"] == pytest.approx(tb["time"], abs=1e-3)
    # Glance calls were in both captures: each is counted once
    assert len(doc["calls"]) == len(whole["calls"])
    assert len(doc["sql"]) == len(whole["sql"])
    glance = [c for c in doc["calls"] if c["service"] == "glance"]
    assert glance and all(c["sql"] is not None for c in glance)
    assert sum(len(c["sql"]) for c in doc["calls"]) == sum(len(c["sql"]) for c in whole["calls"])


def test_without_offsets_the_timeline_is_wrong(views):
    """The check above could fail: unaligned clocks put the SQL outside its calls."""
    client, server = views
    doc = analyze(decode([client, server])).to_dict()
    assert sum(1 for s in doc["sql"] if s["call_id"] is None) > 0


def test_overlapping_views_are_planned_as_two_hosts_with_an_estimated_clock(views):
    from glancetrace.capture.plan import plan_input
    plan = plan_input(list(views))
    assert plan.groups == [[0], [1]]
    off = plan.offset_of(1)
    assert off.source == "estimated" and off.segments > 50
    assert off.seconds == pytest.approx(-SKEW, abs=1e-3)
    doc = analyze(decode(plan)).to_dict()
    assert [c["clock_offset"]["source"] for c in doc["captures"]] == ["reference", "estimated"]
    assert doc["captures"][1]["clock_offset"]["segments"] == off.segments
    assert all(c["piece_of"] is None for c in doc["captures"])
