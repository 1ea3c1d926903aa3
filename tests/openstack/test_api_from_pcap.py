"""Keystone / Glance classification of every HTTP transaction decoded from the rig's real captures."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from glancetrace.openstack import ServiceMap, classify_http, endpoints_by_service
from glancetrace.openstack.glance_api import GlanceCall
from glancetrace.openstack.keystone import KeystoneCall
from glancetrace.openstack.redact import fingerprint

from . import rigdata

from glancetrace import pipeline
from glancetrace.protocols.http.events import HttpTransaction

SCENARIOS = [s for s in rigdata.scenarios() if rigdata.path(s, "pcap")]

_cache: dict[str, list] = {}


def _decoded(scenario):
    if scenario not in _cache:
        keys = rigdata.path(scenario, "capture.keys") or rigdata.path(scenario, "keys")
        kw = {"keylog": [str(keys)]} if keys else {}
        res = pipeline.decode(str(rigdata.path(scenario, "pcap")), want_mysql=False, **kw)
        txs = res.of_type(HttpTransaction)
        _cache[scenario] = [(tx, classify_http(tx)) for tx in txs]
    return _cache[scenario]


def _port(tx):
    return int(tx.server.rsplit(":", 1)[1])


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_transaction_classified_and_counted(scenario):
    truth = rigdata.truth(scenario)
    pairs = _decoded(scenario)
    assert pairs
    plain = Counter()
    tls = Counter()
    for tx, c in pairs:
        assert c is not None, (tx.server, tx.method, tx.uri)
        assert c.action != "other", c.summary
        if tx.tls:
            tls[f"{_port(tx)} {tx.status}"] += 1
        else:
            plain[(str(_port(tx)), f"{tx.method} {tx.status}")] += 1
    want = Counter()
    for port, info in truth["http_requests"]["server_logs_by_port"].items():
        for k, n in (info.get("by_method_status") or {}).items():
            want[(port, k)] = n
    assert plain == want
    assert tls == Counter(truth["http_requests"]["server_logs_by_port"].get("haproxy_by_port_status", {}))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_uploads_match_the_stored_images(scenario):
    truth = rigdata.truth(scenario)
    images = {i["id"]: i for i in truth["images"]}
    uploads = [c for _tx, c in _decoded(scenario) if isinstance(c, GlanceCall) and c.action == "upload"]
    assert uploads
    for c in uploads:
        img = images[c.image_id]
        if c.status == 204:
            assert c.upload_complete and c.upload_bytes == img["size"]
            assert c.upload_md5 == img["checksum"]
            if c.upload_sha512:
                assert img["os_hash_algo"] == "sha512" and c.upload_sha512 == img["os_hash_value"]
            assert f"upload {img['size']:,} bytes to {img['id']} → 204" in c.summary
        else:  # killed client: the image went back to queued
            assert c.ok is False and img["status"] == "queued"
            assert c.upload_complete is False and "(incomplete)" in c.summary


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_image_facts_from_bodies(scenario):
    truth = rigdata.truth(scenario)
    images = {i["id"]: i for i in truth["images"]}
    seen = set()
    for _tx, c in _decoded(scenario):
        if not isinstance(c, GlanceCall):
            continue
        if c.action == "create" and c.ok:
            assert images[c.image_id]["name"] == c.image_name and c.image.status == "queued"
            seen.add(c.image_id)
        if c.action == "show" and c.ok and c.image.status == "active":
            img = images[c.image_id]
            assert (c.image.size, c.image.checksum, c.image.os_hash_value) == (
                img["size"], img["checksum"], img["os_hash_value"])
        if c.action == "delete" and c.status == 403:
            assert images[c.image_id]["protected"] and "protected" in c.error_message
        if c.action == "update":
            assert all(images[c.image_id]["properties"][p.path.lstrip("/")] == p.value for p in c.patch)
    assert seen == set(images)  # every image's create call was seen


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_tokens_issued_validated_and_used(scenario):
    pairs = _decoded(scenario)
    ks = [c for _tx, c in pairs if isinstance(c, KeystoneCall)]
    issued = {c.subject_token for c in ks if c.action == "token_issue" and c.ok}
    validated = [c for c in ks if c.action == "token_validate"]
    assert issued and validated
    for v in validated:
        # keystonemiddleware in Glance validates the client's token with its own service token
        assert v.subject_token in issued and v.auth_token and v.subject_token != v.auth_token
        assert v.ok and v.user_name
    assert "admin" in {c.user_name for c in ks if c.action == "token_issue"}
    # a token Glance's service user got is what it authenticates its validations with
    service_tokens = {c.subject_token for c in ks if c.action == "token_issue" and c.user_name == "glance"}
    assert service_tokens <= {v.auth_token for v in validated}
    # the tokens clients sent to Glance are the ones keystoneauth logged as {SHA256}<hex>
    logged = set()
    with rigdata.open_text(rigdata.path(scenario, "client-debug.log")) as f:
        for m in re.finditer(r"X-Auth-Token: \{SHA256\}([0-9a-f]{64})", f.read()):
            logged.add(m.group(1)[:4])
    sent = {fingerprint(tx.header("x-auth-token")) for tx, c in pairs
            if isinstance(c, GlanceCall) and tx.header("x-auth-token")
            and not (tx.header("user-agent") or "").startswith("curl")}
    assert logged and logged == sent
    # the catalog in the capture tells where each service listens
    eps = endpoints_by_service(ks)
    assert {p for _i, _u, _h, p in eps["image"]} == {9292, 13292}
    sm = ServiceMap(ports={})
    sm.learn(ks)
    assert all(classify_http(tx, sm) is not None for tx, _c in pairs)
