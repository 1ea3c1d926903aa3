import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"


THIRDPARTY = FIXTURES / "thirdparty"


@pytest.fixture(scope="session")
def thirdparty() -> pathlib.Path:
    """Zeek's and Percona's captures with their published decodes, copied in with their licenses
    (tests/fixtures/thirdparty/SOURCES.md), so a plain clone runs every test."""
    return THIRDPARTY


# CI runs the same examples every time (a submission must not fail on a newly drawn one);
# scripts/fuzz.sh and local runs keep exploring
try:
    from hypothesis import settings as _hyp_settings

    _hyp_settings.register_profile("ci", derandomize=True, print_blob=True)
    if os.environ.get("CI"):
        _hyp_settings.load_profile("ci")
except ImportError:
    pass


# CI (GLANCETRACE_REQUIRE_TOOLS=1) fails on any skipped test: every test must run on a clean clone
_skipped: list[str] = []


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail"):
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("GLANCETRACE_REQUIRE_TOOLS") == "1" and _skipped and exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter):
    if os.environ.get("GLANCETRACE_REQUIRE_TOOLS") == "1" and _skipped:
        terminalreporter.write_line(f"FAILED: {len(_skipped)} test(s) skipped; CI runs every test "
                                    f"(first: {_skipped[0]})", red=True)
