"""Logs joined to real rig captures (tests/fixtures/rig-logs): the TLS calls haproxy logged stand in for
the packets nobody can decrypt, service errors are quoted in findings, clocks are found again after
being shifted, and nothing secret from the logs reaches the document."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter

import pytest

from tests.support import riglogs

pytestmark = pytest.mark.skipif(not riglogs.SCENARIOS, reason="tests/fixtures/rig-logs missing")
TLS_PORTS = (13000, 13292)


def _port(c) -> int:
    return int(c["server"].rsplit(":", 1)[1])


def frontend_calls(doc) -> Counter:
    return Counter((_port(c), c["method"], c["uri"], c["status"]) for c in doc["calls"] if _port(c) in TLS_PORTS)


@pytest.mark.parametrize("scenario", riglogs.SCENARIOS)
def test_tls_without_keys_with_haproxy_log_gives_the_decrypted_calls(scenario):
    keyed = riglogs.analysed(scenario, True, [])
    logged = riglogs.analysed(scenario, False, [riglogs.path(scenario, "haproxy")])
    want = frontend_calls(keyed)
    assert sum(want.values()) >= 10 and {p for p, *_ in want} == set(TLS_PORTS)
    assert frontend_calls(logged) == want
    front = [c for c in logged["calls"] if _port(c) in TLS_PORTS]
    assert all(c["seen_in"] == "log" and c["hop"] == "frontend" and c["peer"] for c in front)
    assert all(c["log_lines"][0]["source"] == "haproxy" for c in front)
    # the backend hop haproxy opened for each line was seen in the packets and in the log
    peers = {c["peer"] for c in front}
    assert all(c["seen_in"] == "both" for c in logged["calls"] if c["id"] in peers)
    # and the images' timelines hold the same calls as with keys
    by_name = lambda d: {i["name"]: sorted((c["method"], c["uri"], c["status"]) for c in d["calls"]  # noqa: E731
                                            if c["id"] in i["calls"]) for i in d["images"]}
    assert by_name(logged) == by_name(keyed)


def test_with_keys_packets_and_log_agree_and_a_disagreement_is_a_finding(tmp_path):
    scenario = "tls_overcloud"
    doc = riglogs.analysed(scenario, True, [riglogs.path(scenario, "haproxy")])
    front = [c for c in doc["calls"] if _port(c) in TLS_PORTS]
    assert front and all(c["seen_in"] == "both" for c in front)
    assert not [f for f in doc["findings"] if f["code"] == "log-disagrees"]
    lines = riglogs.lines(scenario, "haproxy")
    i = next(i for i, line in enumerate(lines) if '"POST /v2/images ' in line and " 201 " in line)
    lines[i] = lines[i].replace(" 201 ", " 500 ", 1)
    doc = riglogs.analysed(scenario, True, [riglogs.write(tmp_path, "haproxy.log", lines)])
    bad = [f for f in doc["findings"] if f["code"] == "log-disagrees"]
    assert len(bad) == 1 and "→ 500" in bad[0]["message"] and "→ 201" in bad[0]["message"]


def _shift(lines: list[str], pattern: str, fmt: str, seconds: float, parse, write) -> list[str]:
    rx = re.compile(pattern)
    return [rx.sub(lambda m: write(parse(m.group(1)) + seconds), line, count=1) for line in lines]


def test_shifted_haproxy_clock_is_estimated_and_joins_the_same(tmp_path):
    import datetime as dt
    scenario = "tls_overcloud"
    fmt = "%d/%b/%Y:%H:%M:%S.%f"
    parse = lambda s: dt.datetime.strptime(s, fmt).replace(tzinfo=dt.timezone.utc).timestamp()  # noqa: E731
    write = lambda t: "[" + dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime(fmt)[:-3] + "]"  # noqa: E731
    lines = _shift(riglogs.lines(scenario, "haproxy"), r"\[(\d\d/\w{3}/\d{4}:[\d:.]+)\]", fmt, 3 * 3600 + 0.25,
                   parse, write)
    doc = riglogs.analysed(scenario, False, [riglogs.write(tmp_path, "haproxy.log", lines)])
    f = doc["logs"]["files"][0]
    assert f["offset_how"] == "estimated" and f["offset_matches"] >= 10
    assert f["offset"] == pytest.approx(-(3 * 3600 + 0.25), abs=0.005)
    keyed = riglogs.analysed(scenario, True, [])
    assert frontend_calls(doc) == frontend_calls(keyed)
    # given, the offset is used as it is
    given = riglogs.analysed(scenario, False, [(riglogs.write(tmp_path, "h2.log", lines), -(3 * 3600 + 0.25))])
    assert given["logs"]["files"][0]["offset_how"] == "given"
    assert frontend_calls(given) == frontend_calls(keyed)


def test_shifted_oslo_clock_is_estimated_from_request_ids(tmp_path):
    import datetime as dt
    scenario = "tls_failures"
    parse = lambda s: dt.datetime.strptime(s, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=dt.timezone.utc).timestamp()  # noqa: E731
    write = lambda t: dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]  # noqa: E731
    lines = _shift(riglogs.lines(scenario, "glance_api"), r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})", "", -5 * 3600,
                   parse, write)
    doc = riglogs.analysed(scenario, False, [riglogs.write(tmp_path, "glance-api.log", lines)])
    f = doc["logs"]["files"][0]
    assert f["offset_how"] == "estimated" and f["offset_matches"] >= 3
    assert f["offset"] == pytest.approx(5 * 3600, abs=1.5)


def test_service_errors_are_quoted_in_findings():
    """The upload into the full store: Glance's own ERROR line is quoted in the 413 finding; without the logs
    the findings are the same, unquoted; the calls from the log carry the backend's bodies (no false size or
    upload findings)."""
    scenario = "tls_failures"
    logs = [riglogs.path(scenario, n) for n in ("haproxy", "glance_api", "keystone", "glance_uwsgi", "keystone_uwsgi")]
    plain = riglogs.analysed(scenario, False, [])
    doc = riglogs.analysed(scenario, False, logs)
    quoted = [f for f in doc["findings"] if "glance-api: " in f["message"]]
    # the 413 is the full store's own finding (issue 15.4), with the backend's bytes received and Glance's ERROR line
    assert any(f["code"] == "store-full" for f in quoted), [f["message"] for f in doc["findings"]]
    assert all("Image storage media is full" in f["message"] for f in quoted)
    strip = lambda f: f["message"].split(" — “glance-api: ")[0]  # noqa: E731
    assert {f["code"] for f in doc["findings"]} == {f["code"] for f in plain["findings"]}
    assert {strip(f) for f in doc["findings"] if f["code"].startswith("http-")} >= \
        {f["message"] for f in plain["findings"] if f["code"].startswith("http-")}


def test_every_call_says_where_it_was_seen_and_uwsgi_lines_join():
    scenario = "tls_overcloud"
    logs = [riglogs.path(scenario, n) for n in riglogs.LOGS]
    doc = riglogs.analysed(scenario, False, logs)
    assert {c["seen_in"] for c in doc["calls"]} <= {"packets", "log", "both"}
    backend = [c for c in doc["calls"] if _port(c) in (5000, 9292)]
    sources = Counter(s for c in backend for s in {r["source"] for r in c["log_lines"]})
    assert sources["uwsgi"] == len(backend)  # every request uWSGI served, and only those
    files = {f["name"]: f for f in doc["logs"]["files"]}
    assert files["client-debug.log.gz"]["format"] == "client"
    assert all(f["garbled"] == 0 for f in files.values())
    assert all(r["source"] != "uwsgi" for r in doc["logs"]["unmatched"])


def test_lines_of_another_capture_match_nothing_and_are_listed():
    doc = riglogs.analysed("tls_overcloud", False, [riglogs.path("tls_failures", "haproxy")])
    assert doc["logs"]["calls_seen_in"]["log"] == 0
    kept = doc["logs"]["files"][0]["kept"]
    assert doc["logs"]["unmatched_count"] == kept > 0
    assert all(u["when"] == "after the capture" for u in doc["logs"]["unmatched"])


def test_no_secret_from_the_logs_reaches_the_document():
    scenario = "tls_overcloud"
    logs = [riglogs.path(scenario, n) for n in riglogs.LOGS]
    text = json.dumps(riglogs.analysed(scenario, False, logs))
    assert "adminpw" not in text and "glancesvcpw" not in text
    assert not re.search(r"gAAAAA[\w-]{40,}", text)
    raw = gzip.open(riglogs.path(scenario, "client-debug"), "rt").read()
    assert "adminpw" in raw or "{SHA256}" in raw  # the input does hold them


def test_mariadb_aborted_connections_join_the_capture_connections():
    """The rig's restart after tls_overcloud aborted the pooled connections that capture opened: MariaDB's
    error log names them by connection id, which the capture's handshakes carry."""
    doc = riglogs.analysed("tls_overcloud", False, [riglogs.path("tls_overcloud", "mariadb-error")])
    found = [f for f in doc["findings"] if f["code"] == "mysql-connection-aborted"]
    assert found
    res = riglogs.decoded("tls_overcloud", False)
    from glancetrace.protocols.mysql.events import MysqlHandshake
    threads = {h.thread_id: h.conn_id for h in res.events if isinstance(h, MysqlHandshake)}
    for f in found:
        n = int(re.search(r"connection (\d+):", f["message"]).group(1))
        assert f"tcp.stream eq {threads[n]}" in f["wireshark_filter"]
        assert "Got an error reading communication packets" in f["message"] and "after the capture ended" in f["message"]
        assert f["severity"] == "info"


def test_only_lines_near_the_capture_are_kept(tmp_path):
    """A long log (the real lines, after 40 copies of them on earlier days): the offset is still found, only
    the capture's lines are kept, the others counted (memory follows the window, not the file)."""
    from glancetrace.analysis.logjoin import LogSpec, _window, read_logs
    real = riglogs.lines("tls_overcloud", "haproxy")
    old = []
    for k in range(40, 0, -1):
        old += [re.sub(r"\[\d\d/(\w{3})/(\d{4}):", lambda m, k=k: f"[{1 + k % 28:02d}/Jan/{m.group(2)}:", line)
                for line in real]
    path = riglogs.write(tmp_path, "haproxy.log", old + real)
    res = riglogs.decoded("tls_overcloud", False)
    f = read_logs([LogSpec(path)], res.events, _window(res))[0]
    assert (len(f.requests), f.before, f.after) == (len(real), 40 * len(real), 0)
    assert f.offset_how == "estimated" and abs(f.offset) < 0.01


@pytest.mark.parametrize("scenario", riglogs.SCENARIOS)
def test_every_client_request_joins_a_call(scenario):
    """keystoneauth's --debug lines (no times): by request id, else in order; each lands on a call with its
    method and path, on the port it named when that hop is in the capture."""
    doc = riglogs.analysed(scenario, False, [riglogs.path(scenario, "client-debug")])
    assert doc["logs"]["unmatched_count"] == 0
    joined = [(c, r) for c in doc["calls"] for r in c["log_lines"] if r["source"] == "client"]
    assert len(joined) == doc["logs"]["files"][0]["records"]
    for c, r in joined:
        assert (c["method"], c["uri"]) == (r["method"], r["path"]) and c["seen_in"] == "both"
        assert r["status"] in (c["status"], None)
        assert r["request_id"] is None or any(h[0].lower() == "x-openstack-request-id" and h[1] == r["request_id"]
                                              for h in c["response_headers"])


def _hours_earlier(line: str, k: int) -> str:
    return re.sub(r":(\d\d):(\d\d:\d\d\.\d+)\]", lambda m: f":{int(m.group(1)) - k:02d}:{m.group(2)}]", line, count=1)


def test_a_busy_day_around_the_capture_is_read_twice_not_held(tmp_path, monkeypatch):
    """Other connections' lines within hours of the capture are parsed while the offset is estimated; past
    NEAR_CAP of them they are not held, and a second pass with the offset keeps the window's: the same
    result either way."""
    import glancetrace.analysis.logjoin as lj
    real = riglogs.lines("tls_overcloud", "haproxy")
    others = [re.sub(r'"(\w+) /', f'"\\1 /other{k}/',
                     re.sub(r"^127\.0\.0\.1:(\d+)", lambda m, k=k: f"10.0.{k}.9:{m.group(1)}", _hours_earlier(line, k)))
              for k in range(1, 6) for line in real]  # other clients, other requests
    path = riglogs.write(tmp_path, "haproxy.log", others + real)
    res = riglogs.decoded("tls_overcloud", False)
    once = lj.read_logs([lj.LogSpec(path)], res.events, lj._window(res))[0]
    monkeypatch.setattr(lj, "NEAR_CAP", 20)
    twice = lj.read_logs([lj.LogSpec(path)], res.events, lj._window(res))[0]
    assert (once.passes, twice.passes) == (1, 2)
    for f in (once, twice):
        assert (len(f.requests), f.before, f.after) == (len(real), 5 * len(real), 0)
        assert f.offset_how == "estimated" and abs(f.offset) < 0.01
    assert [(r.line, r.time) for r in once.requests] == [(r.line, r.time) for r in twice.requests]


def test_client_ports_reused_hours_earlier_do_not_fool_the_clock(tmp_path):
    """A log 2 h off, where most of the capture's ip:ports also appear hours earlier (ports are reused by
    other connections): each run of a port's lines votes and the capture's own lines win; the earliest line of
    each port alone would have scattered the votes and found no offset."""
    import datetime as dt
    import random

    from glancetrace.analysis.logjoin import LogSpec, _window, read_logs
    fmt = "%d/%b/%Y:%H:%M:%S.%f"
    parse = lambda s: dt.datetime.strptime(s, fmt).replace(tzinfo=dt.timezone.utc).timestamp()  # noqa: E731
    write = lambda t: "[" + dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime(fmt)[:-3] + "]"  # noqa: E731
    stamp = r"\[(\d\d/\w{3}/\d{4}:[\d:.]+)\]"
    real = riglogs.lines("tls_overcloud", "haproxy")
    rng = random.Random(3)
    reused = [line for line in real[:30] for line in _shift([line], stamp, fmt, 7200.25 - rng.uniform(3600, 12 * 3600),
                                                            parse, write)]
    path = riglogs.write(tmp_path, "haproxy.log", reused + _shift(real, stamp, fmt, 7200.25, parse, write))
    res = riglogs.decoded("tls_overcloud", False)
    f = read_logs([LogSpec(path)], res.events, _window(res))[0]
    assert f.offset_how == "estimated" and f.offset == pytest.approx(-7200.25, abs=0.005)
    assert len(f.requests) == len(real)
