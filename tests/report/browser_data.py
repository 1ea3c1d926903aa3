"""Analysis dicts for the HTML report tests and benchmark.

`small_analysis()` is hand-written: two images (one uploaded fine, one killed by a
failed upload), Keystone tokens, a TLS session, findings, and hostile strings where
packets could put them.  `synthetic_analysis()` scales the same shapes up to thousands
of calls and tens of thousands of statements for the load-time check.
"""

from __future__ import annotations

import random

T0 = 1795739225.955633  # 2026-11-27T00:27:05.955633Z, the plain_overcloud rig's first packet
HOSTILE_URI = "/v2/images?name=</script><script>alert(1)</script><!--"
HOSTILE_NAME = '<img src=x onerror=alert(2)>"\'&amp;'


class _Builder:
    def __init__(self):
        self.calls, self.sql, self.tokens, self.findings = [], [], [], []
        self.frame = 100

    def frames(self, n):
        a = self.frame
        self.frame += n
        return [a, a + n - 1]

    def call(self, t, service, kind, method, uri, status, latency, image_id=None, body=0, resp_body=200,
             client="127.0.0.1:40000", server="127.0.0.1:9292", incomplete=False, tls=False, **extra):
        cid = f"c{len(self.calls) + 1}"
        req_f, resp_f = self.frames(3), self.frames(2)
        c = {
            "id": cid, "service": service, "kind": kind, "summary": f"{kind} {image_id or ''}".strip(),
            "method": method, "uri": uri, "status": status, "reason": {200: "OK", 201: "Created", 204: "No Content",
                                                                       500: "Internal Server Error"}.get(status),
            "client": client, "server": server, "conn_id": f"tcp{len(self.calls) % 7}", "tls": tls,
            "encrypted_only": False, "request_time": t, "request_end": t + latency * 0.4,
            "response_time": None if incomplete else t + latency, "response_end": None if incomplete else t + latency + 0.001,
            "latency": None if incomplete else latency, "request_body_size": body, "response_body_size": resp_body,
            "request_digests": {"md5": "e7a1eabbcc1eb22876553caee03a477d", "sha256": "ab" * 32, "sha512": "cd" * 64} if body else None,
            "image_id": image_id, "frames": {"request": req_f, "response": resp_f},
            "wireshark_filter": f"tcp.stream eq {len(self.calls) % 7} && frame.number >= {req_f[0]} && frame.number <= {resp_f[1]}",
            "incomplete": incomplete, "gap": False, "sql": [],
            "request_headers": [["Host", server], ["User-Agent", "openstacksdk/4.0"], ["X-Auth-Token", "gAAAA…"]],
            "response_headers": [["Content-Type", "application/json"]],
            "request_json": None, "response_json": {"id": image_id, "status": "queued"} if image_id else None,
        }
        c.update(extra)
        self.calls.append(c)
        return c

    def stmt(self, call, t, sql, latency=0.0004, image_id=None, table="images", operation="SELECT", rows=1,
             status_change=None, error=None):
        sid = f"s{len(self.sql) + 1}"
        req_f, resp_f = self.frames(1), self.frames(1)
        s = {
            "id": sid, "conn_id": "mysql1", "client": "127.0.0.1:50000", "server": "127.0.0.1:3306", "command": "COM_QUERY",
            "sql": sql, "request_time": t, "response_time": t + latency, "latency": latency,
            "result": "error" if error else ("ok" if operation != "SELECT" else "resultset"),
            "affected_rows": rows if operation != "SELECT" else None, "rows": rows if operation == "SELECT" else None,
            "error_code": error[0] if error else None, "error_message": error[1] if error else None,
            "frames": {"request": req_f, "response": resp_f}, "call_id": call["id"] if call else None,
            "image_id": image_id, "table": table, "operation": operation, "status_change": status_change,
            "wireshark_filter": f"mysql && frame.number in {{{req_f[0]} {resp_f[0]}}}", "incomplete": False, "gap": False,
        }
        self.sql.append(s)
        if call is not None:
            call["sql"].append(sid)
        return s


def _image_upload(b: _Builder, t: float, image_id: str, name: str, fail: bool = False, size: int = 629145):
    """create → upload (→ 500 and killed when fail) → patch; returns the image dict."""
    tok = b.call(t, "keystone", "token-issue", "POST", "/v3/auth/tokens", 201, 0.120, server="127.0.0.1:5000",
                 body=0, resp_body=4100)
    b.tokens.append({"time": t, "kind": "issue", "user": "admin", "project": "admin", "result": "ok", "status": 201,
                     "expires": t + 3600, "call_id": tok["id"]})
    t += 0.2
    create = b.call(t, "glance", "image-create", "POST", "/v2/images", 201, 0.060, image_id=image_id, body=180)
    create["request_json"] = {"name": name, "disk_format": "qcow2", "container_format": "bare"}
    val = b.call(t + 0.005, "keystone", "token-validate", "GET", "/v3/auth/tokens", 200, 0.020,
                 client="127.0.0.1:41000", server="127.0.0.1:5000")
    b.tokens.append({"time": t + 0.005, "kind": "validate", "user": "admin", "project": "admin", "result": "ok",
                     "status": 200, "expires": t + 3600, "call_id": val["id"]})
    b.stmt(create, t + 0.030, f"SELECT images.id FROM images WHERE images.id = '{image_id}'", image_id=image_id, rows=0)
    ins = b.stmt(create, t + 0.040, f"INSERT INTO images (id, name, status) VALUES ('{image_id}', '{name}', 'queued')",
                 image_id=image_id, operation="INSERT", status_change={"from": None, "to": "queued", "ok": True})
    transitions = [{"status": "queued", "time": t + 0.040, "source": "sql", "sql_id": ins["id"], "call_id": create["id"],
                    "frames": ins["frames"]["request"][:1], "failed": False, "previous": None}]
    t += 0.3
    up = b.call(t, "glance", "image-upload", "PUT", f"/v2/images/{image_id}/file", 500 if fail else 204,
                1.9 if fail else 1.2, image_id=image_id, body=size, resp_body=0)
    sav = b.stmt(up, t + 0.010, f"UPDATE images SET status='saving' WHERE images.id = '{image_id}' AND images.status = 'queued'",
                 image_id=image_id, operation="UPDATE", status_change={"from": "queued", "to": "saving", "ok": True})
    transitions.append({"status": "saving", "time": t + 0.010, "source": "sql", "sql_id": sav["id"], "call_id": up["id"],
                        "frames": sav["frames"]["request"][:1], "failed": False, "previous": "queued"})
    for k in range(4):
        b.stmt(up, t + 0.1 + k * 0.2, f"SELECT image_locations.id FROM image_locations WHERE image_id = '{image_id}'",
               image_id=image_id, table="image_locations", rows=k)
    end_status = "killed" if fail else "active"
    if fail:
        err = b.stmt(up, t + 1.80, f"UPDATE images SET status='active' WHERE images.id = '{image_id}' AND images.status = 'saving'",
                     image_id=image_id, operation="UPDATE", rows=0, error=(1205, "Lock wait timeout exceeded; try restarting transaction"),
                     status_change={"from": "saving", "to": "active", "ok": False})
        transitions.append({"status": "active", "time": t + 1.80, "source": "sql", "sql_id": err["id"], "call_id": up["id"],
                            "frames": err["frames"]["request"][:1], "failed": True, "previous": "saving"})
        kill = b.stmt(up, t + 1.85, f"UPDATE images SET status='killed' WHERE images.id = '{image_id}'", image_id=image_id,
                      operation="UPDATE", status_change={"from": "saving", "to": "killed", "ok": True})
        transitions.append({"status": "killed", "time": t + 1.85, "source": "sql", "sql_id": kill["id"], "call_id": up["id"],
                            "frames": kill["frames"]["request"][:1], "failed": False, "previous": "saving"})
        b.findings.append({"id": f"f{len(b.findings) + 1}", "severity": "error", "code": "upload-failed",
                           "message": f"Upload of {name} failed with HTTP 500; the image went to killed",
                           "image_id": image_id, "call_id": up["id"], "sql_id": err["id"],
                           "frames": [up["frames"]["response"][0], err["frames"]["request"][0]],
                           "wireshark_filter": f"frame.number in {{{up['frames']['response'][0]} {err['frames']['request'][0]}}}"})
        states_end = t + 1.85
    else:
        act = b.stmt(up, t + 1.15, f"UPDATE images SET status='active', checksum='e7a1' WHERE images.id = '{image_id}' AND images.status = 'saving'",
                     image_id=image_id, operation="UPDATE", status_change={"from": "saving", "to": "active", "ok": True})
        transitions.append({"status": "active", "time": t + 1.15, "source": "sql", "sql_id": act["id"], "call_id": up["id"],
                            "frames": act["frames"]["request"][:1], "failed": False, "previous": "saving"})
        states_end = t + 1.15
    t += 2.2
    patch = b.call(t, "glance", "image-update", "PATCH", f"/v2/images/{image_id}", 200, 0.08, image_id=image_id, body=60)
    b.stmt(patch, t + 0.02, f"UPDATE image_properties SET value='x86_64' WHERE image_id = '{image_id}'", image_id=image_id,
           table="image_properties", operation="UPDATE")
    states = [
        {"status": "queued", "start": transitions[0]["time"], "end": transitions[1]["time"],
         "seconds": transitions[1]["time"] - transitions[0]["time"]},
        {"status": "saving", "start": transitions[1]["time"], "end": states_end, "seconds": states_end - transitions[1]["time"]},
        {"status": end_status, "start": states_end, "end": None, "seconds": None},
    ]
    mine = [c["id"] for c in b.calls if c.get("image_id") == image_id]
    return {"id": image_id, "name": name, "final_status": end_status, "size": None if fail else size,
            "checksum": None if fail else "e7a1eabbcc1eb22876553caee03a477d", "os_hash_algo": "sha512",
            "os_hash_value": None if fail else "13bb" * 32, "disk_format": "qcow2", "container_format": "bare",
            "transitions": transitions, "states": states, "calls": mine,
            "findings": [f["id"] for f in b.findings if f.get("image_id") == image_id]}


def _wrap(b: _Builder, images: list, last: float, tls: list | None = None, extra_findings: list | None = None) -> dict:
    findings = b.findings + list(extra_findings or [])
    sev: dict = {}
    for f in findings:
        sev[f["severity"]] = sev.get(f["severity"], 0) + 1
    lat = sorted(s["latency"] for s in b.sql)
    return {
        "tool": {"name": "glancetrace", "version": "0.1.0",
                 "command": "glancetrace report plain_overcloud.pcap --keylog keys.txt -o report.html"},
        "captures": [{"path": "/data/plain_overcloud.pcap", "size": 9010454, "format": "pcap", "compressed": False,
                      "packets": 23167, "first_ts": T0, "last_ts": last, "link_types": ["EN10MB"], "truncated": False,
                      "warnings": ["3 frames shorter than their IP length"]}],
        "summary": {"packets": 23167, "tcp_segments": 23100, "skipped": {"non-tcp": 40, "bad checksum": 2},
                    "connections": 64, "decrypted_connections": 1, "encrypted_connections": 1,
                    "gaps": {"count": 1, "bytes": 1448}, "warnings": ["1 gap of 1448 bytes in tcp7 (server → client)"],
                    "first_ts": T0, "last_ts": last, "images": len(images), "calls": len(b.calls),
                    "statements": len(b.sql), "findings_by_severity": sev},
        "images": images, "calls": b.calls, "sql": b.sql,
        "sql_digest": [{"fingerprint": "SELECT images.id FROM images WHERE images.id = ?", "count": len(b.sql),
                        "total_latency": sum(lat), "mean_latency": sum(lat) / max(len(lat), 1),
                        "p95_latency": lat[int(len(lat) * 0.95) - 1] if lat else None,
                        "max_latency": lat[-1] if lat else None, "errors": sum(1 for s in b.sql if s["error_code"])}],
        "tokens": b.tokens,
        "tls_sessions": tls if tls is not None else [
            {"conn_id": "tcp9", "client": "127.0.0.1:43000", "server": "127.0.0.1:13292", "sni": "overcloud.example",
             "version": "TLS 1.3", "cipher": "TLS_AES_256_GCM_SHA384", "decrypted": True, "why_not": None, "bytes_up": 10_000,
             "bytes_down": 2_000, "start": T0 + 1, "end": T0 + 2, "frames": [10, 40]},
            {"conn_id": "tcp10", "client": "127.0.0.1:43002", "server": "127.0.0.1:13000", "sni": None, "version": "TLS 1.2",
             "cipher": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "decrypted": False, "why_not": "no key for client random",
             "bytes_up": 500, "bytes_down": 4000, "start": T0 + 3, "end": T0 + 3.5, "frames": [50, 61]}],
        "findings": findings,
    }


def small_analysis() -> dict:
    b = _Builder()
    good = _image_upload(b, T0 + 4.0, "8c725400-5da1-4638-b1b0-a46cc1043269", "overcloud-full-vmlinuz")
    bad = _image_upload(b, T0 + 9.0, "0f3c1d5e-7b2a-4c61-9e0a-5d2b8e6f4a10", HOSTILE_NAME, fail=True)
    hostile = b.call(T0 + 14.0, "glance", "image-list", "GET", HOSTILE_URI, 200, 0.03, resp_body=900,
                     summary="list images </script><b>x</b>")
    b.stmt(hostile, T0 + 14.01, "SELECT * FROM images WHERE name = '</script><script>alert(3)</script>'", rows=0)
    warn = {"id": f"f{len(b.findings) + 1}", "severity": "warning", "code": "slow-sql",
            "message": "SELECT on image_locations took 0.4 ms </script><script>alert(4)</script>",
            "image_id": good["id"], "call_id": good["calls"][1], "sql_id": None, "frames": [120, 121],
            "wireshark_filter": "frame.number in {120 121}"}
    info = {"id": f"f{len(b.findings) + 2}", "severity": "info", "code": "tls-undecrypted",
            "message": "1 TLS connection could not be decrypted (no key for client random)", "image_id": None,
            "call_id": None, "sql_id": None, "frames": [50, 61], "wireshark_filter": None}
    good["findings"].append(warn["id"])
    # findings deliberately out of severity order: the report must sort them
    return _wrap(b, [good, bad], T0 + 16.0, extra_findings=[info, warn])


def synthetic_analysis(n_images: int = 40, n_calls: int = 5000, n_sql: int = 30000, seed: int = 7) -> dict:
    """A big capture's analysis: n_calls HTTP calls and n_sql statements spread over n_images images."""
    rnd = random.Random(seed)
    b = _Builder()
    images = []
    t = T0 + 1
    for i in range(n_images):
        images.append(_image_upload(b, t, f"{i:08x}-0000-4000-8000-{rnd.getrandbits(48):012x}", f"image-{i}",
                                    fail=(i % 9 == 4)))
        t += 5
    img_ids = [im["id"] for im in images]
    by_id = {im["id"]: im for im in images}
    # bulk traffic: image lists, member checks, GETs with their SQL, spread across the images' windows
    while len(b.calls) < n_calls:
        k = rnd.randrange(n_images)
        iid = img_ids[k]
        ct = T0 + 1 + k * 5 + rnd.random() * 4.5
        c = b.call(ct, "glance", "image-show", "GET", f"/v2/images/{iid}", rnd.choice([200, 200, 200, 404]),
                   rnd.uniform(0.005, 0.2), image_id=iid, resp_body=rnd.randrange(500, 3000))
        by_id[iid]["calls"].append(c["id"])
    per_call = max(1, (n_sql - len(b.sql)) // max(1, len(b.calls)))
    ci = 0
    while len(b.sql) < n_sql:
        c = b.calls[ci % len(b.calls)]
        ci += 1
        base = c["request_time"]
        for j in range(per_call):
            if len(b.sql) >= n_sql:
                break
            b.stmt(c, base + 0.001 * (j + 1), f"SELECT images.id, images.name, images.status FROM images WHERE images.id = '{c['image_id']}' /* {j} */",
                   image_id=c["image_id"], rows=rnd.randrange(0, 3), latency=rnd.uniform(0.0001, 0.004))
    return _wrap(b, images, t + 5)


_REAL: dict = {}


def real_analysis(scenario: str = "failures") -> dict:
    """A committed rig capture (tests/fixtures/rig/<scenario>) through the real pipeline and analysis, once per run."""
    if scenario not in _REAL:
        from glancetrace.analysis.analyze import AnalysisOptions, analyze
        from glancetrace.pipeline import decode
        from tests.conftest import FIXTURES

        pcap = FIXTURES / "rig" / scenario / "capture.pcap"
        _REAL[scenario] = analyze(decode(str(pcap)), AnalysisOptions(command=f"glancetrace report {pcap}")).to_dict()
    return _REAL[scenario]
