"""The throughput picture and the timeline's end on the failures rig analysis, damaged where a hostile
or older document could differ: the page still renders, drawing what it can."""

from __future__ import annotations

import copy
import re

from glancetrace.report.html import render_html
from glancetrace.report.throughput_chart import chart

from .browser_data import real_analysis


def _uploads(a):
    return [c for c in a["calls"] if c["kind"] == "upload"]


def test_damaged_series_are_skipped_not_fatal():
    a = copy.deepcopy(real_analysis("failures"))
    ups = _uploads(a)
    ups[0]["throughput"]["points"] = [[None, 1], ["x", "y"], [1.0], "junk"]
    ups[1]["throughput"]["start"] = "later"
    ups[2]["throughput"]["gaps"] = [{"time": None, "offset": "?"}, "junk"]
    ups[2]["throughput"]["stalls"] = [{"start": ups[2]["throughput"]["start"], "end": None, "kind": "zero-window"}]
    ups[3]["throughput"] = ["not", "a", "dict"]
    html = render_html(a)
    drawn = set(re.findall(r'<g class="series tp-\d" data-call-id="(c\d+)"', html))
    assert ups[0]["id"] not in drawn and ups[1]["id"] not in drawn and ups[3]["id"] not in drawn
    assert ups[2]["id"] in drawn and 'class="stall stall-zero-window"' in html


def test_one_time_and_byte_scale_per_image():
    a = real_analysis("failures")
    ups = [c for c in _uploads(a) if c["request_body_size"]]
    tp = chart(ups)
    by_id = {s["id"]: s for s in tp["series"]}
    # the longest transfer reaches the right end; the biggest the top of the byte scale or under it
    longest = max(ups, key=lambda c: c["throughput"]["seconds"])
    assert int(by_id[longest["id"]]["end"][0]) in range(tp["right"] - 1, tp["right"] + 2)
    biggest = max(ups, key=lambda c: c["request_body_size"])
    assert tp["top"] <= by_id[biggest["id"]]["end"][1] < tp["bottom"]
    # a faster transfer climbs more per unit of x: slope order is rate order
    def slope(c):
        (x0, y0), (x1, y1) = (0, 0), by_id[c["id"]]["end"]
        return (tp["bottom"] - y1) / max(x1 - tp["left"], 1)
    ranked = sorted(ups, key=lambda c: c["throughput"]["mib_per_s"])
    assert slope(ranked[0]) < slope(ranked[-1])


def test_stuck_images_fold_their_idle_stretch():
    a = real_analysis("failures")
    html = render_html(a)
    stuck = [im for im in a["images"] if im["final_state"]["stuck"]]
    assert stuck
    for im in stuck:
        svg = re.search(rf'<svg class="timeline" [^>]*data-image-id="{im["id"]}">(.*?)</svg>', html, re.S).group(1)
        assert f'>{im["final_state"]["label"]}</text>' in svg
        folded = re.search(r'<g class="fold" data-seconds="([\d.]+)">', svg)
        idle = a["summary"]["last_ts"] - im["states"][-1]["start"]
        if folded:
            assert 0 < float(folded.group(1)) < idle
