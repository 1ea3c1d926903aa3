"""Capture text that attacks its reader: control characters, rich markup, lone surrogates, bidi overrides,
spreadsheet formulas, in any field of real events, through every writer (terminal, CSV, JSON, HTML).

The events are the failures rig scenario's (tests/fuzz/test_analysis_fuzz.real); hypothesis puts
hostile text into their fields and into the analysis document made from them.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import escape
from rich.console import Console

from glancetrace.analysis.analyze import analyze
from glancetrace.protocols.http import HttpTransaction
from glancetrace.protocols.mysql import SqlStatement, wire
from glancetrace.report import safe_text, tables, terminal
from glancetrace.report.html import render_html
from tests.fuzz.test_analysis_fuzz import real

EXAMPLES = int(os.environ.get("GLANCETRACE_FUZZ_EXAMPLES", "25"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)

PIECES = ["\x1b]0;pwned\x07", "\x1b[2J", "\x1b[32mall uploads OK\x1b[0m", "\r\nfake line", "\x9b2J", "\x7f", "\x00",
          "[/x]", "[link=https://evil.example]click[/link]", "[bold red]", ":smile:", "\\", "\ud83d", "\udc00",
          "\u202e", "\u2066", "\u200f", "\u2028", "=HYPERLINK(\"http://evil.example\")", "+1", "-2", "@SUM(A1)",
          "\tx", "שלום", "日本語", "x" * 400]
HOSTILE = st.lists(st.sampled_from(PIECES) | st.text(max_size=6), min_size=1, max_size=4).map("".join)

# what may reach a terminal or a file: no control character but newline, no DEL or C1, no surrogate,
# no bidi control; in CSV and HTML a tab too (SQL laid out on lines)
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
UNSAFE_BUT_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
                              "\u2028\u2029]")
SGR = re.compile("\x1b\\[[0-9;]*m")  # colours: the only escape sequences glancetrace itself writes


@st.composite
def hostile_pass(draw):
    """Real events, some of whose text fields now hold hostile text."""
    res = copy.copy(real())
    texts = [i for i, e in enumerate(res.events) if isinstance(e, (HttpTransaction, SqlStatement))]
    chosen = draw(st.sets(st.sampled_from(texts), min_size=1, max_size=6))
    res.events = [draw(hostile_copy(e)) if i in chosen else e for i, e in enumerate(res.events)]
    return res


@st.composite
def hostile_copy(draw, ev):
    """A copy of an HTTP transaction or SQL statement with hostile text in one of its fields."""
    ev = copy.deepcopy(ev)
    bad = draw(HOSTILE)
    if isinstance(ev, HttpTransaction):
        field = draw(st.sampled_from(["uri", "method", "reason", "response_json", "request_headers"]))
        if field == "response_json":
            body = ev.response_body.json
            ev.response_body.json = {**body, "name": bad} if isinstance(body, dict) else {"name": bad}
        elif field == "request_headers":
            ev.request_headers.append((bad, bad))
        else:
            setattr(ev, field, bad)
    else:
        # MySQL text comes off the wire as the decoder makes it (wire.text): never with a lone surrogate
        bad = wire.text(bad.encode("utf-8", "surrogatepass"))
        field = draw(st.sampled_from(["sql", "error_message", "user", "database"]))
        old = getattr(ev, field) or ""
        cut = draw(st.integers(0, len(old)))
        setattr(ev, field, old[:cut] + bad + old[cut:])  # inside the SQL: an image name, a table name
    return ev


def strings_of(node, path=()):
    """(path, value) of every string in a JSON-able tree."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from strings_of(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from strings_of(v, path + (i,))
    elif isinstance(node, str):
        yield path, node


def put(doc, path, value):
    for k in path[:-1]:
        doc = doc[k]
    doc[path[-1]] = value


@st.composite
def hostile_document(draw, res):
    """The analysis of `res`, with hostile text also in some of the document's own strings."""
    doc = analyze(res).to_dict()
    places = [p for p, _ in strings_of(doc) if p[0] in ("images", "findings", "calls", "sql", "summary", "captures")]
    for p in draw(st.lists(st.sampled_from(places), max_size=8)):
        put(doc, p, draw(HOSTILE))
    for im in doc["images"][:2]:  # the fields a person reads first, always
        im["name"] = draw(HOSTILE)
    return doc


def assert_terminal_safe(out: str):
    bare = SGR.sub("", out)
    assert not UNSAFE.search(bare), repr(UNSAFE.search(bare).group())


def assert_csv_safe(text: str):
    for row in csv.reader(io.StringIO(text)):
        for cell in row:
            assert not UNSAFE_BUT_LINES.search(cell), repr(cell)
            try:
                float(cell)
            except ValueError:
                assert not cell.startswith(("=", "+", "-", "@")), repr(cell)


def terminal_output(write) -> str:
    """What a colour terminal 100 columns wide would receive."""
    out = io.StringIO()
    write(Console(file=out, width=100, force_terminal=True, color_system="truecolor"))
    return out.getvalue()


@SETTINGS
@given(st.data())
def test_every_writer_shows_hostile_text_harmlessly(data):
    res = data.draw(hostile_pass())
    doc = data.draw(hostile_document(res))
    http = tables.http_rows(res.of_type(HttpTransaction))
    sql = tables.sql_rows(res.of_type(SqlStatement))
    digest = tables.digest_rows(res.of_type(SqlStatement))

    for write in (lambda c: terminal.images_table(doc, c), lambda c: terminal.findings_list(doc, c),
                  lambda c: c.print(terminal.summary_paragraph(doc, "reports/x.html")),
                  lambda c: terminal.http_table(http, c), lambda c: terminal.sql_table(sql, c),
                  lambda c: terminal.digest_table(digest, c)):
        assert_terminal_safe(terminal_output(write))  # and no MarkupError

    for rows in (http, sql, digest):
        out = io.StringIO()
        tables.write_csv(rows, out)
        assert_csv_safe(out.getvalue())
        out = io.StringIO()
        tables.write_json(rows, out)
        assert out.getvalue().isascii() and json.loads(out.getvalue()) is not None

    out = io.StringIO()
    tables.write_json(doc, out)
    assert out.getvalue().isascii()
    assert json.loads(out.getvalue())["images"][0]["name"] == doc["images"][0]["name"]  # JSON keeps the text

    html = render_html(doc)
    html.encode("utf-8")  # no lone surrogate left
    assert not UNSAFE_BUT_LINES.search(html), repr(UNSAFE_BUT_LINES.search(html).group())
    for im in doc["images"][:2]:  # the name, shown with its dangerous characters as escapes
        assert str(escape(safe_text.visible(im["name"], lines=True)))[:40] in html


def test_visible_writes_escapes_and_leaves_ordinary_text():
    assert safe_text.visible("a\x1b]0;t\x07b\x9b\x7f") == "a\\x1b]0;t\\x07b\\x9b\\x7f"
    assert safe_text.visible("id \u202e4a10 \ud83d") == "id \\u202e4a10 \\ud83d"
    assert safe_text.visible("SELECT 1\n\tFROM t", lines=True) == "SELECT 1\n\tFROM t"
    assert safe_text.visible("SELECT 1\n\tFROM t") == "SELECT 1\\x0a\\x09FROM t"
    assert safe_text.visible("日本語 שלום é [/x]") == "日本語 שלום é [/x]"
    assert safe_text.visible(None) == ""


def test_csv_cells_defuse_formulas_but_not_numbers():
    assert [safe_text.csv_cell(v) for v in ("=1+1", "+1", "-2", "@A1", "\tx", "ok", -2, 1.5, None)] == \
        ["'=1+1", "'+1", "'-2", "'@A1", "'\tx", "ok", -2, 1.5, None]


def test_json_ready_turns_nan_and_numpy_into_json():
    import numpy as np
    assert safe_text.json_ready({"a": float("nan"), "b": np.int64(3), "c": [np.float64(0.5), float("inf")]}) == \
        {"a": None, "b": 3, "c": [0.5, None]}
