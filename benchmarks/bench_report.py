"""The whole job (`glancetrace report`) against tshark, one run, same files, ratios printed.

    python3 benchmarks/bench_report.py FILE [FILE ...]      # e.g. a 200 MB and a 2 GB capture

For each file, from one run: wall time and peak RSS of
  - tshark -r FILE -o http.desegment_body:FALSE -Y mysql.query -T fields -e mysql.query
    (does far less than we do; with tshark's default HTTP body reassembly it is several times slower)
  - glancetrace report FILE --jobs 1
  - glancetrace report FILE --jobs N  (N = cores)
and the ratios report/tshark and jobs1/jobsN, plus seconds per GB (to see that time grows linearly).
It also prints how many cores `--jobs 1` keeps busy on average (CPU seconds / wall seconds: image
hashing runs on a second thread), which bounds what N processes can gain: at most N / that.
Inputs: python3 ../shared/bench/make_capture.py --size 2G --out bench-data/big2g.pcap --seed 1
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time


def timed(cmd: list[str]) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MiB, of the largest process) and CPU seconds of a command and its
    descendants (measured in a fresh wrapper process, so one command's peak does not hide the next one's)."""
    wrapper = ("import resource, subprocess, sys; "
               "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
               "r = resource.getrusage(resource.RUSAGE_CHILDREN); print(r.ru_maxrss, r.ru_utime + r.ru_stime)")
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], check=True, capture_output=True, text=True).stdout
    wall = time.perf_counter() - t
    rss, cpu = out.split()[-2:]
    return wall, int(rss) / 1024, float(cpu)


def main(files: list[str]) -> None:
    cores = os.cpu_count() or 1
    rows = []
    for f in files:
        size_gb = os.path.getsize(f) / 2**30
        subprocess.run(["cat", f], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
        out = os.path.join(tempfile.mkdtemp(), "r.html")
        gt = [sys.executable, "-m", "glancetrace", "report", f, "-q", "-o", out]
        # HTTP body reassembly off: tshark's fastest way to this (with defaults it takes many times longer)
        tshark_t, tshark_rss, _ = timed(["tshark", "-r", f, "-n", "-o", "http.desegment_body:FALSE", "-Y",
                                      "mysql.query", "-T", "fields", "-e", "mysql.query"])
        one_t, one_rss, one_cpu = timed(gt + ["--jobs", "1"])
        many_t, many_rss, many_cpu = timed(gt + ["--jobs", str(cores)])
        rows.append((os.path.basename(f), size_gb, tshark_t, tshark_rss, one_t, one_rss, one_cpu, many_t, many_rss,
                     many_cpu))
        print(f"{os.path.basename(f)} ({size_gb:.2f} GiB): tshark {tshark_t:.1f} s / {tshark_rss:.0f} MiB; "
              f"report --jobs 1 {one_t:.1f} s / {one_rss:.0f} MiB / {one_cpu:.1f} CPU s; "
              f"--jobs {cores} {many_t:.1f} s / {many_rss:.0f} MiB / {many_cpu:.1f} CPU s", flush=True)
    print()
    print(f"| input | GiB | tshark mysql.query | report --jobs 1 | report --jobs {cores} | report/tshark | "
          f"jobs1/jobs{cores} | cores busy (jobs 1) | bound {cores}/busy | CPU s jobs 1 / {cores} | "
          f"s per GiB (jobs 1) | peak RSS tshark / jobs 1 / largest of jobs {cores} |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, gb, tt, trss, ot, orss, ocpu, mt, mrss, mcpu in rows:
        busy = ocpu / ot
        print(f"| {name} | {gb:.2f} | {tt:.1f} s | {ot:.1f} s | {mt:.1f} s | {ot / tt:.2f} | {ot / mt:.2f} | "
              f"{busy:.2f} | {cores / busy:.2f} | {ocpu:.1f} / {mcpu:.1f} | {ot / gb:.1f} | "
              f"{trss:.0f} / {orss:.0f} / {mrss:.0f} MiB |")


if __name__ == "__main__":
    main(sys.argv[1:])
