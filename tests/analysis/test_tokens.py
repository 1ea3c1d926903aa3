"""Why Glance answered 401, on the real rig (tests/fixtures/rig-import/token_failures, staged by
scripts/rig_import.py with Keystone's token lifetime shortened): a revoked token, one Keystone does not know,
an expired one.  Held against the tokens the scenario used (their SHA-256, expires_at) and Glance's database."""

from __future__ import annotations

import pytest

from glancetrace.analysis.tokens import epoch_of
from tests.analysis.test_imports import doc, truth
from tests.support.rig import SCENARIOS, analysed, epoch

SCENARIO = "token_failures"
KIND = {"revoked-token-upload": ("token-revoked", "revoked"), "unknown-token-upload": ("token-unknown", "unknown"),
        "expired-token-upload": ("token-expired", "expired")}


def images() -> dict[str, dict]:
    return {im["name"]: im for im in doc(SCENARIO)["images"]}


def fp(kind: str) -> str:
    return truth(SCENARIO)["tokens"][kind]["sha256_prefix"][:4]


@pytest.mark.parametrize("name", sorted(KIND))
def test_401_on_upload_says_which_token_fate(name):
    d = doc(SCENARIO)
    code, kind = KIND[name]
    assert truth(SCENARIO)["results"][name] == "401"
    im = images()[name]
    calls = {c["id"]: c for c in d["calls"]}
    (f,) = [f for f in d["findings"] if f["image_id"] == im["id"] and f["code"].startswith("token-")]
    assert f["code"] == code
    assert f"<redacted sha256:{fp(kind)}>" in f["message"]
    call = calls[f["call_id"]]
    assert call["kind"] == "upload" and call["status"] == 401
    # the validation Glance made for this upload is named, and it is Glance's call made for it
    (v,) = [c for c in d["calls"] if (c["on_behalf_of"] or {}).get("call_id") == call["id"]]
    assert v["kind"] == "token_validate" and v["status"] == 404 and f"call {v['id']}" in f["message"]
    assert call["request_time"] <= v["request_time"] <= call["response_end"]
    assert not [g for g in d["findings"] if g["call_id"] in (call["id"], v["id"])
                and (g["code"].startswith("http-") or g["code"] == "upload-interrupted")]
    if call["incomplete"]:  # Glance answered before the body ended: said here, not as an interrupted upload
        assert "before the body was complete" in f["message"]
    if kind == "revoked":
        (r,) = [c for c in d["calls"] if c["kind"] == "token_revoke"]
        assert r["status"] == 204 and f"call {r['id']}" in f["message"] and r["request_time"] < call["request_time"]
    if kind == "expired":
        expires = truth(SCENARIO)["tokens"]["expired"]["expires_at"]
        assert epoch_of(expires) == epoch(expires) < v["request_time"]
        assert "had expired at" in f["message"]
    if kind != "unknown":
        assert "issued at" in f["message"]


def test_no_token_is_written_in_full():
    d = doc(SCENARIO)
    text = repr(d["findings"]) + repr([c["on_behalf_of"] for c in d["calls"]])
    assert "gAAAAA" not in text  # Fernet tokens start so


def test_images_end_as_the_database_says():
    ours = images()
    for real in truth(SCENARIO)["images"]:
        im = ours[real["name"]]
        assert im["final_status"] == real["status"]
        assert [t["status"] for t in im["transitions"] if not t["failed"]] == [
            h["status"] for h in real["status_history"]]
    d = doc(SCENARIO)
    retry = ours["expired-token-upload"]
    assert retry["final_status"] == "active"  # the fresh token's upload: no finding on it
    assert truth(SCENARIO)["results"]["expired-token-upload retry"] == "204"
    stuck = [f for f in d["findings"] if f["code"] == "stuck-queued"]
    assert stuck and all("refused its upload with 401" in f["message"] for f in stuck)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_glance_validations_serve_the_call_whose_token_they_check(scenario):
    """In every clean capture each of Glance's validations is tied to one Glance call open at the time."""
    d = analysed(scenario)
    calls = {c["id"]: c for c in d["calls"]}
    validations = [c for c in d["calls"] if c["kind"] == "token_validate" and c["hop"] != "frontend"]
    assert validations
    for v in validations:
        served = v["on_behalf_of"]
        assert served is not None and served["role"] == "token_validation", v["summary"]
        glance = calls[served["call_id"]]
        assert glance["service"] == "glance"
        assert glance["request_time"] - 0.05 <= v["request_time"] <= glance["response_end"] + 0.05


def test_revocation_lost_from_the_capture_leaves_keystones_404(tmp_path):
    """The capture lost the DELETE /v3/auth/tokens (its connection filtered out): the 401 is still explained,
    from what Glance's validation got — a token Keystone does not know — never as revoked."""
    from glancetrace.analysis.analyze import analyze
    from glancetrace.pipeline import decode
    from tests.analysis.test_imports import HERE
    from tests.support.rigcauses import without_port

    (r,) = [c for c in doc(SCENARIO)["calls"] if c["kind"] == "token_revoke"]
    tmp = tmp_path / "no-revoke.pcap"
    assert without_port(HERE / SCENARIO / "capture.pcap", int(r["client"].rsplit(":", 1)[1]), tmp)
    d = analyze(decode(str(tmp))).to_dict()
    assert not [c for c in d["calls"] if c["kind"] == "token_revoke"]
    im = next(i for i in d["images"] if i["name"] == "revoked-token-upload")
    (f,) = [f for f in d["findings"] if f["image_id"] == im["id"] and f["code"].startswith("token-")]
    assert f["code"] == "token-unknown" and f"<redacted sha256:{fp('revoked')}>" in f["message"]
