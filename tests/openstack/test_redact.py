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
    redact_json,
    redact_rows,
    redact_sql,
)

from glancetrace.openstack.redact_output import redact_body_text

from . import rigdata


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
