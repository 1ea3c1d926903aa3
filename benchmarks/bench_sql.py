"""Wall time of a MySQL-only decode pass vs tshark extracting mysql.query, on the same file.

    python3 benchmarks/bench_sql.py FILE [--port 3306 ...]

Big inputs: python3 ../shared/bench/make_capture.py --size 200M --out /tmp/big.pcap --seed 1
"""

from __future__ import annotations

import argparse
import pathlib
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from glancetrace import pipeline  # noqa: E402
from glancetrace.protocols.mysql import SqlStatement  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--port", type=int, action="append", default=None)
    a = ap.parse_args()
    ports = set(a.port or [3306])

    t = time.perf_counter()
    res = pipeline.decode(a.file, mysql_ports=ports, want_http=False, sniff_other_ports=False)
    ours = time.perf_counter() - t
    stmts = res.of_type(SqlStatement)
    queries = sum(1 for s in stmts if s.command in ("COM_QUERY", "COM_STMT_PREPARE"))

    cmd = ["tshark", "-r", a.file, "-n", "-Y", "mysql.query", "-T", "fields", "-e", "mysql.query"]
    for p in ports - {3306}:
        cmd += ["-d", f"tcp.port=={p},mysql"]
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, check=True).stdout
    theirs = time.perf_counter() - t
    ts_queries = sum(1 for line in out.splitlines() if line)

    size = pathlib.Path(a.file).stat().st_size
    print(f"file            {a.file} ({size / 1e6:.1f} MB, {res.packets} packets)")
    print(f"glancetrace     {ours:8.2f} s  {len(stmts)} statements, {queries} queries/prepares, "
          f"{size / 1e6 / ours:.1f} MB/s")
    print(f"tshark          {theirs:8.2f} s  {ts_queries} frames with mysql.query")
    print(f"ratio           {ours / theirs:8.4f}  (glancetrace / tshark; < 1 is faster; tshark is {theirs / ours:.1f}x slower)")


if __name__ == "__main__":
    main()
