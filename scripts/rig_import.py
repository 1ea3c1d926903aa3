#!/usr/bin/env python3
"""Rig scenarios for interoperable image import and Keystone token failures (issue 15 items 2 and 3).

  import_methods  glance-direct (PUT .../stage + POST .../import) succeeding; web-download from a local HTTP
                  server answering 200, one answering 404, a port nobody listens on (connection refused) and a
                  port Glance's filtering refuses (400); copy-image of the glance-direct image to a second store.
  import_stalled  web-download from a server that accepts and never answers, and from one that sends the headers
                  and 64 KiB of a promised 1 MiB, then stalls: Glance 33 opens the URL with urllib and no timeout
                  (glance/common/scripts/utils.py open_external_uri), so both imports are still importing when
                  the capture ends 20 s later; the servers then close and Glance fails both (after the capture).
  location_mismatch  the add-location API (POST /v2/images/{id}/locations, an http store enabled) with
                  validation_data: a right sha512 and a wrong one; Glance's location_import task hashes the data it
                  reads from the local web server and fails the wrong one (glance/async_/flows/location_import.py
                  _VerifyValidationData: the only hash check on data Glance fetches in Glance 33).
  token_failures  Keystone's token lifetime set to 150 s: uploads with a token revoked by DELETE
                  /v3/auth/tokens, an expired one (issued in the capture, used after its expires_at) and one
                  Keystone does not know (issued and revoked before the capture), each never validated by
                  Glance before (keystonemiddleware caches a validated token 300 s), so Glance asks Keystone
                  and gets 404 and answers 401.  Then a good upload with a fresh token.

Uses the rig's own driver (../shared/rig/capture.py, imported, not copied); its runtime Glance config in
/tmp/rig/glance/conf is extended (second store, copy-image, import filtering) and Keystone is started with a
copy of the rig's keystone.conf with [token] expiration = 150 (the rig's uWSGI ini reads $(RIG)/keystone.conf).
Run with the rig's venv python from scripts/make_rig_fixtures.sh import.
"""

import hashlib
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

RIG = os.environ.get("RIG") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "rig")
sys.path.insert(0, RIG)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rig_logs  # noqa: E402  (its Capture.stop also writes the glance-api and keystone log slices)

rig = rig_logs.rig  # the rig's own driver (../shared/rig/capture.py): called, not copied

WEB_PORT = 8088  # the local HTTP server web-download fetches from
REFUSED_PORT = 8089  # allowed by Glance's filtering, nobody listens: connection refused
BLOCKED_PORT = 8090  # not in allowed_ports: Glance answers 400 at once
SILENT_PORT = 8091  # accepts and reads the request, never answers
STALL_PORT = 8092  # answers 200 with headers and the start of the body, then stalls
rig.BPF = "(%s%s) and src host 127.0.0.1 and dst host 127.0.0.1" % (  # not other jobs' 127.0.0.2 tests
    rig.BPF, "".join(" or port %d" % p for p in (WEB_PORT, REFUSED_PORT, BLOCKED_PORT, SILENT_PORT, STALL_PORT)))
STALL_LENGTH = 1048576  # the Content-Length the stalling server promises
STALL_SENT = 65536  # what it sends of it
STALL_WAIT = 20  # seconds the capture watches the stalled imports

GLANCE_CONF = os.path.join(rig.RUN, "glance", "conf", "glance-api.conf")
SECOND_STORE = os.path.join(rig.RUN, "glance", "images-fast")
WEB_ROOT = os.path.join(rig.RUN, "import-web")
KS_DIR = os.path.join(rig.RUN, "import-keystone")
TOKEN_LIFE = 150  # > the main token's uses on a loaded rig; keystoneauth renews Glance's own at < 120 s
GLANCE = "http://127.0.0.1:9292"
KEYSTONE = "http://127.0.0.1:5000"



# ------------------------------------------------------------------ configuration
def glance_import_config():
    """Second file store, copy-image, and filtering that lets web-download reach 127.0.0.1:8088/8089."""
    text = open(os.path.join(RIG, "glance-api.conf")).read()
    text = text.replace("enabled_backends = default_backend:file",
                        "enabled_backends = default_backend:file, fast:file")
    text = text.replace("enabled_import_methods = [glance-direct,web-download]",
                        "enabled_import_methods = [glance-direct,web-download,copy-image]")
    text += ("[fast]\nfilesystem_store_datadir = %s\n"
             "[import_filtering_opts]\nallowed_schemes = [http]\nallowed_hosts = [127.0.0.1]\n"
             "allowed_ports = [80,443,%d,%d,%d,%d]\n" % (SECOND_STORE, WEB_PORT, REFUSED_PORT, SILENT_PORT,
                                                         STALL_PORT))
    os.makedirs(SECOND_STORE, exist_ok=True)
    with open(GLANCE_CONF, "w") as f:
        f.write(text)


def keystone_short_tokens(on):
    """Restart Keystone with [token] expiration = TOKEN_LIFE (on) or the rig's own config (off)."""
    if on:
        os.makedirs(KS_DIR, exist_ok=True)
        text = open(os.path.join(RIG, "keystone.conf")).read()
        text = text.replace("[token]\n", "[token]\nexpiration = %d\n" % TOKEN_LIFE)
        with open(os.path.join(KS_DIR, "keystone.conf"), "w") as f:
            f.write(text)
        os.environ["RIG"] = KS_DIR
    else:
        os.environ["RIG"] = RIG
    try:
        rig.restart_uwsgi("keystone", 5000)
    finally:
        os.environ["RIG"] = RIG


class _Quiet(http.server.SimpleHTTPRequestHandler):
    requests = []

    def log_message(self, fmt, *args):
        _Quiet.requests.append({"time": rig.now(), "line": fmt % args})


def start_web_server():
    os.makedirs(WEB_ROOT, exist_ok=True)
    shutil.copy(os.path.join(rig.IMG, "small-b.raw"), os.path.join(WEB_ROOT, "small-b.raw"))
    handler = lambda *a, **kw: _Quiet(*a, directory=WEB_ROOT, **kw)  # noqa: E731
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", WEB_PORT), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


class StallServer:
    """Accepts, reads the request head, then sends `answer` (nothing: never answers) and holds the connection
    until release()."""

    def __init__(self, port, answer=b""):
        self.sock = socket.create_server(("127.0.0.1", port))
        self.answer = answer
        self.conns, self.events = [], []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            head = b""
            while b"\r\n\r\n" not in head:
                got = conn.recv(4096)
                if not got:
                    break
                head += got
            self.events.append({"time": rig.now(), "request": head.split(b"\r\n", 1)[0].decode("latin-1"),
                                "answered_bytes": len(self.answer)})
            if self.answer:
                conn.sendall(self.answer)
            self.conns.append(conn)

    def release(self):
        self.sock.close()
        for c in self.conns:
            c.close()
        return rig.now()


# ------------------------------------------------------------------ client calls
def curl_json(cl, method, url, token, body=None, check=True):
    argv = ["curl", "-sS", "-v", "-X", method, url, "-H", "X-Auth-Token: " + token]
    if body is not None:
        argv += ["-H", "Content-Type: application/json", "-d", json.dumps(body)]
    p = cl.run(argv, check=check)
    try:
        return json.loads(p.stdout) if p.stdout.strip() else {}
    except ValueError:
        return {"raw": p.stdout[:500]}


def issue_token(cl):
    """POST /v3/auth/tokens with curl: (token, expires_at) from the response the capture holds."""
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": "adminpw"}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
    p = cl.run(["curl", "-sS", "-v", "-D", "/dev/stderr", "-X", "POST", KEYSTONE + "/v3/auth/tokens",
                "-H", "Content-Type: application/json", "-d", json.dumps(body)])
    token = [ln.split(":", 1)[1].strip() for ln in p.stderr.splitlines()
             if ln.lower().startswith("x-subject-token:")][0]
    return token, json.loads(p.stdout)["token"]["expires_at"]


def revoke_token(cl, auth, token):
    cl.run(["curl", "-sS", "-v", "-X", "DELETE", KEYSTONE + "/v3/auth/tokens",
            "-H", "X-Auth-Token: " + auth, "-H", "X-Subject-Token: " + token])


def curl_put(cl, token, url, path):
    p = cl.run(["curl", "-sS", "-v", "-H", "Expect:", "-X", "PUT", url, "-H", "X-Auth-Token: " + token,
                "-H", "Content-Type: application/octet-stream", "--data-binary", "@" + path,
                "-w", "\nHTTP %{http_code}"], check=False)
    return p.stdout.strip().rsplit("HTTP ", 1)[-1]


def image_row(iid):
    with rig.db("glance") as c, c.cursor() as cur:
        cur.execute("SELECT status FROM images WHERE id=%s", (iid,))
        status = cur.fetchone()[0]
        cur.execute("SELECT name, value FROM image_properties WHERE image_id=%s AND deleted=0", (iid,))
        return status, dict(cur.fetchall())


def wait_import(iid, done, timeout=40):
    """Poll Glance's database over the unix socket (not captured) until done(status, props)."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        status, props = image_row(iid)
        if done(status, props):
            return status
        time.sleep(0.5)
    return image_row(iid)[0]


def settled(status, props):
    return status == "active" or ("os_glance_failed_import" in props and
                                  not props.get("os_glance_importing_to_stores"))


def tasks_truth(t_start):
    with rig.db("glance") as c, c.cursor(rig.pymysql.cursors.DictCursor) as cur:
        cur.execute("SELECT t.id, t.type, t.status, t.owner, t.created_at, t.updated_at, t.image_id, "
                    "i.input, i.result, i.message FROM tasks t LEFT JOIN task_info i ON i.task_id = t.id "
                    "WHERE t.created_at >= %s ORDER BY t.created_at", (t_start,))
        return cur.fetchall()


# ------------------------------------------------------------------ scenarios
def begin_with_web_server(name):
    """The scenario's client, the local web server, the capture started, and a token: (cl, web, cap, token)."""
    cl = rig.Client(name, False)
    web = start_web_server()
    cap = rig.Capture(name)
    cap.start()
    return cl, web, cap, rig.get_token(cl)


def import_methods():
    name = "import_methods"
    cl, web, cap, token = begin_with_web_server(name)
    ids, notes, results = [], {}, {}

    def create(img):
        iid = rig.curl_create(cl, token, img)
        ids.append(iid)
        return iid

    def do_import(iid, method, **extra):
        return curl_json(cl, "POST", "%s/v2/images/%s/import" % (GLANCE, iid), token,
                         dict({"method": dict({"name": method}, **extra.pop("method_extra", {}))}, **extra),
                         check=False)

    iid = create("direct-ok")
    results["direct-ok stage"] = curl_put(cl, token, "%s/v2/images/%s/stage" % (GLANCE, iid),
                                          os.path.join(rig.IMG, "small-a.raw"))
    do_import(iid, "glance-direct")
    results["direct-ok"] = wait_import(iid, settled)
    notes["direct-ok"] = "PUT .../stage small-a.raw, POST .../import glance-direct"
    direct = iid

    sources = [("web-ok", "http://127.0.0.1:%d/small-b.raw" % WEB_PORT, " (200)"),
               ("web-404", "http://127.0.0.1:%d/missing.raw" % WEB_PORT, ": the server answers 404"),
               ("web-refused", "http://127.0.0.1:%d/small-b.raw" % REFUSED_PORT,
                ": nobody listens (connection refused)"),
               ("web-blocked", "http://127.0.0.1:%d/small-b.raw" % BLOCKED_PORT,
                ": port not in allowed_ports, 400 at the import call")]
    for img, uri, what in sources:
        iid = create(img)
        answer = do_import(iid, "web-download", method_extra={"uri": uri})
        if img == "web-blocked":
            results[img + " import"] = answer
        else:
            results[img] = wait_import(iid, settled)
        notes[img] = "web-download of %s%s" % (uri, what)

    if results["direct-ok"] == "active":
        do_import(direct, "copy-image", stores=["fast"])
        results["direct-ok copy"] = wait_import(
            direct, lambda s, p: "fast" in p.get("stores", "") or "fast" in p.get("os_glance_failed_import", ""))
        notes["direct-ok"] += "; then POST .../import copy-image to store fast"
    time.sleep(2)
    cl.osc("image", "list")
    cap.stop()
    web.shutdown()
    cl.close()
    extra = {"per_image_notes": notes, "results": results, "tasks": tasks_truth(cap.t_start),
             "web_server": {"port": WEB_PORT, "requests": _Quiet.requests},
             "glance_import_config": {"allowed_hosts": ["127.0.0.1"], "allowed_ports": [80, 443, WEB_PORT,
                                                                                       REFUSED_PORT],
                                      "stores": ["default_backend", "fast"]}}
    rig.write_truth(name, "interoperable image import on plain endpoints: glance-direct (stage + import), "
                    "web-download 200 / 404 / connection refused / port not allowed, copy-image to a second "
                    "store", cap, cl, ids, extra)


def import_stalled():
    name = "import_stalled"
    cl = rig.Client(name, False)
    body = open(os.path.join(rig.IMG, "big-40.raw"), "rb").read(STALL_SENT)
    silent = StallServer(SILENT_PORT)
    stalled = StallServer(STALL_PORT, b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                                      b"Content-Length: %d\r\n\r\n" % STALL_LENGTH + body)
    cap = rig.Capture(name)
    cap.start()
    token = rig.get_token(cl)
    ids, notes = [], {}
    for img, port, what in (("web-silent", SILENT_PORT, "the server accepts and never answers"),
                            ("web-stalled", STALL_PORT, "the server sends 200, Content-Length %d and %d bytes, "
                                                        "then stalls" % (STALL_LENGTH, STALL_SENT))):
        iid = rig.curl_create(cl, token, img)
        ids.append(iid)
        uri = "http://127.0.0.1:%d/%s.raw" % (port, img)
        curl_json(cl, "POST", "%s/v2/images/%s/import" % (GLANCE, iid), token,
                  {"method": {"name": "web-download", "uri": uri}}, check=False)
        notes[img] = "web-download of %s: %s" % (uri, what)
    time.sleep(STALL_WAIT)
    at_end = {img: image_row(iid) for img, iid in zip(("web-silent", "web-stalled"), ids)}
    cl.osc("image", "list")
    cap.stop()
    cl.close()
    truth = rig.write_truth(name, "web-download from a server that never answers and from one that stalls "
                            "mid-body (Glance has no timeout: still importing at the capture's end)", cap, cl, ids,
                            {"per_image_notes": notes, "at_capture_end": at_end, "tasks": tasks_truth(cap.t_start),
                             "servers": {"silent": {"port": SILENT_PORT, "requests": silent.events},
                                         "stalled": {"port": STALL_PORT, "requests": stalled.events,
                                                     "content_length": STALL_LENGTH, "sent": STALL_SENT}}})
    # after the capture: the servers close, Glance's reads end, and it fails both imports
    released = {"silent": silent.release(), "stalled": stalled.release()}
    after = {img: wait_import(iid, settled, timeout=30) for img, iid in zip(("web-silent", "web-stalled"), ids)}
    truth["after_capture"] = {"servers_closed": released, "status": after,
                              "properties": {img: image_row(iid)[1] for img, iid in zip(("web-silent",
                                                                                         "web-stalled"), ids)},
                              "tasks": tasks_truth(cap.t_start)}
    with open(os.path.join(rig.OUT, name + ".truth.json"), "w") as f:
        json.dump(truth, f, indent=2, default=str)


LOCKS = "[oslo_concurrency]\nlock_path = %s\n" % os.path.join(rig.RUN, "glance", "locks")


def http_store_config(on):
    """An http store beside the file stores (the add-location API needs one for a user without the service role)."""
    text = open(GLANCE_CONF).read()
    plain = text.replace(", web:http", "").replace(LOCKS, "")
    with open(GLANCE_CONF, "w") as f:  # the location_import task takes a file lock: it needs a lock_path
        f.write(plain.replace("fast:file", "fast:file, web:http") + LOCKS if on else plain)


def wait_task(iid, timeout=60):
    """The last task of an image once it ended (polled over the unix socket: not captured)."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        with rig.db("glance") as c, c.cursor() as cur:
            cur.execute("SELECT status FROM tasks WHERE image_id=%s ORDER BY created_at DESC LIMIT 1", (iid,))
            row = cur.fetchone()
        if row and row[0] in ("success", "failure"):
            return row[0]
        time.sleep(0.5)
    return row and row[0]


def location_mismatch():
    name = "location_mismatch"
    cl, web, cap, token = begin_with_web_server(name)
    data = open(os.path.join(WEB_ROOT, "small-b.raw"), "rb").read()
    right = hashlib.sha512(data).hexdigest()
    wrong = hashlib.sha512(data + b"!").hexdigest()
    uri = "http://127.0.0.1:%d/small-b.raw" % WEB_PORT
    ids, results = [], {}
    for img, value in (("location-ok", right), ("location-mismatch", wrong)):
        iid = rig.curl_create(cl, token, img)
        ids.append(iid)
        results[img + " add"] = curl_json(cl, "POST", "%s/v2/images/%s/locations" % (GLANCE, iid), token,
                                          {"url": uri, "validation_data": {"os_hash_algo": "sha512",
                                                                           "os_hash_value": value}}, check=False)
        results[img + " task"] = wait_task(iid)
        results[img] = image_row(iid)
    time.sleep(2)
    cl.osc("image", "list")
    cap.stop()
    web.shutdown()
    cl.close()
    rig.write_truth(name, "add-location API with validation_data (sha512): a right hash and a wrong one, the data "
                    "read by Glance's http store from a local web server", cap, cl, ids,
                    {"results": results, "tasks": tasks_truth(cap.t_start), "uri": uri,
                     "sha512": {"data": right, "given_wrong": wrong},
                     "web_server": {"port": WEB_PORT, "requests": _Quiet.requests}})


def token_failures():
    name = "token_failures"
    cl = rig.Client(name, False)
    # a token Keystone will not know in the capture: issued and revoked before it starts
    unknown, _ = issue_token(cl)
    revoke_token(cl, unknown, unknown)
    cap = rig.Capture(name)
    cap.start()
    # the token that will expire and the one to revoke first; the main token after them, so it outlives
    # every use of it (image creates take 15 s each on a busy two-core rig)
    expired, expired_exp = issue_token(cl)
    revoked, revoked_exp = issue_token(cl)
    main, main_exp = issue_token(cl)
    ids, notes, results = [], {}, {}
    names = ("revoked-token-upload", "unknown-token-upload", "expired-token-upload")
    for img in names:
        ids.append(rig.curl_create(cl, main, img))
    revoke_token(cl, main, revoked)
    small = os.path.join(rig.IMG, "small-a.raw")
    url = "%s/v2/images/%%s/file" % GLANCE
    results["revoked-token-upload"] = curl_put(cl, revoked, url % ids[0], small)
    results["unknown-token-upload"] = curl_put(cl, unknown, url % ids[1], small)
    expiry = rig.dt.datetime.fromisoformat(expired_exp.replace("Z", "+00:00")).timestamp()
    rig.log("  waiting %.0f s for the token's expires_at %s" % (expiry + 3 - time.time(), expired_exp))
    time.sleep(max(0.0, expiry + 3 - time.time()))  # used 3 s after its expires_at
    results["expired-token-upload"] = curl_put(cl, expired, url % ids[2], small)
    fresh, fresh_exp = issue_token(cl)
    results["expired-token-upload retry"] = curl_put(cl, fresh, url % ids[2], small)
    time.sleep(1)
    cap.stop()
    cl.close()
    notes = {"revoked-token-upload": "PUT .../file with a token revoked by DELETE /v3/auth/tokens before",
             "unknown-token-upload": "PUT .../file with a token issued and revoked before the capture",
             "expired-token-upload": "PUT .../file with a token used after its expires_at (lifetime %d s), "
                                     "then again with a fresh token" % TOKEN_LIFE}
    tokens = {"main": (main, main_exp), "revoked": (revoked, revoked_exp), "expired": (expired, expired_exp),
              "unknown": (unknown, None), "fresh": (fresh, fresh_exp)}
    fp = {}
    for k, (tok, exp) in tokens.items():
        fp[k] = {"sha256_prefix": hashlib.sha256(tok.encode()).hexdigest()[:16], "expires_at": exp}
    rig.write_truth(name, "Keystone token failures on upload (plain endpoints, token lifetime %d s): revoked, "
                    "unknown, expired; then a good upload" % TOKEN_LIFE, cap, cl, ids,
                    {"per_image_notes": notes, "results": results, "tokens": fp, "token_lifetime": TOKEN_LIFE})


def main():
    os.makedirs(rig.OUT, exist_ok=True)
    glance_import_config()
    for n in sys.argv[1:] or ["import_methods", "import_stalled", "token_failures"]:
        rig.log("=== scenario %s" % n)
        rig.cleanup_images()
        if n == "token_failures":
            rig.restart_uwsgi("glance", 9292)
            keystone_short_tokens(True)
            try:
                token_failures()
            finally:
                keystone_short_tokens(False)
        elif n == "import_methods":
            rig.restart_services()
            import_methods()
        elif n == "import_stalled":
            rig.restart_services()
            import_stalled()
        elif n == "location_mismatch":
            http_store_config(True)
            try:
                rig.restart_services()
                location_mismatch()
            finally:
                http_store_config(False)
        else:
            raise SystemExit("unknown scenario " + n)


if __name__ == "__main__":
    main()
