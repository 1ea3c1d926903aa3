"""Glance's HEADs of an import source (tests/fixtures/rig-import/location_mismatch: the http store checks the
URL's size before its location_import task reads it) are size checks, not downloads: a HEAD has no body by
definition (RFC 9110 9.3.2), so the story never calls one a 0-byte fetch, and a finding about the body cites
the GET that carried it. A GET that really came back empty still says 0 bytes (a HEAD rewritten into one)."""

from __future__ import annotations

import functools
import pathlib
import re

from glancetrace.analysis.findings import human_bytes

CAPTURE = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "rig-import" / "location_mismatch" / "capture.pcap"
SOURCE_PORT = 8088


@functools.lru_cache(maxsize=None)
def _doc(path: str) -> dict:
    from glancetrace.analysis.analyze import analyze
    from glancetrace.pipeline import decode

    return analyze(decode(path)).to_dict()


def _fetches(doc: dict, image: dict) -> list[dict]:
    calls = {c["id"]: c for c in doc["calls"]}
    return [calls[f["call_id"]] for f in image["imports"][0]["fetches"]]


def _content_length(call: dict) -> int:
    (value,) = [v for k, v in call["response_headers"] if k.lower() == "content-length"]
    return int(value)


def test_heads_are_told_as_size_checks_with_their_content_length():
    doc = _doc(str(CAPTURE))
    assert len(doc["images"]) == 2
    for im in doc["images"]:
        fetches = _fetches(doc, im)
        heads = [c for c in fetches if c["method"] == "HEAD"]
        (get,) = [c for c in fetches if c["method"] == "GET"]
        assert len(heads) == 3 and all(h["status"] == 200 and h["response_body_size"] == 0 for h in heads)
        size = _content_length(heads[0])
        assert size == get["response_body_size"] == int(im["size"])
        story = im["story"][0]
        assert "0 bytes" not in story, story
        # the three checks came one after another: one clause, from the first to the last
        first, last = (re.escape(t) for t in (_clock(heads[0]), _clock(heads[-1])))
        assert re.search(rf"Glance checked /small-b\.raw on 127\.0\.0\.1:{SOURCE_PORT} 3 times, {first}–{last} "
                         rf"\(HEAD: size check, 200, Content-Length {size:,}\)", story), story
        assert (f"Glance fetched /small-b.raw from 127.0.0.1:{SOURCE_PORT} at {_clock(get)} "
                f"(200, {human_bytes(size)})") in story
        assert story.index("Glance checked") < story.index("Glance fetched")
        assert [f["method"] for f in im["imports"][0]["fetches"]] == [c["method"] for c in fetches]


def test_the_mismatch_finding_cites_the_get_whose_body_it_hashed():
    doc = _doc(str(CAPTURE))
    bad = next(im for im in doc["images"] if im["name"] == "location-mismatch")
    (get,) = [c for c in _fetches(doc, bad) if c["method"] == "GET"]
    (f,) = [f for f in doc["findings"] if f["image_id"] == bad["id"] and f["code"] == "import-failed"]
    assert f"Glance's outbound GET /small-b.raw ({get['id']})" in f["message"]
    assert f["call_id"] == get["id"] and f["conn_id"] == get["conn_id"]
    assert f["wireshark_filter"].startswith(f"tcp.stream eq {get['conn_id']} ")
    assert f["frames"][0] == get["frames"]["request"][0] and f["time"] == get["response_end"]


def test_a_get_that_came_back_empty_still_says_0_bytes(tmp_path):
    """The first HEAD of each image rewritten, bytes for bytes, into `GET /small-b.raw?` (the same path) and its
    answer's Content-Length into 0: a download that returned nothing, told as one."""
    crafted = tmp_path / "empty-get.pcap"
    assert _head_into_empty_get(CAPTURE, crafted) == 2
    doc = _doc(str(crafted))
    for im in doc["images"]:
        empty = _fetches(doc, im)[0]
        assert (empty["method"], empty["status"], empty["response_body_size"]) == ("GET", 200, 0)
        story = im["story"][0]
        assert (f"Glance fetched /small-b.raw? from 127.0.0.1:{SOURCE_PORT} at {_clock(empty)} (200, 0 bytes)"
                in story), story
        assert "Glance checked /small-b.raw on 127.0.0.1:8088 2 times" in story
    # the mismatch shows in the body Glance hashed, not in the empty answer before it
    bad = next(im for im in doc["images"] if im["name"] == "location-mismatch")
    (get,) = [c for c in _fetches(doc, bad) if c["response_body_size"]]
    (f,) = [f for f in doc["findings"] if f["image_id"] == bad["id"] and f["code"] == "import-failed"]
    assert f["call_id"] == get["id"] and "checksum mismatch" in f["message"]


def _clock(call: dict) -> str:
    from glancetrace.analysis.story import clock

    return clock(call["request_time"])


def _head_into_empty_get(src: pathlib.Path, dest: pathlib.Path) -> int:
    """Copy the capture, the first HEAD after each add-location made a GET whose answer is empty; the payload
    lengths stay, so the TCP sequence numbers still hold. Returns how many were rewritten."""
    import dpkt

    seen_locations, pending, done = 0, {}, 0
    with open(src, "rb") as f, open(dest, "wb") as out:
        reader = dpkt.pcap.Reader(f)
        w = dpkt.pcap.Writer(out, linktype=reader.datalink())
        for ts, buf in reader:
            eth = dpkt.ethernet.Ethernet(buf)
            tcp = eth.data.data if isinstance(eth.data, dpkt.ip.IP) else None
            if isinstance(tcp, dpkt.tcp.TCP):
                data = bytes(tcp.data)
                if b"/locations HTTP/1.1" in data[:120]:
                    seen_locations += 1
                elif data.startswith(b"HEAD /small-b.raw ") and seen_locations > done and tcp.dport == SOURCE_PORT:
                    tcp.data, pending[tcp.sport] = b"GET /small-b.raw?" + data[17:], True
                    done += 1
                elif tcp.sport == SOURCE_PORT and tcp.dport in pending and b"Content-Length: 314572" in data:
                    tcp.data = data.replace(b"Content-Length: 314572", b"Content-Length: 0     ", 1)
                    del pending[tcp.dport]
                tcp.sum = eth.data.sum = 0  # dpkt computes both again
                buf = bytes(eth)
            w.writepkt(buf, ts)
    assert not pending  # every rewritten request's answer was rewritten too
    return done
