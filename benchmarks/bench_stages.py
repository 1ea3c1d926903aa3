"""Instructions per TCP segment, stage by stage, of two checkouts (run by hand; prints ratios).

    python3 benchmarks/bench_stages.py OTHER_CHECKOUT CAPTURE.pcap [STAGE ...]

bench_instructions.py says how a whole `report` compares; this says where a difference per segment lies.  Each
stage runs in a child under valgrind's callgrind once and three times over the capture's segments, and the
difference of the two counts, halved and divided by the segments, is its cost per segment: imports, start-up
and the capture's first reading fall out.  Stages (each includes those above it only where said):

    read        the capture's records walked and decoded to segments (capture/)
    reassemble  the segments (decoded beforehand) through the reassembler, a handler that takes nothing
    tally       the same with the TCP tally watching (tcp/stalls.py; skipped where the checkout has none)
    decode      the whole decoding pass, `pipeline.decode(jobs=1)`: reading, reassembly, tally, decoders

A 40 MB capture of ../shared/bench/make_capture.py (~41,000 segments) takes about a minute per stage and
checkout.  Whole-run counts move by ~0.2 % between runs (the hashing thread); these stage counts by a few
instructions per segment.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parents[1]
STAGES = ("read", "reassemble", "tally", "decode")
PORTS = {9292, 3306, 5000, 13292, 13000}  # (the defaults; which side is the server: no decoding here)


def _segments(path: str) -> list:
    try:
        from glancetrace.capture.pcapfile import CaptureReader
    except ImportError:  # (older checkouts)
        from glancetrace.capture.reader import CaptureReader
    from glancetrace.capture.link import LinkDecoder
    decode = LinkDecoder().decode
    out = []
    reader = CaptureReader(path)
    for frame, ts, iface, data, _origlen in reader.packets():
        seg = decode(reader.info.interfaces[iface].linktype, data)
        if seg is not None:
            out.append((seg, ts, frame))
    return out


def child(stage: str, path: str, reps: int) -> None:
    """One stage `reps` times (in the checkout on sys.path); prints the number of segments."""
    from glancetrace import pipeline
    from glancetrace.sniff import IGNORED  # (a handler that takes every byte: the fast path runs)
    from glancetrace.tcp.reassembly import TcpReassembler
    segs = _segments(path)
    stalls = None
    if stage == "tally":
        from glancetrace.tcp.stalls import TcpStalls as stalls
    for _ in range(reps):
        if stage == "read":
            _segments(path)
        elif stage == "decode":
            pipeline.decode(path, jobs=1)
        else:
            tcp = TcpReassembler(lambda conn: IGNORED, server_ports=PORTS)
            if stalls is not None:
                stalls(tcp, 0, lambda *a, **k: None)
            add = tcp.add
            for seg, ts, frame in segs:
                add(seg, ts, frame)
    print(len(segs))


def _count(code: pathlib.Path, stage: str, path: str, reps: int) -> tuple[int, int]:
    with tempfile.TemporaryDirectory() as folder:
        run = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={folder}/cg.out",
                              sys.executable, __file__, "--child", stage, path, str(reps)],
                             cwd=folder, env=dict(os.environ, PYTHONPATH=str(code)), capture_output=True, text=True,
                             check=True)
    return int(re.search(r"Collected : (\d+)", run.stderr).group(1)), int(run.stdout.split()[-1])


def has_stage(code: pathlib.Path, stage: str) -> bool:
    return stage != "tally" or (code / "glancetrace" / "tcp" / "stalls.py").exists()


def main(other: str, path: str, stages: list[str]) -> None:
    codes = {"other": pathlib.Path(other).resolve(), "this": HERE}
    for code in codes.values():
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(code / "glancetrace")], check=True,
                       stdout=subprocess.DEVNULL)
    for stage in stages:
        per = {}
        for k, code in codes.items():
            if not has_stage(code, stage):
                print(f"{stage:10s} {k:5s}: none in {code}")
                continue
            (one, n), (three, _) = _count(code, stage, path, 1), _count(code, stage, path, 3)
            per[k] = (three - one) / 2 / n
            print(f"{stage:10s} {k:5s}: {per[k]:,.0f} instructions per segment ({n:,} segments)")
        if len(per) == 2:
            print(f"{stage:10s} this / other: {per['this'] / per['other']:.3f} ({per['this'] - per['other']:+,.0f})")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) < 3:
        sys.exit(__doc__)
    else:
        main(sys.argv[1], sys.argv[2], sys.argv[3:] or list(STAGES))
