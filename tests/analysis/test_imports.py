"""Interoperable image import on the real rig (tests/fixtures/rig-import/import_methods, staged by
scripts/rig_import.py): glance-direct, web-download 200 / 404 / connection refused / port not allowed, copy-image.
Every claim is held against Glance's own database (truth.json: images, tasks, properties) and the web server's log."""

from __future__ import annotations

import functools
import json
import pathlib

import pytest

from glancetrace.analysis.findings import human_bytes
from tests.support.rig import SCENARIOS, analysed, epoch
from tests.support.rigcauses import without_port

HERE = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "rig-import"


def truth(scenario: str) -> dict:
    return json.loads((HERE / scenario / "truth.json").read_text())


@functools.lru_cache(maxsize=None)
def doc(scenario: str) -> dict:
    from glancetrace.analysis.analyze import analyze
    from glancetrace.pipeline import decode

    return analyze(decode(str(HERE / scenario / "capture.pcap"))).to_dict()


def by_name(scenario: str) -> dict[str, dict]:
    return {im["name"]: im for im in doc(scenario)["images"]}


def test_images_and_their_import_states_match_the_database():
    ours = {im["id"]: im for im in doc("import_methods")["images"]}
    for real in truth("import_methods")["images"]:
        im = ours[real["id"]]
        assert im["name"] == real["name"]
        seen = [t for t in im["transitions"] if not t["failed"]]
        assert [t["status"] for t in seen] == [h["status"] for h in real["status_history"]]
        for t, h in zip(seen, real["status_history"]):
            assert abs(t["time"] - epoch(h["sql_time"])) < 0.05
        assert im["final_status"] == real["status"]
    statuses = {t["status"] for im in ours.values() for t in im["transitions"]}
    assert {"uploading", "importing"} <= statuses


def test_task_ids_are_not_images():
    d = doc("import_methods")
    real = truth("import_methods")
    assert {im["id"] for im in d["images"]} == {im["id"] for im in real["images"]}
    assert not {t["id"] for t in real["tasks"]} & {im["id"] for im in d["images"]}
    assert all(im["name"] for im in d["images"])


def test_each_import_has_the_task_glance_wrote():
    tasks = {t["id"]: t for t in truth("import_methods")["tasks"]}
    seen = 0
    for im in doc("import_methods")["images"]:
        for att in im["imports"]:
            if att["task"] is None:
                assert att["status"] == 400  # refused at the call: Glance made no task
                continue
            real = tasks[att["task"]["id"]]
            assert real["image_id"] == im["id"]
            assert att["task"]["status"] == real["status"]
            assert att["task"]["message"] == real["message"]
            seen += 1
    assert seen == len(tasks)


def test_web_download_fetch_is_on_the_image_with_its_status_and_bytes():
    d = doc("import_methods")
    calls = {c["id"]: c for c in d["calls"]}
    images = by_name("import_methods")
    served = [r["line"] for r in truth("import_methods")["web_server"]["requests"] if r["line"].startswith('"')]
    assert served == ['"GET /small-b.raw HTTP/1.1" 200 -', '"GET /missing.raw HTTP/1.1" 404 -']
    ok, missing = images["web-ok"], images["web-404"]
    (fetch,) = ok["imports"][0]["fetches"]
    assert fetch["status"] == 200 and fetch["bytes"] == int(ok["size"]) == truth_image("web-ok")["size"]
    assert missing["imports"][0]["fetches"][0]["status"] == 404
    for im in (ok, missing):
        cid = im["imports"][0]["fetches"][0]["call_id"]
        assert cid in im["calls"]
        assert calls[cid]["on_behalf_of"] == {"call_id": im["imports"][0]["call_id"], "image_id": im["id"],
                                              "role": "web_download"}
        assert calls[cid]["image_id"] == im["id"]
        assert calls[cid]["request_time"] > calls[im["imports"][0]["call_id"]]["request_time"]
    # the story says Glance fetched it (the source answered, not Glance), then that the import failed
    story = missing["story"][0]
    assert "Glance fetched /missing.raw from 127.0.0.1:8088" in story and "(404)" in story
    assert story.index("Glance fetched") < story.index("import failed: the source answered 404")


@pytest.mark.parametrize("scenario", ["import_methods", "import_stalled", "location_mismatch"])
def test_glances_requests_to_a_source_are_on_its_lane_serving_the_import(scenario):
    """The task fetches after the import call answered 202: each of Glance's requests for the URI is on the
    Glance → import source lane, serving its import call (not another image's call then in flight); a body
    it downloaded is drawn as image bytes, a HEAD (no body) or the source's error page is not."""
    d = doc(scenario)
    calls = {c["id"]: c for c in d["calls"]}
    fetched = 0
    for im in d["images"]:
        for att in im["imports"]:
            for f in att["fetches"]:
                c = calls[f["call_id"]]
                assert (c["lane"], c["serves"]) == ("glance->import", att["call_id"]), c["summary"]
                assert c["roles"] == {"client": "glance", "server": "import source"}
                tp = c["throughput"]
                if c["method"] == "GET" and c["status"] == 200:
                    assert tp["direction"] == "response" and tp["bytes"] == c["response_body_size"] > 0
                    fetched += 1
                else:
                    assert tp is None, c["summary"]
    assert fetched >= 1


def truth_image(name: str) -> dict:
    return next(im for im in truth("import_methods")["images"] if im["name"] == name)


@pytest.mark.parametrize("name, failure, where", [
    ("web-404", "the source answered 404", "Glance's outbound GET /missing.raw"),
    ("web-refused", "connection refused", "Glance's outbound connection"),
    ("web-blocked", "not allowed by Glance's [import_filtering_opts]", "Glance's answer to the import call"),
])
def test_failed_import_finding_names_image_source_failure_and_where(name, failure, where):
    d = doc("import_methods")
    real = truth_image(name)
    im = by_name("import_methods")[name]
    (f,) = [f for f in d["findings"] if f["code"] == "import-failed" and f["image_id"] == im["id"]]
    note = truth("import_methods")["per_image_notes"][name]  # "web-download of http://HOST:PORT/…: …"
    source = note.split("http://", 1)[1].split("/", 1)[0]
    assert f"'{name}'" in f["message"] and f"from {source}" in f["message"]
    assert failure in f["message"] and where in f["message"]
    failed = real["properties"].get("os_glance_failed_import")
    if failed:  # the property Glance wrote, and the task's failure, are cited too
        assert f"os_glance_failed_import={failed}" in f["message"]
        task = next(t for t in truth("import_methods")["tasks"] if t["image_id"] == im["id"])
        assert task["status"] == "failure" and f"task {task['id']}" in f["message"]
    assert f["frames"] and f["wireshark_filter"]
    stuck = [g for g in d["findings"] if g["image_id"] == im["id"] and g["code"].startswith("stuck-")]
    assert all("no upload reached Glance" not in g["message"] for g in stuck)


def test_successful_imports_have_no_finding():
    d = doc("import_methods")
    images = by_name("import_methods")
    for name in ("direct-ok", "web-ok"):
        # the loaded rig's Glance really stopped reading the stage upload for seconds (receiver-stalled, a
        # warning about speed, tests/analysis/test_rig_causes.py): nothing else, and nothing about the import
        found = [f["code"] for f in d["findings"] if f["image_id"] == images[name]["id"]]
        assert set(found) <= {"receiver-stalled"}, name
    methods = [a["method"] for a in images["direct-ok"]["imports"]]
    assert methods == ["glance-direct", "copy-image"]
    assert any("images-fast" in loc["url"] for loc in truth_image("direct-ok")["locations"])


def test_import_failed_needs_no_outbound_response(tmp_path):
    """The fetch's response lost (a capture filtered on Glance's ports only): the task's result and the
    property still say the import failed, and where."""
    from glancetrace.analysis.analyze import analyze
    from glancetrace.pipeline import decode

    tmp = tmp_path / "no-source.pcap"
    assert without_port(HERE / "import_methods" / "capture.pcap", 8088, tmp)  # the source's packets were there
    d = analyze(decode(str(tmp))).to_dict()
    assert not [c for c in d["calls"] if c["server"].endswith(":8088")]
    im = next(i for i in d["images"] if i["name"] == "web-404")
    (f,) = [f for f in d["findings"] if f["code"] == "import-failed" and f["image_id"] == im["id"]]
    assert "os_glance_failed_import=default_backend" in f["message"] and "written in SQL" in f["message"]
    assert "from 127.0.0.1:8088" in f["message"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_clean_scenarios_get_no_import_limit_or_token_finding(scenario):
    d = analysed(scenario)
    assert not [f for f in d["findings"] if f["code"].startswith(("import-", "token-", "quota-"))]
    assert all(im["imports"] == [] for im in d["images"])


# import_stalled: web-download sources that never answer, or stop mid-body, with the connection left open
STALLED = {"web-silent": "silent", "web-stalled": "stalled"}


def _capture_end(scenario: str) -> float:
    return doc(scenario)["summary"]["last_ts"]


@pytest.mark.parametrize("name, server", STALLED.items())
def test_stalled_import_names_image_source_wait_and_where(name, server):
    d, real = doc("import_stalled"), truth("import_stalled")
    status, props = real["at_capture_end"][name]
    im = by_name("import_stalled")[name]
    assert status == im["final_status"] == "importing"
    (f,) = [f for f in d["findings"] if f["image_id"] == im["id"] and f["code"].startswith("import-")]
    assert f["code"] == "import-stalled" and f["severity"] == "error"
    src = real["servers"][server]
    assert f"'{name}'" in f["message"] and f"from 127.0.0.1:{src['port']}" in f["message"]
    # how long the source has kept Glance waiting: from its request (the server's own log) to the capture's end
    (req,) = src["requests"]
    waited = float(f["message"].split(" for ")[1].split(" s,")[0])
    assert abs(waited - (_capture_end("import_stalled") - epoch(req["time"]))) < 1.0
    if server == "silent":
        assert "sent no answer" in f["message"] and req["answered_bytes"] == 0
    else:
        assert f"body stopped after {src['sent']:,} bytes of {src['content_length']:,} announced" in f["message"]
    task = next(t for t in real["tasks"] if t["image_id"] == im["id"])
    assert task["status"] == "processing" and f"task {task['id']} still 'processing'" in f["message"]
    assert f"os_glance_importing_to_stores={props['os_glance_importing_to_stores']} still set" in f["message"]
    assert "import-failed" not in {g["code"] for g in d["findings"] if g["image_id"] == im["id"]}
    (stuck,) = [g for g in d["findings"] if g["image_id"] == im["id"] and g["code"] == "stuck-importing"]
    assert "see the import-stalled finding" in stuck["message"]
    # what Glance did once the servers closed (after the capture): it failed the import — the capture could not know
    assert real["after_capture"]["tasks"][[t["id"] for t in real["after_capture"]["tasks"]].index(task["id"])][
        "status"] == "failure"


def test_stalled_import_without_the_source_traffic_claims_no_wait(tmp_path):
    """The source's port filtered out of the capture: no outbound request is seen, so nothing says the source
    kept Glance waiting; the image is still reported stuck importing."""
    from glancetrace.analysis.analyze import analyze
    from glancetrace.pipeline import decode

    tmp = tmp_path / "no-silent-source.pcap"
    assert without_port(HERE / "import_stalled" / "capture.pcap", truth("import_stalled")["servers"]["silent"]["port"],
                        tmp)
    d = analyze(decode(str(tmp))).to_dict()
    im = next(i for i in d["images"] if i["name"] == "web-silent")
    codes = {f["code"] for f in d["findings"] if f["image_id"] == im["id"]}
    assert codes == {"stuck-importing"}
    assert im["imports"][0]["fetches"] == [] and not im["imports"][0]["stalled"]


def test_a_capture_ending_just_after_the_request_is_not_a_stall(tmp_path):
    """The capture cut 2 s after Glance's request to the silent source: too short a silence to say the source
    kept Glance waiting (a download the capture merely caught in progress)."""
    import dpkt

    from glancetrace.analysis.analyze import analyze
    from glancetrace.pipeline import decode

    (req,) = truth("import_stalled")["servers"]["silent"]["requests"]
    cut = epoch(req["time"]) + 2.0
    src, tmp = HERE / "import_stalled" / "capture.pcap", tmp_path / "cut.pcap"
    with open(src, "rb") as f, open(tmp, "wb") as out:
        reader = dpkt.pcap.Reader(f)
        w = dpkt.pcap.Writer(out, linktype=reader.datalink())
        for ts, buf in reader:
            if ts <= cut:
                w.writepkt(buf, ts)
    d = analyze(decode(str(tmp))).to_dict()
    im = next(i for i in d["images"] if i["name"] == "web-silent")
    assert im["imports"][0]["fetches"] and not im["imports"][0]["stalled"]
    assert {f["code"] for f in d["findings"] if f["image_id"] == im["id"]} <= {"stuck-importing"}


# location_mismatch: the add-location API with validation_data; Glance's http store reads the URL
def test_add_location_hash_mismatch_is_named_from_the_fetched_body():
    d, real = doc("location_mismatch"), truth("location_mismatch")
    images = by_name("location_mismatch")
    bad = images["location-mismatch"]
    (f,) = [f for f in d["findings"] if f["image_id"] == bad["id"] and f["code"].startswith("import-")]
    assert f["code"] == "import-failed" and "via add-location from 127.0.0.1:8088" in f["message"]
    # Glance's own record says only "Internal Error": the mismatch is read from the capture
    task = next(t for t in real["tasks"] if t["image_id"] == bad["id"])
    assert task["status"] == "failure" and "hash" not in task["message"]
    assert f"task {task['id']}" in f["message"]
    sums = real["sha512"]
    assert (f"checksum mismatch: the {human_bytes(int(real_image(real, 'location-ok')['size']))} Glance read from "
            f"the source have sha512 {sums['data'][:16]}…, the validation_data gave {sums['given_wrong'][:16]}…"
            in f["message"])
    good = images["location-ok"]
    assert good["final_status"] == real_image(real, "location-ok")["status"] == "active"
    assert not [g for g in d["findings"] if g["image_id"] == good["id"] and g["code"].startswith(("import-", "stuck-"))]
    # each image's fetches are its own: Glance's GET of the URL after each add-location call
    for im in (good, bad):
        (att,) = im["imports"]
        assert att["method"] == "add-location" and att["fetches"]
        assert all(x["start"] >= att["time"] for x in att["fetches"])


def real_image(real: dict, name: str) -> dict:
    return next(im for im in real["images"] if im["name"] == name)


def test_add_location_without_the_source_traffic_claims_no_mismatch(tmp_path):
    """The source's port filtered out: nothing shows the data, so no checksum mismatch is claimed; the task's
    failure is still reported."""
    from glancetrace.analysis.analyze import analyze
    from glancetrace.pipeline import decode

    tmp = tmp_path / "no-source.pcap"
    assert without_port(HERE / "location_mismatch" / "capture.pcap", 8088, tmp)
    d = analyze(decode(str(tmp))).to_dict()
    bad = next(i for i in d["images"] if i["name"] == "location-mismatch")
    (f,) = [f for f in d["findings"] if f["image_id"] == bad["id"] and f["code"] == "import-failed"]
    assert "checksum" not in f["message"] and "the task failed" in f["message"]
