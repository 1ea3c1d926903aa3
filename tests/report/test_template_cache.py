"""The compiled-template cache (report/html.py): the same report with it, without it, and when it is damaged
or cannot be written; compiling happens once per template change, not once per run."""

from __future__ import annotations

import pathlib

from glancetrace.report.html import build_view, environment, template_cache
from glancetrace.report.safe_text import visible_tree

from .browser_data import small_analysis


def _render(cache) -> str:
    view = build_view(visible_tree(small_analysis()))
    return environment(cache).get_template("report.html.j2").render(v=view)


def _entries(folder: pathlib.Path) -> list[pathlib.Path]:
    return sorted(p for p in folder.iterdir() if p.name.startswith("glancetrace-"))


def test_cached_report_is_the_compiled_one(tmp_path):
    plain = _render(None)
    first = _render(template_cache(str(tmp_path)))
    written = _entries(tmp_path)
    assert written, "the first run keeps the compiled templates"
    stamps = [p.stat().st_mtime_ns for p in written]
    second = _render(template_cache(str(tmp_path)))
    assert first == plain and second == plain
    assert [p.stat().st_mtime_ns for p in _entries(tmp_path)] == stamps, "the second run read them, wrote nothing"


def test_damaged_entries_are_compiled_again(tmp_path):
    plain = _render(None)
    _render(template_cache(str(tmp_path)))
    entries = _entries(tmp_path)
    for i, p in enumerate(entries):  # cut short, emptied, or garbage after a good header
        data = p.read_bytes()
        p.write_bytes([data[: len(data) // 2], b"", data[:40] + b"\xff" * 64][i % 3])
    assert _render(template_cache(str(tmp_path))) == plain


def test_a_cache_that_cannot_be_used_costs_nothing_but_time(tmp_path):
    plain = _render(None)
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    assert _render(template_cache(str(not_a_dir))) == plain  # reading and writing entries fail: OSError
    assert _render(template_cache(str(tmp_path / "missing" / "deeper"))) == plain
