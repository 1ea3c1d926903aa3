"""Capture text made safe to show: every writer (terminal, CSV, JSON, HTML) goes through here.

Every string in the output came from a packet that anyone on the network could have sent:
an image name holding `ESC ] 0 ; … BEL` retitles the terminal, `ESC [ 2 J` clears it, a lone
surrogate (half an emoji cut by a proxy) cannot be encoded, U+202E turns an image id around.
Such characters are shown as escapes (`\\x1b`, `\\ud83d`, `\\u202e`) instead of being written.
Rich markup needs no escaping here: the terminal writer hands rich `Text`, never markup.
"""

from __future__ import annotations

import math
import numbers
import re

# bidi controls (embeddings, overrides, isolates, marks) and the Unicode line/paragraph separators
_INVISIBLE = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029"
# C0 controls, DEL, C1 controls and surrogates (a str from a JSON body can hold a lone one)
_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f\ud800-\udfff{_INVISIBLE}]")
_UNSAFE_BUT_LINES = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff{_INVISIBLE}]")  # keeps \t and \n
_FORMULA_START = ("=", "+", "-", "@", "\t")


def _escape(m: re.Match) -> str:
    o = ord(m.group())
    return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}"


def visible(text, lines: bool = False) -> str:
    """`text` with control, bidi and surrogate characters written as escapes; `lines` keeps tab and newline
    (SQL text laid out on several lines, in CSV and HTML)."""
    s = "" if text is None else str(text)
    pattern = _UNSAFE_BUT_LINES if lines else _UNSAFE
    return pattern.sub(_escape, s) if pattern.search(s) else s


def csv_cell(value):
    """A CSV cell: text made visible, and a leading = + - @ (a spreadsheet formula) defused with a quote."""
    if not isinstance(value, str):
        return value
    s = visible(value, lines=True)
    return "'" + s if s.startswith(_FORMULA_START) else s


def json_ready(x):
    """Anything `json.dumps(allow_nan=False)` accepts: NaN/inf → null, numpy numbers → int/float,
    unknown objects → str. Strings are kept as they are (JSON escapes them)."""
    if isinstance(x, dict):
        return {str(k): json_ready(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_ready(v) for v in x]
    if x is None or isinstance(x, (str, bool)):
        return x
    if isinstance(x, numbers.Integral):
        return int(x)
    if isinstance(x, numbers.Real):
        f = float(x)
        return f if math.isfinite(f) else None
    return str(x)


def visible_tree(x, lines: bool = True):
    """A JSON-able tree with every string (keys too) made visible."""
    if isinstance(x, str):
        return visible(x, lines)
    if isinstance(x, dict):
        return {visible_tree(k, lines) if isinstance(k, str) else k: visible_tree(v, lines) for k, v in x.items()}
    if isinstance(x, list):
        return [visible_tree(v, lines) for v in x]
    if isinstance(x, tuple):
        return tuple(visible_tree(v, lines) for v in x)
    return x
