"""The rig captures of failures whose cause the report names (tests/fixtures/rig-causes, made by
scripts/make_rig_fixtures.sh causes): capture.pcap, truth.json and gzip'd log slices per scenario."""

from __future__ import annotations

import functools
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "rig-causes"
SCENARIOS = sorted(p.name for p in ROOT.iterdir() if (p / "truth.json").exists()) if ROOT.is_dir() else []


def truth(scenario: str) -> dict:
    return json.loads((ROOT / scenario / "truth.json").read_text())


def capture(scenario: str) -> str:
    return str(ROOT / scenario / "capture.pcap")


@functools.lru_cache(maxsize=None)
def analysed(scenario: str) -> dict:
    from glancetrace.analysis.analyze import analyze
    from glancetrace.pipeline import decode
    return analyze(decode(capture(scenario))).to_dict()
