#!/usr/bin/env python3
"""Run the rig's scenarios (../shared/rig/capture.py) keeping every server log slice beside each capture,
plus one scenario of its own: failures on the TLS public endpoints (tls_failures).

capture.py writes the haproxy and uWSGI slices; this also writes the glance-api and keystone
(oslo.log) slices, which the log join quotes.  Run with the rig's venv python, from
scripts/make_rig_fixtures.sh logs (it sets OUTDIR, RIG_SCALE and the rig up first).
"""

import json
import os
import subprocess
import sys
import time

RIG = os.environ.get("RIG") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "rig")
sys.path.insert(0, RIG)
import capture as rig  # noqa: E402  (the rig's own driver: called, not copied)

_stop = rig.Capture.stop


def stop_with_all_slices(self):
    _stop(self)
    for k in ("glance_api", "keystone"):
        with open(os.path.join(rig.OUT, "%s.%s.log" % (self.name, k)), "w") as f:
            f.write(self.log_slices[k])


rig.Capture.stop = stop_with_all_slices

STORE = os.path.join(rig.RUN, "glance", "images")


def osc_upload(cl, image_file, name, check=True):
    """openstack image create --file (raw, bare, -f json) of one of the rig's images; the finished process."""
    return cl.osc("image", "create", "--disk-format", "raw", "--container-format", "bare", "--file",
                  os.path.join(rig.IMG, image_file), name, "-f", "json", check=check)


def tls_failures():
    """On 13000/13292 (haproxy TLS): a good upload, an upload into a full store (tmpfs of 1 MiB mounted
    over the file store: Glance answers 413 and logs the error), a protected image's delete (403), a
    download of an image that does not exist (404)."""
    name = "tls_failures"
    cl = rig.Client(name, True)
    if cl.keys and os.path.exists(cl.keys):
        os.unlink(cl.keys)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", STORE], check=True)
    try:
        cap = rig.Capture(name)
        cap.start()
        ids = []
        ids.append(json.loads(osc_upload(cl, "small-a.raw", "fits-the-store").stdout)["id"])
        p = osc_upload(cl, "big-40.raw", "store-full", check=False)
        rig.log("  store-full rc=%d" % p.returncode)
        d = cl.osc_json("image", "create", "--disk-format", "raw", "--container-format", "bare", "--protected",
                        "protected-tls")
        ids.append(d["id"])
        cl.osc("image", "delete", d["id"], check=False)
        cl.osc("image", "save", "--file", "/dev/null", "00000000-0000-4000-8000-000000000000", check=False)
        cl.osc("image", "list")
        time.sleep(1)
        cap.stop()
    finally:
        subprocess.run(["umount", STORE], check=False)
    cl.close()
    with rig.db("glance") as c, c.cursor() as cur:
        cur.execute("SELECT id FROM images WHERE name='store-full' AND deleted=0")
        ids += [r[0] for r in cur.fetchall()]
    rig.write_truth(name, "failures on the TLS public endpoints: an upload into a full store (413), a protected "
                    "image delete (403), a missing image download (404)", cap, cl, ids)


def main():
    os.makedirs(rig.OUT, exist_ok=True)
    names = sys.argv[1:] or ["tls_overcloud", "tls_failures", "failures"]
    for n in names:
        if n == "tls_failures":
            rig.log("=== scenario %s" % n)
            rig.cleanup_images()
            rig.restart_services()
            tls_failures()
        else:
            sys.argv = ["capture.py", n]
            rig.main()


if __name__ == "__main__":
    main()
