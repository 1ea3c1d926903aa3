"""TLS sessions in the analysis: the JSON's times and frames, and the finding about undecrypted TLS,
on the real TLS overcloud capture (HTTPS to Keystone and Glance behind haproxy)."""

from glancetrace.analysis.analyze import analyze
from glancetrace.pipeline import decode
from tests.support.rig import analysed, capture


def test_every_session_has_its_end_and_frames():
    sessions = analysed("tls_overcloud")["tls_sessions"]
    assert sessions
    for t in sessions:
        first, last = t["frames"]
        assert 0 < first <= last
        assert t["start"] <= t["end"]


def test_undecrypted_tls_finding_points_at_the_handshake():
    """Without the key log: the finding names the first undecrypted session's ClientHello and
    Finished frames, on its connection."""
    an = analyze(decode(capture("tls_overcloud")))
    finding = next(f for f in an.findings if f.code == "tls-encrypted")
    first = next(t for t in an.tls_sessions if not t.decrypted)
    assert finding.frames == [first.handshake_start_frame, first.handshake_end_frame]
    assert finding.frames[0] < finding.frames[1] and finding.conn_id == first.conn_id
    doc = an.to_dict()
    f = next(f for f in doc["findings"] if f["code"] == "tls-encrypted")
    assert f"frame.number >= {finding.frames[0]}" in f["wireshark_filter"]
