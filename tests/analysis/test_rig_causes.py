"""The cause of each failure staged on the real rig (tests/fixtures/rig-causes, scripts/rig_causes.py), checked
against what Glance's database, its logs and the rig's own record of what it did say happened."""

from __future__ import annotations

import pytest

from tests.support.rig import epoch
from tests.support.rigcauses import SCENARIOS, analysed, truth


def _image(doc, name):
    return next(im for im in doc["images"] if im["name"] == name)


def _findings(doc, image_id, code=None):
    return [f for f in doc["findings"] if f["image_id"] == image_id and (code is None or f["code"] == code)]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_image_matches_the_database(scenario):
    doc = analysed(scenario)
    ours = {im["id"]: im for im in doc["images"]}
    for real in truth(scenario)["images"]:
        im = ours[real["id"]]
        seen = [t for t in im["transitions"] if not t["failed"]]
        assert [t["status"] for t in seen] == [h["status"] for h in real["status_history"]], real["name"]
        for t, h in zip(seen, real["status_history"]):
            assert abs(t["time"] - epoch(h["sql_time"])) < 0.05
        assert im["final_status"] == real["status"]
    # a limit or a client going away is never mistaken for another cause: no interrupted upload without its cause
    for f in doc["findings"]:
        if f["code"] == "upload-interrupted":
            assert f["cause"], f["message"]
        assert f["frames"] and "frame.number" in f["wireshark_filter"]


def test_killed_mysql_connection_insert_never_committed():
    doc, real = analysed("killed_mysql"), truth("killed_mysql")
    killed = real["killed"]
    assert killed["thread_id"] and not killed["killed_insert_in_db"]
    im = _image(doc, "killed-insert")
    assert im["final_status"] is None
    assert [t["attempt"] for t in im["transitions"]] == ["connection lost"]
    (f,) = _findings(doc, im["id"], "not-committed")
    assert "closed by the server before it answered" in f["message"]
    assert "failed with 500" in f["message"] and "never existed" in f["message"]
    assert not _findings(doc, im["id"], "stuck-queued")
    lost = next(x for x in doc["findings"] if x["code"] == "mysql-connection-lost")
    assert f"thread id {killed['thread_id']}" in lost["message"] and "reconnected" in lost["message"]
    assert lost["call_id"] == f["call_id"]
    assert abs(lost["time"] - epoch(killed["kill_time"])) < 1.0
    # the create after the reconnection worked
    assert _image(doc, "after-reconnect")["final_status"] == "queued"


@pytest.mark.parametrize("scenario, name, code, words", [
    ("size_cap", "over-size-cap", "image-too-large", "image_size_cap"),
    ("storage_quota", "over-quota", "storage-quota-exceeded", "user_storage_quota"),
    ("store_full_plain", "store-full-plain", "store-full", "Image storage media is full"),
])
def test_limits_are_named_with_the_bytes_received(scenario, name, code, words):
    doc = analysed(scenario)
    im = _image(doc, name)
    (f,) = _findings(doc, im["id"], code)
    assert words in f["message"] and "after receiving" in f["message"]
    calls = {c["id"]: c for c in doc["calls"]}
    got = calls[f["call_id"]]["request_body_size"]
    assert f"{got:,} bytes" in f["message"] and 0 < got
    assert not _findings(doc, im["id"], "upload-interrupted") and not _findings(doc, im["id"], "http-413")


def test_size_cap_bound_is_true():
    doc, real = analysed("size_cap"), truth("size_cap")
    f = next(x for x in doc["findings"] if x["code"] == "image-too-large")
    got = next(c for c in doc["calls"] if c["id"] == f["call_id"])["request_body_size"]
    assert real["image_size_cap"] < got < real["uploaded_bytes"]


UPLOAD_ENDS = {"curl-killed": "client_closed", "client-reset": "client_reset",
               "client-timeout-on-stall": "client_closed", "server-reset": "server_reset"}


@pytest.mark.parametrize("name, cause", UPLOAD_ENDS.items())
def test_who_ended_each_upload(name, cause):
    doc, notes = analysed("upload_ends"), truth("upload_ends")["upload_ends"]
    assert notes[name]["end"].startswith(cause.split("_")[0])
    im = _image(doc, name)
    (f,) = _findings(doc, im["id"], "upload-interrupted")
    assert f["cause"] == cause, f["message"]
    if name == "client-timeout-on-stall":  # the client gave up because Glance had stopped reading
        assert "stopped reading" in f["message"]
    if name == "server-reset":
        assert "worker died or was killed" in f["message"]


def test_a_stalled_receiver_that_resumed_is_a_warning():
    doc, note = analysed("upload_ends"), truth("upload_ends")["upload_ends"]["receiver-stalled"]
    im = _image(doc, "receiver-stalled")
    (f,) = _findings(doc, im["id"], "receiver-stalled")
    stopped = epoch(note["continued"]) - epoch(note["stopped"])
    secs = float(f["message"].split("stopped reading the body for ")[1].split(" s")[0])
    assert abs(secs - stopped) < 1.5
    assert not _findings(doc, im["id"], "upload-interrupted")
    stall = next(s for s in doc["tcp_stalls"] if s["conn_id"] == f["conn_id"])
    assert stall["zero_window_seconds"]["server"] == pytest.approx(secs, abs=0.1)


def test_the_proxy_answered_504():
    doc, real = analysed("proxy_timeout"), truth("proxy_timeout")
    assert " 504 " in real["proxy"]["response"].split("\r\n")[0] + " "
    im = _image(doc, "proxy-timeout")
    (f,) = _findings(doc, im["id"], "proxy-answered")
    assert "504" in f["message"] and f["cause"] == "proxy_answered"
