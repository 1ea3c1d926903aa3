#!/usr/bin/env python3
"""Stage on the rig (../shared/rig/capture.py) the failures whose cause the report must name (issue 15: 1, 4, 5):

  killed_mysql      a glance-api MySQL connection killed while its INSERT waits for a table lock (create -> 500)
  size_cap          an upload larger than image_size_cap (413 "The incoming image is too large")
  storage_quota     an upload over user_storage_quota (413 "Image exceeds the storage quota")
  store_full_plain  an upload into a full store on plain 9292 (413 "Image storage media is full")
  upload_ends       uploads ended by each side: curl SIGKILLed (FIN), a client resetting (SO_LINGER 0), the
                    glance worker stopped (SIGSTOP: zero window) and resumed, a client timing out while the
                    worker is stopped, the glance worker killed (server reset)
  proxy_timeout     a haproxy in front of 9292 (plain, port 8292, timeout server 3s) answering 504 while the
                    glance worker is stopped
  count_quota       unified limits (Keystone registered limits, [oslo_limit]): a create over image_count_total
                    (413 with oslo.limit's message)
  slow_store        a store that is slow but keeps going: every write(2) of the glance worker delayed 150 ms
                    (strace fault injection; the file store writes 64 KiB chunks) for a whole unthrottled upload

Run with the rig's venv python from scripts/make_rig_fixtures.sh causes.  Uses the rig's driver (imported, not
copied) and rig_logs.py's log slices.
"""

import json
import os
import socket
import struct
import subprocess
import sys
import time

import rig_logs  # noqa: F401  (also writes the glance-api/keystone log slices)
from rig_logs import osc_upload, rig

CONF = os.path.join(rig.RUN, "glance", "conf", "glance-api.conf")
STORE = os.path.join(rig.RUN, "glance", "images")
PROXY_PORT = 8292
# the rig's traffic only: other jobs' loopback tests use 127.0.0.2 and other 127/8 addresses on the same ports
ONLY_RIG = "src host 127.0.0.1 and dst host 127.0.0.1"


# ------------------------------------------------------------------ helpers
def glance_conf(extra_default, extra_sections=""):
    """Rewrite the running Glance's config with options added to [DEFAULT] (and whole sections appended);
    returns the original text."""
    text = open(CONF).read()
    with open(CONF, "w") as f:
        f.write(text.replace("[DEFAULT]\n", "[DEFAULT]\n" + extra_default + "\n", 1) + extra_sections)
    return text


def restore_conf(text):
    with open(CONF, "w") as f:
        f.write(text)
    rig.restart_uwsgi("glance", 9292)


def image_ids_named(*names):
    with rig.db("glance") as c, c.cursor() as cur:
        cur.execute("SELECT id FROM images WHERE name IN (%s) ORDER BY created_at" % ",".join(["%s"] * len(names)),
                    list(names))
        return [r[0] for r in cur.fetchall()]


def worker_of(local_port, peer_port):
    """pid of the process owning the TCP socket local_port <-> peer_port (ss -tnp)."""
    out = subprocess.run(["ss", "-tnpH", "state", "established"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 5:
            continue
        local, peer = parts[2], parts[3]
        if local.endswith(":%d" % local_port) and peer.endswith(":%d" % peer_port) and "pid=" in line:
            return int(line.split("pid=")[1].split(",")[0])
    return None


def local_port_towards(pid_name, remote_port):
    out = subprocess.run(["ss", "-tnpH", "state", "established"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[3].endswith(":%d" % remote_port) and pid_name in line:
            return int(parts[2].rsplit(":", 1)[1])
    return None


class RawPut:
    """A paced PUT .../file with Content-Length over a plain socket: the test needs the socket itself (its
    port, to find the glance worker; SO_LINGER 0 to reset; a send timeout)."""

    def __init__(self, token, image_id, data, port=9292, timeout=None):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.settimeout(timeout)
        self.port = self.sock.getsockname()[1]
        self.data = data
        self.sent = 0
        head = ("PUT /v2/images/%s/file HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX-Auth-Token: %s\r\n"
                "Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n"
                % (image_id, port, token, len(data)))
        self.sock.sendall(head.encode())

    def send_for(self, seconds, bytes_per_s, until=None):
        """Send paced chunks for `seconds` (or until `until` bytes); returns False on a send timeout/error."""
        chunk = max(1024, bytes_per_s // 20)
        end = time.time() + seconds
        limit = len(self.data) if until is None else min(until, len(self.data))
        while self.sent < limit and time.time() < end:
            piece = self.data[self.sent:min(self.sent + chunk, limit)]
            try:
                self.sock.sendall(piece)
            except OSError as e:
                rig.log("  send stopped after %d bytes: %r" % (self.sent, e))
                return False
            self.sent += len(piece)
            time.sleep(0.05)
        return True

    def response(self, timeout=30):
        self.sock.settimeout(timeout)
        buf = b""
        try:
            while True:
                got = self.sock.recv(65536)
                if not got:
                    break
                buf += got
                if b"\r\n\r\n" in buf and (b"Content-Length: 0" in buf or buf.count(b"\r\n\r\n") and
                                           len(buf.split(b"\r\n\r\n", 1)[1]) > 0):
                    break
        except OSError as e:
            rig.log("  no full response: %r" % e)
        return buf.decode("latin-1")

    def reset(self):
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self):
        self.sock.close()


def run_scenario(name, body, desc):
    rig.log("=== scenario %s" % name)
    rig.cleanup_images()
    rig.restart_services()
    cl = rig.Client(name, False)
    cap = rig.Capture(name)
    cap.start()
    try:
        ids, extra = body(cl)
    finally:
        cap.stop()
        cl.close()
    rig.write_truth(name, desc, cap, cl, ids, extra)


def record(cl, what, t0, note):
    cl._record([what], None, "", "", t0, rig.now(), note)
    rig.log("  %s: %s" % (what, note))


# ---------------------------------------------------------------- scenarios
def killed_mysql(cl):
    """LOCK TABLES images WRITE (root, over the socket: not captured) makes Glance's INSERT wait; KILL its
    connection; UNLOCK. Then a create that works (Glance reconnects with a new handshake)."""
    token = rig.get_token(cl)
    locker = rig.db("glance")
    lock_cur = locker.cursor()
    lock_cur.execute("LOCK TABLES images WRITE")
    body = json.dumps({"name": "killed-insert", "disk_format": "raw", "container_format": "bare"})
    p = cl.popen(["curl", "-sS", "-v", "-X", "POST", "http://127.0.0.1:9292/v2/images", "-H", "X-Auth-Token: " + token,
                  "-H", "Content-Type: application/json", "-d", body])
    waiting = None
    with rig.db() as root, root.cursor() as cur:
        for _ in range(1200):  # Glance validates the token with Keystone first: that alone can take 10 s here
            cur.execute("SELECT id, state, info FROM information_schema.processlist WHERE user='glance' "
                        "AND info IS NOT NULL AND state LIKE 'Waiting%%'")
            waiting = cur.fetchone()
            if waiting:
                break
            time.sleep(0.1)
        time.sleep(1.0)
        kill_time = rig.now()
        if waiting:
            cur.execute("KILL CONNECTION %d" % waiting[0])
    time.sleep(0.5)
    lock_cur.execute("UNLOCK TABLES")
    locker.close()
    out = cl.finish(p, note="glance's MySQL connection %s killed at %s" % (waiting and waiting[0], kill_time))
    time.sleep(1.0)
    good = rig.curl_create(cl, token, "after-reconnect")
    ids = image_ids_named("killed-insert") + [good]
    extra = {"killed": {"thread_id": waiting and waiting[0], "state": waiting and waiting[1],
                        "statement": waiting and waiting[2], "kill_time": kill_time,
                        "create_response": out[-400:], "killed_insert_in_db": bool(image_ids_named("killed-insert"))}}
    return ids, extra


def size_cap(cl):
    token = rig.get_token(cl)
    iid = rig.curl_create(cl, token, "over-size-cap")
    p = cl.run(["curl", "-sS", "-v", "-H", "Expect:", "-X", "PUT", "http://127.0.0.1:9292/v2/images/%s/file" % iid,
                "-H", "X-Auth-Token: " + token, "-H", "Content-Type: application/octet-stream",
                "--data-binary", "@" + os.path.join(rig.IMG, "conc-a.raw")], check=False)
    return [iid], {"image_size_cap": SIZE_CAP, "uploaded_bytes": os.path.getsize(os.path.join(rig.IMG, "conc-a.raw")),
                   "response": p.stdout[-400:]}


def storage_quota(cl):
    ids = []
    ids.append(json.loads(osc_upload(cl, "small-a.raw", "within-quota").stdout)["id"])
    p = osc_upload(cl, "small-c.raw", "over-quota", check=False)
    ids += image_ids_named("over-quota")
    return ids, {"user_storage_quota": QUOTA, "over_quota_rc": p.returncode,
                 "uploaded_bytes": {"within-quota": os.path.getsize(os.path.join(rig.IMG, "small-a.raw")),
                                    "over-quota": os.path.getsize(os.path.join(rig.IMG, "small-c.raw"))}}


def store_full_plain(cl):
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", STORE], check=True)
    try:
        p = osc_upload(cl, "big-40.raw", "store-full-plain", check=False)
        time.sleep(1)
    finally:
        subprocess.run(["umount", STORE], check=False)
    return image_ids_named("store-full-plain"), {
        "store_bytes": 1048576, "uploaded_bytes": os.path.getsize(os.path.join(rig.IMG, "big-40.raw")),
        "rc": p.returncode}


def stopped_upload(cl, token, name, data, rate, ids, timeout=None, first=1.0):
    """Create `name`, send `first` s of its body, then SIGSTOP the glance worker reading it:
    (put, pid, t0, stop time)."""
    iid = rig.curl_create(cl, token, name)
    ids.append(iid)
    t0 = rig.now()
    put = RawPut(token, iid, data, timeout=timeout)
    put.send_for(first, rate)
    pid = worker_of(9292, put.port)
    os.kill(pid, 19)  # SIGSTOP
    return put, pid, t0, rig.now()


def upload_ends(cl):
    token = rig.get_token(cl)
    big = open(os.path.join(rig.IMG, "big-40.raw"), "rb").read()
    rate = int(400 * 1024 * rig.SCALE * 10)  # 400 KiB/s at RIG_SCALE=0.1
    notes = {}
    ids = []
    # (a) curl killed mid-body: its kernel closes with FIN
    iid = rig.curl_create(cl, token, "curl-killed")
    ids.append(iid)
    up = cl.popen(["curl", "-sS", "-v", "--limit-rate", "%dK" % (rate // 1024), "-H", "Expect:", "-X", "PUT",
                   "http://127.0.0.1:9292/v2/images/%s/file" % iid, "-H", "X-Auth-Token: " + token,
                   "-H", "Content-Type: application/octet-stream",
                   "--data-binary", "@" + os.path.join(rig.IMG, "big-40.raw")])
    time.sleep(2.0)
    t = rig.now()
    up.kill()
    cl.finish(up, note="SIGKILLed by rig at %s" % t)
    notes["curl-killed"] = {"end": "client_closed", "kill_time": t}
    time.sleep(3.0)
    # (b) a client resetting (SO_LINGER 0) mid-body
    iid = rig.curl_create(cl, token, "client-reset")
    ids.append(iid)
    t0 = rig.now()
    put = RawPut(token, iid, big)
    put.send_for(2.0, rate)
    t = rig.now()
    put.reset()
    record(cl, "rawput client-reset", t0, "RST (SO_LINGER 0) at %s after %d bytes" % (t, put.sent))
    notes["client-reset"] = {"end": "client_reset", "time": t, "sent": put.sent}
    time.sleep(3.0)
    # (c) the glance worker stopped for 6 s (its receive window fills), then resumed: the upload completes
    put, pid, t0, stop_t = stopped_upload(cl, token, "receiver-stalled", big, rate, ids)
    put.send_for(6.0, rate)
    os.kill(pid, 18)  # SIGCONT
    cont_t = rig.now()
    put.send_for(60.0, rate * 4)
    resp = put.response()
    put.close()
    record(cl, "rawput receiver-stalled", t0, "worker %s SIGSTOP %s SIGCONT %s; %s" % (pid, stop_t, cont_t,
                                                                                      resp.split("\r\n")[0]))
    notes["receiver-stalled"] = {"end": "completed_after_stall", "worker": pid, "stopped": stop_t,
                                 "continued": cont_t, "response": resp.split("\r\n")[0]}
    time.sleep(2.0)
    # (d) the client times out (3 s send timeout) while the worker is stopped, and closes
    put, pid, t0, stop_t = stopped_upload(cl, token, "client-timeout-on-stall", big, rate, ids, timeout=3.0)
    put.send_for(30.0, rate)
    t = rig.now()
    put.close()
    time.sleep(2.0)
    os.kill(pid, 18)
    cont_t = rig.now()
    record(cl, "rawput client-timeout-on-stall", t0, "worker %s SIGSTOP %s; client gave up %s after %d bytes; "
           "SIGCONT %s" % (pid, stop_t, t, put.sent, cont_t))
    notes["client-timeout-on-stall"] = {"end": "client_closed_after_stall", "worker": pid, "stopped": stop_t,
                                        "client_closed": t, "continued": cont_t, "sent": put.sent}
    time.sleep(3.0)
    # (e) the glance worker killed mid-body: its kernel resets the connection (unread data)
    put, pid, t0, _ = stopped_upload(cl, token, "server-reset", big, rate, ids, timeout=5.0, first=1.5)
    put.send_for(1.0, rate)
    t = rig.now()
    os.kill(pid, 9)
    put.send_for(1.0, rate)
    put.close()
    record(cl, "rawput server-reset", t0, "worker %s SIGKILLed at %s (stopped first, data unread)" % (pid, t))
    notes["server-reset"] = {"end": "server_reset", "worker": pid, "kill_time": t}
    time.sleep(4.0)  # uWSGI respawns the worker
    return ids, {"upload_ends": notes}


PROXY_CFG = """global
  log stdout format raw local0 info
defaults
  mode http
  log global
  option httplog
  timeout connect 5s
  timeout client 30s
  timeout server 3s
frontend glance_plain_proxy
  bind 127.0.0.1:%d
  default_backend glance_be
backend glance_be
  server glance 127.0.0.1:9292
""" % PROXY_PORT


def proxy_timeout(cl):
    cfg = os.path.join(rig.RUN, "causes-haproxy.cfg")
    with open(cfg, "w") as f:
        f.write(PROXY_CFG)
    hlog = open(os.path.join(rig.OUT, "proxy_timeout.haproxy8292.log"), "w")
    hp = subprocess.Popen(["haproxy", "-f", cfg], stdout=hlog, stderr=subprocess.STDOUT)
    try:
        time.sleep(1.0)
        token = rig.get_token(cl)
        iid = rig.curl_create(cl, token, "proxy-timeout")
        big = open(os.path.join(rig.IMG, "big-40.raw"), "rb").read()
        t0 = rig.now()
        put = RawPut(token, iid, big, port=PROXY_PORT, timeout=10.0)
        put.send_for(1.0, 400 * 1024)
        back = local_port_towards("haproxy", 9292)
        pid = worker_of(9292, back) if back else None
        if pid:
            os.kill(pid, 19)
        stop_t = rig.now()
        put.send_for(8.0, 400 * 1024)
        resp = put.response(timeout=10)
        put.close()
        if pid:
            os.kill(pid, 18)
        record(cl, "rawput via haproxy 8292", t0, "worker %s SIGSTOP %s; %s" % (pid, stop_t, resp.split("\r\n")[0]))
        time.sleep(3.0)
    finally:
        hp.terminate()
        hp.wait()
        hlog.close()
    return [iid], {"proxy": {"port": PROXY_PORT, "timeout_server": 3, "worker": pid, "stopped": stop_t,
                             "response": resp[:600]}}


# Keystone unified limits for the image service (registered limits: the defaults every project gets)
LIMITS = {"image_count_total": 1, "image_count_uploading": 1, "image_size_total": 1000, "image_stage_total": 1000}
OSLO_LIMIT = """[oslo_limit]
auth_type = password
auth_url = http://127.0.0.1:5000
username = glance
password = glancesvcpw
user_domain_name = Default
project_name = service
project_domain_name = Default
valid_interfaces = internal
endpoint_id = %s
"""


def osc_admin(*args):
    """openstack as the rig's admin, outside any capture (setup only)."""
    return subprocess.run(["openstack"] + list(args), env=rig.client_env(False), capture_output=True, text=True,
                          check=True).stdout


def register_limits():
    """Registered limits for the image service (created or set); returns the internal image endpoint's id."""
    endpoint = osc_admin("endpoint", "list", "--service", "image", "--interface", "internal", "-f", "value",
                         "-c", "ID").split()[0]
    known = {r["Resource Name"]: r["ID"] for r in json.loads(osc_admin("registered", "limit", "list", "-f", "json"))}
    for name, value in LIMITS.items():
        if name in known:
            osc_admin("registered", "limit", "set", "--default-limit", str(value), known[name])
        else:
            osc_admin("registered", "limit", "create", "--service", "glance", "--region", "regionOne",
                      "--default-limit", str(value), name)
    return endpoint


def count_quota(cl):
    """One create fits image_count_total=1, the second is refused (413, no image made).  Only creates: every
    oslo.limit check costs Keystone five calls (a token, the endpoint, the limit model, registered and project
    limits) and some 2,000 SQL statements here, so each check adds about 1.5 MB to the capture."""
    token = rig.get_token(cl)
    ids = [rig.curl_create(cl, token, "count-a")]
    body = json.dumps({"name": "count-b", "disk_format": "raw", "container_format": "bare"})
    refused = cl.run(["curl", "-sS", "-v", "-X", "POST", "http://127.0.0.1:9292/v2/images", "-H",
                      "X-Auth-Token: " + token, "-H", "Content-Type: application/json", "-d", body,
                      "-w", "\nHTTP %{http_code}"], check=False)
    ids += image_ids_named("count-b")
    return ids, {"limits": LIMITS, "over_count_total": refused.stdout[-600:]}


SLOW_BYTES = 1500000  # the unthrottled upload's size
WRITE_DELAY_US = 150000  # each write(2) of the glance worker (the file store writes 64 KiB chunks) takes 150 ms


def slow_store(cl):
    """Every write(2) of the worker storing the upload delayed by strace's fault injection: a store that takes
    150 ms per 64 KiB chunk but keeps going, so Glance reads the body only as fast as it can store it."""
    token = rig.get_token(cl)
    iid = rig.curl_create(cl, token, "slow-store")
    data = open(os.path.join(rig.IMG, "big-40.raw"), "rb").read()[:SLOW_BYTES]
    t0 = rig.now()
    put = RawPut(token, iid, data, timeout=60.0)
    pid = None
    for _ in range(50):  # the worker that accepted the connection
        pid = worker_of(9292, put.port)
        if pid:
            break
        time.sleep(0.05)
    tracer = subprocess.Popen(["strace", "-f", "-qq", "-o", "/dev/null", "-p", str(pid), "-e", "trace=write",
                               "-e", "inject=write:delay_exit=%d" % WRITE_DELAY_US])
    time.sleep(0.5)  # attached
    start = rig.now()
    put.send_for(120.0, 20 * 1024 * 1024)
    sent_t = rig.now()
    resp = put.response(timeout=60)
    end = rig.now()
    tracer.send_signal(2)  # SIGINT: strace detaches, the worker runs on untouched
    tracer.wait(timeout=10)
    put.close()
    record(cl, "rawput slow-store", t0, "worker %s: write(2) delayed %d us from %s to %s; body handed to the "
           "kernel by %s; %s" % (pid, WRITE_DELAY_US, start, end, sent_t, resp.split("\r\n")[0]))
    time.sleep(1.0)
    return [iid], {"slow_store": {"worker": pid, "write_delay_us": WRITE_DELAY_US, "start": start,
                                  "body_sent": sent_t, "end": end, "bytes": len(data),
                                  "response": resp.split("\r\n")[0]}}


SIZE_CAP = 600000
QUOTA = "300KB"


def main():
    os.makedirs(rig.OUT, exist_ok=True)
    rig.BPF = "(%s or port %d) and %s" % (rig.BPF, PROXY_PORT, ONLY_RIG)
    names = sys.argv[1:] or ["killed_mysql", "size_cap", "storage_quota", "store_full_plain", "upload_ends",
                             "proxy_timeout", "count_quota", "slow_store"]
    plain = {"killed_mysql": (killed_mysql, "a glance-api MySQL connection killed (KILL from root) while "
                                            "Glance's INSERT waits on LOCK TABLES images WRITE; then a create "
                                            "that works"),
             "store_full_plain": (store_full_plain, "an upload into a 1 MiB tmpfs store on plain 9292 (413)"),
             "upload_ends": (upload_ends, "uploads ended by each side: curl killed, client RST, worker stopped "
                                          "then resumed, client timing out on a stopped worker, worker killed"),
             "proxy_timeout": (proxy_timeout, "haproxy (plain 8292, timeout server 3s) in front of 9292; the "
                                              "glance worker stopped mid-upload"),
             "slow_store": (slow_store, "a slow store that keeps going: each write(2) of the glance worker "
                                        "delayed %d us (strace inject) for a whole unthrottled %d-byte upload"
                                        % (WRITE_DELAY_US, SLOW_BYTES))}
    configured = {"size_cap": (size_cap, "image_size_cap = %d" % SIZE_CAP,
                               "an upload larger than image_size_cap=%d (413)" % SIZE_CAP),
                  "storage_quota": (storage_quota, "user_storage_quota = %s" % QUOTA,
                                    "user_storage_quota=%s: one upload fits, the next exceeds it (413)" % QUOTA)}
    for n in names:
        if n in plain:
            run_scenario(n, plain[n][0], plain[n][1])
        elif n in configured or n == "count_quota":
            if n == "count_quota":
                fn, opt, desc = (count_quota, "use_keystone_limits = True",
                                 "unified limits %s: a create over image_count_total (413)" % LIMITS)
                orig = glance_conf(opt, OSLO_LIMIT % register_limits())
            else:
                fn, opt, desc = configured[n]
                orig = glance_conf(opt)
            try:
                run_scenario(n, fn, desc)
            finally:
                restore_conf(orig)
        else:
            raise SystemExit("unknown scenario " + n)


if __name__ == "__main__":
    main()
