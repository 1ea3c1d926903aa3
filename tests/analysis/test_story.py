"""Each image's story, checked against what Glance's database says happened (truth.json)."""

import re

import pytest

from glancetrace.analysis.story import clock, final_state, stories
from tests.support.rig import SCENARIOS, analysed, epoch, truth


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_story_tells_each_image_as_glance_recorded_it(scenario):
    doc = analysed(scenario)
    told = stories(doc)
    for img in truth(scenario)["images"]:
        first, ending = told[img["id"]]
        status = "deleted" if img["deleted"] else img["status"]
        assert status in ending.lower(), (img["name"], ending)
        # every status the database went through, at the time its statement ran, is in the story
        for step in img["status_history"][1:]:
            if step["status"] == "saving":  # told as the upload that caused it
                assert "upload of" in first, (img["name"], first)
                continue
            when = clock(epoch(step["sql_time"]))[:-4]  # to the second: the log and the capture differ by µs
            assert re.search(rf"\b{step['status']}\b[^;]* at {when}", first) or (
                step["status"] == "queued" and f"back to queued at {when}" in first), (img["name"], step, first)


def test_story_of_the_failures_sample_names_the_cut_off_and_the_idle_time():
    doc = analysed("failures")
    told = stories(doc)
    by_name = {i["name"]: told[i["id"]] for i in doc["images"]}
    first, ending = by_name["interrupted-upload"]
    assert "was cut off" in first and "Glance answered 500" in first and "put back to queued" in first
    end = doc["summary"]["last_ts"]
    img = next(i for i in doc["images"] if i["name"] == "interrupted-upload")
    idle = end - img["states"][-1]["start"]
    assert ending == f"Still queued at the end of the capture, {idle:,.0f} s later."
    assert by_name["empty-queued"][0].count(";") == 0  # created, nothing else: one clause
    assert "403 Forbidden" in by_name["protected-image"][0]


def test_an_image_left_queued_less_than_half_a_second_before_the_end_is_not_zero_seconds():
    image = {"final_status": "queued", "states": [{"status": "queued", "start": 100.0}]}
    assert final_state(image, 100.3)["label"] == "still queued at the end of the capture, under a second later"
    assert final_state(image, 101.6)["label"] == "still queued at the end of the capture, 2 s later"
