"""Glance's Swift store: object PUTs linked to their images and checked against Glance's checksum.

The capture (tests/fixtures/swift, remade by scripts/make_fixtures.sh with ../shared/bench/make_capture.py
--swift --size 1M --seed 3 --images 4) has glance-api stream every image
to Swift as a chunked PUT; Swift answers with the md5 as ETag; one upload is aborted); what Glance
recorded comes from the SQL in the same capture, not from the generator.
"""

import dpkt
import pytest

from glancetrace.analysis.analyze import analyze
from glancetrace.openstack import swift
from glancetrace.pipeline import decode
from glancetrace.protocols.http.events import HttpTransaction
from tests.conftest import FIXTURES

IMAGE = "3625e216-e620-4331-93a8-d093096f33b2"


@pytest.fixture(scope="module")
def swift_capture():
    return FIXTURES / "swift" / "capture.pcap"


def doc_of(path) -> dict:
    return analyze(decode(str(path))).to_dict()


def test_swift_puts_are_linked_to_their_images(swift_capture):
    doc = doc_of(swift_capture)
    calls = {c["id"]: c for c in doc["calls"]}
    stores = [c for c in doc["calls"] if c["service"] == "swift"]
    assert len(stores) == 4 and all(c["kind"] == "store_put" for c in stores)
    images = {i["id"]: i for i in doc["images"]}
    assert {c["image_id"] for c in stores} == set(images)
    for img in images.values():
        put = next(calls[cid] for cid in img["calls"] if calls[cid]["service"] == "swift")
        if img["final_status"] in ("active", "deleted"):
            # what Glance sent Swift is what it recorded (checksum from the UPDATE … status='active')
            assert put["status"] == 201 and put["request_digests"]["md5"] == img["checksum"]
            assert put["request_body_size"] == img["size"]
            assert dict(put["response_headers"])["Etag"] == img["checksum"]
        else:  # the aborted upload: Glance reset its Swift connection too
            assert put["status"] is None and put["request_body_size"] < 200_000
    assert not [f for f in doc["findings"] if f["code"].startswith("store-")]


def damaged(src, dst, pick, change):
    """`src` with the TCP payload of the first segment `pick(tcp)` accepts replaced by `change(payload)`
    (same length, so sequence numbers stay right)."""
    with open(src, "rb") as f, open(dst, "wb") as g:
        reader = dpkt.pcap.Reader(f)
        writer = dpkt.pcap.Writer(g, linktype=reader.datalink())
        done = False
        for ts, buf in reader:
            eth = dpkt.ethernet.Ethernet(buf)
            tcp = eth.data.data if isinstance(eth.data, dpkt.ip.IP) else None
            if not done and isinstance(tcp, dpkt.tcp.TCP) and pick(tcp):
                new = change(bytes(tcp.data))
                assert len(new) == len(tcp.data)
                tcp.data = new
                done = True
                buf = bytes(eth)
            writer.writepkt(buf, ts)
    assert done
    return dst


def flip(payload: bytes) -> bytes:
    # inside a 1,448-byte segment of image data, far from chunk-size lines
    return payload[:700] + bytes([payload[700] ^ 0xFF]) + payload[701:]


def test_bytes_damaged_on_the_way_to_swift_are_found(swift_capture, tmp_path):
    """One byte changed in a Swift PUT (only there): Swift's ETag and Glance's checksum both disagree."""
    path = damaged(swift_capture, tmp_path / "damaged.pcap", lambda t: t.dport == 8080 and len(t.data) > 1000, flip)
    doc = doc_of(path)
    found = {f["code"]: f for f in doc["findings"]}
    assert {"store-etag-mismatch", "store-checksum-mismatch"} <= set(found)
    put = next(c for c in doc["calls"] if c["id"] == found["store-checksum-mismatch"]["call_id"])
    assert put["service"] == "swift" and put["status"] == 201 and not put["incomplete"]
    # the upload to Glance itself was not touched: no upload finding for it
    assert not [f for f in doc["findings"] if f["code"] in ("checksum-mismatch", "hash-mismatch")]


def test_an_etag_that_is_not_the_md5_of_the_bytes_is_found(swift_capture, tmp_path):
    """Swift answers with another md5 than that of what Glance sent (the bytes themselves agree with
    Glance's checksum): only the ETag finding."""
    def other_etag(payload: bytes) -> bytes:
        i = payload.index(b"Etag: ") + 6
        return payload[:i] + b"0" * 32 + payload[i + 32:]
    path = damaged(swift_capture, tmp_path / "etag.pcap", lambda t: t.sport == 8080 and b"Etag: " in t.data,
                   other_etag)
    doc = doc_of(path)
    codes = [f["code"] for f in doc["findings"] if f["code"].startswith("store-")]
    assert codes == ["store-etag-mismatch"]
    f = next(f for f in doc["findings"] if f["code"] == "store-etag-mismatch")
    assert "0" * 32 in f["message"] and f["image_id"]


@pytest.mark.parametrize("path, want", [
    (f"/v1/AUTH_58b94c/glance/{IMAGE}", True), ("/v1/AUTH_58b94c", True), ("/v1/KEY_x/c/o", True),
    ("/v1/images", False), (f"/v1/images/{IMAGE}", False), ("/v2/images", False), ("/v3/auth/tokens", False),
])
def test_swift_paths(path, want):
    assert swift.is_swift_path(path) is want


def test_large_image_segments_and_manifest():
    seg = HttpTransaction(0, "c:1", "s:8080", method="PUT", uri=f"/v1/AUTH_p/glance/{IMAGE}-00003", status=201,
                          response_headers=[("Etag", '"0123abcd"')])
    m = swift.classify(seg)
    assert (m.action, m.image_id, m.segment, m.manifest, m.etag) == ("store_put", IMAGE, 3, False, "0123abcd")
    man = HttpTransaction(0, "c:1", "s:8080", method="PUT", uri=f"/v1/AUTH_p/glance/{IMAGE}", status=201,
                          request_headers=[("X-Object-Manifest", f"glance/{IMAGE}-")])
    m = swift.classify(man)
    assert m.manifest and m.segment is None and m.image_id == IMAGE and "manifest" in m.summary
    gone = HttpTransaction(0, "c:1", "s:8080", method="DELETE", uri=f"/v1/AUTH_p/glance/{IMAGE}", status=404)
    m = swift.classify(gone)
    assert m.action == "store_delete" and m.etag is None and m.summary.endswith("→ 404")
