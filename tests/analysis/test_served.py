"""Which Glance call a token validation served (analysis/served.py): one answer for the lanes, the calls'
`on_behalf_of` and the token findings, on every real rig capture; the token tie prefers the call the
validation lies inside over one that ended a moment before."""

from __future__ import annotations

import dataclasses
import functools
import re

import pytest

from glancetrace.analysis import tokens
from glancetrace.analysis.analyze import analyze
from glancetrace.analysis.lanes import classify
from glancetrace.analysis.served import caller_token, host, served_validations, validations
from glancetrace.pipeline import decode
from tests.conftest import FIXTURES

FOLDERS = sorted(str(p.parent.relative_to(FIXTURES)) for kind in ("rig", "rig-import", "rig-logs")
                 for p in (FIXTURES / kind).glob("*/capture.pcap"))


@functools.lru_cache(maxsize=None)
def _analysis(folder: str):
    keys = FIXTURES / folder / "capture.keys"
    return analyze(decode(str(FIXTURES / folder / "capture.pcap"), keylog=[str(keys)] if keys.exists() else []))


def test_every_rig_fixture_is_checked():
    assert {f.split("/")[0] for f in FOLDERS} == {"rig", "rig-import", "rig-logs"} and len(FOLDERS) >= 8


@pytest.mark.parametrize("folder", FOLDERS)
def test_lanes_on_behalf_of_and_token_findings_agree_on_every_validation(folder):
    an = _analysis(folder)
    d = an.to_dict()
    calls = {c["id"]: c for c in d["calls"]}
    placed = 0
    for c in d["calls"]:
        if c["hop"] == "backend" and c["peer"]:
            c = calls[c["peer"]]  # haproxy's hop of a validation serves what its front hop serves
        behalf = c["on_behalf_of"]
        by_token = behalf is not None and behalf["role"] == "token_validation"
        assert by_token == c["token_validation"], c["summary"]
        if by_token:
            placed += 1
            assert c["lane"] == "glance->keystone" and behalf["call_id"] == c["serves"], c["summary"]
            assert calls[c["serves"]]["service"] == "glance" and calls[c["serves"]]["hop"] != "frontend"
    # every validation the capture holds is placed (each rig capture's Glance calls are all in it)
    assert placed == len(validations(an.calls)) >= 1
    # a 401's finding names the validation that served the hop Glance saw
    for f in d["findings"]:
        m = re.search(r"Glance's validation GET /v3/auth/tokens \(call (c\d+)\)", f["message"])
        if f["code"] in tokens.CODES and m:
            seen = calls[f["call_id"]]
            assert calls[m.group(1)]["serves"] in (seen["id"], seen["peer"]), f["message"]


def test_classify_alone_gives_the_analysis_lanes():
    an = _analysis("rig/failures")
    assert classify(an.calls) == classify(an.calls, an.served)
    assert served_validations(an.calls) == an.served


def test_a_validation_just_after_a_call_with_its_token_serves_the_one_it_lies_inside():
    """rig/failures: the create (POST /v2/images) ends 34 ms before keystonemiddleware validates the same token
    for the upload that follows; within the 50 ms slack of the create, inside the upload."""
    an = _analysis("rig/failures")
    by_id = {c.id: c for c in an.calls}
    near_misses = 0
    for vid, gid in an.served.items():
        v, g = by_id[vid], by_id[gid]
        assert g.start <= v.start <= (g.end if g.end is not None else v.start), (vid, gid)
        carrying = [c for c in an.calls if c.service == "glance" and c.hop != "frontend" and c.id != gid
                    and caller_token(c) == v.meaning.subject_token and c.end is not None]
        near_misses += any(0 < v.start - c.end <= 0.05 for c in carrying)
    assert near_misses >= 1


def test_validations_the_token_does_not_tie_are_placed_by_time_and_host():
    """The same real calls with every Glance request's X-Auth-Token taken out (copies, as when a capture hides
    the caller's request): each validation still serves a Glance call in flight from its host, and the lanes
    say the same."""
    an = _analysis("rig/failures")
    hidden = [dataclasses.replace(c, tx=dataclasses.replace(c.tx, request_headers=[
        (k, v) for k, v in c.tx.request_headers if k.lower() != "x-auth-token"])) if c.service == "glance" else c
        for c in an.calls]
    served = served_validations(hidden)
    assert set(served) == set(an.served)
    by_id = {c.id: c for c in hidden}
    for vid, gid in served.items():
        v, g = by_id[vid], by_id[gid]
        assert g.start <= v.start and (g.end is None or v.start <= g.end)
        assert host(g.tx.server) == host(v.tx.client)
    lanes = classify(hidden)
    assert {c: (l.serves, l.token_validation) for c, l in lanes.items() if l.token_validation} == \
        {vid: (gid, True) for vid, gid in served.items()}
    # the time rule alone picks the latest call in flight: on this capture it mostly agrees with the token
    assert sum(served[v] == an.served[v] for v in served) >= len(served) // 2
