"""The real OpenStack captures in tests/fixtures/rig and their truth files (see the README there)."""

from __future__ import annotations

import datetime as dt
import functools
import json
import pathlib

RIG = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "rig"
SCENARIOS = sorted(p.name for p in RIG.iterdir() if (p / "truth.json").exists())


def truth(scenario: str) -> dict:
    return json.loads((RIG / scenario / "truth.json").read_text())


def capture(scenario: str) -> str:
    return str(RIG / scenario / "capture.pcap")


def keys(scenario: str) -> str | None:
    k = RIG / scenario / "capture.keys"
    return str(k) if k.exists() else None


def epoch(iso: str) -> float:
    """truth.json times: UTC, ISO format, with or without a Z."""
    return dt.datetime.fromisoformat(iso.rstrip("Z")).replace(tzinfo=dt.timezone.utc).timestamp()


@functools.lru_cache(maxsize=None)
def analysed(scenario: str, with_keys: bool = True) -> dict:
    """The whole analysis document of a scenario (cached: several tests read it)."""
    from glancetrace.analysis.analyze import analyze
    from glancetrace.pipeline import decode

    k = keys(scenario) if with_keys else None
    res = decode(capture(scenario), keylog=[k] if k else [])
    return analyze(res).to_dict()
