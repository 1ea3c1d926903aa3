"""The terminal outputs: on an 80-column terminal every image id stays whole (to paste into a search)."""

import io

import pytest
from rich.console import Console

from glancetrace.report import terminal
from tests.support.rig import analysed


@pytest.mark.parametrize("width", [80, 140])
def test_images_table_keeps_ids_whole(width):
    doc = analysed("failures")
    out = io.StringIO()
    terminal.images_table(doc, Console(file=out, width=width, color_system=None))
    lines = out.getvalue().splitlines()
    assert all(len(line) <= width for line in lines)
    for im in doc["images"]:
        row = next(i for i, line in enumerate(lines) if im["id"] in line)  # whole, on one line
        assert (im["final_status"] or "-") in lines[row]
        assert lines[row].rstrip().endswith(str(len(im["findings"])))
        if im["size"] is not None:
            assert f"{int(im['size']):,} bytes" in lines[row + 1]


def test_findings_list_keeps_filters_whole_under_their_message():
    utc = terminal.utc
    doc = analysed("failures")
    out = io.StringIO()
    terminal.findings_list(doc, Console(file=out, width=80, color_system=None), limit=3)
    lines = out.getvalue().splitlines()
    assert all(len(line) <= 80 for line in lines)
    for f in doc["findings"][:3]:
        i = next(i for i, line in enumerate(lines) if line.strip() == f["wireshark_filter"])  # whole
        start = max(j for j in range(i) if lines[j].lstrip().startswith(f["severity"]))
        # the time sits under the severity, at the start of the message's second line
        assert lines[start + 1].lstrip().startswith(utc(f["time"]))
        told = " ".join(x.strip() for x in lines[start:i]).replace(f" {utc(f['time'])}", "", 1)
        assert told == f"{f['severity']} {f['message']}"
    assert lines[-1].strip() == f"… and {len(doc['findings']) - 3} more"


@pytest.mark.parametrize("table", ["http", "sql"])
def test_http_and_sql_tables_keep_times_and_frames_whole_at_80_columns(table):
    from glancetrace.pipeline import decode
    from glancetrace.protocols.http import HttpTransaction
    from glancetrace.protocols.mysql import SqlStatement
    from glancetrace.report import tables
    from tests.support.rig import capture
    res = decode(capture("failures"))
    if table == "http":
        rows = tables.http_rows(res.of_type(HttpTransaction)[:30])
    else:
        rows = tables.sql_rows(res.of_type(SqlStatement)[:30])
    out = io.StringIO()
    (terminal.http_table if table == "http" else terminal.sql_table)(rows, Console(file=out, width=80,
                                                                                   color_system=None))
    text = out.getvalue()
    assert all(len(line) <= 80 for line in text.splitlines())
    for r in rows:  # the time and the frame numbers a Wireshark user jumps to are whole, on one line
        assert terminal.utc(r["request_time"] or r.get("response_time")) in text
        assert f"{terminal.frames(r['request_frames'])} → {terminal.frames(r['response_frames'])}" in text
