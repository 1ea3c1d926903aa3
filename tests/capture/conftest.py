import pytest

from tests.capture.capfiles import record


@pytest.fixture(scope="session")
def caps(tmp_path_factory):
    """{name: path} of real loopback captures of each kind (see capfiles.py)."""
    return record(tmp_path_factory.mktemp("caps"))
