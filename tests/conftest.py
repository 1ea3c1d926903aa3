import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHARED = pathlib.Path(os.environ.get("GLANCETRACE_SHARED", ROOT.parent / "shared"))
FIXTURES = ROOT / "tests" / "fixtures"


@pytest.fixture(scope="session")
def shared_dir() -> pathlib.Path:
    if not SHARED.is_dir():
        msg = f"{SHARED} (the project's shared/ folder) is not there"
        if os.environ.get("GLANCETRACE_REQUIRE_TOOLS") == "1":
            pytest.fail(msg)  # CI has shared/ beside the clone: missing means the tests did not run
        pytest.skip(msg)
    return SHARED


@pytest.fixture(scope="session")
def thirdparty(shared_dir) -> pathlib.Path:
    return shared_dir / "thirdparty"


# CI runs the same examples every time (a submission must not fail on a newly drawn one);
# scripts/fuzz.sh and local runs keep exploring
try:
    from hypothesis import settings as _hyp_settings

    _hyp_settings.register_profile("ci", derandomize=True, print_blob=True)
    if os.environ.get("CI"):
        _hyp_settings.load_profile("ci")
except ImportError:
    pass
