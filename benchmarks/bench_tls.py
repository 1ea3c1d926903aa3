"""TLS decryption speed: a real TLS upload on loopback (Python ssl server and client, recorded
with tcpdump, keys from the client's key log), decrypted by TlsDecoder, against tshark with
the same keys on the same file.

    python3 benchmarks/bench_tls.py [--size-mb 1024] [--tls12] [--dir /work/bench-data/tls] [--no-tshark]

Prints: the TLS decoder alone (streams pre-extracted in memory, inner decoder a byte counter),
the whole pass (reader + TCP + TLS + HTTP decoder), and tshark -o tls.keylog_file, in MB/s of
decrypted application data.  Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import http.client
import os
import pathlib
import ssl
import subprocess
import sys
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.protocols.tls import tlscaps as T  # noqa: E402  (server, certificate)


def make_capture(dirpath: pathlib.Path, size_mb: int, tls12: bool):
    name = f"upload{size_mb}m-{'tls12' if tls12 else 'tls13'}"
    pcap, keys, meta = dirpath / f"{name}.pcap", dirpath / f"{name}.keys", dirpath / f"{name}.port"
    if pcap.exists() and keys.exists() and meta.exists():
        return pcap, keys, int(meta.read_text())
    cert, key = T.make_cert(dirpath)
    port = T.free_port()
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(cert, key)
    if tls12:
        sctx.maximum_version = ssl.TLSVersion.TLSv1_2
        sctx.set_ciphers("ECDHE-RSA-AES256-GCM-SHA384")
    server = T._Server(port, sctx)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    keys.unlink(missing_ok=True)
    block = T.blob(1 << 20, 5)
    total = size_mb << 20

    def body():
        for _ in range(size_mb):
            yield block

    cmd = ["tcpdump", "-i", "lo", "-U", "-n", "-B", "524288", "--immediate-mode", "-w", str(pcap), f"tcp port {port}"]
    dump = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while b"listening on" not in dump.stderr.readline():
        pass
    try:
        cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        cctx.check_hostname, cctx.verify_mode = False, ssl.CERT_NONE
        cctx.keylog_filename = str(keys)
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=cctx)
        conn.request("PUT", "/v2/images/bench/file", body=body(),
                     headers={"Content-Length": str(total), "Content-Type": "application/octet-stream"})
        r = conn.getresponse()
        r.read()
        conn.close()
    finally:
        time.sleep(1)
        dump.send_signal(2)
        err = dump.communicate(timeout=60)[1].decode()
        server.shutdown()
    print("tcpdump:", " ".join(err.split()[-9:]))
    meta.write_text(str(port))
    return pcap, keys, port


class Count:
    def __init__(self):
        self.n = 0

    def feed(self, d, data, ts, frame):
        self.n += len(data)
        return []

    def gap(self, *a):
        return []

    def close(self, *a):
        return []


def bench_decoder(pcap, keys, port):
    from tests.protocols.tls import harness as H
    from glancetrace.protocols.tls import TlsDecoder

    sts, _ = H.streams(pcap, [port])
    best = None
    for _ in range(2):
        total = 0
        t = time.perf_counter()
        for st in sts:
            c = Count()
            dec = TlsDecoder(st.conn_id, st.client, st.server, keys=H.keylog(keys), inner=lambda c=c: c)
            for call in st.calls:
                if call[0] == "data":
                    dec.feed(call[1], call[2], call[3], call[4])
                elif call[0] == "gap":
                    dec.gap(call[1], call[2], call[3], call[4])
                else:
                    sess = dec.close(call[1], call[2], call[3])[-1]
            assert sess.decrypted, sess.why_not
            total += c.n
        dt = time.perf_counter() - t
        best = dt if best is None else min(best, dt)
    return total, best, sess


def bench_pass(pcap, keys, port):
    code = ("import sys,time; from glancetrace.pipeline import decode; t=time.perf_counter(); "
            "r=decode(sys.argv[1], keylog=[sys.argv[2]], tls_ports={int(sys.argv[3])}); "
            "print(time.perf_counter()-t, len(r.events))")
    out = subprocess.run([sys.executable, "-c", code, str(pcap), str(keys), str(port)], capture_output=True,
                         text=True, check=True, env=dict(os.environ, PYTHONPATH=str(ROOT))).stdout.split()
    return float(out[0])


def bench_tshark(pcap, keys, port):
    """tshark decrypting every record: HTTP body reassembly off (a GB body is not reassembled),
    frames whose decrypted payload reached HTTP counted, to show tshark really decrypted."""
    t = time.perf_counter()
    out = subprocess.run(["tshark", "-r", str(pcap), "-n", "-o", f"tls.keylog_file:{keys}",
                          "-o", "http.desegment_body:FALSE", "-d", f"tcp.port=={port},tls", "-Y", "http",
                          "-T", "fields", "-e", "frame.number"], capture_output=True, text=True).stdout
    return time.perf_counter() - t, len(out.split())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--tls12", action="store_true")
    ap.add_argument("--dir", default="/work/bench-data/tls")
    ap.add_argument("--no-tshark", action="store_true")
    a = ap.parse_args()
    d = pathlib.Path(a.dir)
    d.mkdir(parents=True, exist_ok=True)
    pcap, keys, port = make_capture(d, a.size_mb, a.tls12)
    size = os.path.getsize(pcap) / 1e6
    total, dt, sess = bench_decoder(pcap, keys, port)
    mb = total / 1e6
    print(f"{pcap.name}: {size:.0f} MB capture, {sess.version} {sess.cipher}, {mb:.0f} MB plaintext, "
          f"gaps {sess.gaps}, auth failures {sess.auth_failures}")
    print(f"TlsDecoder alone:        {dt:6.2f} s  {mb / dt:7.0f} MB/s")
    pt = bench_pass(pcap, keys, port)
    print(f"whole pass (decode()):   {pt:6.2f} s  {mb / pt:7.0f} MB/s")
    if not a.no_tshark:
        tt, reqs = bench_tshark(pcap, keys, port)
        print(f"tshark with the keys:    {tt:6.2f} s  {mb / tt:7.0f} MB/s  ({reqs} frames decoded as HTTP after decryption)")
        print(f"ratio tshark/TlsDecoder: {tt / dt:.1f}x   tshark/whole pass: {tt / pt:.1f}x")


if __name__ == "__main__":
    main()
