"""The document's `throughput` per call (analysis/throughput.py) and each image's `final_state`, on the
failures rig capture: every upload has its series, ending at the bytes the JSON reports."""

from __future__ import annotations

import pytest

from glancetrace.analysis.analyze import analyze
from glancetrace.pipeline import decode
from tests.conftest import FIXTURES


@pytest.fixture(scope="module")
def doc():
    return analyze(decode(str(FIXTURES / "rig" / "failures" / "capture.pcap"))).to_dict()


def test_every_upload_has_a_monotone_series_ending_at_its_body_size(doc):
    uploads = [c for c in doc["calls"] if c["kind"] == "upload"]
    assert len(uploads) >= 5
    for c in uploads:
        t = c["throughput"]
        assert t["direction"] == "request" and t["bytes"] == c["request_body_size"]
        pts = t["points"]
        assert 1 <= len(pts) <= 201
        assert all(a[0] <= b[0] and a[1] <= b[1] for a, b in zip(pts, pts[1:]))
        assert pts[-1][1] == c["request_body_size"]
        assert t["start"] >= c["request_time"] - 1e-6 and t["end"] <= c["request_end"] + 1e-6
        assert t["gaps"] == []
        assert all(s["kind"] in ("zero window", "window full") and s["start"] <= t["end"] for s in t["stalls"])
        assert [s["start"] for s in t["stalls"]] == sorted(s["start"] for s in t["stalls"])
        if t["seconds"] > 0 and t["bytes"]:
            assert t["mib_per_s"] == pytest.approx(t["bytes"] / 1048576 / t["seconds"], rel=1e-3)
    # whole loopback uploads run at MiB/s; the empty one has a single point and no rate
    whole = [c["throughput"]["mib_per_s"] for c in uploads if c["status"] == 204 and c["request_body_size"]]
    assert whole and all(r > 1 for r in whole)
    empty = [c["throughput"] for c in uploads if c["request_body_size"] == 0]
    assert empty and all(t["points"] == [[t["start"], 0]] and t["mib_per_s"] is None for t in empty)
    assert all(c["throughput"] is None for c in doc["calls"] if c["kind"] in ("show", "create", "list"))


def test_final_state_names_the_stuck_and_the_settled(doc):
    end = doc["summary"]["last_ts"]
    for im in doc["images"]:
        fs = im["final_state"]
        assert fs["status"] == im["final_status"] and fs["until"] == end
        if im["final_status"] == "queued":
            assert fs["stuck"] and fs["label"].startswith("still queued at the end of the capture, ")
            assert fs["label"].endswith(f"{end - im['states'][-1]['start']:,.0f} s later")
            assert im["story"][-1] == fs["label"][0].upper() + fs["label"][1:] + "."  # one wording, story.py's
        else:
            assert not fs["stuck"] and fs["label"].startswith(f"{im['final_status']} since ")


def test_stalls_are_the_receivers_zero_windows_inside_the_transfer():
    """rig-causes upload_ends: Glance's worker paused (SIGSTOP) mid-upload: its zero windows (tcp/stalls.py,
    checked against tshark in tests/tcp/test_stalls.py) and window-full periods (tcp/window_full.py, in
    tests/tcp/test_window_full.py) are marked on that upload's picture, and only there."""
    doc = analyze(decode(str(FIXTURES / "rig-causes" / "upload_ends" / "capture.pcap"))).to_dict()
    windows = {(f["capture"], f["conn_id"]): sorted((z for z in f["zero_windows"] + f["window_full"]
                                                     if z["receiver"] == "server"), key=lambda z: z["start"])
               for f in doc["tcp_stalls"]}
    marked = 0
    for c in doc["calls"]:
        t = c["throughput"]
        if not t or t["direction"] != "request":
            continue
        inside = [z for z in windows.get((c["capture"], c["conn_id"]), [])
                  if z["start"] <= t["end"] and (z["end"] is None or z["end"] >= t["start"])]
        assert [(s["start"], s["end"]) for s in t["stalls"]] == [(z["start"], z["end"]) for z in inside]
        marked += len(t["stalls"])
    assert marked >= 1
