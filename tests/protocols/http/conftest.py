import pytest

from tests.protocols.http.httpcaps import recorded


@pytest.fixture(scope="session")
def http_caps(tmp_path_factory):
    """{name: Capture} of real loopback HTTP traffic (see httpcaps.py)."""
    pytest.importorskip("waitress")
    return recorded(tmp_path_factory)
