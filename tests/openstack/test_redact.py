"""Secret redaction on real rig material (captured Keystone/Glance headers and bodies) and on SQL forms."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from glancetrace.openstack.redact import (
    fingerprint,
    mask,
    redact_auth_data,
    redact_headers,
    redact_rows,
    redact_sql,
)

from glancetrace.openstack.redact_output import redact_body_text, redact_json, redact_output

from . import rigdata
from .secret_corpus import keystone_validation_error


def _real_token(scenario="failures"):
    """The Fernet token the rig's curl used (printed by `openstack token issue` in the client log)."""
    p = rigdata.path(scenario, "client-debug.log")
    if p is None:
        pytest.skip("no client log")
    with rigdata.open_text(p) as f:
        m = re.search(r"X-Auth-Token: (gAAAA[\w-]+=*)", f.read())
    if not m:
        pytest.skip("no plain token in the log")
    return m.group(1)


def test_fingerprint_is_keystoneauth_sha256_prefix():
    tok = _real_token()
    assert fingerprint(tok) == hashlib.sha256(tok.encode()).hexdigest()[:4]
    assert mask(tok) == f"<redacted sha256:{fingerprint(tok)}>"
    assert fingerprint(tok) != fingerprint(tok[:-1] + ("A" if tok[-1] != "A" else "B"))


def test_headers():
    tok = _real_token()
    h = [("X-Auth-Token", tok), ("x-subject-token", tok + "x"), ("Content-Type", "application/json"),
         ("Authorization", "Basic dXNlcjpwYXNz")]
    red = redact_headers(h)
    flat = json.dumps(red)
    assert tok not in flat and "dXNlcjpwYXNz" not in flat
    assert red[0][1] != red[1][1]  # two different tokens stay distinguishable
    assert red[2] == ("Content-Type", "application/json")
    assert red[3][1].startswith("Basic <redacted")
    assert redact_headers(h, show_secrets=True) == h


AUTH_BODY = {"auth": {"identity": {"methods": ["password", "application_credential", "token"],
                                   "password": {"user": {"name": "admin", "domain": {"name": "Default"},
                                                         "password": "s3cr3t-pw"}},
                                   "application_credential": {"id": "abc", "secret": "appcred-secret"},
                                   "token": {"id": "gAAAAABtokenvalue1234567890123456789012345678901234"}},
                      "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}


def test_json_bodies():
    red = redact_json(AUTH_BODY)
    flat = json.dumps(red)
    for secret in ("s3cr3t-pw", "appcred-secret", "gAAAAABtokenvalue"):
        assert secret not in flat
    assert red["auth"]["identity"]["password"]["user"]["name"] == "admin"
    assert red["auth"]["scope"] == AUTH_BODY["auth"]["scope"]
    assert AUTH_BODY["auth"]["identity"]["password"]["user"]["password"] == "s3cr3t-pw"  # input untouched
    assert redact_json(AUTH_BODY, show_secrets=True) == AUTH_BODY
    # truncated body (JSON cut at the cap) still masked by pattern
    cut = json.dumps(AUTH_BODY)[:150].encode()
    out = redact_body_text(cut)
    assert b"s3cr3t-pw" not in out and isinstance(out, bytes)


def test_real_token_responses_keep_their_meaning():
    """A real token response body from the rig: nothing secret in it, so redaction changes nothing."""
    txs = rigdata.client_transactions("plain_overcloud")
    body = next(t.response_body.json for t in txs if t.method == "POST" and t.uri == "/v3/auth/tokens")
    assert redact_json(body) == body


@pytest.mark.parametrize("sql,secret", [
    ("CREATE USER 'glance'@'%' IDENTIFIED BY 'Gl4nce!pw'", "Gl4nce!pw"),
    ("GRANT ALL ON glance.* TO 'glance'@'localhost' IDENTIFIED BY 'it''s'", "it''s"),
    ("ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD('rootpw')", "rootpw"),
    ("SET PASSWORD FOR 'keystone'@'%' = PASSWORD('ks-pw')", "ks-pw"),
    ("UPDATE password SET password_hash='$2b$12$abcdefghijklmnopqrstuv', self_service=0 WHERE password.id = 3",
     "$2b$12$abcdefghijklmnopqrstuv"),
    ("INSERT INTO password (local_user_id, self_service, password_hash, created_at_int, expires_at_int) "
     "VALUES (1, 0, '$2b$12$zyxwvutsrqponmlkjihgfe', 1700000000, NULL)", "$2b$12$zyxwvutsrqponmlkjihgfe"),
    ("INSERT INTO application_credential (internal_id, id, name, secret_hash) VALUES (1, 'x', 'n', 'hash-v')",
     "hash-v"),
])
def test_sql(sql, secret):
    red = redact_sql(sql)
    assert secret not in red and "<redacted sha256:" in red
    assert redact_sql(sql, show_secrets=True) == sql


def test_sql_without_secrets_unchanged_on_real_statements():
    rows = rigdata.general_log("plain_overcloud")
    for r in rows[:3000]:
        if r.command == "Query" and "password" not in r.argument.lower():
            assert redact_sql(r.argument) == r.argument


def test_rows_and_auth_data():
    cols = ["password_id", "password_password_hash", "local_user_name"]
    rows = [[1, "$2b$12$hash", "admin"], [2, None, "glance"]]
    red = redact_rows(cols, rows)
    assert red[0][1].startswith("<redacted") and red[0][2] == "admin" and red[1][1] is None
    assert rows[0][1] == "$2b$12$hash"
    assert redact_auth_data(b"\x01\x02").startswith("<redacted") and redact_auth_data(b"\x01", True) == "01"


@pytest.mark.parametrize("sql,secret", [
    ("ALTER USER 'u'@'%' IDENTIFIED WITH caching_sha2_password BY 'mysql8-pw'", "mysql8-pw"),  # MySQL 8
    ("CREATE USER u IDENTIFIED WITH 'mysql_native_password' AS '*6C8989366EAF75BB670AD8EA7A7FC1176A95CEF4'",
     "6C8989366EAF75BB670AD8EA7A7FC1176A95CEF4"),
    ("CREATE USER u IDENTIFIED WITH caching_sha2_password AS 0x2441243030352454", "2441243030352454"),
    ("ALTER USER u IDENTIFIED BY 'new-pw' REPLACE 'old-pw-1'", "old-pw-1"),
    ("ALTER USER u IDENTIFIED VIA ed25519 USING PASSWORD('ed-pw') OR unix_socket", "ed-pw"),
    ("GRANT USAGE ON *.* TO u IDENTIFIED BY PASSWORD '*94BDCEBE19083CE2A1F959FD02F964C7AF4CFC29'",
     "94BDCEBE19083CE2A1F959FD02F964C7AF4CFC29"),
    ('CREATE USER "u" IDENTIFIED BY "dq-pw"', "dq-pw"),
    ("SET PASSWORD = 'plain-pw'", "plain-pw"),
    ("CHANGE MASTER TO MASTER_HOST='db1', MASTER_USER='repl', MASTER_PASSWORD='repl-pw'", "repl-pw"),
    ("CHANGE REPLICATION SOURCE TO SOURCE_PASSWORD = 'src-pw'", "src-pw"),
    ("CREATE SERVER s FOREIGN DATA WRAPPER mysql OPTIONS (USER 'u', PASSWORD 'fdw-pw')", "fdw-pw"),
    ('INSERT INTO password (local_user_id, password_hash) VALUES (1, "$2b$12$dq"), (2, "$2b$12$dq2")', "$2b$12$dq2"),
    ("INSERT INTO `application_credential` (`internal_id`, `secret_hash`) VALUES (1, 'app-hash')", "app-hash"),
    ("UPDATE `password` SET `password_hash`='$2b$12$bt' WHERE id = 1", "$2b$12$bt"),
    # cut by the end of a truncated statement: no closing quote
    ("INSERT INTO password (local_user_id, password_hash) VALUES (1, '$2b$12$cutoffhe", "$2b$12$cutoffhe"),
    ("CREATE USER u IDENTIFIED BY 'cut-pw\\", "cut-pw"),
    # inside other text: a finding's message, MariaDB's error
    ("SQL error 1064 on: CREATE USER 'x' IDENTIFIED BY 'in-msg-pw'", "in-msg-pw"),
])
def test_sql_forms(sql, secret):
    red = redact_sql(sql)
    assert secret not in red and "<redacted sha256:" in red
    assert redact_sql(red) == red  # a mask is never masked again


def test_digest_samples_and_fingerprints_are_redacted():
    from glancetrace.analysis.sql_digest import digest

    class Stmt:  # a statement as the decoder gives it: only what the digest reads
        command, latency, result, rows, affected_rows, incomplete, request_time, statement_id = (
            "COM_QUERY", 0.001, "ok", 0, 1, False, 1.0, None)

        def __init__(self, sql):
            self.sql = sql

    stmts = [Stmt("SET PASSWORD FOR 'ks'@'%' = PASSWORD('digest-pw')"),
             Stmt("INSERT INTO password (local_user_id, password_hash) VALUES (1, '$2b$cut-in-fingerprint")]
    flat = digest(stmts).reset_index().to_json()
    assert "digest-pw" not in flat and "cut-in-fingerprint" not in flat
    assert "digest-pw" in digest(stmts, show_secrets=True).reset_index().to_json()


@pytest.mark.parametrize("text,secret", [
    ("/v2/images?password=qs-pw-1&limit=5", "qs-pw-1"),
    ("PUT /v1/AUTH_t/glance/x?temp_url_sig=da39a3ee5e6b4b0d&temp_url_expires=1", "da39a3ee5e6b4b0d"),
    ("GET /o?X-Amz-Signature=abc123def456&X-Amz-Date=1", "abc123def456"),
    ("mysql+pymysql://glance:db-url-pw@10.0.0.1/glance", "db-url-pw"),
    ("bad header line: X-Auth-Token: 7a9f3c5e0b1d", "7a9f3c5e0b1d"),
    ("X-Storage-Pass: swift-pw-1", "swift-pw-1"),
    ("Could not find token: 8d1c0e8f2a4b4c3d9e7f6a5b4c3d2e1f.", "8d1c0e8f2a4b4c3d9e7f6a5b4c3d2e1f"),
    ("Could not find token: eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhYmMifQ.c2lnbmF0dXJlMTIz.", "c2lnbmF0dXJlMTIz"),
    ('{"auth": {"identity": {"password": {"user": {"name": "a", "password": ["list-pw-1", "list', "list-pw-1"),
    ('{"user": {"password": {"nested": "obj-pw-1"}}}', "obj-pw-1"),
    ('{"user": {"password": 123456789}}', "123456789"),
    ('{"credentials": {"access": "a1", "signature": "ec2-hmac-sig", "token": "c2lnbmVk"}}', "ec2-hmac-sig"),
    ("{'name': 'admin', 'password': 'repr-pw-1'}", "repr-pw-1"),  # jsonschema's Python repr of an instance
    ('{"credential": {"blob": "{\\"access\\": \\"a\\", \\"secret\\": \\"blob-pw\\"}"', "blob-pw"),
    ('{"application_credential": {"secret": "cut-secr', "cut-secr"),
])
def test_free_text(text, secret):
    red = redact_output(text)
    assert secret not in red and "<redacted sha256:" in red
    assert redact_output(red) == red
    assert redact_output(text, show_secrets=True) == text


def testkeystone_validation_error_repeats_no_password():
    """Keystone's message for a password that is no string, as Keystone builds it with jsonschema."""
    for bad in (["kv-list-1", "kv-list-2"], {"kv-key": "kv-obj-1"}, 12345678):
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin",
                                                                                     "password": bad}}}}}
        msg = keystone_validation_error(body)
        assert msg and str(bad)[2:9] in msg  # the message does repeat it
        doc = {"request_json": body, "response_json": {"error": {"code": 400, "message": msg}}}
        flat = json.dumps(redact_output(doc))
        for secret in ("kv-list-1", "kv-list-2", "kv-key", "kv-obj-1", "12345678"):
            assert secret not in flat
        assert "Invalid input for field 'identity/password/user/password'" in flat
        # the message alone (the request not captured) is masked too
        assert str(bad)[2:9] not in redact_output(msg)


def test_echoes_of_a_masked_secret_are_masked_everywhere():
    doc = {"calls": [{"request_json": {"user": {"password": "echo-pw-1"}},
                      "summary": "user update", "notes": ["server said: bad password echo-pw-1"]}],
           "sql": [{"sql": "CREATE USER 'u' IDENTIFIED BY 'echo-pw-2'",
                    "error_message": "You have an error in your SQL syntax; ... near 'BY 'echo-pw-2'' at line 1"}],
           "findings": [{"message": "SQL error 1064 (… near 'BY 'echo-pw-2'') on: CREATE USER …"}]}
    flat = json.dumps(redact_output(doc))
    assert "echo-pw" not in flat
    assert flat.count(mask("echo-pw-2")) == 3  # the same fingerprint: it is recognisable as the same secret


def test_auth_method_objects_keep_their_meaning():
    red = redact_output(AUTH_BODY)
    assert red["auth"]["identity"]["password"]["user"]["name"] == "admin"
    assert red["auth"]["identity"]["application_credential"]["id"] == "abc"
    # a "password" object outside an auth method is a secret as a whole
    assert redact_output({"user": {"password": {"user": "x"}}})["user"]["password"].startswith("<redacted")


def test_output_of_real_traffic_unchanged_but_for_secrets():
    """A real Keystone/Glance session: only the tokens and the password change, and twice is once."""
    from glancetrace.report.tables import http_rows

    txs = rigdata.client_transactions("plain_overcloud")
    shown, hidden = http_rows(txs, show_secrets=True), http_rows(txs)
    assert redact_output(hidden) == hidden
    changed = {h[0].lower() for s, r in zip(shown, hidden) for hs, hr in
               ((s["request_headers"], r["request_headers"]), (s["response_headers"], r["response_headers"]))
               for h, g in zip(hs, hr) if h != g}
    assert "x-auth-token" in changed and changed <= {"x-auth-token", "x-subject-token"}
    assert [(r["uri"], r["notes"]) for r in hidden] == [(r["uri"], r["notes"]) for r in shown]


@pytest.mark.parametrize("text", [
    "/v2/images?limit=20&sort_key=created_at&sort_dir=desc&marker=3c2b1a",
    "/v3/role_assignments?user.id=abc&scope.project.id=def&include_names&effective",
    "/x?bypass_cache=true&design=3",
    "/v1/AUTH_t/glance/x?multipart-manifest=put&temp_url_expires=1900000000",
    "tcp.stream eq 15 && frame.number >= 10441 && frame.number <= 12864",
    "token_issue for admin (project admin)",
    "SELECT password.id, password.password_hash FROM password WHERE password.local_user_id = 5",
    "UPDATE images SET status='active' WHERE images.id = 'b2a1' AND images.status='saving'",
])
def test_text_without_secrets_unchanged(text):
    assert redact_output(text) == text


@pytest.mark.parametrize("extra", [0, 100])  # few secrets: searched for on the way; many: once at the end
def test_echoes_before_and_after_the_secret_turns_up(extra):
    many = [{"user": {"password": f"other-secret-{i:04d}"}} for i in range(extra)]
    doc = {"findings": [{"message": "rejected order-pw-1 (echo before the source)"}],
           "calls": [{"request_json": {"user": {"password": "order-pw-1"}}}, *many],
           "sql": [{"error_message": "near 'order-pw-1' (echo after the source)"}],
           "rows": ["order-pw-1", *(["other-secret-0000 and other-secret-0099"] if extra else [])]}
    red = redact_output(doc)
    flat = json.dumps(red)
    assert "order-pw-1" not in flat and "other-secret" not in flat
    assert red["findings"][0]["message"] == f"rejected {mask('order-pw-1')} (echo before the source)"
    assert redact_output(["x", doc, "order-pw-1"])[2] == mask("order-pw-1")  # rows: the same by position
