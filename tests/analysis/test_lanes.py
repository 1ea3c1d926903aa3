"""Who talked to whom (analysis/lanes.py) on the real rig captures: Glance's token validations are
exactly the GET /v3/auth/tokens with X-Subject-Token that tshark sees leave the Glance host; each
served a Glance call in flight; behind haproxy the lanes name client → haproxy, haproxy → Glance,
Glance → Keystone."""

from __future__ import annotations

import pytest

from glancetrace.analysis.analyze import analyze
from glancetrace.analysis.calls import Call
from glancetrace.analysis.lanes import classify, host
from glancetrace.pipeline import decode
from glancetrace.protocols.http.events import HttpTransaction
from tests.conftest import FIXTURES
from tests.support.loopback import tshark_fields

SCENARIOS = ["rig/tls_overcloud", "rig/plain_overcloud", "rig/failures", "rig/concurrent",
             "rig-logs/tls_failures"]


def _calls(scenario: str) -> list[Call]:
    folder = FIXTURES / scenario
    keys = folder / "capture.keys"
    res = decode(str(folder / "capture.pcap"), keylog=[str(keys)] if keys.exists() else [])
    return analyze(res).calls


@pytest.fixture(scope="module", params=SCENARIOS)
def rig(request):
    calls = _calls(request.param)
    return request.param, calls, classify(calls)


def test_glance_token_validations_are_those_tshark_sees_from_the_glance_host(rig):
    scenario, calls, lanes = rig
    glance_hosts = {host(c.tx.server) for c in calls if c.service == "glance" and c.hop != "frontend"}
    assert glance_hosts
    rows = tshark_fields(FIXTURES / scenario / "capture.pcap",
                         'http.request.method == "GET" && http.request.uri == "/v3/auth/tokens"'
                         ' && http.request.line contains "X-Subject-Token"',
                         ["ip.src", "tcp.srcport"], ["-d", "tcp.port==5000,http"])
    from_glance = sorted(int(port) for ip, port in rows if ip in glance_hosts)
    ours = sorted(int(c.tx.client.rsplit(":", 1)[1]) for c in calls if lanes[c.id].token_validation)
    assert len(ours) >= 1 and ours == from_glance


def test_each_validation_served_a_glance_call_in_flight_with_that_token(rig):
    _, calls, lanes = rig
    by_id = {c.id: c for c in calls}
    for c in calls:
        lane = lanes[c.id]
        if not lane.token_validation:
            continue
        assert lane.lane == "glance->keystone" and lane.roles == {"client": "glance", "server": "keystone"}
        served = by_id[lane.serves]
        assert served.service == "glance" and served.hop != "frontend"
        assert served.start <= c.start <= served.end
        # keystonemiddleware validates the token the caller sent Glance
        assert c.tx.header("x-subject-token") == served.tx.header("x-auth-token")


def test_glance_pool_calls_and_client_calls_are_told_apart(rig):
    """Glance's own service-token POST and version GETs on its pooled connection are Glance → Keystone;
    the clients' token requests are not."""
    _, calls, lanes = rig
    pool = {(c.capture, c.tx.conn_id) for c in calls if lanes[c.id].token_validation}
    for c in calls:
        if c.service != "keystone" or c.hop == "backend":
            continue
        mine = (c.capture, c.tx.conn_id) in pool
        assert (lanes[c.id].lane == "glance->keystone") == mine, (c.id, c.kind, lanes[c.id])
    issued_to_clients = [c for c in calls if c.kind == "token_issue" and lanes[c.id].lane != "glance->keystone"]
    assert issued_to_clients  # the CLI's own logins stay client calls


def test_tls_overcloud_lanes_name_every_hop():
    calls = _calls("rig/tls_overcloud")
    lanes = classify(calls)
    seen = {lanes[c.id].lane for c in calls}
    assert {"client->haproxy", "haproxy->glance", "haproxy->keystone", "glance->keystone"} <= seen
    for c in calls:
        if lanes[c.id].lane == "client->haproxy":
            assert c.hop == "frontend" and c.tx.tls and lanes[c.id].roles["server"] == "haproxy"
        if lanes[c.id].lane == "haproxy->glance":
            assert c.hop == "backend" and c.service == "glance" and not c.tx.tls


def _call(cid, client, server, method, uri, start, end, headers=(), service="keystone", kind="http"):
    tx = HttpTransaction(conn_id=int(cid[1:]), client=client, server=server, method=method, uri=uri, status=200,
                         request_headers=list(headers), request_first_time=start, response_last_time=end)
    return Call(id=cid, tx=tx, service=service, kind=kind, summary="")


def test_a_separate_glance_host_owns_every_keystone_call_it_makes():
    """In a real cloud Glance runs on its own address: every Keystone call from there is Glance's, even
    one made while no Glance call was seen (a cached token refresh), and even with no validation at all."""
    calls = [
        _call("c1", "10.0.0.5:40000", "10.0.0.9:5000", "POST", "/v3/auth/tokens", 0.0, 0.1),  # the user's login
        _call("c2", "10.0.0.5:40001", "10.0.0.2:9292", "GET", "/v2/images", 0.2, 1.0,
              [("X-Auth-Token", "T")], service="glance"),
        _call("c3", "10.0.0.2:50000", "10.0.0.9:5000", "POST", "/v3/auth/tokens", 0.3, 0.4),  # its service token
        _call("c4", "10.0.0.2:50001", "10.0.0.9:5000", "GET", "/v3/auth/tokens", 5.0, 5.1),  # outside any call
        _call("c5", "10.0.0.2:40002", "10.0.0.7:8080", "GET", "/images/cirros.img", 0.5, 0.9, service="other"),
    ]
    lanes = classify(calls)
    assert lanes["c1"].lane == "client->keystone"
    assert lanes["c2"].lane == "client->glance"
    assert lanes["c3"].lane == "glance->keystone" and lanes["c3"].serves == "c2"
    assert lanes["c4"].lane == "glance->keystone" and lanes["c4"].serves is None
    assert not lanes["c4"].token_validation  # no X-Subject-Token: not a validation
    assert lanes["c5"].lane == "glance->import" and lanes["c5"].serves == "c2"


def test_a_multi_homed_glance_is_known_by_the_token_it_validates():
    """The Swift-store capture: glance-api answers on 192.168.24.5 but validates tokens from 172.16.2.20 and
    writes to Swift from 172.16.1.20.  Each validation carries the token of the Glance call in flight; each
    Swift PUT serves the upload of the same image."""
    calls = _calls("swift")
    lanes = classify(calls)
    by_id = {c.id: c for c in calls}
    validations = [c for c in calls if lanes[c.id].token_validation]
    tshark = tshark_fields(FIXTURES / "swift" / "capture.pcap",
                           'http.request.method == "GET" && http.request.uri == "/v3/auth/tokens"'
                           ' && http.request.line contains "X-Subject-Token"', ["tcp.srcport"],
                           ["-d", "tcp.port==5000,http"])
    assert len(validations) == len(tshark) == 4
    for v in validations:
        served = by_id[lanes[v.id].serves]
        assert served.service == "glance" and v.tx.header("x-subject-token") == served.tx.header("x-auth-token")
        assert host(served.tx.server) != host(v.tx.client)
    puts = [c for c in calls if c.kind == "store_put"]
    assert puts
    for p in puts:
        lane = lanes[p.id]
        assert lane.lane == "glance->swift" and lane.roles == {"client": "glance", "server": "swift"}
        served = by_id[lane.serves]
        assert served.kind == "upload" and served.image_id == p.image_id and served.start <= p.start
