"""Every finding's Wireshark filter selects packets, among them every frame the finding cites
(tshark is the judge), for every finding of every real rig scenario."""

import subprocess

import pytest

from tests.support.loopback import need
from tests.support.rig import SCENARIOS, analysed, capture


def _selected(path: str, display_filter: str) -> set[int]:
    out = subprocess.run(["tshark", "-r", path, "-Y", display_filter, "-T", "fields", "-e", "frame.number"],
                         check=True, capture_output=True, text=True).stdout
    return {int(x) for x in out.split()}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_finding_filter_selects_what_it_cites(scenario):
    need("tshark")
    doc = analysed(scenario)
    assert doc["findings"] or scenario in ("concurrent", "plain_overcloud", "tls_overcloud")
    for f in doc["findings"]:
        assert f["file"] == capture(scenario)
        got = _selected(f["file"], f["wireshark_filter"])
        assert got, f
        assert set(f["frames"]) <= got, f


def test_a_status_change_in_sql_cites_the_database_connection():
    """The 'still queued' findings cite the UPDATE's frames: the filter must be on its connection
    (it named the HTTP call's tcp.stream, and selected nothing)."""
    doc = analysed("failures")
    sql = {s["id"]: s for s in doc["sql"]}
    stuck = [f for f in doc["findings"] if f["code"] == "stuck-queued" and f["sql_id"]]
    assert stuck
    for f in stuck:
        assert f["conn_id"] == sql[f["sql_id"]]["conn_id"]
