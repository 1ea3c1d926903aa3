"""The rig captures with every log written beside them (tests/fixtures/rig-logs, made by
scripts/make_rig_fixtures.sh logs): capture.pcap, capture.keys, truth.json and gzip'd log slices."""

from __future__ import annotations

import functools
import gzip
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "rig-logs"
SCENARIOS = sorted(p.name for p in ROOT.iterdir() if (p / "truth.json").exists()) if ROOT.is_dir() else []
# file → the format it must be recognised as
LOGS = {"haproxy": "haproxy", "glance_api": "oslo", "keystone": "oslo", "glance_uwsgi": "uwsgi",
        "keystone_uwsgi": "uwsgi", "client-debug": "client", "mariadb-error": "mariadb"}


def path(scenario: str, name: str) -> str:
    if name in ("capture.pcap", "capture.keys", "truth.json"):
        return str(ROOT / scenario / name)
    return str(ROOT / scenario / f"{name}.log.gz")


def truth(scenario: str) -> dict:
    return json.loads((ROOT / scenario / "truth.json").read_text())


def lines(scenario: str, name: str) -> list[str]:
    with gzip.open(path(scenario, name), "rt", encoding="utf-8", errors="replace") as f:
        return f.read().splitlines()


def write(tmp_path: pathlib.Path, name: str, lines_: list[str]) -> str:
    p = tmp_path / name
    p.write_text("".join(line + "\n" for line in lines_))
    return str(p)


@functools.lru_cache(maxsize=None)
def decoded(scenario: str, with_keys: bool):
    from glancetrace.pipeline import decode
    k = ROOT / scenario / "capture.keys"
    return decode(path(scenario, "capture.pcap"), keylog=[str(k)] if with_keys and k.exists() else [])


def analysed(scenario: str, with_keys: bool, logs: list, show_secrets: bool = False) -> dict:
    """The JSON document with these logs joined (each a path, or (path, offset))."""
    from glancetrace.analysis.analyze import AnalysisOptions
    from glancetrace.analysis.logjoin import LogSpec, analyse_with_logs
    specs = [LogSpec(x) if isinstance(x, str) else LogSpec(x[0], offset=x[1]) for x in logs]
    return analyse_with_logs(decoded(scenario, with_keys), AnalysisOptions(show_secrets=show_secrets), specs).to_dict()
