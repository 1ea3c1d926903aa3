"""A slow store (issue 15.5): Glance reading an upload slower than the client sends it fills its receive
window again and again without stopping; the whole report on a real recording of one
(tests/support/slowstore.py) says so, and the clean rig scenarios, whose loopback uploads fill the
window for moments too, get no such finding."""

from __future__ import annotations

import re

import pytest

from glancetrace.analysis.analyze import analyze
from glancetrace.pipeline import decode
from glancetrace.report.html import render_html
from tests.support import rig, slowstore


@pytest.fixture(scope="module")
def doc(tmp_path_factory):
    path = tmp_path_factory.mktemp("slowstore") / "slow.pcap"
    slowstore.record(path)
    return analyze(decode(str(path))).to_dict()


def test_the_finding_says_the_window_was_full(doc):
    (tcp,) = doc["tcp_stalls"]
    secs, count = tcp["window_full_seconds"]["server"], tcp["window_full_count"]["server"]
    assert secs >= 2.0 and count > 16 and tcp["window_scale"]["server"] is not None
    (f,) = [f for f in doc["findings"] if f["code"] == "receiver-stalled"]
    assert f["severity"] == "warning" and f["cause"] == "receiver_stalled"
    m = re.search(r"Glance's receive window was full for ([\d.]+) s in (\d+) periods \(window full, frames "
                  r"(\d+)–(\d+)\): it read the upload slower than the client sent it — a slow store", f["message"])
    assert m, f["message"]
    # the connection carries this upload only: the finding's totals are the connection's
    assert float(m[1]) == pytest.approx(secs, abs=0.05) and int(m[2]) == count
    assert f["frames"] == [int(m[3]), int(m[4])] == [tcp["window_full"][0]["frames"][0],
                                                     tcp["window_full"][-1]["frames"][1]]
    assert "stopped reading" not in f["message"]
    # dated where the window first filled inside the upload, not at the call's end
    (up,) = [c for c in doc["calls"] if c["kind"] == "upload"]
    first = next(p for p in tcp["window_full"] if p["receiver"] == "server" and p["end"] >= up["request_time"])
    assert f["time"] == max(first["start"], up["request_time"]) and first["frames"][0] in f["frames"]
    assert up["request_time"] <= f["time"] < up["request_end"] < up["response_end"]


def test_the_picture_marks_window_full_in_its_own_shade(doc):
    (up,) = [c for c in doc["calls"] if c["kind"] == "upload"]
    stalls = up["throughput"]["stalls"]
    full = [s for s in stalls if s["kind"] == "window full"]
    assert len(full) == 17 and full[-1]["periods"] == doc["tcp_stalls"][0]["window_full_count"]["server"] - 16
    html = render_html(doc)
    assert html.count('class="stall stall-window-full"') == 17
    assert 'class="lg stall-window-full"' in html and "window full: the sender waited" in html


@pytest.mark.parametrize("scenario", rig.SCENARIOS)
def test_no_slow_store_on_the_clean_rig(scenario):
    d = rig.analysed(scenario)
    assert not [f for f in d["findings"] if f["code"] == "receiver-stalled" or "window was full" in f["message"]]
    # loopback transfers do fill a window for moments: found, and Glance's under the finding's 2 s
    assert sum(sum(t["window_full_count"].values()) for t in d["tcp_stalls"]) > 0
    for t in d["tcp_stalls"]:
        assert t["window_full_seconds"]["server"] < 2.0
