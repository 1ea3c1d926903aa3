"""What sniffing unlisted ports costs: the pass with the default port lists against the pass
with no port listed (every connection sniffed), on a whole capture and on its second half
(which starts in the middle of image uploads, the case where the sniffer must look further).

    python3 benchmarks/bench_sniff.py FILE [FROM_PACKET]

FROM_PACKET (default: half the packets) is where the cut copy starts (editcap -r). Each
variant runs in its own process, so the CPU time and peak RSS printed are that variant's (CPU
time, imports included, is steadier than wall time on a shared machine).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import json, resource, sys, time
from glancetrace.pipeline import Options, decode
from glancetrace.protocols.http import HttpTransaction
from glancetrace.protocols.mysql import SqlStatement
path, listed = sys.argv[1], sys.argv[2] == "listed"
opt = Options() if listed else Options(http_ports=set(), tls_ports=set(), mysql_ports=set())
t = time.perf_counter()
res = decode(path, opt)
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"s": time.perf_counter() - t, "cpu": ru.ru_utime + ru.ru_stime,
                  "http": len(res.of_type(HttpTransaction)),
                  "sql": len(res.of_type(SqlStatement)),
                  "rss": ru.ru_maxrss / 1024}))
"""


def run(path: str, mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, path, mode], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return json.loads(out.stdout)


def main() -> None:
    path = sys.argv[1]
    packets = int(subprocess.run(["capinfos", "-c", "-M", "-T", path], capture_output=True, text=True,
                                 check=True).stdout.split("\n")[1].split("\t")[1])
    start = int(sys.argv[2]) if len(sys.argv) > 2 else packets // 2
    with tempfile.TemporaryDirectory() as tmp:
        cut = os.path.join(tmp, "cut.pcap")
        subprocess.run(["editcap", "-F", "pcap", "-r", path, cut, f"{start}-{packets}"], check=True)
        print("| input | ports | wall | CPU | CPU vs listed | HTTP tx | SQL | peak RSS |")
        print("|---|---|---|---|---|---|---|---|")
        for name, p in ((os.path.basename(path), path), (f"from packet {start}", cut)):
            base = run(p, "listed")
            sniffed = run(p, "sniffed")
            for label, r in (("listed", base), ("none listed", sniffed)):
                print(f"| {name} | {label} | {r['s']:.2f} s | {r['cpu']:.2f} s | {r['cpu'] / base['cpu']:.2f} "
                      f"| {r['http']} | {r['sql']} | {r['rss']:.0f} MiB |")


if __name__ == "__main__":
    main()
