"""TLS decoder on real loopback traffic: Python ssl and openssl servers, keys from the client's key log."""

from __future__ import annotations

import re
import ssl
import subprocess

import pytest

from tests.protocols.tls import harness as H
from tests.protocols.tls import tlscaps as T
from tests.support.loopback import need, tshark_fields

TLS12 = [
    ("ECDHE-RSA-AES128-GCM-SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
    ("ECDHE-RSA-AES256-GCM-SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
    ("ECDHE-RSA-CHACHA20-POLY1305", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
    ("ECDHE-RSA-AES128-SHA256", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"),
    ("AES256-SHA", "TLS_RSA_WITH_AES_256_CBC_SHA"),
]
TLS13 = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"]


@pytest.fixture(scope="module")
def capdir(tmp_path_factory):
    need("tcpdump")
    return tmp_path_factory.mktemp("tls")


@pytest.fixture(scope="module")
def https13(capdir):
    return T.record_https(capdir, "https13", resume=True)


@pytest.fixture(scope="module")
def https12(capdir):
    return T.record_https(capdir, "https12", max_version=ssl.TLSVersion.TLSv1_2,
                          ciphers="ECDHE-RSA-AES128-GCM-SHA256", resume=True)


def _one(cap, keys=True):
    res = H.decode_all(cap.pcap, [cap.port], H.keylog(cap.keys) if keys else None)
    assert len(res) == 1
    return res[0]


def _client_bytes(exchanges) -> bytes:
    return b"".join(ex.body for ex in exchanges)


def _check_plaintext(inner: H.FakeInner, cap: T.Capture):
    up, down = bytes(inner.data[0]), bytes(inner.data[1])
    # every request line, in order, and each upload body byte for byte
    pos = 0
    for ex in cap.exchanges:
        line = f"{ex.method} {ex.path} HTTP/1.1\r\n".encode()
        pos = up.index(line, pos)
        if ex.body:
            at = up.index(b"\r\n\r\n", pos) + 4
            assert up[at:at + len(ex.body)] == ex.body
            pos = at + len(ex.body)
        assert ex.response in down
    assert not inner.gaps


@pytest.mark.parametrize("openssl_name,iana", TLS12)
def test_tls12_suites_decrypt(capdir, openssl_name, iana):
    cap = T.record_https(capdir, f"tls12-{openssl_name}", max_version=ssl.TLSVersion.TLSv1_2, ciphers=openssl_name)
    st, sess, inner, _ = _one(cap)
    assert (sess.version, sess.cipher, sess.sni) == ("TLS 1.2", iana, T.SNI)
    assert sess.decrypted and not sess.why_not and sess.established
    assert sess.cert_subject and "CN=glance.test" in sess.cert_subject
    _check_plaintext(inner, cap)
    assert sess.plaintext_up == len(inner.data[0]) and sess.plaintext_down == len(inner.data[1])


@pytest.mark.parametrize("suite", TLS13)
def test_tls13_suites_decrypt(capdir, suite):
    cap = T.record_openssl_www(capdir, f"tls13-{suite}", suite)
    st, sess, inner, _ = _one(cap)
    assert (sess.version, sess.cipher, sess.sni) == ("TLS 1.3", suite, T.SNI)
    assert sess.decrypted and sess.established
    assert bytes(inner.data[0]) == cap.sent
    assert bytes(inner.data[1]) == cap.received and cap.exchanges[0].response in cap.received
    # the certificate travels encrypted in TLS 1.3: visible only once decrypted
    assert sess.cert_subject and "CN=glance.test" in sess.cert_subject
    # each plaintext byte maps to the frame that completed its record: frames only grow
    frames = [f for d, _, f in inner.frames if d == 1]
    assert frames == sorted(frames) and frames[0] >= sess.handshake_end_frame


def test_tls13_upload_and_resumption(https13):
    res = H.decode_all(https13.pcap, [https13.port], H.keylog(https13.keys))
    assert len(res) == 2
    (_, first, inner1, _), (_, second, inner2, _) = res
    for sess, inner in ((first, inner1), (second, inner2)):
        assert sess.version == "TLS 1.3" and sess.decrypted
        _check_plaintext(inner, https13)
    assert not first.resumed and second.resumed
    assert second.client_random != first.client_random


def test_tls12_resumption(https12):
    res = H.decode_all(https12.pcap, [https12.port], H.keylog(https12.keys))
    (_, first, _, _), (_, second, inner2, _) = res
    assert first.version == second.version == "TLS 1.2"
    assert not first.resumed and second.resumed
    assert second.cert_subject is None and first.cert_subject  # abbreviated handshake: no certificate
    assert second.decrypted
    _check_plaintext(inner2, https12)


def test_facts_without_keys_match_tshark(https12):
    st, sess, inner, _ = H.decode_all(https12.pcap, [https12.port], None)[0]
    assert inner is None and not sess.decrypted
    rows = tshark_fields(https12.pcap, f"tcp.stream=={st.conn_id}",
                         ["tls.handshake.type", "tls.handshake.extensions_server_name",
                          "tls.handshake.ciphersuite", "tls.handshake.random", "tls.record.content_type",
                          "tls.record.length", "tcp.srcport"],
                        # loopback under load reorders segments (zero windows, D-SACK): without
                        # out-of-order reassembly (off by default) tshark loses the record boundaries
                        extra=["-o", "tcp.reassemble_out_of_order:TRUE"])
    sni = next(r[1] for r in rows if r[1])
    assert sess.sni == sni
    hello = next(r for r in rows if r[0].split("|")[0] == "2")
    assert int(hello[2].split("|")[0], 16) == 0xC02F and sess.cipher == "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
    client_hello = next(r for r in rows if r[0].split("|")[0] == "1")
    assert sess.client_random == client_hello[3].split("|")[0]
    up = down = nup = ndown = 0
    for r in rows:
        for ctype, ln in zip(r[4].split("|"), r[5].split("|")):
            if ctype == "23":
                if int(r[6]) == https12.port:
                    down, ndown = down + int(ln), ndown + 1
                else:
                    up, nup = up + int(ln), nup + 1
    assert (sess.bytes_up, sess.bytes_down, sess.records_up, sess.records_down) == (up, down, nup, ndown)
    assert sess.first_up <= sess.last_up and sess.handshake_start < sess.handshake_end <= sess.first_up
    assert sess.handshake_end_frame < sess.first_up_frame


def test_missing_key_reports_client_random(https13, capdir):
    empty = capdir / "other.keys"
    empty.write_text("CLIENT_RANDOM " + "00" * 32 + " " + "11" * 48 + "\n")
    res = H.decode_all(https13.pcap, [https13.port], H.keylog(empty))
    for st, sess, inner, _ in res:
        assert not sess.decrypted and inner is None
        assert sess.why_not == f"no key for client random {sess.client_random}"
        assert sess.version == "TLS 1.3" and sess.bytes_up > 3 * 1024 * 1024


def test_wrong_key_is_reported_not_decoded(https13, capdir):
    bad = capdir / "bad.keys"
    T.tamper_keys(https13.keys, bad)
    for st, sess, inner, _ in H.decode_all(https13.pcap, [https13.port], H.keylog(bad)):
        assert not sess.decrypted
        assert sess.why_not.startswith("wrong key")
        assert inner is None  # not one garbage byte passed on
        assert sess.bytes_up > 3 * 1024 * 1024 and sess.records_down > 0


def test_wrong_key_tls12(https12, capdir):
    bad = capdir / "bad12.keys"
    T.tamper_keys(https12.keys, bad)
    st, sess, inner, _ = H.decode_all(https12.pcap, [https12.port], H.keylog(bad))[0]
    assert not sess.decrypted and sess.why_not.startswith("wrong key") and inner is None


def test_pcapng_with_injected_secrets(https13, capdir):
    need("editcap")
    out = capdir / "https13-dsb.pcapng"
    subprocess.run(["editcap", "--inject-secrets", f"tls,{https13.keys}", str(https13.pcap), str(out)], check=True)
    res = H.decode_all(out, [https13.port], H.keylog())  # no key file: the keys come from the capture
    assert len(res) == 2
    for st, sess, inner, _ in res:
        assert sess.decrypted
        _check_plaintext(inner, https13)


def test_key_update(capdir):
    cap = T.record_key_update(capdir, "keyupdate")
    st, sess, inner, _ = _one(cap)
    assert sess.version == "TLS 1.3" and sess.decrypted
    assert sess.key_updates >= 2  # the client's two, plus the server's answers
    assert bytes(inner.data[0]) == cap.sent
    assert bytes(inner.data[1]) == cap.received
    assert sess.auth_failures == 0


def test_tshark_agrees_on_plaintext(https12):
    """tshark with the same key log decrypts the same request lines."""
    rows = tshark_fields(https12.pcap, "http.request", ["http.request.method", "http.request.uri"],
                         extra=["-o", f"tls.keylog_file:{https12.keys}", "-d", f"tcp.port=={https12.port},tls",
                                # loopback reorders segments; tshark 4.0 drops such requests without this
                                "-o", "tcp.reassemble_out_of_order:TRUE"])
    theirs = [(r[0], r[1]) for r in rows]
    ours = []
    for st, sess, inner, _ in H.decode_all(https12.pcap, [https12.port], H.keylog(https12.keys)):
        for m in re.finditer(rb"(GET|PUT|POST) (\S+) HTTP/1\.1\r\n", bytes(inner.data[0])):
            ours.append((m.group(1).decode(), m.group(2).decode()))
    assert ours == theirs and len(ours) == 2 * len(https12.exchanges)
