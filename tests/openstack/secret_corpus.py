"""A capture of real clients sending every kind of secret, each a unique marker, for the redaction tests.

On loopback, recorded with tcpdump: http.client talks to a waitress server that answers as Keystone, Glance and
Swift do (Keystone's schema-validation errors are made by jsonschema with Keystone's wording, so they repeat the
rejected password), and PyMySQL talks to a real MariaDB.  ``MARKERS`` names every secret; no marker may appear
in any output unless --show-secrets is given.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from dataclasses import dataclass

from tests.support.loopback import free_port, tcpdump
from tests.support.mariadb import mariadb_server


def _m(name: str) -> str:
    return f"Qz{name}Vx7"


MARKERS = {name: _m(name) for name in (
    # HTTP
    "KSPW", "KSORIGPW", "KSLIST1", "KSLIST2", "KSOBJ", "KSOBJKEY", "APPSECRET", "CREDBLOB", "TOTP",
    "SUBJTOKEN", "AUTHTOKEN", "TOKENID", "JWSTOKEN", "QSPW", "TEMPURLSIG", "TEMPURLKEY", "STORPASS",
    "STORTOKEN", "BEARER", "COOKIE", "IMGPROP",
    # MySQL
    "SQLCREATE", "SQLPLUGIN", "SQLSETPW", "SQLMASTER", "SQLHASHDQ", "SQLHASH", "SQLAPPSECRET", "SQLUPDATE",
    "SQLWHERE", "SQLSYNTAX",
)}
M = MARKERS
FERNET = "gAAAAAB" + M["SUBJTOKEN"] + "A" * 60
JWS = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ" + M["JWSTOKEN"] + "x.c2lnbmF0dXJlc2lnbmF0dXJl"
IMAGE_ID = str(uuid.UUID(int=7))

# A fragment of Keystone's schema of "auth" (keystone/auth/schema.py): enough to reject a password that is not a string.
_USER = {"type": "object", "properties": {"name": {"type": "string"}, "password": {"type": "string"}}}
_AUTH_SCHEMA = {"type": "object", "properties": {"identity": {"type": "object", "properties": {
    "methods": {"type": "array"}, "password": {"type": "object", "properties": {"user": _USER}}}}}}


def keystone_validation_error(body: dict) -> str | None:
    """Keystone's SchemaValidationError detail (keystone/common/validation/validators.py) for the body's "auth",
    or None when valid."""
    import jsonschema
    try:
        jsonschema.Draft4Validator(_AUTH_SCHEMA).validate(body.get("auth"))
    except jsonschema.ValidationError as ex:
        path = "/".join(map(str, ex.path))
        return f"Invalid input for field '{path}': {ex}" if path else str(ex)
    return None


def _json(start_response, status: str, doc: dict, headers=()) -> list[bytes]:
    out = json.dumps(doc).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(out))), *headers])
    return [out]


def _app(environ, start_response):
    path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
    n = int(environ.get("CONTENT_LENGTH") or 0)
    body = json.loads(environ["wsgi.input"].read(n)) if n else None
    if path == "/v3/auth/tokens" and method == "POST":
        detail = keystone_validation_error(body)
        if detail:
            return _json(start_response, "400 Bad Request",
                         {"error": {"code": 400, "message": detail, "title": "Bad Request"}})
        token = {"methods": ["password"], "user": {"id": "u1", "name": "admin", "domain": {"id": "default"}},
                 "expires_at": "2030-01-01T00:00:00.000000Z", "issued_at": "2029-12-31T23:00:00.000000Z"}
        return _json(start_response, "201 Created", {"token": token}, [("X-Subject-Token", FERNET)])
    if path == "/v3/auth/tokens" and method == "GET":  # an unknown token: Keystone repeats it
        tok = environ.get("HTTP_X_SUBJECT_TOKEN", "")
        return _json(start_response, "404 Not Found",
                     {"error": {"code": 404, "message": f"Could not find token: {tok}.", "title": "Not Found"}})
    if path.endswith("/application_credentials"):
        return _json(start_response, "201 Created", {"application_credential": {
            "id": "ac1", "name": body["application_credential"]["name"], "secret": M["APPSECRET"]}})
    if path == "/v3/credentials":
        return _json(start_response, "201 Created", {"credential": {**body["credential"], "id": "c1"}})
    if path.startswith("/v3/users"):
        return _json(start_response, "201 Created", {"user": {"id": "u2", "name": body["user"]["name"]}})
    if path == "/v2/images" and method == "POST":  # Glance repeats every property it was given
        return _json(start_response, "201 Created", {**body, "id": IMAGE_ID, "status": "queued"})
    if path.startswith("/v2/images"):
        return _json(start_response, "200 OK", {"images": []})
    if path == "/auth/v1.0":
        start_response("200 OK", [("X-Storage-Url", "http://127.0.0.1/v1/AUTH_test"), ("Content-Length", "0"),
                                  ("X-Auth-Token", M["STORTOKEN"]), ("X-Storage-Token", M["STORTOKEN"])])
        return [b""]
    environ["wsgi.input"].read()
    start_response("201 Created", [("Content-Length", "0")])
    return [b""]


def _http_clients(port: int) -> None:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def call(method, url, body=None, headers=None):
        h = {"Content-Type": "application/json", **(headers or {})}
        c.request(method, url, body=None if body is None else json.dumps(body), headers=h)
        r = c.getresponse()
        r.read()

    def auth(password):
        return {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"name": "Default"}, "password": password}}}}}

    call("POST", "/v3/auth/tokens", auth(M["KSPW"]))
    call("POST", "/v3/auth/tokens", auth([M["KSLIST1"], M["KSLIST2"]]))  # rejected: Keystone repeats the list
    call("POST", "/v3/auth/tokens", auth({M["KSOBJKEY"]: M["KSOBJ"]}))
    call("POST", "/v3/auth/tokens", {"auth": {"identity": {"methods": ["token"], "token": {"id": M["TOKENID"]}}}})
    call("POST", "/v3/auth/tokens", {"auth": {"identity": {"methods": ["totp"], "totp": {"user": {
        "id": "u1", "passcode": M["TOTP"]}}}}})
    call("GET", "/v3/auth/tokens", headers={"X-Auth-Token": M["AUTHTOKEN"], "X-Subject-Token": JWS})
    call("POST", "/v3/users", {"user": {"name": "u2", "password": M["KSPW"],
                                        "original_password": M["KSORIGPW"]}})
    call("POST", "/v3/users/u1/application_credentials", {"application_credential": {"name": "ac"}})
    call("POST", "/v3/credentials", {"credential": {"type": "ec2", "user_id": "u1", "blob": json.dumps(
        {"access": "a1", "secret": M["CREDBLOB"]})}})
    call("POST", "/v2/images", {"name": "img", "disk_format": "raw", "container_format": "bare",
                                "password": M["IMGPROP"]}, {"X-Auth-Token": FERNET})
    call("GET", f"/v2/images?password={M['QSPW']}&limit=5", headers={"Authorization": f"Bearer {M['BEARER']}",
                                                                     "Cookie": f"session={M['COOKIE']}"})
    call("GET", "/auth/v1.0", headers={"X-Storage-User": "test:tester", "X-Storage-Pass": M["STORPASS"]})
    call("POST", "/v1/AUTH_test", headers={"X-Account-Meta-Temp-URL-Key": M["TEMPURLKEY"]})
    call("PUT", f"/v1/AUTH_test/glance/{IMAGE_ID}?temp_url_sig={M['TEMPURLSIG']}&temp_url_expires=1900000000",
         {"x": 1})
    c.close()


def _sql_clients(db):
    """The connection is returned open: closed after the recording (main's `sql --digest --format json` fails on
    the COM_QUIT's missing latency, NaN; fixed on the hostile-captures branch)."""
    import pymysql
    c = pymysql.connect(**db.connect_args())
    cur = c.cursor()

    def run(sql):
        try:
            cur.execute(sql)
        except pymysql.MySQLError:
            pass  # the statement and MariaDB's error, which may repeat it, are both in the capture

    run(f"CREATE USER 'mk'@'127.0.0.1' IDENTIFIED BY '{M['SQLCREATE']}'")
    run(f"ALTER USER 'mk'@'127.0.0.1' IDENTIFIED WITH mysql_native_password BY '{M['SQLPLUGIN']}'")  # MySQL 8
    run(f"SET PASSWORD FOR 'mk'@'127.0.0.1' = PASSWORD('{M['SQLSETPW']}')")
    run(f"CHANGE MASTER TO MASTER_HOST='127.0.0.2', MASTER_USER='repl', MASTER_PASSWORD='{M['SQLMASTER']}'")
    run("CREATE TABLE password (id INT PRIMARY KEY AUTO_INCREMENT, local_user_id INT, password_hash VARCHAR(255),"
        " created_at_int BIGINT)")
    run(f'INSERT INTO password (local_user_id, password_hash, created_at_int) VALUES (1, "{M["SQLHASHDQ"]}", 1)')
    cur.execute("INSERT INTO password (local_user_id, password_hash, created_at_int) VALUES (%s, %s, %s)",
                (2, M["SQLHASH"], 2))
    run("CREATE TABLE application_credential (internal_id INT PRIMARY KEY, id VARCHAR(64), secret_hash TEXT)")
    run(f"INSERT INTO application_credential (internal_id, id, secret_hash) VALUES (1, 'ac1', '{M['SQLAPPSECRET']}')")
    run(f"UPDATE password SET password_hash='{M['SQLUPDATE']}' WHERE id = 1")
    run(f"SELECT id FROM password WHERE password_hash = '{M['SQLWHERE']}'")
    run(f"SELEC id FROM password WHERE password_hash = '{M['SQLSYNTAX']}'")  # MariaDB's error repeats it
    c.commit()
    return c


@dataclass
class Corpus:
    path: str
    http_port: int
    mysql_port: int


def record(base) -> Corpus:
    from waitress.server import create_server
    port = free_port()
    srv = create_server(_app, host="127.0.0.1", port=port, threads=1)
    threading.Thread(target=srv.run, daemon=True).start()
    time.sleep(0.1)
    try:
        with mariadb_server(base / "db") as db:
            pcap = base / "secrets.pcap"
            with tcpdump(pcap, f"tcp port {port} or tcp port {db.port}"):
                _http_clients(port)
                conn = _sql_clients(db)
            conn.close()
            return Corpus(str(pcap), port, db.port)
    finally:
        srv.close()
