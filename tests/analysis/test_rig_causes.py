"""The cause of each failure staged on the real rig (tests/fixtures/rig-causes, scripts/rig_causes.py), checked
against what Glance's database, its logs and the rig's own record of what it did say happened."""

from __future__ import annotations

import pytest

from glancetrace.analysis.story import clock
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


STORY_ENDS = {"curl-killed": "the client closed", "client-reset": "the client reset",
              "client-timeout-on-stall": "the client closed", "server-reset": "Glance reset"}


@pytest.mark.parametrize("name, words", STORY_ENDS.items())
def test_the_story_says_who_ended_the_upload_and_when(name, words):
    """The story's cut-off clause names the connection's first FIN or RST after the request began, the one
    the finding cites, at its own time: not the last body byte's (a reset that came after Glance answered,
    or a FIN queued behind a zero window, is not when the body stopped)."""
    doc, notes = analysed("upload_ends"), truth("upload_ends")["upload_ends"][name]
    im = _image(doc, name)
    (f,) = _findings(doc, im["id"], "upload-interrupted")
    call = next(c for c in doc["calls"] if c["id"] == f["call_id"])
    stall = next(s for s in doc["tcp_stalls"] if s["conn_id"] == call["conn_id"])
    end = min((e for e in stall["ends"] if e["time"] >= call["request_time"]), key=lambda e: e["time"])
    assert end["frame"] in f["frames"]
    assert f"was cut off ({words} the connection at {clock(end['time'])})" in im["story"][0], im["story"][0]
    if name == "client-reset":  # the rig's own record of its RST
        assert abs(end["time"] - epoch(notes["time"])) < 0.05 and end["time"] - call["request_end"] > 0.05
    if name == "server-reset":  # the worker killed: the kernel's RST follows
        assert 0 <= end["time"] - epoch(notes["kill_time"]) < 1.0 and end["time"] - call["request_end"] > 0.5


def _dated_at_the_stall(doc, f, kind):
    """A receiver-stalled finding sits where its stall began: at the first period of the kind it names
    (zero_windows / window_full) inside the upload, citing that period's first frame, not at the call's end."""
    call = next(c for c in doc["calls"] if c["id"] == f["call_id"])
    stall = next(s for s in doc["tcp_stalls"] if s["conn_id"] == f["conn_id"])
    first = next(p for p in stall[kind] if p["receiver"] == "server" and p["end"] >= call["request_time"])
    assert f["time"] == first["start"] and first["frames"][0] in f["frames"]
    assert call["request_time"] <= f["time"] <= call["request_end"] < call["response_end"]
    assert f["time"] < call["response_end"] - 1.0  # the call's end, where it used to be dated, is seconds later
    return first


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
    # the rig stopped the worker at `stopped`: the zero window shows within a second of it
    assert abs(_dated_at_the_stall(doc, f, "zero_windows")["start"] - epoch(note["stopped"])) < 1.0


def test_the_proxy_answered_504():
    doc, real = analysed("proxy_timeout"), truth("proxy_timeout")
    assert " 504 " in real["proxy"]["response"].split("\r\n")[0] + " "
    im = _image(doc, "proxy-timeout")
    (f,) = _findings(doc, im["id"], "proxy-answered")
    assert "504" in f["message"] and f["cause"] == "proxy_answered"
    # the client's connection to the proxy ended with FINs only (no RST, no stall listed in tcp_stalls):
    # the story says when the body stopped, and claims no time for the close
    up = next(c for c in doc["calls"] if c["id"] == f["call_id"])
    assert not [s for s in doc["tcp_stalls"] if s["conn_id"] == up["conn_id"]]
    assert (f"was cut off (its body stopped at {clock(up['request_end'])}, the connection ended by a FIN)"
            in im["story"][0]), im["story"][0]


def _over(response: str) -> tuple[str, int, int, int]:
    """(limit, value, usage, delta) from the oslo.limit message in Glance's 413 body (truth.json)."""
    resource = response.split("Resource ", 1)[1]
    name, rest = resource.split(" is over limit of ", 1)
    value, rest = rest.split(" due to current usage ", 1)
    usage, delta = rest.split(" and delta ", 1)
    return name, int(value), int(usage), int(delta.split("]")[0])


def test_unified_count_limit_refuses_the_create():
    doc, real = analysed("count_quota"), truth("count_quota")
    assert "HTTP 413" in real["over_count_total"]
    name, value, usage, delta = _over(real["over_count_total"])
    assert name == "image_count_total" and value == real["limits"]["image_count_total"]
    assert "count-b" not in {im["name"] for im in real["images"]} | {im["name"] for im in doc["images"]}
    (f,) = [f for f in doc["findings"] if f["code"] == "quota-exceeded" and f["image_id"] is None]
    assert f"the unified limit {name} (limit {value}; usage {usage} + {delta} requested)" in f["message"]
    assert "create of image 'count-b' refused" in f["message"] and "no image was made" in f["message"]
    call = next(c for c in doc["calls"] if c["id"] == f["call_id"])
    assert call["status"] == 413 and f"after receiving {call['request_body_size']:,} bytes" in f["message"]
    assert not [g for g in doc["findings"] if g["code"] == "http-413"]


def test_slow_store_is_a_stalled_receiver_not_an_interrupted_upload():
    """Every write(2) of the worker storing the upload took write_delay_us (strace fault injection): Glance
    read the body only as fast as it stored it, the window kept filling, and the upload completed."""
    doc, note = analysed("slow_store"), truth("slow_store")["slow_store"]
    assert note["response"].startswith("HTTP/1.1 204")
    im = _image(doc, "slow-store")
    assert im["final_status"] == "active" and int(im["size"]) == note["bytes"]
    (f,) = _findings(doc, im["id"], "receiver-stalled")
    assert "the upload went on and Glance answered 204" in f["message"]
    assert not _findings(doc, im["id"], "upload-interrupted")
    call = next(c for c in doc["calls"] if c["id"] == f["call_id"])
    assert call["request_body_size"] == note["bytes"]
    # the store's pace bounds the upload from below: one delayed write per 64 KiB chunk
    floor = note["bytes"] // 65536 * note["write_delay_us"] / 1e6
    assert call["response_time"] - call["request_time"] >= floor
    stall = next(s for s in doc["tcp_stalls"] if s["conn_id"] == f["conn_id"])
    # after Glance began reading (the first, token-validation stall), the window filled again and again
    assert stall["zero_window_count"]["server"] >= 3
    first = _dated_at_the_stall(doc, f, "zero_windows")
    assert f"zero window, frames {first['frames'][0]}–" in f["message"]
