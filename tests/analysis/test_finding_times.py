"""Every finding says when the capture shows it, and findings read in the same order everywhere."""

import pytest

from glancetrace.analysis.findings import SEVERITY_ORDER
from tests.support.rig import SCENARIOS, analysed


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_findings_have_a_time_inside_the_capture_and_sort_by_severity_then_time(scenario):
    doc = analysed(scenario)
    s = doc["summary"]
    sql = {r["id"]: r for r in doc["sql"]}
    calls = {c["id"]: c for c in doc["calls"]}
    for f in doc["findings"]:
        if f["sql_id"] or f["call_id"]:
            assert s["first_ts"] <= f["time"] <= s["last_ts"], f
        if f["sql_id"]:  # the statement that shows it
            assert f["time"] == sql[f["sql_id"]]["request_time"]
        elif f["call_id"]:
            c = calls[f["call_id"]]
            assert f["time"] == (c["response_end"] or c["request_end"])
    keys = [(SEVERITY_ORDER[f["severity"]], f["time"] if f["time"] is not None else float("inf"))
            for f in doc["findings"]]
    assert keys == sorted(keys)
