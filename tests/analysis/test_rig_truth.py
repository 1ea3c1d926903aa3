"""Every image in every real OpenStack capture: transitions, final status, sizes and findings
must agree with what Glance's own database says happened (truth.json)."""

import pytest

from tests.support.rig import SCENARIOS, analysed, epoch, truth


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_image_matches_the_database(scenario):
    doc = analysed(scenario)
    ours = {im["id"]: im for im in doc["images"]}
    for real in truth(scenario)["images"]:
        assert real["id"] in ours, f"{real['name']} not found"
        im = ours[real["id"]]
        assert im["name"] == real["name"]
        seen = [t for t in im["transitions"] if not t["failed"]]
        assert [t["status"] for t in seen] == [h["status"] for h in real["status_history"]]
        # each transition is the statement the database logged, to the millisecond
        for t, h in zip(seen, real["status_history"]):
            assert t["source"] == "sql"
            assert abs(t["time"] - epoch(h["sql_time"])) < 0.05, (t, h)
            assert t["frames"], "every transition carries evidence frames"
        assert im["final_status"] == real["status"]
        if real["status"] == "active":
            assert int(im["size"]) == real["size"]
            assert im["checksum"] == real["checksum"]
            assert im["os_hash_value"] == real["os_hash_value"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_upload_bytes_on_the_wire_match_glance_checksums(scenario):
    """The md5/sha512 computed while the upload streamed by equal what Glance stored."""
    doc = analysed(scenario)
    calls = {c["id"]: c for c in doc["calls"]}
    real = {im["id"]: im for im in truth(scenario)["images"]}
    checked = 0
    for im in doc["images"]:
        r = real.get(im["id"])
        if not r or r["status"] != "active" and not r.get("deleted"):
            continue
        for cid in im["calls"]:
            c = calls[cid]
            if c["kind"] == "upload" and c["status"] == 204:
                assert c["request_body_size"] == r["size"]
                assert c["request_digests"]["md5"] == r["checksum"]
                assert c["request_digests"]["sha512"] == r["os_hash_value"]
                checked += 1
    assert checked >= 1
    assert not [f for f in doc["findings"] if f["code"] in ("checksum-mismatch", "hash-mismatch", "size-mismatch")]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_status_sql_is_tied_to_the_call_that_caused_it(scenario):
    """INSERT ... 'queued' comes from the create call, saving/active from the upload of that image."""
    doc = analysed(scenario)
    calls = {c["id"]: c for c in doc["calls"]}
    for im in doc["images"]:
        for t in im["transitions"]:
            c = calls.get(t["call_id"])
            assert c is not None, f"{im['name']}: {t['status']} has no call"
            want = {"queued": {"create", "upload"}, "saving": {"upload", "stage", "import"},
                    "active": {"upload", "import", "reactivate"}, "deleted": {"delete"},
                    "deactivated": {"deactivate"}}.get(t["status"])
            if want:
                assert c["kind"] in want, (im["name"], t["status"], c["kind"])
            if c["kind"] != "create":
                assert c["image_id"] == im["id"]


def test_failures_scenario_findings():
    doc = analysed("failures")
    notes = truth("failures")["per_image_notes"]
    by_name = {im["name"]: im for im in doc["images"]}
    codes = {(f["image_id"], f["code"]) for f in doc["findings"]}
    for name, note in notes.items():
        iid = by_name[name]["id"]
        if "SIGKILL" in note:
            assert (iid, "upload-interrupted") in codes, name
        if "403" in note:
            assert (iid, "http-403") in codes, name
    for real in truth("failures")["images"]:
        if real["status"] == "queued":
            assert (real["id"], "stuck-queued") in codes, real["name"]
    # every finding points at frames and has a filter a Wireshark user can paste
    for f in doc["findings"]:
        assert f["frames"] and "frame.number" in f["wireshark_filter"]


def test_concurrent_uploads_are_told_apart_by_image_id():
    """Three uploads overlap in time: each one's SQL must land on its own call."""
    doc = analysed("concurrent")
    sql = {s["id"]: s for s in doc["sql"]}
    uploads = [c for c in doc["calls"] if c["kind"] == "upload"]
    assert len(uploads) == 4
    spans = sorted((c["request_time"], c["response_end"]) for c in uploads)
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:])), "the fixture's uploads overlap"
    for c in uploads:
        named = [sql[s]["image_id"] for s in c["sql"] if sql[s]["image_id"]]
        assert named and set(named) == {c["image_id"]}


def test_tls_without_keys_still_shows_the_encrypted_calls():
    doc = analysed("tls_overcloud", with_keys=False)
    assert doc["summary"]["encrypted_connections"] > 0
    assert doc["summary"]["decrypted_connections"] == 0
    with_keys = analysed("tls_overcloud")
    assert with_keys["summary"]["decrypted_connections"] == doc["summary"]["encrypted_connections"]
    # the decrypted frontend calls pair with the haproxy → glance-api backend calls
    fronts = [c for c in with_keys["calls"] if c["tls"]]
    assert fronts and all(c["hop"] == "frontend" for c in fronts if c["server"].endswith(":13292"))


def test_sql_without_its_calls_is_kept_as_background_work():
    """A capture of the database port alone: nothing to tie the SQL to, yet nothing is dropped and the
    lifecycles still come out of the SQL."""
    from glancetrace.analysis.analyze import analyze
    from glancetrace.pipeline import decode
    from tests.support.rig import capture

    doc = analyze(decode(capture("plain_overcloud"), want_http=False)).to_dict()
    whole = analysed("plain_overcloud")
    assert len(doc["sql"]) == len(whole["sql"])
    assert all(s["call_id"] is None for s in doc["sql"])
    assert [(im["id"], im["final_status"]) for im in doc["images"]] == \
        [(im["id"], im["final_status"]) for im in whole["images"]]
