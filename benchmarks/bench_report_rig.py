"""The HTML report of a real rig capture: its size, and how fast it is made and opens (run by hand).

    python3 benchmarks/bench_report_rig.py [--scenario rig/failures | --capture FILE] [--runs 5] [--checkout DIR]

Decodes and analyses tests/fixtures/<scenario> (with its TLS keys when it has them), renders the
HTML and opens it in headless chromium with the network cut off, `--runs` times.  Prints the
decode+analysis and render seconds, the HTML's bytes, and the median "ready" time (the report
script done, ms from navigation start).  `--checkout` runs another tree's glancetrace (e.g. a
`git archive main` extracted to /tmp/base) on the same capture, to compare two versions.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", default="rig/failures")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--capture", help="another capture instead (e.g. one made by ../shared/bench/make_capture.py)")
    ap.add_argument("--checkout", default=str(ROOT))
    args = ap.parse_args()
    sys.path.insert(0, str(pathlib.Path(args.checkout).resolve()))
    from glancetrace.analysis.analyze import analyze
    from glancetrace.pipeline import decode
    from glancetrace.report.html import render_html
    from tests.support.browser import chromium, load_timings, offline_page

    folder = ROOT / "tests" / "fixtures" / args.scenario
    keys = folder / "capture.keys"
    capture = args.capture or str(folder / "capture.pcap")
    t = time.perf_counter()
    doc = analyze(decode(capture, keylog=[str(keys)] if keys.exists() and not args.capture else [])).to_dict()
    t_analyse = time.perf_counter() - t
    t = time.perf_counter()
    html = render_html(doc)
    t_render = time.perf_counter() - t
    size = len(html.encode())
    ready = []
    with tempfile.TemporaryDirectory() as d, chromium() as browser:
        path = pathlib.Path(d) / "report.html"
        path.write_text(html, encoding="utf-8")
        for _ in range(args.runs):
            with offline_page(browser, path) as page:
                page.wait_for_selector('html[data-ready="1"]', state="attached")
                ready.append(load_timings(page)["ready"])
    print(f"{args.capture or args.scenario} with {args.checkout}: decode+analysis {t_analyse:.2f} s, render {t_render:.2f} s, "
          f"HTML {size:,} bytes, ready median {statistics.median(ready):.0f} ms (runs: "
          f"{', '.join(f'{r:.0f}' for r in ready)})")


if __name__ == "__main__":
    main()
