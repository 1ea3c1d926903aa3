"""The commands on hostile captures made from a real one: image names on the wire rewritten into terminal
escapes, rich markup, a lone surrogate, a bidi override and a spreadsheet formula; and a pcapng whose
first HTTP request and first SQL query are stamped in the year 586524."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

from tests.cli.hostile_captures import far_future, rename_image
from tests.report.test_hostile_text import SGR, UNSAFE, assert_csv_safe
from tests.support.rig import capture

# same byte length as the names they replace; in MySQL raw bytes, in HTTP JSON \u escapes
ESCAPES = (b"deactivate-reactivate", b"\x1b]0;pwn\x07\x1b[2J[/x]\xc2\x9b\x7fok", b"\\u001b[2J\\ud83d\\u202e")
MARKUP = (b"chunked-slow-upload", b"[link=https://e.vl]", b"=cmd|' /C calc'!A0x")


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "glancetrace", *map(str, args)], capture_output=True, text=True,
                          timeout=600, env=env)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    first, path = d / "escapes.pcap", d / "hostile.pcap"
    assert rename_image(capture("failures"), str(first), *ESCAPES) >= 10
    assert rename_image(str(first), str(path), *MARKUP) >= 5
    return path


def assert_terminal_safe(text: str):
    bare = SGR.sub("", text)
    assert not UNSAFE.search(bare), repr(bare[max(0, UNSAFE.search(bare).start() - 40):][:80])


@pytest.mark.parametrize("args", [["images"], ["sql", "--digest"], ["http"], ["sql"]])
def test_tables_show_the_escapes_and_never_send_them(hostile, args):
    p = run(*args, hostile)
    assert p.returncode == 0, p.stderr  # `[/x]` was a MarkupError (exit 2) in images and sql --digest
    assert_terminal_safe(p.stdout + p.stderr)
    if args == ["images"]:  # the name as it was sent, visibly (cut to the column)
        assert "\\x1b]0;pwn\\x07\\x1b[2" in p.stdout
        assert "[link=https://e.vl]" in p.stdout


def test_csv_defuses_formulas_and_shows_control_characters(hostile):
    p = run("sql", hostile, "--format", "csv", "-q")
    assert p.returncode == 0, p.stderr
    assert_csv_safe(p.stdout)
    sql = [r["sql"] for r in csv.DictReader(io.StringIO(p.stdout))]
    assert any("'\\x1b]0;pwn\\x07\\x1b[2J[/x]\\x9b\\x7fok'" in s for s in sql)
    p = run("http", hostile, "--format", "csv", "-q")
    assert_csv_safe(p.stdout)


def test_json_keeps_the_text_as_sent(hostile):
    images = json.loads(run("images", hostile, "--format", "json", "-q").stdout)
    names = {im["name"] for im in images}
    assert {"\x1b]0;pwn\x07\x1b[2J[/x]\x9b\x7fok", "\x1b[2J\ud83d\u202e"} & names, names
    assert {"[link=https://e.vl]", "=cmd|' /C calc'!A0x"} & names, names


def test_html_report_is_written_with_the_text_visible(hostile, tmp_path):
    out = tmp_path / "r.html"
    p = run("report", hostile, "-o", out)  # with the summary on stderr
    assert p.returncode == 0, p.stderr  # the lone surrogate was exit 2 and a 0-byte file
    assert_terminal_safe(p.stderr)
    html = out.read_text(encoding="utf-8")
    assert "\u202e" not in html and "\x1b" not in html
    assert "\\x1b[2J\\ud83d\\u202e" in html or "\\x1b]0;pwn\\x07\\x1b[2J[/x]\\x9b\\x7fok" in html


@pytest.fixture(scope="module")
def far(tmp_path_factory):
    path = tmp_path_factory.mktemp("far") / "far.pcapng"
    assert far_future(capture("plain_overcloud"), str(path)) == 2
    return path


@pytest.mark.parametrize("command", ["http", "sql"])
def test_a_timestamp_in_the_year_586524_does_not_stop_the_tables(far, command):
    p = run(command, far, "-q")
    assert p.returncode == 0, p.stderr  # was "year 586524 is out of range"
    rows = [line for line in p.stdout.splitlines() if line.lstrip().startswith("?")]
    assert len(rows) == 1  # the one request stamped so: time unknown, the rest as usual
