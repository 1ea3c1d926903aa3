"""Glance / Keystone call forms the rig scenarios do not contain (import, stage, name lookup, 401s, tags…).

Bodies and headers follow what Glance 33 / Keystone 30 send (api-ref); the rig's real calls are tested in
test_api_from_client_logs.py and test_api_from_pcap.py.
"""

from __future__ import annotations

import json

from glancetrace.openstack import ServiceMap, classify_http, service_of
from glancetrace.openstack.glance_api import GlanceCall
from glancetrace.openstack.glance_api import classify as glance
from glancetrace.openstack.keystone import KeystoneCall
from glancetrace.openstack.keystone import classify as keystone
from glancetrace.protocols.http.events import BodyInfo, HttpTransaction

ID = "bae9b9bd-ac53-4c1e-bade-9a42b252a050"


def tx(method, uri, status=200, req=None, resp=None, server="10.0.0.5:9292", req_headers=(), resp_headers=(),
       resp_text=None, **kw):
    def body(j, text=None):
        if j is None and text is None:
            return BodyInfo()
        raw = text if text is not None else json.dumps(j).encode()
        return BodyInfo(size=len(raw), wire_size=len(raw), text=raw, json=j,
                        content_type="application/json" if j is not None else "text/html")
    return HttpTransaction(conn_id=1, client="10.0.0.9:40000", server=server, method=method, uri=uri,
                           request_headers=list(req_headers), request_body=body(req), status=status,
                           response_headers=list(resp_headers), response_body=body(resp, resp_text), **kw)


def test_name_lookup_then_filtered_list():
    c = glance(tx("GET", "/v2/images/overcloud-full", 404))
    assert c.action == "lookup" and c.image_name == "overcloud-full" and c.image_id is None and c.ok is False
    assert "look up image 'overcloud-full'" in c.summary and "404" in c.summary
    c = glance(tx("GET", "/v2/images?name=overcloud-full&limit=20&sort_key=name&sort_dir=asc", 200,
                  resp={"images": [{"id": ID, "name": "overcloud-full", "status": "active"}],
                        "next": "/v2/images?marker=" + ID}))
    assert c.action == "list" and c.filters == {"name": "overcloud-full"} and c.limit == 20
    assert c.sort == "name:asc" and c.next_page and [i.id for i in c.images] == [ID]
    assert "[name=overcloud-full]" in c.summary and "more pages" in c.summary


def test_stage_and_import():
    body = BodyInfo(size=1048576, wire_size=1048576, md5="aa" * 16)
    t = tx("PUT", f"/v2/images/{ID}/stage", 204, req_headers=[("Content-Length", "1048576")])
    t.request_body = body
    c = glance(t)
    assert c.action == "stage" and c.upload_bytes == 1048576 and c.upload_complete
    assert c.summary == f"stage 1,048,576 bytes to {ID} → 204"
    c = glance(tx("POST", f"/v2/images/{ID}/import", 202,
                  req={"method": {"name": "web-download", "uri": "http://x/cirros.img"}, "stores": ["ceph"]}))
    assert (c.action, c.import_method, c.import_uri, c.stores) == ("import", "web-download",
                                                                   "http://x/cirros.img", ["ceph"])
    assert "via web-download" in c.summary and "202" in c.summary


def test_truncated_upload_and_prefix_path():
    t = tx("PUT", f"/image/v2/images/{ID}/file", None, req_headers=[("Content-Length", "41943040")],
           truncated=True)
    t.request_body = BodyInfo(size=1310720)
    c = glance(t)
    assert c.action == "upload" and c.declared_size == 41943040 and c.upload_complete is False and c.ok is None
    assert "1,310,720 bytes of 41,943,040 declared" in c.summary and "no response" in c.summary


def test_patch_tags_members_tasks():
    c = glance(tx("PATCH", f"/v2/images/{ID}", 200,
                  req=[{"op": "replace", "path": "/name", "value": "new"}, {"op": "remove", "path": "/kernel_id"}],
                  resp={"id": ID, "name": "new", "status": "active", "hw_architecture": "x86_64",
                        "direct_url": "rbd://fsid/images/" + ID + "/snap"}))
    assert [str(p) for p in c.patch] == ["replace /name=new", "remove /kernel_id"]
    assert c.image.direct_url.startswith("rbd://") and c.image.properties == {"hw_architecture": "x86_64"}
    assert glance(tx("PUT", f"/v2/images/{ID}/tags/tripleo", 204)).action == "tag_add"
    c = glance(tx("DELETE", f"/v2/images/{ID}/tags/tripleo", 204))
    assert c.action == "tag_remove" and c.tag == "tripleo"
    c = glance(tx("POST", f"/v2/images/{ID}/members", 200, req={"member": "proj2"}))
    assert (c.action, c.member) == ("member_add", "proj2")
    c = glance(tx("PUT", f"/v2/images/{ID}/members/proj2", 200, req={"status": "accepted"}))
    assert (c.action, c.member) == ("member_update", "proj2")
    c = glance(tx("GET", "/v2/tasks/7f0e3b9e-0000-4000-8000-000000000001", 200,
                  resp={"id": "7f0e3b9e-0000-4000-8000-000000000001", "status": "success",
                        "result": {"image_id": ID}}))
    assert c.action == "task_show" and c.image_id == ID


def test_keystone_failures_and_validation():
    err = {"error": {"code": 401, "message": "The request you have made requires authentication.",
                     "title": "Unauthorized"}}
    c = keystone(tx("POST", "/v3/auth/tokens", 401, server="10.0.0.5:5000", resp=err,
                    req={"auth": {"identity": {"methods": ["password"], "password": {"user": {
                        "name": "admin", "domain": {"name": "Default"}, "password": "wrong"}}},
                        "scope": {"domain": {"name": "Default"}}}}))
    assert c.action == "token_issue" and c.ok is False and c.scope == "domain" and c.domain_name == "Default"
    assert c.user_name == "admin" and c.error_title == "Unauthorized"
    assert "requires authentication" in c.summary and "wrong" not in c.summary
    c = keystone(tx("GET", "/v3/auth/tokens", 404, server="10.0.0.5:5000",
                    req_headers=[("X-Auth-Token", "svc-token"), ("X-Subject-Token", "user-token")],
                    resp={"error": {"code": 404, "message": "Could not find token: x", "title": "Not Found"}}))
    assert c.action == "token_validate" and c.subject_token != c.auth_token and len(c.subject_token) == 4
    assert "Could not find token" in c.summary and "user-token" not in c.summary
    c = glance(tx("DELETE", f"/v2/images/{ID}", 403, resp_text=b"<html><head><title>403 Forbidden</title>"
                  b"</head><body><h1>403 Forbidden</h1>Image is protected and cannot be deleted.<br /><br />"
                  b"</body></html>"))
    assert c.error_title == "403 Forbidden" and c.error_message == "Image is protected and cannot be deleted."


def test_service_dispatch():
    assert service_of(tx("GET", "/", 300, server="10.0.0.5:13292")) == "image"
    assert service_of(tx("GET", "/", 300, server="10.0.0.5:8080",
                         resp={"versions": {"values": [{"id": "v3.14"}]}})) == "identity"
    assert service_of(tx("GET", "/", 300, server="10.0.0.5:8080",
                         resp={"versions": [{"id": "v2.17"}]})) == "image"
    assert classify_http(tx("GET", "/", 200, server="10.0.0.5:8774")) is None  # nova: not ours
    sm = ServiceMap()
    assert isinstance(classify_http(tx("GET", "/", 300, server="10.0.0.5:5000"), sm), KeystoneCall)
    assert isinstance(classify_http(tx("GET", "/v2/images", 200, server="10.0.0.5:1"), sm), GlanceCall)


def test_garbage_never_raises():
    for t in [tx(None, None, None), tx("GET", "/v2/images", 200, resp=["not", "a", "dict"]),
              tx("PATCH", f"/v2/images/{ID}", 200, req={"op": "x"}, resp="str"),
              tx("POST", "/v3/auth/tokens", 201, server="h:5000", req={"auth": "x"}, resp={"token": [1]}),
              tx("GET", "/v2/images?limit=abc", 200, resp={"images": [None, 3, {"id": 5}]})]:
        c = classify_http(t, ServiceMap())
        assert c is None or c.summary


def test_request_targets_urlsplit_cannot_read_are_still_classified():
    """An HTTP request line can carry any target; a malformed authority must not stop the analysis."""
    from glancetrace.analysis.calls import build_calls
    for uri in ("//[/", "http://[abc/v2/images?limit=5", "/v2/images/%zz?x=[", "/v1/AUTH_p/glance/[::"):
        tx = HttpTransaction(0, "c:1", "s:9292", method="GET", uri=uri, status=200)
        call = build_calls([tx])[0]
        assert call.summary and call.service in ("glance", "swift", "other"), uri


def test_catalog_urls_urlsplit_cannot_read_are_skipped():
    catalog = [{"type": "image", "name": "glance", "endpoints": [
        {"interface": "public", "url": "http://[bad/v2"}, {"interface": "admin", "url": "http://h:99999"},
        {"interface": "internal", "url": "http://10.0.0.5:9292"}]}]
    call = keystone(tx("POST", "/v3/auth/tokens", 201, server="10.0.0.5:5000",
                       req={"auth": {"identity": {"methods": ["password"]}}},
                       resp={"token": {"methods": ["password"], "catalog": catalog}},
                       resp_headers=[("X-Subject-Token", "gAAAA")]))
    assert [(e.interface, e.host, e.port) for e in call.catalog] == [("internal", "10.0.0.5", 9292)]
