"""TLS decoder on third-party captures, checked against Zeek's baselines (parsed, not hard-coded)."""

from __future__ import annotations

import pytest

from glancetrace.pipeline import decode
from glancetrace.protocols.tls import TlsSession
from tests.conftest import FIXTURES
from tests.protocols.tls import harness as H


def zeek_log(path) -> list[dict]:
    """Rows of a Zeek ASCII log as dicts (field names from #fields; '\\\\' unescaped)."""
    fields, rows = [], []
    for line in path.read_text().splitlines():
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
        elif line and not line.startswith("#"):
            rows.append(dict(zip(fields, (v.replace("\\\\", "\\") for v in line.split("\t")))))
    return rows


def zeek_version(v: str) -> str:  # "TLSv12" -> "TLS 1.2"
    return f"TLS {v[4]}.{v[5]}"


RDS = [("tls-12-amazon-rds.pcap", "scripts.base.protocols.mysql.encrypted-aws-rds", "tls-12."),
       ("tls-13-amazon-rds.pcap", "scripts.base.protocols.mysql.encrypted-aws-rds", "tls-13."),
       ("encrypted.pcap", "scripts.base.protocols.mysql.encrypted", "")]


@pytest.mark.parametrize("trace,base,prefix", RDS)
def test_mysql_over_tls_handshake_facts(thirdparty, trace, base, prefix):
    """MySQL switches to TLS after its SSL request: the decoder finds the hello past the preamble."""
    bdir = thirdparty / "zeek" / "baselines" / base
    ssl_rows = zeek_log(bdir / f"{prefix}ssl.log")
    res = H.decode_all(thirdparty / "zeek" / "traces" / "mysql" / trace, [3306], None)
    assert len(res) == len(ssl_rows) == 1
    st, sess, inner, _ = res[0]
    z = ssl_rows[0]
    assert sess.client == f"{z['id.orig_h']}:{z['id.orig_p']}" and sess.server == f"{z['id.resp_h']}:{z['id.resp_p']}"
    assert sess.version == zeek_version(z["version"])
    assert sess.cipher == z["cipher"]
    assert (sess.group or "-") == z["curve"]
    assert (sess.sni or "-") == z["server_name"]
    assert sess.resumed == (z["resumed"] == "T") and sess.established == (z["established"] == "T")
    assert not sess.decrypted and sess.why_not.startswith("no key for client random ")
    assert sess.bytes_up > 0 and sess.bytes_down > 0 and sess.handshake_start < sess.handshake_end
    x509 = bdir / f"{prefix}x509.log"
    if x509.exists():
        certs = zeek_log(x509)
        leaf = [c for c in certs if c.get("host_cert") == "T"]
        assert sess.cert_subject == leaf[0]["certificate.subject"]
        assert sess.cert_issuer == leaf[0]["certificate.issuer"]
        assert sess.cert_chain == len([c for c in certs if c.get("client_cert") != "T"])
    else:
        assert sess.cert_subject is None  # TLS 1.3: the certificate is encrypted


def test_zeek_tls12_decryption_heise(thirdparty):
    """HTTPS to heise.de with the master secret: decrypted and decoded like Zeek's http.log."""
    pcap = thirdparty / "zeek" / "traces" / "tls" / "tls12-decryption.pcap"
    keys = thirdparty / "zeek" / "traces" / "tls" / "tls12-decryption.keylog"
    want = zeek_log(thirdparty / "zeek" / "baselines" / "scripts.policy.protocols.ssl.decryption" / "http.log")
    res = decode(str(pcap), keylog=[str(keys)])
    sessions = res.of_type(TlsSession)
    assert len(sessions) == 1 and sessions[0].decrypted and sessions[0].sni == want[0]["host"]
    try:
        from glancetrace.protocols.http import HttpTransaction
    except ImportError:
        pytest.skip("HTTP decoder not there yet")
    tx = res.of_type(HttpTransaction)
    assert [(t.method, t.header("host"), t.uri, t.status, t.response_body.size, t.tls) for t in tx] == [
        (w["method"], w["host"], w["uri"], int(w["status_code"]), int(w["response_body_len"]), True) for w in want]


def test_zeek_tls12_without_key(thirdparty):
    pcap = thirdparty / "zeek" / "traces" / "tls" / "tls12-decryption.pcap"
    (st, sess, inner, _), = H.decode_all(pcap, [443], H.keylog())
    assert not sess.decrypted and inner is None
    assert sess.why_not == f"no key for client random {sess.client_random} (no key log loaded)"


RIG = FIXTURES / "rig" / "tls_overcloud"


def test_overcloud_all_requests_decrypted():
    """haproxy TLS 1.3 on 13000/13292: every request comes out (tshark 4.0 misses 2 on 13292
    without out-of-order reassembly); counts checked against the rig's truth file."""
    import json

    from glancetrace.protocols.http import HttpTransaction

    truth = json.loads((RIG / "truth.json").read_text())
    res = decode(str(RIG / "capture.pcap"), keylog=[str(RIG / "capture.keys")])
    sessions = res.of_type(TlsSession)
    assert sessions and all(s.decrypted and s.version == "TLS 1.3" for s in sessions)
    tx = [t for t in res.of_type(HttpTransaction) if t.tls]
    by_port: dict[str, int] = {}
    for t in tx:
        port = t.server.rsplit(":", 1)[1]
        by_port[port] = by_port.get(port, 0) + 1
    want = truth["http_requests"]["client_debug_by_port"]
    assert by_port == {k: v for k, v in want.items()}


@pytest.mark.parametrize("trace,base,prefix", RDS)
def test_pipeline_hands_mysql_starttls_to_the_tls_decoder(thirdparty, trace, base, prefix):
    """Through the whole pass: the MySQL handshake says TLS, then a TlsSession reports what Zeek saw."""
    from glancetrace.protocols.mysql import MysqlHandshake

    ssl_row, = zeek_log(thirdparty / "zeek" / "baselines" / base / f"{prefix}ssl.log")
    res = decode(str(thirdparty / "zeek" / "traces" / "mysql" / trace))
    hs, = res.of_type(MysqlHandshake)
    sess, = res.of_type(TlsSession)
    assert hs.ssl and sess.conn_id == hs.conn_id
    assert sess.version == zeek_version(ssl_row["version"])
    assert sess.cipher == ssl_row["cipher"]
    assert not [e for e in res.events if type(e).__name__ == "SqlStatement"]  # nothing decoded as garbage
