"""`report --format md`: the text pasted into a ticket."""

import copy
import re
import subprocess
import sys

from glancetrace.report.markdown import md_code, md_text
from tests.support.rig import analysed, capture


def _md(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "glancetrace", "report", *args, "--format", "md", "-q"],
                          capture_output=True, text=True)


def test_sample_as_markdown_is_short_and_carries_the_evidence():
    p = _md(capture("failures"))
    assert p.returncode == 0, p.stderr
    text = p.stdout
    doc = analysed("failures")
    assert len(text.splitlines()) < 100
    for f in doc["findings"]:
        assert f["wireshark_filter"] in text  # each finding's filter, pasteable
    for im in doc["images"]:
        assert im["id"] in text and f"### {md_text(im['name'])}: {im['final_status']}" in text
    assert text.count("- **") == len(doc["findings"])


def test_capture_text_stays_text():
    doc = copy.deepcopy(analysed("failures"))
    doc["images"][0]["name"] = "**ok** <img src=x> \x1b]0;pwned\x07 [a](http://x) `x`"
    from io import StringIO

    from glancetrace.report.markdown import write_markdown
    out = StringIO()
    write_markdown(doc, out)
    text = out.getvalue()
    assert "\x1b" not in text and "\x07" not in text
    assert not re.search(r"(?<!\\)<img", text) and "**ok**" not in text and "[a](http" not in text
    # rendered, the escapes read back as the name with its control characters spelled out
    assert r"\*\*ok\*\* \<img src=x\> \\x1b\]0;pwned\\x07 \[a\](http://x) \`x\`" in text


def test_code_span_fences_backticks():
    assert md_code("a`b") == "``a`b``"
    assert md_code("`x") == "`` `x ``"
