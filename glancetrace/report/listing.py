"""A plain table for long listings (every HTTP call, every SQL statement) on a terminal.

rich's Table measures and lays out every cell (10-20 ms a row: 20 s for a capture whose CSV takes
5 s, and all of it held in memory until printed); a listing needs less: the fixed columns are as wide
as their widest value, the one text column takes what is left and folds, rows go out in batches.
Cells must already be visible text (safe_text.visible).
"""

from __future__ import annotations

from rich.cells import cell_len, chop_cells
from rich.console import Console

GAP = "  "
MIN_TEXT = 16  # the folding column never gets narrower than this
BATCH = 2000  # rows per write
SGR = {"bold": "1", "dim": "2", "red": "31", "yellow": "33"}  # the few styles a listing uses


class Listing:
    """Columns are (name, kind): "text" (left), "num" (right) or one "fold" column, whose cell may be
    (main, dim): a dimmed line under it."""

    def __init__(self, title: str, columns: list[tuple[str, str]]):
        self.title = title
        self.columns = columns
        self.rows: list[tuple[list, str | None]] = []

    def add(self, cells: list, style: str | None = None) -> None:
        self.rows.append((cells, style))

    def widths(self, total: int) -> list[int]:
        w = []
        for i, (name, kind) in enumerate(self.columns):
            w.append(0 if kind == "fold" else max([len(name)] + [len(r[i]) for r, _ in self.rows]))
        fold = next(i for i, (_, kind) in enumerate(self.columns) if kind == "fold")
        w[fold] = max(MIN_TEXT, total - 1 - sum(w) - len(GAP) * (len(w) - 1))
        return w

    def print(self, console: Console) -> None:
        """Written straight to the console's file (styles as plain SGR codes when it shows colour):
        a Text per row through rich costs a millisecond."""
        widths = self.widths(console.width)
        colour = console.is_terminal and console.color_system is not None and not console.no_color
        line = 1 + sum(widths) + len(GAP) * (len(widths) - 1)
        out = [self.title.center(line).rstrip() + "\n",
               _styled(" " + GAP.join(self._cell(n, k, w) for (n, k), w in zip(self.columns, widths)), "bold", colour),
               "─" * line + "\n"]
        for n, (cells, style) in enumerate(self.rows, 1):
            out += self._row(cells, style, widths, colour)
            if n % BATCH == 0:
                console.file.write("".join(out))
                out = []
        console.file.write("".join(out))
        console.file.flush()

    def _row(self, cells: list, style: str | None, widths: list[int], colour: bool) -> list[str]:
        lines: list[tuple[str, bool]] = []  # the folding column's lines, and whether dimmed
        for i, (_, kind) in enumerate(self.columns):
            if kind == "fold":
                main, dim = cells[i] if isinstance(cells[i], tuple) else (cells[i], None)
                lines = [(s, False) for s in fold(main, widths[i])]
                lines += [(s, True) for s in (fold(dim, widths[i]) if dim is not None else [])]
        out = []
        for k, (text, dimmed) in enumerate(lines):
            parts = [self._cell(text if kind == "fold" else (cells[i] if k == 0 else ""), kind, w)
                     for i, ((_, kind), w) in enumerate(zip(self.columns, widths))]
            out.append(_styled((" " + GAP.join(parts)).rstrip(), " ".join(filter(None, [style, dimmed and "dim"])),
                               colour))
        return out

    @staticmethod
    def _cell(value: str, kind: str, width: int) -> str:
        pad = width - (len(value) if value.isascii() else cell_len(value))
        return " " * pad + value if kind == "num" else value + " " * pad


def fold(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width` cells, broken at a space where there is one."""
    ascii_only = text.isascii()
    lines = []
    while len(text) > width:
        cut = text.rfind(" ", 0, width + 1)
        lines.append(text[:cut if cut > 0 else width])
        text = text[cut + 1 if cut > 0 else width:]
    lines.append(text)
    if ascii_only:
        return lines
    return [part for s in lines for part in (chop_cells(s, width) if cell_len(s) > width else [s])]


def _styled(line: str, style: str | None, colour: bool) -> str:
    if not colour or not style:
        return line + "\n"
    return f"\x1b[{';'.join(SGR[s] for s in style.split())}m{line}\x1b[0m\n"
