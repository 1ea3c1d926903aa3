"""Property fuzzing of the layers above the decoders: OpenStack meaning, analysis and the report.

The decoders pass on whatever the wire said: any request target, header, JSON body, status or SQL
text.  Real events of a rig capture are damaged field by field (strings cut, replaced or spliced
with awkward characters, JSON replaced by random JSON, numbers by extreme ones or None) and the
whole analysis, the JSON document and the HTML report must still be made, with no exception.
Longer runs: `bash scripts/fuzz.sh 10`.
"""

from __future__ import annotations

import copy
import functools
import io
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glancetrace.analysis.analyze import analyze
from glancetrace.pipeline import PassResult, decode
from glancetrace.protocols.http import HttpTransaction
from glancetrace.protocols.mysql import SqlStatement
from glancetrace.report import tables
from glancetrace.report.html import render_html
from tests.support.rig import capture

EXAMPLES = int(os.environ.get("GLANCETRACE_FUZZ_EXAMPLES",
                              "600" if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else "100"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                    database=None)


@functools.lru_cache(maxsize=1)
def real() -> PassResult:
    """The failures scenario (killed, deleted, deactivated, protected images, refused calls) with the
    SQL of Glance's connections only (Keystone's thousands of statements would make each example slow)."""
    res = decode(capture("failures"))
    glance = {e.conn_id for e in res.events if isinstance(e, SqlStatement) and e.sql and "images" in e.sql}
    res.events = [e for e in res.events if not isinstance(e, SqlStatement) or e.conn_id in glance]
    return res


AWKWARD = st.sampled_from(["", "/", "//[", "http://[x", "?", "%zz", "\x00", "\ufffd", "'", "\\", "é", "[",
                           "/v2/images/", "/v1/AUTH_x/glance/", "/v3/auth/tokens", "00000000-0000-0000-0000-"])
JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True)
                    | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                        st.sampled_from(["id", "status", "name", "size", "checksum", "token", "catalog",
                                         "endpoints", "url", "images", "os_hash_value", "x"]) | st.text(max_size=5),
                        inner, max_size=4),
                    max_leaves=12)
NUMBER = st.none() | st.integers(-1, 2**64) | st.sampled_from([0, 1, 99, 200, 204, 300, 404, 409, 500, 599])


@st.composite
def text_like(draw, old):
    """`old` cut, spliced with an awkward piece, or replaced."""
    old = old if isinstance(old, str) else ""
    how = draw(st.sampled_from(["cut", "splice", "replace"]))
    i = draw(st.integers(0, len(old)))
    if how == "cut":
        return old[:i]
    if how == "splice":
        return old[:i] + draw(AWKWARD | st.text(max_size=8)) + old[i:]
    return draw(AWKWARD | st.text(max_size=30))


@st.composite
def damage(draw, ev):
    """One field of a real HTTP transaction or SQL statement, damaged."""
    if isinstance(ev, HttpTransaction):
        field = draw(st.sampled_from(["uri", "method", "status", "request_headers", "response_headers",
                                      "request_json", "response_json", "request_text", "response_text"]))
        if field in ("uri", "method"):
            setattr(ev, field, draw(text_like(getattr(ev, field))))
        elif field == "status":
            ev.status = draw(NUMBER)
        elif field.endswith("headers"):
            name = draw(st.sampled_from(["Content-Length", "X-Subject-Token", "X-Auth-Token", "Etag",
                                         "Content-Type", "X-Object-Manifest", "Location"]))
            getattr(ev, field).append((name, draw(text_like(""))))
        else:
            body = ev.request_body if field.startswith("request") else ev.response_body
            if field.endswith("json"):
                body.json = draw(JSON)
            else:
                body.text = draw(text_like((body.text or b"").decode("latin-1"))).encode("utf-8", "replace")
    elif isinstance(ev, SqlStatement):
        field = draw(st.sampled_from(["sql", "result", "affected_rows", "rows", "row_data", "latency"]))
        if field == "sql":
            ev.sql = draw(text_like(ev.sql))
        elif field == "result":
            ev.result = draw(st.sampled_from([None, "ok", "error", "rows", "weird"]))
        elif field == "row_data":
            ev.row_data = draw(st.lists(st.lists(JSON, max_size=4), max_size=3))
        elif field == "latency":
            ev.latency = draw(st.none() | st.floats(allow_nan=True, allow_infinity=True))
        else:
            setattr(ev, field, draw(NUMBER))


@st.composite
def damaged_pass(draw):
    res = copy.copy(real())
    res.events = list(res.events)
    targets = [i for i, e in enumerate(res.events) if isinstance(e, (HttpTransaction, SqlStatement))]
    for i in draw(st.lists(st.sampled_from(targets), min_size=1, max_size=8)):
        ev = res.events[i] = copy.deepcopy(res.events[i])
        draw(damage(ev))
    return res


@SETTINGS
@given(damaged_pass())
def test_analysis_and_report_survive_any_decoded_field(res):
    doc = analyze(res).to_dict()
    tables.write_json(doc, io.StringIO())  # as `report --format json` writes it (strict: no NaN)
    assert render_html(doc).lower().startswith("<!doctype html>")


def test_the_seed_is_real():
    """The events being damaged are a real exchange: calls, SQL and an image lifecycle."""
    doc = analyze(real()).to_dict()
    assert len(doc["images"]) >= 5 and len(doc["calls"]) > 50 and len(doc["sql"]) > 500
    paths = [[t["status"] for t in i["transitions"]] for i in doc["images"]]
    assert ["queued", "saving", "queued"] in paths  # an interrupted upload
    assert any("deleted" in p for p in paths) and any("deactivated" in p for p in paths)
