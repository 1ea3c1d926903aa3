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
