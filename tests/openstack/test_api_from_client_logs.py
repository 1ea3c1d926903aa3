"""Keystone and Glance call classification on the real requests the CLIs logged (--debug) on the rig.

These transactions are rebuilt from keystoneauth's debug log (method, URL, headers, JSON bodies, status):
the real traffic, seen from the client. test_api_from_pcap.py runs the same checks on the decoded capture.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from glancetrace.openstack import ServiceMap, classify_http, endpoints_by_service
from glancetrace.openstack.glance_api import GlanceCall
from glancetrace.openstack.keystone import KeystoneCall

from . import rigdata

SCENARIOS = [s for s in rigdata.scenarios() if rigdata.path(s, "client-debug.log")]
_TRUTH_REQ = re.compile(r"^(\w+) (https?://\S+) -> (\d+)$")


def _calls(scenario):
    txs = rigdata.client_transactions(scenario)
    return txs, [classify_http(tx) for tx in txs]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_log_parsing_matches_truth_request_list(scenario):
    truth = rigdata.truth(scenario)
    want = []
    for r in truth["http_requests"]["client_debug_requests"]:
        m = _TRUTH_REQ.match(r)
        if m:
            want.append((m.group(1), m.group(2), int(m.group(3))))
    txs, _ = _calls(scenario)
    got = []
    for tx in txs:
        if "glanceclient-log" in tx.notes:
            continue
        scheme = "https" if tx.tls else "http"
        uri = tx.uri if tx.uri != "/" else ""
        got.append((tx.method, f"{scheme}://{tx.server}{uri}", tx.status))
    # keystoneauth logs "GET http://host:9292" for "GET /": compare with the path the wire had
    norm = lambda rows: Counter((m, u.rstrip("/"), s) for m, u, s in rows)  # noqa: E731
    assert norm(got) == norm(want)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_call_classified(scenario):
    txs, calls = _calls(scenario)
    assert calls
    for tx, c in zip(txs, calls):
        assert c is not None, (tx.method, tx.uri)
        assert c.action != "other", (tx.method, tx.uri, c.summary)
        assert c.summary and (str(tx.status) in c.summary or "→ queued" in c.summary)
        if tx.uri.startswith("/v3"):
            assert isinstance(c, KeystoneCall)
        if tx.uri.startswith("/v2"):
            assert isinstance(c, GlanceCall)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_glance_calls_agree_with_truth(scenario):
    truth = rigdata.truth(scenario)
    images = {i["id"]: i for i in truth["images"]}
    by_name = {i["name"]: i for i in truth["images"]}
    txs, calls = _calls(scenario)
    glance = [c for c in calls if isinstance(c, GlanceCall)]
    actions = Counter(c.action for c in glance)
    assert actions["create"] >= 1
    for c in glance:
        if c.action == "create" and c.ok:
            img = by_name[c.image_name]
            assert c.image_id == img["id"]
            assert c.image.status == "queued"
            assert c.image.disk_format == img["disk_format"]
            assert f"create image '{img['name']}'" in c.summary and "→ queued" in c.summary
        elif c.action == "upload":
            img = images[c.image_id]
            # openstacksdk declares the size it sends; the image's final size is that size
            if c.declared_size is not None:
                assert c.declared_size == img["size"]
        elif c.action == "show" and c.ok:
            assert c.image.id == c.image_id and c.image_id in images
            hist = [h["status"] for h in images[c.image_id]["status_history"]]
            assert c.image.status in hist
            assert c.image.name == images[c.image_id]["name"]
        elif c.action == "update":
            img = images[c.image_id]
            assert c.patch, c.summary
            for op in c.patch:
                key = op.path.lstrip("/")
                assert op.op in ("add", "replace")
                assert img["properties"].get(key) == op.value
            assert c.image.properties.get(c.patch[0].path.lstrip("/")) == c.patch[0].value
        elif c.action == "delete":
            img = images[c.image_id]
            assert img["deleted"] == (c.status == 204)
            if c.status == 403:
                assert img["protected"] is True
        elif c.action in ("deactivate", "reactivate"):
            hist = [h["status"] for h in images[c.image_id]["status_history"]]
            assert ("deactivated" if c.action == "deactivate" else "active") in hist
        elif c.action == "list" and c.ok:
            listed = {i.id for i in c.images}
            live = {i["id"] for i in truth["images"] if not i["deleted"]}
            assert live <= listed
            for i in c.images:
                if i.id in images:
                    assert i.checksum == images[i.id]["checksum"]
                    assert i.os_hash_value == images[i.id]["os_hash_value"]
    # the request counts of each kind match what the truth says was sent
    want = Counter()
    for r in truth["http_requests"]["client_debug_requests"]:
        m = _TRUTH_REQ.match(r)
        if m and "/v2/images" in m.group(2):
            verb = m.group(1)
            tail = m.group(2).split("/v2/images", 1)[1]
            want[(verb, tail.endswith("/file"))] += 1
    got = Counter((c.method, c.action in ("upload", "download")) for c in glance
                  if "/v2/images" in c.path and "glanceclient-log" not in c.tx.notes)
    assert got == want


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_keystone_token_issue_and_catalog(scenario):
    txs, calls = _calls(scenario)
    issues = [c for c in calls if isinstance(c, KeystoneCall) and c.action == "token_issue" and c.user_name]
    assert issues
    for c in issues:
        assert c.auth_methods == ["password"]
        assert c.user_name == "admin" and c.scope == "project" and c.project_name == "admin"
        assert c.expires_at > c.issued_at
        assert "admin" in c.roles
    eps = endpoints_by_service(issues)
    ident = {(i, p) for i, _u, _h, p in eps["identity"]}
    image = {(i, p) for i, _u, _h, p in eps["image"]}
    assert ("internal", 5000) in ident and ("public", 13000) in ident
    assert ("internal", 9292) in image and ("public", 13292) in image
    # the catalog corrects port guesses: a map without defaults learns them
    sm = ServiceMap(ports={})
    assert sm.service("127.0.0.1:13292") is None
    sm.learn(issues)
    assert sm.service("127.0.0.1:13292") == "image" and sm.service("127.0.0.1:5000") == "identity"
    # the image id the service discovered matches the glance version document the client fetched
    vers = [c for c in calls if isinstance(c, GlanceCall) and c.action == "versions"]
    if vers:
        assert all(v.status == 300 and any(x.startswith("v2.") for x in v.versions) for v in vers)
