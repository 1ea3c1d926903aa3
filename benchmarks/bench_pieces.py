"""A capture read whole against the same capture cut into pieces (run by hand, ratios printed).

    python3 benchmarks/bench_pieces.py big2g.pcap [--count 50000] [--rounds 2]

Cuts FILE with `editcap -F pcap -c COUNT` into a temporary directory, then runs
`glancetrace report --format json` on the whole file and on the pieces (given in reverse order,
so the plan has to put them back in time order), alternating, each in a fresh process under
/usr/bin/time for its wall time, CPU time (user + system: steadier than wall time on a machine
others are using) and peak RSS.  Prints them, their ratios, and checks that the two analyses
agree (calls, statements, connections).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile


def report(paths: list[str], out: str) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS MiB) of one `glancetrace report` run."""
    cmd = ["/usr/bin/time", "-f", "%e %U %S %M", sys.executable, "-m", "glancetrace", "report", *paths,
           "--format", "json", "-o", out, "-q"]
    r = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall, user, system, rss_kib = r.stderr.strip().splitlines()[-1].split()
    return float(wall), float(user) + float(system), int(rss_kib) / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("capture")
    ap.add_argument("--count", type=int, default=50000)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench_pieces_", dir=os.path.dirname(os.path.abspath(a.capture)))
    try:
        subprocess.run(["editcap", "-F", "pcap", "-c", str(a.count), a.capture, os.path.join(tmp, "p.pcap")],
                       check=True)
        pieces = sorted(glob.glob(os.path.join(tmp, "p_*.pcap")), reverse=True)
        subprocess.run(["cat", a.capture, *pieces], stdout=subprocess.DEVNULL, check=True)  # warm the cache
        runs: dict[str, list[tuple[float, float, float]]] = {"whole": [], "pieces": []}
        outs = {"whole": os.path.join(tmp, "whole.json"), "pieces": os.path.join(tmp, "pieces.json")}
        for _ in range(a.rounds):
            runs["whole"].append(report([a.capture], outs["whole"]))
            runs["pieces"].append(report(pieces, outs["pieces"]))
        docs = {k: json.load(open(v)) for k, v in outs.items()}
        same = all(len(docs["whole"][k]) == len(docs["pieces"][k]) for k in ("calls", "sql", "images", "findings"))
        same &= docs["whole"]["summary"]["connections"] == docs["pieces"]["summary"]["connections"]
        size = os.path.getsize(a.capture) / (1 << 20)
        w = [statistics.median(x) for x in zip(*runs["whole"])]
        p = [statistics.median(x) for x in zip(*runs["pieces"])]
        print(f"{a.capture} ({size:.0f} MiB) cut into {len(pieces)} pieces of {a.count} packets; "
              f"median of {a.rounds} rounds")
        print(f"whole:  {w[0]:.2f} s wall, {w[1]:.2f} s CPU, {w[2]:.0f} MiB peak   ({runs['whole']})")
        print(f"pieces: {p[0]:.2f} s wall, {p[1]:.2f} s CPU, {p[2]:.0f} MiB peak   ({runs['pieces']})")
        print(f"pieces / whole: wall {p[0] / w[0]:.3f}, CPU {p[1] / w[1]:.3f}, peak RSS {p[2] / w[2]:.3f}; "
              f"same analysis: {same}")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
